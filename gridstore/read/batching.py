"""Batches of a split or a view: chunk windows shuffled in bounded memory, sharded over ranks.

An epoch permutes the split's chunks (seeded from ``(seed, epoch)``), deals them
to ranks, reads them a window of chunks at a time and shuffles each window's
rows; batches are cut from that stream of rows. The functions here take the
split's `SplitSource`; `gridstore.read.split.SplitReader` documents them. A
view's `Selection` (`gridstore.read.selection`) restricts them to its rows of
each chunk: chunks where it has none are dropped before they are dealt to
ranks, and only its rows of each window are shuffled and batched.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore.arguments import check_int
from gridstore.errors import ConfigError, GridstoreError
from gridstore.read.selection import Selection
from gridstore.read.source import SplitSource

__all__ = ["Batch", "batches", "check_batch_args", "num_batches"]

Batch = dict[str, np.ndarray] | np.ndarray

# Threads reading chunks ahead: two keep two cores decoding while the consumer gathers.
_THREADS = 2


def _take(data: list[np.ndarray], order: np.ndarray | None, lo: int, hi: int) -> list[np.ndarray]:
    """New arrays of rows ``order[lo:hi]`` (``lo:hi`` if order is None) of each of ``data``."""
    if order is None:
        return [d[lo:hi].copy() for d in data]
    idx = order[lo:hi]
    return [d.take(idx, axis=0) for d in data]


def check_batch_args(source: SplitSource, fields: Sequence[str], **ints: int) -> None:
    """Raise `ConfigError` for an out-of-range argument or an unknown field."""
    positive = ("batch_size", "window_chunks", "world_size", "step_stride")
    for name, value in ints.items():
        check_int(name, value, 1 if name in positive else 0)
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
    counts: np.ndarray | None = None,
) -> list[np.ndarray]:
    """This rank's chunk indices, in epoch order, cut into windows of ``window`` chunks.

    With ``counts`` (a selection's rows per chunk), chunks without a selected
    row are dropped before the chunks are dealt to ranks.
    """
    nchunks = -(-len(source) // source.chunk_images)
    rng = np.random.default_rng([seed, epoch, 0])
    order = rng.permutation(nchunks) if shuffle else np.arange(nchunks)
    if counts is not None:
        order = order[counts[order] > 0]
    mine = order[rank::world_size]
    return [mine[i : i + window] for i in range(0, len(mine), window)]


def _rows(source: SplitSource, selection: Selection | None, chunks: np.ndarray) -> int:
    """Rows of ``chunks`` that a batch stream reads: all, or the selection's."""
    if selection is None:
        return source.rows(chunks)
    return int(selection.chunk_counts()[chunks].sum())


def _steps(rows: int, batch_size: int, drop_last: bool) -> int:
    """Batches cut from ``rows`` rows: a short last one counts unless `drop_last`."""
    return rows // batch_size if drop_last else -(-rows // batch_size)


def num_batches(
    source: SplitSource,
    batch_size: int,
    drop_last: bool,
    selection: Selection | None = None,
    **kwargs: Any,
) -> int:
    """How many batches `batches` yields from step 0 (see ``SplitReader.num_batches``)."""
    opts = {"seed": 0, "epoch": 0, "rank": 0, "world_size": 1, **kwargs}
    shuffle = opts.pop("shuffle", True)
    check_batch_args(source, ("images",), batch_size=batch_size, **opts)
    counts = None if selection is None else selection.chunk_counts()
    windows = _windows(source, shuffle, **opts, window=1, counts=counts)
    return _steps(sum(_rows(source, selection, w) for w in windows), batch_size, drop_last)


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
    step_stride: int = 1,
    selection: Selection | None = None,
) -> Iterator[Batch]:
    """One epoch of batches (see ``SplitReader.batches``); arguments are checked at once.

    Only steps ``start_step, start_step + step_stride, ...`` are yielded (one
    DataLoader worker's share of the stream). With a `selection`, only its
    rows (the counts of every chunk are computed here).
    """
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
        step_stride=step_stride,
    )
    counts = None if selection is None else selection.chunk_counts()
    windows = _windows(source, shuffle, seed, epoch, rank, world_size, window_chunks, counts)
    starts = np.cumsum([0, *(_rows(source, selection, w) for w in windows)])
    steps = range(start_step, _steps(int(starts[-1]), batch_size, drop_last))
    seeds = (seed, epoch, rank, world_size) if shuffle else None
    stream = _Stream(windows, starts, batch_size, steps[::step_stride])
    return _stream(source, stream, fields, seeds, selection)


@dataclass(frozen=True)
class _Stream:
    """Which steps of an epoch's row stream to yield, and the windows that hold their rows.

    Window ``w`` holds the stream's rows ``starts[w]:starts[w + 1]``; step ``s``
    is rows ``s * batch_size`` on (the last batch may be short). ``steps`` is
    the range of steps to yield (every one, or one worker's share).
    """

    windows: list[np.ndarray]
    starts: np.ndarray
    batch_size: int
    steps: range

    def window_steps(self, w: int) -> range:
        """The steps of ``steps`` with a row in window ``w``, in order."""
        lo, hi = int(self.starts[w]), int(self.starts[w + 1])
        if hi == lo or not self.steps:
            return range(0)
        first, stride = self.steps.start, self.steps.step
        low = lo // self.batch_size  # the step that holds row lo
        if low > first:
            first += -(-(low - first) // stride) * stride
        return range(first, min(self.steps.stop, (hi - 1) // self.batch_size + 1), stride)

    def needed(self) -> list[int]:
        """The windows that hold a row of a step to yield, in order (no other is read)."""
        return [w for w in range(len(self.windows)) if self.window_steps(w)]


class _Reader:
    """Windows read ahead by a pool of threads, into two sets of buffers used in turn.

    `fetch` queues one chunk read per chunk (every field) and the window's row
    order (a permutation, of the selected rows only if there is a selection);
    `get` waits for them. blosc and file reads release the GIL, so
    the next window is decoded while this one is cut into batches. Memory: two
    windows of the requested fields.
    """

    def __init__(
        self,
        source: SplitSource,
        windows: list[np.ndarray],
        fields: tuple[str, ...],
        seeds: tuple[int, ...] | None,
        selection: Selection | None,
    ) -> None:
        arrays = source.arrays()  # opened here, once, before any thread asks for them
        cap = len(windows[0]) * source.chunk_images  # the first window is a whole one
        self.sets = [
            [np.empty((cap, *arrays[f].shape[1:]), arrays[f].dtype) for f in fields] for _ in "ab"
        ]
        self.source, self.windows, self.fields, self.seeds = source, windows, fields, seeds
        self.selection = selection
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="gridstore-read")
        self.ahead: dict[int, tuple[list[Future[None]], Future[np.ndarray] | None, int, int]] = {}
        _OPEN.add(self)

    def _read(self, bufs: list[np.ndarray], chunk: int, off: int) -> None:
        """Read chunk ``chunk`` of every field into ``bufs`` from row ``off`` (in a thread)."""
        if not self.stop.is_set():  # the iterator was closed: read no more
            for f, buf in zip(self.fields, bufs, strict=True):
                self.source.read(f, chunk, buf[off:])

    def fetch(self, w: int, slot: int) -> None:
        """Queue the reads of window ``w`` into buffer set ``slot`` (its rows must be copied out)."""
        chunks, bufs = self.windows[w], self.sets[slot]
        offs = np.cumsum([0, *(self.source.rows(chunks[i : i + 1]) for i in range(len(chunks)))])
        reads = [
            self.pool.submit(self._read, bufs, int(c), int(o))
            for c, o in zip(chunks, offs[:-1], strict=True)
        ]
        order = None
        if self.seeds is not None or self.selection is not None:
            order = self.pool.submit(self._order, w, offs)
        self.ahead[w] = (reads, order, int(offs[-1]), slot)

    def _order(self, w: int, offs: np.ndarray) -> np.ndarray:
        """Window ``w``'s rows to take from its buffers, in order (in a thread)."""
        n, rows = int(offs[-1]), None
        if self.selection is not None:  # the selected rows, offset to their chunk's place
            parts = [
                o + self.selection.chunk_rows(int(c))
                for c, o in zip(self.windows[w], offs[:-1], strict=True)
            ]
            rows = np.concatenate([np.empty(0, np.int64), *parts])
            n = len(rows)
        if self.seeds is None:
            return np.arange(n) if rows is None else rows
        perm = _permutation((*self.seeds, 1, w), n)
        return perm if rows is None else rows[perm]

    def get(self, w: int) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Window ``w``'s buffers of each field and their row order; a read's error is raised here.

        The order is None for every row in stored order.
        """
        reads, order, n, slot = self.ahead.pop(w)
        for r in reads:  # in chunk order: the error raised is the one a serial read meets first
            r.result()
        return [buf[:n] for buf in self.sets[slot]], None if order is None else order.result()

    def close(self) -> None:
        """Stop the threads (after the chunk each is reading); a second call does nothing."""
        if not self.stop.is_set():
            self.stop.set()
            self.pool.shutdown(wait=True, cancel_futures=True)


# Readers not yet closed. At interpreter exit they are closed while the modules
# they use are still whole; a suspended generator finalised later finds its
# reader closed and touches nothing (no "Exception ignored in" message).
_OPEN: weakref.WeakSet[_Reader] = weakref.WeakSet()


@atexit.register
def _close_open_readers() -> None:
    for reader in list(_OPEN):
        reader.close()


def _permutation(seed: tuple[int, ...], n: int) -> np.ndarray:
    """The order of a window's ``n`` rows."""
    return np.random.default_rng(list(seed)).permutation(n)


def _stream(
    source: SplitSource,
    stream: _Stream,
    fields: tuple[str, ...],
    seeds: tuple[int, ...] | None,
    selection: Selection | None,
) -> Iterator[Batch]:
    """Read the windows of `stream`'s steps in turn, shuffle each (unless `seeds` is None), cut.

    The next window is read (see `_Reader`) while this one is cut; closing the
    iterator, or dropping it, stops the reading threads. A batch that spans
    windows is built from its part of each.
    """
    needed = stream.needed()
    if not needed:
        return
    size, starts = stream.batch_size, stream.starts
    end = int(starts[-1])

    def pack(parts: list[np.ndarray]) -> Batch:
        return parts[0] if fields == ("images",) else dict(zip(fields, parts, strict=True))

    reader = _Reader(source, stream.windows, fields, seeds, selection)
    try:
        reader.fetch(needed[0], 0)
        pending: list[np.ndarray] | None = None
        for j, w in enumerate(needed):
            data, order = reader.get(w)
            if j + 1 < len(needed):
                reader.fetch(needed[j + 1], (j + 1) % 2)
            lo, hi = int(starts[w]), int(starts[w + 1])
            for s in stream.window_steps(w):
                stop = min((s + 1) * size, end)
                part = _take(data, order, max(s * size, lo) - lo, min(stop, hi) - lo)
                if pending is not None:  # the batch begun in an earlier window
                    part = [np.concatenate(pair) for pair in zip(pending, part, strict=True)]
                    pending = None
                if stop <= hi:
                    yield pack(part)
                else:
                    pending = part
    finally:  # also on close() or garbage collection of a suspended iterator
        reader.close()
