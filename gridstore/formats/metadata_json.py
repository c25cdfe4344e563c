"""The seed's ``metadata.json``: build it for three splits, and write it atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gridstore.arguments import is_integer
from gridstore.errors import ConfigError
from gridstore.metadata import SEED_KEYS, seed_fields
from gridstore.plan import DEFAULT_FRACTIONS, SPLITS, parse_fractions
from gridstore.storage.fsio import atomic_write_bytes

__all__ = ["METADATA_FILE", "NPZ_COMPRESSION", "create_metadata", "save_metadata"]

NPZ_COMPRESSION = "npz (zlib)"  # np.savez_compressed: a zip of .npy members, deflated
METADATA_FILE = "metadata.json"


def create_metadata(
    version: str,
    split_sizes: Mapping[str, int | np.ndarray],
    *,
    seed: int,
    grid_size: int = 16,
    splits: Sequence[float] | str = DEFAULT_FRACTIONS,
    dtype: npt.DTypeLike = "uint8",
    compression: str = NPZ_COMPRESSION,
    timestamp: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the seed's ``metadata.json`` contents for a dataset of three splits.

    Parameters
    ----------
    version : str
        Dataset version, e.g. ``"2026-11-24-v1"``.
    split_sizes : mapping
        Images per split: ``{"train": 800, ...}``, or the split arrays
        themselves (their length is used). A split left out counts 0.
    seed : int
        Generation seed.
    grid_size : int
        Side of the images.
    splits : sequence of 3 float or str
        Train, val, test fractions used to make the splits.
    dtype : numpy dtype
        Pixel type of the files.
    compression : str
        How the files are compressed.
    timestamp : str, optional
        ISO 8601 creation time; default now (UTC).
    extra : mapping, optional
        More keys, added after the seed's.

    Returns
    -------
    dict
        ``version``, ``timestamp``, ``generation_params`` {num_images, seed,
        grid_size, splits}, ``dataset_info`` {train_count, val_count,
        test_count, total_count}, ``memory_info`` (:func:`estimate_memory`),
        ``file_format`` {dtype, compression}, then ``extra``.

    Raises
    ------
    ConfigError
        An unknown split name, a negative count, bad fractions, or an
        ``extra`` key that would replace a seed field.

    Examples
    --------
    >>> meta = create_metadata("2026-11-24-v1", {"train": 800, "val": 100, "test": 100}, seed=42)
    >>> meta["dataset_info"]["total_count"], meta["memory_info"]["readable"]
    (1000, '250.0 KiB')
    """
    if unknown := sorted(set(split_sizes) - set(SPLITS)):
        msg = f"unknown split {unknown[0]!r} in split_sizes; expected train, val and test"
        raise ConfigError(msg)
    counts = {s: _count(s, split_sizes.get(s, 0)) for s in SPLITS}
    fractions = parse_fractions(splits if isinstance(splits, str) else tuple(splits))
    if clash := sorted(set(extra or {}) & set(SEED_KEYS)):
        msg = f"extra key {clash[0]!r} would replace a seed field; pass it as an argument instead"
        raise ConfigError(msg)
    params = {
        "num_images": sum(counts.values()),
        "seed": int(seed),
        "grid_size": int(grid_size),
        "splits": dict(zip(SPLITS, fractions, strict=True)),
    }
    file_format = {"dtype": np.dtype(dtype).name, "compression": compression}
    meta = seed_fields(version, params, counts, file_format, timestamp=timestamp, dtype=dtype)
    return meta | dict(extra or {})


def _count(split: str, value: int | np.ndarray) -> int:
    n = len(value) if hasattr(value, "__len__") else value
    if not is_integer(n) or n < 0:
        msg = f"size of split {split!r} must be an integer >= 0 or an array, got {value!r}"
        raise ConfigError(msg)
    return int(n)


def _json_default(value: Any) -> Any:
    """Numpy scalars and arrays as Python values; ConfigError for anything else."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    msg = f"metadata value of type {type(value).__name__} is not JSON serialisable"
    raise ConfigError(msg)


def save_metadata(metadata: Mapping[str, Any], directory: str | os.PathLike[str]) -> Path:
    """Write ``metadata`` as ``directory/metadata.json``, atomically (created if needed).

    Keys keep their order (the seed's first), so the file reads like the seed's.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        A value that JSON cannot hold.
    InsufficientSpaceError
        The disk is full (nothing is left behind).

    Examples
    --------
    >>> import tempfile
    >>> meta = create_metadata("v1", {"train": 8, "val": 1, "test": 1}, seed=0)
    >>> save_metadata(meta, tempfile.mkdtemp()).name
    'metadata.json'
    """
    path = Path(directory) / METADATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(metadata), indent=2, default=_json_default) + "\n"
    atomic_write_bytes(path, text.encode())
    return path
