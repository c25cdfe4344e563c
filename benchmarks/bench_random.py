"""Random access against streaming: map-style, single-row and index-array reads, and the iterable.

Reports for one version's train split, in images/s: the map-style
``torch_dataset()`` under ``DataLoader(shuffle=True, batch_size=256)`` with 0
and 2 workers, single random ``split.images[i]`` reads (a fresh process:
nothing cached), an index array over the whole split, ``torch_iterable(256)``
under ``DataLoader(batch_size=None)`` with 0 and 2 workers, and a sequential
read. Each DataLoader rate is over at most ``--seconds`` of batches after the
first. Then the same with the cache of decoded chunks turned off
(``GRIDSTORE_READ_CACHE_MB=0``), which is what a split much larger than the
cache gets from random access.

    python benchmarks/bench_random.py                       # builds a 1M-image version
    python benchmarks/bench_random.py --store S --version V # an existing version
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _loader_rate(loader: Any, seconds: float) -> float:
    it = iter(loader)
    next(it)  # start-up (workers, first batch) is not timed
    t0, n = time.perf_counter(), 0
    for batch in it:
        n += len(batch)
        if time.perf_counter() - t0 > seconds:
            break
    return n / (time.perf_counter() - t0)


def measure(store: str, version: str, seconds: float) -> dict[str, float]:
    """The rates of one version's train split, in images/s."""
    from torch.utils.data import DataLoader

    from gridstore.read import open_store

    split = open_store(store).version(version)["train"]
    out = {}
    for w in (0, 2):
        ds = split.torch_dataset()
        loader = DataLoader(ds, shuffle=True, batch_size=256, num_workers=w)
        out[f"map-style DataLoader, {w} workers"] = _loader_rate(loader, seconds)
    code = (  # a fresh process: nothing cached
        "import sys, time, numpy as np; from gridstore.read import open_store\n"
        f"s = open_store({store!r}).version({version!r})['train']; n = len(s)\n"
        "idx = np.random.default_rng(0).integers(0, n, 100000); t0 = time.perf_counter(); k = 0\n"
        f"while time.perf_counter() - t0 < {seconds} and k < len(idx):\n"
        "    s.images[int(idx[k])]; k += 1\n"
        "print(k / (time.perf_counter() - t0))\n"
    )
    single = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    out["single random reads (cold process)"] = float(single.stdout)
    fresh = open_store(store).version(version)["train"]
    k = min(len(fresh), 200_000)
    idx = np.random.default_rng(1).permutation(len(fresh))[:k]
    t0 = time.perf_counter()
    fresh.images[idx]
    out[f"index array of {k:,} rows"] = k / (time.perf_counter() - t0)
    for w in (0, 2):
        loader = DataLoader(split.torch_iterable(256), batch_size=None, num_workers=w)
        out[f"iterable DataLoader, {w} workers"] = _loader_rate(loader, seconds)
    t0 = time.perf_counter()
    for _ in split.batches(4096, shuffle=False):
        pass
    out["sequential batches"] = len(split) / (time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="existing store (default: build one)")
    parser.add_argument("--version", help="with --store")
    parser.add_argument("--num-images", type=int, default=1_000_000, help="images to build")
    parser.add_argument("--seconds", type=float, default=4.0, help="per DataLoader rate")
    parser.add_argument("--no-compare", action="store_true", help="skip the run without cache")
    args = parser.parse_args()
    store, version = args.store, args.version
    if store is None:
        from gridstore.plan import Plan
        from gridstore.write.versions import create_version

        store = str(Path(tempfile.mkdtemp(prefix="bench_random_")) / "store")
        meta = create_version(store, Plan(num_images=args.num_images), show_progress=False)
        version = meta["version"]
    cache = os.environ.get("GRIDSTORE_READ_CACHE_MB", "256")
    print(f"{store} {version}, train split, cache of decoded chunks {cache} MiB per process")
    for name, rate in measure(store, version, args.seconds).items():
        print(f"  {name:42s} {rate:>12,.0f} images/s", flush=True)
    if not args.no_compare:
        cmd = [sys.executable, __file__, "--store", store, "--version", version, "--no-compare"]
        cmd += ["--seconds", str(args.seconds)]
        subprocess.run(cmd, env={**os.environ, "GRIDSTORE_READ_CACHE_MB": "0"}, check=True)


if __name__ == "__main__":
    main()
