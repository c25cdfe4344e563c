"""The one metadata schema: the seed's fields, which every version and export starts with.

A committed version's metadata (`gridstore.write`), an export's
``metadata.json`` and the seed-style ``create_metadata`` (`gridstore.formats`)
all begin with `seed_fields`; the validator checks `REQUIRED_KEYS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from gridstore.plan import SPLITS, estimate_memory

__all__ = ["REQUIRED_KEYS", "SEED_KEYS", "now", "seed_fields"]

SEED_KEYS = (
    "version",
    "timestamp",
    "generation_params",
    "dataset_info",
    "memory_info",
    "file_format",
)
REQUIRED_KEYS = (  # dotted paths every committed version holds
    "version",
    "timestamp",
    "generation_params.num_images",
    "generation_params.seed",
    "generation_params.grid_size",
    "generation_params.splits",
    "dataset_info.total_count",
    *(f"dataset_info.{s}_count" for s in SPLITS),
    "memory_info",
    "file_format.dtype",
    "file_format.compression",
    "file_format.chunk_images",
    "state",
)


def now() -> str:
    """The current UTC time as the metadata writes it (ISO 8601, seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def seed_fields(
    version: str,
    generation_params: Mapping[str, Any],
    counts: Mapping[str, int],
    file_format: Mapping[str, Any],
    *,
    timestamp: str | None = None,
    memory_info: Mapping[str, Any] | None = None,
    dtype: npt.DTypeLike = "uint8",
) -> dict[str, Any]:
    """Return the seed's fields, in the seed's order.

    Parameters
    ----------
    version : str
        Dataset version name.
    generation_params : mapping
        At least ``num_images``, ``seed``, ``grid_size`` and ``splits``.
    counts : mapping
        Images per split, by split name (a split left out counts 0). A
        ``heldout`` split's count is recorded beside, outside ``total_count``
        (the routed images, ``num_images``).
    file_format : mapping
        At least ``dtype`` and ``compression``.
    timestamp : str, optional
        ISO 8601 creation time; default now.
    memory_info : mapping, optional
        Default: `gridstore.plan.estimate_memory` of the total.
    dtype : numpy dtype
        Pixel type, for the default ``memory_info``.

    Examples
    --------
    >>> meta = seed_fields("v1", {"grid_size": 16}, {"train": 8, "val": 1, "test": 1}, {})
    >>> list(meta) == list(SEED_KEYS), meta["dataset_info"]["total_count"]
    (True, 10)
    """
    per_split = {s: int(counts.get(s, 0)) for s in SPLITS}
    total = sum(per_split.values())
    grid_size = int(generation_params.get("grid_size", 16))
    return {
        "version": str(version),
        "timestamp": timestamp or now(),
        "generation_params": dict(generation_params),
        "dataset_info": {f"{s}_count": per_split[s] for s in SPLITS}
        | {"total_count": total}
        | ({"heldout_count": int(counts["heldout"])} if "heldout" in counts else {}),
        "memory_info": dict(memory_info or estimate_memory(total, grid_size, dtype)),
        "file_format": dict(file_format),
    }
