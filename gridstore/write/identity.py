"""A version's identity at commit: the crc32c of each task's chunks, and the content digest.

Each task records the crc32c of the chunks it wrote (taken as they were
encoded, so nothing is read back); the commit hashes them into the version's
digest (`gridstore.digest`). A task that copied its chunks (a grow) or was
recorded by an older gridstore (a resumed version) has its chunks' crc32c read
from the stored chunks instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridstore.digest import content_digest
from gridstore.errors import ChunkMissingError
from gridstore.plan import SPLITS, Plan
from gridstore.storage import FIELDS, StoreBackend
from gridstore.storage.layout import chunk_key, staged_key

__all__ = ["commit_digest", "task_crcs"]


def task_crcs(store: StoreBackend, name: str, plan: Plan, index: int) -> dict[str, list[int]]:
    """The crc32c of the chunks task ``index`` stored, by split (arrays in ``FIELDS`` order).

    Those this process wrote come from `ChunkStore.written_crcs`; the others
    (copied, or written elsewhere) are read from the staged chunks' last 4 bytes.
    """
    shapes, rows, staged = plan.array_shapes(), plan.task_rows(plan.tasks[index]), staged_key(name)
    keys = {
        split: [chunk_key(f"{staged}/{split}/{a}", index, len(shapes[split][a][0])) for a in FIELDS]
        for split in SPLITS
        if rows[split][1] > rows[split][0]
    }
    crcs = {
        k: store.written_crcs.pop(k) for ks in keys.values() for k in ks if k in store.written_crcs
    }
    unseen = [k for ks in keys.values() for k in ks if k not in crcs]
    for key, tail in zip(unseen, store.tails(unseen), strict=True):
        if tail is None:
            msg = f"chunk '{key}' of version '{name}' is missing; resume the version"
            raise ChunkMissingError(msg)
        crcs[key] = int.from_bytes(tail, "little")
    return {split: [crcs[k] for k in ks] for split, ks in keys.items()}


def commit_digest(
    store: StoreBackend, name: str, plan: Plan, results: dict[int, dict[str, Any]]
) -> str:
    """The content digest of the staged version ``name``, from its task records ``results``.

    A record without crc32c values (a task recorded by an older gridstore)
    has its chunks' read from the store.
    """
    shapes = plan.array_shapes()
    crcs = {
        split: {a: np.zeros(-(-shape[0] // chunks[0]), np.uint32)
                for a, (shape, chunks, _) in arrays.items()}
        for split, arrays in shapes.items()
    }  # fmt: skip
    for t, result in results.items():
        found = result.get("crc32c") or task_crcs(store, name, plan, t)
        for split, values in found.items():
            for array, crc in zip(FIELDS, values, strict=True):
                crcs[split][array][t] = crc
    return content_digest(shapes, crcs)
