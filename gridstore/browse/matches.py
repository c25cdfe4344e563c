"""The rows a split page shows: pages of a filtered, optionally shuffled split, and its count.

A page of a split is found by walking its chunks in order (or in a seeded
permutation) and taking the matching rows of each until the page is full: page
``p`` reads the condition fields of the chunks up to its rows and the images of
one or two chunks, never the whole split. How many rows of a chunk match is
kept per chunk (an int64 per 16,000 images), so later pages and the count reuse
what earlier requests found.

The count of a filter runs in a background thread over every chunk and fills
the same table; a page reads its progress, never waits for it. A page whose
own search passes `PAGE_SECONDS` stops there and says so: the browser reloads
it as the count goes on (a filter that almost nothing matches).

Shuffling permutes the chunks with the seed, then each chunk's matching rows
with ``(seed, chunk)``. Images are independent draws of the generator, so the
100 images of one chunk are as random a sample as 100 from all over the split,
and a shuffled page still reads one or two chunks.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore.errors import GridstoreError
from gridstore.read.view import View

__all__ = ["PAGE_SECONDS", "MatchCache", "Matches", "Page"]

# A page's own search for matching rows stops after this long, so that a page of a
# rare filter is served within the half second of the issue; its count goes on.
PAGE_SECONDS = 0.1
_KEEP = 32  # filters whose per-chunk counts are kept (6,250 int64 each at 10^8: 50 kB)
# Matching rows kept per filter (int32 offsets: 4 MB). A rare filter's page spans
# several chunks; kept, its rows need not be found again (their fields re-read).
# A common one fills a page from one chunk, whose rows are found again cheaply.
_KEEP_ROWS = 1 << 20


@dataclass(frozen=True)
class Page:
    """The split rows of one page, in the order shown, and what is known beyond them."""

    rows: np.ndarray  # int64 row indices in the split
    complete: bool  # False: the search stopped at its deadline with the page not full
    last: bool  # no matching row after this page


class Matches:
    """Matching rows per chunk of one view, found on demand and by a background count.

    Parameters
    ----------
    view : View
        The split's rows that pass the filter (every row for no condition).
    """

    def __init__(self, view: View) -> None:
        source = view.split._source
        self.view, self.chunk_images, self.images = view, source.chunk_images, len(source)
        chunks = -(-self.images // self.chunk_images)
        sizes = np.minimum(self.chunk_images, self.images - np.arange(chunks) * self.chunk_images)
        self.filtered = bool(view.conditions)
        self._counts = np.full(chunks, -1, np.int64) if self.filtered else sizes.astype(np.int64)
        self._rows: dict[int, np.ndarray] = {}  # chunk -> offsets, while under _KEEP_ROWS
        self._kept = 0
        self.stop = threading.Event()
        self.error: str | None = None
        self.seconds: float | None = None  # how long the count took, once done

    def count(self, chunk: int) -> int:
        """How many rows of ``chunk`` match (read once, then known)."""
        known = int(self._counts[chunk])
        if known < 0:
            known = len(self._find(chunk))
            self._counts[chunk] = known  # one int64 store: safe between threads
        return known

    def _find(self, chunk: int) -> np.ndarray:
        """Find the chunk's matching rows; keep them while the filter's kept rows are few."""
        found = self.view.chunk_rows(chunk)
        if self._kept + len(found) <= _KEEP_ROWS:
            self._rows[chunk] = found
            self._kept += len(found)  # a race may overshoot by a chunk: a bound, not a count
        return found

    def rows(self, chunk: int) -> np.ndarray:
        """The offsets in ``chunk`` of its matching rows (sorted)."""
        if not self.filtered:
            return np.arange(int(self._counts[chunk]), dtype=np.int64)
        kept = self._rows.get(chunk)
        return (self._find(chunk) if kept is None else kept).astype(np.int64)

    def run(self) -> None:
        """Count every chunk's matches (the background count); stop early when told."""
        start = time.monotonic()
        try:
            for chunk in range(len(self._counts)):
                if self.stop.is_set():
                    return
                self.count(chunk)
        except GridstoreError as err:  # e.g. the version was deleted meanwhile
            self.error = str(err).splitlines()[0]
            return
        self.seconds = time.monotonic() - start

    def status(self) -> dict[str, Any]:
        """The count so far: matches, chunks scanned of all, done, error (JSON-ready)."""
        counts = self._counts.copy()  # one snapshot: the thread may write meanwhile
        known = counts >= 0
        done = bool(known.all())
        return {
            "matches": int(counts[known].sum()),
            "images": self.images,
            "chunks_scanned": int(known.sum()),
            "chunks": len(counts),
            "done": done,
            "seconds": self.seconds if self.filtered else 0.0,
            "error": self.error,
        }

    def page(self, start: int, size: int, seed: int | None, seconds: float = PAGE_SECONDS) -> Page:
        """Rows ``start .. start + size`` of the matching rows in shown order.

        Parameters
        ----------
        start, size : int
            Position of the page's first row among the matching rows, and rows per page.
        seed : int or None
            None: the split's order; else the seeded shuffle of the module docstring.
        seconds : float
            Stop looking for rows of chunks not counted yet after this long.

        Returns
        -------
        Page
        """
        deadline = time.monotonic() + seconds
        chunks = len(self._counts)
        order = (
            np.arange(chunks) if seed is None else np.random.default_rng(seed).permutation(chunks)
        )
        found: list[np.ndarray] = []
        have, pos, counted = 0, 0, False
        for i, chunk in enumerate(map(int, order)):
            if self._counts[chunk] < 0:  # each request counts one chunk at least: it progresses
                if counted and time.monotonic() > deadline:
                    return Page(_join(found), complete=False, last=False)
                counted = True
            k = self.count(chunk)
            if pos + k > start:
                offsets = self.rows(chunk)
                if seed is not None:
                    offsets = offsets[np.random.default_rng([seed, chunk]).permutation(k)]
                skip = max(0, start - pos)
                take = offsets[skip : skip + size - have]
                found.append(chunk * self.chunk_images + take)
                have += len(take)
                if have == size:
                    later = self._counts[order[i + 1 :]]  # unknown counts (-1) may hold rows
                    last = skip + len(take) == k and bool((later == 0).all())
                    return Page(_join(found), complete=True, last=last)
            pos += k
        return Page(_join(found), complete=True, last=True)


def _join(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


class MatchCache:
    """The `Matches` of the filters browsed lately, with their counts running in the background.

    Two count threads at most (the machine's other requests keep a core); the
    least recently used filter beyond `_KEEP` is dropped and its count stopped.
    """

    def __init__(self, workers: int = 2) -> None:
        self._items: OrderedDict[tuple[Any, ...], Matches] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gridstore-count")

    def get(self, key: tuple[Any, ...], view: View) -> Matches:
        """The `Matches` of ``key`` (made from ``view`` and its count started if new)."""
        with self._lock:
            found = self._items.get(key)
            if found is not None and found.error is None:
                self._items.move_to_end(key)
                return found
            self._items[key] = found = Matches(view)
            self._items.move_to_end(key)
            while len(self._items) > _KEEP:
                self._items.popitem(last=False)[1].stop.set()
        if found.filtered:
            self._pool.submit(found.run)
        return found

    def close(self) -> None:
        """Stop every count and wait for the threads."""
        with self._lock:
            for matches in self._items.values():
                matches.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
