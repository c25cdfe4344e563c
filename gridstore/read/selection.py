"""Which rows of each chunk of a split a view selects, in memory that does not grow with them.

A `Selection` holds a split's `SplitSource`, the conditions a row must all pass
(`gridstore.read.conditions`) and one count per chunk, computed on first need
in one pass over the fields the conditions read. It finds a chunk's selected
rows again when that chunk is read, keeping the last `_CACHE_CHUNKS` chunks'
rows. A selection of 100M images in chunks of 16,000 holds 6,250 counts, never
a 100M-row index. `gridstore.read.view.View` is its public face; the batch
stream (`gridstore.read.batching`) and `ViewArray` read through it.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from gridstore.read.conditions import Bitmap, ChunkFields, Condition, bitmap, pickles
from gridstore.read.source import SplitSource

__all__ = ["Selection"]

# Chunks whose selected rows are kept: at most 64 KiB each (int32 offsets of a
# 16,000-image chunk), so 1 MiB; enough for a window of 4 chunks and for export.
_CACHE_CHUNKS = 16


class Selection:
    """The rows of a split that pass every one of ``conditions`` (all rows for none).

    Safe to share between the threads of a batch stream. Picklable: the source,
    the conditions and the counts; a predicate that does not pickle (a lambda,
    a local function) travels as the selected rows instead, one bit per row of
    the split, computed once when first pickled.

    Parameters
    ----------
    source : SplitSource
        The split.
    conditions : tuple of Condition
        What a row must pass.
    """

    def __init__(self, source: SplitSource, conditions: tuple[Condition, ...] = ()) -> None:
        self.source, self.conditions = source, conditions
        self._empty: np.ndarray | None = None  # chunks known to hold no row (from a parent)
        self._counts: np.ndarray | None = None
        self._starts: np.ndarray | None = None
        self._recent: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._bitmap: Bitmap | None = None  # the rows, once a predicate did not pickle

    def __getstate__(self) -> dict[str, Any]:
        state = {**self.__dict__, "_recent": OrderedDict(), "_lock": None}
        if not pickles(self.conditions):
            if self._bitmap is None:  # once, however many workers the selection goes to
                text = "rows of " + " and ".join(c.text for c in self.conditions)
                counts, size = self.chunk_counts(), self.source.chunk_images
                self._bitmap = bitmap(counts, self.chunk_rows, size, len(self.source), text)
            state.update(conditions=(self._bitmap,), _empty=None, _bitmap=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def __len__(self) -> int:
        return int(self._row_starts()[-1])

    def narrow(self, conditions: Sequence[Condition]) -> Selection:
        """Return the selection of the rows of this one that also pass ``conditions``."""
        narrower = Selection(self.source, (*self.conditions, *conditions))
        if self._counts is not None:  # chunks this one ruled out are not looked at again
            narrower._empty = self._counts == 0
        return narrower

    def chunk_counts(self) -> np.ndarray:
        """Return the number of selected rows in each chunk of the split (int64).

        The first call reads, chunk by chunk, the fields the conditions need.
        """
        if self._counts is None:
            size, n = self.source.chunk_images, len(self.source)
            chunks = range(-(-n // size))
            if self.conditions:
                counts = [len(self.chunk_rows(c)) for c in chunks]
            else:
                counts = [min(size, n - c * size) for c in chunks]
            self._counts, self._empty = np.array(counts, np.int64).reshape(len(chunks)), None
        return self._counts

    def chunk_rows(self, chunk: int) -> np.ndarray:
        """Return the offsets in chunk ``chunk`` of its selected rows (sorted, int32)."""
        with self._lock:
            if chunk in self._recent:
                self._recent.move_to_end(chunk)
                return self._recent[chunk]
        rows = self._select(chunk)  # outside the lock: batch threads select in parallel
        with self._lock:
            self._recent[chunk] = rows
            if len(self._recent) > _CACHE_CHUNKS:
                self._recent.popitem(last=False)
        return rows

    def _select(self, chunk: int) -> np.ndarray:
        """The selected rows of chunk ``chunk``, from the conditions."""
        fields = ChunkFields(self.source, chunk)
        if self._empty is not None and self._empty[chunk]:
            return np.empty(0, np.int32)
        mask = np.ones(fields.rows, bool)
        for condition in self.conditions:
            mask = mask & condition.mask(fields)
            if not mask.any():  # later conditions need not read their fields
                break
        return np.flatnonzero(mask).astype(np.int32)

    def _row_starts(self) -> np.ndarray:
        """Position among the selected rows of each chunk's first one, then their number."""
        if self._starts is None:
            self._starts = np.concatenate([[0], np.cumsum(self.chunk_counts())]).astype(np.int64)
        return self._starts

    def split_rows(self, positions: np.ndarray) -> np.ndarray:
        """Return the split row index of the selected rows at ``positions`` (in bounds, int64)."""
        starts, size = self._row_starts(), self.source.chunk_images
        chunks = np.searchsorted(starts, positions, side="right") - 1  # skips empty chunks
        out = np.empty(len(positions), np.int64)
        order = np.argsort(chunks, kind="stable")
        cids = chunks[order]
        cuts = [0, *(np.flatnonzero(np.diff(cids)) + 1), len(cids)] if len(cids) else [0]
        for lo, hi in itertools.pairwise(cuts):  # chunk by chunk, each chunk's rows found once
            at, c = order[lo:hi], int(cids[lo])
            out[at] = c * size + self.chunk_rows(c)[positions[at] - starts[c]]
        return out
