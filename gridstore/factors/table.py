"""The factor table: names, codes and ranges of the generative factors (plain numpy).

An image's factors are ``num_objects`` and, per object slot, its type, subtype,
colour, size, and the row and column of its bounding box's top-left corner.
Codes are the annotations' own (docs/internals.md, *Annotations*), so factors
and annotations compare directly. A slot past ``num_objects`` is empty: every
factor 0. In :func:`gridstore.factors.render`'s input, ``-1`` leaves a factor free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES, Annotations

__all__ = ["FACTOR_TABLE", "FREE", "IMAGE_FACTORS", "OBJECT_FACTORS", "Factor", "factors_of"]

FREE = -1  # a factor render draws, as the generator would, given the fixed ones


class Factor(NamedTuple):
    """One row of the factor table."""

    name: str
    level: str  # "image" (shape (n,)) or "object" (shape (n, K))
    codes: str  # the values it takes; config fields in braces
    meaning: str


FACTOR_TABLE: tuple[Factor, ...] = (
    Factor("num_objects", "image", "{min_objects}..{max_objects}", "objects placed in the image"),
    Factor(
        "object_type",
        "object",
        "1..4",
        " ".join(f"{i}={t}" for i, t in enumerate(OBJECT_TYPES, 1)) + "; 0 = empty slot",
    ),
    Factor(
        "object_subtype",
        "object",
        "0..4",
        "blob, rectangle: 0; line: "
        + " ".join(f"{i}={o}" for i, o in enumerate(LINE_ORIENTATIONS))
        + "; pattern: "
        + " ".join(f"{i}={f}" for i, f in enumerate(PATTERN_FAMILIES)),
    ),
    Factor("object_colour", "object", "1..9", "ARC colour of every cell of the object"),
    Factor("object_size", "object", "{min_size}..{max_size}", "cells in the object"),
    Factor("object_row", "object", "0..{grid_size}-1", "top row of the bounding box"),
    Factor("object_col", "object", "0..{grid_size}-1", "left column of the bounding box"),
)
IMAGE_FACTORS = tuple(f.name for f in FACTOR_TABLE if f.level == "image")
OBJECT_FACTORS = tuple(f.name for f in FACTOR_TABLE if f.level == "object")


def factors_of(annotations: Annotations | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the factors an image's annotations record.

    Parameters
    ----------
    annotations : Annotations or mapping
        ``num_objects``, ``object_type``, ``object_subtype``, ``object_colour``,
        ``object_size`` and ``object_bbox`` of ``n`` images with ``K`` slots.

    Returns
    -------
    dict of str to ndarray
        ``num_objects`` (n,) and the object factors (n, K), int16, in
        the order of `FACTOR_TABLE`; empty slots hold 0.

    Examples
    --------
    >>> ann = Annotations.empty(2, grid_size=16, max_objects=3)
    >>> sorted(factors_of(ann))[:2], factors_of(ann)["object_row"].shape
    (['num_objects', 'object_col'], (2, 3))
    """
    get = annotations.as_dict() if isinstance(annotations, Annotations) else annotations
    bbox = np.asarray(get["object_bbox"])
    out = {"num_objects": np.asarray(get["num_objects"]).astype(np.int16)}
    for name in ("object_type", "object_subtype", "object_colour", "object_size"):
        out[name] = np.asarray(get[name]).astype(np.int16)
    out["object_row"] = bbox[..., 0].astype(np.int16)
    out["object_col"] = bbox[..., 1].astype(np.int16)
    return out


def table_markdown() -> str:
    """The factor table as Markdown (what README and docs show)."""
    lines = ["| factor | level | codes | meaning |", "|---|---|---|---|"]
    lines += [f"| `{f.name}` | {f.level} | {f.codes} | {f.meaning} |" for f in FACTOR_TABLE]
    return "\n".join(lines)
