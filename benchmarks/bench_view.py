"""Measure filtered views (``split.where``): shuffled batches against the split's, and len().

The time and traced memory peak of ``len(view)`` (one pass over the fields the
conditions read; the peak is about one chunk of them, whatever the split's
size), then, for views of several selectivities, one shuffled epoch of images:
images/s of the view against the split's own epoch (timed alternately, so both
see the same load on shared cores), and "per chunk", the rate at which the view
gets through the chunks it reads against the split's (1.0: no overhead beyond
reading whole chunks for fewer rows).

Builds a version with ``gridstore generate`` unless --store points at one.

    python benchmarks/bench_view.py                      # train split of 500,000 images
    python benchmarks/bench_view.py --store /tmp/store   # an existing store
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.read import open_store


def big(a: Mapping[str, np.ndarray]) -> np.ndarray:
    """A predicate: images whose largest object has at least 12 cells."""
    return np.asarray(a["object_size"].max(axis=1) >= 12)


VIEWS: dict[str, Callable[[Any], Any]] = {
    "every row (predicate)": lambda s: s.where(lambda a: np.ones(len(a["num_objects"]), bool)),
    "object_type=blob": lambda s: s.where(object_type="blob"),
    "largest object >= 12 (predicate)": lambda s: s.where(big),
    "num_objects=1": lambda s: s.where(num_objects=1),
    "blob of colour 3": lambda s: s.where(object_type="blob", object_colour=3),
    "num_objects=1, diagonal line": lambda s: s.where(num_objects=1, object_subtype="diagonal"),
}


def build(path: Path, num_images: int) -> None:
    from gridstore.cli import main

    total = -(-num_images * 5 // 4)  # default splits 0.8 / 0.1 / 0.1
    args = ["generate", "--store", str(path), "--num-images", str(total), "--yes", "--quiet"]
    main(args, standalone_mode=False)


def epoch(data: Any, batch_size: int, window_chunks: int) -> int:
    """Rows of one shuffled epoch of images."""
    return sum(
        len(b) for b in data.batches(batch_size, seed=0, epoch=1, window_chunks=window_chunks)
    )


def count(view: Any) -> tuple[float, int]:
    """Seconds and traced peak bytes of len() of a fresh view."""
    tracemalloc.start()
    t = time.perf_counter()
    len(view)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak


def run(store: Path, args: argparse.Namespace) -> None:
    split = open_store(store).version()["train"]
    bs, window = args.batch_size, args.window_chunks
    n, chunk = len(split), split.images.chunk_images
    print(f"train: {n:,} images in {-(-n // chunk)} chunks of {chunk:,}; batches of {bs}")
    for name in ("num_objects=1", "blob of colour 3", "largest object >= 12 (predicate)"):
        seconds, peak = count(VIEWS[name](split))
        print(
            f"len() of {name!r}: {seconds * 1e3:.0f} ms ({n / seconds / 1e6:.1f} M images/s), "
            f"traced peak {peak / 2**20:.2f} MiB (an int64 index of the split: {n * 8 / 2**20:.1f} MiB)"
        )
    print(
        f"{'view':<34} {'rows':>6} {'chunks':>6} {'view img/s':>11} {'split img/s':>11} "
        f"{'ratio':>6} {'per chunk':>9}"
    )
    for name, make in VIEWS.items():
        view = make(split)
        rows = len(view)
        best = {"view": float("inf"), "split": float("inf")}
        for _ in range(args.repeat):  # alternate: both see the same load on shared cores
            for label, data in (("view", view), ("split", split)):
                t = time.perf_counter()
                assert epoch(data, bs, window) == (rows if label == "view" else n)
                best[label] = min(best[label], time.perf_counter() - t)
        view_rate, split_rate = rows / best["view"], n / best["split"]
        counts = view.chunk_counts()
        read = sum(min(chunk, n - int(c) * chunk) for c in np.flatnonzero(counts))
        # per chunk: how fast the view gets through the chunks it reads, against the split
        print(
            f"{name:<34} {rows / n:>6.1%} {np.mean(counts > 0):>6.0%} {view_rate:>11,.0f} "
            f"{split_rate:>11,.0f} {view_rate / split_rate:>6.2f} "
            f"{read / best['view'] / split_rate:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="existing store (default: build one)")
    parser.add_argument("--num-images", type=int, default=500_000, help="train images")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--window-chunks", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="best of N epochs")
    args = parser.parse_args()
    tmp = None
    store = args.store
    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="gridstore-bench-view-"))
        store = tmp / "store"
        build(store, args.num_images)
    try:
        run(store, args)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
