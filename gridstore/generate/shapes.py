"""Shape tables built once per config: rectangles and pattern templates.

The kernel samples from flat numpy arrays, so everything that depends only on
the parameters (which rectangles fit each target area, every pattern variant
with its 8 rotations/reflections) is enumerated here, in plain Python.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import lru_cache
from typing import NamedTuple, Protocol

import numpy as np

from gridstore.errors import ConfigError
from gridstore.generate.vocab import OBJECT_TYPES, PATTERN_FAMILIES

__all__ = ["ShapeParams", "ShapeTables", "build_tables", "pattern_cells"]

RECT_FAVOURED_WEIGHT = 3.0  # rectangles with aspect ratio below 3:1 are this much likelier
RECT_MAX_ASPECT = 3.0

Cells = list[tuple[int, int]]


class ShapeParams(Hashable, Protocol):
    """What the tables depend on: the fields of a `gridstore.config.GeneratorConfig`."""

    @property
    def grid_size(self) -> int: ...
    @property
    def min_size(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def type_weights(self) -> tuple[float, ...]: ...
    @property
    def line_weights(self) -> tuple[float, ...]: ...
    @property
    def pattern_weights(self) -> tuple[float, ...]: ...


class ShapeTables(NamedTuple):
    """Flat arrays the kernel samples from (a NamedTuple, so numba takes it whole)."""

    type_cum: np.ndarray  # (4,) cumulative object-type weights, last == 1
    line_cum: np.ndarray  # (4,) cumulative line-orientation weights
    rect_start: np.ndarray  # (max_size - min_size + 1,) first candidate of each target area
    rect_count: np.ndarray  # number of candidates of each target area
    rect_h: np.ndarray  # candidate heights
    rect_w: np.ndarray  # candidate widths
    rect_cum: np.ndarray  # cumulative weight within the area's candidates, last == 1
    family_cum: np.ndarray  # (5,) cumulative pattern-family weights over families that fit
    family_start: np.ndarray  # (5,) first variant of each family
    family_count: np.ndarray  # (5,) variants of each family (params x 8 transforms)
    var_h: np.ndarray  # variant bounding-box heights
    var_w: np.ndarray
    var_start: np.ndarray  # first cell of each variant in cell_r / cell_c
    var_size: np.ndarray  # cells in each variant
    cell_r: np.ndarray  # variant cells, rows
    cell_c: np.ndarray  # variant cells, columns


def pattern_cells(family: str, grid_size: int) -> list[Cells]:
    """Return every base template of a pattern family that fits the grid.

    Parameters
    ----------
    family : str
        One of ``checkerboard``, ``L``, ``T``, ``plus``, ``zigzag``.
    grid_size : int
        Side of the grid; templates whose bounding box does not fit are left out.

    Returns
    -------
    list of list of (row, col)
        One cell list per parameter choice, in the template's base orientation.
    """
    g = grid_size
    out: list[Cells] = []
    if family == "checkerboard":  # k x k, cells where row + col is even
        out = [[(r, c) for r in range(k) for c in range(k) if (r + c) % 2 == 0] for k in (2, 3, 4)]
    elif family == "L":  # vertical arm a, horizontal arm b, sharing the corner
        for a in range(2, g + 1):
            for b in range(2, g + 1):
                out.append([(r, 0) for r in range(a)] + [(a - 1, c) for c in range(1, b)])
    elif family == "T":  # bar of 2h+1 cells, stem of s cells below its centre
        for h in range(1, (g - 1) // 2 + 1):
            for s in range(1, g):
                out.append([(0, c) for c in range(2 * h + 1)] + [(r, h) for r in range(1, s + 1)])
    elif family == "plus":  # arms of a cells around a centre
        for a in range(1, (g - 1) // 2 + 1):
            out.append(
                [(a, c) for c in range(2 * a + 1)] + [(r, a) for r in range(2 * a + 1) if r != a]
            )
    elif family == "zigzag":  # a staircase of n cells: right, down, right, down, ...
        out = [[(t // 2, (t + 1) // 2) for t in range(n)] for n in range(3, 2 * g)]
    else:
        msg = f"unknown pattern family {family!r}"
        raise ConfigError(msg)
    return [cells for cells in out if _fits(cells, g)]


def _fits(cells: Cells, g: int) -> bool:
    return max(max(r, c) for r, c in cells) < g


def _transforms(cells: Cells) -> list[Cells]:
    """The 8 rotations/reflections, each shifted to start at (0, 0)."""
    out = []
    for t in range(8):
        pts = list(cells)
        for _ in range(t % 4):
            pts = [(c, -r) for r, c in pts]  # rotate 90 degrees
        if t >= 4:
            pts = [(r, -c) for r, c in pts]  # mirror
        r0 = min(r for r, _ in pts)
        c0 = min(c for _, c in pts)
        out.append(sorted((r - r0, c - c0) for r, c in pts))
    return out


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    cum /= cum[-1]
    cum[-1] = 1.0  # guard against rounding: every u in [0, 1) finds a bucket
    return cum


def _rectangles(c: ShapeParams) -> tuple[np.ndarray, ...]:
    starts: list[int] = []
    counts: list[int] = []
    hs: list[int] = []
    ws: list[int] = []
    cums: list[float] = []
    g = c.grid_size
    for area in range(c.min_size, c.max_size + 1):
        cands = [
            (h, w)
            for h in range(1, g + 1)
            for w in range(1, g + 1)
            if abs(h * w - area) <= 1 and c.min_size <= h * w <= c.max_size
        ]
        if not cands:
            msg = f"no rectangle of about {area} cells fits a {g}x{g} grid; set type_weights rectangle=0"
            raise ConfigError(msg)
        weights = [
            RECT_FAVOURED_WEIGHT if max(h, w) / min(h, w) < RECT_MAX_ASPECT else 1.0
            for h, w in cands
        ]
        starts.append(len(hs))
        counts.append(len(cands))
        hs += [h for h, _ in cands]
        ws += [w for _, w in cands]
        cums += list(_cumulative(np.array(weights)))
    return (
        np.array(starts, np.int64),
        np.array(counts, np.int64),
        np.array(hs, np.int64),
        np.array(ws, np.int64),
        np.array(cums, np.float64),
    )


@lru_cache(maxsize=32)
def build_tables(c: ShapeParams) -> ShapeTables:
    """Enumerate the shapes a config allows.

    Parameters
    ----------
    c : ShapeParams
        The distribution (a `gridstore.config.GeneratorConfig`).

    Returns
    -------
    ShapeTables

    Raises
    ------
    ConfigError
        A type or family with positive weight has no shape within the size range.
    """
    weight = dict(zip(OBJECT_TYPES, c.type_weights, strict=True))
    if weight["rectangle"] > 0:
        rect = _rectangles(c)
    else:
        rect = tuple(np.zeros(1, t) for t in (np.int64,) * 4 + (np.float64,))
    lists: tuple[list[int], ...] = tuple([] for _ in range(8))
    fam_start, fam_count, var_h, var_w, var_start, var_size, cr, cc = lists
    for family, fam_weight in zip(PATTERN_FAMILIES, c.pattern_weights, strict=True):
        fam_start.append(len(var_h))
        templates = [
            t for t in pattern_cells(family, c.grid_size) if c.min_size <= len(t) <= c.max_size
        ]
        if weight["pattern"] > 0 and fam_weight > 0 and not templates:
            msg = (
                f"pattern family {family!r} has no shape with {c.min_size}..{c.max_size} cells "
                f"on a {c.grid_size}x{c.grid_size} grid; set pattern_weights {family}=0"
            )
            raise ConfigError(msg)
        for template in templates:
            for cells in _transforms(template):
                var_start.append(len(cr))
                var_size.append(len(cells))
                var_h.append(max(r for r, _ in cells) + 1)
                var_w.append(max(col for _, col in cells) + 1)
                cr += [r for r, _ in cells]
                cc += [col for _, col in cells]
        fam_count.append(len(var_h) - fam_start[-1])
    i64 = np.int64
    return ShapeTables(
        type_cum=_cumulative(np.array(c.type_weights)),
        line_cum=_cumulative(np.array(c.line_weights)),
        rect_start=rect[0],
        rect_count=rect[1],
        rect_h=rect[2],
        rect_w=rect[3],
        rect_cum=rect[4],
        family_cum=_cumulative(np.array(c.pattern_weights)),
        family_start=np.array(fam_start, i64),
        family_count=np.array(fam_count, i64),
        var_h=np.array(var_h or [0], i64),
        var_w=np.array(var_w or [0], i64),
        var_start=np.array(var_start or [0], i64),
        var_size=np.array(var_size or [0], i64),
        cell_r=np.array(cr or [0], i64),
        cell_c=np.array(cc or [0], i64),
    )
