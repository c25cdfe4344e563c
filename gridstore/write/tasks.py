"""The tasks of a plan: task ``t`` generates its images and writes chunk ``t`` of every array.

A task writes its chunks, then a record (counts and content hashes) that marks
it done; a grown version's tasks copy the source's chunks instead. Tasks run in
worker processes and Dask workers, so they take names and a plan's JSON, not
open objects.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache

import numpy as np

from gridstore._faults import crash_point
from gridstore.errors import CorruptChunkError, VersionNotFoundError
from gridstore.generate.batch import generate_blocks
from gridstore.generate.hashing import content_hashes
from gridstore.generate.vocab import Annotations
from gridstore.holdout.spec import HELDOUT
from gridstore.pairs.writing import PairTask, write_pairs
from gridstore.plan import Plan
from gridstore.statistics import split_counts
from gridstore.storage import StoreBackend, backend
from gridstore.write.identity import task_crcs
from gridstore.write.reduce import hash_bits
from gridstore.write.unique import task_skips

__all__ = ["copy_task", "generate_task", "plan_of", "record", "run_task", "task_arrays"]


@lru_cache(maxsize=4)
def plan_of(plan_json: str) -> Plan:
    return Plan.from_dict(json.loads(plan_json))


def record(
    store: StoreBackend,
    name: str,
    plan: Plan,
    index: int,
    images: list[np.ndarray],
    anns: list[Annotations],
    hashes: list[np.ndarray],
    draws: int,
    fence: str | None,
    note: str | None = None,
    skipped: int | None = None,
    pairs: PairTask | None = None,
    held: dict[str, int] | None = None,
) -> int:
    """Record task ``index`` done (statistics, draws, content hashes, and ``note`` and
    a unique version's ``skipped`` repeats if any, its ``pairs``' hashes and counts, and
    a hold-out version's ``held`` draws: those passed over, and the heldout split's)."""
    counts = {
        s: split_counts(images[k], anns[k], plan.config.max_size) for k, s in enumerate(plan.splits)
    }
    groups = dict(zip(plan.splits, hashes, strict=True))
    if pairs is not None:
        pairs.add_to(counts, groups, plan.config.max_size)
    store.record_task(
        name,
        index,
        {"counts": counts, "draws": draws, "crc32c": task_crcs(store, name, plan, index)}
        | ({"note": note} if note else {})
        | ({"skipped": skipped} if skipped is not None else {})
        | (held or {}),
        groups,
        fence,
        hash_bits(plan.num_images),
    )
    return sum(len(i) for i in images[:3])  # train, val, test: the heldout split comes on top


def generate_task(
    plan: Plan, index: int, *, reuse: bool = False, skips: list[np.ndarray] | None = None
) -> tuple[list[np.ndarray], list[Annotations], list[np.ndarray], int, dict[str, int]]:
    """Generate task ``index`` of a plan: its rows of every split, in memory.

    Returns images, annotations and content hashes per split (in
    ``plan.splits`` order), the number of images drawn for the routed splits
    and, for a hold-out plan, ``held`` (draws passed over as matching) and
    ``heldout_draws`` (the heldout rows' draws, `gridstore.generate.draws`). The writer and the validator's
    regeneration check both use it, so they cannot drift apart. With
    ``reuse``, the rows are generated into this thread's buffers from the
    previous call (fresh pages for every task cost system time), so they are
    valid only until the thread's next ``reuse`` call. ``skips``: per block,
    the draws a unique version passes over (`gridstore.write.unique`).
    """
    task = plan.tasks[index]
    blocks = range(task.first_block, task.stop_block)
    quotas = [plan.block_quotas(b) for b in blocks]
    out = _buffers(plan, sum(map(sum, quotas))) if reuse else None
    disjoint = plan.split_mode == "disjoint"
    got = generate_blocks(
        plan.config,
        plan.seed,
        task.first_block,
        quotas,
        plan.fractions,
        disjoint=disjoint,
        out=out,
        skips=skips,
        hold=plan.holdout.table(),
    )
    images, anns, hashes = list(got.images), list(got.annotations), list(got.hashes)
    if not plan.hold_out:
        return images, anns, hashes, got.draws, {}
    h = _heldout(plan, *plan.task_rows(task)[HELDOUT])
    images.append(h[0])
    anns.append(h[1])
    hashes.append(h[2])
    return images, anns, hashes, got.draws, {"held": got.held, "heldout_draws": h[3]}


_local = threading.local()


def _take_store(key: tuple[str, str, str | None]) -> StoreBackend:
    """This thread's backend for the tasks of run ``key`` (store, version, run id), taken.

    A task gives it back once it finished (`run_task`), so the run's next task
    in this thread reads no array's zarr.json again: on object storage, 24 GETs
    a task, as many as its chunk PUTs. One that raised does not: its deferred
    chunk writes (`StoreBackend.record_task` flushes them) may still be in
    flight. Never beyond its run, which may find the version's arrays made anew.
    """
    held, _local.store = getattr(_local, "store", None), None
    return held[1] if held is not None and held[0] == key else backend(key[0])


def _buffers(plan: Plan, rows: int) -> tuple[np.ndarray, Annotations, np.ndarray]:
    """The first ``rows`` of this thread's task buffers (made anew when too small)."""
    g, k = plan.config.grid_size, plan.config.max_objects
    held = getattr(_local, "buffers", None)
    if held is None or held[0] != (g, k) or len(held[1]) < rows:
        images, ann = np.empty((rows, g, g), np.uint8), Annotations.empty(rows, g, k)
        held = _local.buffers = ((g, k), images, ann, np.empty(rows, np.uint64))
    _, images, ann, hashes = held
    return images[:rows], ann[:rows], hashes[:rows]


def task_arrays(
    plan: Plan, index: int, skips: list[np.ndarray] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Task ``index`` regenerated exactly as the writer wrote it: split -> array -> rows.

    A unique version's task also needs its ``skips`` (see `generate_task`).
    """
    images, anns, *_ = generate_task(plan, index, skips=skips)
    return {s: {"images": images[k], **anns[k].as_dict()} for k, s in enumerate(plan.splits)}


def run_task(
    store_path: str,
    name: str,
    plan_json: str,
    fence: str | None,
    index: int,
    *,
    grow_from: str | None = None,
    copy_tasks: int = 0,
    run: str | None = None,
) -> int:
    """Write task ``index``: copy it from ``grow_from`` if ``index < copy_tasks``, else
    generate it; returns images written.

    ``fence`` is the writer's (see `StoreBackend.fence`): a writer that lost
    the version to another process starts and records no more tasks. A task
    that cannot be copied (its source deleted or damaged since) is generated,
    to the same bytes, and its record says why. ``run``: an id of the writer's
    run, whose tasks in one thread share a backend (None: a backend of its own).
    """
    key = (store_path, name, run)
    store = _take_store(key)
    written = _write_task(store, name, plan_of(plan_json), fence, index, grow_from, copy_tasks)
    if run is not None:
        _local.store = (key, store)
    return written


def _write_task(
    store: StoreBackend,
    name: str,
    plan: Plan,
    fence: str | None,
    index: int,
    grow_from: str | None,
    copy_tasks: int,
) -> int:
    if fence is not None:
        store.check_fence(name, fence)
    note = None
    if grow_from is not None and index < copy_tasks:
        try:
            return copy_task(store, name, plan, grow_from, index, fence)
        except (VersionNotFoundError, CorruptChunkError) as err:
            note = f"{err}; generating it instead"
    skips = task_skips(store, name, index) if plan.unique else None
    images, anns, hashes, draws, held = generate_task(plan, index, reuse=True, skips=skips)
    for k, split in enumerate(plan.splits):
        _write(store, name, split, index, images[k], anns[k])
    pairs = write_pairs(store, name, plan, index, images, anns)  # a paired version's twins
    crash_point(f"task-{index}-written")
    skipped = None if skips is None else sum(len(s) for s in skips)
    return record(
        store, name, plan, index, images, anns, hashes, draws, fence, note, skipped, pairs, held
    )


def copy_task(
    store: StoreBackend, name: str, plan: Plan, source: str, index: int, fence: str | None
) -> int:
    """Take task ``index`` from ``source`` (same chunk, same bytes) instead of generating it.

    The chunks are decoded once, for the task record's statistics and hashes.
    """
    rows = plan.task_rows(plan.tasks[index])
    images, anns, hashes = [], [], []
    for split in plan.splits:
        start, stop = rows[split]
        if split == HELDOUT:  # its rows depend on their numbers only: made again, not copied
            img, ann, h, heldout_draws = _heldout(plan, start, stop)
            _write(store, name, split, index, img, ann)
            images.append(img)
            anns.append(ann)
            hashes.append(h)
            continue
        if stop > start:
            store.copy_chunk(source, name, split, index)

        def read(field: str, split: str = split, n: int = stop - start) -> np.ndarray:
            return store.read_chunk_rows(source, split, field, index, n)

        images.append(read("images"))
        anns.append(Annotations(**{f: read(f) for f in Annotations.names()}))
        hashes.append(content_hashes(images[-1]))
    pairs = write_pairs(store, name, plan, index, images, anns)  # twins made from the copies
    crash_point(f"grow-copied-{index}")  # chunks copied, task not yet recorded
    held = {"held": 0, "heldout_draws": heldout_draws} if plan.hold_out else None
    return record(store, name, plan, index, images, anns, hashes, 0, fence, pairs=pairs, held=held)


def _heldout(plan: Plan, start: int, stop: int) -> tuple[np.ndarray, Annotations, np.ndarray, int]:
    from gridstore.generate.draws import heldout_rows

    return heldout_rows(plan.config, plan.seed, start, stop, plan.holdout.table())


def _write(
    store: StoreBackend, name: str, split: str, index: int, images: np.ndarray, ann: Annotations
) -> None:
    """Write chunk ``index`` of a split's arrays (nothing for a task without rows of it)."""
    if len(images):
        store.write_chunk(name, split, "images", index, images)
        for field, arr in ann.as_dict().items():
            store.write_chunk(name, split, field, index, arr)
