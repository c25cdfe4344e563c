"""Lazy filtered views of a split (``split.where(...)``), computed chunk by chunk.

A `View` is the public face of a `gridstore.read.selection.Selection` (which
rows of each chunk pass its conditions, in memory that does not grow with
them): lazy arrays of those rows (`ViewArray`), their split row indices, and
the split's batch stream and torch adapters over them. Chunks where a view has
no row are never decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from gridstore.errors import ConfigError
from gridstore.read import batching
from gridstore.read.arrays import Fields, LazyArray, ViewArray, ViewIndices
from gridstore.read.batching import Batch
from gridstore.read.conditions import Condition, Predicate, match
from gridstore.read.pairs import Pairs
from gridstore.read.selection import Selection
from gridstore.read.source import SplitSource
from gridstore.read.torch import TorchStreams

__all__ = ["View", "select"]


class Split(Protocol):
    """What a view needs of its split (a `gridstore.read.split.SplitReader`)."""

    name: str
    version: str
    _source: SplitSource

    @property
    def fields(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def annotation(self, name: str) -> LazyArray: ...
    @property
    def pairs(self) -> Pairs: ...


class View(TorchStreams):
    """The rows of a split that pass every condition of a chain of ``where`` calls.

    Made by `SplitReader.where` and `View.where`; see `where` for conditions.
    Rows keep the split's order. Arrays index like the split's (`ViewArray`);
    `batches`, `torch_iterable` and `torch_dataset` behave like the split's,
    over the view's rows. An empty view has length 0 and yields no batches.

    Picklable and small (the split's names, the conditions and one count per
    chunk). A predicate that does not pickle (a lambda, a local function) is
    replaced, when the view is first pickled, by the view's rows: one bit per
    row of the split (12.5 MB for 100M images), computed then in one pass over
    the fields it reads. A module-level function pickles by reference.

    Parameters
    ----------
    split : SplitReader
        The split.
    selection : Selection, optional
        Its rows; default every row.
    """

    def __init__(self, split: Split, selection: Selection | None = None) -> None:
        self.split = split
        self._selection = Selection(split._source) if selection is None else selection
        self._lazy: dict[str, ViewArray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lazy": {}}

    def __repr__(self) -> str:
        where = "; ".join(f"where {c.text}" for c in self.conditions) or "every row"
        return f"View(split '{self.split.name}' of version '{self.split.version}', {where})"

    def __len__(self) -> int:
        return len(self._selection)

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """The conditions a row passes, one per keyword ``where`` call or predicate."""
        return self._selection.conditions

    @property
    def fields(self) -> list[str]:
        """Names of the split's arrays: "images", then annotations in table order."""
        return self.split.fields

    @property
    def images(self) -> ViewArray:
        """The view's images, (len(view), G, G) uint8."""
        return self.annotation("images")

    @property
    def annotations(self) -> Fields[ViewArray]:
        """The view's annotation arrays by name: ``view.annotations["object_size"]``."""
        return Fields(self.annotation, [f for f in self.fields if f != "images"])

    def annotation(self, name: str) -> ViewArray:
        """Return the view's rows of array `name`; raise `VersionNotFoundError` if absent."""
        if name not in self._lazy:
            self._lazy[name] = ViewArray(self._selection, self.split.annotation(name))
        return self._lazy[name]

    @property
    def pairs(self) -> Pairs:
        """A paired version's twins of the view's rows (see `gridstore.read.pairs.Pairs`)."""
        self.split.pairs  # noqa: B018 - raises for a version without pairs
        return Pairs(self)

    @property
    def indices(self) -> ViewIndices:
        """The split row index of each of the view's rows (lazy, int64, increasing)."""
        return ViewIndices(self._selection)

    def where(
        self,
        predicate: Callable[[Mapping[str, np.ndarray]], Any] | None = None,
        /,
        **conditions: Any,
    ) -> View:
        """Return the view of the rows of this one that also pass these conditions.

        Keywords ``num_objects``, ``object_type``, ``object_subtype``,
        ``object_colour``, ``object_size`` take a value, a ``range`` or a list
        (any of these values); type and subtype names stand for their codes (a
        subtype name also fixes its type; a subtype code matches lines and
        patterns only, since blobs and rectangles have subtype 0). ``intervention`` (a
        paired version's) takes kind names or codes 1..9 (`gridstore.pairs.KINDS`) and
        tests each row's record. The per-object keywords of one call
        must hold for the same object; each call is its own condition, so
        ``.where(object_type="blob").where(object_colour=3)`` asks for a blob and
        a colour-3 object, not a colour-3 blob. ``predicate`` is called with one
        chunk's arrays (a mapping, each field read on first access) and returns
        a boolean mask of the chunk's rows; it may be called again for a chunk,
        and from two threads at once (batches read ahead), so make it a pure
        function of the arrays.

        Parameters
        ----------
        predicate : callable, optional
            ``f(chunk) -> bool array of len(chunk["num_objects"])``.
        **conditions
            ``field=value`` tests, all of which must hold.

        Returns
        -------
        View
            Lazy: nothing is read until its rows are needed.

        Raises
        ------
        ConfigError
            An unknown field, a bad value, or no condition at all. A predicate's
            bad result is raised when a chunk is evaluated.

        Examples
        --------
        >>> import tempfile
        >>> from gridstore import Plan, create_version, open_store
        >>> store = tempfile.mkdtemp() + "/datasets"
        >>> _ = create_version(store, Plan(num_images=2000), engine="serial", show_progress=False)
        >>> train = open_store(store).version()["train"]
        >>> blobs = train.where(num_objects=1, object_type="blob")
        >>> bool((blobs.annotations["num_objects"][:] == 1).all())
        True
        >>> len(blobs.where(object_colour=[1, 2])) <= len(blobs)
        True
        """
        new: list[Condition] = []
        if conditions:
            new.append(match(self.split._source, conditions))
        if predicate is not None:
            if not callable(predicate):
                msg = (
                    "where() takes a function of a chunk's arrays or field=value keywords, "
                    f"got {type(predicate).__name__}"
                )
                raise ConfigError(msg)
            new.append(Predicate(predicate, getattr(predicate, "__qualname__", repr(predicate))))
        if not new:
            msg = "where() needs field=value keywords or a predicate, e.g. where(num_objects=1)"
            raise ConfigError(msg)
        return View(self.split, self._selection.narrow(new))

    def chunk_counts(self) -> np.ndarray:
        """Return the number of the view's rows in each chunk of the split (int64).

        The first call reads, chunk by chunk, the fields the conditions need.
        """
        return self._selection.chunk_counts()

    def chunk_rows(self, chunk: int) -> np.ndarray:
        """Return the offsets in chunk ``chunk`` of the view's rows there (sorted, int32)."""
        return self._selection.chunk_rows(chunk)

    def num_batches(self, batch_size: int, *, drop_last: bool = False, **kwargs: Any) -> int:
        """Return how many batches `batches` yields from step 0 (see `SplitReader.num_batches`).

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
        selection = self._selection
        return batching.num_batches(self.split._source, batch_size, drop_last, selection, **kwargs)

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
        """Yield one epoch of the view's rows in batches, as `SplitReader.batches` does.

        The same algorithm over the chunks that hold a row of the view (the
        others are dropped before chunks are dealt to ranks, and never read):
        the chunks are permuted by ``(seed, epoch)``, rank `rank` takes every
        `world_size`-th, and the view's rows of each window of `window_chunks`
        chunks are shuffled. Resuming from `start_step` is exact; the ranks'
        rows are disjoint and together the whole view. The first call counts
        the view's rows per chunk if no call did yet.

        Parameters
        ----------
        batch_size, shuffle, seed, epoch, start_step, drop_last, window_chunks, fields, rank, world_size, step_stride
            As in `SplitReader.batches`.

        Returns
        -------
        iterator of numpy.ndarray or dict of str to numpy.ndarray

        Raises
        ------
        ConfigError
            An argument is out of range or a field is unknown (raised at once).
        CorruptChunkError
            A chunk is missing or fails its checksum.
        """
        return batching.batches(
            self.split._source,
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
            selection=self._selection,
        )

    def numpy_batches(self, batch_size: int, **kwargs: Any) -> Iterator[Batch]:
        """Yield numpy batches exactly as `batches` does (see `SplitReader.numpy_batches`).

        Parameters
        ----------
        batch_size : int
            Rows per batch.
        **kwargs
            Any keyword argument of `batches`.

        Returns
        -------
        iterator of numpy.ndarray or dict of str to numpy.ndarray
        """
        return self.batches(batch_size, **kwargs)

    def torch_dataset(self, fields: Sequence[str] = ("images",)) -> Any:
        """Return a map-style ``torch.utils.data.Dataset`` over the view's rows.

        Item ``i`` is the view's row ``i``; see `SplitReader.torch_dataset`.

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

        batching.check_batch_args(self.split._source, tuple(fields))
        return torch.adapter("map", self, {"fields": tuple(fields)})


def select(split: Split, where: Sequence[Mapping[str, Any]] = ()) -> View:
    """Return the view of `split` that chains one ``where(**conditions)`` per mapping.

    Parameters
    ----------
    split : SplitReader
        The split.
    where : sequence of mapping
        Keyword conditions of each ``where`` call; none gives every row.

    Returns
    -------
    View

    Raises
    ------
    ConfigError
        As `View.where`, or an item of `where` is not a mapping.
    """
    view = View(split)
    for conditions in where:
        if not isinstance(conditions, Mapping):
            msg = f"where takes mappings of field=value conditions, one per where() call, got {conditions!r}"
            raise ConfigError(msg)
        view = view.where(**conditions)
    return view
