"""A version's identity at commit: the crc32c of each task's chunks, and the content digest.

Each task records the crc32c of the chunks it wrote (taken as they were
encoded, so nothing is read back); the commit's ``records`` jobs return them
(`gridstore.write.reduce`), and the client hashes them into the version's
digest (`gridstore.digest`). A task that copied its chunks (a grow) or was
recorded by an older gridstore (a resumed version) has its chunks' crc32c
read from the stored chunks instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from gridstore.digest import content_digest, split_arrays
from gridstore.errors import ChunkMissingError, GridstoreError
from gridstore.plan import SPLITS, Plan
from gridstore.storage import FIELDS, StoreBackend
from gridstore.storage.layout import staged_key

__all__ = ["TaskCrcs", "commit_digest", "pack_crcs", "task_crcs"]

# Per split: the tasks (= chunk indices) and their chunks' crc32c, one row per
# task, one column per array the digest covers (`digest.split_arrays`: FIELDS, and a
# paired version's pair arrays): 4 bytes a chunk, whatever the version's size.
TaskCrcs = dict[str, tuple[np.ndarray, np.ndarray]]


def task_crcs(store: StoreBackend, name: str, plan: Plan, index: int) -> dict[str, list[int]]:
    """The crc32c of the chunks task ``index`` stored, by split (arrays in the digest's order).

    Those this process wrote come from `ChunkStore.written_crcs`; the others
    (copied, or written elsewhere) are read from the staged chunks' last 4 bytes
    (`ChunkStore.tails`: whole, checksummed objects on object storage).

    Raises
    ------
    ChunkMissingError
        A chunk the task should have stored is missing or shorter than its crc32c.
    """
    rows, staged = plan.task_rows(plan.tasks[index]), staged_key(name)
    shapes = plan.array_shapes()  # heldout has no pair arrays
    keys = {
        split: [
            store._chunk_key(f"{staged}/{split}/{a}", index) for a in split_arrays(shapes[split])
        ]
        for split in plan.splits
        if rows[split][1] > rows[split][0]
    }
    crcs = {
        k: store.written_crcs.pop(k) for ks in keys.values() for k in ks if k in store.written_crcs
    }
    unseen = [k for ks in keys.values() for k in ks if k not in crcs]
    for key, tail in zip(unseen, store.tails(unseen), strict=True):
        if tail is None or len(tail) < 4:
            msg = f"chunk '{key}' of version '{name}' is missing; resume the version"
            raise ChunkMissingError(msg)
        crcs[key] = int.from_bytes(tail, "little")
    return {split: [crcs[k] for k in ks] for split, ks in keys.items()}


def pack_crcs(
    found: Iterable[tuple[int, Mapping[str, list[int]]]],
    width: int | Mapping[str, int] = len(FIELDS),
) -> TaskCrcs:
    """Pack ``(task, {split: crc32c per array})`` pairs (as task records hold them) compactly.

    ``width``: the arrays per split (`gridstore.digest.split_arrays` of the plan's),
    or a mapping of split to it (those splits then).
    """
    widths = width if isinstance(width, Mapping) else dict.fromkeys(SPLITS, width)
    tasks: dict[str, list[int]] = {s: [] for s in widths}
    values: dict[str, list[list[int]]] = {s: [] for s in widths}
    for t, by_split in found:
        for split, crcs in by_split.items():
            tasks[split].append(t)
            values[split].append(crcs)
    return {
        s: (np.array(tasks[s], np.int64), np.array(values[s], np.uint32).reshape(-1, w))
        for s, w in widths.items()
    }


def commit_digest(plan: Plan, parts: Mapping[str, list[tuple[np.ndarray, np.ndarray]]]) -> str:
    """The content digest of a version of ``plan`` whose tasks' crc32c are ``parts``.

    ``parts[split]``: the packed crc32c (`pack_crcs`) of the ``records`` jobs,
    in any order, between them covering every chunk of the split once.

    Raises
    ------
    GridstoreError
        A chunk that no part covers (a task without a record).
    """
    shapes = plan.array_shapes()
    table: dict[str, dict[str, np.ndarray]] = {}
    for split, arrays in shapes.items():
        names = split_arrays(arrays)
        shape, chunks, _ = arrays[names[0]]
        count = -(-shape[0] // chunks[0])
        crcs, seen = np.zeros((count, len(names)), np.uint32), np.zeros(count, bool)
        for tasks, values in parts.get(split, []):
            crcs[tasks], seen[tasks] = values, True
        if not seen.all():
            first = int(np.flatnonzero(~seen)[0])
            msg = f"no crc32c recorded for chunk {first} of split {split} (task {first} has no record)"
            raise GridstoreError(msg)
        table[split] = {a: crcs[:, i] for i, a in enumerate(names)}
    return content_digest(shapes, table)
