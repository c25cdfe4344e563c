"""The published row: columns, class names, and the mapping between a store chunk and rows.

One row per image. Per-object arrays keep only the image's objects (the first
``num_objects`` slots; the store pads the rest with zeros), and
``object_subtype`` becomes one label set over lines and patterns (a subtype
code means a line orientation or a pattern family depending on the type).
`to_rows` and `from_rows` convert a chunk's arrays both ways, so every
exporter and every round trip goes through the same two functions. Plain
numpy only: the Hugging Face feature spec is a dict, built without ``datasets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gridstore.errors import ConfigError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.storage.layout import FIELDS

__all__ = [
    "CLASS_NAMES",
    "COLOUR_NAMES",
    "COLUMNS",
    "OBJECT_FIELDS",
    "STORE_FIELDS",
    "check_fields",
    "from_rows",
    "hf_features",
    "to_rows",
]

#: ARC's names for the cell values 0..9 (0 is the background).
COLOUR_NAMES = (
    "black", "blue", "red", "green", "yellow", "grey", "magenta", "orange", "azure", "maroon",
)  # fmt: skip
_PATTERN = OBJECT_TYPES.index("pattern") + 1

#: Class names of the labelled per-object columns; a label is its name's index.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "object_type": ("none", *OBJECT_TYPES),  # the store's codes: 1..4, 0 unused here
    "object_subtype": ("none", *LINE_ORIENTATIONS, *PATTERN_FAMILIES),
    "object_colour": COLOUR_NAMES,  # the store's codes: 1..9
}
#: The store's arrays a row is made of: every array of a split.
STORE_FIELDS = FIELDS
#: Per-object arrays: one entry per object of the image.
OBJECT_FIELDS = ("object_type", "object_subtype", "object_colour", "object_size", "object_bbox")
#: Published columns, in order: ``index`` is the image's row in the store's split.
COLUMNS = ("index", "image", "num_objects", *OBJECT_FIELDS, "instance_map")

_DESCRIPTIONS = {
    "index": "Row of the image in its split of the gridstore version.",
    "image": "The image: cell values 0..9 (0 is the black background), one row per list.",
    "num_objects": "Number of objects placed in the image.",
    "object_type": "Type of each object: blob, rectangle, line or pattern.",
    "object_subtype": "Line orientation or pattern family of each object ('none' for blobs and rectangles).",
    "object_colour": "Colour of each object (cell value 1..9, ARC names).",
    "object_size": "Number of cells of each object.",
    "object_bbox": "Bounding box of each object: row_min, col_min, row_max, col_max (inclusive).",
    "instance_map": "Cell-wise object map: 0 background, k the k-th placed object (1-based).",
}


def description(column: str) -> str:
    """Return the one-line description of published column ``column``."""
    return _DESCRIPTIONS[column]


def hf_features(grid: int) -> dict[str, Any]:
    """Return the Hugging Face ``Features`` of a row, as ``Features.to_dict()`` gives it.

    Parameters
    ----------
    grid : int
        Side of the square images.

    Returns
    -------
    dict
        Column name to feature spec (``Array2D``, ``List``, ``ClassLabel``, ``Value``).

    Examples
    --------
    >>> hf_features(16)["object_type"]["feature"]["names"][:2]
    ['none', 'blob']
    """
    array = {"shape": [grid, grid], "dtype": "uint8", "_type": "Array2D"}

    def value(dtype: str) -> dict[str, Any]:
        return {"dtype": dtype, "_type": "Value"}

    def listed(feature: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"feature": feature, **extra, "_type": "List"}

    labels = {k: listed({"names": list(v), "_type": "ClassLabel"}) for k, v in CLASS_NAMES.items()}
    return {
        "index": value("int64"),
        "image": dict(array),
        "num_objects": value("uint8"),
        **labels,
        "object_size": listed(value("uint16")),
        "object_bbox": listed(listed(value("uint8"), length=4)),
        "instance_map": dict(array),
    }


def check_fields(fields: list[str], where: str) -> None:
    """Raise ConfigError unless ``fields`` holds every array a row is made of."""
    if missing := [f for f in STORE_FIELDS if f not in fields]:
        msg = f"{where} has no '{missing[0]}' array; only versions with every annotation array can be published"
        raise ConfigError(msg)


def to_rows(chunk: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Return the published columns of some rows of a store chunk.

    Parameters
    ----------
    chunk : mapping
        ``index`` (int64 split rows) and each of `STORE_FIELDS`, same length.

    Returns
    -------
    dict
        ``index``, ``image``, ``num_objects``, ``instance_map`` as arrays of
        the rows; each per-object column as ``(values, offsets)``: the objects
        of all rows concatenated, and where each row's objects start (int32,
        one more than the rows) -- the layout of an Arrow list column.
    """
    n = chunk["num_objects"].astype(np.int64)
    slots = chunk["object_type"].shape[1]
    keep = np.arange(slots) < n[:, None]  # the first num_objects slots of each row
    offsets = np.zeros(len(n) + 1, np.int32)
    np.cumsum(n, out=offsets[1:])
    out: dict[str, Any] = {
        "index": np.asarray(chunk["index"], np.int64),
        "image": chunk["images"],
        "num_objects": chunk["num_objects"],
        "instance_map": chunk["instance_map"],
    }
    types = chunk["object_type"][keep]
    for f in OBJECT_FIELDS:
        values = chunk[f][keep]
        if f == "object_subtype":  # pattern families come after the line orientations
            values = values + np.where(
                (types == _PATTERN) & (values > 0), len(LINE_ORIENTATIONS), 0
            )
            values = values.astype(np.uint8)
        out[f] = (values, offsets)
    return out


def from_rows(columns: Mapping[str, Any], slots: int) -> dict[str, np.ndarray]:
    """Return the store's arrays of published rows: the inverse of `to_rows`.

    Parameters
    ----------
    columns : mapping
        ``image``, ``num_objects``, ``instance_map`` and ``index`` as arrays;
        each per-object column as a sequence (one per row) of its objects.
    slots : int
        Object slots of the store's arrays (``max_objects``).

    Returns
    -------
    dict
        ``index`` and each of `STORE_FIELDS`, padded with zeros as the store holds them.
    """
    n = np.asarray(columns["num_objects"], np.uint8)
    out: dict[str, np.ndarray] = {
        "index": np.asarray(columns["index"], np.int64),
        "images": np.asarray(columns["image"], np.uint8),
        "num_objects": n,
        "instance_map": np.asarray(columns["instance_map"], np.uint8),
    }
    for f in OBJECT_FIELDS:
        dtype = np.uint16 if f == "object_size" else np.uint8
        shape = (len(n), slots, 4) if f == "object_bbox" else (len(n), slots)
        arr = np.zeros(shape, dtype)
        for i, objects in enumerate(columns[f]):
            if len(objects):
                arr[i, : len(objects)] = np.asarray(list(objects), dtype)
        out[f] = arr
    sub, types = out["object_subtype"], out["object_type"]
    patterns = (types == _PATTERN) & (sub > 0)
    out["object_subtype"] = np.where(patterns, sub - len(LINE_ORIENTATIONS), sub).astype(np.uint8)
    return out
