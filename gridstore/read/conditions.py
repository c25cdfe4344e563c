"""The conditions of ``where``: each turns one chunk of a split into a mask of its rows.

Three kinds, all evaluated on one chunk at a time (`ChunkFields`):

- `Match`, the ``field=value`` keywords of one ``where`` call. ``num_objects``
  is tested per image; the per-object fields must hold for the same object slot
  (a slot holding an object, ``object_type > 0``).
- `Predicate`, a function of the chunk's arrays that returns a boolean mask.
- `Bitmap`, a view's rows stored one bit per row: what a view whose predicate
  does not pickle becomes when it is pickled (see `gridstore.read.view`).

Values are normalised once (`gridstore.holdout.terms`, which a plan's hold-out
conditions share) into inclusive intervals of codes, so that a condition
pickles small and tests ``lo <= a <= hi`` on the chunk's arrays.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gridstore.errors import ConfigError
from gridstore.holdout.terms import (
    ARRAYS,
    WHERE_FIELDS,
    Terms,
    alternatives,
    field_limits,
    mask_of,
    parse_where,
)
from gridstore.read.source import SplitSource

__all__ = [
    "WHERE_FIELDS",
    "Bitmap",
    "ChunkFields",
    "Condition",
    "Match",
    "Predicate",
    "bitmap",
    "match",
    "parse_where",
    "pickles",
]


class ChunkFields(Mapping[str, np.ndarray]):
    """One chunk of a split's arrays by field name, each read on first access.

    What conditions (and a ``where`` predicate) see: ``chunk["object_size"]`` is
    that chunk's ``(rows, K)`` array. Do not modify the arrays.
    """

    def __init__(self, source: SplitSource, index: int) -> None:
        self.source, self.index = source, index
        size = source.chunk_images
        self.rows = min(size, len(source) - index * size)
        self._read: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._read:
            if name not in self.source.arrays():
                available = ", ".join(self.source.fields)
                msg = (
                    f"unknown field '{name}' in split '{self.source.split}'; available: {available}"
                )
                raise ConfigError(msg)
            self._read[name] = self.source.read(name, self.index)
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.source.fields)

    def __len__(self) -> int:
        return len(self.source.fields)


class Condition(Protocol):
    """A test of a split's rows, one chunk at a time."""

    @property
    def text(self) -> str:
        """How the condition reads in a repr or a title."""
        ...

    def mask(self, chunk: ChunkFields) -> np.ndarray:
        """Return the boolean mask of the chunk's rows that pass."""
        ...


@dataclass(frozen=True)
class Match:
    """The keyword conditions of one ``where`` call (see `match`)."""

    terms: Terms
    text: str

    def mask(self, chunk: ChunkFields) -> np.ndarray:
        """Rows whose image-level terms hold and one object slot holds every per-object term."""
        return mask_of(self.terms, chunk, chunk.rows)


@dataclass(frozen=True)
class Predicate:
    """A function of a chunk's arrays (`ChunkFields`) returning a boolean row mask."""

    function: Callable[[Mapping[str, np.ndarray]], Any]
    text: str

    def mask(self, chunk: ChunkFields) -> np.ndarray:
        """The function's mask of the chunk, checked to be boolean with one entry per row."""
        got = np.asarray(self.function(chunk))
        if got.dtype != np.bool_ or got.shape != (chunk.rows,):
            msg = (
                f"where() predicate {self.text} must return a boolean array of shape "
                f"({chunk.rows},) for chunk {chunk.index}, got {got.dtype} {got.shape}"
            )
            raise ConfigError(msg)
        return got


@dataclass(frozen=True)
class Bitmap:
    """Selected rows stored one bit per row; chunk ``c`` is bytes ``[c * stride, (c + 1) * stride)``."""

    bits: np.ndarray
    stride: int
    text: str

    def mask(self, chunk: ChunkFields) -> np.ndarray:
        """The stored rows of the chunk."""
        packed = self.bits[chunk.index * self.stride : (chunk.index + 1) * self.stride]
        return np.unpackbits(packed, count=chunk.rows).astype(bool)


def pickles(conditions: tuple[Condition, ...]) -> bool:
    """Whether every predicate pickles (module-level functions do; lambdas, local ones not)."""
    try:
        for condition in conditions:
            if isinstance(condition, Predicate):
                pickle.dumps(condition.function)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def bitmap(
    counts: np.ndarray, chunk_rows: Callable[[int], np.ndarray], size: int, n: int, text: str
) -> Bitmap:
    """Pack selected rows into a `Bitmap`, one bit per row of a split of ``n`` rows.

    ``counts`` are the selected rows per chunk of ``size`` rows, and
    ``chunk_rows(c)`` the offsets of chunk ``c``'s (chunks without one are not read).
    """
    stride = -(-size // 8)
    bits = np.zeros(len(counts) * stride, np.uint8)
    for c in map(int, np.flatnonzero(counts)):
        mask = np.zeros(min(size, n - c * size), bool)
        mask[chunk_rows(c)] = True
        packed = np.packbits(mask)
        bits[c * stride : c * stride + len(packed)] = packed
    return Bitmap(bits, stride, text)


def match(source: SplitSource, conditions: Mapping[str, Any]) -> Match:
    """Check and normalise ``field=value`` keywords of ``where`` into a `Match`.

    A value is an int or name, a ``range``, or a list (tuple, set, 1-D array) of
    them, meaning any of these. Names: object types (``object_type``) and line
    orientations and pattern families (``object_subtype``; a subtype name also
    fixes the type). Integer values must lie in the field's range; a range must
    hold at least one value in it.

    Parameters
    ----------
    source : SplitSource
        The split, for the ranges of its fields (objects per image, grid size).
    conditions : mapping of str to value
        The keywords.

    Returns
    -------
    Match

    Raises
    ------
    ConfigError
        An unknown field, a field the split lacks, or a bad value.
    """
    arrays, terms = source.arrays(), []
    for field, value in conditions.items():
        if field not in WHERE_FIELDS:
            msg = f"unknown where() field '{field}'; choose from {', '.join(WHERE_FIELDS)}"
            raise ConfigError(msg)
        array = ARRAYS.get(field, field)
        if field in ARRAYS and array not in arrays:
            msg = (
                f"where() {field}=...: version '{source.version}' has no pairs (it was "
                "generated without --pairs)"
            )
            raise ConfigError(msg)
        for needed in (array, "object_type"):  # object_type: which slots hold an object
            if needed not in arrays:
                msg = (
                    f"split '{source.split}' of version '{source.version}' has no field '{needed}'"
                )
                raise ConfigError(msg)
        terms.append((array, alternatives(field, value, _limits(source, field))))
    text = ", ".join(f"{f}={v!r}" for f, v in conditions.items())
    return Match(tuple(terms), text)


def _limits(source: SplitSource, field: str) -> tuple[int, int]:
    """The valid codes of ``field``, inclusive: from the split's shapes and the vocabulary."""
    arrays = source.arrays()
    cells = int(np.prod(arrays["images"].shape[1:])) if field == "object_size" else 0
    return field_limits(field, int(arrays["object_type"].shape[1]), cells)
