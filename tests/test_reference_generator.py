"""Invariants of the benchmark's pure-Python baseline, so it cannot silently rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_generator.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_generator", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


ref = _load()
NUM_IMAGES = 400


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, list]:
    return ref.generate_reference(NUM_IMAGES, seed=7)


def test_shape_dtype_and_values(corpus: tuple[np.ndarray, list]) -> None:
    images, annotations = corpus
    assert images.shape == (NUM_IMAGES, 16, 16)
    assert images.dtype == np.uint8
    assert images.max() <= 9
    assert len(annotations) == NUM_IMAGES
    assert all(a.instance_map.shape == (16, 16) for a in annotations)


def test_object_counts_sizes_and_colours(corpus: tuple[np.ndarray, list]) -> None:
    _, annotations = corpus
    counts = [a.num_objects for a in annotations]
    assert min(counts) >= 1
    assert max(counts) <= ref.MAX_OBJECTS
    objects = [o for a in annotations for o in a.objects]
    assert all(2 <= o.size <= 15 for o in objects)
    assert all(1 <= o.colour <= 9 for o in objects)
    assert {o.kind for o in objects} == set(ref.TYPES)


def test_annotations_match_pixels_and_no_overlap(corpus: tuple[np.ndarray, list]) -> None:
    images, annotations = corpus
    for image, ann in zip(images, annotations, strict=True):
        instance_map = ann.instance_map
        np.testing.assert_array_equal(image > 0, instance_map > 0)
        # every cell holds one id, so sizes summing to the painted area means no overlap
        assert sum(o.size for o in ann.objects) == np.count_nonzero(image)
        for k, obj in enumerate(ann.objects, start=1):
            rows, cols = np.nonzero(instance_map == k)
            assert rows.size == obj.size
            assert (rows.min(), cols.min(), rows.max(), cols.max()) == obj.bbox
            assert (image[rows, cols] == obj.colour).all()


def test_blobs_are_4_connected(corpus: tuple[np.ndarray, list]) -> None:
    _, annotations = corpus
    for ann in annotations:
        for k, obj in enumerate(ann.objects, start=1):
            if obj.kind != "blob":
                continue
            cells = set(zip(*np.nonzero(ann.instance_map == k), strict=True))
            seen, todo = set(), [next(iter(cells))]
            while todo:
                r, c = todo.pop()
                if (r, c) in seen:
                    continue
                seen.add((r, c))
                todo += [n for n in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)) if n in cells]
            assert seen == cells


def test_deterministic_per_seed() -> None:
    a, _ = ref.generate_reference(50, seed=3)
    b, _ = ref.generate_reference(50, seed=3)
    c, _ = ref.generate_reference(50, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_images": -1}, "num_images must be >= 0, got -1"),
        ({"num_images": 1, "grid_size": 8}, "grid_size must be >= 16 so every shape fits, got 8"),
    ],
    ids=["negative-count", "small-grid"],
)
def test_bad_input(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        ref.generate_reference(**kwargs)
