"""Decoded chunks kept per process for random reads, bounded in bytes.

A random row (``split.images[i]``, an index array, the map-style torch
Dataset) costs the decoding of its whole chunk (16,000 images in train). One
least-recently-used cache per process keeps decoded chunks, shared by every
split and array the process reads, so a chunk is decoded once while it stays
in the cache. Its bound is `CACHE_BYTES` (256 MiB: the images of a split of a
million images; ``GRIDSTORE_READ_CACHE_MB`` sets it, 0 turns it off). Each
DataLoader worker has its own. Cached chunks are read-only.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

__all__ = ["CACHE_BYTES", "cached", "new_source_id"]

CACHE_BYTES = int(os.environ.get("GRIDSTORE_READ_CACHE_MB", "256")) << 20

_chunks: OrderedDict[Hashable, np.ndarray] = OrderedDict()
_used = [0]
_ids = itertools.count()
_lock = threading.Lock()  # readers in several threads share the cache


def new_source_id() -> int:
    """A number no other opening of arrays in this process has (a part of cache keys).

    Arrays opened anew (a new reader, or a version deleted and made again under
    its name) never see what an earlier opening cached.
    """
    return next(_ids)


def cached(key: Hashable, read: Callable[[], np.ndarray]) -> np.ndarray:
    """The chunk cached under `key`, else ``read()`` (then cached if it fits); read-only."""
    with _lock:
        got = _chunks.get(key)
        if got is not None:
            _chunks.move_to_end(key)
            return got
    got = read()  # decoded outside the lock: other threads go on meanwhile
    got.flags.writeable = False
    with _lock:
        if got.nbytes <= CACHE_BYTES and key not in _chunks:
            _chunks[key] = got
            _used[0] += got.nbytes
            while _used[0] > CACHE_BYTES:
                _used[0] -= _chunks.popitem(last=False)[1].nbytes
    return got
