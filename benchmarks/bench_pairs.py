"""A paired version against an ordinary one of the same size: time, memory and bytes on disk.

Runs ``gridstore generate`` twice per round, one command with ``--pairs`` and
one without, in alternating order (same images, seed, workers and engine),
each into a fresh store, and prints per run: the command's wall time, its
tasks' time (the metadata's ``generation.wall_seconds``), the peak resident
memory of its largest process and of all its processes, and the version's
bytes on disk; then the ratios paired / ordinary of the fastest run of each.
Issue 21 asks for at most 2.5x the time, in bounded memory. Run::

    python benchmarks/bench_pairs.py
    python benchmarks/bench_pairs.py --num-images 2000000 --rounds 3 --pairs recolour,move
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from _rss import run_measured  # a sibling module of the benchmarks


def run(store: Path, num_images: int, workers: int, pairs: str | None) -> dict:
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--store", str(store),
           "--num-images", str(num_images), "--seed", "1", "--workers", str(workers),
           "--yes", "--quiet"] + (["--pairs", pairs] if pairs else [])  # fmt: skip
    got = run_measured(cmd)
    (version,) = [p for p in store.iterdir() if p.name[:1].isdigit()]
    meta = json.loads((version / "zarr.json").read_text())["attributes"]
    return {
        "wall": got["seconds"],
        "tasks": meta["generation"]["wall_seconds"],
        "peak_one": got["peak_process_mib"],
        "peak_all": got["peak_tree_mib"],
        "bytes": meta["storage"]["bytes_on_disk"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pairs", default="all", help="the kinds [default: all]")
    parser.add_argument("--dir", default=None, help="where the stores go [default: a temp dir]")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench_pairs_", dir=args.dir))
    print(f"{args.num_images:,} images, {args.workers} workers, pairs {args.pairs}; "
          f"{platform.processor() or platform.machine()}, python {platform.python_version()}")  # fmt: skip
    results: dict[str, list[dict]] = {"ordinary": [], "paired": []}
    try:
        run(base / "warm", 10_000, 1, args.pairs)  # compile (or load) the kernels once
        for r in range(args.rounds):
            order = ["ordinary", "paired"] if r % 2 == 0 else ["paired", "ordinary"]
            for name in order:
                store = base / f"{name}{r}"
                got = run(
                    store, args.num_images, args.workers, args.pairs if name == "paired" else None
                )
                shutil.rmtree(store)
                results[name].append(got)
                print(f"round {r} {name:8s}: {got['wall']:7.2f} s (tasks {got['tasks']:6.2f} s), "
                      f"peak {got['peak_one']:6.0f} MiB one process, {got['peak_all']:6.0f} MiB all, "
                      f"{got['bytes'] / 2**20:8.1f} MiB on disk")  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)
    best = {k: min(v, key=lambda x: x["wall"]) for k, v in results.items()}
    for key, what in (("wall", "command time"), ("tasks", "tasks time"),
                      ("peak_one", "peak memory, largest process"), ("bytes", "bytes on disk")):  # fmt: skip
        print(f"paired / ordinary, {what}: {best['paired'][key] / best['ordinary'][key]:.2f}x")


if __name__ == "__main__":
    main()
