"""Measure gridstore.read.store: sequential read, shuffled batches, index-array reads, first batch.

Shuffled batches are timed against in-RAM fancy indexing (the whole split
in memory, ``images[perm[i:i + batch]]``) in the same run, alternating, and
their ratio printed; then the stages of a shuffled read one by one, in
microseconds per image.

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
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.read import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
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
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument(
        "--random-seconds",
        type=float,
        default=3.0,
        help="seconds per DataLoader rate of benchmarks/bench_random.py (0: skip)",
    )
    args = parser.parse_args()
    tmp = None
    store = args.store
    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="gridstore-bench-read-"))
        store = tmp / "store"
        build(store, args)
    try:
        run(store, args)
        if args.random_seconds > 0:  # map-style, single and index-array reads vs streaming
            from bench_random import measure

            version = open_store(store).versions[-1]
            print(f"random access against streaming ({version}, train):")
            for name, value in measure(str(store), version, args.random_seconds).items():
                print(f"  {name:42s} {value:>12,.0f} images/s", flush=True)
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

    def sequential() -> None:  # a new opening: nothing of it is in the cache of decoded chunks
        assert open_store(store).version()["train"].images[:].shape[0] == n

    def shuffled(fields: tuple[str, ...] = ("images",)) -> None:
        count = 0
        for batch in split.batches(
            bs, seed=0, epoch=1, window_chunks=args.window_chunks, fields=fields
        ):
            count += len(batch if isinstance(batch, np.ndarray) else batch[fields[0]])
        assert count == n

    rate("sequential full read (images[:])", n, best(sequential))
    data = split.images[:]
    perm = np.random.default_rng(0).permutation(n)

    def in_ram() -> None:
        for i in range(0, n, bs):
            data[perm[i : i + bs]]

    times = {shuffled: float("inf"), in_ram: float("inf")}
    for _ in range(args.repeat):  # alternate: both see the same load on shared cores
        for fn in times:
            t = time.perf_counter()
            fn()
            times[fn] = min(times[fn], time.perf_counter() - t)
    rate("shuffled batches (images)", n, times[shuffled])
    rate(f"in-RAM fancy indexing (images[perm] of {bs})", n, times[in_ram])
    print(f"{'shuffled / in-RAM':<44} {times[in_ram] / times[shuffled]:>14.2f} x")
    rate(
        "shuffled batches (images + all annotations)",
        n,
        best(lambda: shuffled(tuple(split.fields))),
    )
    rng = np.random.default_rng(0)
    calls = 3
    cold = open_store(store).version()["train"].images  # its chunks decoded on first touch
    t = best(lambda: [cold[rng.integers(0, n, bs)] for _ in range(calls)])
    rate(f"random index-array getitem of {bs} (whole split, cached)", calls * bs, t)
    t = best(lambda: [open_store(store).version()["train"].images[rng.integers(0, n, bs)]])
    rate(f"random index-array getitem of {bs} (whole split, cold)", bs, t)
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
    stages(split, args, times[shuffled] / n)


def stages(split: Any, args: argparse.Namespace, measured: float) -> None:
    """Time each stage of one shuffled epoch of images alone, over all its chunks."""
    import google_crc32c
    from numcodecs import blosc
    from zarr.buffer.cpu import NDBuffer

    from gridstore.read.batching import _permutation, _windows
    from gridstore.read.source import _zero_rows, chunk_key
    from gridstore.storage import backend

    source, bs = split._source, args.batch_size
    arr, n, size = source.arrays()["images"], len(source), source.chunk_images
    windows = _windows(source, True, 0, 1, 0, 1, args.window_chunks)
    chunks = [int(c) for w in windows for c in w]
    store = backend(source.store)
    raws = {c: store.get(chunk_key(arr, c)) or b"" for c in chunks}
    rows = {c: min(size, n - c * size) for c in chunks}
    buf = np.empty((size, *arr.shape[1:]), arr.dtype)
    window = split.images[: len(windows[0]) * size]
    perms = [_permutation((0, 1, 0, 1, 1, w), source.rows(ws)) for w, ws in enumerate(windows)]

    def zarr_read() -> None:  # the path before: zarr decodes, then copies into the window
        for c in chunks:
            out = NDBuffer.from_numpy_array(buf[: rows[c]])
            arr.get_basic_selection(slice(c * size, c * size + rows[c]), out=out)

    def decode() -> None:
        for c in chunks:
            blosc.decompress(raws[c][:-4], buf if rows[c] == size else None)

    def gather() -> None:
        for p in perms:
            for i in range(0, len(p), bs):
                window.take(p[i : i + bs], axis=0)

    steps: dict[str, Callable[[], object]] = {
        "read (file or object)": lambda: [store.get(chunk_key(arr, c)) for c in chunks],
        "crc32c": lambda: [google_crc32c.value(raws[c][:-4]) for c in chunks],
        "blosc decode into the window": decode,
        "all-zero image check": lambda: [_zero_rows(buf[: rows[c]]) for c in chunks],
        "window permutations": lambda: [
            _permutation((0, 1, 0, 1, 1, w), source.rows(ws)) for w, ws in enumerate(windows)
        ],
        f"gather batches of {bs} (np.take)": gather,
    }
    best = {k: float("inf") for k in [*steps, "(before: zarr read + copy, no check)"]}
    for _ in range(args.repeat):
        for k, fn in [*steps.items(), ("(before: zarr read + copy, no check)", zarr_read)]:
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    print(f"stages of a shuffled epoch, alone (us/image; {os.cpu_count()} cores):")
    for k, t in best.items():
        print(f"  {k:<42} {t / n * 1e6:>8.3f}")
    total = sum(best[k] for k in steps) / n
    print(f"  {'sum of the stages (one thread)':<42} {total * 1e6:>8.3f}")
    print(f"  {'measured end to end (threads overlap)':<42} {measured * 1e6:>8.3f}")


if __name__ == "__main__":
    main()
