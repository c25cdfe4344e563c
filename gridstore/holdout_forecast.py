"""What hold-out conditions cost, forecast from a sample of the generator (as duplicates are).

The sample is the corpus stream of `gridstore.forecast.SAMPLE_SEED`, the same
number of images as the duplicate forecast's, drawn further (up to ten times
as many) while fewer than ``MIN_MATCHES`` of its images match (but some do:
none in the first sample is a share below about 1 in 100,000, which no split
can be drawn from at 200,000 draws per heldout image): the share ``p``
of its images that match a condition forecasts the share of draws the
conditions remove, within about 2% (one standard error) down to ``p`` near
0.1%.
train, val and test then draw ``1 / (1 - p)`` images per image kept, and the
heldout split ``1 / p`` per image. The sample's statistics, routed by content
hash as a version's images are, are what the unconditioned generator would
have given each split: the metadata records them beside the kept ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore.config import GeneratorConfig
from gridstore.holdout.spec import parse_hold_out

__all__ = [
    "HoldOutForecast",
    "check_feasible",
    "forecast_hold_out",
    "heldout_draw_seconds",
    "hold_out_lines",
    "unconditioned_statistics",
]

MIN_MATCHES = 2000  # matching sample images wanted: a relative standard error near 2%
MAX_SAMPLES = 10  # the sample grows to at most this many times the duplicate forecast's


@dataclass(frozen=True)
class HoldOutForecast:
    """The share of draws that match the conditions, overall and per condition."""

    share: float
    per_condition: tuple[float, ...]
    sample_images: int

    def routed_draws(self, kept: float) -> float:
        """Draws expected to keep ``kept`` images that match no condition (inf: never)."""
        return kept / (1 - self.share) if self.share < 1 else float("inf")

    def heldout_draws(self, images: float) -> float:
        """Draws expected to find ``images`` matching images (inf: none seen in the sample)."""
        return images / self.share if self.share > 0 else (0.0 if images == 0 else float("inf"))


def _sample(config: GeneratorConfig) -> tuple[int, dict[str, np.ndarray], np.ndarray]:
    from gridstore.forecast import SAMPLE_SEED, sample_size
    from gridstore.generate.batch import generate_images

    n = sample_size(config.grid_size)
    images, ann = generate_images(config, SAMPLE_SEED, 0, n)
    return n, ann.as_dict(), images


@functools.lru_cache(maxsize=4)
def _sampled(config: GeneratorConfig) -> tuple[int, dict[str, np.ndarray], np.ndarray]:
    return _sample(config)


@functools.lru_cache(maxsize=16)
def forecast_hold_out(config: GeneratorConfig, hold_out: tuple[str, ...]) -> HoldOutForecast:
    """Forecast the share of ``config``'s draws that match one of ``hold_out``.

    Examples
    --------
    >>> from gridstore.config import make_config
    >>> config = make_config("atomic", grid_size=8, max_objects=2, max_size=6)
    >>> f = forecast_hold_out(config, ("num_objects=2",))
    >>> 0.3 < f.share < 0.7
    True
    """
    from gridstore.forecast import SAMPLE_SEED
    from gridstore.generate.batch import generate_images

    n, fields, _ = _sampled(config)
    held = parse_hold_out(hold_out, config.max_objects, config.grid_size)
    per = held.matching(fields, n)
    hits, each, total = int(per.any(axis=0).sum()), per.sum(axis=1), n
    while 0 < hits < MIN_MATCHES and total < MAX_SAMPLES * n:  # rare: the stream drawn further
        _, ann = generate_images(config, SAMPLE_SEED, total, total + n)
        per = held.matching(ann.as_dict(), n)
        hits, each, total = hits + int(per.any(axis=0).sum()), each + per.sum(axis=1), total + n
    return HoldOutForecast(hits / total, tuple((each / total).tolist()), total)


def unconditioned_statistics(plan: Any) -> dict[str, Any]:
    """The statistics the unconditioned generator gives each split, from the forecast's sample.

    train, val and test: the sample's images their content hash routes to
    them; heldout: the whole sample (the distribution it is conditioned from).
    """
    from gridstore.generate.hashing import content_hashes, route_splits
    from gridstore.generate.vocab import Annotations
    from gridstore.plan import SPLITS
    from gridstore.statistics import split_counts, summarize

    n, fields, images = _sampled(plan.config)
    routes = route_splits(content_hashes(images), plan.fractions)
    ann = Annotations(**fields)
    out = {}
    for k, split in enumerate(SPLITS):
        rows = np.flatnonzero(routes == k)
        counts = split_counts(images[rows], ann[rows], plan.config.max_size)
        out[split] = summarize(counts, plan.config.grid_size)
    whole = split_counts(images, ann, plan.config.max_size)
    out["heldout"] = summarize(whole, plan.config.grid_size)
    return {"sample_images": n, "statistics": out}


def check_feasible(plan: Any) -> HoldOutForecast:
    """A hold-out plan's forecast; refuses, before any work, conditions that leave train/val/test
    or heldout nothing to draw (ConfigError)."""
    from gridstore.errors import ConfigError
    from gridstore.generate.batch import MAX_DRAWS_PER_SLOT

    f = forecast_hold_out(plan.config, plan.hold_out)
    said = "; ".join(plan.hold_out)
    if f.share > 1 - 2 / MAX_DRAWS_PER_SLOT:  # a block stops at 50 draws per image
        msg = (
            f"--hold-out {said} matches {f.share:.1%} of {f.sample_images:,} sampled draws: "
            "train, val and test could not be filled; hold out less"
        )
        raise ConfigError(msg)
    if f.share == 0 and plan.heldout_count:
        msg = (
            f"--hold-out {said} matches none of {f.sample_images:,} sampled draws: the heldout "
            "split could not be filled; check the conditions (or --heldout-images 0)"
        )
        raise ConfigError(msg)
    return f


def heldout_draw_seconds(plan: Any, f: HoldOutForecast) -> float:
    """Seconds per draw of the heldout stream, timed here on about 20,000 draws (rejections
    included: cheaper than a kept draw, and each image a call of its own)."""
    import time

    from gridstore.generate.draws import heldout_rows

    table = plan.holdout.table()
    heldout_rows(plan.config, plan.seed, 0, 1, table)  # the first call's costs apart
    rows = max(8, min(plan.heldout_count, round(20_000 * f.share)))
    started = time.perf_counter()
    drawn = heldout_rows(plan.config, plan.seed, 0, rows, table)[3]
    return (time.perf_counter() - started) / max(drawn, 1)


def hold_out_lines(plan: Any, estimate: Any) -> list[str]:
    """The plan's lines about its hold-out conditions: the removed share and its cost."""
    if not plan.hold_out:
        return []
    f = check_feasible(plan)
    shares = ", ".join(f"{s:.2%}" for s in f.per_condition)
    extra = f.routed_draws(plan.num_images) - plan.num_images
    heldout = f.heldout_draws(plan.heldout_count)
    lines = [
        f"hold-out:         {len(plan.hold_out)} condition{'s' * (len(plan.hold_out) > 1)}: "
        + "; ".join(plan.hold_out),
        f"removed (est.):   {f.share:.2%} of draws match (each: {shares}; a sample of "
        f"{f.sample_images:,}); train/val/test draw +{extra / plan.num_images:.1%} "
        f"({extra:,.0f} images), heldout {heldout:,.0f} draws for {plan.heldout_count:,} images",
    ]
    seconds = getattr(estimate, "hold_out_seconds", None)
    if seconds is not None:
        lines.append(f"hold-out time:    {seconds:.1f} s of the time above (their extra draws)")
    return lines
