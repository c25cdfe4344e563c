"""Compare two versions: the parameters that differ, and the statistics a sample that size tells apart.

Everything comes from the two versions' metadata, so a diff reads no chunk and
takes milliseconds at any size. Each recorded histogram is tested for
homogeneity (are both versions drawn from one distribution?) with a chi-square
test, the pixel mean and spread and the duplicate share with z-tests; numpy and
:mod:`math` only (no scipy).

The unit of each test is what is drawn independently. Images are independent,
and so are the objects of an image: measured on 200,000 images of four configs
(atomic, shapes, a crowded 8x8 grid with up to 12 objects, a 6x6 grid), the
generalised design effects of the per-object histograms were 0.97 to 1.05.
Pixels are not: all cells of an object share its colour, so the pixel
histogram gets a Wald test with the covariance of `gridstore.pixel_variance`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from gridstore.errors import ConfigError
from gridstore.holdout.spec import ALL_SPLITS, HELDOUT
from gridstore.pixel_variance import pixel_share_difference_cov
from gridstore.significance import (
    cramers_v,
    normal_sf2,
    pearson_homogeneity,
    pool_small,
    wald_chi2,
)

__all__ = [
    "HISTOGRAMS",
    "ParameterChange",
    "StatisticComparison",
    "VersionDiff",
    "diff_versions",
]

# The recorded histograms of independent draws (Pearson's chi-square), and what one draw is.
HISTOGRAMS = {
    "objects_per_image": "image",
    "object_types": "object",
    "object_colours": "object",
    "object_sizes": "object",
    "line_orientations": "line",
    "pattern_families": "pattern",
}
# Repeats are over-dispersed against a binomial count: an image drawn Poisson(l) times
# adds max(0, N - 1) repeats, whose variance is up to 1.39 times its mean (at l = 1.7).
# Measured z variances of same-parameter pairs without it: 1.11 (atomic, 150 pairs),
# 1.15 (shapes, 40), 1.44 (8x8 grid with up to 12 objects, 40).
DUPLICATE_DISPERSION = 1.39
PIXEL_TESTS = ("colour_histogram", "pixel_mean", "pixel_std")


@dataclass(frozen=True)
class ParameterChange:
    """One generation parameter (a dotted path) whose value differs; None: not recorded."""

    name: str
    a: Any
    b: Any


@dataclass(frozen=True)
class StatisticComparison:
    """One recorded statistic of both versions and the test of their difference.

    For a histogram, ``categories`` holds both versions' counts, ``difference``
    is the largest change of a category's share (B - A, in
    ``largest_category``) and ``effect`` is Cramér's V. For a scalar
    (``value_a``, ``value_b``), ``difference`` is B - A and ``effect`` the
    relative change (B - A) / A. ``test`` is "none" when there was nothing to
    test (``note`` says why); then ``p_value`` is None.
    """

    name: str
    unit: str  # what one observation is: image, object, line, pattern, pixel
    test: str
    n_a: int
    n_b: int
    value_a: float | None = None
    value_b: float | None = None
    difference: float | None = None
    effect: float | None = None
    largest_category: str | None = None
    statistic: float | None = None
    df: int | None = None
    p_value: float | None = None
    significant: bool = False
    categories: list[dict[str, Any]] = field(default_factory=list)
    pooled: list[str] = field(default_factory=list)  # categories merged for small counts
    note: str = ""


@dataclass(frozen=True)
class VersionDiff:
    """What `diff_versions` found (``gridstore diff --json`` prints `to_dict`)."""

    store: str
    version_a: str
    version_b: str
    split: str | None  # None: all splits together
    alpha: float
    parameters: list[ParameterChange]  # only those that differ
    split_counts: dict[str, tuple[int, int]]  # train, val, test, total: (A, B)
    statistics: list[StatisticComparison]
    identical: bool  # same parameters, counts, statistics and duplicates
    notes: list[str]

    @property
    def changed(self) -> list[str]:
        """Name what changed: the differing parameters, then the significant statistics."""
        params = [p.name for p in self.parameters]
        return params + [s.name for s in self.statistics if s.significant]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        out["split_counts"] = {k: list(v) for k, v in self.split_counts.items()}
        return {**out, "changed": self.changed}


def diff_versions(
    store: Any, version_a: str, version_b: str, *, split: str | None = None, alpha: float = 0.001
) -> VersionDiff:
    """Compare two versions' parameters, split counts and recorded statistics.

    Parameters
    ----------
    store : path, URL or StoreBackend
        The store holding both versions.
    version_a, version_b : str
        Version names (``YYYY-MM-DD-vN``); A is the reference, differences are B - A.
    split : {"train", "val", "test", "heldout"}, optional
        Compare this split's statistics; default all splits added up.
    alpha : float
        Significance level of each test, in (0, 1).

    Returns
    -------
    VersionDiff

    Raises
    ------
    VersionNotFoundError, VersionIncompleteError
        A version does not exist or is unfinished.
    ConfigError
        ``split`` or ``alpha`` is out of range.

    Examples
    --------
    >>> import gridstore, tempfile
    >>> with tempfile.TemporaryDirectory() as store:
    ...     plan = gridstore.Plan(num_images=200)
    ...     v = gridstore.create_version(store, plan, engine="serial", show_progress=False)
    ...     d = diff_versions(store, v["version"], v["version"])
    >>> d.identical, d.changed
    (True, [])
    """
    from gridstore.storage import open_backend
    from gridstore.storage.registry import resolve

    if split is not None and split not in ALL_SPLITS:
        msg = f"split must be one of {', '.join(ALL_SPLITS)}, got {split!r}"
        raise ConfigError(msg)
    if not 0 < alpha < 1:
        msg = f"alpha must be between 0 and 1 (exclusive), got {alpha}"
        raise ConfigError(msg)
    backend = store if hasattr(store, "metadata") else open_backend(store)
    version_a, version_b = resolve(backend, version_a), resolve(backend, version_b)  # tags too
    meta_a = backend.metadata(version_a)
    meta_b = meta_a if version_b == version_a else backend.metadata(version_b)
    params = _parameter_changes(meta_a, meta_b)
    info_a, info_b = meta_a["dataset_info"], meta_b["dataset_info"]
    held = any(f"{HELDOUT}_count" in i for i in (info_a, info_b))  # a hold-out version's too
    counts = {
        s: (int(info_a.get(f"{s}_count", 0)), int(info_b.get(f"{s}_count", 0)))
        for s in (*ALL_SPLITS[: 3 + held], "total")
    }
    st_a, st_b = _scope(meta_a, split), _scope(meta_b, split)
    stats = [_histogram(name, unit, st_a, st_b, alpha) for name, unit in HISTOGRAMS.items()]
    stats += [*_pixels(st_a, st_b, alpha), _duplicates(st_a, st_b, alpha)]
    identical = not params and all(
        meta_a.get(k) == meta_b.get(k) for k in ("dataset_info", "statistics", "duplicates")
    )
    tested = sum(s.p_value is not None for s in stats)
    notes = [
        f"{tested} tests at alpha {alpha:g} each: two versions drawn with the same generator "
        f"parameters show a false flag in about {min(1.0, tested * alpha):.1%} of comparisons"
    ][: 1 if tested else 0]
    if st_a["images"] != st_b["images"]:
        notes.append(
            f"the samples differ in size ({st_a['images']:,} vs {st_b['images']:,} images): the "
            "duplicate share grows with the number of images, so duplicates may differ for that alone"
        )
    return VersionDiff(
        store=str(getattr(backend, "path", store)),
        version_a=version_a,
        version_b=version_b,
        split=split,
        alpha=alpha,
        parameters=params,
        split_counts=counts,
        statistics=stats,
        identical=identical,
        notes=notes,
    )


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _parameter_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ParameterChange]:
    """Every differing leaf of generation_params, and of the code that made the bytes.

    A parameter that an older version does not record counts as its default, as
    `Plan.from_dict` reads it (``unique`` is False in versions made before it existed).
    """
    from gridstore.plan import Plan

    defaults = _flatten(Plan().to_dict())

    def leaves(meta: Mapping[str, Any]) -> dict[str, Any]:
        code = {"gridstore_version": meta.get("gridstore_version")}
        code["rng.scheme"] = (meta.get("rng") or {}).get("scheme")
        return {**_flatten(meta.get("generation_params") or {}), **code}

    la, lb = leaves(a), leaves(b)
    names = [*la, *(k for k in lb if k not in la)]
    va = {k: la[k] if k in la else defaults.get(k) for k in names}
    vb = {k: lb[k] if k in lb else defaults.get(k) for k in names}
    return [ParameterChange(k, va[k], vb[k]) for k in names if va[k] != vb[k]]


def _scope(meta: Mapping[str, Any], split: str | None) -> dict[str, Any]:
    """One split's statistics, or all splits' added up: histograms, images, duplicates, cells."""
    per_split = meta.get("statistics") or {}
    parts = [per_split.get(split, {"images": 0})] if split else list(per_split.values())
    out: dict[str, Any] = {"images": sum(int(p.get("images", 0)) for p in parts)}
    for name in (*HISTOGRAMS, "colour_histogram"):
        if parts and all(name in p for p in parts):
            total: dict[str, int] = {}
            for p in parts:
                for k, v in p[name].items():
                    total[str(k)] = total.get(str(k), 0) + int(v)
            out[name] = total
    dup = meta.get("duplicates") or {}
    keys = [f"{split}_within"] if split else [*(f"{s}_within" for s in per_split), "cross_split"]
    if dup and all(k in dup for k in keys):  # whole version: images repeating an earlier one
        out["duplicates"] = sum(int(dup[k]) for k in keys)
    out["cells"] = int((meta.get("generation_params") or {}).get("grid_size", 16)) ** 2
    return out


def _table(
    name: str, st_a: Mapping[str, Any], st_b: Mapping[str, Any]
) -> tuple[list[str], np.ndarray]:
    """The 2 x k table of counts of ``name``, without categories empty in both versions."""
    a, b = st_a[name], st_b[name]
    keys = [*a, *(k for k in b if k not in a)]
    if all(k.isdigit() for k in keys):
        keys.sort(key=int)
    keys = [k for k in keys if a.get(k, 0) + b.get(k, 0)]
    return keys, np.array([[a.get(k, 0) for k in keys], [b.get(k, 0) for k in keys]], float)


def _untested(name: str, unit: str, note: str, n_a: int = 0, n_b: int = 0) -> StatisticComparison:
    return StatisticComparison(name, unit, "none", n_a, n_b, note=note)


def _compared(
    name: str, unit: str, test: str, keys: list[str], table: np.ndarray
) -> StatisticComparison:
    """A histogram's counts, largest share change and Cramér's V, before any test."""
    n_a, n_b = (int(x) for x in table.sum(1))
    cats = [
        {"category": k, "a": int(x), "b": int(y)} for k, (x, y) in zip(keys, table.T, strict=True)
    ]
    change = table[1] / n_b - table[0] / n_a
    i = int(np.argmax(np.abs(change)))
    return StatisticComparison(
        name, unit, test, n_a, n_b, categories=cats, difference=float(change[i]),
        largest_category=keys[i], effect=cramers_v(table),
    )  # fmt: skip


def _histogram(
    name: str, unit: str, st_a: Mapping[str, Any], st_b: Mapping[str, Any], alpha: float
) -> StatisticComparison:
    """Pearson's chi-square test of homogeneity on the 2 x k table of a histogram."""
    if name not in st_a or name not in st_b:
        return _untested(name, unit, f"not recorded in version {'A' if name not in st_a else 'B'}")
    keys, table = _table(name, st_a, st_b)
    n_a, n_b = (int(x) for x in table.sum(1))
    if not n_a or not n_b:
        return _untested(name, unit, f"no {unit}s in one version", n_a, n_b)
    s = _compared(name, unit, "chi-square (Pearson, 2 x k)", keys, table)
    table, pooled = pool_small(table, keys)
    if table.shape[1] < 2:
        return replace(s, test="none", pooled=pooled, note="fewer than two categories to compare")
    stat, df, p = pearson_homogeneity(table)
    return replace(s, statistic=stat, df=df, p_value=p, significant=p < alpha, pooled=pooled)


def _pixels(
    st_a: Mapping[str, Any], st_b: Mapping[str, Any], alpha: float
) -> list[StatisticComparison]:
    """The pixel histogram (Wald chi-square), pixel mean and std (delta-method z-tests)."""
    name = "colour_histogram"
    if name not in st_a or name not in st_b:
        note = "pixel histogram not recorded in one version"
        return [_untested(t, "pixel", note) for t in PIXEL_TESTS]
    keys, table = _table(name, st_a, st_b)
    n_a, n_b = (int(x) for x in table.sum(1))
    if not n_a or not n_b:
        return [_untested(t, "pixel", "no pixels in one version", n_a, n_b) for t in PIXEL_TESTS]
    cov = pixel_share_difference_cov([st_a, st_b], keys)
    if cov is None:
        note = "object statistics not recorded in one version; the pixel tests need them"
        return [_untested(t, "pixel", note, n_a, n_b) for t in PIXEL_TESTS]
    hist = _compared(name, "pixel", "chi-square (Wald, pixels clustered by object)", keys, table)
    p_a, p_b, p_pool = table[0] / n_a, table[1] / n_b, table.sum(0) / (n_a + n_b)
    wald = wald_chi2(p_b - p_a, cov)
    if wald is not None:
        hist = replace(
            hist, statistic=wald[0], df=wald[1], p_value=wald[2], significant=wald[2] < alpha
        )
    value = np.array([float(k) for k in keys])
    mean_a, mean_b, mean_pool = (float(value @ p) for p in (p_a, p_b, p_pool))
    sd_a, sd_b, sd_pool = (
        math.sqrt(max(float(value**2 @ p) - m**2, 0.0))
        for p, m in ((p_a, mean_a), (p_b, mean_b), (p_pool, mean_pool))
    )
    # d std / d shares, at the pooled shares (the null hypothesis), as for the covariance
    grad_sd = (value**2 - 2 * mean_pool * value) / (2 * sd_pool) if sd_pool else 0 * value
    z = "z (delta method, pixels clustered by object)"
    mean = StatisticComparison("pixel_mean", "pixel", z, n_a, n_b)
    std = StatisticComparison("pixel_std", "pixel", z, n_a, n_b)
    var_mean, var_sd = float(value @ cov @ value), float(grad_sd @ cov @ grad_sd)
    return [
        hist,
        _z_test(mean, mean_a, mean_b, var_mean, alpha),
        _z_test(std, sd_a, sd_b, var_sd, alpha),
    ]


def _z_test(
    s: StatisticComparison, a: float, b: float, variance: float, alpha: float
) -> StatisticComparison:
    """Two-sided z-test of b - a given its variance (variance 0: p is 1, or 0 if b != a)."""
    d = b - a
    if variance > 0:
        z = d / math.sqrt(variance)
        p = normal_sf2(z)
    else:
        z, p = (0.0, 1.0) if d == 0 else (math.copysign(math.inf, d), 0.0)
    return replace(
        s, value_a=a, value_b=b, difference=d, effect=d / a if a else None, statistic=z,
        p_value=p, significant=p < alpha,
    )  # fmt: skip


def _duplicates(
    st_a: Mapping[str, Any], st_b: Mapping[str, Any], alpha: float
) -> StatisticComparison:
    """The share of images that repeat an earlier image: a two-proportion z-test (over-dispersed)."""
    n_a, n_b = st_a["images"], st_b["images"]
    if "duplicates" not in st_a or "duplicates" not in st_b:
        return _untested("duplicates", "image", "not recorded in one version", n_a, n_b)
    if not n_a or not n_b:
        return _untested("duplicates", "image", "no images in one version", n_a, n_b)
    d_a, d_b = st_a["duplicates"], st_b["duplicates"]
    cats = [{"category": "duplicates", "a": d_a, "b": d_b}]
    s = StatisticComparison("duplicates", "image", "z (two proportions)", n_a, n_b, categories=cats)
    pooled = (d_a + d_b) / (n_a + n_b)
    variance = DUPLICATE_DISPERSION * pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    return _z_test(s, d_a / n_a, d_b / n_b, variance, alpha)
