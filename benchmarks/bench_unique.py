"""A unique version against an ordinary one of the same plan: time, memory, repeats passed over.

Runs ``gridstore generate`` twice per size (ordinary, then ``--unique``) in
fresh stores, then ``gridstore validate --full`` on the unique one, and prints
wall time, the peak resident memory of the largest process and of the whole
process tree, the repeats the unique run passed over and the ordinary run's
duplicates. Run::

    python benchmarks/bench_unique.py --num-images 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from _rss import run_measured


def _generate(store: Path, n: int, workers: int, unique: bool) -> dict:
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--num-images", str(n),
           "--store", str(store), "--workers", str(workers), "--yes", "--quiet"]  # fmt: skip
    got = run_measured(cmd + (["--unique"] if unique else []))
    info = [sys.executable, "-m", "gridstore.cli", "info", "--store", str(store), "--json"]
    got["meta"] = json.loads(run_measured(info)["stdout"])
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {args.workers} workers")
    print("| images | ordinary s | unique s | ratio | peak MiB (largest, all) ordinary | unique "
          "| duplicates (ordinary) | repeats passed over (unique) | validate --full s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.num_images:
        tmp = Path(tempfile.mkdtemp(prefix="bench-unique-"))
        try:
            plain = _generate(tmp / "plain", n, args.workers, unique=False)
            shutil.rmtree(tmp / "plain")
            uniq = _generate(tmp / "unique", n, args.workers, unique=True)
            check = run_measured([sys.executable, "-m", "gridstore.cli", "validate", "--full",
                                  "--quiet", "--store", str(tmp / "unique")])  # fmt: skip
            dups = sum(plain["meta"]["duplicates"].values())
            skipped = uniq["meta"]["generation"]["skipped_repeats"]
            assert sum(uniq["meta"]["duplicates"].values()) == 0
            print(
                f"| {n:,} | {plain['seconds']:.1f} | {uniq['seconds']:.1f} "
                f"| {uniq['seconds'] / plain['seconds']:.2f}x "
                f"| {plain['peak_process_mib']:.0f}, {plain['peak_tree_mib']:.0f} "
                f"| {uniq['peak_process_mib']:.0f}, {uniq['peak_tree_mib']:.0f} "
                f"| {dups:,} ({dups / n:.1%}) | {skipped:,} | {check['seconds']:.1f} |",
                flush=True,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
