"""A task's twins: made from the task's images, written as chunk ``t`` of each pair array.

`gridstore.write.tasks` calls `write_pairs` after a task's own chunks (and a
grown version's copied tasks after reading theirs), before the task is
recorded: its result adds the twins' content hashes and intervention counts
to the task's record. Twin ``i`` of split ``s`` draws from its own stream,
keyed by ``(seed, s, i)`` (`gridstore.pairs.interventions.make_twins`), so a
task's twins depend on nothing but the plan and its rows: not on workers,
the engine, or how many runs wrote the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore.generate.vocab import Annotations
from gridstore.pairs.layout import INTERVENTION, KINDS, PAIR

__all__ = ["PairTask", "hash_groups", "task_twins", "write_pairs"]

_SPLITS = ("train", "val", "test")  # gridstore.plan.SPLITS (plan imports this package's layout)


def hash_groups(plan: Any) -> tuple[str, ...]:
    """The groups of a task's hash file: the splits (a hold-out version's heldout too), then
    (paired) each of train, val and test's twins."""
    return tuple(plan.splits) + (tuple(f"{s}/{PAIR}" for s in _SPLITS) if plan.pairs else ())


@dataclass(frozen=True)
class PairTask:
    """What a task's twins add to its record: content hashes and intervention counts per split."""

    hashes: list[np.ndarray]
    kinds: list[list[int]]
    twins: list[tuple[np.ndarray, Annotations]]

    def add_to(
        self, counts: dict[str, dict[str, Any]], hashes: dict[str, np.ndarray], max_size: int
    ) -> None:
        """Add the twins' statistics, intervention counts and hashes to a task record's (in place)."""
        from gridstore.statistics import split_counts

        for k, split in enumerate(_SPLITS):
            counts[split]["interventions"] = self.kinds[k]
            counts[f"{split}/{PAIR}"] = split_counts(*self.twins[k], max_size)
            hashes[f"{split}/{PAIR}"] = self.hashes[k]


def task_twins(
    plan: Any, index: int, images: list[np.ndarray], anns: list[Annotations]
) -> list[tuple[np.ndarray, Annotations, dict[str, np.ndarray]]]:
    """The twins of task ``index``'s rows of each split (`make_twins`; under hold-out
    conditions, `gridstore.pairs.holdout.twins_of`), given those rows."""
    from gridstore.pairs.holdout import twins_of

    rows = plan.task_rows(plan.tasks[index])
    return [twins_of(plan, k, rows[s][0], images[k], anns[k]) for k, s in enumerate(_SPLITS)]


def write_pairs(
    store: Any, name: str, plan: Any, index: int, images: list[np.ndarray], anns: list[Annotations]
) -> PairTask | None:
    """Make task ``index``'s twins and write chunk ``index`` of every pair array.

    Returns None for a plan without pairs (nothing is written).
    """
    if not plan.pairs:
        return None
    from gridstore.generate.hashing import content_hashes

    hashes, kinds, made = [], [], []
    for k, (twins, tann, rec) in enumerate(task_twins(plan, index, images, anns)):
        split = _SPLITS[k]
        if len(twins):
            store.write_chunk(name, split, f"{PAIR}/images", index, twins)
            for field, arr in tann.as_dict().items():
                store.write_chunk(name, split, f"{PAIR}/{field}", index, arr)
            for field, arr in rec.items():
                store.write_chunk(name, split, f"{INTERVENTION}/{field}", index, arr)
        hashes.append(content_hashes(twins))
        kinds.append(np.bincount(rec["kind"], minlength=len(KINDS) + 1)[1:].tolist())
        made.append((twins, tann))
    return PairTask(hashes, kinds, made)
