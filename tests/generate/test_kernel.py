"""The generator against GENERATOR.md: invariants, distributions, placement, determinism, routing.

Statistical tests use fixed seeds and tolerances of about five standard deviations
(chi-square bounds of df + 6 sqrt(2 df)), so they never flake yet catch a wrong
weight or an off-by-one. Wherever placement retries could bias a statistic, the
test looks at the first object of each image: it is drawn on an empty grid, so it
is placed on its first try and follows the documented distribution exactly.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridstore.config import PATTERN_FAMILIES, GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.generate import (
    ROUTING_BLOCK_IMAGES,
    Annotations,
    content_hashes,
    generate_block,
    generate_images,
)
from gridstore.generate.rng import image_key, randint, seed_state
from gridstore.generate.shapes import pattern_cells
from gridstore.plan import split_quotas
from gridstore.validate.constraints import check_constraints

BLOB, RECTANGLE, LINE, PATTERN = 1, 2, 3, 4
Shape = frozenset[tuple[int, int]]

# ---------------------------------------------------------------------------
# Helpers: objects out of annotations, shapes, statistics
# ---------------------------------------------------------------------------


def _normalise(cells: list[tuple[int, int]] | set[tuple[int, int]]) -> Shape:
    r0 = min(r for r, _ in cells)
    c0 = min(c for _, c in cells)
    return frozenset((r - r0, c - c0) for r, c in cells)


def _dihedral(cells: list[tuple[int, int]]) -> set[Shape]:
    """The 8 rotations/reflections of a cell set, translation-normalised (written from scratch)."""
    out = set()
    for flip in (False, True):
        pts = [(r, -c) if flip else (r, c) for r, c in cells]
        for _ in range(4):
            pts = [(c, -r) for r, c in pts]
            out.add(_normalise(pts))
    return out


@lru_cache(maxsize=64)
def _pattern_shapes(family: str, g: int, min_size: int, max_size: int) -> frozenset[Shape]:
    shapes: set[Shape] = set()
    for template in pattern_cells(family, g):
        if min_size <= len(template) <= max_size:
            shapes |= _dihedral(template)
    return frozenset(shapes)


def _cells(instance_map: np.ndarray, label: int) -> list[tuple[int, int]]:
    rows, cols = np.nonzero(instance_map == label)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def _chi2(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
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


def _assert_fits(observed: np.ndarray, probs: np.ndarray, what: str) -> None:
    observed = np.asarray(observed)
    probs = np.asarray(probs, np.float64)
    stat, bound = _chi2(observed, probs / probs.sum() * observed.sum())
    assert stat < bound, (
        f"{what}: chi-square {stat:.1f} >= {bound:.1f}; observed {observed.tolist()}, "
        f"expected fractions {np.round(probs / probs.sum(), 4).tolist()}"
    )


def _assert_share(count: int, total: int, p: float, what: str, slack: int = 0) -> None:
    sd = math.sqrt(total * p * (1 - p))
    assert abs(count - total * p) <= 5 * sd + slack, (
        f"{what}: {count}/{total} = {count / total:.4f}, expected {p:.4f} (+- {5 * sd / total:.4f})"
    )


def _drawn_counts(config: GeneratorConfig, seed: int, n: int) -> np.ndarray:
    """How many objects each image of the corpus stream *drew* (its stream's first draw)."""
    state = np.zeros(4, np.uint64)
    span = config.max_objects - config.min_objects + 1
    out = np.empty(n, np.int64)
    for i in range(n):
        b, j = divmod(i, ROUTING_BLOCK_IMAGES)
        seed_state(state, np.uint64(image_key(np.uint64(seed), np.uint64(b), np.uint64(j))))
        out[i] = config.min_objects + randint(state, span)
    return out


def _rect_probs(c: GeneratorConfig) -> dict[tuple[int, int], float]:
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


def _rectangles_exist(g: int, min_size: int, max_size: int) -> bool:
    return all(
        any(
            abs(h * w - a) <= 1 and min_size <= h * w <= max_size
            for h in range(1, g + 1)
            for w in range(1, g + 1)
        )
        for a in range(min_size, max_size + 1)
    )


def _assert_spec_invariants(images: np.ndarray, ann: Annotations, c: GeneratorConfig) -> None:
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
            cells = _cells(inst, j + 1)
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
            shape = _normalise(cells)
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
                assert shape in _pattern_shapes(family, g, c.min_size, c.max_size), family
            else:
                assert sub == 0
                assert _connected(set(cells))


def _connected(cells: set[tuple[int, int]]) -> bool:
    start = next(iter(cells))
    seen, stack = {start}, [start]
    while stack:
        r, c = stack.pop()
        for y in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if y in cells and y not in seen:
                seen.add(y)
                stack.append(y)
    return len(seen) == len(cells)


# ---------------------------------------------------------------------------
# Property tests over random valid parameters
# ---------------------------------------------------------------------------


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
    if not _rectangles_exist(g, min_size, max_size):
        types[1] = 0.0
    for f, family in enumerate(PATTERN_FAMILIES):
        if not _pattern_shapes(family, g, min_size, max_size):
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    seed=st.integers(0, 2**64 - 1),
    start=st.integers(0, 3 * ROUTING_BLOCK_IMAGES),
    count=st.integers(1, 40),
)
def test_every_batch_follows_the_rules(
    config: GeneratorConfig, seed: int, start: int, count: int
) -> None:
    images, ann = generate_images(config, seed, start, start + count)
    _assert_spec_invariants(images, ann, config)
    report = check_constraints(images, ann, config)
    assert report.ok, report.summary()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    seed=st.integers(0, 2**64 - 1),
    cuts=st.lists(st.integers(0, 2 * ROUTING_BLOCK_IMAGES + 50), min_size=2, max_size=6),
)
def test_any_cut_gives_the_same_bytes_for_any_config(
    config: GeneratorConfig, seed: int, cuts: list[int]
) -> None:
    cuts = sorted(cuts)
    if cuts[-1] - cuts[0] > 300:  # keep examples fast: a window around a block edge
        cuts = [ROUTING_BLOCK_IMAGES - 150 + (c - cuts[0]) % 300 for c in cuts]
        cuts.sort()
    whole = generate_images(config, seed, cuts[0], cuts[-1])
    parts = [generate_images(config, seed, a, b) for a, b in itertools.pairwise(cuts)]
    _assert_same(_concat(parts), whole)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    seed=st.integers(0, 2**64 - 1),
    block=st.integers(0, 10**6),
    slots=st.integers(1, 120),
    fractions=st.sampled_from(
        [(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.0, 0.5, 0.5), (1.0, 0.0, 0.0)]
    ),
    disjoint=st.booleans(),
)
def test_blocks_fill_their_quotas_for_any_config(
    config: GeneratorConfig,
    seed: int,
    block: int,
    slots: int,
    fractions: tuple[float, float, float],
    disjoint: bool,
) -> None:
    quotas = split_quotas(fractions, slots)
    try:
        out = generate_block(config, seed, block, quotas, fractions, disjoint=disjoint)
    except ConfigError as err:  # only a distribution with very few distinct images may fail
        failure = str(err)
    else:
        failure = ""
    if failure:
        assert disjoint, failure
        assert "split_mode='independent'" in failure
        return
    assert [len(x) for x in out.images] == list(quotas)
    seen: dict[int, int] = {}
    for s, (images, ann, hashes) in enumerate(
        zip(out.images, out.annotations, out.hashes, strict=True)
    ):
        _assert_spec_invariants(images, ann, config)
        if len(images):
            np.testing.assert_array_equal(hashes, content_hashes(images))
        for h in hashes.tolist():
            if disjoint:
                assert seen.setdefault(h, s) == s, "an image is in two splits"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), start=st.integers(0, 10**9))
def test_atomic_and_shapes_presets_pass_check_constraints(seed: int, start: int) -> None:
    for preset in ("atomic", "shapes"):
        config = make_config(preset)
        images, ann = generate_images(config, seed, start, start + 50)
        report = check_constraints(images, ann, config)
        assert report.ok, report.summary()
        _assert_spec_invariants(images, ann, config)


@pytest.mark.parametrize(
    "config",
    [
        make_config(grid_size=64, min_objects=10, max_objects=40),
        make_config(grid_size=70, min_objects=10, max_objects=40),
        make_config(
            grid_size=100, min_objects=20, max_objects=60, max_size=40, type_weights={"line": 0}
        ),
        make_config(
            "shapes",
            grid_size=65,
            max_size=30,
            type_weights={"line": 0},
            min_objects=30,
            max_objects=80,
        ),
    ],
    ids=["g64_bit_rows", "g70_cell_scan", "g100_big_objects", "g65_shapes_crowded"],
)
def test_large_grids_follow_the_rules(config: GeneratorConfig) -> None:
    images, ann = generate_images(config, 5, 0, 30)
    report = check_constraints(images, ann, config)
    assert report.ok, report.summary()
    _assert_spec_invariants(images, ann, config)
    assert ann.num_objects.mean() > config.min_objects  # the grids really were busy


@pytest.mark.parametrize(
    "config",
    [
        make_config(
            grid_size=4,
            min_size=1,
            max_size=4,
            min_objects=6,
            max_objects=12,
            type_weights={"blob": 0},
            pattern_weights={"plus": 0},
        ),
        make_config(
            grid_size=6,
            min_size=3,
            max_size=6,
            min_objects=12,
            max_objects=20,
            type_weights={"blob": 0},
            pattern_weights={"checkerboard": 0, "plus": 0},
        ),
        make_config(
            grid_size=5,
            min_size=1,
            max_size=5,
            min_objects=2,
            max_objects=9,
            type_weights=(1, 1, 0, 0),
        ),
    ],
    ids=["g4_shapes_fill", "g6_patterns_fill", "g5_blobs_rects_crowded"],
)
def test_crowded_grids_skip_objects_but_break_no_rule(config: GeneratorConfig) -> None:
    images, ann = generate_images(config, 11, 0, 400)
    _assert_spec_invariants(images, ann, config)
    drawn = _drawn_counts(config, 11, 400)
    placed = ann.num_objects.astype(np.int64)
    assert (placed <= drawn).all()
    assert (placed < drawn).any(), "these grids are meant to overflow"


@pytest.mark.parametrize(
    "config",
    [
        # five one-cell blobs on a 2x2 grid: the fifth starts at _kth_free_cell(...) == -1
        make_config(
            grid_size=2,
            min_size=1,
            max_size=1,
            min_objects=5,
            max_objects=5,
            type_weights={"rectangle": 0, "line": 0, "pattern": 0},
        ),
        # a 2x2 rectangle fills the grid, then a blob: its discard erases label 1 at cell -1
        make_config(
            grid_size=2,
            min_size=4,
            max_size=4,
            min_objects=2,
            max_objects=2,
            type_weights=(1, 1, 0, 0),
        ),
        # same on the g > 64 path
        make_config(
            grid_size=65,
            min_size=65 * 65,
            max_size=65 * 65,
            min_objects=2,
            max_objects=2,
            type_weights=(1, 1, 0, 0),
        ),
    ],
    ids=["g2_one_cell_blobs", "g2_rectangle_then_blob", "g65_rectangle_then_blob"],
)
def test_blob_on_a_full_grid_is_skipped(config: GeneratorConfig) -> None:
    images, ann = generate_images(config, 0, 0, 20)
    _assert_spec_invariants(images, ann, config)


def test_crowded_images_pass_constraints() -> None:
    config = make_config(
        grid_size=4, min_size=4, max_size=4, min_objects=4, max_objects=4, type_weights={"blob": 0},
        pattern_weights={"checkerboard": 0, "plus": 0},
    )  # fmt: skip
    images, ann = generate_images(config, 0, 0, 200)
    _assert_spec_invariants(images, ann, config)  # the images follow GENERATOR.md ...
    assert (ann.num_objects < config.min_objects).any()  # ... some with fewer objects than drawn
    report = check_constraints(images, ann, config)
    assert report.ok, report.summary()


# ---------------------------------------------------------------------------
# Distributions (fixed seeds, ~5 sd tolerances)
# ---------------------------------------------------------------------------

N_STATS = 40_000
STATS_SEED = 20_260_101


@pytest.fixture(scope="module")
def atomic_sample() -> tuple[np.ndarray, Annotations]:
    return generate_images(make_config(), STATS_SEED, 0, N_STATS)


def test_objects_per_image_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    config = make_config()
    _, ann = atomic_sample
    drawn = _drawn_counts(config, STATS_SEED, N_STATS)
    placed = ann.num_objects.astype(np.int64)
    assert (placed <= drawn).all()
    shortfall = int((drawn - placed).sum())
    # on 16x16 with at most 4 objects of at most 15 cells, a skipped object is very rare
    assert shortfall <= 0.001 * drawn.sum(), f"{shortfall} of {drawn.sum()} drawn objects skipped"
    span = config.max_objects - config.min_objects + 1
    _assert_fits(
        np.bincount(drawn - config.min_objects, minlength=span), np.ones(span), "objects drawn"
    )
    _assert_fits(
        np.bincount(placed - config.min_objects, minlength=span), np.ones(span), "objects placed"
    )


def test_object_types_follow_weights(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = ann.object_type[:, 0]  # never skipped: exact
    for t, p in enumerate((0.4, 0.2, 0.2, 0.2), start=1):
        _assert_share(int((first == t).sum()), N_STATS, p, f"first objects of type {t}")
    # all objects: types are drawn once per object, so placed types differ from
    # drawn ones only by skipped objects (counted above, about none)
    drawn = _drawn_counts(make_config(), STATS_SEED, N_STATS)
    skipped = int(drawn.sum() - ann.num_objects.sum())
    types = ann.object_type[ann.object_type > 0]
    for t, p in enumerate((0.4, 0.2, 0.2, 0.2), start=1):
        _assert_share(int((types == t).sum()), len(types), p, f"objects of type {t}", slack=skipped)


def test_colours_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    colours = ann.object_colour[ann.object_type > 0]
    assert colours.min() >= 1
    _assert_fits(np.bincount(colours, minlength=10)[1:], np.ones(9), "colours")
    _assert_fits(
        np.bincount(ann.object_colour[:, 0], minlength=10)[1:], np.ones(9), "first colours"
    )
    # two objects of one image share a colour as often as independent draws do
    both = ann.num_objects >= 2
    same = int((ann.object_colour[both, 0] == ann.object_colour[both, 1]).sum())
    _assert_share(same, int(both.sum()), 1 / 9, "first two objects share a colour")


def test_lines_orientation_and_length(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = ann.object_type[:, 0] == LINE
    sub = ann.object_subtype[first, 0]
    _assert_fits(np.bincount(sub, minlength=4), np.array([0.3, 0.3, 0.2, 0.2]), "line orientations")
    sizes = ann.object_size[first, 0].astype(np.int64)
    _assert_fits(np.bincount(sizes - 2, minlength=14), np.ones(14), "line lengths 2..15")
    for o in range(4):  # length independent of orientation
        _assert_fits(
            np.bincount(sizes[sub == o] - 2, minlength=14),
            np.ones(14),
            f"lengths of orientation {o}",
        )
    # later lines: retries favour lines that fit, but on 16x16 hardly ever
    every = ann.object_subtype[ann.object_type == LINE]
    _assert_fits(
        np.bincount(every, minlength=4), np.array([0.3, 0.3, 0.2, 0.2]), "all line orientations"
    )


def test_pattern_families_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = np.flatnonzero(ann.object_type[:, 0] == PATTERN)
    _assert_fits(
        np.bincount(ann.object_subtype[first, 0], minlength=5), np.ones(5), "pattern families"
    )
    # any of the 8 rotations/reflections: an L's box has one empty corner, each equally
    # often (rotations), and an L with unequal arms is left- or right-handed equally often
    # (reflections)
    corners, handed = Counter(), Counter()
    for i in first[ann.object_subtype[first, 0] == PATTERN_FAMILIES.index("L")]:
        r0, c0, r1, c1 = ann.object_bbox[i, 0].tolist()
        h, w = r1 - r0 + 1, c1 - c0 + 1
        box = ann.instance_map[i, r0 : r1 + 1, c0 : c1 + 1] == 1
        empty = [
            (r, c) for r, c in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)) if not box[r, c]
        ]
        assert len(empty) == 1
        corners[empty[0][0] > 0, empty[0][1] > 0] += 1
        if h != w:  # arms from the L's corner (opposite the empty one) towards the empty one
            er, ec = empty[0]
            down = (er - (h - 1 - er), 0)  # along the column
            across = (0, ec - (w - 1 - ec))  # along the row
            long, short = (down, across) if h > w else (across, down)
            handed[long[0] * short[1] - long[1] * short[0] > 0] += 1
    _assert_fits(np.array(list(corners.values())), np.ones(4), "L empty corners")
    _assert_share(handed[True], handed.total(), 0.5, "right-handed Ls")


def test_blob_sizes_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = ann.object_type[:, 0] == BLOB  # grown on an empty grid: always reaches its target
    sizes = ann.object_size[first, 0].astype(np.int64)
    _assert_fits(np.bincount(sizes - 2, minlength=14), np.ones(14), "blob sizes 2..15")


def test_rectangles_follow_the_rule(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    config = make_config()
    _, ann = atomic_sample
    first = ann.object_type[:, 0] == RECTANGLE
    box = ann.object_bbox[first, 0].astype(np.int64)
    h, w = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    probs = _rect_probs(config)
    observed = Counter(zip(h.tolist(), w.tolist(), strict=True))
    assert set(observed) <= set(probs), f"rectangles outside the rule: {set(observed) - set(probs)}"
    keys = sorted(probs)
    _assert_fits(
        np.array([observed[k] for k in keys]),
        np.array([probs[k] for k in keys]),
        "rectangle (h, w)",
    )
    # and plainly: most rectangles are not elongated
    elongated = np.maximum(h, w) >= 3 * np.minimum(h, w)
    p_elongated = sum(p for (a, b), p in probs.items() if max(a, b) >= 3 * min(a, b))
    _assert_share(int(elongated.sum()), len(h), p_elongated, "rectangles with aspect >= 3")
    assert p_elongated < 0.5


def _blob_shape_probs(
    g: int, size: int, compact: float, *, absolute: bool = False
) -> dict[Shape, float]:
    """Exact distribution of a blob's shape on an empty g x g grid, from GENERATOR.md's rule.

    Start at a uniform cell; add frontier cells one at a time, a cell with two or
    more blob neighbours weighing ``compact``, others 1.
    """
    memo: dict[frozenset[tuple[int, int]], dict[Shape, float]] = {}

    def grow(blob: frozenset[tuple[int, int]]) -> dict[Shape, float]:
        if len(blob) == size:
            return {blob if absolute else _normalise(blob): 1.0}
        if blob in memo:
            return memo[blob]
        neighbours: Counter[tuple[int, int]] = Counter()
        for r, c in blob:
            for y in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= y[0] < g and 0 <= y[1] < g and y not in blob:
                    neighbours[y] += 1
        weights = {y: compact if k >= 2 else 1.0 for y, k in neighbours.items()}
        total = sum(weights.values())
        out: dict[Shape, float] = defaultdict(float)
        for y, wt in weights.items():
            for shape, p in grow(blob | {y}).items():
                out[shape] += wt / total * p
        memo[blob] = out
        return out

    result: dict[Shape, float] = defaultdict(float)
    for r in range(g):
        for c in range(g):
            for shape, p in grow(frozenset({(r, c)})).items():
                result[shape] += p / (g * g)
    return dict(result)


def _perimeter(shape: Shape) -> int:
    return sum(
        (r + dr, c + dc) not in shape
        for r, c in shape
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
    )


@pytest.mark.parametrize("compact", [3.0, 1.0], ids=["compact3", "compact1"])
def test_blob_growth_matches_frontier_weights(compact: float) -> None:
    """Blob shapes follow the exact distribution implied by GENERATOR.md's frontier weights."""
    g, size, n = 6, 5, 30_000
    config = make_config(
        grid_size=g, min_objects=1, max_objects=1, min_size=size, max_size=size,
        type_weights={"rectangle": 0, "line": 0, "pattern": 0}, blob_compactness=compact,
    )  # fmt: skip
    _, ann = generate_images(config, 99, 0, n)
    shapes = Counter(_normalise(_cells(m, 1)) for m in ann.instance_map)
    probs = _blob_shape_probs(g, size, compact)
    assert set(shapes) <= set(probs)
    keys = sorted(probs, key=sorted)
    _assert_fits(
        np.array([shapes[k] for k in keys]),
        np.array([probs[k] for k in keys]),
        f"blob shapes c={compact}",
    )
    # the exact mean perimeter (compactness 3 is rounder), and the sample's
    mean = sum(p * _perimeter(s) for s, p in probs.items())
    sample = np.array([_perimeter(s) for s in shapes.elements()], np.float64)
    assert abs(sample.mean() - mean) < 5 * sample.std() / math.sqrt(n)
    if compact == 3.0:
        assert mean < sum(p * _perimeter(s) for s, p in _blob_shape_probs(g, size, 1.0).items())


def test_blob_start_cell_and_borders() -> None:
    """Where 3-cell blobs land on a 4x4 grid: start uniform, growth clipped by the borders."""
    g, size = 4, 3
    config = make_config(
        grid_size=g, min_objects=1, max_objects=1, min_size=size, max_size=size,
        type_weights={"rectangle": 0, "line": 0, "pattern": 0},
    )  # fmt: skip
    _, ann = generate_images(config, 5, 0, 20_000)
    placed = Counter(frozenset(_cells(m, 1)) for m in ann.instance_map)
    probs = _blob_shape_probs(g, size, 3.0, absolute=True)
    assert set(placed) <= set(probs)
    keys = sorted(probs, key=sorted)
    observed = np.array([placed[k] for k in keys])
    _assert_fits(observed, np.array([probs[k] for k in keys]), "3-cell blobs on 4x4")


def test_compact_blobs_are_rounder_at_the_atomic_sizes() -> None:
    """Atomic blobs (2..15 cells, compactness 3) have smaller perimeters than uncompacted ones."""
    base = {
        "min_objects": 1,
        "max_objects": 1,
        "type_weights": {"rectangle": 0, "line": 0, "pattern": 0},
    }
    per_size = {}
    for compact in (3.0, 1.0):
        _, ann = generate_images(make_config(blob_compactness=compact, **base), 7, 0, 20_000)
        perims = defaultdict(list)
        for m, s in zip(ann.instance_map, ann.object_size[:, 0].tolist(), strict=True):
            perims[s].append(_perimeter(frozenset(_cells(m, 1))))
        per_size[compact] = {
            s: (np.mean(v), np.std(v) / math.sqrt(len(v))) for s, v in perims.items()
        }
    for s in range(6, 16):  # from 6 cells on, the difference is many standard errors
        (m3, e3), (m1, e1) = per_size[3.0][s], per_size[1.0][s]
        assert m3 + 3 * math.hypot(e3, e1) < m1, f"size {s}: perimeter {m3:.2f} vs {m1:.2f}"


# ---------------------------------------------------------------------------
# Placement: uniform among the positions that fit
# ---------------------------------------------------------------------------


def test_single_object_position_uniform() -> None:
    g, length = 16, 3
    config = make_config(
        min_objects=1, max_objects=1, min_size=length, max_size=length,
        type_weights={"blob": 0, "rectangle": 0, "pattern": 0},
        line_weights={"vertical": 0, "diagonal": 0, "anti_diagonal": 0},
    )  # fmt: skip
    rows, cols = g, g - length + 1
    n = rows * cols * 100
    _, ann = generate_images(config, 3, 0, n)
    assert (ann.object_subtype[:, 0] == 0).all()
    r0, c0 = ann.object_bbox[:, 0, 0].astype(np.int64), ann.object_bbox[:, 0, 1].astype(np.int64)
    assert r0.max() < rows
    assert c0.max() < cols
    counts = np.bincount(r0 * cols + c0, minlength=rows * cols)
    assert (counts > 0).all(), "some position is never used"
    _assert_fits(counts, np.ones(rows * cols), "top-left positions")


def _placement_ranks(ann: Annotations, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Each non-blob object after the first: its rank among the positions that fit, and their count.

    Given the objects placed before it, a shape's top-left corner must be uniform
    over the positions (row-major) where it overlaps nothing.
    """
    ranks, counts = [], []
    for i in range(len(ann)):
        inst = ann.instance_map[i]
        for j in range(1, int(ann.num_objects[i])):
            if ann.object_type[i, j] == BLOB:
                continue
            r0, c0, r1, c1 = ann.object_bbox[i, j].tolist()
            h, w = r1 - r0 + 1, c1 - c0 + 1
            cells = np.argwhere(inst[r0 : r1 + 1, c0 : c1 + 1] == j + 1)
            before = (inst > 0) & (inst <= j)
            rows, cols = g - h + 1, g - w + 1
            fits = np.ones((rows, cols), bool)
            for dr, dc in cells:
                fits &= ~before[dr : dr + rows, dc : dc + cols]
            assert fits[r0, c0], "an object overlaps an earlier one"
            flat = fits.ravel()
            ranks.append(int(flat[: r0 * cols + c0].sum()))
            counts.append(int(flat.sum()))
    return np.array(ranks), np.array(counts)


PLACEMENT_CASES = [
    (make_config(min_objects=6, max_objects=12), 3000),
    (make_config("shapes", min_objects=30, max_objects=30), 200),
    (make_config("shapes", grid_size=12, min_objects=8, max_objects=14, max_size=12), 1500),
    (make_config(grid_size=64, min_objects=80, max_objects=120, max_size=30,
                 type_weights={"line": 0}), 60),
    (make_config(grid_size=70, min_objects=80, max_objects=120, max_size=30,
                 type_weights={"line": 0}), 60),
    (make_config("shapes", grid_size=65, min_size=20, max_size=65, min_objects=255, max_objects=255,
                 pattern_weights={"checkerboard": 0}), 40),
]  # fmt: skip
PLACEMENT_IDS = [
    "g16_crowded",
    "g16_shapes_full",
    "g12_shapes",
    "g64_bit_rows",
    "g70_cell_scan",
    "g65_full",
]


@pytest.fixture(scope="module", params=PLACEMENT_CASES, ids=PLACEMENT_IDS)
def placement_ranks(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    config, n = request.param
    _, ann = generate_images(config, 17, 0, n)
    return _placement_ranks(ann, config.grid_size)


def test_later_objects_placed_uniformly_among_free_positions(
    placement_ranks: tuple[np.ndarray, np.ndarray],
) -> None:
    ranks, counts = placement_ranks
    assert len(ranks) > 3000
    # (rank + U) / count is exactly uniform on [0, 1) when the choice is uniform
    pit = (ranks + np.random.default_rng(0).random(len(ranks))) / counts
    bins = 20
    observed = np.bincount((pit * bins).astype(np.int64), minlength=bins)
    _assert_fits(observed, np.ones(bins), "placement ranks")


def test_first_and_last_free_positions_are_reachable(
    placement_ranks: tuple[np.ndarray, np.ndarray],
) -> None:
    """Crowded grids leave few positions: an off-by-one at either end would show here."""
    ranks, counts = placement_ranks
    p = 1.0 / counts
    expected, sd = p.sum(), math.sqrt((p * (1 - p)).sum())
    for name, hits in (("first", ranks == 0), ("last", ranks == counts - 1)):
        got = int(hits.sum())
        assert abs(got - expected) <= 5 * sd + 1, (
            f"{name} free position taken {got} times, expected {expected:.1f}"
        )


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

DET_CONFIG = make_config("atomic", max_objects=6)
DET_SEED = 2**64 - 12345


def _assert_same(a: tuple[np.ndarray, Annotations], b: tuple[np.ndarray, Annotations]) -> None:
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].dtype == b[0].dtype
    for name in Annotations.names():
        x, y = getattr(a[1], name), getattr(b[1], name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def _concat(parts: list[tuple[np.ndarray, Annotations]]) -> tuple[np.ndarray, Annotations]:
    images = np.concatenate([p[0] for p in parts])
    ann = Annotations(
        **{k: np.concatenate([getattr(p[1], k) for p in parts]) for k in Annotations.names()}
    )
    return images, ann


@pytest.fixture(scope="module")
def whole_stream() -> tuple[np.ndarray, Annotations]:
    return generate_images(DET_CONFIG, DET_SEED, 0, 2 * ROUTING_BLOCK_IMAGES + 300)


@pytest.mark.parametrize(
    "cuts",
    [
        [0, 10_300],
        [0, 1, 2, 4999, 5000, 5001, 10_300],
        [0, 0, 7, 7, 3333, 9999, 10_000, 10_300],
        [0, *range(137, 10_300, 1024), 10_300],
    ],
    ids=["whole", "block_edges", "empty_ranges", "ragged"],
)
def test_any_cut_of_the_stream_gives_the_same_bytes(
    whole_stream: tuple[np.ndarray, Annotations], cuts: list[int]
) -> None:
    parts = [generate_images(DET_CONFIG, DET_SEED, a, b) for a, b in itertools.pairwise(cuts)]
    _assert_same(_concat(parts), whole_stream)


def test_seeds_and_configs_change_the_bytes(whole_stream: tuple[np.ndarray, Annotations]) -> None:
    images = whole_stream[0][:200]
    other_seed = generate_images(DET_CONFIG, DET_SEED - 1, 0, 200)[0]
    assert (images != other_seed).any(axis=(1, 2)).mean() > 0.95
    zero = generate_images(DET_CONFIG, 0, 0, 200)[0]
    assert (zero != generate_images(DET_CONFIG, 1, 0, 200)[0]).any(axis=(1, 2)).mean() > 0.95
    # routing blocks draw from their own streams
    block1 = whole_stream[0][ROUTING_BLOCK_IMAGES : ROUTING_BLOCK_IMAGES + 200]
    assert (images != block1).any(axis=(1, 2)).mean() > 0.95
    # another distribution, same seed: other images
    assert (images != generate_images(make_config(), DET_SEED, 0, 200)[0]).any()


def test_seed_is_validated() -> None:
    msg = "seed must be an integer in [0, 2**64), got {!r}"
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(ConfigError) as info:
            generate_images(DET_CONFIG, bad, 0, 1)  # type: ignore[arg-type]
        assert str(info.value) == msg.format(bad)
    with pytest.raises(ConfigError) as info:
        generate_images(DET_CONFIG, 0, 5, 4)
    assert str(info.value) == "image range must satisfy 0 <= start <= stop, got [5, 4)"


def test_one_and_two_processes_give_identical_bytes(
    whole_stream: tuple[np.ndarray, Annotations],
) -> None:
    ranges = [(DET_CONFIG, DET_SEED, a, min(a + 1700, 10_300)) for a in range(0, 10_300, 1700)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        parts = pool.starmap(generate_images, ranges)
    _assert_same(_concat(parts), whole_stream)
    assert _concat(parts)[0].tobytes() == whole_stream[0].tobytes()


# ---------------------------------------------------------------------------
# Routing blocks
# ---------------------------------------------------------------------------

FRACTIONS = (0.8, 0.1, 0.1)
# grid 4, one object of 2 cells: 42 cell pairs x 9 colours = 378 distinct images
TINY = make_config(
    grid_size=4, min_objects=1, max_objects=1, min_size=2, max_size=2,
    pattern_weights={"L": 0, "T": 0, "plus": 0, "zigzag": 0},
)  # fmt: skip


def _block(
    config: GeneratorConfig, quotas: tuple[int, int, int], **kw: object
) -> list[tuple[np.ndarray, Annotations]]:
    out = generate_block(config, 77, 3, quotas, FRACTIONS, **kw)  # type: ignore[arg-type]
    assert out.draws >= sum(quotas)
    for images, hashes, q in zip(out.images, out.hashes, quotas, strict=True):
        assert len(images) == len(hashes) == q
        if q:  # content_hashes of no images: see test_content_hashes_of_no_images
            np.testing.assert_array_equal(hashes, content_hashes(images))
    return list(zip(out.images, out.annotations, strict=True))


@pytest.mark.parametrize("disjoint", [True, False], ids=["disjoint", "independent"])
@pytest.mark.parametrize("slots", [1, 9, 10, 137, ROUTING_BLOCK_IMAGES], ids=lambda s: f"slots={s}")
def test_block_quotas_exact_and_splits_valid(slots: int, disjoint: bool) -> None:
    quotas = split_quotas(FRACTIONS, slots)
    for (images, ann), q in zip(_block(DET_CONFIG, quotas, disjoint=disjoint), quotas, strict=True):
        assert len(images) == len(ann) == q
        report = check_constraints(images, ann, DET_CONFIG)
        assert report.ok, report.summary()


@pytest.mark.parametrize("disjoint", [True, False], ids=["disjoint", "independent"])
def test_block_is_deterministic_and_grows_by_appending(disjoint: bool) -> None:
    small = _block(DET_CONFIG, split_quotas(FRACTIONS, 333), disjoint=disjoint)
    again = _block(DET_CONFIG, split_quotas(FRACTIONS, 333), disjoint=disjoint)
    large = _block(DET_CONFIG, split_quotas(FRACTIONS, 1200), disjoint=disjoint)
    for s in range(3):
        _assert_same(small[s], again[s])
        q = len(small[s][0])
        _assert_same(small[s], (large[s][0][:q], large[s][1][:q]))
    other = generate_block(
        DET_CONFIG, 78, 3, split_quotas(FRACTIONS, 333), FRACTIONS, disjoint=disjoint
    )
    assert (other.images[0] != small[0][0]).any(axis=(1, 2)).mean() > 0.95


def test_single_split_block_is_the_corpus_stream(
    whole_stream: tuple[np.ndarray, Annotations],
) -> None:
    """generate_corpus is the train split of fractions (1, 0, 0): the stream's block b."""
    for block in (0, 1):
        out = generate_block(DET_CONFIG, DET_SEED, block, (300, 0, 0), (1.0, 0.0, 0.0))
        start = block * ROUTING_BLOCK_IMAGES
        expected = (whole_stream[0][start : start + 300], whole_stream[1][start : start + 300])
        _assert_same((out.images[0], out.annotations[0]), expected)
        assert out.draws == 300


def test_disjoint_splits_share_no_image() -> None:
    splits = _block(TINY, (4000, 500, 500))
    hashes = [set(content_hashes(images).tolist()) for images, _ in splits]
    assert len(hashes[0]) < 4000, "the tiny distribution should repeat images"
    assert all(len(h) > 5 for h in hashes)
    assert not hashes[0] & hashes[1]
    assert not hashes[0] & hashes[2]
    assert not hashes[1] & hashes[2]
    # and bytes agree with hashes: no image of val or test appears in train
    train = {im.tobytes() for im in splits[0][0]}
    assert not any(im.tobytes() in train for s in (1, 2) for im in splits[s][0])
    for images, ann in splits:
        assert check_constraints(images, ann, TINY).ok


def test_independent_splits_do_share_images() -> None:
    splits = _block(TINY, (4000, 500, 500), disjoint=False)
    hashes = [set(content_hashes(images).tolist()) for images, _ in splits]
    assert hashes[0] & hashes[1]
    assert hashes[0] & hashes[2]
    assert hashes[1] & hashes[2]


def test_too_few_distinct_images_for_disjoint_splits() -> None:
    # a 2x2 grid filled by one rectangle: only 9 images exist, one per colour
    config = make_config(
        grid_size=2, min_objects=1, max_objects=1, min_size=4, max_size=4, type_weights=(0, 1, 0, 0)
    )
    every = np.arange(1, 10, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    images, _ = generate_images(config, 0, 0, 200)
    assert {im.tobytes() for im in images} == {im.tobytes() for im in every}
    keys = np.sort((content_hashes(every) >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    # put the val split in the widest gap between route keys: no image can ever reach it
    edges = np.concatenate([[0.0], keys, [1.0]])
    gap = int(np.argmax(np.diff(edges)))
    lo, hi = edges[gap], edges[gap + 1]
    a, b = lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3
    fractions = (a, b - a, 1.0 - b)
    with pytest.raises(ConfigError) as info:
        generate_block(config, 0, 0, (8, 1, 1), fractions)
    assert str(info.value) == (
        "block 0 drew 500 images without filling its splits (8, 1, 1): the distribution has too "
        "few distinct images for disjoint splits; use split_mode='independent' or a larger grid"
    )
    out = generate_block(config, 0, 0, (8, 1, 1), fractions, disjoint=False)
    assert [len(x) for x in out.images] == [8, 1, 1]


def test_content_hashes_of_no_images() -> None:
    out = content_hashes(np.zeros((0, 16, 16), np.uint8))
    assert out.shape == (0,)
    assert out.dtype == np.uint64
