"""torch adapters of a split or a view: a map-style Dataset, an IterableDataset, a DataLoader.

`SplitReader.torch_dataset`, `torch_iterable` and `torch_loader` (and the same
methods of a `gridstore.read.view.View`) build them here.
torch is imported only when an adapter is built; the adapter classes are made
on first use and pickle by reference to `adapter`, so they cross into
DataLoader workers under both 'fork' and 'spawn'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from gridstore.errors import ConfigError

__all__ = ["TorchStreams", "adapter", "loader"]


class Split(Protocol):
    """What an adapter needs of a split (a `SplitReader`, or a `View` of one)."""

    def __len__(self) -> int: ...
    def annotation(self, name: str) -> Any: ...
    @property
    def batches(self) -> Callable[..., Iterator[Any]]: ...
    @property
    def num_batches(self) -> Callable[..., int]: ...
    @property
    def torch_iterable(self) -> Callable[..., Any]: ...


class TorchStreams:
    """`torch_iterable` and `torch_loader` of anything with `batches`: a split, a view, its pairs.

    They yield the batches of ``batches`` as tensors (dicts of tensors where it
    gives dicts; ``(base, twin, intervention)`` for pairs).
    """

    def torch_iterable(
        self: Split,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Return a ``torch.utils.data.IterableDataset`` yielding whole batches.

        Load it with ``DataLoader(ds, batch_size=None, num_workers=k)``: the
        loader yields exactly the batches of ``batches(batch_size, ...)``, in
        the same order, for any ``k`` (worker ``w`` makes steps ``w, w + k,
        ...`` and the DataLoader takes them in turn). ``start_step`` and
        ``drop_last`` therefore count and cut the loader's own stream, and
        ``len(ds)`` is the number of batches it yields. Call ``ds.set_epoch(e)``
        before each epoch (workers must not be persistent for it to reach
        them). It has torchdata's ``state_dict`` / ``load_state_dict``, so a
        ``StatefulDataLoader`` restores it mid-epoch (with the worker count it
        was saved with: torchdata's own rule); `torch_loader` also restores
        across worker counts.

        Parameters
        ----------
        batch_size, shuffle, seed, epoch
            As in `batches`.
        **kwargs
            ``start_step``, ``drop_last``, ``window_chunks``, ``fields``,
            ``rank``, ``world_size`` as in `batches`.

        Returns
        -------
        torch.utils.data.IterableDataset

        Raises
        ------
        ConfigError
            An argument is out of range or a field is unknown.
        """
        opts = {"shuffle": shuffle, "seed": seed, "epoch": epoch, **kwargs}
        # checks the arguments (a view counts its rows here, once); reads nothing
        self.batches(batch_size, **opts)
        return adapter("iterable", self, {"batch_size": batch_size, **opts})

    def torch_loader(
        self: Split,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
        *,
        num_workers: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Return a ``torch.utils.data.DataLoader`` of `torch_iterable` that can save its place.

        It yields the batches of `batches` in order for any `num_workers`, has
        ``len()``, ``set_epoch(e)``, and ``state_dict()`` / ``load_state_dict()``
        (the protocol of torchdata's ``StatefulDataLoader``): the state is the
        epoch and the number of batches yielded, so a checkpoint taken with
        one worker count resumes exactly with any other.

        Parameters
        ----------
        batch_size, shuffle, seed, epoch
            As in `batches`.
        num_workers : int
            DataLoader worker processes (0: read in this process).
        **kwargs
            ``start_step``, ``drop_last``, ``window_chunks``, ``fields``,
            ``rank``, ``world_size`` as in `batches`; any other keyword goes to
            ``DataLoader`` (``pin_memory``, ``multiprocessing_context``, ...).

        Returns
        -------
        torch.utils.data.DataLoader

        Raises
        ------
        ConfigError
            An argument is out of range, a field is unknown, or
            ``persistent_workers=True`` (the workers must see each epoch anew).
        """
        opts = {"shuffle": shuffle, "seed": seed, "epoch": epoch, **kwargs}
        return loader(self, batch_size, opts, num_workers=num_workers)


_TORCH: dict[str, type] = {}


def adapter(kind: str, split: Split, options: dict[str, Any]) -> Any:
    """Build (or unpickle) a torch adapter ("map" or "iterable"); classes are made on first use."""
    return _classes()[kind](split, options)


# Keywords of `torch_loader` that shape the batch stream; the others go to DataLoader.
_STREAM = frozenset(
    [
        "shuffle",
        "seed",
        "epoch",
        "start_step",
        "drop_last",
        "window_chunks",
        "fields",
        "rank",
        "world_size",
    ]
)
_PLACE = ("epoch", "start_step")  # where a stream is, as opposed to which stream it is


def loader(split: Split, batch_size: int, options: dict[str, Any], **dataloader: Any) -> Any:
    """Build a DataLoader of `split`'s iterable adapter that saves and restores its place.

    `options` holds the stream's keywords and any DataLoader keyword (split here).
    """
    stream = {k: options.pop(k) for k in _STREAM if k in options}
    dataset = split.torch_iterable(batch_size, **stream)
    return _classes()["loader"](dataset, {**dataloader, **options})


def _plain(value: Any) -> Any:
    """A stream option as a checkpoint saved as JSON gives it back (tuples become lists)."""
    return list(value) if isinstance(value, tuple | list) else value


def _classes() -> dict[str, type]:
    if not _TORCH:
        _TORCH.update(zip(("map", "iterable", "loader"), _torch_classes(), strict=True))
    return _TORCH


def _torch_classes() -> tuple[type, type, type]:
    import torch
    from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

    class SplitDataset(Dataset):
        # options: "fields"; for a paired split's `Pairs`, "twins" and "records" too
        # (the arrays of each side and of the record), and items are (base, twin, record).
        def __init__(self, split: Split, options: dict[str, Any]) -> None:
            self.split, self.options = split, options

        def __reduce__(self) -> tuple[Any, ...]:
            return (adapter, ("map", self.split, self.options))

        def __len__(self) -> int:
            return len(self.split)

        def __getitem__(self, index: int) -> Any:
            return self.__getitems__([index])[0]

        def __getitems__(self, indices: Sequence[int]) -> list[Any]:
            idx = np.asarray(indices, dtype=np.int64)
            fields = self.options["fields"]
            items = self._rows(fields, fields, idx, fields == ("images",))
            if "records" not in self.options:
                return items
            twins = self._rows(self.options["twins"], fields, idx, fields == ("images",))
            records = self.options["records"]  # "intervention/kind", ...: keyed "kind", ...
            keys = [r.rpartition("/")[2] for r in records]
            return list(zip(items, twins, self._rows(records, keys, idx, False), strict=True))

        def _rows(self, arrays: Sequence[str], keys: Sequence[str], idx: Any, bare: bool) -> list:
            """Rows ``idx`` of ``arrays``: tensors (``bare``), else dicts of them by ``keys``."""
            cols = [torch.from_numpy(self.split.annotation(a)[idx]).unbind(0) for a in arrays]
            if bare:
                return list(cols[0])
            return [dict(zip(keys, row, strict=True)) for row in zip(*cols, strict=True)]

    class SplitIterable(IterableDataset):
        def __init__(self, split: Split, options: dict[str, Any]) -> None:
            self.split, self.options = split, dict(options)
            self._resume: int | None = None  # the next step, from load_state_dict
            self._next: int | None = None  # the next step this process yields

        def __reduce__(self) -> tuple[Any, ...]:
            return (adapter, ("iterable", self.split, self.options))

        def set_epoch(self, epoch: int) -> None:
            if epoch != self.options["epoch"]:  # a new epoch starts at its first step
                self.options.update(epoch=epoch, start_step=0)
                self._resume = None

        def __len__(self) -> int:
            keys = ("shuffle", "seed", "epoch", "rank", "world_size")
            opts = {k: self.options[k] for k in keys if k in self.options}
            drop_last = self.options.get("drop_last", False)
            total = self.split.num_batches(self.options["batch_size"], drop_last=drop_last, **opts)
            return max(0, total - self.options.get("start_step", 0))

        def state_dict(self) -> dict[str, Any]:
            return {"epoch": self.options["epoch"], "next_step": self._next}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            self.options["epoch"] = state["epoch"]
            self._resume = state["next_step"]

        def __iter__(self) -> Iterator[Any]:
            info = get_worker_info()
            workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
            opts = dict(self.options)
            first = opts.pop("start_step", 0) + worker
            if self._resume is not None:  # this process's own next step, saved mid-epoch
                first, self._resume = self._resume, None
            self._next = first
            stream = self.split.batches(
                opts.pop("batch_size"), start_step=first, step_stride=workers, **opts
            )
            for batch in stream:
                self._next += workers
                yield _tensors(batch)

    def _tensors(batch: Any) -> Any:
        """A batch as tensors: an array, a dict of arrays, or a tuple of those (pairs)."""
        if isinstance(batch, tuple):
            return tuple(_tensors(b) for b in batch)
        if isinstance(batch, dict):
            return {k: torch.from_numpy(v) for k, v in batch.items()}
        return torch.from_numpy(batch)

    class SplitLoader(DataLoader):
        def __init__(self, dataset: SplitIterable, kwargs: dict[str, Any]) -> None:
            if kwargs.get("persistent_workers"):
                msg = (
                    "torch_loader does not take persistent_workers=True: set_epoch and "
                    "load_state_dict must reach the workers, which start anew each epoch"
                )
                raise ConfigError(msg)
            super().__init__(dataset, batch_size=None, **kwargs)
            self.stream = dataset
            self._step = dataset.options.get("start_step", 0)

        def set_epoch(self, epoch: int) -> None:
            self.stream.set_epoch(epoch)

        # A generator, not DataLoader's iterator class: it counts what it yields.
        def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
            options = self.stream.options
            self._step = options.get("start_step", 0)
            for batch in super().__iter__():
                self._step += 1
                yield batch
            options["start_step"] = 0  # the epoch is done: iterating again repeats it whole

        def _stream_options(self) -> dict[str, Any]:
            """The options that fix the stream's order (all but the place in it)."""
            return {k: v for k, v in self.stream.options.items() if k not in _PLACE}

        def state_dict(self) -> dict[str, Any]:
            epoch = self.stream.options["epoch"]
            return {"epoch": epoch, "step": self._step, "stream": self._stream_options()}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            mine, theirs = self._stream_options(), state["stream"]
            for key in sorted(mine.keys() | theirs.keys()):
                if _plain(mine.get(key)) != _plain(theirs.get(key)):
                    msg = (
                        f"the saved loader state has {key}={theirs.get(key)!r} but this loader "
                        f"has {key}={mine.get(key)!r}; build the loader with the saved arguments"
                    )
                    raise ConfigError(msg)
            self.stream.options.update(epoch=state["epoch"], start_step=state["step"])
            self._step = state["step"]

    return SplitDataset, SplitIterable, SplitLoader
