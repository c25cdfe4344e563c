"""Lazy arrays of a split: numpy indexing that decodes only the chunks it needs."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

from gridstore.arguments import is_integer
from gridstore.read.source import SplitSource

__all__ = ["Fields", "Indexable", "LazyArray", "Rows", "ViewArray", "ViewIndices"]

A = TypeVar("A", bound="Indexable")


class Indexable(ABC):
    """numpy indexing on axis 0 of a lazy array, over `_gather` (and `_range`, `_row`).

    ``a[key]`` takes on axis 0 an int, a slice, or an integer or boolean index
    array (any order, repeats and negative indices allowed), optionally
    followed by indices of the other axes, and returns a new numpy array.
    """

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of the whole array; axis 0 counts images."""

    @property
    @abstractmethod
    def dtype(self) -> np.dtype[Any]:
        """Numpy dtype of the array."""

    @abstractmethod
    def _gather(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx` (in bounds, non-negative int64) in order, as a new array."""

    def _row(self, i: int) -> np.ndarray:
        """Row ``i`` (in bounds, non-negative); the caller copies it."""
        return self._gather(np.array([i], np.int64))[0]

    def _range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (in bounds, ``start < stop``) as a new array."""
        return self._gather(np.arange(start, stop, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        key, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        n = len(self)
        if is_integer(key):
            if not -n <= key < n:
                msg = f"index {key} is out of bounds for axis 0 with size {n}"
                raise IndexError(msg)
            return np.asarray(self._row(int(key) % n)[rest]).copy()
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1 and stop > start:
                out = self._range(start, stop)
            else:
                out = self._gather(np.arange(start, stop, step, dtype=np.int64))
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


class LazyArray(Indexable):
    """One array of a split, read chunk by chunk when indexed.

    Indexing is numpy's on axis 0 (see `Indexable`). Each needed chunk is
    decoded once and kept in the process's cache of decoded chunks
    (`gridstore.read.cache`, bounded in bytes), so random reads that return to
    a chunk do not decode it again.
    """

    def __init__(self, source: SplitSource, name: str) -> None:
        self.source = source
        self.name = name

    def __repr__(self) -> str:
        return f"LazyArray({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the whole array; axis 0 counts images."""
        return tuple(self.source.arrays()[self.name].shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Numpy dtype of the array."""
        return np.dtype(self.source.arrays()[self.name].dtype)

    @property
    def chunk_images(self) -> int:
        """Images per chunk (axis 0 of the chunk shape)."""
        return int(self.source.arrays()[self.name].chunks[0])

    def chunk(self, index: int) -> np.ndarray:
        """Return chunk `index`, decoded and checked (cached, read-only)."""
        return self.source.cached(self.name, index)

    def _row(self, i: int) -> np.ndarray:
        size = self.chunk_images
        return self.chunk(i // size)[i % size]

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


class Rows(Protocol):
    """Some rows of a split, in order (a `gridstore.read.view.View`)."""

    def __len__(self) -> int: ...

    def split_rows(self, positions: np.ndarray) -> np.ndarray:
        """The split row index of the rows at ``positions`` (in bounds, int64)."""
        ...


class ViewArray(Indexable):
    """One array of a split restricted to some of its rows (a view's); indexes like `LazyArray`.

    Each index is mapped to its split row, then read through the split's
    `LazyArray` (each needed chunk decoded once).
    """

    def __init__(self, rows: Rows, base: LazyArray) -> None:
        self.rows, self.base, self.name = rows, base, base.name

    def __repr__(self) -> str:
        return f"ViewArray({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    @property
    def shape(self) -> tuple[int, ...]:
        """``(len(rows), *split_array.shape[1:])``."""
        return (len(self.rows), *self.base.shape[1:])

    @property
    def dtype(self) -> np.dtype[Any]:
        """Numpy dtype of the array."""
        return self.base.dtype

    @property
    def chunk_images(self) -> int:
        """Images per chunk of the split's array."""
        return self.base.chunk_images

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        return self.base._gather(self.rows.split_rows(idx))


class ViewIndices(Indexable):
    """The split row index of each of some rows of a split (a view's), found when indexed."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    @property
    def shape(self) -> tuple[int, ...]:
        """``(len(rows),)``."""
        return (len(self.rows),)

    @property
    def dtype(self) -> np.dtype[Any]:
        """int64."""
        return np.dtype(np.int64)

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        return self.rows.split_rows(idx)


class Fields(Mapping[str, A]):
    """Annotation arrays by name: ``fields["num_objects"]`` or ``fields.num_objects``."""

    def __init__(self, get: Callable[[str], A], names: list[str]) -> None:
        self._get, self._names = get, names

    def __getitem__(self, name: str) -> A:
        return self._get(name)

    def __getattr__(self, name: str) -> A:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        return self._get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
