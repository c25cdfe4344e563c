"""Benchmark ``gridstore validate --full`` with 1 and 2 workers against generation.

By default generates a 10,000,000-image version (seed 0, the default
generator and layout) with ``gridstore generate --workers 2`` into a fresh
temporary store, then runs ``gridstore validate VERSION --full`` on it with
``--workers 1`` (the checks run in the command's own process) and
``--workers 2`` (a process pool of 2 spawned workers; engine ``processes``),
each command in a fresh interpreter, and prints for each:

- ``seconds``: the report's own time (``validate_version``: metadata,
  structure, listings, pool start-up, every chunk, duplicates), and the
  images/s it makes;
- ``command``: the whole command's wall time (interpreter and imports too);
- ``cpu s``: the CPU seconds of the command and its workers (other load on
  the machine slows the rates but hardly this);
- ``peak``: the largest process's and the whole process tree's peak RSS, in MiB;

and for generation the version's recorded rate (``metadata["generation"]``:
the tasks' time, pool start-up included, with the workers it recorded) and the
ratio of each validation rate to it. Every report must pass.

With ``--store`` and ``--version`` an existing version is validated instead
(its recorded generation rate is still shown). The default run takes about
3 minutes on 2 cores and ~400 MB of disk under ``--tmp`` (default: the
system's temporary directory); the machine should be otherwise idle.

Run from the repository root::

    python benchmarks/bench_validate.py
    python benchmarks/bench_validate.py --num-images 1000000
    python benchmarks/bench_validate.py --store datasets --version 2026-11-25-v1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _rss import run_measured

GRIDSTORE = [sys.executable, "-m", "gridstore.cli"]


def machine_info() -> str:
    """Describe the CPUs, memory and software versions."""
    versions = []
    for name in ("gridstore", "numpy", "numba", "zarr"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"machine: {len(os.sched_getaffinity(0))} usable CPUs, {mem:.0f} GiB RAM, "
        f"{platform.platform()}; Python {platform.python_version()}, {', '.join(versions)}; "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def generate(store: Path, num_images: int, seed: int, workers: int) -> tuple[str, dict[str, Any]]:
    """Generate a version with the CLI; return its name and the measured command."""
    cmd = [*GRIDSTORE, "generate", "--store", str(store), "--num-images", str(num_images),
           "--seed", str(seed), "--workers", str(workers), "--yes", "--quiet"]  # fmt: skip
    run = run_measured(cmd, capture_stderr=True)  # the printed plan: not ours to show
    from gridstore.storage import latest_version, open_backend

    return latest_version(open_backend(store)), run


def validate(store: Path, name: str, workers: int) -> dict[str, Any]:
    """``gridstore validate NAME --full --workers W`` in a fresh interpreter, measured."""
    cmd = [*GRIDSTORE, "validate", name, "--store", str(store), "--full", "--json", "--quiet",
           "--workers", str(workers)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        run = run_measured(cmd)
    except RuntimeError as err:  # exit 1: a failed check
        sys.exit(f"validate --workers {workers} failed: {err}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its workers
    run["cpu"] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    report = json.loads(run["stdout"])
    if not report["ok"]:
        sys.exit(f"validate --workers {workers}: the version fails its checks")
    return {**run, "report_seconds": report["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--num-images", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", type=Path, help="validate a version of this store instead")
    parser.add_argument("--version", help="with --store: the version (default: the latest)")
    parser.add_argument("--tmp", type=Path, help="where the generated store goes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", action="store_true", help="keep the generated store")
    args = parser.parse_args()
    print(machine_info())
    tmp = None if args.store else Path(tempfile.mkdtemp(prefix="bench_validate_", dir=args.tmp))
    try:
        measure(args, tmp)
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args: argparse.Namespace, tmp: Path | None) -> None:
    """Generate into ``tmp`` (unless --store), then validate with each worker count."""
    if tmp is not None:
        store = tmp / "datasets"
        name, gen = generate(store, args.num_images, args.seed, 2)
        print(f"generate {args.num_images:,} images (seed {args.seed}, --workers 2): "
              f"command {gen['seconds']:.1f} s, peak {gen['peak_process_mib']:.0f} MiB "
              f"per process, {gen['peak_tree_mib']:.0f} MiB in all")  # fmt: skip
    else:
        from gridstore.storage import latest_version, open_backend

        store = args.store
        name = args.version or latest_version(open_backend(store))
    from gridstore.storage import open_backend

    meta = open_backend(store).metadata(name)
    images = meta["dataset_info"]["total_count"]
    recorded = meta["generation"]
    gen_rate = recorded["images_per_second"]
    print(f"version {name}: {images:,} images; generation recorded "
          f"{recorded['wall_seconds']:.1f} s = {gen_rate:,.0f} images/s with "
          f"{recorded['workers']} workers ({recorded['engine']})")  # fmt: skip
    print(f"{'validate --full':<18} {'seconds':>8} {'images/s':>10} {'vs gen':>7} "
          f"{'command':>8} {'cpu s':>6} {'peak MiB (largest / all)':>25}")  # fmt: skip
    for workers in args.workers:
        run = validate(store, name, workers)
        rate = images / run["report_seconds"]
        print(f"{f'--workers {workers}':<18} {run['report_seconds']:>8.1f} {rate:>10,.0f} "
              f"{rate / gen_rate:>6.2f}x {run['seconds']:>7.1f}s {run['cpu']:>6.1f} "
              f"{run['peak_process_mib']:>12.0f} / {run['peak_tree_mib']:.0f}")  # fmt: skip
    if tmp is not None and args.keep:
        print(f"kept: --store {store} --version {name}")


if __name__ == "__main__":
    main()
