"""A staged version's task files: records, content hashes and other per-task arrays.

Each task of a version being written leaves files beside its record under
``layout.tasks_key(name)``: ``<t>.json`` (its statistics; what marks it done),
``<t>.h<bits>`` (its images' content hashes, sorted and partitioned by their
top bits: `pack_hashes`; the unpartitioned ``<t>.hashes`` and ``<t>.npz`` of
older gridstores are read too) and, for a unique version, the arrays of
`gridstore.write.unique`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from gridstore.errors import ChunkMissingError, ConfigError, CorruptChunkError, VersionNotFoundError
from gridstore.pairs.layout import INTERVENTION, PAIR, RECORD_FIELDS
from gridstore.storage.chunks import ChunkStore
from gridstore.storage.layout import FIELDS, staged_key, task_key, tasks_key

__all__ = ["TaskRecords"]


class TaskRecords(ChunkStore):
    """Reading and writing a staged version's task files (a part of `StoreBackend`)."""

    def put_task_arrays(
        self, name: str, index: int, kind: str, arrays: dict[str, np.ndarray]
    ) -> None:
        """Store named arrays of task ``index`` beside its record (``kind``: "npz", its hashes)."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        self._put(task_key(name, index, kind), buf.getvalue())

    def task_arrays(
        self, name: str, indices: list[int], kind: str
    ) -> Iterator[dict[str, np.ndarray]]:
        """The arrays ``kind`` of tasks ``indices``, in order (32 fetched at a time, concurrently).

        Raises
        ------
        VersionNotFoundError
            One of them is missing (removed while reading, or never stored).
        """
        for _, raw in self._fetch(name, [task_key(name, t, kind) for t in indices]):
            yield _npz(raw)

    def task_records(self, name: str, indices: list[int]) -> list[dict[str, Any]]:
        """The records (statistics) of tasks ``indices``, in order.

        Raises
        ------
        VersionNotFoundError
            One of them is missing (the task is not done).
        """
        keys = [task_key(name, t, "json") for t in indices]
        return [json.loads(raw) for _, raw in self._fetch(name, keys)]

    def _fetch(self, name: str, keys: list[str]) -> Iterator[tuple[str, bytes]]:
        """``(key, bytes)`` of task files, in order, 32 fetched at a time, concurrently.

        Raises `VersionNotFoundError` for one that is missing.
        """
        for i in range(0, len(keys), 32):
            for key, raw in zip(keys[i : i + 32], self._get_many(keys[i : i + 32]), strict=True):
                if raw is None:
                    raise _missing(name, key)
                yield key, raw

    def _task_files(self, name: str, suffix: str) -> list[str]:
        return sorted(
            f for f in self._list(tasks_key(name)) if f.endswith(suffix) and f[0].isdigit()
        )

    def task_indices(self, name: str, kind: str = "json") -> set[int]:
        """Tasks of a staged version with a file ``kind`` ("json": the finished ones)."""
        return {int(f.removesuffix(f".{kind}")) for f in self._task_files(name, f".{kind}")}

    def task_results(self, name: str) -> dict[int, dict[str, Any]]:
        """Results of the finished tasks of a staged version, by task index."""
        files = self._task_files(name, ".json")
        docs = self._get_many([f"{tasks_key(name)}/{f}" for f in files])
        return {int(f.removesuffix(".json")): json.loads(d) for f, d in zip(files, docs, strict=True)
                if d is not None}  # fmt: skip

    def put_task_hashes(
        self, name: str, index: int, hashes: dict[str, np.ndarray], bits: int = 0
    ) -> None:
        """Store task ``index``'s content hashes by split (in the plan's order).

        The file is laid out for the commit's duplicate count (`hash_parts`):
        the hashes of each split, sorted, cut into ``2**bits`` partitions by
        their top bits and stored partition by partition, so that a partition
        range of every split is one contiguous read. A header holds the
        offsets; see `HASH_MAGIC`. The file is ``<index>.h<bits>``.
        """
        self._put(task_key(name, index, f"h{bits}"), pack_hashes(hashes, bits))

    def hash_parts(
        self, name: str, indices: list[int], splits: tuple[str, ...], bits: int, parts: range
    ) -> Iterator[dict[str, np.ndarray]]:
        """Each task's hashes whose top ``bits`` fall in ``parts``, by split (sorted).

        Two small reads a task whose file was written with ``bits`` (the
        offsets of ``parts``, then their hashes), fetched for many tasks at
        once; a file written otherwise (other bits, or an older gridstore's
        unpartitioned file) is read whole and filtered.

        Raises
        ------
        VersionNotFoundError
            A task has no hash file.
        """
        n, files = len(splits), None
        first, stop = parts.start * n, parts.stop * n
        for i in range(0, len(indices), 256):
            batch = indices[i : i + 256]
            keys = [task_key(name, t, f"h{bits}") for t in batch]
            held: dict[str, bytes | None] = {}  # files read whole (object storage): read once
            found = self._get_ranges(
                [(k, 16 + 8 * first, 8 * (stop - first + 1)) for k in keys], held
            )
            offsets = {k: np.frombuffer(o, "<i8") for k, o in zip(keys, found, strict=True) if o}
            for k, o in offsets.items():
                if len(o) != stop - first + 1:  # parts past the file's own
                    raise ConfigError(f"partitions {parts} of {1 << bits} asked of '{k}'")
            base = _head_bytes(bits, n)
            bodies = self._get_ranges(
                [(k, base + 8 * int(o[0]), 8 * int(o[-1] - o[0])) for k, o in offsets.items()],
                held,
            )
            held.clear()
            got = dict(zip(offsets, bodies, strict=True))
            # not partitioned as asked (other bits, or older files): whole, then filtered;
            # the tasks' files listed once, and only if some are (a listing per batch made
            # a job at 10**9 images list 100,000 files 196 times)
            others = [t for t, k in zip(batch, keys, strict=True) if k not in offsets]
            whole = {}
            if others:
                files = self._hash_files(name) if files is None else files
                read = self.task_hashes(name, splits, others, files=files)
                whole = dict(zip(others, read, strict=True))
            for t, k in zip(batch, keys, strict=True):
                if k not in offsets:
                    yield {s: _in_parts(h, bits, parts) for s, h in whole[t].items()}
                    continue
                body, o = got[k], offsets[k]
                if body is None:
                    raise _missing(name, k)
                segments = np.split(np.frombuffer(body, "<u8"), (o - o[0])[1:-1])
                yield {s: np.concatenate(segments[j::n]) for j, s in enumerate(splits)}

    def _hash_files(self, name: str) -> dict[int, str]:
        """Each task's hash file by index (one listing), a partitioned one if it has two."""
        rank = {"hashes": 1, "npz": 2}  # partitioned files (h<bits>) first
        files: dict[int, str] = {}
        for f in self._task_files(name, ""):
            index, _, kind = f.partition(".")
            if kind in rank or (kind[:1] == "h" and kind[1:].isdigit()):
                t = int(index)
                if t not in files or rank.get(kind, 0) < rank.get(files[t].partition(".")[2], 0):
                    files[t] = f
        return files

    def task_hashes(
        self,
        name: str,
        splits: tuple[str, ...],
        indices: list[int] | None = None,
        *,
        files: dict[int, str] | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Content hashes of finished tasks (one dict of split -> hashes per task).

        ``splits`` in the order they were stored; ``indices``: these tasks (all
        that have hashes by default). Tasks recorded by older gridstores keep
        theirs unpartitioned: in ``<t>.hashes`` (a count per split, then the
        hashes) or, before that, in ``<t>.npz``. ``files``: the tasks' hash files
        by index, if listed already.
        """
        files = self._hash_files(name) if files is None else files
        wanted = sorted(files) if indices is None else indices
        keys = [f"{tasks_key(name)}/{files.get(t, f'{t}.hashes')}" for t in wanted]
        for key, raw in self._fetch(name, keys):
            yield _npz(raw) if key.endswith(".npz") else unpack_hashes(raw, splits)

    def drop_damaged_tasks(
        self, name: str, rows: dict[int, dict[str, tuple[int, int]]]
    ) -> list[int]:
        """Forget the record of each task whose chunks are missing or do not decode.

        A record is written after its task's chunks, but without an fsync: after
        a power cut a record can outlive the chunks it vouches for. ``rows[task]``
        gives the task's rows per split; a split with no rows has no chunk to check.

        Returns
        -------
        list of int
            The tasks whose records were dropped (they will be run again).
        """
        staged = staged_key(name)
        arrays = {split: self._chunked_arrays(f"{staged}/{split}")
                  for split in {s for by_split in rows.values() for s in by_split}}  # fmt: skip
        dropped = []
        for index, by_split in sorted(rows.items()):
            keys, decoders = [], []
            for split, (start, stop) in by_split.items():
                if stop <= start:
                    continue
                for array in arrays[split]:
                    _, decode, _ = self._codec(f"{staged}/{split}/{array}")
                    keys.append(self._chunk_key(f"{staged}/{split}/{array}", index))
                    decoders.append(decode)
            try:
                for raw, decode in zip(self._get_many(keys), decoders, strict=True):
                    if raw is None:
                        raise ChunkMissingError(name)
                    decode(raw)
            except CorruptChunkError:  # missing, failed crc, or blosc cannot decode
                self._remove(task_key(name, index, "json"))
                dropped.append(index)
        return dropped

    def _chunked_arrays(self, split: str) -> list[str]:
        """The arrays of a staged split chunked along images: its own, and a paired version's."""
        listed = self._list(split)
        out = [a for a in listed if a in FIELDS]
        for group, names in ((PAIR, FIELDS), (INTERVENTION, tuple(RECORD_FIELDS))):
            if group in listed:
                out += [f"{group}/{a}" for a in self._list(f"{split}/{group}") if a in names]
        return out


# A task's hash file: HASH_MAGIC, then uint32 splits and bits (and 4 bytes of
# padding), then int64 offsets (in hashes) of every (partition, split) segment
# and the end, then the segments, little-endian uint64.
HASH_MAGIC = b"GSH2"


def _head_bytes(bits: int, splits: int) -> int:
    return 16 + 8 * ((1 << bits) * splits + 1)


def pack_hashes(hashes: dict[str, np.ndarray], bits: int) -> bytes:
    """The bytes of a task's hash file (see `TaskRecords.put_task_hashes`)."""
    parts = 1 << bits
    edges = np.arange(parts + 1, dtype=np.uint64) << np.uint64(64 - bits) if bits else None
    cut = []
    for h in hashes.values():
        h = np.sort(np.asarray(h, "<u8"))
        at = np.searchsorted(h, edges[1:-1]) if edges is not None else np.zeros(0, np.int64)
        cut.append(np.split(h, at))
    segments = [cut[k][p] for p in range(parts) for k in range(len(cut))]
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in segments]))).astype("<i8")
    head = HASH_MAGIC + np.array([len(cut), bits, 0], "<u4").tobytes() + offsets.tobytes()
    return head + b"".join(s.tobytes() for s in segments)


def unpack_hashes(raw: bytes, splits: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A task's hashes by split from its hash file (this gridstore's, or the unpartitioned
    raw file of an older one: a count per split, then the hashes)."""
    if raw[:4] == HASH_MAGIC:
        n, bits, _ = np.frombuffer(raw, "<u4", 3, offset=4)
        offsets = np.frombuffer(raw, "<i8", (1 << int(bits)) * int(n) + 1, offset=16)
        flat = np.frombuffer(raw, "<u8", offset=_head_bytes(int(bits), int(n)))
        segments = np.split(flat, offsets[1:-1])
        return {s: np.concatenate(segments[k :: len(splits)]) for k, s in enumerate(splits)}
    counts = np.frombuffer(raw, "<i8", len(splits))
    flat = np.frombuffer(raw, "<u8", offset=8 * len(splits))
    return dict(zip(splits, np.split(flat, np.cumsum(counts)[:-1]), strict=True))


def _in_parts(h: np.ndarray, bits: int, parts: range) -> np.ndarray:
    """The hashes whose top ``bits`` fall in ``parts``."""
    if not bits:
        return h
    top = h >> np.uint64(64 - bits)
    return h[(top >= parts.start) & (top < parts.stop)]


def _missing(name: str, key: str) -> VersionNotFoundError:
    return VersionNotFoundError(
        f"task file '{key}' of version '{name}' is missing; resume the version"
    )


def _npz(raw: bytes) -> dict[str, np.ndarray]:
    """The arrays of an npz file's bytes."""
    with np.load(io.BytesIO(raw)) as data:
        return {k: data[k] for k in data.files}
