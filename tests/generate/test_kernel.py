"""The kernel that draws each image (gridstore.generate.kernel) against GENERATOR.md.

Every rule an image shows, on random valid parameters and on crowded and large
grids; the distributions of object counts, types, colours, lines, patterns,
rectangles and blobs; placement uniform among the positions that fit.

Statistical tests use fixed seeds and tolerances of about five standard deviations
(chi-square bounds of df + 6 sqrt(2 df)), so they never flake yet catch a wrong
weight or an off-by-one. Wherever placement retries could bias a statistic, the
test looks at the first object of each image: it is drawn on an empty grid, so it
is placed on its first try and follows the documented distribution exactly.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridstore.config import PATTERN_FAMILIES, GeneratorConfig, make_config
from gridstore.generate.batch import generate_images
from gridstore.generate.rng import image_key, randint, seed_state
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES, Annotations
from gridstore.validate.constraints import check_constraints
from tests.generate.helpers import (
    BLOB,
    LINE,
    PATTERN,
    RECTANGLE,
    Shape,
    assert_fits,
    assert_share,
    assert_spec_invariants,
    configs,
    normalise,
    object_cells,
    rect_probs,
)

# ---------------------------------------------------------------------------
# Every rule of GENERATOR.md, on random parameters and crowded or large grids
# ---------------------------------------------------------------------------


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
    assert_spec_invariants(images, ann, config)
    report = check_constraints(images, ann, config)
    assert report.ok, report.summary()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), start=st.integers(0, 10**9))
def test_atomic_and_shapes_presets_pass_check_constraints(seed: int, start: int) -> None:
    for preset in ("atomic", "shapes"):
        config = make_config(preset)
        images, ann = generate_images(config, seed, start, start + 50)
        report = check_constraints(images, ann, config)
        assert report.ok, report.summary()
        assert_spec_invariants(images, ann, config)


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
    assert_spec_invariants(images, ann, config)
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
    assert_spec_invariants(images, ann, config)
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
    assert_spec_invariants(images, ann, config)


def test_crowded_images_pass_constraints() -> None:
    config = make_config(
        grid_size=4, min_size=4, max_size=4, min_objects=4, max_objects=4, type_weights={"blob": 0},
        pattern_weights={"checkerboard": 0, "plus": 0},
    )  # fmt: skip
    images, ann = generate_images(config, 0, 0, 200)
    assert_spec_invariants(images, ann, config)  # the images follow GENERATOR.md ...
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
    assert_fits(
        np.bincount(drawn - config.min_objects, minlength=span), np.ones(span), "objects drawn"
    )
    assert_fits(
        np.bincount(placed - config.min_objects, minlength=span), np.ones(span), "objects placed"
    )


def test_object_types_follow_weights(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = ann.object_type[:, 0]  # never skipped: exact
    for t, p in enumerate((0.4, 0.2, 0.2, 0.2), start=1):
        assert_share(int((first == t).sum()), N_STATS, p, f"first objects of type {t}")
    # all objects: types are drawn once per object, so placed types differ from
    # drawn ones only by skipped objects (counted above, about none)
    drawn = _drawn_counts(make_config(), STATS_SEED, N_STATS)
    skipped = int(drawn.sum() - ann.num_objects.sum())
    types = ann.object_type[ann.object_type > 0]
    for t, p in enumerate((0.4, 0.2, 0.2, 0.2), start=1):
        assert_share(int((types == t).sum()), len(types), p, f"objects of type {t}", slack=skipped)


def test_colours_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    colours = ann.object_colour[ann.object_type > 0]
    assert colours.min() >= 1
    assert_fits(np.bincount(colours, minlength=10)[1:], np.ones(9), "colours")
    assert_fits(np.bincount(ann.object_colour[:, 0], minlength=10)[1:], np.ones(9), "first colours")
    # two objects of one image share a colour as often as independent draws do
    both = ann.num_objects >= 2
    same = int((ann.object_colour[both, 0] == ann.object_colour[both, 1]).sum())
    assert_share(same, int(both.sum()), 1 / 9, "first two objects share a colour")


def test_lines_orientation_and_length(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = ann.object_type[:, 0] == LINE
    sub = ann.object_subtype[first, 0]
    assert_fits(np.bincount(sub, minlength=4), np.array([0.3, 0.3, 0.2, 0.2]), "line orientations")
    sizes = ann.object_size[first, 0].astype(np.int64)
    assert_fits(np.bincount(sizes - 2, minlength=14), np.ones(14), "line lengths 2..15")
    for o in range(4):  # length independent of orientation
        assert_fits(
            np.bincount(sizes[sub == o] - 2, minlength=14),
            np.ones(14),
            f"lengths of orientation {o}",
        )
    # later lines: retries favour lines that fit, but on 16x16 hardly ever
    every = ann.object_subtype[ann.object_type == LINE]
    assert_fits(
        np.bincount(every, minlength=4), np.array([0.3, 0.3, 0.2, 0.2]), "all line orientations"
    )


def test_pattern_families_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = np.flatnonzero(ann.object_type[:, 0] == PATTERN)
    assert_fits(
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
    assert_fits(np.array(list(corners.values())), np.ones(4), "L empty corners")
    assert_share(handed[True], handed.total(), 0.5, "right-handed Ls")


def test_blob_sizes_uniform(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    _, ann = atomic_sample
    first = ann.object_type[:, 0] == BLOB  # grown on an empty grid: always reaches its target
    sizes = ann.object_size[first, 0].astype(np.int64)
    assert_fits(np.bincount(sizes - 2, minlength=14), np.ones(14), "blob sizes 2..15")


def test_rectangles_follow_the_rule(atomic_sample: tuple[np.ndarray, Annotations]) -> None:
    config = make_config()
    _, ann = atomic_sample
    first = ann.object_type[:, 0] == RECTANGLE
    box = ann.object_bbox[first, 0].astype(np.int64)
    h, w = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    probs = rect_probs(config)
    observed = Counter(zip(h.tolist(), w.tolist(), strict=True))
    assert set(observed) <= set(probs), f"rectangles outside the rule: {set(observed) - set(probs)}"
    keys = sorted(probs)
    assert_fits(
        np.array([observed[k] for k in keys]),
        np.array([probs[k] for k in keys]),
        "rectangle (h, w)",
    )
    # and plainly: most rectangles are not elongated
    elongated = np.maximum(h, w) >= 3 * np.minimum(h, w)
    p_elongated = sum(p for (a, b), p in probs.items() if max(a, b) >= 3 * min(a, b))
    assert_share(int(elongated.sum()), len(h), p_elongated, "rectangles with aspect >= 3")
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
            return {blob if absolute else normalise(blob): 1.0}
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
    shapes = Counter(normalise(object_cells(m, 1)) for m in ann.instance_map)
    probs = _blob_shape_probs(g, size, compact)
    assert set(shapes) <= set(probs)
    keys = sorted(probs, key=sorted)
    assert_fits(
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
    placed = Counter(frozenset(object_cells(m, 1)) for m in ann.instance_map)
    probs = _blob_shape_probs(g, size, 3.0, absolute=True)
    assert set(placed) <= set(probs)
    keys = sorted(probs, key=sorted)
    observed = np.array([placed[k] for k in keys])
    assert_fits(observed, np.array([probs[k] for k in keys]), "3-cell blobs on 4x4")


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
            perims[s].append(_perimeter(frozenset(object_cells(m, 1))))
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
    assert_fits(counts, np.ones(rows * cols), "top-left positions")


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
    assert_fits(observed, np.ones(bins), "placement ranks")


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
