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
_BLOCK = 512
_SAMPLES_PER_WRITE = 256  # members gzipped together: about 0.8 MB of tar, few calls
#: gzip level of the shards: 28x smaller than plain tar here (3 KiB of headers and padding per image).
GZIP_LEVEL = 6


def _npy_header(a: np.ndarray) -> bytes:
    """The ``.npy`` header of one row of ``a`` (the same for every row)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(a.shape[1:], a.dtype), allow_pickle=False)
    return buf.getvalue()[: -a[0].nbytes or None]


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


def _member(name: str, data: bytes) -> bytes:
    """One tar member: the ustar header tarfile writes for it, and ``data`` padded to 512 bytes.

    tarfile's own writer costs 60 us a member in Python; this is a few bytes operations.
    """
    h = bytearray(_BLOCK)
    h[0 : len(name)] = name.encode()  # names stay under 100 bytes: 'key.instance_map.npy'
    h[100:148] = b"0000444\x000000000\x000000000\x00%011o\x00%011o\x00" % (len(data), MTIME)
    h[148:156] = b" " * 8  # the checksum counts its own field as spaces
    h[156] = ord("0")  # a regular file
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h) + data + bytes(-len(data) % _BLOCK)


class _Shard:
    """A gzipped tar being written: members appended, then the end blocks on close."""

    def __init__(self, path: Path) -> None:
        self.stack = ExitStack()  # closes the gzip stream, then the file
        raw = self.stack.enter_context(path.open("wb"))
        self.gz = self.stack.enter_context(
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
        )  # no name and no time in the gzip header
        self.size = 0

    def write(self, data: bytes) -> None:
        self.gz.write(data)
        self.size += len(data)

    def finish(self) -> None:
        """Two zero blocks, then zeros to a whole record of 20 blocks (as tarfile ends a tar)."""
        end = 2 * _BLOCK
        self.write(bytes(end + -(self.size + end) % (20 * _BLOCK)))
        self.stack.close()


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
    shards: dict[int, _Shard] = {}  # the open one
    try:
        for shard, part in slices(chunks, bounds):
            if shard not in shards:
                for done in list(shards):
                    shards.pop(done).finish()
                shards[shard] = _Shard(paths[shard])
            cols = to_rows(part)
            headers = {k: _npy_header(cols[k]) for k in ("image", "instance_map")}
            for lo in range(0, len(part["index"]), _SAMPLES_PER_WRITE):
                members = []
                for i in range(lo, min(lo + _SAMPLES_PER_WRITE, len(part["index"]))):
                    key = f"{int(cols['index'][i]):09d}"
                    for k in ("image", "instance_map"):
                        npy = headers[k] + cols[k][i].tobytes()
                        members.append(_member(f"{key}.{k}.npy", npy))
                    members.append(_member(f"{key}.json", sample_json(cols, i)))
                shards[shard].write(b"".join(members))
            if on_rows is not None:
                on_rows(len(part["index"]))
        for done in list(shards):
            shards.pop(done).finish()
    finally:  # on an error: close without the end blocks (the caller removes the files)
        for open_shard in shards.values():
            open_shard.stack.close()
    return paths
