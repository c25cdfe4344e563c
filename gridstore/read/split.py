"""One split of a version: lazy arrays, shuffled batches, torch and JAX adapters.

A `SplitReader` is composed of parts, each with one job: a `SplitSource` (the
zarr arrays, opened once per process), `LazyArray` views of it, the batch
stream of `gridstore.read.batching`, torch adapters (`gridstore.read.torch`,
which alone imports torch) and filtered views (`gridstore.read.view`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from gridstore.errors import VersionNotFoundError
from gridstore.read import batching
from gridstore.read.arrays import Fields, LazyArray
from gridstore.read.batching import Batch
from gridstore.read.pairs import Pairs
from gridstore.read.source import SplitSource
from gridstore.read.torch import TorchStreams
from gridstore.read.view import View

__all__ = ["SplitReader"]


class _Store(Protocol):
    """What a split needs of its store (a `gridstore.read.store.StoreReader`)."""

    path: str


class SplitReader(TorchStreams):
    """One split of a version: lazy arrays, shuffled batches, torch and JAX adapters.

    Picklable: it holds the store path and the version and split names and
    reopens zarr lazily in each process (open zarr objects are never pickled).
    """

    def __init__(self, store: _Store, version: str, name: str) -> None:
        self.store, self.version, self.name = store, version, name
        self._source = SplitSource(store.path, version, name)
        self._lazy: dict[str, LazyArray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lazy": {}}

    def __repr__(self) -> str:
        return f"SplitReader({self.store.path!r}, {self.version!r}, {self.name!r})"

    @property
    def fields(self) -> list[str]:
        """Names of the split's arrays: "images", then annotations in table order."""
        return self._source.fields

    def __len__(self) -> int:
        return len(self._source)

    @property
    def images(self) -> LazyArray:
        """The images, (n, G, G) uint8."""
        return self.annotation("images")

    @property
    def annotations(self) -> Fields[LazyArray]:
        """Annotation arrays by name: ``split.annotations.num_objects`` or ``[...]``."""
        return Fields(self.annotation, [f for f in self.fields if f != "images"])

    @property
    def pair_fields(self) -> list[str]:
        """A paired version's twin and record arrays (``pair/images``, ...; [] without pairs)."""
        return self._source.pair_fields

    @property
    def pairs(self) -> Pairs:
        """A paired version's twins of this split's images, row by row (see `Pairs`).

        Raises
        ------
        VersionNotFoundError
            The version has no pairs.
        """
        if not self.pair_fields:
            msg = f"version '{self.version}' has no pairs (it was generated without --pairs)"
            raise VersionNotFoundError(msg)
        return Pairs(self)

    def annotation(self, name: str) -> LazyArray:
        """Return array `name`; raise `VersionNotFoundError` (a KeyError) if absent."""
        if name not in self._lazy:
            if name not in self._source.arrays():
                msg = (
                    f"field '{name}' not found in split '{self.name}' of version "
                    f"'{self.version}'; available: {', '.join(self.fields)}"
                )
                raise VersionNotFoundError(msg)
            self._lazy[name] = LazyArray(self._source, name)
        return self._lazy[name]

    def where(
        self,
        predicate: Callable[[Mapping[str, np.ndarray]], Any] | None = None,
        /,
        **conditions: Any,
    ) -> View:
        """Return the lazy view of the rows that pass a predicate and/or field=value conditions.

        ``num_objects=1``; ``object_type="blob", object_colour=3`` (the same
        object); ``object_type=["line", "rectangle"]`` (any of these);
        ``object_size=range(12, 16)``; ``lambda a: a["object_size"].max(axis=1)
        >= 12`` (a boolean mask of one chunk's rows). Chain calls to add
        conditions. See `View.where` for the rules and `View` for what a view
        offers (arrays, ``indices``, batches, torch adapters).

        Parameters
        ----------
        predicate : callable, optional
            A function of one chunk's arrays returning a boolean mask of its rows.
        **conditions
            ``field=value`` tests on ``num_objects``, ``object_type``,
            ``object_subtype``, ``object_colour``, ``object_size``.

        Returns
        -------
        View

        Raises
        ------
        ConfigError
            An unknown field or a bad value (one line naming the valid choices).
        """
        return View(self).where(predicate, **conditions)

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
        return batching.num_batches(self._source, batch_size, drop_last, **kwargs)

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
        step_stride: int = 1,
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
        two windows of the requested fields (the next is read ahead by two
        threads while this one is cut) plus the batch being built.

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
        step_stride : int
            Yield only steps ``start_step, start_step + step_stride, ...`` of
            the stream: one of `step_stride` DataLoader workers' share (the
            torch adapter passes it; the other steps' rows are not copied).

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
        return batching.batches(
            self._source,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            epoch=epoch,
            start_step=start_step,
            drop_last=drop_last,
            window_chunks=window_chunks,
            fields=fields,
            rank=rank,
            world_size=world_size,
            step_stride=step_stride,
        )

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

    def torch_dataset(self, fields: Sequence[str] = ("images",)) -> Any:
        """Return a map-style ``torch.utils.data.Dataset`` over this split.

        Items are tensors (dicts of tensors unless `fields` is ``("images",)``).
        Its ``__getitems__`` lets a DataLoader batch decode each chunk once. It
        pickles, so it works with ``num_workers > 0`` under 'fork' and 'spawn'.

        Parameters
        ----------
        fields : sequence of str
            Arrays returned per item.

        Returns
        -------
        torch.utils.data.Dataset

        Raises
        ------
        ConfigError
            A field is unknown.
        """
        from gridstore.read import torch

        batching.check_batch_args(self._source, tuple(fields))
        return torch.adapter("map", self, {"fields": tuple(fields)})
