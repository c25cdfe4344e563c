"""Helpers shared by the generator's tests: objects out of annotations, GENERATOR.md's rules, statistics.

Written from GENERATOR.md, not from the kernel's code (nor from
gridstore.generate.shapes: the pattern families are described here again), so
that they check it rather than repeat it. Statistical checks use tolerances of about five standard
deviations (chi-square bounds of df + 6 sqrt(2 df)): with fixed seeds they never
flake, yet catch a wrong weight or an off-by-one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from hypothesis import strategies as st

from gridstore.config import PATTERN_FAMILIES, GeneratorConfig, make_config
from gridstore.generate.vocab import Annotations

BLOB, RECTANGLE, LINE, PATTERN = 1, 2, 3, 4
Shape = frozenset[tuple[int, int]]


def normalise(cells: list[tuple[int, int]] | set[tuple[int, int]]) -> Shape:
    r0 = min(r for r, _ in cells)
    c0 = min(c for _, c in cells)
    return frozenset((r - r0, c - c0) for r, c in cells)


def dihedral(cells: list[tuple[int, int]]) -> set[Shape]:
    """The 8 rotations/reflections of a cell set, translation-normalised (written from scratch)."""
    out = set()
    for flip in (False, True):
        pts = [(r, -c) if flip else (r, c) for r, c in cells]
        for _ in range(4):
            pts = [(c, -r) for r, c in pts]
            out.add(normalise(pts))
    return out


def _box_cells(height: int, width: int, inside: Callable[[int, int], bool]) -> Shape:
    """The cells of a ``height`` x ``width`` box for which ``inside(row, col)`` holds."""
    return frozenset((r, c) for r in range(height) for c in range(width) if inside(r, c))


@lru_cache(maxsize=256)
def spec_templates(family: str, g: int) -> tuple[Shape, ...]:
    """Every parameter set of a pattern family whose box fits a g x g grid, one cell set each.

    Written from GENERATOR.md's words (docs/generator.md names the parameters), not from
    gridstore.generate.shapes: each shape is the cells of its bounding box that satisfy
    what the spec says the motif is. Orientation does not matter (see `pattern_shapes`).
    """
    out: list[Shape] = []
    if family == "checkerboard":  # k x k, k = 2..4, the cells where row + col is even
        out = [_box_cells(k, k, lambda r, c: (r + c) % 2 == 0) for k in (2, 3, 4) if k <= g]
    elif family == "L":  # an upright arm of a cells and a foot of b, sharing the corner cell
        for a in range(2, g + 1):
            for b in range(2, g + 1):
                out.append(_box_cells(a, b, lambda r, c, a=a: c == 0 or r == a - 1))
    elif family == "T":  # a bar of 2h + 1 cells, and a stem of s cells from its middle cell
        for bar in range(3, g + 1, 2):
            for stem in range(1, g):
                middle = bar // 2
                out.append(_box_cells(stem + 1, bar, lambda r, c, m=middle: r == 0 or c == m))
    elif family == "plus":  # a centre cell and four arms of a cells each
        for a in range(1, (g + 1) // 2):
            out.append(_box_cells(2 * a + 1, 2 * a + 1, lambda r, c, a=a: a in (r, c)))
    elif family == "zigzag":  # a staircase of n >= 3 cells: right, down, right, down, ...
        n = 3
        while (n + 1) // 2 <= g and n // 2 + 1 <= g:  # ceil(n/2) rows, floor(n/2) + 1 cols
            out.append(
                _box_cells(
                    (n + 1) // 2, n // 2 + 1, lambda r, c, n=n: c - r in (0, 1) and r + c < n
                )
            )
            n += 1
    else:
        raise ValueError(family)
    return tuple(out)


@lru_cache(maxsize=64)
def pattern_shapes(family: str, g: int, min_size: int, max_size: int) -> frozenset[Shape]:
    """Every shape GENERATOR.md allows a pattern of ``family`` (any of the 8
    rotations/reflections of a template of ``min_size..max_size`` cells), from `spec_templates`."""
    shapes: set[Shape] = set()
    for template in spec_templates(family, g):
        if min_size <= len(template) <= max_size:
            shapes |= dihedral(list(template))
    return frozenset(shapes)


def object_cells(instance_map: np.ndarray, label: int) -> list[tuple[int, int]]:
    rows, cols = np.nonzero(instance_map == label)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def chi2(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Chi-square statistic and a generous bound (df + 6 sd); bins expecting < 5 are merged."""
    observed = np.asarray(observed, np.float64)
    expected = np.asarray(expected, np.float64)
    small = expected < 5
    if small.any():
        observed = np.append(observed[~small], observed[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
        if expected[-1] == 0:
            assert observed[-1] == 0
            observed, expected = observed[:-1], expected[:-1]
    stat = float(((observed - expected) ** 2 / expected).sum())
    df = len(expected) - 1
    return stat, df + 6 * math.sqrt(2 * df)


def assert_fits(observed: np.ndarray, probs: np.ndarray, what: str) -> None:
    observed = np.asarray(observed)
    probs = np.asarray(probs, np.float64)
    stat, bound = chi2(observed, probs / probs.sum() * observed.sum())
    assert stat < bound, (
        f"{what}: chi-square {stat:.1f} >= {bound:.1f}; observed {observed.tolist()}, "
        f"expected fractions {np.round(probs / probs.sum(), 4).tolist()}"
    )


def assert_share(count: int, total: int, p: float, what: str, slack: int = 0) -> None:
    sd = math.sqrt(total * p * (1 - p))
    assert abs(count - total * p) <= 5 * sd + slack, (
        f"{what}: {count}/{total} = {count / total:.4f}, expected {p:.4f} (+- {5 * sd / total:.4f})"
    )


def rect_probs(c: GeneratorConfig) -> dict[tuple[int, int], float]:
    """(h, w) of a rectangle from GENERATOR.md: area uniform, within one cell, < 3:1 favoured."""
    probs: dict[tuple[int, int], float] = defaultdict(float)
    areas = range(c.min_size, c.max_size + 1)
    for a in areas:
        cands = [
            (h, w)
            for h in range(1, c.grid_size + 1)
            for w in range(1, c.grid_size + 1)
            if abs(h * w - a) <= 1 and c.min_size <= h * w <= c.max_size
        ]
        weights = [3.0 if max(h, w) < 3 * min(h, w) else 1.0 for h, w in cands]
        for hw, wt in zip(cands, weights, strict=True):
            probs[hw] += wt / sum(weights) / len(areas)
    return dict(probs)


def rectangles_exist(g: int, min_size: int, max_size: int) -> bool:
    return all(
        any(
            abs(h * w - a) <= 1 and min_size <= h * w <= max_size
            for h in range(1, g + 1)
            for w in range(1, g + 1)
        )
        for a in range(min_size, max_size + 1)
    )


def assert_spec_invariants(images: np.ndarray, ann: Annotations, c: GeneratorConfig) -> None:
    """Every rule of GENERATOR.md that one image shows, checked object by object."""
    n, g, k = len(images), c.grid_size, c.max_objects
    assert images.shape == (n, g, g)
    assert images.dtype == np.uint8
    expected = {
        "num_objects": ((n,), np.uint8),
        "object_type": ((n, k), np.uint8),
        "object_subtype": ((n, k), np.uint8),
        "object_colour": ((n, k), np.uint8),
        "object_size": ((n, k), np.uint16),
        "object_bbox": ((n, k, 4), np.uint8),
        "instance_map": ((n, g, g), np.uint8),
    }
    for name, (shape, dtype) in expected.items():
        arr = getattr(ann, name)
        assert (arr.shape, arr.dtype) == (shape, dtype), name
    assert images.max(initial=0) <= 9
    assert (ann.num_objects >= 1).all(), "every image has at least one object"
    assert (ann.num_objects <= c.max_objects).all()
    type_on = [False, *(w > 0 for w in c.type_weights)]
    for i in range(n):
        m = int(ann.num_objects[i])
        inst = ann.instance_map[i]
        assert set(np.unique(inst).tolist()) <= set(range(m + 1))
        # image = colour of each cell's object (so no cell belongs to two objects)
        colours = np.concatenate([[0], ann.object_colour[i, :m]])
        np.testing.assert_array_equal(images[i], colours[inst])
        assert not ann.object_type[i, m:].any()
        assert not ann.object_size[i, m:].any()
        assert not ann.object_colour[i, m:].any()
        assert not ann.object_subtype[i, m:].any()
        assert not ann.object_bbox[i, m:].any()
        for j in range(m):
            t, sub = int(ann.object_type[i, j]), int(ann.object_subtype[i, j])
            cells = object_cells(inst, j + 1)
            size = len(cells)
            assert size == ann.object_size[i, j]
            assert c.min_size <= size <= c.max_size
            assert 1 <= ann.object_colour[i, j] <= 9
            assert type_on[t], f"type {t} has weight 0"
            rows = [r for r, _ in cells]
            cols = [col for _, col in cells]
            box = (min(rows), min(cols), max(rows), max(cols))
            assert tuple(ann.object_bbox[i, j].tolist()) == box
            h, w = box[2] - box[0] + 1, box[3] - box[1] + 1
            shape = normalise(cells)
            if t == RECTANGLE:
                assert h * w == size
                assert sub == 0
            elif t == LINE:
                assert c.line_weights[sub] > 0
                line = {
                    0: {(0, x) for x in range(size)},
                    1: {(x, 0) for x in range(size)},
                    2: {(x, x) for x in range(size)},
                    3: {(x, size - 1 - x) for x in range(size)},
                }[sub]
                assert shape == line
            elif t == PATTERN:
                family = PATTERN_FAMILIES[sub]
                assert c.pattern_weights[sub] > 0
                assert shape in pattern_shapes(family, g, c.min_size, c.max_size), family
            else:
                assert sub == 0
                assert connected(set(cells))


def connected(cells: set[tuple[int, int]]) -> bool:
    start = next(iter(cells))
    seen, stack = {start}, [start]
    while stack:
        r, c = stack.pop()
        for y in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if y in cells and y not in seen:
                seen.add(y)
                stack.append(y)
    return len(seen) == len(cells)


@st.composite
def configs(draw: st.DrawFn) -> GeneratorConfig:
    g = draw(st.integers(4, 24))
    weight = st.sampled_from([0.0, 0.0, 0.25, 1.0, 2.5])
    types = [draw(weight) for _ in range(4)]
    lines = [draw(weight) for _ in range(3)] + [1.0]
    patterns = [draw(weight) for _ in range(4)] + [draw(st.sampled_from([0.0, 1.0]))]
    limit = g if types[2] > 0 else min(g * g, 3 * g)
    max_size = draw(st.integers(1, limit))
    min_size = draw(st.integers(1, max_size))
    if not rectangles_exist(g, min_size, max_size):
        types[1] = 0.0
    for f, family in enumerate(PATTERN_FAMILIES):
        if not pattern_shapes(family, g, min_size, max_size):
            patterns[f] = 0.0
    if sum(patterns) == 0:
        patterns, types[3] = [1.0] * 5, 0.0
    if sum(types) == 0:
        types[0] = 1.0  # blobs fit any size range
    min_objects = draw(st.integers(1, 6))
    max_objects = draw(st.integers(min_objects, 10))
    return make_config(
        grid_size=g,
        min_objects=min_objects,
        max_objects=max_objects,
        min_size=min_size,
        max_size=max_size,
        type_weights=types,
        line_weights=lines,
        pattern_weights=patterns,
        blob_compactness=draw(st.sampled_from([0.5, 1.0, 3.0, 10.0])),
        max_tries=draw(st.integers(1, 12)),
    )
