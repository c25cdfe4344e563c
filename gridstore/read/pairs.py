"""A paired version's twins, aligned row by row with a split or a view (``split.pairs``).

Row ``i`` of ``split.pairs`` is the twin of the split's image ``i`` and the
record of its intervention (docs/factors.md). The arrays are the split's own
arrays ``pair/<field>`` and ``intervention/<field>``, so everything a split
offers for them works here: lazy indexing, and batches that are shuffled,
exactly resumable and sharded like the split's, since they are the split's
batches of those arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gridstore.errors import ConfigError
from gridstore.pairs.layout import INTERVENTION, KINDS, PAIR, RECORD_FIELDS
from gridstore.read.arrays import Fields, Indexable
from gridstore.read.torch import Split, TorchStreams
from gridstore.storage import FIELDS

__all__ = ["PairBatch", "Pairs"]

PairBatch = tuple[Any, Any, dict[str, np.ndarray]]


class Pairs(TorchStreams):
    """The twins of a split's (or a view's) rows, their annotations and interventions.

    ``pairs.images[i]`` is the twin of ``split.images[i]``; ``pairs.annotations``
    are the twins' (as the split's); ``pairs.interventions`` the records:
    ``kind`` (1..9, `KINDS`), ``slot``, ``old_colour``, ``new_colour``,
    ``offset``, ``rotation``, ``flip``, ``permutation``. Picklable.
    """

    kinds = KINDS

    def __init__(self, rows: Split) -> None:
        self.rows = rows

    def __repr__(self) -> str:
        return f"Pairs({self.rows!r})"

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def images(self) -> Indexable:
        """The twins, (n, G, G) uint8."""
        return self.rows.annotation(f"{PAIR}/images")

    @property
    def annotations(self) -> Fields[Indexable]:
        """The twins' annotation arrays by name (as ``split.annotations``)."""
        return Fields(lambda f: self.rows.annotation(f"{PAIR}/{f}"), list(FIELDS[1:]))

    @property
    def interventions(self) -> Fields[Indexable]:
        """The intervention records by field name: ``pairs.interventions.kind[:10]``."""
        return Fields(lambda f: self.rows.annotation(f"{INTERVENTION}/{f}"), list(RECORD_FIELDS))

    def annotation(self, name: str) -> Any:
        """Array ``name`` of the split (``"pair/images"``, ``"intervention/kind"``, ...)."""
        return self.rows.annotation(name)

    def kind_names(self, codes: Any) -> list[str]:
        """The names of intervention codes: ``pairs.kind_names(pairs.interventions.kind[:3])``."""
        return [KINDS[int(c) - 1] for c in np.asarray(codes).ravel()]

    def num_batches(self, batch_size: int, **kwargs: Any) -> int:
        """How many batches `batches` yields (see ``SplitReader.num_batches``)."""
        return self.rows.num_batches(batch_size, **kwargs)

    def batches(
        self,
        batch_size: int,
        *,
        fields: Sequence[str] = ("images",),
        interventions: Sequence[str] = tuple(RECORD_FIELDS),
        **kwargs: Any,
    ) -> Iterator[PairBatch]:
        """Yield batches of ``(base, twin, intervention)``: the split's batches of these arrays.

        ``base`` and ``twin`` hold ``fields`` of each side (an array when
        ``fields`` is ``("images",)``, else a dict), ``intervention`` the
        record fields ``interventions`` (a dict). Row ``j`` of the three is one
        pair. Shuffling, resuming and sharding are the split's (``seed``,
        ``epoch``, ``start_step``, ``rank``, ``world_size``, ... as in
        ``SplitReader.batches``), so the bases are exactly the split's batches.

        Raises
        ------
        ConfigError
            An unknown field or record field, or a bad argument (at once).
        """
        fields, records = _check(fields, interventions)
        arrays = [*fields, *(f"{PAIR}/{f}" for f in fields)]
        arrays += [f"{INTERVENTION}/{r}" for r in records]
        stream = self.rows.batches(batch_size, fields=arrays, **kwargs)
        return (_split(batch, fields, records) for batch in stream)

    def numpy_batches(self, batch_size: int, **kwargs: Any) -> Iterator[PairBatch]:
        """Yield numpy batches exactly as `batches` does."""
        return self.batches(batch_size, **kwargs)

    def torch_dataset(
        self,
        fields: Sequence[str] = ("images",),
        interventions: Sequence[str] = tuple(RECORD_FIELDS),
    ) -> Any:
        """A map-style ``torch.utils.data.Dataset`` of the pairs, as ``SplitReader.torch_dataset``.

        Item ``i`` is ``(base, twin, intervention)`` of pair ``i``: ``base`` and
        ``twin`` tensors of ``fields`` (dicts of them unless ``fields`` is
        ``("images",)``), ``intervention`` a dict of the record's tensors.

        Raises
        ------
        ConfigError
            An unknown field or record field.
        """
        from gridstore.read import torch

        fields, records = _check(fields, interventions)
        return torch.adapter("map", self, {"fields": fields,
                                           "twins": tuple(f"{PAIR}/{f}" for f in fields),
                                           "records": tuple(f"{INTERVENTION}/{r}" for r in records)})  # fmt: skip


def _check(fields: Sequence[str], records: Sequence[str]) -> tuple[tuple, tuple]:
    """``fields`` and record fields as tuples; a one-line `ConfigError` for an unknown one."""
    fields, records = tuple(fields), tuple(records)
    bad = [f for f in fields if f not in FIELDS] + [r for r in records if r not in RECORD_FIELDS]
    if bad or not fields:
        msg = (
            f"unknown pair field {bad[0]!r}; fields from {', '.join(FIELDS)}, interventions "
            f"from {', '.join(RECORD_FIELDS)}"
            if bad
            else "fields must name at least one array, got none"
        )
        raise ConfigError(msg)
    return fields, records


def _split(batch: dict[str, np.ndarray], fields: tuple[str, ...], records: tuple) -> PairBatch:
    """One batch of the split's arrays cut into (base, twin, intervention)."""
    base = {f: batch[f] for f in fields}
    twin = {f: batch[f"{PAIR}/{f}"] for f in fields}
    rec = {r: batch[f"{INTERVENTION}/{r}"] for r in records}
    if fields == ("images",):
        return base["images"], twin["images"], rec
    return base, twin, rec
