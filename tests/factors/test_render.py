"""render and sample_factors: exact factors, the generator's distribution for free ones, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridstore.config import GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.factors import FACTOR_TABLE, factors_of, render, sample_factors
from gridstore.factors.rendering import MAX_ATTEMPTS
from gridstore.factors.table import table_markdown
from gridstore.generate import generate_images
from gridstore.validate.constraints import check_constraints
from tests.factors.helpers import factors_from_pixels, two_sample_chi2
from tests.generate.helpers import assert_spec_invariants

CFG = GeneratorConfig()
NAMES = [f.name for f in FACTOR_TABLE]
FAILURE_RATE = 2e-3  # rows render may give up on (their objects crowd a corner); measured ~3e-4


@pytest.fixture(scope="module")
def sampled() -> dict[str, np.ndarray]:
    return sample_factors(10_000, seed=11)


def _check_round_trip(factors: dict[str, np.ndarray], seed: int, brute: int) -> None:
    """Every fixed factor comes back; rows given up on are empty and rare; rules hold."""
    images, ann = render(factors, seed, allow_failures=True)
    done = ann.num_objects > 0
    assert (~done).sum() <= FAILURE_RATE * len(done), f"{(~done).sum()} rows not rendered"
    assert not images[~done].any() and not ann.object_type[~done].any()
    got = factors_of(ann)
    for name in NAMES:
        want = np.asarray(factors[name])
        fixed = (want != -1) & done.reshape((-1,) + (1,) * (want.ndim - 1))
        assert (got[name][fixed] == want[fixed]).all(), name
    report = check_constraints(images[done], ann[done], CFG)
    assert report.ok, report.summary()
    # brute force: pixels and the instance map give the same factors (the shapes, on a prefix)
    pix = factors_from_pixels(images, ann)
    for name in ("colour", "size", "row", "col"):
        assert (pix[name] == got[f"object_{name}"]).all(), name
    b = np.flatnonzero(done)[:brute]
    assert_spec_invariants(images[b], ann[b], CFG)


@pytest.mark.parametrize("n", [10_000, pytest.param(100_000, marks=pytest.mark.stress)])
def test_render_gives_back_sampled_factors(sampled: dict[str, np.ndarray], n: int) -> None:
    factors = sampled if n == len(sampled["num_objects"]) else sample_factors(n, seed=11)
    for name, a in factors.items():
        assert a.dtype == np.int16 and a.shape[0] == n, name
    _check_round_trip(factors, seed=3, brute=300)


@pytest.mark.parametrize("n", [5_000, pytest.param(100_000, marks=pytest.mark.stress)])
def test_render_keeps_fixed_factors_when_others_are_free(
    sampled: dict[str, np.ndarray], n: int
) -> None:
    factors = {k: v[:n] for k, v in sampled.items()} if n < 10**5 else sample_factors(n, seed=11)
    rng = np.random.default_rng(5)
    mixed = {}
    for name, a in factors.items():
        free = rng.random(a.shape) < 0.5
        if name == "object_type":  # an empty slot stays empty: a free one may hold an object
            free &= a > 0
        mixed[name] = np.where(free, -1, a)
    _check_round_trip(mixed, seed=4, brute=300)


def test_same_factors_and_seed_give_the_same_bytes(sampled: dict[str, np.ndarray]) -> None:
    part = {k: v[:300] for k, v in sampled.items()}
    part["object_colour"] = np.where(np.arange(300)[:, None] % 2 == 0, -1, part["object_colour"])
    a, ann_a = render(part, 9)
    b, ann_b = render(part, 9)
    c, _ = render(part, 10)
    assert a.tobytes() == b.tobytes()
    assert all(
        (x == y).all()
        for x, y in zip(ann_a.as_dict().values(), ann_b.as_dict().values(), strict=True)
    )
    assert a.tobytes() != c.tobytes()


def _histograms(ann_a, ann_b, what: str) -> None:
    fa, fb = factors_of(ann_a), factors_of(ann_b)
    for name in NAMES:
        if name == "num_objects":
            pairs = [(fa[name], fb[name])]
        else:  # each slot, and every object of any slot
            pairs = [(fa[name][:, j], fb[name][:, j]) for j in range(fa[name].shape[1])]
            pairs.append((fa[name][fa["object_type"] > 0], fb[name][fb["object_type"] > 0]))
        for x, y in pairs:
            stat, bound = two_sample_chi2(x, y)
            assert stat < bound, f"{what}: {name}: chi-square {stat:.1f} >= {bound:.1f}"


def test_free_factors_follow_the_generator() -> None:
    """Everything free: the same distribution as generated images (two-sample chi-square)."""
    n = 20_000
    _, gen = generate_images(CFG, 21, 0, n)
    free = {name: np.full((n,) if name == "num_objects" else (n, 4), -1) for name in NAMES}
    _, ren = render(free, 22)
    _histograms(gen, ren, "all free")


def test_free_factors_follow_the_generator_given_the_first_object() -> None:
    """The first object's type and colour fixed: the rest as the generator draws it given them."""
    n = 40_000
    _, gen = generate_images(CFG, 23, 0, n)
    gen = gen[gen.object_type[:, 0] == 2]  # first object a rectangle (always placed)
    m = len(gen)
    free = {name: np.full((m,) if name == "num_objects" else (m, 4), -1) for name in NAMES}
    free["object_type"][:, 0] = 2
    free["object_colour"][:, 0] = gen.object_colour[:, 0]  # the generator's colours, uniform
    _, ren = render(free, 24)
    _histograms(gen, ren, "first object a rectangle")


def test_docs_show_the_factor_table() -> None:
    assert table_markdown() in (Path(__file__).parents[2] / "docs" / "factors.md").read_text()
    assert table_markdown() in (Path(__file__).parents[2] / "README.md").read_text()


def test_sample_factors_are_the_corpus_factors() -> None:
    _, ann = generate_images(CFG, 7, 0, 50)
    got = sample_factors(50, 7)
    assert all((got[k] == v).all() for k, v in factors_of(ann).items())
    assert list(got) == NAMES


def _one(**kw: int) -> dict[str, np.ndarray]:
    base = {"num_objects": 1, "object_type": 2, "object_subtype": 0, "object_colour": 3,
            "object_size": 6, "object_row": 0, "object_col": 0}  # fmt: skip
    base.update(kw)
    return {k: np.array([v] if k == "num_objects" else [[v]]) for k, v in base.items()}


@pytest.mark.parametrize(
    ("factors", "config", "message"),
    [
        (_one(object_colour=10), CFG, r"row 0 slot 0: object_colour=10 is outside 0\.\.9"),
        (_one(object_size=16), CFG, r"row 0 slot 0: object_size=16 is outside 2\.\.15"),
        (_one(object_type=1, object_size=5), make_config("shapes"), r"object_type=1 \(blob\) has weight 0"),
        (_one(object_type=4, object_subtype=0, object_size=4), CFG, r"no shape of the config has object_type=4, object_subtype=0, object_size=4"),
        (_one(object_type=3, object_subtype=0, object_size=15, object_col=5), CFG, r"slot 0: no shape .* object_col=5"),
        (_one(object_type=2, object_size=15, object_row=14, object_col=14), CFG, r"no shape"),
        (_one(object_type=1, object_subtype=2), CFG, r"no shape of the config has object_type=1, object_subtype=2"),
        (_one(num_objects=2), CFG, r"num_objects=2 but the factors have 1 object slots"),
        (_one(object_colour=0), CFG, r"object_colour=0 on an object"),
        ({"object_hue": np.zeros((1, 1), int)}, CFG, r"unknown factor 'object_hue'"),
        ({"object_size": np.zeros((1, 1))}, CFG, r"object_size must hold integers"),
        ({"object_type": np.array([[0, 2]])}, CFG, r"slot 0: an empty slot \(object_type=0\) before an object"),
        ({"object_size": np.full((1, 4), 15), "object_type": np.full((1, 4), 1),
          "num_objects": np.array([4]), "object_row": np.full((1, 4), 15)}, CFG, r"row 0: its objects did not fit together"),
        ({"object_size": np.full((1, 4), 70)}, make_config(max_size=80, type_weights=(1, 0, 0, 0)),
         r"fixed sizes add up to 280 cells, more than the grid's 256"),
    ],
)  # fmt: skip
def test_impossible_factors_are_one_line_errors(factors, config, message) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        render(factors, 0, config)
    assert "\n" not in str(err.value)


def test_objects_that_cannot_fit_together_are_an_error_or_a_masked_row() -> None:
    """Two 3x5 rectangles cannot share one corner: an error, or with allow_failures a row of zeros."""
    two = {"num_objects": [2, 2], "object_type": [[2, 2], [2, 2]], "object_size": [[15, 15], [15, 15]],
           "object_row": [[0, 0], [0, -1]], "object_col": [[0, 0], [0, -1]]}  # fmt: skip
    with pytest.raises(ConfigError, match=rf"row 0: .* in {MAX_ATTEMPTS} attempts"):
        render(two, 0)
    images, ann = render(two, 0, allow_failures=True)
    assert ann.num_objects.tolist() == [0, 2]
    assert not images[0].any() and images[1].any()
    assert factors_of(ann)["object_row"][1, 0] == 0 and factors_of(ann)["object_size"][1].tolist()[
        :2
    ] == [15, 15]
