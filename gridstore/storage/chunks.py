"""The lowest layer of a store: bytes at keys, and whole encoded chunks of arrays.

A backend implements the primitives (get, put, create-only, list, sizes,
remove, copy) for its medium; `ChunkStore` turns them into the chunk reads and
writes every layer above uses, encoded exactly as zarr encodes them, with every
kind of damage raised as its own `CorruptChunkError` subclass.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from gridstore.errors import (
    ChunkChecksumError,
    ChunkDecodeError,
    ChunkMissingError,
    CorruptChunkError,
    VersionNotFoundError,
)
from gridstore.storage.layout import FIELDS, chunk_encoder, chunk_key, chunk_separator, staged_key

__all__ = ["ChunkStore"]


class ChunkStore(ABC):
    """Bytes at keys relative to a store's root, and the chunks of its arrays."""

    path: Any
    #: tails() reads only the last bytes of an object (a local file); otherwise it
    #: reads whole objects, checked on the way, as `_get_ranges` does.
    reads_tails = False

    def __init__(self) -> None:
        self._codecs: dict[str, tuple[Any, Any, int]] = {}
        self._separators: dict[str, str] = {}  # each array's chunk key separator
        # Written into this process's claims and published versions, so that a
        # conditional create whose answer was lost can be recognised as its own.
        self.token = uuid.uuid4().hex
        # crc32c of each chunk this object wrote, by key, until a task record takes them
        # (`gridstore.write.identity`): the content digest needs them, not a re-read.
        self.written_crcs: dict[str, int] = {}

    # -- primitives: bytes at keys relative to the store's root ------------------

    @abstractmethod
    def _get(self, key: str) -> bytes | None:
        """The object at ``key``, or None."""

    def get(self, key: str) -> bytes | None:
        """The object at ``key`` (relative to the store's root), or None."""
        return self._get(key)

    def _get_ranges(
        self, ranges: list[tuple[str, int, int]], held: dict[str, bytes | None] | None = None
    ) -> list[bytes | None]:
        """Byte ranges ``(key, start, length)`` of objects (up to ``length`` bytes each;
        None where there is no object).

        By default each object is read whole (once) and sliced: object storage
        checks a whole object's checksum on the way, never a range's (a byte
        damaged in transit would go unseen). ``held``: objects read whole by an
        earlier call, by key, to slice again; those read now are added. A local
        backend reads the ranges (and holds nothing).
        """
        held = {} if held is None else held
        keys = [k for k in dict.fromkeys(key for key, _, _ in ranges) if k not in held]
        held.update(zip(keys, self._get_many(keys), strict=True))
        return [None if held[k] is None else held[k][s : s + n] for k, s, n in ranges]  # type: ignore[index]

    def tails(self, keys: list[str], n: int = 4) -> list[bytes | None]:
        """The last ``n`` bytes of each object (None: missing), e.g. a chunk's crc32c.

        By default each object is read whole, for the reason `_get_ranges`
        gives: a suffix-range GET carries no checksum. A local backend reads
        only those bytes (``reads_tails``).
        """
        return [None if raw is None else raw[-n:] for raw in self._get_many(keys)]

    def has(self, key: str) -> bool:
        """True if an object is stored at ``key`` (relative to the store's root)."""
        return self._get(key) is not None

    def _get_many(self, keys: list[str]) -> list[bytes | None]:
        """Several objects (a backend may fetch them concurrently)."""
        return [self._get(k) for k in keys]

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` whole: readers see the old object or the new one."""

    def _put_record(self, key: str, data: bytes) -> None:
        """Store a bookkeeping record whole and durably (a tombstone, a tag, a note)."""
        self._put(key, data)

    def _put_chunk(self, key: str, data: bytes) -> None:
        """Store a chunk; a backend may defer it until :meth:`_flush`."""
        self._put(key, data)

    def _flush(self) -> None:  # noqa: B027 - nothing to wait for unless _put_chunk defers
        """Wait for deferred chunk writes; raise the first error."""

    @abstractmethod
    def _create(self, key: str, data: bytes) -> bool:
        """Store ``data`` at ``key`` unless something is there; True if this call made it."""

    @abstractmethod
    def _list(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (objects and sub-prefixes); [] if none."""

    @abstractmethod
    def _sizes(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix``, by key relative to it, with its size in bytes."""

    @abstractmethod
    def _remove(self, prefix: str) -> None:
        """Remove the object ``prefix`` and everything under ``prefix/``."""

    @abstractmethod
    def _copy(self, pairs: list[tuple[str, str]]) -> None:
        """Copy objects ``(source, destination)``; a missing source raises FileNotFoundError."""

    # -- chunks of arrays ---------------------------------------------------------

    def _codec(self, array: str) -> tuple[Any, Any, int]:
        """``(encode, decode, ndim)`` of the array whose prefix is ``array`` (from its zarr.json)."""
        if array not in self._codecs:
            raw = self._get(f"{array}/zarr.json")
            if raw is None:
                msg = f"array '{array}' is missing from store '{self.path}'"
                raise VersionNotFoundError(msg)
            meta, where = json.loads(raw), f"{self.path}/{array}"
            self._separators[array] = chunk_separator(meta, where)
            self._codecs[array] = chunk_encoder(meta, where)
        return self._codecs[array]

    def _chunk_key(self, array: str, chunk: int) -> str:
        """Key of chunk ``chunk`` of the array whose prefix is ``array``, as its zarr.json says."""
        _, _, ndim = self._codec(array)
        return chunk_key(array, chunk, ndim, self._separators[array])

    def chunk_separator(self, array: str) -> str:
        """The chunk key separator of the array whose prefix is ``array`` ("." or "/").

        Read on its own: an array whose codecs gridstore cannot decode still has its keys.
        """
        if array not in self._separators:
            raw = self._get(f"{array}/zarr.json")
            if raw is None:
                msg = f"array '{array}' is missing from store '{self.path}'"
                raise VersionNotFoundError(msg)
            self._separators[array] = chunk_separator(json.loads(raw), f"{self.path}/{array}")
        return self._separators[array]

    def write_chunk(self, name: str, split: str, array: str, chunk: int, data: np.ndarray) -> None:
        """Encode (as zarr would) and store chunk ``chunk`` (along images) of a staged array.

        A chunk is stored whole or not at all, so a killed writer leaves no partial chunk.
        """
        prefix = f"{staged_key(name)}/{split}/{array}"
        encode, _, _ = self._codec(prefix)
        key, raw = self._chunk_key(prefix, chunk), encode(data)
        self.written_crcs[key] = int.from_bytes(raw[-4:], "little")  # zarr's crc32c, stored last
        self._put_chunk(key, raw)

    def read_chunk(self, array: str, chunk: int) -> np.ndarray:
        """Chunk ``chunk`` (along images) of the array whose prefix is ``array``, decoded.

        Raises
        ------
        ChunkMissingError, ChunkChecksumError, ChunkDecodeError
            The chunk is missing, fails its crc32c, or does not decode (all
            `CorruptChunkError`), with a message naming its key.
        """
        _, decode, _ = self._codec(array)
        key = self._chunk_key(array, chunk)
        raw = self._get(key)
        if raw is None:
            msg = f"chunk '{key}' of store '{self.path}' is missing"
            raise ChunkMissingError(msg)
        try:
            return decode(raw)
        except CorruptChunkError as err:
            msg = f"chunk '{key}' of store '{self.path}' {_FAULTS[type(err)]}"
            raise type(err)(msg) from err

    def read_chunk_rows(
        self, name: str, split: str, array: str, chunk: int, rows: int
    ) -> np.ndarray:
        """The first ``rows`` rows of chunk ``chunk`` of a complete version's array, decoded.

        Raises
        ------
        CorruptChunkError
            The chunk is missing or damaged; the message says how to find out more.
        """
        try:
            return self.read_chunk(f"{name}/{split}/{array}", chunk)[:rows].copy()
        except CorruptChunkError as err:
            msg = f"{err}; run 'gridstore validate {name}'"
            raise type(err)(msg) from err

    def chunk_sizes(self, name: str, split: str, array: str) -> dict[int, int]:
        """Size in bytes of each stored chunk (by index along images) of a complete version's array."""
        prefix = f"{name}/{split}/{array}"
        separator, out = self.chunk_separator(prefix), {}
        for key, size in self._sizes(prefix).items():
            parts = key.split(separator)
            if parts[0] == "c" and len(parts) > 1:  # not zarr.json
                out[int(parts[1])] = size
        return out

    def same_encoding(self, source: str, name: str) -> bool:
        """True if every array of the staged version ``name`` encodes chunks as ``source``'s does.

        A grow shares the source's chunk files only then: a version written by
        an older gridstore with other codecs is regenerated instead, to the
        bytes a fresh run writes. Only the codecs count: dimension names and
        attributes (which versions before the shared names lack) change no
        chunk's bytes.
        """
        staged = staged_key(name)
        for split in self._list(staged):
            if split == "zarr.json":
                continue
            keys = [f"{v}/{split}/{array}/zarr.json" for array in FIELDS for v in (source, staged)]
            docs = self._get_many(keys)
            if None in docs:  # an array the other lacks (an older layout)
                return False
            codecs = [json.dumps(json.loads(d or b"{}")["codecs"]) for d in docs]
            if codecs[0::2] != codecs[1::2]:
                return False
        return True

    def copy_chunk(self, source: str, name: str, split: str, chunk: int) -> None:
        """Copy chunk ``chunk`` of every array of a split from a complete version into a staged one.

        Raises
        ------
        VersionNotFoundError
            A chunk of the source is missing (a grow never copies nothing).
        """
        src, dst = f"{source}/{split}", f"{staged_key(name)}/{split}"
        pairs = []
        for array in FIELDS:  # the layout's arrays, not a listing: a vanished source raises
            # a source of the older layout keeps its keys; the copy takes the new version's
            pairs.append(
                (self._chunk_key(f"{src}/{array}", chunk), self._chunk_key(f"{dst}/{array}", chunk))
            )
        try:
            self._copy(pairs)
        except FileNotFoundError as err:
            msg = (
                f"chunk {chunk} of '{src}' is missing from store '{self.path}'; validate '{source}'"
            )
            raise VersionNotFoundError(msg) from err


_FAULTS = {  # what each damage is called in messages
    ChunkMissingError: "is missing",
    ChunkChecksumError: "failed its crc32c check",
    ChunkDecodeError: "could not be decoded",
}
