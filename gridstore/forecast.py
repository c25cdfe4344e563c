"""How many duplicate images a run will hold, forecast from a sample of its generator.

A version of N images holds ``D(N) = N - E[distinct images in N draws]``
duplicates: in ``disjoint`` mode all within splits, in ``independent`` mode
``sum D(n_split)`` within splits and the rest across them.

Collisions are counted between classes of images, not images. An image's
class is its pixels moved to the top-left corner, with one or two colours
renamed by first appearance, and the borders its pixels touch. Colours are
uniform and independent, a first object is placed uniformly, and a blob grows
alike wherever it touches the same borders: so the images of a single-object
class are equally likely (of several objects, nearly so). A class of ``m``
images and probability ``P`` adds ``m * phi(N * P / m)`` duplicates,
``phi(x) = x - 1 + exp(-x)``.

A sample of ``n`` images sees classes thousands of times more often than
images, so it measures ``P`` far below ``1 / n``. From a class's count ``c``,
``m * ((1 - k)**c - 1 + c * k)`` with ``k = N / (n * m)`` is unbiased while
``k <= 1``; beyond, that value at ``k = 1`` grows as ``phi`` of the plug-in
``k * c``, so the forecast is continuous and non-decreasing in N. Against real
counts at 1M and 10M, nine configurations land within 0.95-1.02 of the truth
(benchmarks/bench_forecast.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gridstore.plan import DEFAULT_FRACTIONS, SPLITS, Plan, SplitMode

if TYPE_CHECKING:
    from gridstore.config import GeneratorConfig
    from gridstore.generate.vocab import Annotations

__all__ = ["DuplicateForecast", "forecast_duplicates", "sample_size"]

SAMPLE_SEED = 0  # the sample is the corpus stream of this seed: every plan of a config agrees
# 200,000 images of 16x16: 0.6 s to draw and classify on one core. At 10M images, nine
# configs forecast 0.88-1.0 of the real count from 100,000 and 0.96-1.0 from 300,000.
SAMPLE_PIXELS = 200_000 * 16 * 16
MAX_SAMPLE_IMAGES = 200_000
MIN_SAMPLE_IMAGES = 2_000  # a 255x255 grid draws about 1,600 images a second
CHUNK_PIXELS = 1 << 21  # images classified at a time: about 16 MiB of arrays at once
COLOURS = 9  # object colours 1..9, uniform and independent (GENERATOR.md)
_BORDER_MIX = np.uint64(0x9E3779B97F4A7C15)  # tells the same pixels at other borders apart
_MAX_DRAWS = 10.0**18  # beyond this a unique run is reported as out of reach


@dataclass(frozen=True)
class DuplicateForecast:
    """Expected duplicates of a version, as its metadata will count them.

    ``within_split`` and ``cross_split`` forecast the metadata's
    ``duplicates`` (the ``*_within`` counts summed, and ``cross_split``).
    ``draws_for_unique`` is how many images must be drawn to hold
    ``num_images`` distinct ones (None: the distribution is not expected to
    hold that many).
    """

    num_images: int
    within_split: int
    cross_split: int
    draws_for_unique: int | None
    sample_images: int

    @property
    def duplicates(self) -> int:
        """Images expected to repeat an earlier one: within splits plus across them."""
        return self.within_split + self.cross_split

    @property
    def share(self) -> float:
        """Expected duplicates as a fraction of ``num_images``."""
        return self.duplicates / self.num_images

    @property
    def extra_draws(self) -> int | None:
        """Images a unique run draws beyond ``num_images`` (None: out of reach)."""
        if self.draws_for_unique is None:
            return None
        return self.draws_for_unique - self.num_images


@dataclass(frozen=True)
class _Profile:
    """The sample's classes seen at least twice: their counts and sizes (images per class)."""

    sample_images: int
    counts: np.ndarray
    sizes: np.ndarray

    def duplicates(self, draws: float) -> float:
        """Expected duplicates among ``draws`` images (0 for none)."""
        if draws <= 0:
            return 0.0
        c = self.counts.astype(np.float64)
        m = self.sizes.astype(np.float64)
        k = draws / (self.sample_images * m)
        below = np.minimum(k, 1.0)
        with np.errstate(divide="ignore"):  # log1p(-1) = -inf: (1 - 1)**c = 0
            unbiased = m * (np.expm1(c * np.log1p(-below)) + c * below)
        above = k > 1
        scale = np.ones_like(k)
        scale[above] = _phi(k[above] * c[above]) / _phi(c[above])
        return float(np.sum(np.maximum(unbiased, 0.0) * scale))

    def distinct(self, draws: float) -> float:
        """Expected distinct images among ``draws`` images (non-decreasing in ``draws``)."""
        return draws - self.duplicates(draws)

    def draws_for(self, distinct: int) -> int | None:
        """Fewest draws expected to hold ``distinct`` distinct images (None: beyond reach)."""
        lo, hi = float(distinct), 2.0 * distinct
        while self.distinct(hi) < distinct:
            lo, hi = hi, 2 * hi
            if hi > _MAX_DRAWS:
                return None
        while hi - lo > max(0.25, 1e-9 * lo):  # to the nearest draw
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.distinct(mid) < distinct else (lo, mid)
        return max(distinct, round(hi))


def _phi(x: np.ndarray) -> np.ndarray:
    """Expected duplicates of a class of one image drawn ``x`` times on average."""
    return x + np.expm1(-x)


def forecast_duplicates(
    config: GeneratorConfig,
    num_images: int,
    split_mode: SplitMode = "disjoint",
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> DuplicateForecast:
    """Forecast the duplicates a version of ``num_images`` images will record.

    The forecast extrapolates from a fixed sample of the generator (see the
    module docstring); the sample's summary is cached on disk per config,
    so later forecasts of a config take milliseconds.

    Parameters
    ----------
    config : GeneratorConfig
        The image distribution.
    num_images : int
        Images over all splits.
    split_mode : {"disjoint", "independent"}
        As for :class:`gridstore.Plan`: disjoint versions hold every duplicate
        within a split; independent ones also repeat images across splits.
    fractions : tuple of 3 float
        Train, val, test fractions (they matter only to independent splits).

    Returns
    -------
    DuplicateForecast

    Raises
    ------
    ConfigError
        ``num_images``, ``split_mode`` or ``fractions`` is not what a Plan accepts.

    Examples
    --------
    >>> from gridstore.config import GeneratorConfig
    >>> f = forecast_duplicates(GeneratorConfig(), 1_000_000)
    >>> 0.05 < f.share < 0.1, f.cross_split, f.draws_for_unique > 1_000_000
    (True, 0, True)
    """
    plan = Plan(config=config, num_images=num_images, split_mode=split_mode, fractions=fractions)
    profile = _sample_profile(config)
    total = profile.duplicates(plan.num_images)
    if plan.split_mode == "disjoint":  # routed by content: a repeat lands in its first's split
        within = total
    else:  # each split is an iid stream of its own length
        within = sum(profile.duplicates(plan.split_counts[s]) for s in SPLITS)
    return DuplicateForecast(
        num_images=plan.num_images,
        within_split=round(within),
        cross_split=max(0, round(total) - round(within)),
        draws_for_unique=profile.draws_for(plan.num_images),
        sample_images=profile.sample_images,
    )


def sample_size(grid_size: int) -> int:
    """Images in the forecast's sample for this grid: a fixed budget of pixels."""
    return min(MAX_SAMPLE_IMAGES, max(MIN_SAMPLE_IMAGES, SAMPLE_PIXELS // grid_size**2))


@functools.lru_cache(maxsize=8)
def _sample_profile(config: GeneratorConfig) -> _Profile:
    """The profile of ``config``: from this process, the disk cache, or a new sample."""
    path = _cache_path(config)
    profile = _read_profile(path)
    if profile is None:
        profile = _measure_profile(config, sample_size(config.grid_size))
        _write_profile(path, profile)
    return profile


def _cache_path(config: GeneratorConfig) -> Path:
    """Where the profile of ``config`` is cached: beside the compiled kernels.

    The kernels' directory is keyed by the generator's sources, so a changed
    generator never reads an old profile; the file name digests the config,
    the sample and this module.
    """
    from gridstore._jit import cache_dir

    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    digest.update(f"{SAMPLE_SEED} {sample_size(config.grid_size)}".encode())
    digest.update(Path(__file__).read_bytes())
    return cache_dir() / "forecast" / f"{digest.hexdigest()[:24]}.npz"


def _read_profile(path: Path) -> _Profile | None:
    """The cached profile at ``path``, or None when it is missing or not a valid profile."""
    try:
        with np.load(path, allow_pickle=False) as f:
            n, counts, sizes = int(f["sample_images"]), f["counts"], f["sizes"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    valid = (
        counts.dtype == sizes.dtype == np.int64
        and counts.shape == sizes.shape == (len(counts),)
        and bool(np.all(counts >= 2))
        and bool(np.all(sizes >= 1))
        and int(counts.sum()) <= n
    )
    return _Profile(n, counts, sizes) if valid else None


def _write_profile(path: Path, profile: _Profile) -> None:
    """Cache ``profile`` at ``path`` (temp file + rename); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    sample_images=profile.sample_images,
                    counts=profile.counts,
                    sizes=profile.sizes,
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # read-only or full cache: the next forecast samples again


def _measure_profile(config: GeneratorConfig, n: int) -> _Profile:
    """Draw ``n`` images of the corpus stream and count their classes."""
    from gridstore.generate.batch import generate_images

    step = max(1, CHUNK_PIXELS // config.grid_size**2)
    keys, sizes = [], []
    for start in range(0, n, step):
        images, ann = generate_images(config, SAMPLE_SEED, start, min(n, start + step))
        k, m = _classes(images, ann)
        keys.append(k)
        sizes.append(m)
    key, size = np.concatenate(keys), np.concatenate(sizes)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    seen_twice = counts >= 2
    return _Profile(n, counts[seen_twice].astype(np.int64), size[first[seen_twice]])


def _classes(images: np.ndarray, ann: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """Each image's class key (uint64) and the number of images in its class (int64).

    A class is the image's pixels moved to the top-left corner, with one or
    two colours renamed by first appearance (three or more are kept as they
    are), and the borders the pixels touch. Its images are the placements
    along each axis with those border contacts, times the colourings.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    from gridstore.generate.hashing import content_hashes

    n, g = images.shape[0], images.shape[1]
    box = ann.object_bbox.astype(np.int64)
    placed = np.arange(box.shape[1]) < ann.num_objects[:, None].astype(np.int64)
    empty = ~placed.any(axis=1)  # no object at all: the blank image, a class of one
    r0 = np.where(empty, 0, np.where(placed, box[..., 0], g).min(axis=1))
    c0 = np.where(empty, 0, np.where(placed, box[..., 1], g).min(axis=1))
    r1 = np.where(empty, g - 1, np.where(placed, box[..., 2], -1).max(axis=1))
    c1 = np.where(empty, g - 1, np.where(placed, box[..., 3], -1).max(axis=1))
    colours = np.sort(np.where(placed, ann.object_colour, 0), axis=1)
    distinct = (colours[:, :1] > 0).sum(axis=1)
    distinct += ((colours[:, 1:] != colours[:, :-1]) & (colours[:, 1:] > 0)).sum(axis=1)

    # Move each image to the top-left: row i of a padded flat copy, read from its corner.
    # Cells that wrap past a row's end lie left of the box, so they read background.
    cells = g * g
    padded = np.zeros((n, 2 * cells), np.uint8)
    padded[:, :cells] = images.reshape(n, cells)
    moved = sliding_window_view(padded, cells, axis=1)[np.arange(n), r0 * g + c0]
    mask = (moved != 0).view(np.uint8)
    pixels = np.where((distinct >= 3)[:, None], moved, mask)
    two = np.flatnonzero(distinct == 2)
    if len(two):
        first = moved[two, mask[two].argmax(axis=1)]  # colour of the first cell becomes 1
        pixels[two] += (moved[two] != first[:, None]) & (mask[two] == 1)
    pixels[empty] = 0

    top, bottom, left, right = r0 == 0, r1 == g - 1, c0 == 0, c1 == g - 1
    borders = top + 2 * bottom + 4 * left + 8 * right + 1
    key = content_hashes(pixels.reshape(n, g, g)) ^ (borders.astype(np.uint64) * _BORDER_MIX)
    colourings = np.array([math.perm(COLOURS, j) for j in (0, 1, 2)], np.int64)
    sizes = _placements(top, bottom, r1 - r0 + 1, g) * _placements(left, right, c1 - c0 + 1, g)
    sizes *= np.where(distinct >= 3, 1, colourings[np.minimum(distinct, 2)])
    return key, np.where(empty, 1, sizes)


def _placements(low: np.ndarray, high: np.ndarray, span: np.ndarray, g: int) -> np.ndarray:
    """Offsets along one axis with the same border contacts: 1 at a border, else the inner ones."""
    free = g - span
    return np.where((free == 0) | low | high, 1, free - 1)
