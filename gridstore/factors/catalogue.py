"""Every shape the generator can draw, with its probability, and which factors can exist.

Built once per config from the generator's own tables (`build_tables`), in
plain numpy: the render kernel samples shapes from it given fixed factors, and
the feasibility table says which (type, subtype, size, row, col) a shape can
take, so impossible factors fail before any drawing.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from gridstore.config import GeneratorConfig
from gridstore.generate.shapes import build_tables
from gridstore.generate.vocab import OBJECT_TYPES, PATTERN_FAMILIES

__all__ = ["Catalogue", "build_catalogue"]

BLOB, RECTANGLE, LINE, PATTERN = 1, 2, 3, 4
NUM_SUBTYPES = len(PATTERN_FAMILIES)  # the most subtypes a type has


class Catalogue(NamedTuple):
    """The generator's rectangles, lines and patterns, one row per distinct draw.

    ``prob`` is the probability that the generator, having drawn the type,
    draws this shape (before placement); it sums to 1 within each type.
    """

    type: np.ndarray  # (S,) int64 type code 2..4
    sub: np.ndarray  # subtype code
    size: np.ndarray  # cells
    h: np.ndarray  # bounding-box height
    w: np.ndarray  # bounding-box width
    prob: np.ndarray  # float64, within its type
    start: np.ndarray  # first cell in cell_r / cell_c
    cell_r: np.ndarray  # cell rows, relative to the box's corner
    cell_c: np.ndarray
    cum: np.ndarray  # cumulative prob within the row's type, last of each type == 1
    type_start: np.ndarray  # (6,) rows of type t are type_start[t]:type_start[t + 1]
    # rows of (type t, subtype u) with sizes lo..hi-1 are group[t, u, lo]:group[t, u, hi]
    group: np.ndarray  # (5, NUM_SUBTYPES, max_size + 2)
    type_w: np.ndarray  # (5,) float64 type weights by code (0: none)
    # feasible[t, sub, size, row, col]: some shape of type t (codes 0..4) and
    # subtype sub with size cells has its corner at (row, col) inside the grid.
    # Each axis has one more entry, "any" (index -1): the OR over the axis.
    feasible: np.ndarray


def _shapes(c: GeneratorConfig) -> list[tuple[int, int, list[tuple[int, int]], float]]:
    """(type, subtype, cells, probability within the type) of every draw."""
    tb = build_tables(c)
    weight = dict(zip(OBJECT_TYPES, c.type_weights, strict=True))
    span = c.max_size - c.min_size + 1
    out: list[tuple[int, int, list[tuple[int, int]], float]] = []
    if weight["rectangle"] > 0:  # area uniform, then a candidate by its weight
        rect: dict[tuple[int, int], float] = defaultdict(float)
        for a in range(span):
            s, n = int(tb.rect_start[a]), int(tb.rect_count[a])
            cum = np.concatenate([[0.0], tb.rect_cum[s : s + n]])
            for k in range(n):
                rect[int(tb.rect_h[s + k]), int(tb.rect_w[s + k])] += (cum[k + 1] - cum[k]) / span
        for (h, w), p in sorted(rect.items()):
            out.append((RECTANGLE, 0, [(r, q) for r in range(h) for q in range(w)], p))
    if weight["line"] > 0:  # length uniform, orientation by its weight
        line_p = np.diff(np.concatenate([[0.0], tb.line_cum]))
        for o in range(4):
            for n in range(c.min_size, c.max_size + 1):
                cells = [((0, i), (i, 0), (i, i), (i, n - 1 - i))[o] for i in range(n)]
                out.append((LINE, o, cells, float(line_p[o]) / span))
    if weight["pattern"] > 0:  # family by its weight, then a variant uniformly
        fam_p = np.diff(np.concatenate([[0.0], tb.family_cum]))
        for f in range(len(PATTERN_FAMILIES)):
            count = int(tb.family_count[f])
            for v in range(int(tb.family_start[f]), int(tb.family_start[f]) + count):
                s, n = int(tb.var_start[v]), int(tb.var_size[v])
                cells = list(
                    zip(tb.cell_r[s : s + n].tolist(), tb.cell_c[s : s + n].tolist(), strict=True)
                )
                out.append((PATTERN, f, cells, float(fam_p[f]) / count))
    return [x for x in out if x[3] > 0]


def _with_any(table: np.ndarray) -> np.ndarray:
    """Append to every axis an entry that is the OR over that axis (indexed by -1)."""
    for axis in range(table.ndim):
        table = np.concatenate([table, table.any(axis=axis, keepdims=True)], axis=axis)
    return table


@lru_cache(maxsize=16)
def build_catalogue(c: GeneratorConfig) -> Catalogue:
    """Enumerate the shapes ``c`` allows and the factor combinations they reach.

    Parameters
    ----------
    c : GeneratorConfig
        The distribution.

    Returns
    -------
    Catalogue
    """
    g = c.grid_size
    shapes = sorted(_shapes(c), key=lambda x: (x[0], x[1], len(x[2])))  # stable
    i64 = np.int64
    sizes = np.array([len(s[2]) for s in shapes], i64)
    hs = np.array([max(r for r, _ in s[2]) + 1 for s in shapes], i64)
    ws = np.array([max(q for _, q in s[2]) + 1 for s in shapes], i64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(i64)
    cells = [x for s in shapes for x in s[2]]
    type_w = np.concatenate([[0.0], np.asarray(c.type_weights, np.float64)])
    feasible = np.zeros((5, NUM_SUBTYPES, c.max_size + 1, g, g), bool)
    rows = np.arange(g)
    for t, sub, n, h, w in zip(
        (s[0] for s in shapes), (s[1] for s in shapes), sizes, hs, ws, strict=True
    ):
        feasible[t, sub, n, : g - h + 1, : g - w + 1] = True
    if type_w[BLOB] > 0:  # a blob of n cells fits where the quadrant below-right holds n
        quadrant = (g - rows)[:, None] * (g - rows)[None, :]
        for n in range(c.min_size, c.max_size + 1):
            feasible[BLOB, 0, n] = quadrant >= n
    types = np.array([s[0] for s in shapes], i64)
    probs = np.array([s[3] for s in shapes], np.float64)
    type_start = np.searchsorted(types, np.arange(6)).astype(i64)
    span = c.max_size + 2
    keys = (types * NUM_SUBTYPES + [s[1] for s in shapes]) * span + sizes
    every = np.arange(5 * NUM_SUBTYPES * span).reshape(5, NUM_SUBTYPES, span)
    group = np.searchsorted(keys, every).astype(i64)
    cum = np.zeros(len(shapes), np.float64)
    for t in range(5):
        a, b = type_start[t], type_start[t + 1]
        if b > a:
            cum[a:b] = np.cumsum(probs[a:b]) / probs[a:b].sum()
            cum[b - 1] = 1.0  # every u in [0, 1) finds a row
    return Catalogue(
        type=types,
        sub=np.array([s[1] for s in shapes], i64),
        size=sizes,
        h=hs,
        w=ws,
        prob=probs,
        start=starts,
        cell_r=np.array([r for r, _ in cells] or [0], i64),
        cell_c=np.array([q for _, q in cells] or [0], i64),
        cum=cum,
        type_start=type_start,
        group=group,
        type_w=type_w,
        feasible=_with_any(feasible),
    )
