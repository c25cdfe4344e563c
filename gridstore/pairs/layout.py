"""Where a version's counterfactual pairs live, and what their arrays mean (plain data, no I/O).

A paired version's split group holds, beside its own arrays::

    <split>/pair/            a group: the twins, row i the twin of the split's image i
        images, num_objects, object_type, ..., instance_map, bbox   (as the split's own)
    <split>/intervention/    a group: row i says how twin i differs from image i
        kind, slot, old_colour, new_colour, offset, rotation, flip, permutation

Every array is chunked along images as the split's own arrays are, so task
``t`` writes chunk ``t`` of each. Numpy only: plans, storage and readers import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridstore.errors import ConfigError

__all__ = [
    "FLIPS",
    "GROUP_ATTRS",
    "INTERVENTION",
    "KINDS",
    "PAIR",
    "RECORD_ATTRS",
    "RECORD_DIMS",
    "RECORD_FIELDS",
    "check_kinds",
    "describe",
    "pair_shapes",
]

#: Intervention kinds, coded 1..9 in this order (issue 21's list); 0 is never stored.
KINDS = (
    "recolour",
    "move",
    "remove",
    "add",
    "reshape",
    "rotate",
    "flip",
    "permute_colours",
    "translate",
)
FLIPS = ("horizontal", "vertical", "transpose")  # flip codes 1..3: left-right, up-down, diagonal
PAIR = "pair"  # the group of the twins (the split's arrays, of the twins)
INTERVENTION = "intervention"  # the group of the records
# A record's arrays: (shape of one row, dtype).
RECORD_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "kind": ((), "uint8"),  # 1..9, KINDS order
    "slot": ((), "int16"),  # the object acted on (its slot in the base; add: the new slot), else -1
    "old_colour": ((), "uint8"),  # recolour
    "new_colour": ((), "uint8"),
    "offset": ((2,), "int8"),  # move, translate: (rows, cols)
    "rotation": ((), "uint8"),  # rotate: quarter turns counter-clockwise (np.rot90), 1..3
    "flip": ((), "uint8"),  # flip: 1..3, FLIPS order
    "permutation": ((10,), "uint8"),  # permute_colours: colour c becomes permutation[c]
}
_EXTRA_DIM = {"offset": "offset_axis", "permutation": "colour"}  # the second axis's name
RECORD_DIMS: dict[str, tuple[str, ...]] = {
    f"{INTERVENTION}/{name}": ("image", *([_EXTRA_DIM[name]] if name in _EXTRA_DIM else []))
    for name in RECORD_FIELDS
}


def _flags(values: range, meanings: Sequence[str]) -> dict[str, Any]:
    return {"flag_values": list(values), "flag_meanings": " ".join(meanings)}


# CF-style attributes of the record arrays (the twins' arrays take the split's own).
RECORD_ATTRS: dict[str, dict[str, Any]] = {
    f"{INTERVENTION}/kind": {
        "long_name": "intervention kind",
        **_flags(range(1, len(KINDS) + 1), KINDS),
    },
    f"{INTERVENTION}/slot": {
        "long_name": "object slot the intervention acts on",
        "comment": "the object's index in the base image's per-object arrays (add: the new "
        "object's slot in the twin); -1 for image-level kinds",
    },
    f"{INTERVENTION}/old_colour": {
        "long_name": "colour before a recolour",
        "comment": "0 unless kind is recolour",
    },
    f"{INTERVENTION}/new_colour": {
        "long_name": "colour after a recolour",
        "comment": "0 unless kind is recolour",
    },
    f"{INTERVENTION}/offset": {
        "long_name": "offset of a move or translate",
        "units": "cells",
        "offset_labels": ["rows", "cols"],
        "comment": "along offset: rows (down), columns (right); 0s unless kind is move or "
        "translate",
    },
    f"{INTERVENTION}/rotation": {
        "long_name": "quarter turns counter-clockwise (numpy.rot90)",
        "units": "1",
        "comment": "1..3 when kind is rotate, else 0",
    },
    f"{INTERVENTION}/flip": {"long_name": "flip", **_flags(range(4), ("none", *FLIPS))},
    f"{INTERVENTION}/permutation": {
        "long_name": "colour permutation",
        "comment": "along colour: colour c of the base is colour permutation[c] in the twin; "
        "the identity unless kind is permute_colours",
    },
}
GROUP_ATTRS: dict[str, dict[str, Any]] = {
    PAIR: {
        "long_name": "counterfactual twins",
        "comment": "row i is the twin of the split's image i: the same scene under the one "
        "intervention that intervention/ row i records; the arrays mean what the split's own do",
    },
    INTERVENTION: {
        "long_name": "interventions",
        "comment": "row i records how pair/ row i differs from the split's image i",
    },
}


def check_kinds(kinds: str | Sequence[str] | None) -> tuple[str, ...]:
    """The intervention kinds asked for, in `KINDS` order (``()``: no pairs).

    ``kinds`` is a sequence of names, or one string of names separated by
    commas; ``"all"`` means every kind.

    Raises
    ------
    ConfigError
        An unknown kind.

    Examples
    --------
    >>> check_kinds("move,recolour")
    ('recolour', 'move')
    """
    if kinds is None:
        return ()
    if isinstance(kinds, str):
        names = [k.strip() for k in kinds.split(",")]
    elif isinstance(kinds, Sequence):
        names = list(kinds)
    else:
        msg = (
            f"pairs must be kind names (a list, or one string like 'recolour,move'), got {kinds!r}"
        )
        raise ConfigError(msg)
    if names == ["all"]:
        return KINDS
    for k in names:
        if k not in KINDS:
            msg = f"unknown intervention kind {k!r}; choose from {', '.join(KINDS)} (or all)"
            raise ConfigError(msg)
    return tuple(k for k in KINDS if k in names)


def pair_shapes(split: dict[str, tuple]) -> dict[str, tuple]:
    """The pair arrays of a split whose own arrays are ``split`` (name -> (shape, chunks, dtype)).

    The twins' arrays copy the split's; the records are ``(n, ...)`` with the
    split's chunking along images.
    """
    (n, *_), (c, *_), _ = split["images"]
    out = {f"{PAIR}/{name}": spec for name, spec in split.items()}
    for name, (rest, dtype) in RECORD_FIELDS.items():
        out[f"{INTERVENTION}/{name}"] = ((n, *rest), (c, *rest), dtype)
    return out


def describe(record: dict[str, Any], i: int) -> str:
    """Row ``i`` of a batch of records in a few words: ``"recolour 3->5"``, ``"rotate 2"``, ...

    Examples
    --------
    >>> describe({"kind": [6], "rotation": [3]}, 0)
    'rotate 3'
    """
    kind = KINDS[int(record["kind"][i]) - 1]
    if kind == "recolour":
        return f"recolour {int(record['old_colour'][i])}->{int(record['new_colour'][i])}"
    if kind in ("move", "translate"):
        a, b = (int(x) for x in record["offset"][i])
        return f"{kind} {a:+d},{b:+d}"
    if kind == "rotate":
        return f"rotate {int(record['rotation'][i])}"
    if kind == "flip":
        return f"flip {FLIPS[int(record['flip'][i]) - 1]}"
    if kind == "permute_colours":
        perm = record["permutation"][i]
        return "permute " + "".join(str(int(perm[c])) for c in range(1, 10))
    return f"{kind} #{int(record['slot'][i])}"  # remove, add, reshape: the object's slot
