"""The duplicate forecast: against real counts, and its promises (monotone, deterministic, sane)."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridstore.config import GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.forecast import (
    _cache_path,
    _measure_profile,
    _Profile,
    _read_profile,
    _sample_profile,
    _write_profile,
    forecast_duplicates,
)
from gridstore.generate.batch import generate_images
from gridstore.generate.hashing import content_hashes

ATOMIC = GeneratorConfig()
# 2x2 grids of one single-cell blob: exactly 4 cells x 9 colours = 36 distinct images.
TINY = make_config(
    grid_size=2,
    max_objects=1,
    min_size=1,
    max_size=1,
    type_weights={"blob": 1, "rectangle": 0, "line": 0, "pattern": 0},
)


@pytest.fixture(scope="module")
def real_hashes() -> np.ndarray:
    """Content hashes of 600,000 images of the atomic stream (seed 42: not the forecast's sample)."""
    images, _ = generate_images(ATOMIC, 42, 0, 600_000)
    return content_hashes(images)


def test_forecast_lands_near_the_real_count_beyond_its_sample(real_hashes: np.ndarray) -> None:
    """600,000 images are three times the sample: the real repeats, within 10%."""
    n = len(real_hashes)
    real = n - len(np.unique(real_hashes))
    forecast = forecast_duplicates(ATOMIC, n)
    assert forecast.sample_images < n
    assert forecast.duplicates == pytest.approx(real, rel=0.1), (forecast.duplicates, real)
    assert forecast.share == pytest.approx(real / n, rel=0.1)


def test_draws_for_unique_match_the_real_stream(real_hashes: np.ndarray) -> None:
    """The draws a unique run needs: where the real stream's 500,000th new image appears."""
    wanted = 500_000
    _, first = np.unique(real_hashes, return_index=True)
    real_draws = int(np.sort(first)[wanted - 1]) + 1
    forecast = forecast_duplicates(ATOMIC, wanted)
    assert forecast.draws_for_unique is not None
    assert forecast.extra_draws == pytest.approx(real_draws - wanted, rel=0.1)


def test_more_images_never_mean_fewer_duplicates() -> None:
    """Count, share and the unique run's draws all grow with N, from 1 image to 10**12."""
    sizes = [1, 10, 1000, 50_000, 200_000, 10**6, 10**7, 10**8, 10**9, 10**10, 10**12]
    forecasts = [forecast_duplicates(ATOMIC, n) for n in sizes]
    for a, b in itertools.pairwise(forecasts):
        assert a.duplicates <= b.duplicates
        assert a.share <= b.share + 1e-12
        assert a.draws_for_unique is not None and b.draws_for_unique is not None
        assert a.draws_for_unique < b.draws_for_unique
    assert forecasts[0].duplicates == 0 and forecasts[0].draws_for_unique == 1
    assert forecasts[-1].duplicates > forecasts[5].duplicates > 0


@pytest.mark.parametrize("num_images", [1, 7, 999, 10**9, 10**12], ids=str)
def test_forecast_is_sane_far_from_its_sample(num_images: int) -> None:
    """Tiny and huge N: finite counts, 0 <= duplicates < N, enough draws for a unique run."""
    f = forecast_duplicates(ATOMIC, num_images)
    assert 0 <= f.duplicates < num_images
    assert 0 <= f.share < 1 and math.isfinite(f.share)
    assert f.draws_for_unique is not None and f.draws_for_unique >= num_images
    if num_images >= 10**9:  # repeats by then: more than at 10M (15%), never all
        assert 0.15 < f.share < 0.5


# A config no other test forecasts, so that its cache file is this test's alone.
RESAMPLED = make_config(max_objects=1, max_tries=6)


def test_forecast_is_deterministic() -> None:
    """Two samples of a config give the same profile; a forecast from a new sample, from
    the disk cache and from this process's cache are the same."""
    config = make_config(max_objects=2)
    a, b = _measure_profile(config, 20_000), _measure_profile(config, 20_000)
    assert a.sample_images == b.sample_images == 20_000
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.sizes, b.sizes)
    assert a.duplicates(10**6) == b.duplicates(10**6) > 0
    _cache_path(RESAMPLED).unlink(missing_ok=True)
    _sample_profile.cache_clear()
    sampled = forecast_duplicates(RESAMPLED, 123_456)  # drawn now, then written to disk
    _sample_profile.cache_clear()
    from_disk = forecast_duplicates(RESAMPLED, 123_456)
    assert from_disk == sampled == forecast_duplicates(RESAMPLED, 123_456)
    assert sampled.sample_images == 200_000 and sampled.duplicates > 0


def test_independent_splits_share_the_same_total_between_within_and_across() -> None:
    """Same total either way; disjoint splits hold it all within, one split has nothing across."""
    disjoint = forecast_duplicates(ATOMIC, 10**6)
    independent = forecast_duplicates(ATOMIC, 10**6, "independent", (0.8, 0.1, 0.1))
    assert disjoint.cross_split == 0 and disjoint.within_split == disjoint.duplicates
    assert independent.duplicates == pytest.approx(disjoint.duplicates, abs=2)
    assert 0 < independent.cross_split < independent.within_split
    one_split = forecast_duplicates(ATOMIC, 10**6, "independent", (1.0, 0.0, 0.0))
    assert one_split.cross_split == 0


def _counted(hashes: np.ndarray, splits: np.ndarray) -> tuple[int, int]:
    """Repeats within each split (summed) and across splits, as a version's metadata counts them."""
    within = sum(int((splits == s).sum()) - len(np.unique(hashes[splits == s])) for s in range(3))
    return within, len(hashes) - len(np.unique(hashes)) - within


def test_independent_within_and_cross_forecasts_match_real_counts(
    real_hashes: np.ndarray,
) -> None:
    """600,000 images in independent splits (0.8, 0.1, 0.1), counted with numpy.

    Independent splits are iid streams: any assignment of the stream's images to splits
    that ignores their content is one, so a fixed random assignment stands for the
    writer's. Sampling error of the real counts: 20 assignments of this stream vary by
    sd 62 (both counts), three seeds' totals by about 120, so about 0.45% of ``within``
    (24,000) and 0.75% of ``cross`` (9,300). The tolerances are 4 sd plus 2% for the
    forecast's own extrapolation (0.95-1.02 of real counts at 1M, docs/internals.md).
    Forecasting the val and test streams' repeats as across splits misses by 4% and 10%.
    """
    n = len(real_hashes)
    splits = np.random.default_rng(1).permutation(
        np.repeat([0, 1, 2], [n * 8 // 10, n // 10, n // 10])
    )
    within, cross = _counted(real_hashes, splits)
    forecast = forecast_duplicates(ATOMIC, n, "independent", (0.8, 0.1, 0.1))
    assert forecast.within_split == pytest.approx(within, rel=0.04), (forecast, within)
    assert forecast.cross_split == pytest.approx(cross, rel=0.05), (forecast, cross)


def test_a_small_distribution_is_forecast_exactly() -> None:
    """36 possible images: a million draws hold all 36, so N - 36 repeats; 100 distinct are out of reach."""
    big = forecast_duplicates(TINY, 10**6)
    assert big.duplicates == pytest.approx(10**6 - 36, abs=1)
    assert forecast_duplicates(TINY, 100).draws_for_unique is None
    assert forecast_duplicates(TINY, 100).extra_draws is None
    few = forecast_duplicates(TINY, 30)
    # Drawing 36 equally likely images until 30 are distinct: sum of 36 / (36 - i), i < 30.
    assert few.draws_for_unique == pytest.approx(sum(36 / (36 - i) for i in range(30)), rel=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_images": 0}, "num_images must be an integer in [1, 1e+12], got 0"),
        (
            {"num_images": 10, "split_mode": "mixed"},
            "split_mode must be 'disjoint' or 'independent', got 'mixed'",
        ),
        (
            {"num_images": 10, "fractions": (0.5, 0.1, 0.1)},
            "splits must be >= 0 and sum to 1, got '0.5,0.1,0.1' (sum 0.7)",
        ),
    ],
    ids=["no-images", "split-mode", "fractions"],
)
def test_bad_input_is_a_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        forecast_duplicates(ATOMIC, **kwargs)


# A config no other test forecasts, so that its cache file is this test's alone.
CACHED = make_config(max_objects=1, max_tries=7)


def test_a_damaged_cache_is_resampled_and_rewritten() -> None:
    """Garbage in the cache file: the forecast samples again, gives the same answer, repairs the file."""
    path = _cache_path(CACHED)
    _sample_profile.cache_clear()
    expected = forecast_duplicates(CACHED, 10**6)
    assert _read_profile(path) is not None
    path.write_bytes(b"not a profile")
    _sample_profile.cache_clear()
    assert forecast_duplicates(CACHED, 10**6) == expected
    repaired = _read_profile(path)
    assert repaired is not None and repaired.duplicates(10**6) == pytest.approx(expected.duplicates)


def _bad_profiles(tmp_path: Path) -> list[Path]:
    good: dict[str, Any] = {
        "sample_images": 10,
        "counts": np.array([2, 3]),
        "sizes": np.array([9, 72]),
    }
    cases: dict[str, dict[str, Any] | None] = {
        "empty": None,
        "missing-key": {k: v for k, v in good.items() if k != "sizes"},
        "count-of-one": {**good, "counts": np.array([1, 3])},
        "more-than-sampled": {**good, "sample_images": 4},
        "float-sizes": {**good, "sizes": np.array([9.0, 72.0])},
    }
    paths = []
    for name, arrays in cases.items():
        path = tmp_path / f"{name}.npz"
        if arrays is None:
            path.write_bytes(b"")
        else:
            np.savez(path, **arrays)
        paths.append(path)
    return paths


def test_only_valid_cache_files_are_read(tmp_path: Path) -> None:
    assert _read_profile(tmp_path / "absent.npz") is None
    for path in _bad_profiles(tmp_path):
        assert _read_profile(path) is None, path.name
    good = _Profile(10, np.array([2, 3]), np.array([9, 72]))
    _write_profile(tmp_path / "good.npz", good)
    read = _read_profile(tmp_path / "good.npz")
    assert read is not None and read.duplicates(100) == good.duplicates(100) > 0


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    """A cache directory that cannot be made (a file is in the way): no error, no file."""
    (tmp_path / "blocked").write_bytes(b"")
    target = tmp_path / "blocked" / "forecast" / "x.npz"
    _write_profile(target, _Profile(10, np.array([2]), np.array([9])))
    assert not target.exists()
