"""A paired version's twins in `gridstore validate`: the checks of one chunk of one split.

`gridstore.validate.task` calls `check_pair_chunk` after a split's own chunk
passed its reads: the twin and record chunks are read through the same
checked reads (damage is a ``checksums`` failure), the twins must obey every
generator rule (``constraints``), every pair must be what its record says
(`pair_problems`, also ``constraints``), and the twins must be byte for byte
what the writer makes of the stored images (``regeneration``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gridstore.generate.vocab import Annotations
from gridstore.pairs.layout import INTERVENTION, PAIR, RECORD_FIELDS

__all__ = ["check_pair_chunk", "pair_arrays", "twin_verdict"]

_FIELDS = ("images", *Annotations.names())
_SPLITS = ("train", "val", "test")


def pair_arrays() -> tuple[str, ...]:
    """The arrays of a paired version's split beside its own, as `validate` opens them."""
    return (*(f"{PAIR}/{f}" for f in _FIELDS), *(f"{INTERVENTION}/{f}" for f in RECORD_FIELDS))


def check_pair_chunk(
    plan: Any,
    split: str,
    start: int,
    unit: dict[str, np.ndarray],
    read: Callable[[str], np.ndarray | None],
    fail: Callable[[str, str, list[str]], None],
    where: Callable[[np.ndarray], list[str]],
    here: str,
) -> np.ndarray | None:
    """Check the twins of one stored chunk ``unit`` (rows ``start...`` of ``split``).

    ``read(array)`` gives the chunk of a pair array (None if it could not be
    read: already a failure); ``fail(check, note, where)`` records one;
    ``where(rows)`` names rows. Returns the twins' content hashes, for the
    recount of their repeats and leaks (None: a chunk could not be read).
    """
    from gridstore.generate.hashing import content_hashes
    from gridstore.pairs.holdout import twins_of
    from gridstore.pairs.verify import pair_problems
    from gridstore.validate.constraints import check_constraints

    maybe = {name: read(name) for name in pair_arrays()}
    got = {name: v for name, v in maybe.items() if v is not None}
    if len(got) < len(maybe):  # a chunk that could not be read: already a failure
        return None
    twin = {f: got[f"{PAIR}/{f}"] for f in _FIELDS}
    rec = {f: got[f"{INTERVENTION}/{f}"] for f in RECORD_FIELDS}
    images, tann = twin.pop("images"), twin
    for rule, idx in check_constraints(images, tann, plan.config).violations.items():
        fail("constraints", f"{here}: twins: {rule} broken in {len(idx)} images", where(idx))
    ann = {f: unit[f] for f in Annotations.names()}
    for what, rows in pair_problems(
        unit["images"], ann, images, tann, rec, plan.config.line_weights
    ).items():
        fail("constraints", f"{here}: pairs: {what} ({len(rows)} rows)", where(rows))
    k = _SPLITS.index(split)
    want_img, want_ann, want_rec = twins_of(plan, k, start, unit["images"], Annotations(**ann))
    want = {f"{PAIR}/images": want_img, **{f"{PAIR}/{f}": v for f, v in want_ann.as_dict().items()}}
    want |= {f"{INTERVENTION}/{f}": v for f, v in want_rec.items()}
    diff = [name for name in pair_arrays() if not np.array_equal(got[name], want[name])]
    if diff:
        rows = np.logical_or.reduce(
            [np.not_equal(got[n], want[n]).reshape(len(images), -1).any(1) for n in diff]
        )
        bad = np.flatnonzero(rows)
        fail("regeneration", f"{here}: {', '.join(diff)} differ from the twins of the stored "
             f"images in {len(bad)} rows", where(bad))  # fmt: skip
    return content_hashes(images)


def twin_verdict(counted: dict[str, int], meta: dict[str, Any], passed: str) -> tuple[bool, str]:
    """``(problem, text)``: a full validation's recount of the twins' repeats and leaks.

    ``counted`` (`count_twin_repeats` over every twin) against the metadata's;
    ``passed`` is the duplicates check's text so far.
    """
    recorded = (meta.get("pairs") or {}).get("duplicates")
    if counted != recorded:
        return True, f"the twins' recounted {counted} differ from the metadata's {recorded}"
    return False, f"{passed}; the twins' repeats and leaks recounted, as recorded"
