"""The atomic distribution's bytes, pinned: regenerate the golden fixture and compare byte for byte.

``tests/data/golden_atomic.npz`` holds the first 300 images of the corpus stream
(seed 20261125) and the first 100 / 20 / 20 train / val / test images of routing
block 0, with every annotation array and content hash. If this test fails, the
bytes that a (config, seed) pair produces have changed: stored datasets could no
longer be regenerated, validated or extended. Fix the regression; regenerate the
fixture (``python tests/data/make_golden.py``) only when the change is deliberate,
and then bump ``RNG_SCHEME`` in ``gridstore/generate/rng.py`` in the same commit.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gridstore.config import GeneratorConfig, make_config
from gridstore.generate import RNG_SCHEME

DATA = Path(__file__).resolve().parent / "data"
REMEDY = (
    "the atomic distribution's bytes changed: images that a (config, seed) pair made before "
    "can no longer be regenerated, validated or extended. Find the change that did it. "
    "Regenerate tests/data/golden_atomic.npz (python tests/data/make_golden.py) only if the "
    "change is deliberate, and then bump RNG_SCHEME in gridstore/generate/rng.py in the same commit"
)


def _load_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_golden", DATA / "make_golden.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


maker = _load_maker()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(maker.PATH, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@pytest.fixture(scope="module")
def fresh() -> dict[str, np.ndarray]:
    return maker.build()


def test_fixture_is_small_and_complete(golden: dict[str, np.ndarray]) -> None:
    assert maker.PATH.stat().st_size < 100_000
    assert golden["corpus_images"].shape == (maker.CORPUS_IMAGES, 16, 16)
    for split, q in zip(maker.SPLITS, maker.BLOCK_QUOTAS, strict=True):
        assert golden[f"{split}_images"].shape == (q, 16, 16)


def test_fixture_was_made_with_this_rng_scheme(golden: dict[str, np.ndarray]) -> None:
    stored = str(golden["meta_rng_scheme"])
    assert stored == RNG_SCHEME, (
        f"RNG_SCHEME is {RNG_SCHEME!r} but the golden fixture was made with {stored!r}: "
        "regenerate it with python tests/data/make_golden.py in the commit that bumps the scheme"
    )


def test_atomic_preset_unchanged(golden: dict[str, np.ndarray]) -> None:
    stored = json.loads(str(golden["meta_config"]))
    now = make_config("atomic")
    assert GeneratorConfig.from_dict(stored) == now, (
        f"the atomic preset's parameters changed ({now.to_dict()} vs {stored}); {REMEDY}"
    )
    assert int(golden["meta_seed"]) == maker.SEED


def test_regenerated_bytes_match(
    golden: dict[str, np.ndarray], fresh: dict[str, np.ndarray]
) -> None:
    assert set(fresh) == set(golden), f"arrays differ: {sorted(set(fresh) ^ set(golden))}; {REMEDY}"
    changed = []
    for name in sorted(golden):
        if name.startswith("meta_"):
            continue
        a, b = golden[name], fresh[name]
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            where = ""
            if a.shape == b.shape and a.ndim:
                rows = np.flatnonzero((a != b).reshape(len(a), -1).any(axis=1))
                where = f" ({len(rows)} of {len(a)} rows, first {rows[:5].tolist()})"
            changed.append(f"{name}{where}")
    assert not changed, f"changed arrays: {', '.join(changed)}. {REMEDY}"
