"""The content digest's cost: at commit (from task records) and recomputed by ``validate --full``.

At commit the digest is hashed from the crc32c values the tasks recorded,
which the commit's ``records`` jobs return packed (`identity.pack_crcs`, one
part per job of 1,024 records), so its cost depends only on the number of
chunks: this packs records shaped as a real version's, merges the parts as
`gridstore.write.reduce.merge` does and times
`gridstore.write.identity.commit_digest`, for 10^6 to 10^9 images (nothing is
generated or read), and prints what the client holds. Then it generates
``--images`` images (or takes ``--store``'s latest version) and times
`gridstore.digest.recompute` both ways: from every chunk read whole, and from
the chunks' last 4 bytes (what ``validate --full`` does on a local store
after its workers have checked every chunk). Run::

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
from gridstore.write.identity import commit_digest, pack_crcs
from gridstore.write.reduce import RECORDS_PER_JOB, merge


def commit_cost(num_images: int) -> tuple[int, int, float]:
    """(tasks, bytes held, seconds) of commit_digest on records like a real version's."""
    plan = Plan(num_images=num_images)
    rng = np.random.default_rng(0)
    tasks, results = len(plan.tasks), []
    for start in range(0, tasks, RECORDS_PER_JOB):  # what each records job returns
        found = []
        for t in range(start, min(start + RECORDS_PER_JOB, tasks)):
            rows = plan.task_rows(plan.tasks[t])
            found.append((t, {s: rng.integers(0, 2**32, len(FIELDS)).tolist()
                              for s in SPLITS if rows[s][1] > rows[s][0]}))  # fmt: skip
        results.append({"crc32c": pack_crcs(found)})
    started = time.perf_counter()
    merged = merge(results)
    commit_digest(plan, merged.crcs)
    seconds = time.perf_counter() - started
    held = sum(a.nbytes + b.nbytes for parts in merged.crcs.values() for a, b in parts)
    return tasks, held, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000, help="Images to generate.")
    parser.add_argument("--store", help="Recompute the latest version of this store instead.")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    for n in (10**6, 10**7, 10**8, 10**9):
        tasks, held, seconds = commit_cost(n)
        print(f"commit digest, {n:>13,} images: {tasks:>6,} task records, "
              f"{held / 2**20:6.2f} MiB of crc32c in the client -> {seconds * 1e3:8.1f} ms")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"{tmp}/datasets"
        if args.store is None:
            create_version(store, Plan(num_images=args.images), show_progress=False)
        s = open_backend(store)
        name = resolve(s, None)
        meta = s.metadata(name)
        size = meta["storage"]["bytes_on_disk"]
        n = meta["dataset_info"]["total_count"]
        for how, suspects in (("whole chunks", None), ("chunk tails", set())):
            started = time.perf_counter()
            digest, damaged = recompute(s, name, suspects)
            seconds = time.perf_counter() - started
            same = "equal to" if digest == meta.get("digest") else "DIFFERENT FROM"
            print(f"recompute from {how}, {n:,} images, {size / 2**20:.1f} MiB: {seconds:.2f} s, "
                  f"{same} the recorded digest, {len(damaged)} damaged")  # fmt: skip


if __name__ == "__main__":
    main()
