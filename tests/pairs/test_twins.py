"""Twins in memory: each differs from its base exactly as its record says (checked apart from
the kernel, `tests.pairs.twin_checks`), both sides obey every generator rule, same bytes
from the same rows and seed."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gridstore.config import GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.generate import generate_images
from gridstore.pairs import KINDS, intervene
from gridstore.pairs.interventions import make_twins
from gridstore.plan import Plan
from gridstore.validate.constraints import check_constraints
from tests.generate.helpers import assert_spec_invariants
from tests.pairs.twin_checks import KINDS as DOCUMENTED_KINDS
from tests.pairs.twin_checks import check_twins

CFG = GeneratorConfig()
N = 20_000


@pytest.fixture(scope="module")
def base() -> tuple[np.ndarray, object]:
    return generate_images(CFG, 31, 0, N)


def _check(images, ann, config, kinds, seed):  # type: ignore[no-untyped-def]
    twins, tann, rec = intervene(images, ann, kinds, seed=seed, config=config)
    counts = check_twins(images, ann.as_dict(), twins, tann.as_dict(), rec, config.line_weights)
    for side, a in ((images, ann), (twins, tann)):
        report = check_constraints(side, a, config)
        assert report.ok, report.summary()
    return twins, tann, rec, counts


def test_each_twin_differs_exactly_as_recorded_and_both_sides_obey_the_rules(base) -> None:
    images, ann = base
    twins, tann, _, counts = _check(images, ann, CFG, "all", 2)
    assert DOCUMENTED_KINDS == KINDS
    # a random order of the nine kinds, the first that applies: each kind about 1/9 of the
    # rows, fewer for those that apply less often (remove: images of 2+ objects)
    assert all(c > N / 9 * 0.6 for c in counts.values()), counts
    assert_spec_invariants(twins[:400], tann[:400], CFG)  # every shape against GENERATOR.md


def test_shapes_preset_and_a_config_without_diagonal_lines(base) -> None:
    shapes = make_config("shapes")
    images, ann = generate_images(shapes, 4, 0, 4000)
    _check(images, ann, shapes, "all", 3)
    straight = make_config("atomic", line_weights={"horizontal": 1, "vertical": 0,
                                                   "diagonal": 1, "anti_diagonal": 0})  # fmt: skip
    images, ann = generate_images(straight, 4, 0, 4000)
    *_, counts = _check(images, ann, straight, ["rotate", "flip"], 3)
    assert counts["rotate"] > 1000 and counts["flip"] > 1000  # some rotations and flips apply


def test_a_kind_that_cannot_apply_falls_back_to_the_next_then_to_recolour(base) -> None:
    images, ann = base
    one = np.flatnonzero(ann.num_objects == 1)[:300]
    *_, rec = intervene(images[one], ann[one], ["remove", "rotate"], seed=1, config=CFG)
    assert set(np.unique(rec["kind"]).tolist()) <= {KINDS.index("rotate") + 1, 1}
    *_, rec = intervene(images[one], ann[one], ["remove"], seed=1, config=CFG)
    assert (rec["kind"] == 1).all()  # none applies: a recolour, which always does
    full = np.flatnonzero(ann.num_objects == CFG.max_objects)[:300]
    *_, rec = intervene(images[full], ann[full], ["add"], seed=1, config=CFG)
    assert (rec["kind"] == 1).all()


def test_a_row_depends_on_its_number_and_the_seed_only(base) -> None:
    images, ann = base
    whole = make_twins(images[:600], ann[:600], KINDS, CFG, seed=9, block=1, first=0)
    part = make_twins(images[200:600], ann[200:600], KINDS, CFG, seed=9, block=1, first=200)
    assert whole[0][200:].tobytes() == part[0].tobytes()
    assert all((whole[2][f][200:] == part[2][f]).all() for f in part[2])
    other = make_twins(images[:600], ann[:600], KINDS, CFG, seed=9, block=2, first=0)
    assert (other[2]["kind"] != whole[2]["kind"]).mean() > 0.5  # another split, other streams
    again = intervene(images[:600], ann[:600], list(reversed(KINDS)), seed=9, config=CFG)
    assert again[0].tobytes() == intervene(images[:600], ann[:600], KINDS, 9, CFG)[0].tobytes()


def test_bad_kinds_are_one_line_errors(base) -> None:
    images, ann = base
    with pytest.raises(ConfigError, match=r"^unknown intervention kind 'warp'; choose from"):
        intervene(images[:2], ann[:2], ["warp"], 0)
    with pytest.raises(ConfigError, match=r"^no intervention kinds given"):
        intervene(images[:2], ann[:2], [], 0)
    with pytest.raises(ConfigError, match=r"^pairs must be kind names \(a list, or one string"):
        Plan(pairs=5)  # type: ignore[arg-type]
    assert Plan(pairs="move,recolour").pairs == Plan(pairs=["recolour", "move"]).pairs


@pytest.mark.stress
@pytest.mark.parametrize("kind", KINDS)
def test_ten_to_the_five_pairs_of_each_kind(kind: str) -> None:
    n = int(os.environ.get("GRIDSTORE_PAIRS_PER_KIND", "100000"))
    images, ann = generate_images(CFG, 77, 0, n)
    counts = _check(images, ann, CFG, [kind], 5)[3]
    assert counts[kind] > 0.5 * n, counts  # the kind itself, not mostly its fallback
