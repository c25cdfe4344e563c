"""The rewritten kernel draws the very bytes of the one before it (benchmarks/reference_kernel.py).

Issue 26 rewrote ``gridstore/generate/kernel.py`` for speed. Every version
written before must still validate by regeneration and grow to the same bytes,
so the new kernel must match the old one exactly: images, every annotation
array (instance maps included) and content hashes, over many seeds and
configurations (presets, type weights, object counts, compactness, grids on
both sides of the 64-cell bit-row limit, crowded grids that skip objects).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gridstore.config import GeneratorConfig, make_config
from gridstore.generate.batch import generate_images
from gridstore.generate.hashing import content_hashes
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_kernel.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_kernel", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _load()

CONFIGS = {
    "atomic": (make_config(), 4000),
    "shapes": (make_config("shapes"), 3000),
    "atomic_crowded": (make_config(min_objects=6, max_objects=12), 1500),
    "blobs_only_compact_1.7": (
        make_config(type_weights=(1, 0, 0, 0), blob_compactness=1.7, max_objects=6),
        1500,
    ),
    "blobs_compact_1": (
        make_config(blob_compactness=1.0, min_size=1, max_size=30, type_weights={"line": 0}),
        1000,
    ),
    "rect_line_heavy": (make_config(type_weights=(0.1, 0.5, 0.4, 0)), 1500),
    "patterns_only": (make_config(type_weights=(0, 0, 0, 1), max_objects=8), 1500),
    "g4_fill": (
        make_config(
            grid_size=4,
            min_size=1,
            max_size=4,
            min_objects=6,
            max_objects=12,
            type_weights={"blob": 0},
            pattern_weights={"plus": 0},
        ),
        1500,
    ),
    "g5_blobs_rects": (
        make_config(
            grid_size=5,
            min_size=1,
            max_size=5,
            min_objects=2,
            max_objects=9,
            type_weights=(1, 1, 0, 0),
        ),
        1500,
    ),
    "g2_full_grid_blobs": (
        make_config(
            grid_size=2,
            min_size=1,
            max_size=1,
            min_objects=5,
            max_objects=5,
            type_weights={"rectangle": 0, "line": 0, "pattern": 0},
        ),
        200,
    ),
    "g64_bit_rows": (make_config(grid_size=64, min_objects=20, max_objects=60, max_size=30), 40),
    "g70_cell_scan": (make_config(grid_size=70, min_objects=20, max_objects=60, max_size=30), 30),
}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("seed", [0, 2**64 - 1 - 12345])
def test_new_kernel_draws_the_bytes_of_the_old(name: str, seed: int) -> None:
    config, n = CONFIGS[name]
    start = ROUTING_BLOCK_IMAGES - n // 2  # across a routing block's end
    want_images, want_ann, want_hashes = reference.generate_images_reference(
        config, seed, start, start + n
    )
    images, ann = generate_images(config, seed, start, start + n)
    assert want_images.any()  # a comparison of something
    np.testing.assert_array_equal(images, want_images)
    for field, want in want_ann.as_dict().items():
        np.testing.assert_array_equal(getattr(ann, field), want, err_msg=field)
    np.testing.assert_array_equal(content_hashes(images), want_hashes)


def test_reference_is_the_kernel_of_record() -> None:
    """The reference reproduces the golden fixture's corpus images (so it is the old kernel)."""
    with np.load(Path(__file__).resolve().parents[1] / "data" / "golden_atomic.npz") as golden:
        want = golden["corpus_images"]
        want_inst = golden["corpus_instance_map"]
    config: GeneratorConfig = make_config("atomic")
    images, ann, _ = reference.generate_images_reference(config, 20261125, 0, len(want))
    np.testing.assert_array_equal(images, want)
    np.testing.assert_array_equal(ann.instance_map, want_inst)
