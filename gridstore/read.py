"""Lazy readers of a gridstore store: versions, splits, chunked arrays, batches, adapters.

A store is a local directory or an ``s3://bucket/prefix`` URL (gridstore.objstore);
both are read through zarr the same way. Every byte is read one whole chunk at a
time by `_read_chunk`, which turns checksum failures and missing chunks into
`CorruptChunkError`. Readers hold only names and reopen zarr lazily in each
process, so they pickle into DataLoader workers under both 'fork' and 'spawn'.
torch is imported only by the adapters (gridstore._torch).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from gridstore._torch import TorchAdapters
from gridstore.errors import (
    ConfigError,
    CorruptChunkError,
    GridstoreError,
    StoreNotFoundError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.objstore import backend, open_backend, zarr_store
from gridstore.store import parse_version_name

if TYPE_CHECKING:
    import zarr

__all__ = ["LazyArray", "SplitReader", "StoreReader", "VersionReader", "open_store"]

Batch = dict[str, np.ndarray] | np.ndarray
SPLITS = ("train", "val", "test")
_FIELDS = ("images", "num_objects", "object_type", "object_subtype", "object_colour",
           "object_size", "object_bbox", "instance_map")  # docs/internals.md order
# Fields whose every row (one image) has a nonzero byte in a valid version.
_NONZERO_ROWS = frozenset(_FIELDS) - {"object_subtype", "object_bbox"}
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
        messages of `gridstore.store.Store.open` / `gridstore.objstore.ObjectStore.open`).

    Examples
    --------
    >>> split = open_store("datasets").version()["train"]  # doctest: +SKIP
    >>> next(split.batches(256)).shape  # doctest: +SKIP
    (256, 16, 16)
    """
    reader = StoreReader(path)
    reader._root()
    return reader


def _version_key(name: str) -> tuple[Any, int] | None:
    """(date, N) of a version name, or None if `name` is not one."""
    try:
        return parse_version_name(name)
    except ConfigError:
        return None


async def _version_states(store: Any, names: list[str] | None) -> dict[str, Any]:
    """The state attribute of each version (None: no zarr.json), read concurrently.

    Not through zarr's group listing, which warns about a prefix without
    zarr.json (an object-storage version mid-commit). None lists all versions.
    """
    from zarr.core.buffer import default_buffer_prototype

    names = names or [n async for n in store.list_dir("") if _version_key(n)]
    proto = default_buffer_prototype()
    bufs = await asyncio.gather(*(store.get(f"{n}/zarr.json", prototype=proto) for n in names))
    states = {}
    for name, buf in zip(names, bufs, strict=True):
        try:
            doc = None if buf is None else json.loads(buf.to_bytes())
            states[name] = None if doc is None else doc["attributes"].get("state")
        except (ValueError, KeyError, TypeError, AttributeError):
            states[name] = "unreadable"
    return states


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
        msg = (f"chunk '{_chunk_key(arr, chunk)}' of store '{store}' {what}; "
               f"{_VALIDATE} and regenerate {version}")
        raise CorruptChunkError(msg) from err
    zero = _zero_rows(data) if field in _NONZERO_ROWS else ([] if data.any() else [0])
    if len(zero):
        from zarr.core.sync import sync

        key = _chunk_key(arr, chunk)
        if not sync(arr.store.exists(key)):  # through the root store: local or object storage
            msg = f"chunk '{key}' of store '{store}' is missing (read as zeros); {_VALIDATE}"
            raise CorruptChunkError(msg)
        if field in _NONZERO_ROWS:
            msg = (f"chunk '{key}' of store '{store}' has an all-zero row at offset {zero[0]},"
                   f" which a valid version never has; {_VALIDATE}")
            raise CorruptChunkError(msg)
    return data


def _take(data: list[np.ndarray], perm: np.ndarray | None, lo: int, hi: int) -> list[np.ndarray]:
    """Copy rows ``perm[lo:hi]`` (``lo:hi`` if perm is None) of each array."""
    if perm is None:
        return [d[lo:hi].copy() for d in data]
    idx, out = perm[lo:hi], []
    for d in data:
        if d.ndim > 1 and d.strides[0] % 8 == 0 and d.flags.c_contiguous:  # 8-byte words
            words = np.take(d.reshape(len(d), -1).view(np.uint64), idx, axis=0)
            out.append(words.view(d.dtype).reshape(len(idx), *d.shape[1:]))
        else:
            out.append(np.take(d, idx, axis=0))
    return out


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
        from zarr.core.sync import sync

        states = sync(_version_states(self._root().store, None))
        names = [name for name, state in states.items() if state == "complete"]
        return sorted(names, key=_version_key)  # type: ignore[arg-type]

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
            The version exists but its state is not "complete".
        """
        available = self.versions
        if name is None and available:
            name = available[-1]
        if name is None:
            msg = (f"store '{self.path}' has no complete version; "
                   f"create one with 'gridstore generate --store {self.path}'")
            raise VersionNotFoundError(msg)
        if name in available:
            return VersionReader(self, name)
        from zarr.core.sync import sync

        key = _version_key(name)
        state = sync(_version_states(self._root().store, [name]))[name] if key else None
        if state is not None:
            why = f"its state is {state!r}"
        elif key and name in {s.name for s in backend(self.path).staged()}:
            why = "it is being written or was interrupted"
        else:
            why = ""
        if why:
            msg = (f"version '{name}' in store '{self.path}' is unfinished ({why}); resume it with "
                   f"'gridstore generate --store {self.path} --version {name} --resume' or "
                   f"delete it with 'gridstore delete {name} --store {self.path}'")
            raise VersionIncompleteError(msg)
        msg = (f"version '{name}' not found in store '{self.path}'; "
               f"available: {', '.join(available) or 'none'}")
        raise VersionNotFoundError(msg)


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
            msg = (f"split '{split}' not found in version '{self.name}' of store "
                   f"'{self.store.path}'; available: {', '.join(available) or 'none'}")
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
            arr = self.split._arrays()[self.name]
            self._cache[index] = _read_chunk(arr, index, field=self.name,
                                             store=self.split.store.path)
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


class SplitReader(TorchAdapters):
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
            try:
                arrays = dict(self.store._group(where).arrays())
            except (ValueError, KeyError, TypeError) as err:  # zarr.json that is not JSON / not v3
                msg = (
                    f"the metadata of an array in '{where}' of store '{self.store.path}' is corrupt "
                    f"({type(err).__name__}: {str(err).splitlines()[0]}); run 'gridstore validate'"
                )
                raise StoreNotFoundError(msg) from err
            self._handles = (os.getpid(), arrays)
        return self._handles[1]

    @property
    def fields(self) -> list[str]:
        """Names of the split's arrays: "images", then annotations in table order."""
        rank = {f: i for i, f in enumerate(_FIELDS)}
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
                msg = (f"field '{name}' not found in split '{self.name}' of version "
                       f"'{self.version}'; available: {', '.join(self.fields)}")
                raise VersionNotFoundError(msg)
            self._lazy[name] = LazyArray(self, name)
        return self._lazy[name]

    def _check(self, fields: Sequence[str], **ints: int) -> None:
        """Raise `ConfigError` for an out-of-range argument or an unknown field."""
        for name, value in ints.items():
            low = 1 if name in ("batch_size", "window_chunks", "world_size") else 0
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                msg = f"{name} must be an integer >= {low}, got {value!r}"
                raise ConfigError(msg)
        if ints.get("rank", 0) >= ints.get("world_size", 1):
            msg = f"rank must be < world_size={ints['world_size']}, got {ints['rank']}"
            raise ConfigError(msg)
        for f in fields:
            if f not in self._arrays():
                msg = f"unknown field '{f}' in split '{self.name}'; available: " + ", ".join(
                    self.fields)
                raise ConfigError(msg)
        if not fields:
            msg = "fields must name at least one array, got none"
            raise ConfigError(msg)
        if len({self._arrays()[f].chunks[0] for f in fields}) > 1:
            msg = f"arrays {list(fields)} of split '{self.name}' are chunked differently"
            raise GridstoreError(msg)

    def _windows(
        self, shuffle: bool, seed: int, epoch: int, rank: int, world_size: int, window: int
    ) -> list[np.ndarray]:
        nchunks = -(-len(self) // self.images.chunk_images)
        rng = np.random.default_rng([seed, epoch, 0])
        mine = (rng.permutation(nchunks) if shuffle else np.arange(nchunks))[rank::world_size]
        return [mine[i : i + window] for i in range(0, len(mine), window)]

    def _rows(self, chunks: np.ndarray) -> int:
        size, n = self.images.chunk_images, len(self)
        return sum(min(size, n - int(c) * size) for c in chunks)

    def num_batches(self, batch_size: int, *, drop_last: bool = False, **kwargs: Any) -> int:
        """Return how many batches `batches` yields from step 0 with these arguments.

        Ranks' shares can differ by a chunk: in DDP, stop every rank after the
        minimum of this over ranks so that collective calls stay in step.

        Parameters
        ----------
        batch_size : int
            Rows per batch.
        drop_last : bool
            As in `batches`.
        **kwargs
            ``shuffle``, ``seed``, ``epoch``, ``rank``, ``world_size`` as in `batches`.

        Returns
        -------
        int

        Raises
        ------
        ConfigError
            An argument is out of range.
        """
        opts = {"seed": 0, "epoch": 0, "rank": 0, "world_size": 1, **kwargs}
        shuffle = opts.pop("shuffle", True)
        self._check(("images",), batch_size=batch_size, **opts)
        rows = sum(self._rows(w) for w in self._windows(shuffle, **opts, window=1))
        return rows // batch_size if drop_last else -(-rows // batch_size)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
        start_step: int = 0,
        drop_last: bool = False,
        window_chunks: int = 4,
        fields: Sequence[str] = ("images",),
        rank: int = 0,
        world_size: int = 1,
    ) -> Iterator[Batch]:
        """Yield one epoch of batches, shuffled by chunk windows in bounded memory.

        The chunks are permuted by a generator seeded from ``(seed, epoch)``; rank
        `rank` of `world_size` takes ``order[rank::world_size]`` (disjoint shares
        that together hold every chunk once), reads them `window_chunks` at a time
        and shuffles each window's rows (generator seeded from ``(seed, epoch,
        rank, world_size, window)``). Batches are cut from that stream of rows:
        one may span two windows, never two epochs; each row comes once. Resuming
        is exact: the batches from `start_step` on equal those of an uninterrupted
        run with the same arguments, and windows before it are not read. Memory:
        one window of the requested fields plus the batch being built.

        Parameters
        ----------
        batch_size : int
            Rows per batch; the last one may be short unless `drop_last`.
        shuffle : bool
            Shuffle chunks and rows (default); False keeps the stored order.
        seed, epoch : int
            Seed the permutations; each epoch has its own order.
        start_step : int
            Index of the first batch to yield (to resume an interrupted epoch).
        drop_last : bool
            Drop a short last batch.
        window_chunks : int
            Chunks shuffled together: more mixes better and takes more memory.
        fields : sequence of str
            Arrays to read; ``("images",)`` yields arrays, anything else dicts.
        rank, world_size : int
            This process's share of the chunks in a distributed job.

        Returns
        -------
        iterator of numpy.ndarray or dict of str to numpy.ndarray
            New arrays that the caller owns.

        Raises
        ------
        ConfigError
            An argument is out of range or a field is unknown (raised at once).
        CorruptChunkError
            A chunk is missing or fails its checksum (raised when reached).
        """
        fields = tuple(fields)
        self._check(fields, batch_size=batch_size, seed=seed, epoch=epoch, rank=rank,
                    world_size=world_size, start_step=start_step, window_chunks=window_chunks)
        windows = self._windows(shuffle, seed, epoch, rank, world_size, window_chunks)
        seeds = (seed, epoch, rank, world_size) if shuffle else None
        return self._stream(windows, fields, batch_size, start_step, drop_last, seeds)

    def numpy_batches(self, batch_size: int, **kwargs: Any) -> Iterator[Batch]:
        """Yield numpy batches exactly as `batches` does (the name JAX users look for).

        For JAX, convert on arrival: ``x = jax.numpy.asarray(batch)`` (or
        ``jax.device_put(batch, sharding)``); in a multi-host job pass
        ``rank=jax.process_index(), world_size=jax.process_count()``.

        Parameters
        ----------
        batch_size : int
            Rows per batch.
        **kwargs
            Any keyword argument of `batches`.

        Returns
        -------
        iterator of numpy.ndarray or dict of str to numpy.ndarray

        Raises
        ------
        ConfigError
            As `batches`.
        """
        return self.batches(batch_size, **kwargs)

    def _stream(
        self,
        windows: list[np.ndarray],
        fields: tuple[str, ...],
        batch_size: int,
        start_step: int,
        drop_last: bool,
        seeds: tuple[int, ...] | None,
    ) -> Iterator[Batch]:
        arrays, path = self._arrays(), self.store.path
        starts = np.cumsum([0, *(self._rows(w) for w in windows)])
        steps = starts[-1] // batch_size if drop_last else -(-starts[-1] // batch_size)
        if start_step >= steps:
            return
        skip = start_step * batch_size
        first = int(np.searchsorted(starts, skip, side="right")) - 1
        cap = len(windows[0]) * self.images.chunk_images  # one buffer per field, reused
        bufs = [np.empty((cap, *arrays[f].shape[1:]), arrays[f].dtype) for f in fields]

        def pack(parts: list[np.ndarray]) -> Batch:
            return parts[0] if fields == ("images",) else dict(zip(fields, parts, strict=True))

        pending: list[np.ndarray] | None = None
        for w in range(first, len(windows)):
            off = 0
            for c in windows[w]:
                for f, buf in zip(fields, bufs, strict=True):
                    got = _read_chunk(arrays[f], int(c), field=f, store=path, out=buf[off:])
                off += len(got)
            data = [buf[:off] for buf in bufs]
            perm = None if seeds is None else np.random.default_rng([*seeds, 1, w]).permutation(off)
            i = skip - int(starts[w]) if w == first else 0
            if pending is not None:  # complete the batch begun in the previous window
                more = _take(data, perm, i, i + batch_size - len(pending[0]))
                i += len(more[0])
                pending = [np.concatenate(pair) for pair in zip(pending, more, strict=True)]
                if len(pending[0]) < batch_size:
                    continue
                yield pack(pending)
                pending = None
            while off - i >= batch_size:
                yield pack(_take(data, perm, i, i + batch_size))
                i += batch_size
            if i < off:
                pending = _take(data, perm, i, off)
        if pending is not None and not drop_last:
            yield pack(pending)
