"""One validation task: chunk ``c`` of every split read, decoded and checked where it runs.

Task ``c`` wrote chunk ``c`` of all splits, so one regeneration checks that
index everywhere. `check_task` runs in an engine's worker (or in the client
with the serial engine): it opens the version's arrays itself (once per
process and run), checks each split's chunk ``c`` in split order, as the
single-process validator did, and returns `TaskFindings`: its failures in the
order it found them, and the content hashes the client needs to count
duplicates. Memory: one task's data twice (stored, regenerated; ~11 MB each
by default).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridstore._faults import crash_point
from gridstore.errors import ChunkChecksumError, CorruptChunkError
from gridstore.holdout.spec import HELDOUT, HOLD_FIELDS
from gridstore.pairs.layout import PAIR
from gridstore.pairs.validation import check_pair_chunk, pair_arrays
from gridstore.plan import SPLITS, Plan
from gridstore.read.source import chunk_key, read_chunk
from gridstore.storage import FIELDS, zarr_store
from gridstore.validate.holdout import check_hold_out_chunk

__all__ = ["MAX_WHERE", "InOrder", "TaskFindings", "TaskSpec", "check_task"]

MAX_WHERE = 100  # failing locations kept per check
_INSTANCE_RULES = ("instance_labels", "image_matches_instances")


@dataclass(frozen=True)
class TaskSpec:
    """What every task of one validation needs (picklable, sent with each task).

    ``token`` names the run, so that a long-lived worker never reuses arrays
    opened for another run; ``params`` is the version's ``generation_params``
    as JSON, or None when the client could not rebuild a plan from them;
    ``splits`` are the splits whose structure passed; ``bad_files`` the chunk
    keys missing or truncated on disk (never read: zarr would read zeros).
    """

    store: str
    name: str
    token: str
    params: str | None
    splits: tuple[str, ...]
    bad_files: frozenset[str]
    unique_draws: bool  # return a unique version's taken and passed-over draws


@dataclass
class TaskFindings:
    """What `check_task` found in chunk ``chunk`` of every split.

    ``fails`` holds ``(check, note, where)`` in the order found; ``units`` the
    splits whose every field was read; ``hashes`` their images' content hashes
    (and a paired version's twins', as ``<split>/pair``)
    by split; ``passed`` / ``taken`` a unique version's draws (``(hash,
    position)`` rows, see `gridstore.write.unique.taken_draws`) or None.
    """

    chunk: int
    fails: list[tuple[str, str, list[str]]] = field(default_factory=list)
    units: int = 0
    hashes: dict[str, np.ndarray] = field(default_factory=dict)
    passed: np.ndarray | None = None
    taken: np.ndarray | None = None

    def fail(self, check: str, note: str, where: list[str] | tuple[str, ...] = ()) -> None:
        """Record a failure of ``check`` (at most `MAX_WHERE` locations)."""
        self.fails.append((check, note, list(where[:MAX_WHERE])))


class InOrder:
    """Findings handed on in chunk order, whatever order their tasks finish in.

    Parameters
    ----------
    chunks : iterable of int
        The chunks in the order their findings are to be applied.

    Examples
    --------
    >>> order = InOrder([0, 1, 2])
    >>> [f.chunk for f in order.add(TaskFindings(1))], [f.chunk for f in order.add(TaskFindings(0))]
    ([], [0, 1])
    """

    def __init__(self, chunks: Iterable[int]) -> None:
        self._order = iter(chunks)
        self._next = next(self._order, None)
        self._waiting: dict[int, TaskFindings] = {}  # finished early: findings only

    def add(self, found: TaskFindings) -> list[TaskFindings]:
        """Take one task's findings; return those whose turn has now come, in order."""
        self._waiting[found.chunk] = found
        ready = []
        while self._next is not None and self._next in self._waiting:
            ready.append(self._waiting.pop(self._next))
            self._next = next(self._order, None)
        return ready


@functools.lru_cache(maxsize=2)
def _arrays(
    store: str, name: str, token: str, splits: tuple[str, ...], fields: tuple[str, ...] = FIELDS
) -> dict[str, Any]:
    """The version's arrays by split and field, opened once per process and run."""
    import zarr

    root = zarr_store(store)
    return {  # the heldout split has no twins
        s: {
            f: zarr.open_array(store=root, path=f"{name}/{s}/{f}", mode="r", zarr_format=3)
            for f in (FIELDS if s == HELDOUT else fields)
        }
        for s in splits
    }


@functools.lru_cache(maxsize=2)
def _plan(params: str) -> Plan:
    return Plan.from_dict(json.loads(params))


class _Task:
    """Chunk ``c`` of every split of one run, checked; the findings in `self.out`."""

    def __init__(self, spec: TaskSpec, c: int) -> None:
        self.spec, self.c = spec, c
        self.plan = _plan(spec.params) if spec.params is not None else None
        pairs = pair_arrays() if self.plan is not None and self.plan.pairs else ()
        self.arrays = _arrays(spec.store, spec.name, spec.token, spec.splits, FIELDS + pairs)
        self.out = TaskFindings(c)
        self.size = {s: self.arrays[s]["images"].chunks[0] for s in spec.splits}
        self.n = {s: self.arrays[s]["images"].shape[0] for s in spec.splits}

    def read(self, split: str, f: str) -> np.ndarray | None:
        """Read chunk ``c`` of an array through zarr; None (and a failure) if it cannot be."""
        arr = self.arrays[split][f]
        key = chunk_key(arr, self.c)
        if key in self.spec.bad_files:  # never let zarr read a missing chunk as zeros
            self.out.fail("checksums", f"{key} not read: missing or truncated", [key])
            return None
        try:
            return read_chunk(arr, self.c, field=f, store=self.spec.store, check_rows=False)
        except ChunkChecksumError:
            self.out.fail("checksums", f"{key} fails its crc32c check", [key])
        except CorruptChunkError as err:
            self.out.fail("checksums", f"{key} is undecodable ({err})", [key])
        return None

    def regenerate(self) -> dict[str, dict[str, Any]]:
        """The task regenerated ({} past the plan); a unique one from its stored images."""
        from gridstore.write.tasks import task_arrays

        assert self.plan is not None
        c = self.c
        if c >= len(self.plan.tasks):
            return {}
        if not self.plan.unique:
            return task_arrays(self.plan, c)
        from gridstore.validate.unique import UniqueRegeneration

        unique = UniqueRegeneration(self.plan)
        has = {s for s in self.spec.splits if c * self.size[s] < self.n[s]}
        got = unique.task(c, [self.read(s, "images") if s in has else None for s in SPLITS])
        if self.spec.unique_draws and unique.passed:
            self.out.passed, self.out.taken = unique.passed[0], unique.taken[0]
        return got

    def run(self) -> TaskFindings:
        from gridstore.generate.hashing import content_hashes, route_splits
        from gridstore.validate.constraints import check_constraints

        c, out = self.c, self.out
        regen: dict[str, dict[str, Any]] | None = None
        for split in self.spec.splits:
            if c * self.size[split] >= self.n[split]:
                continue
            start = c * self.size[split]
            got = {f: self.read(split, f) for f in FIELDS}
            unit = {f: v for f, v in got.items() if v is not None}
            if len(unit) < len(FIELDS):
                continue
            out.units, img, here = out.units + 1, unit["images"], f"{split} chunk {c}"

            def at(idx: np.ndarray, split: str = split, start: int = start) -> list[str]:
                return [f"{split}:{start + int(i)}" for i in idx[:MAX_WHERE]]

            bad = np.flatnonzero(img.reshape(len(img), -1).max(axis=1) > 9)
            if img.dtype != np.uint8 or len(bad):
                out.fail("values", f"{here}: {len(bad)} of {len(img)} images not in 0..9", at(bad))
            out.hashes[split] = h = content_hashes(img)
            if self.plan is None:
                continue
            for rule, idx in check_constraints(img, unit, self.plan.config).violations.items():
                for check in ("constraints", "instance_maps")[: 1 + (rule in _INSTANCE_RULES)]:
                    out.fail(check, f"{here}: {rule} broken in {len(idx)} images", at(idx))
            if regen is None:
                regen = self.regenerate()
            want = regen.get(split, {})
            diff = [f for f in FIELDS if f not in want or not np.array_equal(unit[f], want[f])]
            if diff:
                what = "shape"
                if all(f in want and unit[f].shape == want[f].shape for f in diff):
                    rows = [
                        np.not_equal(unit[f], want[f]).reshape(len(img), -1).any(axis=1)
                        for f in diff
                    ]
                    bad = np.flatnonzero(np.logical_or.reduce(rows))
                    what = f"{len(bad)} of {len(img)} images, first {at(bad[:1])[0]}"
                out.fail(
                    "regeneration",
                    f"{here}: {', '.join(diff)} differ in {what}",
                    [chunk_key(self.arrays[split][f], c) for f in diff],
                )
            if self.plan.hold_out:
                check_hold_out_chunk(self.plan, split, unit, out.fail, at, here)
            if split == HELDOUT:  # not routed, and no twins
                continue
            route = route_splits(h, self.plan.fractions)  # as the kernel routes
            off = np.flatnonzero(route != SPLITS.index(split))
            if self.plan.split_mode == "disjoint" and len(off):
                out.fail(
                    "duplicates",
                    f"{here}: {len(off)} images in a split their content hash does not route to",
                    at(off),
                )
            if self.plan.pairs:  # a paired version's twins of these rows
                read = functools.partial(self.read, split)
                twins = check_pair_chunk(self.plan, split, start, unit, read, out.fail, at, here)
                if twins is not None:
                    out.hashes[f"{split}/{PAIR}"] = twins
                if self.plan.hold_out:  # and no twin of train, val or test matches either
                    twin = {f: read(f"pair/{f}") for f in HOLD_FIELDS}
                    if all(v is not None for v in twin.values()):
                        check_hold_out_chunk(self.plan, f"{split} twins", twin, out.fail, at, here)
        return out


def check_task(spec: TaskSpec, c: int) -> TaskFindings:
    """Check chunk ``c`` of every split of ``spec``'s version: what one worker does.

    Parameters
    ----------
    spec : TaskSpec
        The run: store, version, plan, splits to read, chunk files not to read.
    c : int
        The chunk (and task) index.

    Returns
    -------
    TaskFindings
        Failures in the order found, the images' content hashes per split.
        Damage is reported there, never raised.
    """
    crash_point(f"validate-task-{c}")  # tests: a worker that dies here
    return _Task(spec, c).run()
