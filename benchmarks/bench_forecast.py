"""The duplicate forecast against real counts: 1M and 10M images of several configs.

For each config this draws the corpus stream of seed 42 (the forecast samples
seed 0, so the two never share images), hashes every image, and counts what a
disjoint version's metadata records: ``N - distinct(N)`` duplicates among the
first N images. It also finds where the stream's ``U``-th new image appears:
the draws a unique version of ``U`` images needs. Ratios are forecast / real;
the goal is 0.7-1.3. Each config also shows the forecast's own cost: its sample
drawn and classified with no cache, in this process.

About 20 s of one core per 10M images of a 16x16 grid (a 32x32 grid: 30 s)::

    python benchmarks/bench_forecast.py
    python benchmarks/bench_forecast.py --configs atomic max1 --sizes 1000000 --processes 2
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from gridstore.config import GeneratorConfig, make_config
from gridstore.forecast import _measure_profile, _Profile, forecast_duplicates, sample_size

REAL_SEED = 42
CHUNK = 250_000
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "atomic": ("atomic", {}),
    "shapes": ("shapes", {}),
    "max1": ("atomic", {"max_objects": 1}),
    "size2-4": ("atomic", {"min_size": 2, "max_size": 4, "pattern_weights": {"plus": 0}}),
    "grid8": ("atomic", {"grid_size": 8, "max_size": 8}),
    "blobs": ("atomic", {"type_weights": {"blob": 1, "rectangle": 0, "line": 0, "pattern": 0}}),
    "lines": (
        "atomic",
        {"type_weights": {"blob": 0.1, "rectangle": 0.1, "line": 0.7, "pattern": 0.1}},
    ),
    "grid32": ("atomic", {"grid_size": 32}),
    # Hard on the method: several objects per image on a small grid (only nearly uniform
    # within a class).
    "grid5-2to3": (
        "atomic",
        {
            "grid_size": 5,
            "min_size": 2,
            "max_size": 4,
            "min_objects": 2,
            "max_objects": 3,
            "pattern_weights": {"plus": 0},
        },
    ),
}


def _hashes(config: GeneratorConfig, start: int, stop: int) -> np.ndarray:
    from gridstore.generate.batch import generate_images
    from gridstore.generate.hashing import content_hashes

    images, _ = generate_images(config, REAL_SEED, start, stop)
    return content_hashes(images)


def real_stream(config: GeneratorConfig, n: int, processes: int) -> np.ndarray:
    """Content hashes of the first ``n`` images of the stream of seed REAL_SEED."""
    starts = range(0, n, CHUNK)
    stops = [min(n, s + CHUNK) for s in starts]
    if processes <= 1:
        parts = [_hashes(config, a, b) for a, b in zip(starts, stops, strict=True)]
    else:
        with ProcessPoolExecutor(processes) as pool:
            parts = list(pool.map(_hashes, [config] * len(stops), starts, stops))
    return np.concatenate(parts)


def draws_until(hashes: np.ndarray, distinct: int) -> int | None:
    """Draws of the stream until ``distinct`` different images have appeared (None: never)."""
    _, first = np.unique(hashes, return_index=True)
    if len(first) < distinct:
        return None
    return int(np.sort(first)[distinct - 1]) + 1


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--unique", type=int, default=1_000_000, help="distinct images wanted")
    parser.add_argument("--processes", type=int, default=1, help="processes drawing the stream")
    args = parser.parse_args()
    print(
        f"{'config':>11} {'sample':>7} {'sample s':>8} | {'N':>11} {'real dup':>10} "
        f"{'forecast':>10} {'ratio':>5} | {'unique U':>10} {'real extra':>10} "
        f"{'forecast':>10} {'ratio':>5}"
    )
    ratios = []
    for name in args.configs:
        preset, overrides = CONFIGS[name]
        config = make_config(preset, **overrides)
        _hashes(config, 0, 10)  # compile or load the kernels outside the timing
        started = time.process_time()
        profile: _Profile = _measure_profile(config, sample_size(config.grid_size))
        sample_s = time.process_time() - started
        hashes = real_stream(config, max(args.sizes), args.processes)
        real_draws = draws_until(hashes, args.unique)
        wanted = forecast_duplicates(config, args.unique)
        for i, n in enumerate(sorted(args.sizes)):
            real = n - len(np.unique(hashes[:n]))
            forecast = forecast_duplicates(config, n).duplicates
            ratio = forecast / real if real else float("nan")
            ratios.append(ratio)
            unique = ""
            if i == 0:
                real_extra = None if real_draws is None else real_draws - args.unique
                fc_extra = wanted.extra_draws
                u_ratio = (
                    fc_extra / real_extra if real_extra and fc_extra is not None else float("nan")
                )
                unique = (
                    f" | {args.unique:>10,} {_count(real_extra):>10} {_count(fc_extra):>10} "
                    f"{u_ratio:>5.3f}"
                )
            print(
                f"{name:>11} {profile.sample_images:>7,} {sample_s:>8.2f} | {n:>11,} "
                f"{real:>10,} {forecast:>10,} {ratio:>5.3f}{unique}",
                flush=True,
            )
    inside = sum(0.7 <= r <= 1.3 for r in ratios)
    print(
        f"{inside} of {len(ratios)} duplicate ratios within 0.7-1.3 "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
