"""intervene: each twin differs from its base exactly as its record says, and both obey the rules.

The expected twin is rebuilt here from the base image and the record alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate import generate_images
from gridstore.pairs import IMPLEMENTED_KINDS, KINDS, intervene
from gridstore.validate.constraints import check_constraints
from tests.generate.helpers import assert_spec_invariants

CFG = GeneratorConfig()
N = 800


@pytest.fixture(scope="module")
def base() -> tuple[np.ndarray, object]:
    return generate_images(CFG, 31, 0, N)


def _expected(img: np.ndarray, inst: np.ndarray, rec: dict, i: int) -> np.ndarray:
    kind, slot = KINDS[rec["kind"][i] - 1], int(rec["slot"][i])
    mine = inst == slot + 1
    if kind == "recolour":
        assert img[mine].tolist() == [rec["old_colour"][i]] * int(mine.sum())
        assert rec["new_colour"][i] != rec["old_colour"][i]
        return np.where(mine, rec["new_colour"][i], img)
    if kind == "remove":
        return np.where(mine, 0, img)
    if kind in ("move", "translate"):
        a, b = (int(x) for x in rec["offset"][i])
        assert (a, b) != (0, 0)
        moved = mine if kind == "move" else inst > 0
        out = np.where(moved, 0, img)
        rows, cols = np.nonzero(moved)
        assert not out[rows + a, cols + b].any(), "moved onto another object"
        out[rows + a, cols + b] = img[rows, cols]
        return out
    if kind == "rotate":
        return np.rot90(img, int(rec["rotation"][i]))
    if kind == "flip":
        return [None, img[:, ::-1], img[::-1, :], img.T][int(rec["flip"][i])]
    perm = rec["permutation"][i]
    assert sorted(perm.tolist()) == list(range(10)) and perm[0] == 0
    assert (perm[img] != img).any()
    return perm[img]


@pytest.mark.parametrize("kind", IMPLEMENTED_KINDS)
def test_each_twin_differs_exactly_as_recorded(base, kind: str) -> None:
    images, ann = base
    twins, tann, rec = intervene(images, ann, [kind, "recolour"], seed=2, config=CFG)
    codes = rec["kind"]
    assert set(np.unique(codes).tolist()) <= {KINDS.index(kind) + 1, 1}
    assert (codes == KINDS.index(kind) + 1).mean() > 0.3  # drawn about half the time
    for i in range(N):
        expected = _expected(images[i], ann.instance_map[i], rec, i)
        assert (twins[i] == expected).all(), (kind, i)
    if kind == "remove":  # it falls back only on images of one object
        assert (codes[ann.num_objects == 1] == 1).all()
        assert (tann.num_objects[codes == 3] == ann.num_objects[codes == 3] - 1).all()
    for side, a in ((images, ann), (twins, tann)):
        report = check_constraints(side, a, CFG)
        assert report.ok, report.summary()
    assert_spec_invariants(twins[:200], tann[:200], CFG)


def test_same_seed_same_twins(base) -> None:
    images, ann = base
    a = intervene(images[:200], ann[:200], list(IMPLEMENTED_KINDS), 5)
    b = intervene(images[:200], ann[:200], list(IMPLEMENTED_KINDS), 5)
    assert a[0].tobytes() == b[0].tobytes()
    assert all((a[2][k] == b[2][k]).all() for k in a[2])
    assert len(np.unique(a[2]["kind"])) == len(IMPLEMENTED_KINDS)


def test_bad_kinds_are_one_line_errors(base) -> None:
    images, ann = base
    with pytest.raises(ConfigError, match="unknown kind 'warp'"):
        intervene(images[:2], ann[:2], ["warp"], 0)
    with pytest.raises(ConfigError, match="kind 'add' is not implemented yet"):
        intervene(images[:2], ann[:2], ["add"], 0)
    one = np.flatnonzero(ann.num_objects == 1)[:1]
    with pytest.raises(ConfigError, match="row 0: none of the kinds remove applies"):
        intervene(images[one], ann[one], ["remove"], 0)
