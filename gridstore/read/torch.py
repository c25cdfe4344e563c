"""torch adapters of a split: a map-style Dataset and an IterableDataset of batches.

`SplitReader` gets `torch_dataset` and `torch_iterable` from `TorchAdapters`.
torch is imported only when an adapter is built; the adapter classes are made
on first use and pickle by reference to `_torch_adapter`, so they cross into
DataLoader workers under both 'fork' and 'spawn'.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gridstore.read.store import SplitReader

__all__ = ["TorchAdapters"]


class TorchAdapters:
    """torch entry points of `gridstore.read.SplitReader` (a mixin using `_check`, `batches`)."""

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
        self._check(tuple(fields))  # type: ignore[attr-defined]
        split: Any = self
        return _torch_adapter("map", split, {"fields": tuple(fields)})

    def torch_iterable(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, epoch: int = 0, **kwargs: Any
    ) -> Any:
        """Return a ``torch.utils.data.IterableDataset`` yielding whole batches.

        Load it with ``DataLoader(ds, batch_size=None, num_workers=k)``. Worker
        ``w`` of ``k`` on rank ``r`` reads chunks ``order[r * k + w :: world_size
        * k]``, so workers and ranks never share a chunk and together read every
        row once per epoch. Call ``ds.set_epoch(e)`` before each epoch (workers
        must not be persistent for it to reach them).

        Parameters
        ----------
        batch_size, shuffle, seed, epoch
            As in `batches`.
        **kwargs
            ``drop_last``, ``window_chunks``, ``fields``, ``rank``, ``world_size``
            as in `batches` (to resume mid-epoch, use `batches`).

        Returns
        -------
        torch.utils.data.IterableDataset

        Raises
        ------
        ConfigError
            An argument is out of range or a field is unknown.
        """
        opts = {"shuffle": shuffle, "seed": seed, "epoch": epoch, **kwargs}
        self.batches(batch_size, **opts)  # type: ignore[attr-defined] # checks; reads nothing
        split: Any = self
        return _torch_adapter("iterable", split, {"batch_size": batch_size, **opts})


_TORCH: list[type] = []


def _torch_adapter(kind: str, split: SplitReader, options: dict[str, Any]) -> Any:
    """Build (or unpickle) a torch adapter; its classes are made on first use."""
    if not _TORCH:
        _TORCH.extend(_torch_classes())
    return _TORCH[kind == "iterable"](split, options)


def _torch_classes() -> tuple[type, type]:
    import torch
    from torch.utils.data import Dataset, IterableDataset, get_worker_info

    class SplitDataset(Dataset):  # type: ignore[type-arg]
        def __init__(self, split: SplitReader, options: dict[str, Any]) -> None:
            self.split, self.fields = split, options["fields"]

        def __reduce__(self) -> tuple[Any, ...]:
            return (_torch_adapter, ("map", self.split, {"fields": self.fields}))

        def __len__(self) -> int:
            return len(self.split)

        def __getitem__(self, index: int) -> Any:
            return self.__getitems__([index])[0]

        def __getitems__(self, indices: Sequence[int]) -> list[Any]:
            idx = np.asarray(indices, dtype=np.int64)
            cols = [torch.from_numpy(self.split.annotation(f)[idx]).unbind(0) for f in self.fields]
            if self.fields == ("images",):
                return list(cols[0])
            return [dict(zip(self.fields, row, strict=True)) for row in zip(*cols, strict=True)]

    class SplitIterable(IterableDataset):  # type: ignore[type-arg]
        def __init__(self, split: SplitReader, options: dict[str, Any]) -> None:
            self.split, self.options = split, dict(options)

        def __reduce__(self) -> tuple[Any, ...]:
            return (_torch_adapter, ("iterable", self.split, self.options))

        def set_epoch(self, epoch: int) -> None:
            self.options["epoch"] = epoch

        def __iter__(self) -> Iterator[Any]:
            info = get_worker_info()
            workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
            opts = dict(self.options)
            opts["rank"] = opts.get("rank", 0) * workers + worker
            opts["world_size"] = opts.get("world_size", 1) * workers
            for batch in self.split.batches(opts.pop("batch_size"), **opts):
                if isinstance(batch, dict):
                    yield {k: torch.from_numpy(v) for k, v in batch.items()}
                else:
                    yield torch.from_numpy(batch)

    return SplitDataset, SplitIterable
