"""Batches of a split: chunk windows shuffled in bounded memory, sharded over ranks.

An epoch permutes the split's chunks (seeded from ``(seed, epoch)``), deals them
to ranks, reads them a window of chunks at a time and shuffles each window's
rows; batches are cut from that stream of rows. The functions here take the
split's `SplitSource`; `gridstore.read.split.SplitReader` documents them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gridstore.arguments import check_int
from gridstore.errors import ConfigError, GridstoreError
from gridstore.read.source import SplitSource

__all__ = ["Batch", "batches", "check_batch_args", "num_batches"]

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


def check_batch_args(source: SplitSource, fields: Sequence[str], **ints: int) -> None:
    """Raise `ConfigError` for an out-of-range argument or an unknown field."""
    for name, value in ints.items():
        check_int(name, value, 1 if name in ("batch_size", "window_chunks", "world_size") else 0)
    if ints.get("rank", 0) >= ints.get("world_size", 1):
        msg = f"rank must be < world_size={ints['world_size']}, got {ints['rank']}"
        raise ConfigError(msg)
    arrays = source.arrays()
    for f in fields:
        if f not in arrays:
            available = ", ".join(source.fields)
            msg = f"unknown field '{f}' in split '{source.split}'; available: {available}"
            raise ConfigError(msg)
    if not fields:
        msg = "fields must name at least one array, got none"
        raise ConfigError(msg)
    if len({arrays[f].chunks[0] for f in fields}) > 1:
        msg = f"arrays {list(fields)} of split '{source.split}' are chunked differently"
        raise GridstoreError(msg)


def _windows(
    source: SplitSource,
    shuffle: bool,
    seed: int,
    epoch: int,
    rank: int,
    world_size: int,
    window: int,
) -> list[np.ndarray]:
    """This rank's chunk indices, in epoch order, cut into windows of ``window`` chunks."""
    nchunks = -(-len(source) // source.chunk_images)
    rng = np.random.default_rng([seed, epoch, 0])
    mine = (rng.permutation(nchunks) if shuffle else np.arange(nchunks))[rank::world_size]
    return [mine[i : i + window] for i in range(0, len(mine), window)]


def num_batches(source: SplitSource, batch_size: int, drop_last: bool, **kwargs: Any) -> int:
    """How many batches `batches` yields from step 0 (see ``SplitReader.num_batches``)."""
    opts = {"seed": 0, "epoch": 0, "rank": 0, "world_size": 1, **kwargs}
    shuffle = opts.pop("shuffle", True)
    check_batch_args(source, ("images",), batch_size=batch_size, **opts)
    rows = sum(source.rows(w) for w in _windows(source, shuffle, **opts, window=1))
    return rows // batch_size if drop_last else -(-rows // batch_size)


def batches(
    source: SplitSource,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    start_step: int,
    drop_last: bool,
    window_chunks: int,
    fields: Sequence[str],
    rank: int,
    world_size: int,
) -> Iterator[Batch]:
    """One epoch of batches (see ``SplitReader.batches``); arguments are checked at once."""
    fields = tuple(fields)
    check_batch_args(
        source,
        fields,
        batch_size=batch_size,
        seed=seed,
        epoch=epoch,
        rank=rank,
        world_size=world_size,
        start_step=start_step,
        window_chunks=window_chunks,
    )
    windows = _windows(source, shuffle, seed, epoch, rank, world_size, window_chunks)
    seeds = (seed, epoch, rank, world_size) if shuffle else None
    return _stream(source, windows, fields, batch_size, start_step, drop_last, seeds)


def _stream(
    source: SplitSource,
    windows: list[np.ndarray],
    fields: tuple[str, ...],
    batch_size: int,
    start_step: int,
    drop_last: bool,
    seeds: tuple[int, ...] | None,
) -> Iterator[Batch]:
    """Read `windows` in turn, shuffle each (unless `seeds` is None) and cut batches."""
    arrays = source.arrays()
    starts = np.cumsum([0, *(source.rows(w) for w in windows)])
    steps = starts[-1] // batch_size if drop_last else -(-starts[-1] // batch_size)
    if start_step >= steps:
        return
    skip = start_step * batch_size
    first = int(np.searchsorted(starts, skip, side="right")) - 1
    cap = len(windows[0]) * source.chunk_images  # one buffer per field, reused
    bufs = [np.empty((cap, *arrays[f].shape[1:]), arrays[f].dtype) for f in fields]

    def pack(parts: list[np.ndarray]) -> Batch:
        return parts[0] if fields == ("images",) else dict(zip(fields, parts, strict=True))

    pending: list[np.ndarray] | None = None
    for w in range(first, len(windows)):
        off = 0
        for c in windows[w]:
            for f, buf in zip(fields, bufs, strict=True):
                got = source.read(f, int(c), buf[off:])
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
