"""The seed's ``.npz`` files: one split's images and annotations, written and read back.

:func:`write_npz` writes what ``np.savez_compressed`` writes (a deflated zip of
``.npy`` members), but each array arrives as an iterable of row blocks, so only
one block is held at a time. It is written to a temp file beside its path,
fsynced and renamed into place, so a crash never leaves a half file.
:func:`save_corpus` / :func:`load_corpus` write and read one such file from
in-memory arrays.
"""

from __future__ import annotations

import errno
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.errors import (
    ConfigError,
    CorruptChunkError,
    InsufficientSpaceError,
    StoreNotFoundError,
)
from gridstore.generate.vocab import Annotations
from gridstore.storage.fsio import fsync_dir

__all__ = ["Member", "load_corpus", "save_corpus", "write_npz"]

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


def _check_images(images: np.ndarray, where: str) -> None:
    """Raise ConfigError unless ``images`` is (n, G, G) uint8 with values 0..9."""
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        msg = f"{where}: images must have shape (n, G, G), got {images.shape}"
        raise ConfigError(msg)
    if images.dtype != np.uint8:
        msg = f"{where}: images must be uint8, got {images.dtype}"
        raise ConfigError(msg)
    if images.size and (top := int(images.max())) > 9:
        msg = f"{where}: pixel values must be 0..9, found {top}"
        raise ConfigError(msg)


def save_corpus(
    path: str | os.PathLike[str], images: np.ndarray, annotations: Annotations | None = None
) -> Path:
    """Save images (and their annotations) to one ``.npz`` file, atomically.

    The file holds ``images`` and, if given, each annotation array under its
    field name (``num_objects``, ``instance_map``, ...), compressed as
    ``np.savez_compressed`` does. It is written to a temp file beside ``path``
    and renamed into place, so a crash never leaves a half file.

    Parameters
    ----------
    path : path
        Where to write; ``.npz`` is appended if missing (as numpy does).
        Missing parent directories are created.
    images : ndarray, shape (n, G, G)
        Colours 0..9. Integer or float arrays holding whole numbers 0..9
        (``generate_corpus(..., dtype=...)``) are stored as uint8.
    annotations : Annotations, optional
        Annotations of ``images`` (same length).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        Images of another shape, values outside 0..9 or not whole numbers, or
        annotations of another length.
    InsufficientSpaceError
        The disk is full.

    Examples
    --------
    >>> import tempfile
    >>> from gridstore.corpus import generate_corpus
    >>> images, ann = generate_corpus(4, seed=0, show_progress=False)
    >>> out = save_corpus(Path(tempfile.mkdtemp()) / "train", images, ann)
    >>> out.name, bool((load_corpus(out)[0] == images).all())
    ('train.npz', True)
    """
    path = Path(path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    where = f"cannot save '{path}'"
    images = np.asarray(images)
    if images.dtype != np.uint8 and images.dtype.kind in "uif":
        bad = (images < 0) | (images > 9) | (images != np.round(images))  # NaN is bad too
        if bad.any():
            found = images[bad][0].item()
            msg = f"{where}: pixel values must be whole numbers 0..9, found {found!r}"
            raise ConfigError(msg)
        images = images.astype(np.uint8)
    _check_images(images, where)
    arrays = {"images": images}
    if annotations is not None:
        if len(annotations) != len(images):
            msg = f"{where}: annotations have {len(annotations)} rows but images {len(images)}"
            raise ConfigError(msg)
        arrays |= annotations.as_dict()
    write_npz(path, [(k, a.shape, a.dtype, [a]) for k, a in arrays.items()])
    return path


def load_corpus(path: str | os.PathLike[str]) -> tuple[np.ndarray, Annotations | None]:
    """Load images (and annotations, if the file has them) from a ``.npz`` file.

    Reads files written by :func:`save_corpus` and :func:`export_version`. A
    file of older tools holding one array under another name than
    ``images`` is read as the images.

    Parameters
    ----------
    path : path
        The ``.npz`` file.

    Returns
    -------
    images : ndarray, shape (n, G, G), uint8
    annotations : Annotations or None
        None when the file has no annotation arrays.

    Raises
    ------
    StoreNotFoundError
        The file does not exist.
    ConfigError
        Not an npz file, no images, images not (n, G, G) uint8 with values
        0..9, or incomplete or inconsistent annotations; the message names
        the file.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not an .npz file" if path.is_dir() else "does not exist"
        msg = f"corpus file '{path}' {what}; check the path"
        raise StoreNotFoundError(msg)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        msg = f"corpus file '{path}' is not a readable .npz file ({reason}); re-create it"
        raise ConfigError(msg) from err
    if "images" not in arrays and len(arrays) != 1:
        found = ", ".join(sorted(arrays)) or "none"
        msg = f"corpus file '{path}' has no 'images' array (arrays: {found})"
        raise ConfigError(msg)
    images = arrays.pop("images" if "images" in arrays else next(iter(arrays)))
    _check_images(images, f"corpus file '{path}'")
    return images, _annotations(arrays, images, path)


def _annotations(
    arrays: dict[str, np.ndarray], images: np.ndarray, path: Path
) -> Annotations | None:
    """The file's annotations (None if it has none); ConfigError if incomplete or inconsistent."""
    names = Annotations.names()
    if not any(k in arrays for k in names):
        return None
    if missing := [k for k in names if k not in arrays]:
        msg = (
            f"corpus file '{path}' has annotations but not {', '.join(missing)}; "
            "re-create it with save_corpus"
        )
        raise ConfigError(msg)
    n = images.shape[0]
    for k in names:
        a = arrays[k]
        if a.ndim == 0 or a.shape[0] != n or (k == "instance_map" and a.shape != images.shape):
            msg = (
                f"corpus file '{path}': annotation '{k}' has shape {a.shape}, "
                f"expected {n} rows like images {images.shape}"
            )
            raise ConfigError(msg)
    slots = arrays["object_type"].shape[1:]
    others = ("object_subtype", "object_colour", "object_size", "object_bbox")
    if any(arrays[k].shape[1:2] != slots for k in others):
        msg = f"corpus file '{path}': annotation arrays disagree on the number of object slots"
        raise ConfigError(msg)
    return Annotations(**{k: arrays[k] for k in names})
