"""Benchmark `gridstore.factors.render` against ordinary generation, per image.

Prints, for ``--num-images`` images of the atomic preset in one process (the
best of ``--repeats`` wall times, warm kernels):

- ``generate_images`` (the corpus stream);
- ``sample_factors``;
- ``render`` with every factor free;
- ``render`` of sampled factors, every factor fixed (the round trip);
- ``render`` of sampled factors with each factor freed with probability 1/2;
- ``SingleObjectData.sample_observations_from_factors`` of uniform combinations;

each as microseconds per image and the ratio to ``generate_images``, plus how
many rows render gave up on (``allow_failures``): rows whose objects it could
not fit together in ``MAX_ATTEMPTS`` fresh starts.

    python benchmarks/bench_factors.py
    python benchmarks/bench_factors.py --num-images 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gridstore.config import GeneratorConfig
from gridstore.factors import SingleObjectData, render, sample_factors
from gridstore.generate import generate_images


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, c = args.num_images, GeneratorConfig()
    factors = sample_factors(n, seed=1)
    rng = np.random.default_rng(2)
    mixed = {k: np.where((rng.random(v.shape) < 0.5) & ((v > 0) | (k != "object_type")), -1, v)
             for k, v in factors.items()}  # fmt: skip
    free = {k: np.full_like(v, -1) for k, v in factors.items()}
    data = SingleObjectData(c)
    single = data.sample_factors(n, np.random.RandomState(3))
    render({k: v[:10] for k, v in free.items()}, 0)  # warm the kernels
    generate_images(c, 0, 0, 10)
    data.sample_observations_from_factors(single[:10], np.random.RandomState(0))
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("generate_images", lambda: generate_images(c, 5, 0, n)),
        ("sample_factors", lambda: sample_factors(n, seed=5)),
        ("render, all free", lambda: render(free, 5, allow_failures=True)),
        ("render, all fixed", lambda: render(factors, 5, allow_failures=True)),
        ("render, half free", lambda: render(mixed, 5, allow_failures=True)),
        ("adapter, 1 object", lambda: (data.sample_observations_from_factors(single, np.random.RandomState(0)),)),
    ]  # fmt: skip
    base = None
    print(f"{n:,} images, atomic preset, best of {args.repeats}")
    for name, fn in cases:
        seconds, out = best(fn, args.repeats)
        base = base or seconds
        failed = ""
        if name.startswith("render"):
            failed = f"  rows not rendered: {int((out[1].num_objects == 0).sum())}"
        print(f"{name:20s} {seconds / n * 1e6:8.2f} us/image  {seconds / base:6.2f}x{failed}")


if __name__ == "__main__":
    main()
