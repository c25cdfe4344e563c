"""End-to-end store benchmark: generate + compress + write N images, memory, size, fsync cost.

Prints images/s (end to end, including commit), the peak RSS of the largest
process and of the whole process tree, and bytes on disk per image for the
images array against np.savez_compressed on the same images (the seed's
layout). ``--sync`` repeats the run with each way of making the version
durable before it is published (``GRIDSTORE_SYNC``): one ``syncfs`` of the
store's file system (the default), one fsync per file, or none (not durable:
the baseline that shows what durability costs). Run::

    python benchmarks/bench_store.py --num-images 10000000
    python benchmarks/bench_store.py --num-images 2000000 --sync syncfs fsync none --dir /work
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _rss import run_measured


def npz_bytes_per_image(store: Path, version: str, limit: int) -> tuple[float, float]:
    """Bytes per image of np.savez_compressed and of gridstore, on the same train images."""
    import zarr

    arr = zarr.open_array(store / version / "train" / "images", mode="r")
    n = min(limit, arr.shape[0])
    images = arr[:n]
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images)
    chunk = arr.chunks[0]
    files = sorted(
        (store / version / "train" / "images" / "c").iterdir(), key=lambda p: int(p.name)
    )
    whole = n // chunk
    ours = sum(f.stat().st_size for d in files[:whole] for f in d.rglob("*") if f.is_file())
    return buf.tell() / n, ours / (whole * chunk)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--engine", default="processes")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--npz-images", type=int, default=1_000_000, help="images compared with npz"
    )
    parser.add_argument(
        "--sync",
        nargs="+",
        default=["syncfs"],
        choices=["syncfs", "fsync", "none"],
        help="how the version is made durable before it is published (GRIDSTORE_SYNC)",
    )
    parser.add_argument("--dir", default=None, help="where the stores go [default: a temp dir]")
    args = parser.parse_args()

    import gridstore

    print(
        f"gridstore {gridstore.__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()} x{len(__import__('os').sched_getaffinity(0))} cores"
    )
    print(
        f"{'engine':<10} {'sync':<7} {'workers':>7} {'images':>12} {'wall s':>8} {'images/s':>12} "
        f"{'peak proc MiB':>14} {'peak tree MiB':>14} {'B/img (all)':>12}"
    )
    runs = [(w, sync) for w in args.workers for sync in args.sync]
    for workers, sync in runs:
        tmp = Path(tempfile.mkdtemp(prefix="gridstore-bench-", dir=args.dir))
        store = tmp / "datasets"
        cmd = [
            sys.executable,
            "-m",
            "gridstore.cli",
            "generate",
            "--num-images",
            str(args.num_images),
            "--store",
            str(store),
            "--yes",
            "--quiet",
            "--workers",
            str(workers),
            "--engine",
            args.engine,
            "--seed",
            str(args.seed),
        ]
        res = run_measured(cmd, env={"GRIDSTORE_SYNC": sync})
        version = sorted(p.name for p in store.iterdir() if p.name[0].isdigit())[0]
        meta = json.loads((store / version / "zarr.json").read_text())["attributes"]
        rate = args.num_images / meta["generation"]["wall_seconds"]
        print(
            f"{args.engine:<10} {sync:<7} {workers:>7} {args.num_images:>12,} {res['seconds']:>8.1f} {rate:>12,.0f} "
            f"{res['peak_process_mib']:>14.0f} {res['peak_tree_mib']:>14.0f} "
            f"{meta['storage']['bytes_on_disk'] / args.num_images:>12.2f}"
        )
        if (workers, sync) == runs[-1]:
            npz, ours = npz_bytes_per_image(store, version, args.npz_images)
            print(
                f"\nimages array, bytes per image on the same {min(args.npz_images, args.num_images):,} "
                f"train images: gridstore {ours:.2f}, np.savez_compressed {npz:.2f} "
                f"(ratio {ours / npz:.3f})"
            )
            print(
                "images/s is num_images / the version's recorded wall time (generation to commit);"
                " wall s includes process start and the pre-run estimate."
            )
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
