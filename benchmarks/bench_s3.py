"""Measure gridstore on object storage: write rate and read rate through s3:// against moto.

Starts moto's S3 server as a process on a free 127.0.0.1 port (or uses --endpoint),
writes one version with `create_version` to ``s3://<bucket>/datasets`` and the same
plan to a local directory, then reads the train split both ways: sequential
batches (stored order) and shuffled batches (chunk windows). Prints images/s and
MB/s with the machine it ran on.

moto is a single Python process that keeps every object in memory and answers
one request at a time per thread: its rates are a floor for the client side
(encoding, request concurrency, copying at commit), not a measure of S3, where
a PUT or GET has 10-50 ms of latency but thousands run in parallel.

    python benchmarks/bench_s3.py                       # 500k images, all cores
    python benchmarks/bench_s3.py --num-images 100000 --workers 1
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

from _moto import moto_server

MB = 1e6


def machine() -> list[str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from gridstore.engines import default_workers

    libs = ", ".join(f"{d} {dist_version(d)}" for d in ("zarr", "s3fs", "fsspec", "moto", "numpy"))
    return [
        f"machine: {cpu}, {default_workers()} usable cores, {os.cpu_count()} logical; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"libraries: {libs}",
    ]


def write(store: str | Path, plan: Any, workers: int) -> tuple[dict[str, Any], float]:
    from gridstore.write.versions import create_version

    t0 = time.perf_counter()
    meta = create_version(store, plan, workers=workers, show_progress=False)
    return meta, time.perf_counter() - t0


def read(split: Any, batch_size: int, shuffle: bool) -> tuple[int, float, float]:
    """(images, seconds, seconds to the first batch) for one epoch of images."""
    t0 = time.perf_counter()
    first, n = None, 0
    for batch in split.batches(batch_size, shuffle=shuffle, seed=1):
        n += len(batch)
        first = first if first is not None else time.perf_counter() - t0
    return n, time.perf_counter() - t0, first or 0.0


def row(label: str, images: int, seconds: float, nbytes: float, extra: str = "") -> None:
    print(
        f"{label:<34} {images / seconds:>12,.0f} images/s {nbytes / seconds / MB:>9.1f} MB/s "
        f"({seconds:6.2f} s){extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=500_000, help="images over all splits")
    parser.add_argument("--workers", type=int, help="writer processes (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--endpoint",
        help="an S3-compatible endpoint to use instead of a new moto "
        "server (credentials from the environment)",
    )
    args = parser.parse_args()

    from gridstore.engines import default_workers
    from gridstore.plan import Plan
    from gridstore.read import open_store

    workers = args.workers or default_workers()
    plan = Plan(num_images=args.num_images, seed=1)
    print("\n".join(machine()))
    print(
        f"plan: {plan.num_images:,} images, {len(plan.tasks)} tasks of {plan.blocks_per_chunk * 5000:,}, "
        f"{workers} worker process{'es' if workers > 1 else ''}; batches of {args.batch_size}"
    )
    print(
        "NOTE: moto is an in-process Python server (one process, objects in memory): "
        "these rates are a floor for the client, not S3's."
    )

    with (
        tempfile.TemporaryDirectory() as tmp,
        moto_server() if args.endpoint is None else _given(args.endpoint) as endpoint,
    ):
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        import fsspec

        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        fsspec.filesystem("s3").mkdir(bucket)
        url = f"s3://{bucket}/datasets"
        print(f"endpoint: {endpoint}; store {url}\n")

        write(Path(tmp) / "warm", Plan(num_images=1000, seed=1), 1)  # numba cache, imports
        results = {}
        for label, store in (("local", Path(tmp) / "datasets"), ("s3 (moto)", url)):
            meta, seconds = write(store, plan, workers)
            results[label] = meta
            stored = meta["storage"]["bytes_on_disk"]
            row(
                f"write {label}", plan.num_images, seconds, stored, f"  {stored / MB:.1f} MB stored"
            )
        print(
            "  (MB/s = stored, compressed bytes per second; s3 includes the commit's server-side copy)"
        )
        print()
        for label, store in (("local", Path(tmp) / "datasets"), ("s3 (moto)", url)):
            meta = results[label]
            split = open_store(store).version()["train"]
            image_bytes = meta["storage"]["image_bytes_on_disk"] * len(split) / plan.num_images
            for shuffle in (False, True):
                n, seconds, first = read(split, args.batch_size, shuffle)
                kind = "shuffled" if shuffle else "sequential"
                row(
                    f"read {label} {kind}",
                    n,
                    seconds,
                    image_bytes,
                    f"  first batch {first * 1000:.0f} ms",
                )
        print(
            "  (read MB/s = stored image bytes per second; one process, default window of 4 chunks)"
        )
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _given(endpoint: str) -> Iterator[str]:
    yield endpoint


if __name__ == "__main__":
    main()
