"""The terms of a ``where`` text, and their test on arrays: shared by views and hold-out conditions.

Plain Python and numpy, so that plans (``--hold-out``) and readers (``--where``)
parse one syntax into the same terms. A text is space-separated
``FIELD=VALUE[,VALUE...]`` terms (`parse_where`); `alternatives` normalises a
value into inclusive intervals of codes, and `mask_of` tests the terms with
the same-object semantics: ``num_objects`` (and a pair's intervention) per
image, every per-object term on one and the same object slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gridstore.arguments import is_integer
from gridstore.errors import ConfigError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.pairs.layout import INTERVENTION, KINDS

__all__ = [
    "ARRAYS",
    "IMAGE_LEVEL",
    "WHERE_FIELDS",
    "Alternative",
    "Terms",
    "alternatives",
    "field_limits",
    "mask_of",
    "parse_where",
]

#: Fields ``where`` takes as keywords: one image-level field, then the per-object ones, then
#: a paired version's intervention kind (image-level: the array ``intervention/kind``).
WHERE_FIELDS = ("num_objects", "object_type", "object_subtype", "object_colour", "object_size",
                "intervention")  # fmt: skip
ARRAYS = {"intervention": f"{INTERVENTION}/kind"}  # a keyword's array, where not its own name
IMAGE_LEVEL = ("num_objects", f"{INTERVENTION}/kind")

# A value's alternative: (field, lo, hi) tests that must all hold (a subtype name
# also fixes the type: subtype codes are per type).
Alternative = tuple[tuple[str, int, int], ...]

_LINE, _PATTERN = OBJECT_TYPES.index("line") + 1, OBJECT_TYPES.index("pattern") + 1
assert _PATTERN == _LINE + 1  # "a line or a pattern" is one interval of codes
NAMES: dict[str, dict[str, Alternative]] = {
    "object_type": {t: (("object_type", i, i),) for i, t in enumerate(OBJECT_TYPES, 1)},
    "object_subtype": {
        **{s: (("object_type", _LINE, _LINE), ("object_subtype", i, i)) for i, s in enumerate(LINE_ORIENTATIONS)},
        **{s: (("object_type", _PATTERN, _PATTERN), ("object_subtype", i, i)) for i, s in enumerate(PATTERN_FAMILIES)},
    },
    "intervention": {k: ((ARRAYS["intervention"], i, i),) for i, k in enumerate(KINDS, 1)},
}  # fmt: skip


# One field's term: the field's array and the alternatives its value stands for.
Terms = tuple[tuple[str, tuple[Alternative, ...]], ...]


def field_limits(field: str, max_objects: int, cells: int) -> tuple[int, int]:
    """The valid codes of ``field``, inclusive, for ``max_objects`` slots and ``cells`` per grid."""
    if field == "num_objects":  # objects per image: at most the object slots
        return 1, max_objects
    if field == "object_size":  # cells: at most the grid's
        return 1, cells
    if field == "object_subtype":
        return 0, max(len(LINE_ORIENTATIONS), len(PATTERN_FAMILIES)) - 1
    if field == "intervention":
        return 1, len(KINDS)
    return 1, len(OBJECT_TYPES) if field == "object_type" else 9


def mask_of(terms: Terms, fields: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
    """Rows whose image-level terms hold and one object slot holds every per-object term.

    ``fields[name]`` is the ``(rows, ...)`` array of a field (read when needed).
    """
    image, slot = np.ones(rows, bool), None
    for field, alts in terms:
        hit = np.zeros(fields[field].shape, bool)
        for alternative in alts:
            both = np.ones(fields[field].shape, bool)
            for name, lo, hi in alternative:
                a = fields[name]
                both &= (a == lo) if lo == hi else ((a >= lo) & (a <= hi))
            hit |= both
        if field in IMAGE_LEVEL:
            image &= hit
        else:
            slot = hit & (fields["object_type"] > 0) if slot is None else slot & hit
    return image if slot is None else image & slot.any(axis=1)


def alternatives(field: str, value: Any, limits: tuple[int, int]) -> tuple[Alternative, ...]:
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
    array = ARRAYS.get(field, field)
    # a subtype code means something for lines and patterns only (0 elsewhere)
    typed: Alternative = (("object_type", _LINE, _PATTERN),) if field == "object_subtype" else ()
    for item in items:
        if isinstance(item, str) and item in NAMES.get(field, {}):
            out.append(NAMES[field][item])
        elif is_integer(item) and lo <= item <= hi:
            out.append((*typed, (array, int(item), int(item))))
        elif isinstance(item, range) and (found := _intervals(item, lo, hi)):
            out.extend((*typed, (array, a, b)) for a, b in found)
        else:
            names = f" or a name: {', '.join(NAMES[field])}" if field in NAMES else ""
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


def where_value(text: str) -> int | str | range:
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
        parsed = [where_value(v) for v in values.split(",")]
        conditions[field] = parsed[0] if len(parsed) == 1 else parsed
    if not conditions:
        msg = "an empty --where; give FIELD=VALUE, e.g. num_objects=1"
        raise ConfigError(msg)
    return conditions
