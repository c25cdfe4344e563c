"""Measure the exports for other libraries: rate, bytes per image against the store's, peak memory.

For each format (npz, parquet, webdataset) runs ``gridstore export`` as its own
process and prints images/s, bytes per image of the files (parquet: the data
shards; the card, croissant.json and preview.png are listed apart), the ratio
to the store's bytes per image (every array), and the peak resident memory of
the command. Builds a version with ``gridstore generate`` unless --store
points at one.

    python benchmarks/bench_publish.py                         # 1,000,000 images
    python benchmarks/bench_publish.py --num-images 200000
    python benchmarks/bench_publish.py --store /tmp/store --version 2026-12-06-v1
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _rss import run_measured  # a sibling module of the benchmarks

FORMATS = ("npz", "parquet", "webdataset")


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="an existing store (default: build one)")
    parser.add_argument("--version", help="its version (default: the latest)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_publish."))
    try:
        store = args.store or work / "datasets"
        if args.store is None:
            cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--store", str(store),
                   "--num-images", str(args.num_images), "--yes", "--quiet"]  # fmt: skip
            run_measured(cmd)
        from gridstore.read import open_store

        reader = open_store(store).version(args.version)
        images = int(reader.metadata["dataset_info"]["total_count"])
        store_bytes = int(reader.metadata["storage"]["bytes_on_disk"])
        print(f"version {reader.name}: {images:,} images, store {store_bytes / images:.1f} B/image")
        print(
            f"{'format':<11} {'images/s':>10} {'B/image':>8} {'x store':>8} {'peak MiB':>9}  extra files"
        )
        for fmt in FORMATS:
            out = work / f"out-{fmt}"
            cmd = [sys.executable, "-m", "gridstore.cli", "export", reader.name, "--store",
                   str(store), "--format", fmt, "-o", str(out), "--quiet"]  # fmt: skip
            m = run_measured(cmd)
            data = (
                _bytes(out / "data")
                if fmt != "npz"
                else _bytes(out) - (out / "metadata.json").stat().st_size
            )
            extra = {
                p.name: p.stat().st_size
                for p in out.iterdir()
                if p.is_file() and p.suffix != ".npz"
            }
            print(
                f"{fmt:<11} {images / m['seconds']:>10,.0f} {data / images:>8.1f} "
                f"{data / store_bytes:>8.2f} {m['peak_process_mib']:>9.0f}  "
                + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sorted(extra.items()))
            )
            shutil.rmtree(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
