"""Measure gridstore.read.store: sequential read, shuffled batches, index-array reads, first batch.

Builds its own store unless --store points at an existing one: with the real
writer (`gridstore generate`, default splits, so train has chunks of 16000 and
the writer's codecs), or with `--writer zarr` directly in the layout of
docs/internals.md via tests/helpers_layout.py (random rectangles; codecs from
--clevel/--shuffle, chunks from --chunk-images).

    python benchmarks/bench_read.py                  # train split of 1M images
    python benchmarks/bench_read.py --writer zarr --shuffle noshuffle
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gridstore.read import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers_layout import make_split, write_version

VERSION = "2026-01-01-v1"


def build(path: Path, args: argparse.Namespace) -> None:
    """Write a version whose train split has about `args.num_images` images."""
    t0 = time.perf_counter()
    if args.writer == "gridstore":
        from gridstore.cli import main

        total = -(-args.num_images * 5 // 4)  # default splits 0.8 / 0.1 / 0.1
        main(
            ["generate", "--store", str(path), "--num-images", str(total), "--yes", "--quiet"],
            standalone_mode=False,
        )
    else:
        build_zarr(path, args.num_images, args.chunk_images, args.clevel, args.shuffle)
    print(f"built in {time.perf_counter() - t0:.1f} s at {path} (writer: {args.writer})")


def build_zarr(path: Path, num_images: int, chunk_images: int, clevel: int, shuffle: str) -> None:
    """Write a one-split version of sparse random-rectangle images (K = 8 objects)."""
    parts = [
        make_split(min(chunk_images, num_images - start), seed=start, max_objects=8)
        for start in range(0, num_images, chunk_images)
    ]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    write_version(
        path, VERSION, {"train": data}, {"train": chunk_images}, clevel=clevel, shuffle=shuffle
    )


def rate(label: str, images: int, seconds: float) -> None:
    print(f"{label:<44} {images / seconds:>14,.0f} images/s  ({seconds:.3f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="existing store (default: build one)")
    has_writer = importlib.util.find_spec("gridstore.write.versions") is not None
    parser.add_argument(
        "--writer", choices=["gridstore", "zarr"], default="gridstore" if has_writer else "zarr"
    )
    parser.add_argument("--num-images", type=int, default=1_000_000, help="train images")
    parser.add_argument("--chunk-images", type=int, default=16_000, help="--writer zarr")
    parser.add_argument("--clevel", type=int, default=3, help="blosc zstd level (--writer zarr)")
    parser.add_argument(
        "--shuffle",
        default="bitshuffle",
        choices=["noshuffle", "shuffle", "bitshuffle"],
        help="blosc shuffle",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--window-chunks", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()
    tmp = None
    store = args.store
    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="gridstore-bench-read-"))
        store = tmp / "store"
        build(store, args)
    try:
        run(store, args)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)


def run(store: Path, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    split = open_store(store).version()["train"]
    first = next(split.batches(args.batch_size, seed=1, window_chunks=args.window_chunks))
    first_s = time.perf_counter() - t0
    n, bs = len(split), args.batch_size
    print(f"split: {n} images, chunks of {split.images.chunk_images}, batch {bs}")

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def sequential() -> None:
        split.images._cache.clear()
        assert split.images[:].shape[0] == n

    def shuffled(fields: tuple[str, ...] = ("images",)) -> None:
        count = 0
        for batch in split.batches(
            bs, seed=0, epoch=1, window_chunks=args.window_chunks, fields=fields
        ):
            count += len(batch if isinstance(batch, np.ndarray) else batch[fields[0]])
        assert count == n

    rate("sequential full read (images[:])", n, best(sequential))
    rate("shuffled batches (images)", n, best(shuffled))
    rate(
        "shuffled batches (images + all annotations)",
        n,
        best(lambda: shuffled(tuple(split.fields))),
    )
    rng = np.random.default_rng(0)
    calls = 3
    t = best(lambda: [split.images[rng.integers(0, n, bs)] for _ in range(calls)])
    rate(f"random index-array getitem of {bs} (whole split)", calls * bs, t)
    size = split.images.chunk_images
    calls = 200

    def local() -> None:
        for _ in range(calls):
            c = int(rng.integers(0, n // size))
            split.images[rng.integers(c * size, (c + 1) * size, bs)]

    rate(f"random index-array getitem of {bs} (one chunk)", calls * bs, best(local))
    print(
        f"{'time to first batch (open + first batch)':<44} {first_s * 1e3:>14.1f} ms"
        f"  (shape {first.shape})"
    )


if __name__ == "__main__":
    main()
