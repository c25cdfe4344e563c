"""The generator's vocabulary (gridstore.generate.vocab): type codes and `Annotations`.

Codes and field layouts are those of docs/internals.md's annotation table; they
are part of what a stored dataset means.
"""

from __future__ import annotations

import numpy as np
import pytest

from gridstore.generate.kernel import BLOB, LINE, PATTERN, RECTANGLE
from gridstore.generate.vocab import (
    LINE_ORIENTATIONS,
    OBJECT_TYPES,
    PATTERN_FAMILIES,
    ROUTING_BLOCK_IMAGES,
    Annotations,
)

FIELDS = {  # docs/internals.md: name -> (shape for n=3, G=5, K=2; dtype), in storage order
    "num_objects": ((3,), np.uint8),
    "object_type": ((3, 2), np.uint8),
    "object_subtype": ((3, 2), np.uint8),
    "object_colour": ((3, 2), np.uint8),
    "object_size": ((3, 2), np.uint16),
    "object_bbox": ((3, 2, 4), np.uint8),
    "instance_map": ((3, 5, 5), np.uint8),
}


def test_codes_are_the_documented_ones() -> None:
    """object_type 1..4, line and pattern subtypes 0.., as the annotation table documents."""
    assert OBJECT_TYPES == ("blob", "rectangle", "line", "pattern")
    assert LINE_ORIENTATIONS == ("horizontal", "vertical", "diagonal", "anti_diagonal")
    assert PATTERN_FAMILIES == ("checkerboard", "L", "T", "plus", "zigzag")
    # the kernel writes the same codes
    codes = {name: OBJECT_TYPES.index(name) + 1 for name in OBJECT_TYPES}
    assert codes == {"blob": BLOB, "rectangle": RECTANGLE, "line": LINE, "pattern": PATTERN}


def test_routing_block_size_is_fixed() -> None:
    """Part of the byte layout of every stored dataset: changing it changes every dataset."""
    assert ROUTING_BLOCK_IMAGES == 5000


def test_empty_annotations_have_the_documented_layout() -> None:
    ann = Annotations.empty(3, grid_size=5, max_objects=2)
    assert Annotations.names() == tuple(FIELDS)
    assert list(ann.as_dict()) == list(FIELDS)
    for name, (shape, dtype) in FIELDS.items():
        arr = getattr(ann, name)
        assert (arr.shape, arr.dtype) == (shape, dtype), name
        assert not arr.any(), name
    assert len(ann) == 3
    assert len(Annotations.empty(0, 16, 4)) == 0


def _numbered(n: int) -> Annotations:
    """Annotations whose every value tells its row apart."""
    ann = Annotations.empty(n, grid_size=3, max_objects=2)
    for arr in ann.as_dict().values():
        arr[...] = np.arange(n).reshape((n,) + (1,) * (arr.ndim - 1)) + 1
    return ann


def _assert_equal(a: Annotations, b: Annotations) -> None:
    for name in Annotations.names():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_indexing_selects_rows_of_every_field() -> None:
    ann = _numbered(6)
    part = ann[slice(2, 5)]
    assert len(part) == 3
    assert part.num_objects.tolist() == [3, 4, 5]
    assert (part.instance_map[1] == 4).all()
    mask = np.array([True, False, False, False, False, True])
    picked = ann[mask]
    assert picked.object_bbox[:, 0, 0].tolist() == [1, 6]
    assert picked.object_size.dtype == np.uint16


def test_concatenate_undoes_slicing() -> None:
    ann = _numbered(7)
    parts = [ann[slice(0, 2)], ann[slice(2, 2)], ann[slice(2, 7)]]
    _assert_equal(Annotations.concatenate(parts), ann)


def test_annotations_are_frozen() -> None:
    ann = Annotations.empty(1, 4, 1)
    with pytest.raises(AttributeError):
        ann.num_objects = np.ones(1, np.uint8)  # type: ignore[misc]
