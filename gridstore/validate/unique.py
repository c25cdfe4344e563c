"""Regenerating a unique version: its skips rebuilt from its own bytes, then proven.

A unique version's writer passed over the draws whose content was taken
before (`gridstore.write.unique`); those skips are not stored. The validator
rebuilds each task's skips from the stored images (`taken_draws`), regenerates
the task with them, and, when every chunk was read, checks that each
passed-over content was taken at an earlier position. With the duplicate
count at zero, that proves the version is exactly the rule's output.
"""

from __future__ import annotations

import numpy as np

from gridstore.generate.hashing import content_hashes
from gridstore.plan import Plan
from gridstore.write.tasks import task_arrays
from gridstore.write.unique import taken_draws

__all__ = ["UniqueRegeneration", "late_skips", "verdict"]


def late_skips(taken: np.ndarray, passed: np.ndarray) -> int:
    """How many ``passed`` draws have a content not among ``taken`` at an earlier position.

    Both hold ``(h, p)`` rows (content hash, block * 2**32 + draw), in any order.
    """
    if not len(passed):
        return 0
    if not len(taken):
        return len(passed)
    taken = taken[np.lexsort((taken["p"], taken["h"]))]  # each hash's earliest first
    at = np.minimum(np.searchsorted(taken["h"], passed["h"]), len(taken) - 1)
    earlier = (taken["h"][at] == passed["h"]) & (taken["p"][at] < passed["p"])
    return int((~earlier).sum())


class UniqueRegeneration:
    """Regenerate a unique version's tasks and collect the draws each passed over."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.passed: list[np.ndarray] = []
        self.taken: list[np.ndarray] = []

    def task(self, index: int, images: list[np.ndarray | None]) -> dict[str, dict[str, np.ndarray]]:
        """Task ``index`` as the writer made it, given its stored images per split (None:
        unreadable); {} if the stored rows are not the blocks' draws in order."""
        stored = [np.zeros(0, np.uint64) if i is None else content_hashes(i) for i in images]
        got = taken_draws(self.plan, index, stored)
        if got is None:
            return {}
        skips, passed, taken = got
        self.passed.append(passed)
        self.taken.append(taken)
        return task_arrays(self.plan, index, skips)

    def late_skips(self) -> int:
        """How many passed-over draws have a content not taken at an earlier position."""
        if not self.passed:
            return 0
        return late_skips(np.concatenate(self.taken), np.concatenate(self.passed))


def verdict(counts: dict[str, int], scope: str, whole: bool, late: int) -> tuple[bool, str]:
    """``(problem, text)`` of a unique version's duplicates check.

    ``counts`` are the recomputed duplicates among ``scope``; ``late`` the
    draws passed over without an earlier take of their content (counted when
    every chunk was read: ``whole``).
    """
    if any(counts.values()) or late:
        return (
            True,
            f"a unique version, but {counts} among {scope}; {late} draws passed over unduly",
        )
    proof = ", every draw passed over repeats an earlier one" if whole else ""
    return False, f"unique: no image twice among {scope}{proof}"
