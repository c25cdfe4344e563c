"""Shape tables (gridstore.generate.shapes): pattern templates and what the kernel samples from.

The expectations come from docs/generator.md ("How gridstore reads this page"):
checkerboard k = 2..4; L with arms a, b >= 2 (a + b - 1 cells); T with a bar of
2h + 1 cells and a stem of s >= 1; plus with arms a >= 1 (4a + 1 cells); zigzag
a staircase of n >= 3 cells; each in any of the 8 rotations/reflections. The
config errors of `build_tables` are checked through `make_config` in
tests/test_config.py.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gridstore.config import PATTERN_FAMILIES, GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.generate.shapes import ShapeTables, build_tables, pattern_cells
from tests.generate.helpers import (
    dihedral,
    normalise,
    pattern_shapes,
    rect_probs,
    spec_templates,
)


def _spec_templates(family: str, g: int) -> Counter[tuple[int, int, int]]:
    """(cells, box height, box width) of each parameter set whose box fits a g x g grid."""
    out: Counter[tuple[int, int, int]] = Counter()
    if family == "checkerboard":
        for k in range(2, 5):
            out[(k * k + 1) // 2, k, k] += k <= g
    elif family == "L":
        for a in range(2, g + 1):
            for b in range(2, g + 1):
                out[a + b - 1, a, b] += 1
    elif family == "T":
        for h in range(1, g):
            for s in range(1, g):
                out[2 * h + 1 + s, s + 1, 2 * h + 1] += 2 * h + 1 <= g and s + 1 <= g
    elif family == "plus":
        for a in range(1, g):
            out[4 * a + 1, 2 * a + 1, 2 * a + 1] += 2 * a + 1 <= g
    else:  # zigzag: right, down, right, down, ...: n cells span ceil(n/2) rows, floor(n/2)+1 cols
        for n in range(3, 2 * g + 2):
            out[n, (n + 1) // 2, n // 2 + 1] += (n + 1) // 2 <= g and n // 2 + 1 <= g
    return +out  # drop the zero counts


def _box(cells: list[tuple[int, int]]) -> tuple[int, int]:
    rows = [r for r, _ in cells]
    cols = [c for _, c in cells]
    return max(rows) - min(rows) + 1, max(cols) - min(cols) + 1


@pytest.mark.parametrize("g", [2, 3, 5, 8, 16], ids=lambda g: f"g{g}")
@pytest.mark.parametrize("family", PATTERN_FAMILIES)
def test_pattern_templates_are_the_documented_ones(family: str, g: int) -> None:
    """Sizes and boxes as documented, and each template, up to its 8 rotations/reflections,
    is one of the spec's shapes (tests/generate/helpers.py), each parameter set once."""
    templates = pattern_cells(family, g)
    got = Counter((len(t), *_box(t)) for t in templates)
    assert got == _spec_templates(family, g)
    shapes = Counter(frozenset(dihedral(t)) for t in templates)
    assert shapes == Counter(frozenset(dihedral(list(t))) for t in spec_templates(family, g))
    for t in templates:
        assert len(set(t)) == len(t), "a template lists a cell twice"
        assert all(0 <= r < g and 0 <= c < g for r, c in t)
    assert len({normalise(t) for t in templates}) == len(templates), "two templates are the same"


def test_checkerboard_cells_are_the_even_squares() -> None:
    for t in pattern_cells("checkerboard", 4):
        k = _box(t)[0]
        assert normalise(t) == {(r, c) for r in range(k) for c in range(k) if (r + c) % 2 == 0}


def test_unknown_pattern_family() -> None:
    with pytest.raises(ConfigError) as info:
        pattern_cells("circle", 16)
    assert str(info.value) == "unknown pattern family 'circle'"


def _variants(tb: ShapeTables, family: int) -> list[frozenset[tuple[int, int]]]:
    """The cell sets of a family's variants, in table order, checked against their sizes and boxes."""
    out = []
    start, count = tb.family_start[family], tb.family_count[family]
    for v in range(start, start + count):
        a, n = tb.var_start[v], tb.var_size[v]
        cells = list(zip(tb.cell_r[a : a + n].tolist(), tb.cell_c[a : a + n].tolist(), strict=True))
        assert len(cells) == n
        assert min(r for r, _ in cells) == 0 and min(c for _, c in cells) == 0  # anchored at 0, 0
        assert _box(cells) == (tb.var_h[v], tb.var_w[v])
        out.append(frozenset(cells))
    return out


CONFIGS = [
    make_config(),
    make_config("shapes", grid_size=7, min_size=3, max_size=7),
    make_config(grid_size=30, min_size=5, max_size=40, type_weights={"line": 0}),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["atomic", "g7", "g30"])
def test_pattern_variants_are_every_rotation_and_reflection(config: GeneratorConfig) -> None:
    """Each template in the size range gives 8 variants (symmetric ones repeat), covering its 8 images."""
    tb = build_tables(config)
    g, lo, hi = config.grid_size, config.min_size, config.max_size
    for f, family in enumerate(PATTERN_FAMILIES):
        in_range = [t for t in pattern_cells(family, g) if lo <= len(t) <= hi]
        variants = _variants(tb, f)
        assert len(variants) == 8 * len(in_range), family
        assert set(variants) == pattern_shapes(family, g, lo, hi), family
        for i, template in enumerate(in_range):  # so every template weighs the same
            assert set(variants[8 * i : 8 * i + 8]) == dihedral(template), (family, i)


@pytest.mark.parametrize("config", CONFIGS, ids=["atomic", "g7", "g30"])
def test_rectangle_table_is_the_documented_rule(config: GeneratorConfig) -> None:
    """Area uniform; (h, w) within one cell of it and in range; aspect below 3:1 weighs 3x."""
    tb = build_tables(config)
    areas = config.max_size - config.min_size + 1
    assert len(tb.rect_start) == len(tb.rect_count) == areas
    probs: Counter[tuple[int, int]] = Counter()
    for a in range(areas):
        k = slice(tb.rect_start[a], tb.rect_start[a] + tb.rect_count[a])
        cum = tb.rect_cum[k]
        assert cum[-1] == 1.0
        assert (np.diff(cum) > 0).all()
        for h, w, p in zip(tb.rect_h[k], tb.rect_w[k], np.diff(cum, prepend=0.0), strict=True):
            probs[int(h), int(w)] += p / areas
    expected = rect_probs(config)
    assert set(probs) == set(expected)
    for hw, p in expected.items():
        assert probs[hw] == pytest.approx(p), hw


def test_cumulative_weights_end_at_one_and_skip_zero_weights() -> None:
    config = make_config(
        type_weights=(2, 0, 1, 1),
        line_weights={"vertical": 0},
        pattern_weights={"checkerboard": 0},
        min_size=9,  # no checkerboard has 9..15 cells: allowed, its weight is 0
    )
    tb = build_tables(config)
    for name, weights in (
        ("type_cum", config.type_weights),
        ("line_cum", config.line_weights),
        ("family_cum", config.pattern_weights),
    ):
        cum = getattr(tb, name)
        assert cum[-1] == 1.0, name
        w = np.asarray(weights)
        np.testing.assert_allclose(np.diff(cum, prepend=0.0), w / w.sum(), err_msg=name)
    assert tb.family_count[0] == 0  # the kernel can never pick an empty family


def test_tables_without_rectangles_or_patterns() -> None:
    """Types with weight 0 need no shapes: a 2x2 grid of blobs and lines builds its tables."""
    config = make_config(grid_size=2, min_size=1, max_size=2, type_weights=(1, 0, 1, 0))
    tb = build_tables(config)
    assert tb.type_cum.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert tb.family_count.tolist() == [8, 0, 0, 0, 0]  # only the 2-cell checkerboard fits
