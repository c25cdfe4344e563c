"""The hold-out checks of a validation: no train/val/test image matches, every heldout one does.

Each chunk read is tested against the version's conditions with numpy
(`gridstore.holdout.spec.HoldOut.mask`), apart from the kernel that decided
when the version was written; the heldout split's count is checked against
the plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gridstore.holdout.spec import HELDOUT

__all__ = ["check_heldout_count", "check_hold_out_chunk", "hold_out_passed"]


def check_heldout_count(run: Any, info: dict[str, Any]) -> None:
    """The metadata's and the arrays' heldout count are the plan's (``run``: a validation)."""
    want, got = run.plan.heldout_count, info.get("heldout_count")
    if got != want:
        run.fail("split_counts", f"dataset_info heldout_count {got!r} != the plan's {want}")
    wrong = [
        f"{run.name}/{HELDOUT}/{f}" for f, a in run.arrays[HELDOUT].items() if a.shape[0] != want
    ]
    if wrong:
        run.fail("split_counts", f"{HELDOUT}: {len(wrong)} arrays lack {want} rows", wrong)
    run.passed["split_counts"] += f"; {HELDOUT} {want}, as planned"


def hold_out_passed(plan: Any, scope: str, whole: bool) -> str:
    """What the hold-out check says when it passes."""
    if plan is None or not plan.hold_out:
        return "no hold-out conditions"
    where = "every image" if whole else scope
    return (
        f"{where}: no train/val/test image matches a hold-out condition "
        f"({'; '.join(plan.hold_out)}), every {HELDOUT} image matches one"
    )


def check_hold_out_chunk(
    plan: Any,
    split: str,
    unit: Mapping[str, np.ndarray | None],
    fail: Callable[..., None],
    at: Callable[[np.ndarray], list[str]],
    here: str,
) -> None:
    """Fail ``hold_out`` for the rows of one chunk on the wrong side of the conditions."""
    fields = {k: v for k, v in unit.items() if v is not None}  # the caller read them all
    n = len(fields["num_objects"])
    matched = plan.holdout.mask(fields, n)
    bad = np.flatnonzero(~matched if split == HELDOUT else matched)
    if len(bad):
        what = "match no hold-out condition" if split == HELDOUT else "match a hold-out condition"
        fail("hold_out", f"{here}: {len(bad)} of {n} images {what}", at(bad))
