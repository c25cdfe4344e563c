"""Hold-out conditions of a plan: parsed once, as a table for the kernel and as terms for numpy.

A condition is one ``--hold-out`` text, in ``--where``'s syntax and with its
same-object semantics (`gridstore.holdout.terms`); an image matches the plan's
conditions when it matches at least one (their union). train, val and test
pass over matching draws; the ``heldout`` split keeps only matching ones
(`gridstore.generate.draws`). Numpy only: plans import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore.errors import ConfigError
from gridstore.holdout.terms import Terms, alternatives, field_limits, mask_of, parse_where

__all__ = [
    "ALL_SPLITS",
    "HELDOUT",
    "HOLD_FIELDS",
    "HoldOut",
    "check_hold_out",
    "heldout_spec",
    "parse_hold_out",
]

HELDOUT = "heldout"  # the split of the images that match
ALL_SPLITS = ("train", "val", "test", HELDOUT)  # every split a version may have, in order
#: Fields a condition may test (the kernel's field codes, in this order).
HOLD_FIELDS = ("num_objects", "object_type", "object_subtype", "object_colour", "object_size")


@dataclass(frozen=True)
class HoldOut:
    """A plan's hold-out conditions: their texts and their terms (see `parse_hold_out`)."""

    texts: tuple[str, ...]
    terms: tuple[Terms, ...]

    def __bool__(self) -> bool:
        return bool(self.texts)

    def table(self) -> np.ndarray:
        """Rows ``(condition, term, alternative, field, lo, hi)``, int64, sorted: the kernel's form."""
        rows = [
            (c, t, a, HOLD_FIELDS.index(name), lo, hi)
            for c, terms in enumerate(self.terms)
            for t, (_, alts) in enumerate(terms)
            for a, alternative in enumerate(alts)
            for name, lo, hi in alternative
        ]
        return np.array(rows, np.int64).reshape(-1, 6)

    def mask(self, fields: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """Rows that match at least one condition (numpy; the kernel's rule, checked apart)."""
        out = np.zeros(rows, bool)
        for terms in self.terms:
            out |= mask_of(terms, fields, rows)
        return out

    def matching(self, fields: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """Per condition, the rows that match it: shape ``(conditions, rows)``."""
        return np.array([mask_of(t, fields, rows) for t in self.terms]).reshape(-1, rows)


def parse_hold_out(texts: Sequence[str] | str, max_objects: int, grid_size: int) -> HoldOut:
    """Parse ``--hold-out`` texts (``--where``'s syntax) for a generator's ranges.

    Parameters
    ----------
    texts : sequence of str, or str
        One condition each, e.g. ``"object_type=blob object_colour=3"``.
    max_objects, grid_size : int
        The generator's: the valid ``num_objects`` and ``object_size``.

    Raises
    ------
    ConfigError
        A text that does not parse, a field a condition cannot test, a bad
        value, or the same condition twice.

    Examples
    --------
    >>> parse_hold_out(["num_objects=4", "object_size=13..15"], 4, 16).texts
    ('num_objects=4', 'object_size=13..15')
    """
    if isinstance(texts, str):
        texts = [texts]
    canonical, parsed = [], []
    for text in texts:
        if not isinstance(text, str):
            msg = f"a hold-out condition is a text like 'num_objects=4', got {text!r}"
            raise ConfigError(msg)
        text = " ".join(text.split())
        keywords = parse_where(text)
        terms = []
        for field, value in keywords.items():
            if field not in HOLD_FIELDS:
                msg = f"--hold-out cannot test '{field}'; choose from {', '.join(HOLD_FIELDS)}"
                raise ConfigError(msg)
            limits = field_limits(field, max_objects, grid_size * grid_size)
            terms.append((field, alternatives(field, value, limits)))
        if text in canonical:
            msg = f"--hold-out '{text}' is given twice"
            raise ConfigError(msg)
        canonical.append(text)
        parsed.append(tuple(terms))
    return HoldOut(tuple(canonical), tuple(parsed))


def check_hold_out(
    texts: Sequence[str], heldout_images: object, config: Any
) -> tuple[tuple[str, ...], int | float | None]:
    """A plan's conditions (their canonical texts) and heldout size, checked.

    Raises
    ------
    ConfigError
        A bad condition or size, or a size without conditions.
    """
    held = parse_hold_out(tuple(texts), config.max_objects, config.grid_size)
    if heldout_images is None:
        return held.texts, None
    if not held:
        msg = "heldout_images needs hold-out conditions (--hold-out)"
        raise ConfigError(msg)
    return held.texts, heldout_spec(heldout_images)


def heldout_spec(value: object) -> int | float:
    """Check ``--heldout-images``: a count (int >= 0) or a fraction of num_images in (0, 1).

    Examples
    --------
    >>> heldout_spec("500"), heldout_spec("0.05")
    (500, 0.05)
    """
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # else refused below, with the text
            value = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        msg = f"heldout images must be a count like 500 or a fraction like 0.05, got {value!r}"
        raise ConfigError(msg)
    if isinstance(value, int | np.integer):
        if value < 0:
            msg = f"heldout images must be >= 0, got {value}"
            raise ConfigError(msg)
        return int(value)
    if not 0 < value < 1:
        msg = f"a heldout fraction must lie in (0, 1) (of num_images), got {value!r}"
        raise ConfigError(msg)
    return float(value)
