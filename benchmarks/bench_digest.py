"""The content digest's cost: at commit (from task records) and recomputed by ``validate --full``.

At commit the digest is hashed from the crc32c values the tasks recorded, so
its cost depends only on the number of chunks: this times
`gridstore.write.identity.commit_digest` on task records shaped as a real
version's, for 10^6, 10^7 and 10^8 images (nothing is generated or read).
Then it generates ``--images`` images (or takes ``--store``'s latest version)
and times `gridstore.digest.recompute`, which reads every chunk once, against
the version's bytes on disk. Run::

    python benchmarks/bench_digest.py --images 1000000
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np

from gridstore import Plan, create_version
from gridstore.digest import recompute
from gridstore.plan import SPLITS
from gridstore.storage import FIELDS, open_backend
from gridstore.storage.registry import resolve
from gridstore.write.identity import commit_digest


def commit_cost(num_images: int) -> tuple[int, float]:
    """(tasks, seconds) of commit_digest on records like a real version's of ``num_images``."""
    plan = Plan(num_images=num_images)
    rng = np.random.default_rng(0)
    results = {}
    for task in plan.tasks:
        rows = plan.task_rows(task)
        crcs = {
            s: rng.integers(0, 2**32, len(FIELDS)).tolist()
            for s in SPLITS
            if rows[s][1] > rows[s][0]
        }
        results[task.index] = {"crc32c": crcs}
    started = time.perf_counter()
    commit_digest(None, "unused", plan, results)  # type: ignore[arg-type] # every crc is recorded
    return len(results), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000, help="Images to generate.")
    parser.add_argument("--store", help="Recompute the latest version of this store instead.")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    for n in (10**6, 10**7, 10**8):
        tasks, seconds = commit_cost(n)
        print(
            f"commit digest, {n:>11,} images: {tasks:>6,} task records -> {seconds * 1e3:8.1f} ms"
        )
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"{tmp}/datasets"
        if args.store is None:
            create_version(store, Plan(num_images=args.images), show_progress=False)
        s = open_backend(store)
        name = resolve(s, None)
        meta = s.metadata(name)
        started = time.perf_counter()
        digest, damaged = recompute(s, name)
        seconds = time.perf_counter() - started
        size = meta["storage"]["bytes_on_disk"]
        n = meta["dataset_info"]["total_count"]
        same = "equal to" if digest == meta.get("digest") else "DIFFERENT FROM"
        print(f"recompute, {n:,} images, {size / 2**20:.1f} MiB: {seconds:.2f} s "
              f"({size / 2**20 / seconds:.0f} MiB/s), {same} the recorded digest, "
              f"{len(damaged)} damaged")  # fmt: skip


if __name__ == "__main__":
    main()
