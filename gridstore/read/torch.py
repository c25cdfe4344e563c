"""torch adapters of a split or a view: a map-style Dataset and an IterableDataset of batches.

`SplitReader.torch_dataset` and `SplitReader.torch_iterable` (and the same
methods of a `gridstore.read.view.View`) build them here.
torch is imported only when an adapter is built; the adapter classes are made
on first use and pickle by reference to `adapter`, so they cross into
DataLoader workers under both 'fork' and 'spawn'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["adapter"]


class Split(Protocol):
    """What an adapter needs of a split (a `SplitReader`, or a `View` of one)."""

    def __len__(self) -> int: ...
    def annotation(self, name: str) -> Any: ...
    @property
    def batches(self) -> Callable[..., Iterator[Any]]: ...


_TORCH: list[type] = []


def adapter(kind: str, split: Split, options: dict[str, Any]) -> Any:
    """Build (or unpickle) a torch adapter; its classes are made on first use."""
    if not _TORCH:
        _TORCH.extend(_torch_classes())
    return _TORCH[kind == "iterable"](split, options)


def _torch_classes() -> tuple[type, type]:
    import torch
    from torch.utils.data import Dataset, IterableDataset, get_worker_info

    class SplitDataset(Dataset):
        def __init__(self, split: Split, options: dict[str, Any]) -> None:
            self.split, self.fields = split, options["fields"]

        def __reduce__(self) -> tuple[Any, ...]:
            return (adapter, ("map", self.split, {"fields": self.fields}))

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

    class SplitIterable(IterableDataset):
        def __init__(self, split: Split, options: dict[str, Any]) -> None:
            self.split, self.options = split, dict(options)

        def __reduce__(self) -> tuple[Any, ...]:
            return (adapter, ("iterable", self.split, self.options))

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
