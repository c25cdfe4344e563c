"""Batches of a split: chunk windows shuffled in bounded memory, sharded over ranks.

`SplitReader` gets `num_batches`, `batches` and `numpy_batches` from `Batching`.
An epoch permutes the split's chunks (seeded from ``(seed, epoch)``), deals them
to ranks, reads them a window of chunks at a time and shuffles each window's
rows; batches are cut from that stream of rows. zarr is reached only through
the split's `_arrays` (metadata) and `_read` (checked chunk reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gridstore.arguments import check_int
from gridstore.errors import ConfigError, GridstoreError

if TYPE_CHECKING:
    import zarr

    from gridstore.read.store import LazyArray

__all__ = ["Batch", "Batching"]

Batch = dict[str, np.ndarray] | np.ndarray


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


class Batching:
    """Batch entry points of `gridstore.read.SplitReader` (a mixin over its arrays and `_read`)."""

    if TYPE_CHECKING:  # provided by SplitReader
        name: str

        @property
        def fields(self) -> list[str]: ...
        @property
        def images(self) -> LazyArray: ...
        def __len__(self) -> int: ...
        def _arrays(self) -> dict[str, zarr.Array[Any]]: ...
        def _read(self, field: str, chunk: int, out: np.ndarray | None = None) -> np.ndarray: ...

    def _check(self, fields: Sequence[str], **ints: int) -> None:
        """Raise `ConfigError` for an out-of-range argument or an unknown field."""
        for name, value in ints.items():
            check_int(
                name, value, 1 if name in ("batch_size", "window_chunks", "world_size") else 0
            )
        if ints.get("rank", 0) >= ints.get("world_size", 1):
            msg = f"rank must be < world_size={ints['world_size']}, got {ints['rank']}"
            raise ConfigError(msg)
        for f in fields:
            if f not in self._arrays():
                available = ", ".join(self.fields)
                msg = f"unknown field '{f}' in split '{self.name}'; available: {available}"
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
        """This rank's chunk indices, in epoch order, cut into windows of `window` chunks."""
        nchunks = -(-len(self) // self.images.chunk_images)
        rng = np.random.default_rng([seed, epoch, 0])
        mine = (rng.permutation(nchunks) if shuffle else np.arange(nchunks))[rank::world_size]
        return [mine[i : i + window] for i in range(0, len(mine), window)]

    def _rows(self, chunks: np.ndarray) -> int:
        """Number of rows (images) in `chunks` (the last chunk may be short)."""
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
        self._check(
            fields,
            batch_size=batch_size,
            seed=seed,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
            start_step=start_step,
            window_chunks=window_chunks,
        )
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
        """Read `windows` in turn, shuffle each (unless `seeds` is None) and cut batches."""
        arrays = self._arrays()
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
                    got = self._read(f, int(c), buf[off:])
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
