"""Check that an array of images is a well-formed dataset: the seed's ``validate_dataset``.

:func:`validate_dataset` checks what any consumer of the images relies on,
without annotations: shape ``(N, G, G)``, dtype uint8 and colours 0..9. It
reads the images in blocks, so a numpy memmap, a lazy store array
(``version["train"].images``), a zarr array or a seed-style ``.npz`` / ``.npy``
file of any size is checked in bounded memory. The generator's rules (sizes,
shapes, colours of objects) are :func:`gridstore.validate.constraints.check_constraints`.
"""

from __future__ import annotations

import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

from gridstore.arguments import check_int
from gridstore.errors import ConfigError, CorruptChunkError, StoreNotFoundError

__all__ = ["CHECKS", "DatasetReport", "validate_dataset"]

CHECKS = (
    "readable",  # the file or array could be read
    "shape",  # (N, G, G)
    "dtype",  # the expected pixel type (uint8)
    "values",  # whole numbers 0..9
)
BLOCK_BYTES = 32 * 2**20  # per block read; the value check holds about 2x this at once
MAX_BAD_INDICES = 1000  # indices kept in the report: enough to inspect, bounded at 10^9 images


@dataclass
class DatasetReport:
    """What :func:`validate_dataset` found: check name -> one-line problem.

    Unpacks like the seed's ``(is_valid, message)`` tuple:
    ``ok, message = validate_dataset(images)``.
    """

    checked: int
    shape: tuple[int, ...]
    dtype: str
    problems: dict[str, str] = field(default_factory=dict)
    bad_images: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    num_bad_images: int = 0
    value_min: float | None = None
    value_max: float | None = None

    @property
    def ok(self) -> bool:
        """True when no check found a problem."""
        return not self.problems

    @property
    def num_images(self) -> int:
        """N, from the shape (``checked`` counts the images whose pixels were read)."""
        return self.shape[0] if self.shape else 0

    def summary(self) -> str:
        """One line: what was checked, then each problem."""
        what = f"{self.num_images} images, shape {self.shape}, {self.dtype}"
        if self.ok:
            return f"dataset valid: {what}, values 0..9"
        found = "; ".join(f"{check}: {text}" for check, text in self.problems.items())
        return f"dataset invalid ({what}): {found}"

    def __str__(self) -> str:
        return self.summary()

    def __iter__(self) -> Iterator[Any]:
        # The seed returned (is_valid, message); keep its callers working.
        return iter((self.ok, self.summary()))


def validate_dataset(
    images: Any,
    *,
    grid_size: int = 16,
    dtype: npt.DTypeLike | None = np.uint8,
) -> DatasetReport:
    """Check that ``images`` are ``(N, G, G)`` uint8 grids of colours 0..9.

    The seed's checks (shape, value range, dtype, and, for a file, that it
    loads and holds an ``images`` array), done in blocks of about 32 MiB
    aligned with the source's chunks, so memory stays bounded whatever N.
    Every check runs even when another fails, and the report names each
    problem. Zero images is valid (a split of fraction 0 is empty).

    Parameters
    ----------
    images : array-like or path
        Anything with ``shape``, ``dtype`` and slicing along axis 0 (numpy
        array or memmap, ``version[split].images``, a zarr array), a nested
        list, or the path of an ``.npz`` file (its ``images`` array, or its
        only array, as :func:`gridstore.load_corpus` reads it; streamed, not
        loaded whole) or ``.npy`` file.
    grid_size : int
        Expected side G of each image.
    dtype : numpy dtype or None
        Expected pixel type. None accepts any integer or float type holding
        whole numbers 0..9 (the seed only recommended uint8; gridstore stores
        and writes uint8).

    Returns
    -------
    DatasetReport
        ``report.ok``; ``report.problems`` maps each failed check of
        :data:`CHECKS` (``readable``, ``shape``, ``dtype``, ``values``) to a
        one-line message; ``report.bad_images`` holds the first
        ``MAX_BAD_INDICES`` indices of images with bad values (of
        ``report.num_bad_images``); ``value_min`` / ``value_max`` over all
        pixels. ``str(report)`` is a one-line summary.

    Raises
    ------
    StoreNotFoundError
        ``images`` is a path that does not exist.
    ConfigError
        ``grid_size`` is not a positive integer, or ``dtype`` not a dtype.

    Examples
    --------
    >>> import numpy as np
    >>> report = validate_dataset(np.zeros((3, 16, 16), np.uint8))
    >>> report.ok
    True
    >>> bad = np.full((2, 16, 16), 10, np.int64)
    >>> print(validate_dataset(bad))  # doctest: +NORMALIZE_WHITESPACE
    dataset invalid (2 images, shape (2, 16, 16), int64): dtype: expected uint8, got int64;
    values: 2 images have pixels outside 0..9 (min 10, max 10), e.g. images 0, 1
    >>> ok, message = validate_dataset(np.ones((1, 16, 16), np.uint8))  # the seed's tuple
    >>> ok, message
    (True, 'dataset valid: 1 images, shape (1, 16, 16), uint8, values 0..9')
    """
    grid_size = check_int("grid_size", grid_size, 1)
    try:
        expected = None if dtype is None else np.dtype(dtype)
    except TypeError as err:
        msg = f"dtype must be a numpy dtype such as 'uint8', or None for any number type, got {dtype!r}"
        raise ConfigError(msg) from err
    if isinstance(images, str | os.PathLike):
        with _open_file(Path(images)) as source:
            return _validate(source, grid_size, expected)
    if not (hasattr(images, "shape") and hasattr(images, "dtype")):
        try:
            images = np.asarray(images)
        except ValueError as err:  # ragged nested lists
            report = DatasetReport(0, (), "unknown")
            report.problems["shape"] = f"images are not one rectangular array ({err})"
            return report
    return _validate(_ArraySource(images), grid_size, expected)


def _validate(source: _Source, grid_size: int, dtype: np.dtype[Any] | None) -> DatasetReport:
    shape, got = source.shape, source.dtype
    report = DatasetReport(0, shape, got.name)
    if source.error:  # the file did not open: nothing else to look at
        report.dtype = "unknown"
        report.problems["readable"] = source.error
        return report
    if len(shape) != 3 or shape[1:] != (grid_size, grid_size):
        report.problems["shape"] = f"expected (N, {grid_size}, {grid_size}), got {shape}"
    numeric = got.kind in "uif"
    if dtype is not None and got != dtype:
        report.problems["dtype"] = f"expected {dtype.name}, got {got.name}"
    elif not numeric:
        report.problems["dtype"] = f"expected an integer or float type, got {got.name}"
    if numeric and shape:
        _check_values(source, report)
    return report


def _check_values(source: _Source, report: DatasetReport) -> None:
    """Scan every pixel block by block: bad images, the value range, unreadable blocks."""
    bad: list[np.ndarray] = []
    lo, hi = np.inf, -np.inf
    unreadable: list[int] = []
    is_float = source.dtype.kind == "f"
    for start, block in source.blocks():
        if block is None:  # a damaged chunk or file: note it and check the rest
            unreadable.append(start)
            continue
        report.checked += len(block)
        if block.size == 0:
            continue
        if is_float:  # NaN and inf are bad, but must not hide the range of the rest
            finite = np.isfinite(block)
            values = block if finite.all() else block[finite]
            wrong = ~(finite & (block >= 0) & (block <= 9) & (block == np.floor(block)))
        else:
            values, wrong = block, None
        if values.size:
            bmin, bmax = float(values.min()), float(values.max())
            lo, hi = min(lo, bmin), max(hi, bmax)
        if wrong is None:
            if bmin >= 0 and bmax <= 9:
                continue  # integers all in range: no per-pixel mask needed
            wrong = (block < 0) | (block > 9)
        rows = np.flatnonzero(wrong.reshape(len(block), -1).any(axis=1))
        report.num_bad_images += len(rows)
        if sum(map(len, bad)) < MAX_BAD_INDICES:
            bad.append(rows + start)
    if lo <= hi:
        report.value_min, report.value_max = _number(lo), _number(hi)
    if unreadable:
        report.problems["readable"] = (
            f"{len(unreadable)} blocks could not be read, the first at image "
            f"{unreadable[0]}: {source.block_error}"
        )
    if report.num_bad_images:
        report.bad_images = np.concatenate(bad)[:MAX_BAD_INDICES].astype(np.int64)
        what = "that are not whole numbers 0..9" if is_float else "outside 0..9"
        report.problems["values"] = (
            f"{report.num_bad_images} images have pixels {what} "
            f"(min {report.value_min}, max {report.value_max}), "
            f"e.g. images {', '.join(map(str, report.bad_images[:5]))}"
        )


def _number(x: float) -> float:
    return int(x) if x == int(x) else x  # 10, not 10.0, for integer data


# -- sources: where blocks of images come from -------------------------------------


class _Source:
    """Images read block by block.

    ``error`` says why the source could not be opened; ``block_error`` why a
    block read as None could not be read.
    """

    def __init__(
        self, shape: tuple[int, ...] = (), dtype: npt.DTypeLike = np.uint8, error: str = ""
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.error = error
        self.block_error = ""

    def _rows_per_block(self, chunk_rows: int = 1) -> int:
        row_bytes = max(1, int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize)
        rows = max(1, BLOCK_BYTES // row_bytes)
        return max(chunk_rows, rows // chunk_rows * chunk_rows)  # whole chunks: each read once

    def blocks(self) -> Iterator[tuple[int, np.ndarray | None]]:
        """Yield ``(first image index, block)``; block None when it could not be read."""
        return iter(())


class _ArraySource(_Source):
    """An in-memory, memory-mapped or lazy array, sliced along axis 0."""

    def __init__(self, array: Any) -> None:
        super().__init__(array.shape, array.dtype)
        self.array = array

    def blocks(self) -> Iterator[tuple[int, np.ndarray | None]]:
        step, n = self._rows_per_block(_chunk_rows(self.array)), self.shape[0]
        for start in range(0, n, step):
            try:
                yield start, np.asarray(self.array[start : start + step])
            except CorruptChunkError as err:
                self.block_error = self.block_error or str(err)
                yield start, None


def _chunk_rows(array: Any) -> int:
    """Images per chunk of a chunked array (LazyArray, zarr, dask, h5py); 1 for numpy."""
    rows = getattr(array, "chunk_images", None)
    if rows is None:
        chunks = getattr(array, "chunks", None)
        rows = chunks[0] if chunks else 1
    return int(max(rows) if isinstance(rows, tuple) else rows)  # dask: a tuple of sizes


# numpy parses the header with ast / tokenize, so a damaged one raises any of these.
_HEADER_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    SyntaxError,
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
)


class _NpySource(_Source):
    """One ``.npy`` stream (a file, or a member of an ``.npz``), read sequentially."""

    def __init__(self, stream: IO[bytes], name: str, what: str = ".npy array") -> None:
        super().__init__()
        self.stream, self.name, self.fortran = stream, name, False
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(stream)
            else:  # 2.0 and 3.0 share the header layout
                header = np.lib.format.read_array_header_2_0(stream)
        except _HEADER_ERRORS as err:
            self.error = f"'{name}' is not a readable {what} ({type(err).__name__}: {err})"
            return
        shape, self.fortran, dtype = header
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        if self.dtype.hasobject:
            self.error = f"'{name}' holds Python objects, not numbers"

    def blocks(self) -> Iterator[tuple[int, np.ndarray | None]]:
        n = self.shape[0] if self.shape else 0
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        # Fortran order (numpy writes C order for C arrays) is read whole: rare enough.
        step = max(n, 1) if self.fortran else self._rows_per_block()
        for start in range(0, n, step):
            rows = min(step, n - start)
            try:
                data = self.stream.read(rows * row_bytes)
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
                data, self.block_error = b"", f"'{self.name}' is damaged ({err})"
            if len(data) != rows * row_bytes:
                self.block_error = self.block_error or f"'{self.name}' is truncated"
                yield start, None
                return
            order: Literal["C", "F"] = "F" if self.fortran else "C"
            yield (
                start,
                np.frombuffer(data, self.dtype).reshape((rows, *self.shape[1:]), order=order),
            )


@contextmanager
def _open_file(path: Path) -> Iterator[_Source]:
    """The images of an ``.npz`` (its ``images`` or only array) or ``.npy`` file."""
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        msg = f"dataset file '{path}' {what}; check the path"
        raise StoreNotFoundError(msg)
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # not a zip: an .npy file (or garbage, reported)
            fh.seek(0)
            yield _NpySource(fh, str(path), "file: neither .npz nor .npy")
            return
        try:
            zf = zipfile.ZipFile(fh)
        except zipfile.BadZipFile as err:
            yield _Source(error=f"'{path}' is not a readable .npz file ({err})")
            return
        with zf:
            members = {n.removesuffix(".npy"): n for n in zf.namelist()}
            if "images" not in members and len(members) != 1:
                found = ", ".join(sorted(members)) or "none"
                yield _Source(error=f"'{path}' has no 'images' array (arrays: {found})")
                return
            name = "images" if "images" in members else next(iter(members))
            with zf.open(members[name]) as stream:
                yield _NpySource(stream, f"{path}:{name}")
