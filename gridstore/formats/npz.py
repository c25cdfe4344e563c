"""Write an ``.npz`` file member by member, block by block, in bounded memory.

The file is what ``np.savez_compressed`` writes (a deflated zip of ``.npy``
members), but each array arrives as an iterable of row blocks, so only one
block is held at a time. It is written to a temp file beside its path, fsynced
and renamed into place, so a crash never leaves a half file.
"""

from __future__ import annotations

import errno
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.errors import CorruptChunkError, InsufficientSpaceError
from gridstore.storage.fsio import fsync_dir

__all__ = ["Member", "write_npz"]

#: One array of the file: ``(name, shape, dtype, row blocks)``.
Member = tuple[str, tuple[int, ...], np.dtype[Any], Iterable[np.ndarray]]


def write_npz(path: Path, members: Iterable[Member]) -> None:
    """Write ``members`` to the ``.npz`` file ``path``, atomically.

    Parameters
    ----------
    path : Path
        The file; missing parent directories are created.
    members : iterable of (name, shape, dtype, blocks)
        Each array as row blocks whose rows add up to ``shape[0]``; each
        block is cast to ``dtype``.

    Raises
    ------
    CorruptChunkError
        A block's rows do not match ``shape`` (nothing is left behind).
    InsufficientSpaceError
        The disk is full (nothing is left behind).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                for member in members:
                    _write_member(zf, *member)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            msg = f"no space left to write '{path}'; free disk space and try again"
            raise InsufficientSpaceError(msg) from err
        raise
    fsync_dir(path.parent)


def _write_member(
    zf: zipfile.ZipFile,
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    blocks: Iterable[np.ndarray],
) -> None:
    """Write ``name.npy`` (header, then each block's bytes) into ``zf``."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": tuple(shape)}  # fmt: skip
    rows = 0
    with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
        np.lib.format.write_array_header_1_0(out, header)
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=dtype)
            if block.shape[1:] != tuple(shape[1:]):
                msg = f"array '{name}' block has shape {block.shape}, expected rows of {shape[1:]}"
                raise CorruptChunkError(msg)
            out.write(block.reshape(-1).view(np.uint8).data)
            rows += len(block)
    if rows != shape[0]:
        msg = f"array '{name}' gave {rows} rows, expected {shape[0]}"
        raise CorruptChunkError(msg)
