"""System time against user time of a whole ``gridstore generate``, by file system.

The same command (2 workers, every process counted, the fork server's
included) writes its store into a directory you name (by default a temporary
one, on whatever file system holds it), then, when run as root on Linux, into
a fresh tmpfs and a fresh ext4 with a journal (a loop-mounted file), made and
removed here. Each twice; prints wall, user and system seconds and their ratio.
On ext4 without a journal the kernel consults every recently deleted inode
when it allocates one (``recently_deleted``, seen with ``perf``): the same
command's system time doubles there. Run::

    python benchmarks/bench_systime.py                      # 10M images
    python benchmarks/bench_systime.py --num-images 2000000 --dir /data
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_generate import machine_info
from bench_targets import generate  # a whole `gridstore generate`, 2 workers, every process


@contextmanager
def mounted(kind: str, size_gib: int) -> Iterator[Path]:
    """A fresh file system of ``kind`` ("tmpfs" or "ext4", journaled) mounted for the block."""
    top = Path(tempfile.mkdtemp(prefix=f"systime-{kind}-"))
    point, image = top / "mnt", top / "ext4.img"
    point.mkdir()
    try:
        if kind == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_gib}g", "tmpfs", str(point)],
                           check=True)  # fmt: skip
        else:
            with image.open("wb") as f:
                f.truncate(size_gib << 30)
            subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
            subprocess.run(["mount", "-o", "loop", str(image), str(point)], check=True)
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=False)
        shutil.rmtree(top, ignore_errors=True)


def runs(n: int, where: Path, label: str, repeats: int) -> None:
    """Print ``repeats`` runs of ``gridstore generate`` of ``n`` images into fresh stores under ``where``."""
    for k in range(repeats):
        got = generate(n, where / f"store-{k}")
        print(f"{label:<34} wall {got['seconds']:6.2f} s  user {got['user']:6.2f} s  "
              f"sys {got['sys']:5.2f} s  sys/user {got['sys'] / got['user']:6.1%}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", default=None, help="the file system to compare [a temp dir]")
    args = parser.parse_args()
    print(machine_info())
    top = Path(tempfile.mkdtemp(prefix="systime-", dir=args.dir))
    try:
        runs(args.num_images, top, f"given ({top.parent})", args.repeats)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    if sys.platform != "linux" or os.geteuid() != 0:
        print("tmpfs and a fresh ext4 need root on Linux: not measured")
        return
    size = max(1, args.num_images * 45 * args.repeats >> 30) + 1  # about 40 B per image
    for kind in ("tmpfs", "ext4"):
        with mounted(kind, size) as point:
            runs(args.num_images, point, f"fresh {kind}" + (" (journal)" * (kind == "ext4")),
                 args.repeats)  # fmt: skip


if __name__ == "__main__":
    main()
