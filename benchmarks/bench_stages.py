"""Where a task's time goes: each stage of writing a version, timed in one process.

Runs the plan's first ``--tasks`` tasks the way a worker does, but stage by
stage: the generator (kernel, routing and content hashes: one numba call),
statistics, blosc + crc32c encoding of each array, the chunk file writes, and
the task record. Then a whole ``gridstore generate`` of ``--num-images`` in a
subprocess gives the stages no single task shows (start-up, the pool,
duplicate counting, commit) as the rest of its wall time, and its user and
system CPU. Prints microseconds per image. Run::

    python benchmarks/bench_stages.py --num-images 2000000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _rss import descendants_cpu  # a sibling module of the benchmarks

from gridstore import Plan
from gridstore.plan import SPLITS
from gridstore.statistics import split_counts
from gridstore.storage import open_backend
from gridstore.storage.layout import staged_key
from gridstore.write.tasks import generate_task


def stage_times(plan: Plan, tasks: int, where: Path) -> tuple[dict[str, float], int]:
    """Seconds spent in each stage over the first ``tasks`` tasks, and the images they made."""
    store = open_backend(where, create=True)
    name = store.claim_version()
    store.create_arrays(name, {"plan": plan.to_dict()}, plan.array_shapes())
    spent: dict[str, float] = defaultdict(float)
    images_done = 0
    generate_task(plan, 0)  # compile / load the kernels outside the clock
    for index in range(tasks):
        t = time.perf_counter()
        images, anns, hashes, draws, _ = generate_task(plan, index)
        spent["generate (kernel, routing, hashes)"] += time.perf_counter() - t
        t = time.perf_counter()
        counts = {
            s: split_counts(images[k], anns[k], plan.config.max_size) for k, s in enumerate(SPLITS)
        }
        spent["statistics"] += time.perf_counter() - t
        for k, split in enumerate(SPLITS):
            arrays = {"images": images[k], **anns[k].as_dict()}
            for field, arr in arrays.items():
                prefix = f"{staged_key(name)}/{split}/{field}"
                encode, _, _ = store._codec(prefix)
                t = time.perf_counter()
                data = encode(arr)
                spent[f"encode {field}"] += time.perf_counter() - t
                t = time.perf_counter()
                store._put_chunk(store._chunk_key(prefix, index), data)
                spent["file writes"] += time.perf_counter() - t
        t = time.perf_counter()  # what `record` does after the statistics
        by_split = dict(zip(SPLITS, hashes, strict=True))
        store.record_task(name, index, {"counts": counts, "draws": draws}, by_split, None)
        spent["task record (hashes .npz, JSON)"] += time.perf_counter() - t
        images_done += sum(len(i) for i in images)
    return spent, images_done


def whole_run(num_images: int, workers: int, where: Path) -> tuple[float, float, float]:
    """Wall, user and system seconds of a whole ``gridstore generate`` (children included)."""
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--num-images", str(num_images),
           "--store", str(where), "--workers", str(workers), "--yes", "--quiet"]  # fmt: skip
    with descendants_cpu() as cpu:  # the fork server's and its workers' included
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t
    return wall, cpu["user"], cpu["sys"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=2_000_000)
    parser.add_argument("--tasks", type=int, default=10, help="tasks timed stage by stage")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where the stores go [default: a temp dir]")
    args = parser.parse_args()
    top = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        plan = Plan(num_images=args.num_images)
        spent, n = stage_times(plan, min(args.tasks, len(plan.tasks)), top / "stages")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print(f"one process, {n:,} images ({args.tasks} tasks), stage by stage:")
        total = sum(spent.values())
        for stage, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<40} {seconds / n * 1e6:6.2f} us/image  {seconds / total:6.1%}")
        print(f"  {'all stages':<40} {total / n * 1e6:6.2f} us/image")
        subprocess.run([sys.executable, "-m", "gridstore.cli", "generate", "--num-images", "1000",
                        "--store", str(top / "warm"), "--yes", "--quiet"], check=True, capture_output=True)  # fmt: skip
        wall, user, sys_s = whole_run(args.num_images, args.workers, top / "whole")
        cpu_per_image = (user + sys_s) / args.num_images * 1e6
        print(f"whole 'gridstore generate' of {args.num_images:,} images, {args.workers} workers:")
        print(
            f"  wall {wall:.2f} s ({args.num_images / wall:,.0f} images/s); CPU {cpu_per_image:.2f} "
            f"us/image (user {user:.2f} s, system {sys_s:.2f} s = {sys_s / user:.1%} of user)"
        )
        print(
            f"  outside the per-task stages (start-up, pool, duplicates, commit): "
            f"{cpu_per_image - total / n * 1e6:.2f} us/image of CPU"
        )
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
