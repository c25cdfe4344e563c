"""Hold-out conditions inside the draw loop: does a drawn image match one of them?

The conditions arrive as a table (`gridstore.holdout.spec.HoldOut.table`): one
row ``(condition, term, alternative, field, lo, hi)`` per test, sorted. A
condition holds when each of its image-level terms holds and one object slot
holds every per-object term; a term holds when one of its alternatives passes
all its tests. `gridstore.holdout.terms.mask_of` is the same rule on arrays
(the validator's check of what this kernel decided).
"""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel

__all__ = ["HOLD_NONE", "HOLD_ONLY", "HOLD_OUT", "NO_CONDITIONS", "matches_any"]

# What `batch._fill` does with a draw that matches: nothing (only flag it),
# pass over it (train/val/test), or keep only such draws (the heldout split).
HOLD_NONE, HOLD_OUT, HOLD_ONLY = 0, 1, 2
NO_CONDITIONS = np.zeros((0, 6), np.int64)
_NUM_OBJECTS = 0  # field codes: gridstore.holdout.spec.HOLD_FIELDS order


@kernel
def _value(field, n, otype, osub, ocol, osize, s):
    if field == 0:
        return np.int64(n)
    if field == 1:
        return np.int64(otype[s])
    if field == 2:
        return np.int64(osub[s])
    if field == 3:
        return np.int64(ocol[s])
    return np.int64(osize[s])


@kernel
def _term_holds(table, a, b, n, otype, osub, ocol, osize, s):
    """Whether one alternative of the term in rows ``[a, b)`` passes all its tests at slot ``s``."""
    i = a
    while i < b:
        alt = table[i, 2]
        ok = True
        while i < b and table[i, 2] == alt:
            v = _value(table[i, 3], n, otype, osub, ocol, osize, s)
            if v < table[i, 4] or v > table[i, 5]:
                ok = False
            i += 1
        if ok:
            return True
    return False


@kernel
def _condition_holds(table, a, b, n, otype, osub, ocol, osize):
    """Whether the condition in rows ``[a, b)`` holds (see the module docstring)."""
    per_object = False
    i = a
    while i < b:  # image-level terms first
        e = i
        while e < b and table[e, 1] == table[i, 1]:
            e += 1
        if table[i, 3] == _NUM_OBJECTS:
            if not _term_holds(table, i, e, n, otype, osub, ocol, osize, 0):
                return False
        else:
            per_object = True
        i = e
    if not per_object:
        return True
    for s in range(otype.shape[0]):
        if otype[s] == 0:
            continue
        every = True
        i = a
        while i < b and every:
            e = i
            while e < b and table[e, 1] == table[i, 1]:
                e += 1
            if table[i, 3] != _NUM_OBJECTS and not _term_holds(
                table, i, e, n, otype, osub, ocol, osize, s
            ):
                every = False
            i = e
        if every:
            return True
    return False


@kernel
def matches_any(table, n, otype, osub, ocol, osize):
    """Whether an image (its object count and per-slot annotations) matches a condition."""
    rows = table.shape[0]
    r = 0
    while r < rows:
        e = r
        while e < rows and table[e, 0] == table[r, 0]:
            e += 1
        if _condition_holds(table, r, e, n, otype, osub, ocol, osize):
            return True
        r = e
    return False
