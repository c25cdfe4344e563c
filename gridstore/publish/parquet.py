"""Parquet shards in the Hugging Face Hub's layout: ``data/<split>-00000-of-000NN.parquet``.

Each shard is written by a ``pyarrow.parquet.ParquetWriter`` from row groups of
at most one store chunk, so memory holds one chunk (as numpy and as Arrow)
whatever the version's size. The Arrow schema carries the Hugging Face
features (``huggingface`` schema metadata, as ``datasets`` writes it), so
``datasets.load_dataset`` finds the ``ClassLabel`` names even in shards
without their card; images are lists of rows there, and ``Array2D`` with the
card (see `arrow_schema`). The bytes depend only on the rows and on pyarrow's
version (the files hold no time).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.errors import ConfigError
from gridstore.publish.rows import slices
from gridstore.publish.schema import COLUMNS, OBJECT_FIELDS, hf_features, to_rows

__all__ = ["COMPRESSION", "arrow_schema", "import_pyarrow", "shard_names", "write_split"]

#: Codec of every column (zstd: about half the bytes of the Hub's default snappy here).
COMPRESSION = "zstd"


def import_pyarrow() -> Any:
    """Return ``pyarrow`` (with ``pyarrow.parquet`` loaded); ConfigError if missing."""
    try:
        import pyarrow as pa
        import pyarrow.parquet  # loads pa.parquet
    except ImportError as err:
        msg = "the parquet export needs pyarrow: pip install 'gridstore[publish]'"
        raise ConfigError(msg) from err
    return pa


def arrow_schema(grid: int) -> Any:
    """Return the Arrow schema of a shard: the storage types of `hf_features`, with them attached."""
    pa = import_pyarrow()
    rows = pa.list_(pa.list_(pa.uint8()))  # Array2D's storage
    types = {
        "index": pa.int64(),
        "image": rows,
        "num_objects": pa.uint8(),
        "object_type": pa.list_(pa.int64()),  # ClassLabel's storage
        "object_subtype": pa.list_(pa.int64()),
        "object_colour": pa.list_(pa.int64()),
        "object_size": pa.list_(pa.uint16()),
        "object_bbox": pa.list_(pa.list_(pa.uint8(), 4)),
        "instance_map": rows,
    }
    # Array2D's storage, without its Arrow extension type: once ``datasets`` is imported,
    # pandas would read that type as an extension array that mlcroissant cannot iterate.
    # The card's features make these columns Array2D again in load_dataset.
    fields = [pa.field(c, types[c]) for c in COLUMNS]
    meta = {"huggingface": json.dumps({"info": {"features": hf_features(grid)}})}
    return pa.schema(fields, metadata=meta)


def shard_names(split: str, rows: int, shard_images: int, suffix: str) -> list[str]:
    """Return the file names of a split's shards: ``<split>-00000-of-000NN.<suffix>``."""
    n = max(1, math.ceil(rows / shard_images))
    return [f"{split}-{i:05d}-of-{n:05d}.{suffix}" for i in range(n)]


_ITEM_DTYPES = {"object_size": np.uint16}


def _table(columns: Mapping[str, Any], schema: Any) -> Any:
    """The Arrow table of `to_rows` output."""
    pa = import_pyarrow()

    def grids(a: np.ndarray) -> Any:
        n, g = a.shape[0], a.shape[1]
        inner = pa.ListArray.from_arrays(np.arange(0, n * g * g + 1, g, dtype=np.int32), a.ravel())
        return pa.ListArray.from_arrays(np.arange(0, n * g + 1, g, dtype=np.int32), inner)

    arrays = {
        "index": pa.array(columns["index"]),
        "image": grids(columns["image"]),
        "num_objects": pa.array(columns["num_objects"]),
        "instance_map": grids(columns["instance_map"]),
    }
    for f in OBJECT_FIELDS:
        values, offsets = columns[f]
        if f == "object_bbox":
            items = pa.FixedSizeListArray.from_arrays(np.ascontiguousarray(values).ravel(), 4)
        else:
            items = pa.array(values.astype(_ITEM_DTYPES.get(f, np.int64)))  # labels: int64
        arrays[f] = pa.ListArray.from_arrays(offsets, items)
    return pa.Table.from_arrays([arrays[c] for c in COLUMNS], schema=schema)


def write_split(
    directory: Path,
    split: str,
    rows: int,
    chunks: Iterator[dict[str, np.ndarray]],
    *,
    grid: int,
    shard_images: int,
    on_rows: Any = None,
) -> list[Path]:
    """Write one split's rows to its parquet shards in ``directory``.

    Parameters
    ----------
    directory : Path
        Where the shards go (``data/``).
    split : str
        Split name, the files' prefix.
    rows : int
        Number of rows `chunks` yields (it fixes the shard count).
    chunks : iterator of dict
        The rows, a chunk at a time (`gridstore.publish.rows.chunks`).
    grid : int
        Side of the images.
    shard_images : int
        Most rows per shard.
    on_rows : callable, optional
        Called with the number of rows after each row group.

    Returns
    -------
    list of Path
        The shards, in order.
    """
    pa = import_pyarrow()
    schema = arrow_schema(grid)
    names = shard_names(split, rows, shard_images, "parquet")
    bounds = [min(rows, i * shard_images) for i in range(len(names))] + [rows]
    paths = [directory / name for name in names]
    writers: dict[int, Any] = {}
    try:
        for shard, part in slices(chunks, bounds):
            if shard not in writers:
                for done in [s for s in writers if s < shard]:
                    writers.pop(done).close()
                writers[shard] = pa.parquet.ParquetWriter(
                    paths[shard], schema, compression=COMPRESSION
                )
            writers[shard].write_table(_table(to_rows(part), schema))
            if on_rows is not None:
                on_rows(len(part["index"]))
        for shard, path in enumerate(paths):  # a split with no row still gets its (empty) file
            if shard not in writers and not path.exists():
                pa.parquet.write_table(schema.empty_table(), path, compression=COMPRESSION)
    finally:
        for w in writers.values():
            w.close()
    return paths
