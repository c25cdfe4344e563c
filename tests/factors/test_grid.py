"""The disentanglement_lib-style adapter: its protocol, its grid, and images of every combination."""

from __future__ import annotations

import numpy as np
import pytest

from gridstore.config import PATTERN_FAMILIES, GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.factors import SingleObjectData, render
from tests.factors.helpers import factors_from_pixels
from tests.generate.helpers import assert_fits, assert_spec_invariants, rect_probs, spec_templates

CFG = GeneratorConfig()


@pytest.fixture(scope="module")
def data() -> SingleObjectData:
    return SingleObjectData(CFG)


def _spec_grid(c: GeneratorConfig) -> set[tuple[int, ...]]:
    """(type, subtype, size, row, col) indices that exist, from GENERATOR.md's shapes (not the catalogue)."""
    g, out = c.grid_size, set()
    boxes: dict[tuple[int, int, int], set[tuple[int, int]]] = {}
    for h, w in rect_probs(c):
        boxes.setdefault((1, 0, h * w), set()).add((h, w))
    for n in range(c.min_size, c.max_size + 1):
        for o, box in enumerate([(1, n), (n, 1), (n, n), (n, n)]):
            boxes.setdefault((2, o, n), set()).add(box)
    for f, family in enumerate(PATTERN_FAMILIES):
        for cells in spec_templates(family, g):
            if c.min_size <= len(cells) <= c.max_size:
                h = max(r for r, _ in cells) + 1
                w = max(q for _, q in cells) + 1
                boxes.setdefault((3, f, len(cells)), set()).update({(h, w), (w, h)})
    for (t, sub, n), hw in boxes.items():
        for row in range(g):
            for col in range(g):
                if any(h <= g - row and w <= g - col for h, w in hw):
                    out.add((t, sub, n - c.min_size, row, col))
    for n in range(c.min_size, c.max_size + 1):  # a blob fits where its quadrant holds it
        out |= {
            (0, 0, n - c.min_size, r, q)
            for r in range(g)
            for q in range(g)
            if (g - r) * (g - q) >= n
        }
    return out


def test_the_protocol(data: SingleObjectData) -> None:
    assert data.num_factors == 6
    assert data.factors_num_values == [4, 5, 9, 14, 16, 16]
    rs = np.random.RandomState(0)
    f = data.sample_factors(50, rs)
    assert f.shape == (50, 6) and f.dtype.kind == "i"
    assert ((f >= 0) & (f < np.array(data.factors_num_values))).all() and data.valid(f).all()
    obs = data.sample_observations_from_factors(f, rs)
    assert obs.shape == (50, 16, 16, 1) and obs.dtype == np.float32
    assert obs.min() >= 0 and obs.max() <= 1
    again = data.sample_observations_from_factors(f, np.random.RandomState(0).__class__(0))
    assert obs.shape == again.shape
    f2, o2 = data.sample(5, np.random.RandomState(1))
    f3, o3 = data.sample(5, np.random.RandomState(1))
    assert (f2 == f3).all() and (o2 == o3).all()  # one random_state, one answer
    assert data.sample_observations(3, np.random.default_rng(0)).shape == (3, 16, 16, 1)
    hot = SingleObjectData(CFG, one_hot=True)
    assert hot.observation_shape == [16, 16, 10]
    o4 = hot.sample_observations_from_factors(f2, np.random.RandomState(2))
    assert o4.shape == (5, 16, 16, 10) and (o4.sum(-1) == 1).all()


def test_the_grid_is_every_combination_that_exists(data: SingleObjectData) -> None:
    every = data.index_to_factors(np.arange(len(data)))
    assert (data.factors_to_index(every) == np.arange(len(data))).all()
    keys = np.ravel_multi_index(tuple(every.T), data.factors_num_values)
    assert (np.diff(keys) > 0).all()  # numbered in lexicographic order, each once
    spec = _spec_grid(CFG)
    one_colour = every[every[:, 2] == 0][:, [0, 1, 3, 4, 5]]
    assert set(map(tuple, one_colour.tolist())) == spec
    assert len(data) == 9 * len(spec)  # colour is free of the rest
    bad = np.array([[3, 0, 0, 1, 0, 0]])  # a checkerboard of 3 cells: none exists
    assert not data.valid(bad).any()
    with pytest.raises(
        ConfigError, match=r"factors row 0 \[3, 0, 0, 1, 0, 0\] is not a combination"
    ):
        data.factors_to_index(bad)
    with pytest.raises(ConfigError, match="not a combination"):
        data.sample_observations_from_factors(bad, np.random.RandomState(0))


def test_every_combination_renders_exactly(data: SingleObjectData) -> None:
    """One image per (type, subtype, size, row, col), colours cycling: each has its factors."""
    every = data.index_to_factors(np.arange(len(data)))
    pick = every[every[:, 2] == (every[:, 4] + every[:, 5] + every[:, 3]) % 9]
    assert len(pick) * 9 == len(data)
    codes = {"num_objects": np.ones(len(pick), int), "object_type": pick[:, :1] + 1,
             "object_subtype": pick[:, 1:2], "object_colour": pick[:, 2:3] + 1,
             "object_size": pick[:, 3:4] + CFG.min_size, "object_row": pick[:, 4:5],
             "object_col": pick[:, 5:6]}  # fmt: skip
    seed = np.random.RandomState(3).randint(0, 2**63)
    images, ann = render(codes, int(seed), data.config)
    obs = data.sample_observations_from_factors(pick[:2000], np.random.RandomState(3))
    assert (
        np.rint(obs[..., 0] * 9).astype(np.uint8) == images[:2000]
    ).all()  # render of these codes
    pix = factors_from_pixels(images, ann)
    assert (pix["colour"][:, 0] == pick[:, 2] + 1).all()
    assert (pix["size"][:, 0] == pick[:, 3] + CFG.min_size).all()
    assert (pix["row"][:, 0] == pick[:, 4]).all() and (pix["col"][:, 0] == pick[:, 5]).all()
    assert (ann.object_type[:, 0] == pick[:, 0] + 1).all()
    assert (ann.object_subtype[:, 0] == pick[:, 1]).all()
    step = max(len(pick) // 500, 1)  # each shape is one GENERATOR.md allows its type, on a sample
    assert_spec_invariants(images[::step], ann[::step], data.config)


def test_sample_factors_is_uniform_over_the_grid(data: SingleObjectData) -> None:
    f = data.sample_factors(20_000, np.random.RandomState(7))
    every = data.index_to_factors(np.arange(len(data)))
    for axis in (0, 3, 4):
        share = np.bincount(every[:, axis], minlength=data.factors_num_values[axis])
        seen = np.bincount(f[:, axis], minlength=data.factors_num_values[axis])
        assert_fits(seen, share, f"factor {axis}")
