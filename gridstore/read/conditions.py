"""The conditions of ``where``: each turns one chunk of a split into a mask of its rows.

Three kinds, all evaluated on one chunk at a time (`ChunkFields`):

- `Match`, the ``field=value`` keywords of one ``where`` call. ``num_objects``
  is tested per image; the per-object fields must hold for the same object slot
  (a slot holding an object, ``object_type > 0``).
- `Predicate`, a function of the chunk's arrays that returns a boolean mask.
- `Bitmap`, a view's rows stored one bit per row: what a view whose predicate
  does not pickle becomes when it is pickled (see `gridstore.read.view`).

Values are normalised here, once, into inclusive intervals of codes, so that a
condition pickles small and tests ``lo <= a <= hi`` on the chunk's arrays.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gridstore.arguments import is_integer
from gridstore.errors import ConfigError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.pairs.layout import INTERVENTION, KINDS
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

#: Fields ``where`` takes as keywords: one image-level field, then the per-object ones, then
#: a paired version's intervention kind (image-level: the array ``intervention/kind``).
WHERE_FIELDS = ("num_objects", "object_type", "object_subtype", "object_colour", "object_size",
                "intervention")  # fmt: skip
_ARRAYS = {"intervention": f"{INTERVENTION}/kind"}  # a keyword's array, where not its own name
_IMAGE_LEVEL = ("num_objects", f"{INTERVENTION}/kind")

# A value's alternative: (field, lo, hi) tests that must all hold (a subtype name
# also fixes the type: subtype codes are per type).
Alternative = tuple[tuple[str, int, int], ...]

_LINE, _PATTERN = OBJECT_TYPES.index("line") + 1, OBJECT_TYPES.index("pattern") + 1
assert _PATTERN == _LINE + 1  # "a line or a pattern" is one interval of codes
_NAMES: dict[str, dict[str, Alternative]] = {
    "object_type": {t: (("object_type", i, i),) for i, t in enumerate(OBJECT_TYPES, 1)},
    "object_subtype": {
        **{s: (("object_type", _LINE, _LINE), ("object_subtype", i, i)) for i, s in enumerate(LINE_ORIENTATIONS)},
        **{s: (("object_type", _PATTERN, _PATTERN), ("object_subtype", i, i)) for i, s in enumerate(PATTERN_FAMILIES)},
    },
    "intervention": {k: ((_ARRAYS["intervention"], i, i),) for i, k in enumerate(KINDS, 1)},
}  # fmt: skip


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

    terms: tuple[tuple[str, tuple[Alternative, ...]], ...]
    text: str

    def mask(self, chunk: ChunkFields) -> np.ndarray:
        """Rows whose image-level terms hold and one object slot holds every per-object term."""
        image, slot = np.ones(chunk.rows, bool), None
        for field, alternatives in self.terms:
            hit = np.zeros(chunk[field].shape, bool)
            for alternative in alternatives:
                both = np.ones(chunk[field].shape, bool)
                for name, lo, hi in alternative:
                    a = chunk[name]
                    both &= (a == lo) if lo == hi else ((a >= lo) & (a <= hi))
                hit |= both
            if field in _IMAGE_LEVEL:
                image &= hit
            else:
                slot = hit & (chunk["object_type"] > 0) if slot is None else slot & hit
        return image if slot is None else image & slot.any(axis=1)


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
        array = _ARRAYS.get(field, field)
        if field in _ARRAYS and array not in arrays:
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
        terms.append((array, _alternatives(field, value, _limits(source, field))))
    text = ", ".join(f"{f}={v!r}" for f, v in conditions.items())
    return Match(tuple(terms), text)


def _limits(source: SplitSource, field: str) -> tuple[int, int]:
    """The valid codes of ``field``, inclusive: from the split's shapes and the vocabulary."""
    if field == "num_objects":  # objects per image: at most the object slots
        return 1, int(source.arrays()["object_type"].shape[1])
    if field == "object_size":  # cells: at most the grid's
        return 1, int(np.prod(source.arrays()["images"].shape[1:]))
    if field == "object_subtype":
        return 0, max(len(LINE_ORIENTATIONS), len(PATTERN_FAMILIES)) - 1
    if field == "intervention":
        return 1, len(KINDS)
    return 1, len(OBJECT_TYPES) if field == "object_type" else 9


def _alternatives(field: str, value: Any, limits: tuple[int, int]) -> tuple[Alternative, ...]:
    """The alternatives ``value`` of ``field`` stands for (any one of them may hold)."""
    many = isinstance(value, list | tuple | set | frozenset | np.ndarray)
    items = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else value
    if not many:
        items = [value]
    elif not items:
        msg = f"where() {field}={value!r} is empty; give at least one value"
        raise ConfigError(msg)
    out: list[Alternative] = []
    lo, hi = limits
    array = _ARRAYS.get(field, field)
    # a subtype code means something for lines and patterns only (0 elsewhere)
    typed: Alternative = (("object_type", _LINE, _PATTERN),) if field == "object_subtype" else ()
    for item in items:
        if isinstance(item, str) and item in _NAMES.get(field, {}):
            out.append(_NAMES[field][item])
        elif is_integer(item) and lo <= item <= hi:
            out.append((*typed, (array, int(item), int(item))))
        elif isinstance(item, range) and (found := _intervals(item, lo, hi)):
            out.extend((*typed, (array, a, b)) for a, b in found)
        else:
            names = f" or a name: {', '.join(_NAMES[field])}" if field in _NAMES else ""
            msg = (
                f"bad where() value {field}={item!r}; {field} takes {lo}..{hi}{names} "
                "(one value, a range or a list of them)"
            )
            raise ConfigError(msg)
    return tuple(out)


def _intervals(values: range, lo: int, hi: int) -> list[tuple[int, int]]:
    """The values of ``values`` within ``lo..hi``, as sorted inclusive intervals."""
    if values.step == 1:
        a, b = max(values.start, lo), min(values.stop - 1, hi)
        return [(a, b)] if a <= b else []
    kept = [v for v in range(lo, hi + 1) if v in values]  # at most grid cells: 65,025
    return [(v, v) for v in kept]


def _where_value(text: str) -> int | str | range:
    """One value of a where text: an int, an inclusive range ``12..15``, or a name."""
    if ".." in text:
        lo, _, hi = text.partition("..")
        try:
            low, high = int(lo), int(hi)
        except ValueError:
            msg = f"range '{text}' must be two integers LO..HI (inclusive), e.g. 12..15"
            raise ConfigError(msg) from None
        if high < low:  # say so, rather than let an empty range(15, 13) fail on other grounds
            msg = f"range '{text}' is empty: LO must be <= HI (both inclusive), e.g. {hi}..{lo}"
            raise ConfigError(msg)
        return range(low, high + 1)
    try:
        return int(text)
    except ValueError:
        return text


def parse_where(text: str) -> dict[str, Any]:
    """Parse the text of one ``--where`` into the keywords of one ``where`` call.

    The text is space-separated ``FIELD=VALUE[,VALUE...]`` terms; a value is an
    int, a name or an inclusive range ``LO..HI``. Only the form is checked
    here; fields and values are checked by `match` (``View.where``). The
    command line's ``--where`` and the browse pages' filter share it.

    Parameters
    ----------
    text : str
        E.g. ``"object_type=blob object_colour=3"``.

    Returns
    -------
    dict of str to value
        One entry per field; several values become a list (any of them).

    Raises
    ------
    ConfigError
        Text that is not of that form (one line with an example).

    Examples
    --------
    >>> parse_where("object_type=blob,line object_size=12..15")
    {'object_type': ['blob', 'line'], 'object_size': range(12, 16)}
    """
    conditions: dict[str, Any] = {}
    for term in text.split():
        field, eq, values = term.partition("=")
        if not (field and eq and values):
            msg = (
                f"'{term}' is not FIELD=VALUE[,VALUE...], e.g. num_objects=1 or object_size=12..15"
            )
            raise ConfigError(msg)
        if field in conditions:
            msg = f"field '{field}' is given twice in '{text}'; list its values: {field}=A,B"
            raise ConfigError(msg)
        parsed = [_where_value(v) for v in values.split(",")]
        conditions[field] = parsed[0] if len(parsed) == 1 else parsed
    if not conditions:
        msg = "an empty --where; give FIELD=VALUE, e.g. num_objects=1"
        raise ConfigError(msg)
    return conditions
