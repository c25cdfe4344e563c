"""The commit stage alone, on synthetic task records: does it scale out, and is the client's memory bounded?

It writes a staged version's task files as a run of ``--num-images`` images
would leave them (default 10**9: 50,000 tasks, each a JSON record and its
partitioned hash file, about 15% of the images repeats), then runs the
commit's reading (`gridstore.write.reduce`: duplicates and records jobs) on the
process pool with 1 and then 2 workers, each in a fresh client process, and
prints its wall time, the client's peak memory and the largest worker's.
The jobs that list chunks are left out: the synthetic version has none (they
are measured whole by benchmarks/bench_scale.py).

    python benchmarks/bench_commit.py                      # 10**9 (8 GB of hashes on disk)
    python benchmarks/bench_commit.py --num-images 100000000 --dir /tmp/commit

Writing the task files takes a few minutes at 10**9 and is not timed; they are
kept in ``--dir`` and reused by a later run of the same size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from gridstore.engines import open_engine, run_tasks
from gridstore.generate.batch import generate_block
from gridstore.plan import SPLITS, Plan
from gridstore.statistics import split_counts
from gridstore.storage import open_backend
from gridstore.write import reduce
from gridstore.write.identity import FIELDS

NAME = "2026-01-01-v1"


def write_task(store_path: str, plan_json: str, record: str, index: int) -> int:
    """Task ``index``'s record and hashes: each split's share drawn from a pool a bit
    smaller than the version, so that about 15% of the images repeat."""
    plan = Plan.from_dict(json.loads(plan_json))
    store = open_backend(store_path)
    rng = np.random.default_rng(index)
    rows = plan.task_rows(plan.tasks[index])
    space = np.uint64(int(plan.num_images * 2.8))  # ~15% of draws repeat an earlier one
    hashes = {}
    for s in SPLITS:
        start, stop = rows[s]
        # Fibonacci hashing: a draw times 2**64 / golden ratio, wrapped, spreads over all
        # 64 bits, top bits included (the partitions), as content hashes do
        draws = rng.integers(0, space, stop - start, dtype=np.uint64)
        hashes[s] = draws * np.uint64(0x9E3779B97F4A7C15)
    # each stored chunk's crc32c, as a task records them for the content digest
    crcs = {s: rng.integers(0, 2**32, len(FIELDS)).tolist() for s in SPLITS if len(hashes[s])}
    doc = json.loads(record) | {"crc32c": crcs}
    store.record_task(NAME, index, doc, hashes, bits=reduce.hash_bits(plan.num_images))
    return index


def prepare(root: Path, plan: Plan, workers: int) -> None:
    """The staged version's task files (skipped when a finished set is there)."""
    marker = root / f"prepared-{plan.num_images}"
    if marker.exists():
        return
    store = open_backend(root / "store", create=True)
    store.claim_version(NAME)
    block = generate_block(plan.config, plan.seed, 0, plan.block_quotas(0), plan.fractions)
    counts = {s: split_counts(block.images[k], block.annotations[k], plan.config.max_size)
              for k, s in enumerate(SPLITS)}  # fmt: skip
    record = json.dumps({"counts": counts, "draws": 0})
    plan_json = json.dumps(plan.to_dict())
    started = time.perf_counter()
    fn = partial(write_task, str(root / "store"), plan_json, record)
    run_tasks(fn, [t.index for t in plan.tasks], lambda _: None, workers=workers)
    print(f"wrote {len(plan.tasks):,} tasks' files in {time.perf_counter() - started:.0f} s")
    marker.touch()


def commit_stage(root: Path, num_images: int, workers: int) -> None:
    """The duplicates and records jobs on ``workers`` (the client's part of one run)."""
    plan = Plan(num_images=num_images)
    jobs = [j for j in reduce.plan_jobs(plan, workers) if j.kind != "sizes"]
    fn = partial(reduce.run_job, str(root / "store"), NAME, json.dumps(plan.to_dict()), None, jobs)
    results: list[dict] = []
    with open_engine("processes", workers, max_tasks=len(jobs)) as run:
        run(reduce.hash_bits, list(range(workers)), lambda _: None)  # started, as after a run
        started = time.perf_counter()
        run(fn, list(range(len(jobs))), results.append)
        wall = time.perf_counter() - started
    merged = reduce.merge(results)
    repeats = sum(merged.duplicates.values()) / num_images
    client = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(json.dumps({"wall": wall, "client_mib": client, "worker_mib": worker,
                      "jobs": len(jobs), "repeats": repeats}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=10**9)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/gridstore-bench-commit"))
    parser.add_argument("--stage", type=int, help=argparse.SUPPRESS)  # a client run's workers
    args = parser.parse_args()
    if args.stage:
        commit_stage(args.dir, args.num_images, args.stage)
        return
    plan = Plan(num_images=args.num_images)
    args.dir.mkdir(parents=True, exist_ok=True)
    prepare(args.dir, plan, workers=2)
    print(f"commit stage of {args.num_images:,} images ({len(plan.tasks):,} tasks), "
          f"duplicates and records jobs on the process pool:")  # fmt: skip
    walls = {}
    for workers in (1, 2):
        cmd = [sys.executable, __file__, "--num-images", str(args.num_images), "--dir",
               str(args.dir), "--stage", str(workers)]  # fmt: skip
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        walls[workers] = out["wall"]
        print(f"  {workers} worker(s): {out['wall']:7.1f} s, client peak {out['client_mib']} MiB, "
              f"largest worker {out['worker_mib']} MiB, {out['jobs']} jobs, "
              f"{100 * out['repeats']:.1f}% repeats")  # fmt: skip
    print(f"  speed-up with 2 workers: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
