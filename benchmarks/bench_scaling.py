"""Benchmark end-to-end scaling of ``create_version`` across engines.

Runs ``create_version`` for ``--num-images`` (default 10,000,000) with

- the ``processes`` engine and 1 worker (which runs the tasks in the calling
  process: no pool is started for one worker),
- the ``processes`` engine and 2 workers (a spawned process pool),
- the ``dask`` engine and 2 workers (a LocalCluster of 2 spawned worker
  processes, one thread each, started and closed by the run),

each in a fresh Python process writing a fresh temporary store, and prints
for each run:

- ``recorded``: images/s from the version's ``metadata["generation"]["wall_seconds"]``
  (build.py's ``_run``: from taking the version lock to just before the commit,
  so it includes pool/cluster start-up and shutdown, but not creating the arrays
  or computing the metadata);
- ``total``: images/s over the whole ``create_version`` call (claim, create
  arrays, run, statistics, commit) including cluster start-up;
- ``engine`` seconds (the ``run_tasks`` call alone) and ``first`` (seconds from
  ``run_tasks`` starting to the first finished task: the start-up cost of the
  pool or cluster plus one task);
- ``cpu``: the run's CPU seconds (its process and all children) over its total
  wall time, and per image; the dask engine's CPU overhead against the pool
  is the comparison that other load on the machine disturbs least;
- the 1 -> 2 worker speed-up of the process pool and the dask engine's overhead
  against the 2-worker pool, in %, for both rates;
- the machine, the software versions and the load average before each run.
  The machine should be otherwise idle: on a shared 2-core machine, other load
  shows up directly in the 2-worker rates.

Run from the repository root::

    python benchmarks/bench_scaling.py                      # 10M images, ~5 min on 2 cores
    python benchmarks/bench_scaling.py --num-images 2000000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _rss import descendants_cpu  # a sibling module of the benchmarks

RUNS = (("processes", 1), ("processes", 2), ("dask", 2))


def machine_info() -> str:
    """Describe the CPU, memory and software versions."""
    model = platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for name in ("gridstore", "numpy", "numba", "zarr", "dask", "distributed"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return (
        f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}, "
        f"{mem:.0f} GiB RAM, {platform.platform()}\n"
        f"software: Python {platform.python_version()}, {', '.join(versions)}"
    )


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def child(engine: str, workers: int, num_images: int, store: str) -> dict[str, Any]:
    """One run, in this (fresh) process: create_version with a timed run_tasks."""
    import gridstore.write.versions as build
    from gridstore.plan import Plan

    timing: dict[str, float] = {}
    real_run_tasks = build.run_tasks

    def timed_run_tasks(fn: Any, tasks: Any, on_done: Any, **kwargs: Any) -> None:
        start = time.perf_counter()

        def first_done(n: int) -> None:
            timing.setdefault("first", time.perf_counter() - start)
            on_done(n)

        real_run_tasks(fn, tasks, first_done, **kwargs)
        timing["engine"] = time.perf_counter() - start

    build.run_tasks = timed_run_tasks
    start = time.perf_counter()
    meta = build.create_version(store, Plan(num_images=num_images), engine=engine, workers=workers,
                                show_progress=False)  # fmt: skip
    total = time.perf_counter() - start
    return {"recorded": meta["generation"]["wall_seconds"], "total": total, **timing,
            "tasks": meta["file_format"]["chunks"]["train"]}  # fmt: skip


def run_one(engine: str, workers: int, num_images: int, tmp: Path) -> dict[str, Any]:
    """Run ``child`` in a fresh interpreter on a fresh store under ``tmp``; add its CPU time.

    The store is not deleted here but with all the others at the end: on ext4
    without a journal, creating files and directories within about 30 s of
    deleting many others costs a lot of kernel time (``recently_deleted``), which
    would land on the next run.
    """
    work = Path(tempfile.mkdtemp(prefix=f"{engine}{workers}_", dir=tmp))
    cmd = [sys.executable, __file__, "--child", engine, str(workers), str(num_images),
           str(work / "store")]  # fmt: skip
    with descendants_cpu() as cpu:  # the fork server's and its workers' included
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{engine} x{workers} failed:\n{proc.stderr}")
    if proc.stderr.strip():
        print(f"  [{engine} x{workers} stderr] {proc.stderr.strip()}", file=sys.stderr)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["cpu"] = cpu["user"] + cpu["sys"]
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        engine, workers, num_images, store = sys.argv[2:6]
        print(json.dumps(child(engine, int(workers), int(num_images), store)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--num-images", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--tmp", type=Path, default=None,
                        help="where the temporary stores go (all kept until the end)")  # fmt: skip
    args = parser.parse_args()

    print(machine_info())
    print(f"num_images: {args.num_images:,}; each run: a fresh process and a fresh store; "
          f"best of {args.repeats}")  # fmt: skip
    results: dict[tuple[str, int], dict[str, Any]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_scaling_", dir=args.tmp))
    try:
        for _ in range(args.repeats):
            for engine, workers in RUNS:
                avg = load()
                r = run_one(engine, workers, args.num_images, tmp)
                r["load"] = avg
                best = results.get((engine, workers))
                if best is None or r["total"] < best["total"]:
                    results[(engine, workers)] = r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.num_images
    print()
    print(f"{'engine':<10} {'workers':>7} {'tasks':>5} {'recorded img/s':>15} "
          f"{'total img/s':>12} {'recorded s':>10} {'total s':>8} {'engine s':>8} {'first s':>7} "
          f"{'cpu/wall':>8} {'cpu us/img':>10}  load before")  # fmt: skip
    for (engine, workers), r in results.items():
        print(f"{engine:<10} {workers:>7} {r['tasks']:>5} {n / r['recorded']:>15,.0f} "
              f"{n / r['total']:>12,.0f} {r['recorded']:>10.2f} {r['total']:>8.2f} "
              f"{r['engine']:>8.2f} {r['first']:>7.2f} {r['cpu'] / r['total']:>8.2f} "
              f"{1e6 * r['cpu'] / n:>10.2f}  {r['load']}")  # fmt: skip
    one, two, dask = results[("processes", 1)], results[("processes", 2)], results[("dask", 2)]
    print()
    for key, label in (("recorded", "recorded"), ("total", "total   ")):
        overhead = 100 * (dask[key] / two[key] - 1)
        print(f"{label}: processes 1 -> 2 workers speed-up x{one[key] / two[key]:.2f}; "
              f"dask (2-worker LocalCluster) vs 2-worker pool: {overhead:+.1f}% time")  # fmt: skip
    print(
        f"cpu     : dask (2-worker LocalCluster) vs 2-worker pool: "
        f"{100 * (dask['cpu'] / two['cpu'] - 1):+.1f}% CPU seconds (robust to other load)"
    )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
