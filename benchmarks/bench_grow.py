"""Growing a version against generating the larger one from scratch: time and new disk bytes.

A grown version shares the source's finished chunk files (hard links, or
reflinks where the file system has them), so its time and the bytes it adds
should follow the new images only. Prints, for ``--from`` images grown to
``--to``: the grow's wall time against a from-scratch run of ``--to`` images
(same store, same workers), and the bytes the grown version added on disk
(files whose inode the source does not hold) against the source's bytes. Run::

    python benchmarks/bench_grow.py --from 300000 --to 700000
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

from gridstore import Plan, create_version, grow_version


def chunk_inodes(version: Path) -> dict[int, int]:
    """Size of each chunk file of a version, by inode (a shared file counts once)."""
    return {
        st.st_ino: st.st_size for f in version.rglob("c[./]*") if (st := f.stat()) and f.is_file()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from", dest="source", type=int, default=300_000)
    parser.add_argument("--to", dest="target", type=int, default=700_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where the stores go [default: a temp dir]")
    args = parser.parse_args()
    top = Path(tempfile.mkdtemp(dir=args.dir))
    run = {"workers": args.workers, "show_progress": False}
    try:
        create_version(top / "warm", Plan(num_images=1000), **run)  # compile, start-up caches
        store = top / "store"
        small = create_version(store, Plan(num_images=args.source), **run)
        started = time.perf_counter()
        grown = grow_version(store, small["version"], args.target, **run)
        grow_s = time.perf_counter() - started
        started = time.perf_counter()
        create_version(top / "scratch", Plan(num_images=args.target), **run)
        scratch_s = time.perf_counter() - started
        source = chunk_inodes(store / small["version"])
        target = chunk_inodes(store / grown["version"])
        added = sum(size for ino, size in target.items() if ino not in source)
        new_share = (args.target - args.source) / args.target
        print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}")
        print(f"grow {args.source:,} -> {args.target:,} images, {args.workers} workers")
        print(
            f"grow:    {grow_s:.2f} s   from scratch: {scratch_s:.2f} s   "
            f"ratio {grow_s / scratch_s:.2f} (new images are {new_share:.2f} of the version)"
        )
        print(
            f"new bytes on disk: {added:,} = {added / sum(target.values()):.2f} of the grown "
            f"version's chunk bytes; the source's {sum(source.values()):,} bytes are shared"
        )
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
