"""A view's rows chunk by chunk, with their split row index: what every exporter streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from gridstore.publish.schema import STORE_FIELDS

__all__ = ["chunks", "rows_per_chunk", "slices"]


def rows_per_chunk(view: Any) -> int:
    """Images per chunk of the view's split (the most rows `chunks` yields at once)."""
    return int(view.split.annotation("images").chunk_images)


def chunks(view: Any) -> Iterator[dict[str, np.ndarray]]:
    """Yield the view's rows of each chunk that holds one: ``index`` and every store field.

    One chunk of each array is decoded at a time, and not kept (the split's
    cache of decoded chunks is for random reads; a stream would fill it), so
    memory does not grow with the version.

    Parameters
    ----------
    view : View
        The rows to read (`gridstore.read.view.select` of a split).

    Yields
    ------
    dict of str to numpy.ndarray
        ``index`` (int64 rows of the split) and each of `STORE_FIELDS`.
    """
    size, source = rows_per_chunk(view), view.split._source
    for c in np.flatnonzero(view.chunk_counts()):
        rows = view.chunk_rows(int(c))
        out = {"index": int(c) * size + rows.astype(np.int64)}
        for f in STORE_FIELDS:
            block = source.read(f, int(c))
            out[f] = block if len(rows) == len(block) else block[rows]
        yield out


def slices(
    chunks: Iterator[dict[str, np.ndarray]], bounds: list[int]
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Cut the stream of chunks at the shard bounds: (shard, rows of one chunk in it)."""
    start, shard = 0, 0
    for chunk in chunks:
        n, lo = len(chunk["index"]), 0
        while lo < n:
            while start + lo >= bounds[shard + 1]:
                shard += 1
            hi = min(n, bounds[shard + 1] - start)
            yield shard, {k: v[lo:hi] for k, v in chunk.items()}
            lo = hi
        start += n
