"""What each array of a split means to xarray and CF-aware readers: dimension names, attributes.

Plain data, no I/O: `gridstore.storage.layout.array_docs` writes it into every
new version's zarr.json documents, and `gridstore.read.xarray` reads it back to
tidy versions written before it.
"""

from __future__ import annotations

from typing import Any

from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.pairs.layout import GROUP_ATTRS, RECORD_ATTRS, RECORD_DIMS

__all__ = [
    "ARRAY_ATTRS",
    "ARRAY_DIMS",
    "BBOX_COORD",
    "BBOX_LABELS",
    "GROUP_ATTRS",
    "attrs_of",
    "dims_of",
]

# Dimension names, shared between arrays so that xarray aligns a split's arrays
# (versions before them named every axis apart: images_dim1, object_type_dim1, ...).
ARRAY_DIMS: dict[str, tuple[str, ...]] = {
    "images": ("image", "row", "col"),
    "instance_map": ("image", "row", "col"),
    "num_objects": ("image",),
    "object_bbox": ("image", "object", "bbox"),
    "*": ("image", "object"),  # the other per-object arrays
}
BBOX_LABELS = ("row_min", "col_min", "row_max", "col_max")  # object_bbox's bbox axis, in order
BBOX_COORD = "bbox"  # the small array of a split that holds BBOX_LABELS (xarray's coordinate)
_COLOURS = tuple(f"colour_{c}" for c in range(1, 10))


def _flags(*meanings: str) -> dict[str, Any]:
    """CF flag attributes of codes 0, 1, ... that mean ``meanings``."""
    return {"flag_values": list(range(len(meanings))), "flag_meanings": " ".join(meanings)}


# CF-style attributes per array (what xarray shows). Codes are flags (no units);
# a subtype's meaning depends on its object's type, which one flag list cannot
# say, so it has a list per type instead. No _FillValue or missing_value: xarray
# would turn the 0s (background, empty slots) into NaN.
ARRAY_ATTRS: dict[str, dict[str, Any]] = {
    "images": {
        "long_name": "cell colour",
        **_flags("background", *_COLOURS),
        "comment": "0 is the background; 1..9 index the ARC palette",
    },
    "instance_map": {
        "long_name": "object of each cell",
        "comment": "0 is the background; k >= 1 is the k-th placed object, at object = k - 1",
    },
    "num_objects": {"long_name": "number of objects in the image", "units": "1"},
    "object_type": {"long_name": "object type", **_flags("none", *OBJECT_TYPES)},
    "object_subtype": {
        "long_name": "object subtype: line orientation or pattern family",
        "flag_meanings_by_type": {
            "line": _flags(*LINE_ORIENTATIONS),
            "pattern": _flags(*PATTERN_FAMILIES),
        },
        "comment": "a code's meaning depends on object_type (flag_meanings_by_type, by type "
        "name); 0 for blobs, rectangles and empty slots",
    },
    "object_colour": {"long_name": "object colour", **_flags("none", *_COLOURS)},
    "object_size": {"long_name": "object size", "units": "cells", "comment": "0 for empty slots"},
    "object_bbox": {
        "long_name": "object bounding box",
        "units": "cells",
        "bbox_labels": list(BBOX_LABELS),
        "comment": "along bbox: row_min, col_min, row_max, col_max (bbox_labels), 0-based and "
        "inclusive; 0s for empty slots",
    },
}


def dims_of(array: str) -> tuple[str, ...]:
    """The dimension names of ``array``: a name of `gridstore.storage.FIELDS`, or of a pair
    array (``pair/images``: as ``images``; ``intervention/kind``: its own)."""
    if array in RECORD_DIMS:
        return RECORD_DIMS[array]
    return ARRAY_DIMS.get(array.rpartition("/")[2], ARRAY_DIMS["*"])


def attrs_of(array: str) -> dict[str, Any]:
    """The CF-style attributes of ``array`` (named as in `dims_of`)."""
    if array in RECORD_ATTRS:
        return RECORD_ATTRS[array]
    return ARRAY_ATTRS.get(array.rpartition("/")[2], {})
