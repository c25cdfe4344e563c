"""A staged version's task files: records, content hashes and other per-task arrays.

Each task of a version being written leaves files beside its record under
``layout.tasks_key(name)``: ``<t>.json`` (its statistics; what marks it done),
``<t>.hashes`` (its images' content hashes, raw: a count per split, then
the hashes, little-endian; the ``<t>.npz`` of an older gridstore is read
too) and, for a unique version, the arrays of `gridstore.write.unique`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from gridstore.errors import ChunkMissingError, CorruptChunkError, VersionNotFoundError
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

    def _fetch(self, name: str, keys: list[str]) -> Iterator[tuple[str, bytes]]:
        """``(key, bytes)`` of task files, in order, 32 fetched at a time, concurrently.

        Raises `VersionNotFoundError` for one that is missing.
        """
        for i in range(0, len(keys), 32):
            for key, raw in zip(keys[i : i + 32], self._get_many(keys[i : i + 32]), strict=True):
                if raw is None:
                    msg = f"task file '{key}' of version '{name}' is missing; resume the version"
                    raise VersionNotFoundError(msg)
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

    def put_task_hashes(self, name: str, index: int, hashes: dict[str, np.ndarray]) -> None:
        """Store task ``index``'s content hashes by split (in the plan's order), raw.

        A count per split, then the hashes, little-endian: read back without
        the cost of a zip archive (``np.load`` of an npz is ~1 ms a file).
        """
        counts = np.array([len(h) for h in hashes.values()], "<i8")
        body = b"".join(np.ascontiguousarray(h, "<u8").tobytes() for h in hashes.values())
        self._put(task_key(name, index, "hashes"), counts.tobytes() + body)

    def task_hashes(self, name: str, splits: tuple[str, ...]) -> Iterator[dict[str, np.ndarray]]:
        """Content hashes of each finished task (one dict of split -> hashes per task).

        ``splits`` in the order they were stored. Tasks recorded by gridstore
        before raw hash files keep theirs in ``<t>.npz``.
        """
        files: dict[int, str] = {}
        for f in self._task_files(name, ""):
            index, _, kind = f.partition(".")
            if kind == "hashes" or (kind == "npz" and int(index) not in files):
                files[int(index)] = f
        keys = [f"{tasks_key(name)}/{files[t]}" for t in sorted(files)]
        for key, raw in self._fetch(name, keys):
            if key.endswith(".npz"):
                yield _npz(raw)
                continue
            counts = np.frombuffer(raw, "<i8", len(splits))
            flat = np.frombuffer(raw, "<u8", offset=8 * len(splits))
            yield dict(zip(splits, np.split(flat, np.cumsum(counts)[:-1]), strict=True))

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
        arrays = {split: [a for a in self._list(f"{staged}/{split}") if a in FIELDS]
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


def _npz(raw: bytes) -> dict[str, np.ndarray]:
    """The arrays of an npz file's bytes."""
    with np.load(io.BytesIO(raw)) as data:
        return {k: data[k] for k in data.files}
