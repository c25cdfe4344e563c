"""Checks of rendered images written apart from the renderer: factors recomputed from pixels."""

from __future__ import annotations

import math

import numpy as np

from gridstore.generate.vocab import Annotations


def factors_from_pixels(images: np.ndarray, ann: Annotations) -> dict[str, np.ndarray]:
    """Each object's colour, size, row and column read off the image and the instance map.

    Object k is the cells labelled k + 1; its colour must be one value in the image;
    type and subtype are taken from the annotations (`assert_spec_invariants` checks
    the cells have a shape of that type and subtype).
    """
    n, g, _ = images.shape
    k = ann.object_type.shape[1]
    out = {name: np.zeros((n, k), np.int64) for name in ("colour", "size", "row", "col")}
    labels = ann.instance_map.reshape(n, g * g).astype(np.int64)
    pixels = images.reshape(n, g * g).astype(np.int64)
    rows = np.repeat(np.arange(g), g)
    cols = np.tile(np.arange(g), g)
    for j in range(k):
        mine = labels == j + 1
        out["size"][:, j] = mine.sum(1)
        big = g * g
        out["row"][:, j] = np.where(mine, rows, big).min(1) % big
        out["col"][:, j] = np.where(mine, cols, big).min(1) % big
        lo = np.where(mine, pixels, 99).min(1)
        hi = np.where(mine, pixels, -1).max(1)
        has = mine.any(1)
        assert (lo[has] == hi[has]).all(), "an object of two colours"
        out["colour"][:, j] = np.where(has, lo, 0)
    assert ((labels > 0) == (pixels > 0)).all(), "a coloured cell outside every object"
    return out


def two_sample_chi2(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Chi-square of two equal-size samples' histograms and a bound of df + 6 sd.

    Under the hypothesis of one distribution the statistic has mean df and sd
    sqrt(2 df); bins with fewer than 10 counts in all are merged.
    """
    values = np.union1d(np.unique(a), np.unique(b))
    ca = np.array([(a == v).sum() for v in values], np.float64)
    cb = np.array([(b == v).sum() for v in values], np.float64)
    small = ca + cb < 10
    if small.any():
        ca = np.append(ca[~small], ca[small].sum())
        cb = np.append(cb[~small], cb[small].sum())
    keep = ca + cb > 0
    ca, cb = ca[keep], cb[keep]
    stat = float(((ca - cb) ** 2 / (ca + cb)).sum())
    df = max(len(ca) - 1, 1)
    return stat, df + 6 * math.sqrt(2 * df)
