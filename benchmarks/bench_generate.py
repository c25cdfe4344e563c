"""Benchmark image generation: gridstore.generate against the pure-Python baseline.

Prints images/s for the atomic preset with annotations:

- the reference implementation (``reference_generator.py``), one process;
- ``gridstore.generate.generate_images`` in one process;
- the same with ``--workers`` processes (default 2), each generating a
  disjoint contiguous index range of the corpus stream;
- the kernel against the kernel before issue 26 (``reference_kernel.py``), in
  the same process and run, interleaved: CPU time per image (``time.thread_time``,
  which a busy shared machine inflates less than wall time), median of
  ``--repeats`` runs each, the old/new ratio, and the load average;

plus the one-time JIT compile time, measured in fresh subprocesses and left out
of the rates, and the machine it ran on. Rates use the best wall time
(``time.perf_counter``) of ``--repeats`` runs. gridstore images are generated
in calls of ``--batch-images`` (default 20,000 = one task of 4 routing blocks)
so memory stays bounded; the arrays are discarded, nothing is written.

Run from the repository root::

    python benchmarks/bench_generate.py
    python benchmarks/bench_generate.py --num-images 200000 --reference-images 2000
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from multiprocessing.synchronize import Barrier
from typing import Any

from reference_generator import generate_reference

JIT_COMMAND = "import gridstore.generate as g; g.generate_images(g.GeneratorConfig(), 0, 0, 10)"
IMPORT_COMMAND = "import gridstore.generate"


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Return the best wall time in seconds of ``repeats`` calls of ``fn``.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is discarded.
    repeats : int
        Number of timed calls (>= 1).

    Returns
    -------
    float
        The smallest ``time.perf_counter`` difference observed.
    """
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def generate_range(config: Any, seed: int, start: int, stop: int, batch_images: int) -> int:
    """Generate images ``[start, stop)`` with gridstore in batches; return the count.

    Parameters
    ----------
    config : gridstore.config.GeneratorConfig
        The distribution to draw from.
    seed : int
        Corpus seed.
    start, stop : int
        Half-open range of image indices in the corpus stream.
    batch_images : int
        Images per ``generate_images`` call.

    Returns
    -------
    int
        Number of images generated (with their annotations).
    """
    from gridstore.generate import generate_images

    count = 0
    for lo in range(start, stop, batch_images):
        images, _annotations = generate_images(config, seed, lo, min(lo + batch_images, stop))
        count += len(images)
    return count


def _init_worker(config: Any, barrier: Barrier) -> None:
    generate_range(config, 0, 0, 10, 10)  # JIT compile (or load) outside the timed region
    barrier.wait()


def _worker(args: tuple[Any, int, int, int, int]) -> int:
    return generate_range(*args)


def bench_pool(
    config: Any, seed: int, num_images: int, batch_images: int, workers: int, repeats: int
) -> float:
    """Return the best wall time of ``workers`` spawned processes sharing ``num_images``.

    Worker ``w`` generates the contiguous range ``[w * n // workers, (w + 1) * n // workers)``.
    Workers are started and warmed up (JIT) before timing; each returns only its
    image count, so no arrays cross process boundaries.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    bounds = [w * num_images // workers for w in range(workers + 1)]
    tasks = [(config, seed, lo, hi, batch_images) for lo, hi in itertools.pairwise(bounds)]
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config, barrier)) as pool:
        barrier.wait(timeout=600)  # every worker has compiled

        def run() -> None:
            done = sum(pool.map(_worker, tasks, chunksize=1))
            if done != num_images:
                msg = f"workers generated {done} images, expected {num_images}"
                raise RuntimeError(msg)

        return best_time(run, repeats)


def time_subprocess(code: str, env: dict[str, str]) -> float:
    """Return the wall time in seconds of ``python -c code`` in a fresh interpreter."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def jit_times() -> dict[str, float]:
    """Time the warm-up command cold (empty numba cache), cached, and the import alone.

    A private ``NUMBA_CACHE_DIR`` makes the first run a true cold compile even if
    the kernels use ``cache=True``, without touching the repository's caches.
    """
    with tempfile.TemporaryDirectory(prefix="bench-numba-cache-") as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        cold = time_subprocess(JIT_COMMAND, env)
        cached = time_subprocess(JIT_COMMAND, env)
        import_only = time_subprocess(IMPORT_COMMAND, env)
    return {"cold": cold, "cached": cached, "import": import_only}


def machine_info() -> str:
    """Return a one-paragraph description of the CPU and software versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for name in ("numpy", "numba", "gridstore"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return (
        f"machine: {os.cpu_count()} CPUs ({usable} usable), {model}, {platform.platform()}\n"
        f"software: Python {platform.python_version()}, {', '.join(versions)}"
    )


DRAWS_CODE = """
import os, sys
import gridstore.generate.rng as rng
from gridstore.config import GeneratorConfig
from gridstore.generate.batch import generate_images
calls = [0]
next_u64 = rng.next_u64
def counted(s):
    calls[0] += 1
    return next_u64(s)
rng.next_u64 = counted  # uniform() and randint() look it up at call time with the JIT off
n = int(sys.argv[1])
generate_images(GeneratorConfig(), 0, 0, n)
print(calls[0] / n)
"""


def draws_per_image(n: int = 2000) -> float:
    """RNG words (``next_u64`` calls) per image, counted with the JIT off in a subprocess."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", DRAWS_CODE, str(n)], check=True, env=env, capture_output=True
    )
    return float(out.stdout)


def ns_per_draw(n: int = 50_000_000) -> float:
    """Nanoseconds per ``next_u64`` call in a compiled loop (the RNG alone)."""
    import numba
    import numpy as np

    from gridstore.generate.rng import next_u64, seed_state

    @numba.njit
    def draw_many(n: int) -> np.uint64:
        s = np.zeros(4, np.uint64)
        seed_state(s, np.uint64(1))
        acc = np.uint64(0)
        for _ in range(n):
            acc ^= next_u64(s)
        return acc

    draw_many(10)
    t = time.perf_counter()
    draw_many(n)
    return (time.perf_counter() - t) / n * 1e9


def cpu_mhz() -> float | None:
    """The CPU clock /proc/cpuinfo reports (None elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(float(x.split(":")[1]) for x in f if x.startswith("cpu MHz"))
    except (OSError, StopIteration):
        return None


def kernel_limit(rate: float) -> None:
    """Print where one process's generation time goes: RNG draws against the rest."""
    per_image_ns = 1e9 / rate
    draws, draw_ns = draws_per_image(), ns_per_draw()
    mhz = cpu_mhz()
    cycles = f", {per_image_ns * mhz / 1e3:,.0f} cycles at {mhz:,.0f} MHz" if mhz else ""
    print(f"\nkernel limit: {per_image_ns:,.0f} ns per image{cycles}")
    per_draw = f" ({draw_ns * mhz / 1e3:.1f} cycles)" if mhz else ""
    print(f"  RNG words per image {draws:.1f}, {draw_ns:.2f} ns per word{per_draw}:")
    print(
        f"  the RNG is {draws * draw_ns / per_image_ns:.1%} of the time; the rest is drawing "
        "shapes (blob growth, placement tests, 256-cell images), hashing and routing"
    )


def kernel_against_reference(
    config: Any, seed: int, num_images: int, batch_images: int, repeats: int
) -> tuple[float, float]:
    """Median CPU µs per image of the kernel before issue 26 and of today's, interleaved.

    Both make the same images with annotations and hashes (tests/generate/
    test_kernel_reference.py); the new one also routes and copies rows, as
    ``generate_images`` does. Arrays are made per batch for both.
    """
    import statistics

    from reference_kernel import generate_images_reference

    from gridstore.generate import generate_images

    def per_image(fn: Callable[..., object]) -> float:
        start = time.thread_time()
        for lo in range(0, num_images, batch_images):
            fn(config, seed, lo, min(lo + batch_images, num_images))
        return (time.thread_time() - start) / num_images * 1e6

    generate_images_reference(config, seed, 0, 10)  # compiled (or loaded) before timing
    generate_images(config, seed, 0, 10)
    old, new = [], []
    for _ in range(repeats):
        old.append(per_image(generate_images_reference))
        new.append(per_image(generate_images))
    return statistics.median(old), statistics.median(new)


def _row(name: str, procs: int, images: int, seconds: float, ref_rate: float) -> str:
    rate = images / seconds
    ratio = f"{rate / ref_rate:,.1f}x" if rate < 10 * ref_rate else f"{rate / ref_rate:,.0f}x"
    return f"{name:<24}{procs:>6}{images:>12,}{seconds:>10.2f}{rate:>14,.0f}{ratio:>10}"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--num-images",
        type=int,
        default=2_000_000,
        help="images per gridstore run (default 2,000,000)",
    )
    parser.add_argument(
        "--reference-images",
        type=int,
        default=20_000,
        help="images per reference run (default 20,000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; best is kept")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the pool row")
    parser.add_argument(
        "--batch-images",
        type=int,
        default=20_000,
        help="images per generate_images call (default 20,000)",
    )
    args = parser.parse_args(argv)
    for name in ("num_images", "reference_images", "repeats", "workers", "batch_images"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")

    print(
        "gridstore generate benchmark: atomic preset, with annotations, "
        f"seed {args.seed}, best of {args.repeats}"
    )
    print(machine_info())
    print()
    header = f"{'implementation':<24}{'procs':>6}{'images':>12}{'best s':>10}"
    print(header + f"{'images/s':>14}{'vs ref':>10}")
    print("-" * (len(header) + 24))

    n_ref = args.reference_images
    ref_s = best_time(lambda: generate_reference(n_ref, args.seed), args.repeats)
    ref_rate = n_ref / ref_s
    print(_row("reference (pure Python)", 1, n_ref, ref_s, ref_rate), flush=True)

    try:
        from gridstore.config import GeneratorConfig
        from gridstore.generate import generate_images  # noqa: F401  (is it there yet?)
    except ImportError as err:
        print(f"gridstore.generate not importable ({err}); gridstore rows skipped")
        return
    config = GeneratorConfig()
    n = args.num_images
    generate_range(config, args.seed, 0, 10, 10)  # JIT warm-up, not timed
    one_s = best_time(
        lambda: generate_range(config, args.seed, 0, n, args.batch_images), args.repeats
    )
    print(_row("gridstore", 1, n, one_s, ref_rate), flush=True)
    kernel_limit(n / one_s)
    k_images = min(n, 200_000)
    old_us, new_us = kernel_against_reference(
        config, args.seed, k_images, args.batch_images, max(args.repeats, 5)
    )
    print(
        f"\nkernel CPU per image, median of {max(args.repeats, 5)} interleaved runs of "
        f"{k_images:,} images: before issue 26 {old_us:.3f} µs, now {new_us:.3f} µs, "
        f"old/new {old_us / new_us:.2f}x (load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs)"
    )
    print()
    from gridstore import generate_corpus

    corpus_s = best_time(lambda: generate_corpus(n, args.seed, show_progress=False), args.repeats)
    print(_row("generate_corpus", 1, n, corpus_s, ref_rate), flush=True)
    print(f"generate_corpus / generator rate: {one_s / corpus_s:.2f}x (one result array, no copy)")
    pool_s = bench_pool(config, args.seed, n, args.batch_images, args.workers, args.repeats)
    print(_row("gridstore (process pool)", args.workers, n, pool_s, ref_rate), flush=True)
    print(f"pool speed-up over one process: {one_s / pool_s:.2f}x with {args.workers} workers")

    jit = jit_times()
    print()
    print("one-time JIT warm-up, fresh process (excluded from the rates above):")
    print(f"  python -c {JIT_COMMAND!r}")
    print(f"  cold numba cache {jit['cold']:6.2f} s")
    print(f"  cached           {jit['cached']:6.2f} s")
    print(
        f"  import only      {jit['import']:6.2f} s  "
        f"(so compile ~ {jit['cold'] - jit['import']:.2f} s cold, "
        f"{jit['cached'] - jit['import']:.2f} s cached)"
    )


if __name__ == "__main__":
    main()
