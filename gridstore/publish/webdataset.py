"""WebDataset shards: ``data/<split>-00000-of-000NN.tar.gz``, three members per image.

Each image of split row ``i`` is the sample ``__key__ = "%09d" % i`` with
``<key>.image.npy`` and ``<key>.instance_map.npy`` ((G, G) uint8, numpy's
format) and ``<key>.json``: the annotations of `gridstore.publish.schema`
(``index``, ``num_objects`` and the per-object lists, the same labels as the
parquet columns). The ``webdataset`` package reads them with its default
decoders. Shards are gzipped (webdataset opens ``.tar.gz`` as it opens ``.tar``):
each member costs a 512-byte header and padding to 512 bytes, 3 KiB per image
that gzip takes down to about 110 bytes. Members are written in order with a
fixed mtime, owner and mode, and the gzip header holds no name or time, so the
same rows give the same bytes; a shard is written a chunk at a time.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.publish.parquet import shard_names
from gridstore.publish.rows import slices
from gridstore.publish.schema import OBJECT_FIELDS, to_rows

__all__ = ["GZIP_LEVEL", "MTIME", "sample_json", "write_split"]

#: The mtime of every member (1 Jan 2000): a constant, so the shards' bytes do not depend on when.
MTIME = 946684800
#: gzip level of the shards: 28x smaller than plain tar here (3 KiB of headers and padding per image).
GZIP_LEVEL = 6


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def sample_json(columns: dict[str, Any], i: int) -> bytes:
    """The ``.json`` member of row ``i`` of `to_rows` output."""
    doc: dict[str, Any] = {
        "index": int(columns["index"][i]),
        "num_objects": int(columns["num_objects"][i]),
    }
    for f in OBJECT_FIELDS:
        values, offsets = columns[f]
        doc[f] = values[offsets[i] : offsets[i + 1]].tolist()
    return json.dumps(doc, separators=(",", ":")).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _open_tar(path: Path, stack: ExitStack) -> tarfile.TarFile:
    """A tar writer into a gzip stream whose header holds no name and no time.

    ``stack`` closes the tar, then the gzip stream, then the file.
    """
    raw = stack.enter_context(path.open("wb"))
    gz = stack.enter_context(
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
    )
    return stack.enter_context(tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT))


def write_split(
    directory: Path,
    split: str,
    rows: int,
    chunks: Iterator[dict[str, np.ndarray]],
    *,
    grid: int,
    shard_images: int,
    on_rows: Callable[[int], Any] | None = None,
) -> list[Path]:
    """Write one split's rows to tar shards in ``directory``.

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
        Side of the images (unused: the ``.npy`` headers carry the shapes).
    shard_images : int
        Most samples per shard.
    on_rows : callable, optional
        Called with the number of rows after each chunk's part.

    Returns
    -------
    list of Path
        The shards, in order.
    """
    del grid
    names = shard_names(split, rows, shard_images, "tar.gz")
    bounds = [min(rows, i * shard_images) for i in range(len(names))] + [rows]
    paths = [directory / name for name in names]
    tars: dict[int, tarfile.TarFile] = {}
    stacks: dict[int, ExitStack] = {}
    try:
        for shard, part in slices(chunks, bounds):
            if shard not in tars:
                for done in [s for s in stacks if s < shard]:
                    stacks.pop(done).close()
                stacks[shard] = ExitStack()
                tars[shard] = _open_tar(paths[shard], stacks[shard])
            cols = to_rows(part)
            for i in range(len(part["index"])):
                key = f"{int(cols['index'][i]):09d}"
                _add(tars[shard], f"{key}.image.npy", _npy(cols["image"][i]))
                _add(tars[shard], f"{key}.instance_map.npy", _npy(cols["instance_map"][i]))
                _add(tars[shard], f"{key}.json", sample_json(cols, i))
            if on_rows is not None:
                on_rows(len(part["index"]))
    finally:
        for stack in stacks.values():
            stack.close()
    return paths
