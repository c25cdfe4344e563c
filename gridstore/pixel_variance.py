"""How much a version's pixel histogram varies from sample to sample, from its object statistics.

Pixels are not independent draws: every cell of an object has the object's
colour. Treating them as independent would understate the variance of a pixel
share about tenfold (the mean object size; measured: a plain chi-square over
pixel counts averaged 88 against its 9 degrees of freedom, over 150 pairs of
20,000-image versions with the same parameters). The recorded statistics hold
enough to model the clustering. Objects per image, object colours and object
sizes give the per-image covariance of the colour counts exactly, up to one
moment, Var(F) below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["OBJECT_STATISTICS", "pixel_share_difference_cov"]

OBJECT_STATISTICS = ("objects_per_image", "object_colours", "object_sizes")


def pixel_share_difference_cov(
    samples: Sequence[Mapping[str, Any]], colours: list[str]
) -> np.ndarray | None:
    """Return the covariance of the difference of two samples' pixel shares, under one distribution.

    An image's colour counts X are sums over its objects of size s_j in colour c_j.
    Colours are drawn independently of everything else, so with q the object
    colour shares, S2 = E[sum_j s_j^2] and F = sum_j s_j the foreground cells:
    Cov(X_c, X_d) = S2 (q_c [c = d] - q_c q_d) + q_c q_d Var(F), and the
    background (colour 0) is cells - F. Var(F) is taken as for independent
    objects, E[K] Var(s) + Var(K) E[s]^2. Measured on 200,000 images each of
    atomic, shapes, a 6x6 grid and a crowded 8x8 grid with up to 12 objects,
    the true Var(F) was 0.84 to 1.0 of that: placement crowds out large
    objects, so a test built on this errs on the side of no flag. The moments
    pool both samples (the null hypothesis), as Pearson's expected counts do.

    Parameters
    ----------
    samples : two mappings
        Each with ``images``, ``cells`` (per image) and the histograms named in
        `OBJECT_STATISTICS` (category name -> count), as a version's metadata
        records them.
    colours : list of str
        The pixel values ("0".."9") to cover, in order.

    Returns
    -------
    ndarray, shape (len(colours), len(colours)), or None
        None when a sample records no object statistics.

    Examples
    --------
    One object of 2 cells per 2x2 image, colour 1 or 2: only the two colours'
    shares move, against each other (the background share is fixed).

    >>> st = {"images": 50, "cells": 4, "objects_per_image": {"1": 50},
    ...       "object_colours": {"1": 25, "2": 25}, "object_sizes": {"2": 50}}
    >>> (400 * pixel_share_difference_cov([st, st], ["0", "1", "2"])).round(6)[1:, 1:].tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    if any(k not in st for st in samples for k in OBJECT_STATISTICS):
        return None
    pool = {k: _add([st[k] for st in samples]) for k in OBJECT_STATISTICS}
    n = sum(int(st["images"]) for st in samples)
    sizes = np.array([[int(k), v] for k, v in pool["object_sizes"].items()], float).reshape(-1, 2)
    per_image = np.array([[int(k), v] for k, v in pool["objects_per_image"].items()], float)
    objects = float(sizes[:, 1].sum())
    if not objects or not n:
        return np.zeros((len(colours), len(colours)))
    q = np.array([pool["object_colours"].get(k, 0) / objects for k in colours])
    mean_s = float(sizes[:, 1] @ sizes[:, 0]) / objects
    var_s = float(sizes[:, 1] @ sizes[:, 0] ** 2) / objects - mean_s**2
    mean_k = float(per_image[:, 1] @ per_image[:, 0]) / n
    var_k = float(per_image[:, 1] @ per_image[:, 0] ** 2) / n - mean_k**2
    var_f = mean_k * var_s + var_k * mean_s**2
    sq_sizes = float(sizes[:, 1] @ sizes[:, 0] ** 2) / n
    cov = sq_sizes * (np.diag(q) - np.outer(q, q)) + var_f * np.outer(q, q)
    for i in (i for i, k in enumerate(colours) if int(k) == 0):  # background: cells - F
        cov[i, :] = cov[:, i] = -q * var_f
        cov[i, i] = var_f
    scale = sum(1 / (int(st["cells"]) ** 2 * int(st["images"])) for st in samples)
    return cov * scale


def _add(histograms: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for h in histograms:
        for k, v in h.items():
            total[k] = total.get(k, 0) + int(v)
    return total
