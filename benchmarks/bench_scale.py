"""A version at each scale, end to end: the whole command, its phases, memory, bytes, validate, an epoch.

For each size it runs, as a user would, ``gridstore generate --num-images N
--yes`` into a fresh store (its progress read from stderr, to time each commit
phase from the moment it is shown), then ``gridstore validate --full``, then
reads one shuffled epoch of train with ``split.batches(256)``, and prints:

- the whole command's wall time, and each part's share: before the tasks
  (planning and its estimate, the claim, starting workers), the tasks (from
  the metadata), and each phase of the commit (merging, writing metadata,
  checking chunks, flushing and publishing, cleaning up), and the exit;
- peak memory of the largest process (ru_maxrss of the command's children);
- bytes on disk;
- ``validate --full`` wall time and rate, and its CPU use (both cores: ~200%);
- one shuffled epoch over train, images/s.

    python benchmarks/bench_scale.py                      # 10^6 and 10^7 (about 2 minutes)
    python benchmarks/bench_scale.py 1000000 10000000 100000000   # + 10^8 (about 8 more)
    python benchmarks/bench_scale.py 100000000 --keep /data   # the store kept, in /data/store-100000000
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _rss import descendants_cpu  # a sibling module of the benchmarks

CLI = [sys.executable, "-m", "gridstore.cli"]


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; its wall seconds, CPU seconds and the peak RSS (MiB) of its largest process."""
    with descendants_cpu() as cpu:  # the fork server's and its workers' included
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return wall, cpu["user"] + cpu["sys"], peak  # the largest child so far (sizes grow)


def commit_phases(cmd: list[str]) -> tuple[float, int, dict[str, float]]:
    """Run a ``generate`` with its progress shown: its wall seconds, peak RSS (MiB), and
    the wall time of each commit phase, from the moment its name appears on stderr to
    the next one's (the last one's, to the command's exit)."""
    t0 = time.perf_counter()
    began: dict[str, float] = {}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    pending = b""
    while block := proc.stderr.read1(1 << 16):
        *lines, pending = re.split(rb"[\r\n]", pending + block)
        for line in lines:
            found = re.search(rb" commit: ([a-z ]+?)(?: \d+/\d+)? \[", line)
            if found and found.group(1).decode() not in began:
                began[found.group(1).decode()] = time.perf_counter() - t0
    if proc.wait() != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    wall = time.perf_counter() - t0
    stamps = [*began.values(), wall]
    phases = {name: stamps[i + 1] - stamps[i] for i, name in enumerate(began)}
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, phases


def one(num_images: int, root: Path, keep: bool) -> None:
    store = root / f"store-{num_images}"
    wall, peak, commit = commit_phases([*CLI, "generate", "--store", str(store),
                                        "--num-images", str(num_images), "--yes"])  # fmt: skip
    (version,) = [p.name for p in store.iterdir() if p.name[0].isdigit()]
    meta = json.loads((store / version / "zarr.json").read_text())["attributes"]
    tasks = meta["generation"]["phase_seconds"]["tasks"]
    print(f"\n{num_images:,} images: whole command {wall:.1f} s "
          f"({num_images / wall:,.0f} images/s), peak {peak} MiB in the largest process, "
          f"{meta['storage']['bytes_on_disk'] / 2**20:,.1f} MiB on disk")  # fmt: skip
    after = commit.pop("done", 0.0)  # the workers stop, the interpreter exits
    rows = {"before the tasks (plan, estimate, claim, workers)": wall - tasks - sum(commit.values()) - after,
            "tasks": tasks, **{f"commit: {k}": v for k, v in commit.items()},
            "commit, all of it": sum(commit.values()), "after the commit (workers stop, exit)": after}  # fmt: skip
    for name, seconds in rows.items():
        print(f"  {name:52s} {seconds:8.2f} s  {100 * seconds / wall:5.1f}%")
    vwall, vcpu, _ = timed([*CLI, "validate", version, "--store", str(store), "--full", "-q"])
    print(f"  validate --full: {vwall:.1f} s ({num_images / vwall:,.0f} images/s, "
          f"{100 * vcpu / vwall:.0f}% CPU)")  # fmt: skip
    from gridstore.read import open_store

    train = open_store(store).version(version)["train"]
    t0, n = time.perf_counter(), 0
    for batch in train.batches(256, seed=0, epoch=0):
        n += len(batch)
    print(f"  one shuffled epoch of train: {n / (time.perf_counter() - t0):,.0f} images/s")
    if not keep:
        shutil.rmtree(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--keep", type=Path, help="make the stores here and keep them "
                        "(e.g. for bench_browse.py); default: a temporary directory")  # fmt: skip
    args = parser.parse_args()
    if args.keep is not None:
        for n in args.sizes:
            one(n, args.keep, keep=True)
        return
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        for n in args.sizes:
            one(n, Path(tmp), keep=False)


if __name__ == "__main__":
    main()
