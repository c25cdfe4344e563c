"""Significance tests with numpy and :mod:`math` only: chi-square tail, homogeneity, Wald, z.

`gridstore.diff` uses them to say which differences between two versions a
sample of that size makes significant; gridstore has no scipy dependency.
"""

from __future__ import annotations

import math

import numpy as np

from gridstore.errors import ConfigError

__all__ = [
    "MIN_EXPECTED",
    "chi2_sf",
    "cramers_v",
    "normal_sf2",
    "pearson_homogeneity",
    "pool_small",
    "wald_chi2",
]

# Cochran's rule of thumb: trust a chi-square when no expected count is below 5.
MIN_EXPECTED = 5.0


def chi2_sf(x: float, df: float) -> float:
    """Return P(X > x) for X chi-square distributed with ``df`` degrees of freedom.

    The regularized upper incomplete gamma Q(df/2, x/2): its series below
    x/2 = df/2 + 1 and its continued fraction above (Numerical Recipes, 6.2).

    Parameters
    ----------
    x : float
        The statistic; x <= 0 (or NaN) gives 1.
    df : float
        Degrees of freedom, > 0.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        ``df`` is not positive.

    Examples
    --------
    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    """
    if not df > 0:
        msg = f"df must be > 0, got {df}"
        raise ConfigError(msg)
    if not x > 0:
        return 1.0
    a, y = df / 2, x / 2
    prefix = math.exp(-y + a * math.log(y) - math.lgamma(a))
    eps, tiny = 1e-15, 1e-300
    if y < a + 1:  # series for the lower part P; Q = 1 - P is not small here
        term = total = 1 / a
        for i in range(1, 100_000):
            term *= y / (a + i)
            total += term
            if abs(term) < total * eps:
                break
        return max(0.0, 1 - total * prefix)
    b = y + 1 - a  # continued fraction for Q (modified Lentz)
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < eps:
            break
    return prefix * h


def normal_sf2(z: float) -> float:
    """Return the two-sided p-value of a standard normal ``z``.

    Examples
    --------
    >>> round(normal_sf2(1.959963984540054), 6)
    0.05
    """
    return math.erfc(abs(z) / math.sqrt(2))


def pool_small(table: np.ndarray, keys: list[str]) -> tuple[np.ndarray, list[str]]:
    """Merge the columns of a 2 x k table whose expected count is below `MIN_EXPECTED`.

    They go into one last column; while that one is still below the limit, the
    smallest other columns join it.

    Parameters
    ----------
    table : ndarray, shape (2, k)
        Counts; no column empty in both rows.
    keys : list of str
        The column names.

    Returns
    -------
    table : ndarray
        The pooled table (the same object when nothing was pooled).
    pooled : list of str
        The names of the merged columns, in their original order.

    Examples
    --------
    >>> table, pooled = pool_small(np.array([[50, 40, 3, 4], [48, 42, 2, 3]]), list("abcd"))
    >>> table.tolist(), pooled
    ([[50, 40, 7], [48, 42, 5]], ['c', 'd'])
    """
    rows, n = table.sum(1), table.sum()

    def min_expected(column: np.ndarray) -> float:
        return float(rows.min() * column.sum() / n)

    small = [i for i in range(len(keys)) if min_expected(table[:, i]) < MIN_EXPECTED]
    if not small:
        return table, []
    others = [int(i) for i in np.argsort(table.sum(0), kind="stable") if i not in small]
    while others and min_expected(table[:, small].sum(1)) < MIN_EXPECTED:
        small.append(others.pop(0))
    keep = [i for i in range(len(keys)) if i not in small]
    merged = table[:, small].sum(1, keepdims=True)
    return np.hstack([table[:, keep], merged]), [keys[i] for i in sorted(small)]


def pearson_homogeneity(table: np.ndarray) -> tuple[float, int, float]:
    """Return Pearson's chi-square, its degrees of freedom and p-value for a 2 x k table.

    Examples
    --------
    >>> stat, df, p = pearson_homogeneity(np.array([[10, 20], [20, 10]]))
    >>> round(stat, 3), df, round(p, 4)
    (6.667, 1, 0.0098)
    """
    expected = np.outer(table.sum(1), table.sum(0)) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    df = table.shape[1] - 1
    return stat, df, chi2_sf(stat, df)


def cramers_v(table: np.ndarray) -> float:
    """Return Cramér's V of a 2 x k table of counts: 0 (same shares) to 1 (disjoint).

    Examples
    --------
    >>> cramers_v(np.array([[10, 0], [0, 5]]))
    1.0
    """
    n_a, n_b = table.sum(1)
    share_a, share_b, pooled = table[0] / n_a, table[1] / n_b, table.sum(0) / (n_a + n_b)
    return math.sqrt(
        n_a * n_b / (n_a + n_b) ** 2 * float(((share_b - share_a) ** 2 / pooled).sum())
    )


def wald_chi2(difference: np.ndarray, cov: np.ndarray) -> tuple[float, int, float] | None:
    """Return the Wald statistic d' C^+ d, its degrees of freedom (the rank of C) and p-value.

    Directions without variance (shares that sum to 1 have one) are left out;
    None when ``cov`` has no variance at all.

    Examples
    --------
    >>> stat, df, p = wald_chi2(np.array([2.0, 0.0]), np.eye(2))
    >>> stat, df, round(p, 4)
    (4.0, 2, 0.1353)
    """
    lam, vec = np.linalg.eigh(cov)
    keep = lam > max(float(lam.max()), 0.0) * 1e-10
    if not keep.any():
        return None
    stat = float(((vec[:, keep].T @ difference) ** 2 / lam[keep]).sum())
    df = int(keep.sum())
    return stat, df, chi2_sf(stat, df)
