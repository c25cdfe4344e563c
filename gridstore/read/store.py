"""Lazy readers of a gridstore store: versions, splits, chunked arrays, batches, adapters.

A store is a local directory or an ``s3://bucket/prefix`` URL (gridstore.storage);
both are read through zarr the same way. Every byte is read one whole chunk at a
time by `_read_chunk`, which turns checksum failures and missing chunks into
`CorruptChunkError`. Readers hold only names and reopen zarr lazily in each
process, so they pickle into DataLoader workers under both 'fork' and 'spawn'.
torch is imported only by the adapters (gridstore.read.torch).
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from gridstore.errors import (
    CorruptChunkError,
    StoreNotFoundError,
    VersionNotFoundError,
)
from gridstore.read.batching import Batching
from gridstore.read.torch import TorchAdapters
from gridstore.storage import FIELDS, backend, open_backend, zarr_store

if TYPE_CHECKING:
    import zarr

__all__ = ["LazyArray", "SplitReader", "StoreReader", "VersionReader", "open_store"]

SPLITS = ("train", "val", "test")
# Fields whose every row (one image) has a nonzero byte in a valid version.
_NONZERO_ROWS = frozenset(FIELDS) - {"object_subtype", "object_bbox"}
_CACHE_CHUNKS = 2
_VALIDATE = "run 'gridstore validate --full'"


def open_store(path: str | os.PathLike[str]) -> StoreReader:
    """Open a gridstore store for reading.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of the store (its root zarr group), or an ``s3://bucket/prefix``
        URL (credentials and endpoint from the environment, see docs/internals.md).

    Returns
    -------
    StoreReader
        The store; only its root metadata has been read.

    Raises
    ------
    StoreNotFoundError
        `path` does not exist, is a file, or is not a zarr group whose
        attributes hold ``{"gridstore": {"layout": 1}}`` (the checks and
        messages of `gridstore.storage.open_backend`).

    Examples
    --------
    >>> split = open_store("datasets").version()["train"]  # doctest: +SKIP
    >>> next(split.batches(256)).shape  # doctest: +SKIP
    (256, 16, 16)
    """
    reader = StoreReader(path)
    reader._root()
    return reader


def _zero_rows(data: np.ndarray) -> np.ndarray:
    """Return the indices of the rows (axis 0) whose bytes are all zero."""
    rows = data.reshape(len(data), -1).view(np.uint8)
    rows = rows.view(np.uint64) if rows.shape[1] % 8 == 0 else rows
    return np.flatnonzero(np.bitwise_or.reduce(rows, axis=1) == 0)


def _chunk_key(arr: zarr.Array[Any], chunk: int) -> str:
    return f"{arr.path}/{arr.metadata.encode_chunk_key((chunk,) + (0,) * (arr.ndim - 1))}"


def _read_chunk(
    arr: zarr.Array[Any], chunk: int, *, field: str, store: str, out: np.ndarray | None = None
) -> np.ndarray:
    """Read chunk `chunk` (axis 0) of `arr` whole through zarr and check its integrity.

    With `out` (C-contiguous, at least the chunk's rows), decode into its first
    rows. A crc32c or decode failure, a missing chunk (zarr reads it as fill
    zeros) or an all-zero image raise `CorruptChunkError` naming the chunk key.
    """
    from zarr.buffer.cpu import NDBuffer

    size = arr.chunks[0]
    rows = slice(chunk * size, min((chunk + 1) * size, arr.shape[0]))
    try:
        if out is None:
            data = np.asarray(arr[rows])
        else:
            data = out[: rows.stop - rows.start]
            arr.get_basic_selection(rows, out=NDBuffer.from_numpy_array(data))
    except (ValueError, RuntimeError) as err:
        what = "failed its crc32c check" if "checksum" in str(err) else "could not be decoded"
        version = arr.path.split("/")[0]
        msg = (
            f"chunk '{_chunk_key(arr, chunk)}' of store '{store}' {what}; "
            f"{_VALIDATE} and regenerate {version}"
        )
        raise CorruptChunkError(msg) from err
    zero = _zero_rows(data) if field in _NONZERO_ROWS else ([] if data.any() else [0])
    if len(zero):
        key = _chunk_key(arr, chunk)
        if not backend(store).has(key):  # local or object storage alike
            msg = f"chunk '{key}' of store '{store}' is missing (read as zeros); {_VALIDATE}"
            raise CorruptChunkError(msg)
        if field in _NONZERO_ROWS:
            msg = (
                f"chunk '{key}' of store '{store}' has an all-zero row at offset {zero[0]},"
                f" which a valid version never has; {_VALIDATE}"
            )
            raise CorruptChunkError(msg)
    return data


class StoreReader:
    """A gridstore store opened for reading; picklable (it holds only its path).

    Parameters
    ----------
    path : str or os.PathLike
        Directory or ``s3://`` URL of the store; `open_store` checks it at once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._opened: tuple[int, zarr.Group] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_opened": None}

    def __repr__(self) -> str:
        return f"StoreReader({self.path!r})"

    def _root(self) -> zarr.Group:
        if self._opened is None or self._opened[0] != os.getpid():
            self._opened = (os.getpid(), self._open_root())
        return self._opened[1]

    def _group(self, path: str) -> zarr.Group:
        return cast("zarr.Group", self._root()[path])

    def _open_root(self) -> zarr.Group:
        import zarr

        open_backend(self.path)  # the store's own checks and messages (local or URL)
        return zarr.open_group(zarr_store(self.path), mode="r")

    @property
    def versions(self) -> list[str]:
        """Names of the complete versions, oldest first (by date, then N)."""
        self._root()  # the store's own checks, once per process
        return backend(self.path).versions()

    def version(self, name: str | None = None) -> VersionReader:
        """Return a complete version.

        Parameters
        ----------
        name : str, optional
            A name such as ``"2026-11-24-v1"``; None (default) is the latest.

        Returns
        -------
        VersionReader

        Raises
        ------
        VersionNotFoundError
            No such version (or, for None, no complete version at all).
        VersionIncompleteError
            The version exists but is being written or was interrupted.
        """
        available = self.versions
        if name is None and available:
            name = available[-1]
        if name is None:
            msg = (
                f"store '{self.path}' has no complete version; "
                f"create one with 'gridstore generate --store {self.path}'"
            )
            raise VersionNotFoundError(msg)
        if name not in available:
            backend(self.path).metadata(name)  # raises the store's own not-found / unfinished error
        return VersionReader(self, name)


class VersionReader:
    """One complete version: `name`, `metadata`, `splits`, and ``version[split]``."""

    def __init__(self, store: StoreReader, name: str) -> None:
        self.store = store
        self.name = name

    def __repr__(self) -> str:
        return f"VersionReader({self.store.path!r}, {self.name!r})"

    @property
    def metadata(self) -> dict[str, Any]:
        """The version's metadata (a copy of its group attributes)."""
        return dict(self.store._group(self.name).attrs.asdict())

    @property
    def splits(self) -> list[str]:
        """Names of the splits present, in the order train, val, test."""
        present = set(self.store._group(self.name).group_keys())
        return [s for s in SPLITS if s in present]

    def __getitem__(self, split: str) -> SplitReader:
        """Return split `split`; raise `VersionNotFoundError` naming those available."""
        if split not in (available := self.splits):
            msg = (
                f"split '{split}' not found in version '{self.name}' of store "
                f"'{self.store.path}'; available: {', '.join(available) or 'none'}"
            )
            raise VersionNotFoundError(msg)
        return SplitReader(self.store, self.name, split)


class LazyArray:
    """One array of a split, read chunk by chunk when indexed.

    ``a[key]`` takes on axis 0 an int, a slice, or an integer or boolean index
    array (any order, repeats and negative indices allowed), optionally
    followed by indices of the other axes, and returns a new numpy array. Each
    needed chunk is decoded once; the last two decoded chunks are cached, so
    memory stays bounded. Not safe to share between threads.
    """

    def __init__(self, split: SplitReader, name: str) -> None:
        self.split = split
        self.name = name
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"split": self.split, "name": self.name, "_cache": OrderedDict()}

    def __repr__(self) -> str:
        return f"LazyArray({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the whole array; axis 0 counts images."""
        return tuple(self.split._arrays()[self.name].shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Numpy dtype of the array."""
        return np.dtype(self.split._arrays()[self.name].dtype)

    @property
    def chunk_images(self) -> int:
        """Images per chunk (axis 0 of the chunk shape)."""
        return int(self.split._arrays()[self.name].chunks[0])

    def __len__(self) -> int:
        return self.shape[0]

    def chunk(self, index: int) -> np.ndarray:
        """Return chunk `index`, decoded and checked (cached: do not modify it)."""
        if index in self._cache:
            self._cache.move_to_end(index)
        else:
            self._cache[index] = self.split._read(self.name, index)
            if len(self._cache) > _CACHE_CHUNKS:
                self._cache.popitem(last=False)
        return self._cache[index]

    def __getitem__(self, key: Any) -> np.ndarray:
        key, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        n, size = len(self), self.chunk_images
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -n <= key < n:
                msg = f"index {key} is out of bounds for axis 0 with size {n}"
                raise IndexError(msg)
            i = int(key) % n
            return np.asarray(self.chunk(i // size)[i % size][rest]).copy()
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1 and stop > start:
                out = self._range(start, stop)
            else:
                out = self._gather(np.arange(start, stop, step))
        else:
            idx = np.asarray(key)
            if idx.dtype == np.bool_:
                if idx.shape != (n,):
                    msg = f"boolean index has shape {idx.shape}, expected ({n},)"
                    raise IndexError(msg)
                idx = np.flatnonzero(idx)
            elif idx.size and not np.issubdtype(idx.dtype, np.integer):
                msg = f"index arrays must hold integers, got dtype {idx.dtype}"
                raise IndexError(msg)
            idx = idx.astype(np.int64)
            if (bad := (idx < -n) | (idx >= n)).any():
                msg = f"index {idx[bad][0]} is out of bounds for axis 0 with size {n}"
                raise IndexError(msg)
            out = self._gather(np.where(idx < 0, idx + n, idx).ravel())
            out = out.reshape(idx.shape + self.shape[1:])
        return out[(slice(None),) * (out.ndim - len(self.shape) + 1) + rest] if rest else out

    def _range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (in bounds), copied chunk by chunk."""
        out = np.empty((stop - start, *self.shape[1:]), self.dtype)
        size = self.chunk_images
        for c in range(start // size, -(-stop // size)):
            lo, hi = max(start, c * size), min(stop, (c + 1) * size)
            out[lo - start : hi - start] = self.chunk(c)[lo - c * size : hi - c * size]
        return out

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx` (in bounds, non-negative) in order, decoding each chunk once."""
        out = np.empty((len(idx), *self.shape[1:]), self.dtype)
        size = self.chunk_images
        order = np.argsort(idx // size, kind="stable")
        cids = idx[order] // size
        cuts = [0, *(np.flatnonzero(np.diff(cids)) + 1), len(idx)] if len(idx) else [0]
        for lo, hi in itertools.pairwise(cuts):
            pos, c = order[lo:hi], int(cids[lo])
            out[pos] = np.take(self.chunk(c), idx[pos] - c * size, axis=0)
        return out


class _Fields(Mapping[str, LazyArray]):
    """Annotation arrays by name: ``fields["num_objects"]`` or ``fields.num_objects``."""

    def __init__(self, split: SplitReader, names: list[str]) -> None:
        self._split, self._names = split, names

    def __getitem__(self, name: str) -> LazyArray:
        return self._split.annotation(name)

    def __getattr__(self, name: str) -> LazyArray:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        return self._split.annotation(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class SplitReader(Batching, TorchAdapters):
    """One split of a version: lazy arrays, shuffled batches, torch and JAX adapters.

    Picklable: it holds the store path and the version and split names and
    reopens zarr lazily in each process (open zarr objects are never pickled).
    """

    def __init__(self, store: StoreReader, version: str, name: str) -> None:
        self.store, self.version, self.name = store, version, name
        self._handles: tuple[int, dict[str, zarr.Array[Any]]] | None = None
        self._lazy: dict[str, LazyArray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handles": None, "_lazy": {}}

    def __repr__(self) -> str:
        return f"SplitReader({self.store.path!r}, {self.version!r}, {self.name!r})"

    def _arrays(self) -> dict[str, zarr.Array[Any]]:
        if self._handles is None or self._handles[0] != os.getpid():
            where = f"{self.version}/{self.name}"
            group, arrays = self.store._group(where), {}
            for field in FIELDS:  # one at a time: a corrupt zarr.json fails alone, by name
                try:
                    arrays[field] = group[field]
                except KeyError:
                    continue  # an older layout without this annotation
                except (ValueError, TypeError) as err:  # zarr.json that is not JSON / not v3
                    msg = (
                        f"the metadata of '{where}/{field}' in store '{self.store.path}' is corrupt "
                        f"({type(err).__name__}: {str(err).splitlines()[0]}); run 'gridstore validate'"
                    )
                    raise StoreNotFoundError(msg) from err
            self._handles = (os.getpid(), arrays)
        return self._handles[1]

    def _read(self, field: str, chunk: int, out: np.ndarray | None = None) -> np.ndarray:
        """Chunk `chunk` of array `field`, checked (see `_read_chunk`); into `out` if given."""
        arr = self._arrays()[field]
        return _read_chunk(arr, chunk, field=field, store=self.store.path, out=out)

    @property
    def fields(self) -> list[str]:
        """Names of the split's arrays: "images", then annotations in table order."""
        rank = {f: i for i, f in enumerate(FIELDS)}
        return sorted(self._arrays(), key=lambda f: (rank.get(f, len(rank)), f))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def images(self) -> LazyArray:
        """The images, (n, G, G) uint8."""
        return self.annotation("images")

    @property
    def annotations(self) -> _Fields:
        """Annotation arrays by name: ``split.annotations.num_objects`` or ``[...]``."""
        return _Fields(self, [f for f in self.fields if f != "images"])

    def annotation(self, name: str) -> LazyArray:
        """Return array `name`; raise `VersionNotFoundError` (a KeyError) if absent."""
        if name not in self._lazy:
            if name not in self._arrays():
                msg = (
                    f"field '{name}' not found in split '{self.name}' of version "
                    f"'{self.version}'; available: {', '.join(self.fields)}"
                )
                raise VersionNotFoundError(msg)
            self._lazy[name] = LazyArray(self, name)
        return self._lazy[name]
