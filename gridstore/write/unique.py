"""Unique versions: the draws each routing block passes over so that no image repeats.

The rule is the ordinary one plus a skip: blocks in order, each drawing
j = 0, 1, 2, ...; draw j is taken if its split still has room in the block
and its content was not taken before, by an earlier block or an earlier draw
of this one. It only looks back, so a grown version starts with its source's
bytes, and it does not depend on how the work is cut.

Finding the skips needs every earlier content, but never all of them in
memory at once:

1. Candidates (`candidate_task`, in the workers, a task at a time): the content
   hashes of each block's first draws, as many as the duplicate forecast says
   its slots cost (`schedule`: 1.3 to 1.4 per slot up to 10^7 images), stored
   beside the task records.
2. Links (`_link`, here): the candidates, numbered in draw order, go to a
   memory-mapped file; bucket by bucket of hash bits, each candidate is linked
   to the previous candidate with the same content (or -1).
3. Scan (`_scan`, compiled, here): one pass in draw order decides, for each
   candidate, whether its split had room and whether its content was claimed
   before (through its link). Each task's skips are stored for the writers.

A block whose candidates ran out before its splits were full gets twice the
draws and steps 1-3 run again; draws past a block's last taken image change
nothing, so the skips do not depend on these budgets. Temporary files, in
the system's temp directory (``TMPDIR``): 17 bytes per candidate (hash,
link, state), 33 while the buckets are spilled: 4.3 GB per 10^8 images at
peak. Memory: one bucket of (hash, index) pairs sorted, about 100 MiB at
10^8 images, 250 MiB at 10^9 (at most 256 buckets).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gridstore._faults import crash_point
from gridstore._jit import kernel
from gridstore.errors import ConfigError, InsufficientSpaceError
from gridstore.generate.batch import MAX_DRAWS_PER_SLOT
from gridstore.generate.draws import draw_hashes
from gridstore.generate.hashing import route_splits
from gridstore.generate.rng import split_of
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
from gridstore.plan import Plan, format_bytes
from gridstore.statistics import BUCKET_BYTES
from gridstore.storage import StoreBackend, backend

__all__ = [
    "CANDIDATES",
    "SKIPS",
    "candidate_task",
    "draw_cap",
    "find_skips",
    "first_pass_draws",
    "schedule",
    "taken_draws",
    "task_skips",
]

CANDIDATES, SKIPS = "candidates", "skips"  # kinds of task file (see TaskRecords)
_BUDGET = 1.3  # first-pass draws per slot at least: ~3% route overflow, and repeats
Schedule = tuple[tuple[int, float], ...]  # (images kept up to here, draws per slot)


def schedule(plan: Plan) -> Schedule:
    """First-pass draws per slot along the version, from the duplicate forecast.

    A block at ``k`` images kept needs about ``dM/dk`` draws per slot, ``M(k)``
    being the draws that hold ``k`` distinct images: 1.3 up to 10^6 images of
    the default generator, 1.39 at 10^7. Each gets 15% more (at least
    ``_BUDGET``); where the forecast sees no end, ``_BUDGET`` and doubling.
    """
    from gridstore.forecast import forecast_duplicates

    first = min(ROUTING_BLOCK_IMAGES, plan.num_images)
    ends = np.unique(np.geomspace(first, plan.num_images, 16).astype(np.int64))
    draws = [forecast_duplicates(plan.config, int(k)).draws_for_unique for k in ends]
    if any(d is None for d in draws):
        return ((plan.num_images, _BUDGET),)
    slope = np.diff([0, *draws]) / np.diff([0, *ends])
    rates = np.clip(1.15 * slope, _BUDGET, MAX_DRAWS_PER_SLOT)
    return tuple((int(k), float(r)) for k, r in zip(ends, rates, strict=True))


def draw_cap(plan: Plan, block: int) -> int:
    """The most draws a unique block may make (``MAX_DRAWS_PER_SLOT`` per slot): the
    first pass, the writer and the validator all stop there."""
    return MAX_DRAWS_PER_SLOT * max(sum(plan.block_quotas(block)), 1)


def _budget(plan: Plan, block: int, doublings: int, per_slot: Schedule) -> int:
    """First-pass draws of ``block``: its slots times its place's draws per slot,
    doubled ``doublings`` times, at most `draw_cap`."""
    slots = sum(plan.block_quotas(block))
    kept = (block + 1) * ROUTING_BLOCK_IMAGES
    rate = next((r for k, r in per_slot if k >= kept), per_slot[-1][1])
    return min((int(slots * rate) + 64) << doublings, draw_cap(plan, block))


def first_pass_draws(plan: Plan) -> int:
    """The draws a unique plan's first pass hashes when no block runs short."""
    per_slot = schedule(plan)
    return sum(_budget(plan, b, 0, per_slot) for b in range(plan.num_blocks))


def candidate_task(
    store_path: str,
    name: str,
    plan_json: str,
    fence: str | None,
    per_slot: Schedule,
    doublings: dict[int, int],
    index: int,
) -> int:
    """Store the content hashes of the first draws of task ``index``'s blocks; returns draws.

    Block ``b`` draws ``_budget(plan, b, doublings.get(b, 0), per_slot)`` times.
    """
    plan = Plan.from_dict(json.loads(plan_json))
    store = backend(store_path)
    task = plan.tasks[index]
    parts, counts, flags = [], [], []
    hold = plan.holdout.table()  # a draw that matches a hold-out condition is never taken
    for b in range(task.first_block, task.stop_block):
        n = _budget(plan, b, doublings.get(b, 0), per_slot)
        hashes, matched = draw_hashes(plan.config, plan.seed, b, 0, n, hold)
        parts.append(hashes)
        flags.append(matched)
        counts.append(n)
    if fence is not None:
        store.check_fence(name, fence)
    arrays = {"hashes": np.concatenate(parts), "draws": np.array(counts)}
    if plan.hold_out:
        arrays["matched"] = np.concatenate(flags).astype(np.uint8)
    store.put_task_arrays(name, index, CANDIDATES, arrays)
    crash_point(f"unique-candidates-{index}")
    return sum(counts)


def task_skips(store: StoreBackend, name: str, index: int) -> list[np.ndarray]:
    """The draws each block of task ``index`` passes over (stored by `find_skips`)."""
    got = next(store.task_arrays(name, [index], SKIPS))
    return np.split(got["draws"], np.cumsum(got["counts"])[:-1])


def find_skips(
    store: StoreBackend,
    name: str,
    plan: Plan,
    todo: list[int],
    run: Callable[[Callable[[int], int], list[int]], None],
) -> None:
    """Store the skips of tasks ``todo`` (see the module docstring).

    ``run(fn, tasks)`` runs the candidate tasks (the version's engine). Tasks
    whose candidates are stored already (an interrupted run) are not redrawn.
    """
    from functools import partial

    plan_json = json.dumps(plan.to_dict(), sort_keys=True)
    fence = store.fence(name)
    doublings: dict[int, int] = {}
    per_slot = schedule(plan)
    have = store.task_indices(name, CANDIDATES)  # an interrupted run's, reused
    redo = [t.index for t in plan.tasks if t.index not in have]
    while True:
        fn = partial(candidate_task, str(store.path), name, plan_json, fence, per_slot, doublings)
        run(fn, redo)
        _check_temp_space(sum(_budget(plan, b, doublings.get(b, 0), per_slot)
                              for b in range(plan.num_blocks)))  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="gridstore-unique-") as tmp:
            short = _resolve(store, name, plan, todo, Path(tmp))
        if not short:
            return
        for b in short:
            drawn = _budget(plan, b, doublings.get(b, 0), per_slot)
            if drawn >= draw_cap(plan, b):
                msg = (
                    f"block {b} found too few distinct images in {drawn:,} draws to fill its "
                    f"splits {plan.block_quotas(b)}: the distribution has too few distinct "
                    "images for a unique version of this size"
                )
                raise ConfigError(msg)
            doublings[b] = doublings.get(b, 0) + 1
        redo = sorted({b // plan.blocks_per_chunk for b in short})


def _check_temp_space(candidates: int) -> None:
    """Refuse to start the links of ``candidates`` draws where they do not fit (33 bytes each)."""
    where = tempfile.gettempdir()
    free, needed = shutil.disk_usage(where).free, 33 * candidates
    if free < needed:
        msg = (
            f"a unique run needs {format_bytes(needed)} of temporary space for "
            f"{candidates:,} candidate draws, and '{where}' has {format_bytes(free)} free; "
            "set TMPDIR to a larger file system, then resume"
        )
        raise InsufficientSpaceError(msg)


def _resolve(store: StoreBackend, name: str, plan: Plan, todo: list[int], tmp: Path) -> list[int]:
    """Steps 2 and 3; returns the blocks whose candidates ran out (nothing stored then)."""
    tasks = list(range(len(plan.tasks)))
    with open(tmp / "hashes", "wb") as f, open(tmp / "matched", "wb") as m:
        counts = []
        for got in store.task_arrays(name, tasks, CANDIDATES):
            f.write(got["hashes"].tobytes())
            m.write(got.get("matched", np.zeros(len(got["hashes"]), np.uint8)).tobytes())
            counts.extend(got["draws"].tolist())
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(starts[-1])
    hashes = np.memmap(tmp / "hashes", np.uint64, "r", shape=(total,))
    links = np.memmap(tmp / "links", np.int64, "w+", shape=(total,))
    state = np.memmap(tmp / "state", np.uint8, "w+", shape=(total,))
    matched = (
        np.memmap(tmp / "matched", np.uint8, "r", shape=(total,))
        if total
        else np.zeros(0, np.uint8)
    )
    _link(hashes, links, tmp)
    quotas = np.array([plan.block_quotas(b) for b in range(plan.num_blocks)], np.int64)
    cum = np.cumsum(np.asarray(plan.fractions, np.float64))
    short = np.zeros(plan.num_blocks, np.bool_)
    _scan(np.asarray(hashes), np.asarray(links), np.asarray(matched), starts, quotas, cum,
          np.asarray(state), short)  # fmt: skip
    if short.any():
        return np.flatnonzero(short).tolist()
    for t in todo:
        task = plan.tasks[t]
        per_block = [
            np.flatnonzero(state[starts[b] : starts[b + 1]] == _SKIP)
            for b in range(task.first_block, task.stop_block)
        ]
        arrays = {
            "draws": np.concatenate(per_block),
            "counts": np.array([len(p) for p in per_block]),
        }
        store.put_task_arrays(name, t, SKIPS, arrays)
    return []


def _link(
    hashes: np.ndarray, links: np.ndarray, tmp: Path, bucket_bytes: int = BUCKET_BYTES
) -> None:
    """``links[i]``: the last ``j < i`` with ``hashes[j] == hashes[i]``, or -1.

    One pass spills ``(hash, i)`` pairs to a file per bucket of hash top bits
    (at most 256); each bucket is then sorted alone, so memory holds one
    bucket: about ``bucket_bytes`` of hashes up to 33M candidates, 1/256 of
    them beyond.
    """
    total = len(hashes)
    bits = min(8, max(0, int(np.ceil(np.log2(max(1, total * 8 / bucket_bytes))))))
    pair = np.dtype([("h", np.uint64), ("i", np.int64)])
    files = [open(tmp / f"bucket-{k}", "wb") for k in range(1 << bits)]  # noqa: SIM115
    try:
        for lo in range(0, total, 1 << 20):
            rows = np.empty(min(1 << 20, total - lo), pair)
            rows["h"], rows["i"] = hashes[lo : lo + len(rows)], np.arange(lo, lo + len(rows))
            key = (
                (rows["h"] >> np.uint64(64 - bits)).astype(np.int64)
                if bits
                else np.zeros(len(rows), np.int64)
            )
            order = np.argsort(key, kind="stable")
            ends = np.cumsum(np.bincount(key, minlength=len(files)))
            for k, part in enumerate(np.split(rows[order], ends[:-1])):
                files[k].write(part.tobytes())
    finally:
        for f in files:
            f.close()
    links[:] = -1
    for k in range(len(files)):
        rows = np.fromfile(tmp / f"bucket-{k}", pair)
        rows = rows[np.argsort(rows["h"], kind="stable")]  # equal hashes keep draw order
        same = np.flatnonzero(rows["h"][1:] == rows["h"][:-1])
        links[rows["i"][same + 1]] = rows["i"][same]
        (tmp / f"bucket-{k}").unlink()


# A candidate's state: 0 unclaimed content past its split's last place; CLAIMED
# a content taken before, past its split's last place; TAKEN; SKIP (taken before).
_CLAIMED, _TAKEN, _SKIP = 1, 2, 3


@kernel
def _scan(hashes, links, matched, starts, quotas, cum, state, short):
    """Decide every candidate, blocks in order (see the module docstring).

    A nonzero ``state[i]`` marks a content taken by candidate ``i`` or before
    it; ``_SKIP`` a draw the writer passes over. ``short[b]``: block ``b`` ran out.
    A ``matched`` candidate (a hold-out condition's) is never taken: the writer
    passes over it by itself.
    """
    for b in range(quotas.shape[0]):
        room = quotas[b].copy()
        left = room[0] + room[1] + room[2]
        for i in range(starts[b], starts[b + 1]):
            before = links[i] >= 0 and state[links[i]] != 0
            s = split_of(hashes[i], cum)  # as the writer's kernel routes it
            if left > 0 and room[s] > 0 and matched[i] == 0:
                if before:
                    state[i] = _SKIP
                else:
                    state[i] = _TAKEN
                    room[s] -= 1
                    left -= 1
            else:
                state[i] = _CLAIMED if before else 0
        short[b] = left > 0


def taken_draws(
    plan: Plan, index: int, stored: list[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray] | None:
    """Rebuild from a unique version's stored hashes which draws task ``index`` passed over.

    ``stored[k]`` holds the content hashes of the task's rows of split ``k``.
    Walking each block's draws, a draw whose split has room is taken if it is
    the split's next stored image and passed over otherwise. Returns the
    skips per block (for `gridstore.write.tasks.task_arrays`) and, as
    ``(hash, block * 2**32 + draw)`` rows, the passed-over and the taken
    draws: the version follows the rule when every passed-over content was
    taken at an earlier position. None if the stored rows are not the
    blocks' draws in order (within `draw_cap` draws).
    """
    task = plan.tasks[index]
    at = [0, 0, 0]
    skips, passed, taken = [], [], []
    for b in range(task.first_block, task.stop_block):
        room, cap = list(plan.block_quotas(b)), draw_cap(plan, b)
        mine: list[int] = []
        j = 0
        while any(room):
            n = min(cap, int(sum(room) * _BUDGET) + 64 + j)
            if j >= n:
                return None
            hashes, matched = draw_hashes(plan.config, plan.seed, b, j, n, plan.holdout.table())
            for h, s, hit in zip(
                hashes.tolist(),
                route_splits(hashes, plan.fractions).tolist(),
                matched.tolist(),
                strict=True,
            ):
                if room[s] and not hit:  # a matching draw: passed over by the kernel itself
                    here = (h, (b << 32) + j)
                    if at[s] < len(stored[s]) and int(stored[s][at[s]]) == h:
                        at[s] += 1
                        room[s] -= 1
                        taken.append(here)
                    else:
                        mine.append(j)
                        passed.append(here)
                    if not any(room):
                        break
                j += 1
        skips.append(np.array(mine, np.int64))
    pair = np.dtype([("h", np.uint64), ("p", np.int64)])
    return skips, np.array(passed, pair), np.array(taken, pair)
