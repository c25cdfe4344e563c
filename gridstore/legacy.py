"""The seed's npz layout, for older tooling: one ``.npz`` per split and ``metadata.json``.

A legacy dataset directory holds ``train.npz``, ``val.npz`` and ``test.npz``
(each an ``images`` array, (n, G, G) uint8 with colours 0..9, plus the
annotation arrays under their field names) and ``metadata.json`` with the
seed's fields first: ``version``, ``timestamp``, ``generation_params``,
``dataset_info``, ``memory_info``, ``file_format``.

:func:`save_corpus` / :func:`load_corpus` read and write one such file from
in-memory arrays; :func:`export_version` writes a whole directory from a
version of a store, streaming it chunk by chunk.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from gridstore._fsio import atomic_write_bytes, fsync_dir
from gridstore._version import __version__
from gridstore.errors import (
    ConfigError,
    CorruptChunkError,
    GridstoreError,
    InsufficientSpaceError,
    StoreNotFoundError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.generate.batch import Annotations
from gridstore.plan import DEFAULT_FRACTIONS, SPLITS, estimate_memory, parse_fractions

__all__ = [
    "NPZ_COMPRESSION",
    "SEED_KEYS",
    "create_metadata",
    "export_version",
    "load_corpus",
    "save_corpus",
    "save_metadata",
]

SEED_KEYS = (
    "version",
    "timestamp",
    "generation_params",
    "dataset_info",
    "memory_info",
    "file_format",
)
NPZ_COMPRESSION = "npz (zlib)"  # np.savez_compressed: a zip of .npy members, deflated
METADATA_FILE = "metadata.json"
_EXPORT_FILES = {f"{s}.npz" for s in SPLITS} | {METADATA_FILE}


# -- metadata.json -------------------------------------------------------------


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
    unknown = sorted(set(split_sizes) - set(SPLITS))
    if unknown:
        msg = f"unknown split {unknown[0]!r} in split_sizes; expected train, val and test"
        raise ConfigError(msg)
    counts = {s: _count(s, split_sizes.get(s, 0)) for s in SPLITS}
    total = sum(counts.values())
    fractions = parse_fractions(splits if isinstance(splits, str) else tuple(splits))
    clash = sorted(set(extra or {}) & set(SEED_KEYS))
    if clash:
        msg = f"extra key {clash[0]!r} would replace a seed field; pass it as an argument instead"
        raise ConfigError(msg)
    meta: dict[str, Any] = {
        "version": str(version),
        "timestamp": timestamp or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "generation_params": {
            "num_images": total,
            "seed": int(seed),
            "grid_size": int(grid_size),
            "splits": dict(zip(SPLITS, fractions, strict=True)),
        },
        "dataset_info": {f"{s}_count": counts[s] for s in SPLITS} | {"total_count": total},
        "memory_info": estimate_memory(total, int(grid_size), dtype),
        "file_format": {"dtype": np.dtype(dtype).name, "compression": compression},
    }
    return meta | dict(extra or {})


def _count(split: str, value: int | np.ndarray) -> int:
    n = len(value) if hasattr(value, "__len__") else value
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        msg = f"size of split {split!r} must be an integer >= 0 or an array, got {value!r}"
        raise ConfigError(msg)
    return int(n)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
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


# -- one npz file --------------------------------------------------------------


def _npz_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def _write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(fh)`` into a temp file beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
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
    path = _npz_path(path)
    where = f"cannot save '{path}'"
    images = np.asarray(images)
    if images.dtype != np.uint8 and images.dtype.kind in "uif":
        bad = (images < 0) | (images > 9) | (images != np.round(images))  # NaN is bad too
        if bad.any():
            msg = (
                f"{where}: pixel values must be whole numbers 0..9, found {images[bad][0].item()!r}"
            )
            raise ConfigError(msg)
        images = images.astype(np.uint8)
    _check_images(images, where)
    arrays = {"images": images}
    if annotations is not None:
        if len(annotations) != len(images):
            msg = f"{where}: annotations have {len(annotations)} rows but images {len(images)}"
            raise ConfigError(msg)
        arrays |= annotations.as_dict()

    def write(fh: IO[bytes]) -> None:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    _write_atomic(path, write)
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
    if "images" in arrays:
        images = arrays.pop("images")
    elif len(arrays) == 1:
        images = arrays.pop(next(iter(arrays)))
    else:
        found = ", ".join(sorted(arrays)) or "none"
        msg = f"corpus file '{path}' has no 'images' array (arrays: {found})"
        raise ConfigError(msg)
    _check_images(images, f"corpus file '{path}'")
    return images, _annotations(arrays, images, path)


def _annotations(
    arrays: dict[str, np.ndarray], images: np.ndarray, path: Path
) -> Annotations | None:
    names = Annotations.names()
    present = [k for k in names if k in arrays]
    if not present:
        return None
    missing = [k for k in names if k not in arrays]
    if missing:
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
    k_obj = arrays["object_type"].shape[1:]
    if any(
        arrays[k].shape[1:2] != k_obj
        for k in ("object_subtype", "object_colour", "object_size", "object_bbox")
    ):
        msg = f"corpus file '{path}': annotation arrays disagree on the number of object slots"
        raise ConfigError(msg)
    return Annotations(**{k: arrays[k] for k in names})


# -- export of a version ---------------------------------------------------------


_Member = tuple[str, tuple[int, ...], np.dtype[Any], Iterable[np.ndarray]]


def _write_npz_stream(
    fh: IO[bytes], members: Iterable[_Member], on_rows: Callable[[str, int], None]
) -> None:
    """Write an npz (as np.savez_compressed would) whose members arrive in row blocks.

    Each member is ``(name, shape, dtype, blocks)``; the blocks' rows must add
    up to ``shape[0]``. Only one block is in memory at a time.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, shape, dtype, blocks in members:
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": shape,
            }
            rows = 0
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, header)
                for block in blocks:
                    block = np.ascontiguousarray(block, dtype=dtype)
                    if block.shape[1:] != shape[1:]:
                        msg = (
                            f"array '{name}' block has shape {block.shape}, "
                            f"expected rows of {shape[1:]}"
                        )
                        raise CorruptChunkError(msg)
                    member.write(block.reshape(-1).view(np.uint8).data)
                    rows += len(block)
                    on_rows(name, len(block))
            if rows != shape[0]:
                msg = f"array '{name}' gave {rows} rows, expected {shape[0]}"
                raise CorruptChunkError(msg)


class _SplitSource(Protocol):
    """One split of a version, read array by array in row blocks."""

    def __len__(self) -> int: ...
    def fields(self) -> list[str]: ...
    def layout(self, field: str) -> tuple[tuple[int, ...], np.dtype[Any]]: ...
    def blocks(self, field: str) -> Iterator[np.ndarray]: ...


class _Source:
    """One complete version, read through gridstore.read (or zarr via gridstore.store)."""

    def __init__(self, store_path: str | os.PathLike[str], version: str | None) -> None:
        self.store_path = os.fspath(Path(store_path).absolute())
        try:
            from gridstore.read import open_store
        except ImportError:  # the lazy reader is optional here: fall back to plain zarr
            self._init_zarr(version)
        else:
            reader = open_store(self.store_path).version(version)
            self.name, self.metadata = reader.name, reader.metadata
            self.splits: dict[str, _SplitSource] = {
                s: _ReaderSplit(reader[s]) for s in reader.splits
            }
        if self.metadata.get("state", "complete") != "complete":
            msg = (
                f"version '{self.name}' of store '{self.store_path}' is not complete; "
                "resume or remove it"
            )
            raise VersionIncompleteError(msg)

    def _init_zarr(self, version: str | None) -> None:
        from gridstore.store import Store

        store = Store.open(self.store_path)
        if version is None:
            names = store.versions()
            if not names:
                msg = (
                    f"store '{self.store_path}' has no complete version; "
                    "create one with 'gridstore generate'"
                )
                raise VersionNotFoundError(msg)
            version = names[-1]
        self.name, self.metadata = version, store.metadata(version)
        counts = self.metadata.get("dataset_info", {})
        chunk_rows = self.metadata.get("file_format", {}).get("chunk_images", {})
        self.splits = {
            s: _ZarrSplit(
                store, version, s, int(counts.get(f"{s}_count", 0)), int(chunk_rows.get(s, 16000))
            )
            for s in SPLITS
        }


class _ReaderSplit:
    def __init__(self, split: Any) -> None:
        self._split = split

    def __len__(self) -> int:
        return len(self._split)

    def fields(self) -> list[str]:
        return list(self._split.fields)

    def layout(self, field: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        arr = self._split.annotation(field)
        return tuple(arr.shape), np.dtype(arr.dtype)

    def blocks(self, field: str) -> Iterator[np.ndarray]:
        arr = self._split.annotation(field)
        n, step = len(arr), max(1, arr.chunk_images)
        for lo in range(0, n, step):
            yield arr[lo : min(lo + step, n)]


class _ZarrSplit:
    def __init__(self, store: Any, version: str, split: str, n: int, chunk_rows: int) -> None:
        self._store, self._version, self._split = store, version, split
        self._n, self._step = n, max(1, chunk_rows)

    def __len__(self) -> int:
        return self._n

    def fields(self) -> list[str]:
        return ["images", *Annotations.names()]

    def layout(self, field: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        first = self._store.read_rows(self._version, self._split, field, 0, 0)
        return (self._n, *first.shape[1:]), np.dtype(first.dtype)

    def blocks(self, field: str) -> Iterator[np.ndarray]:
        for lo in range(0, self._n, self._step):
            try:
                yield self._store.read_rows(
                    self._version, self._split, field, lo, min(lo + self._step, self._n)
                )
            except (ValueError, RuntimeError) as err:
                msg = (
                    f"rows {lo}.. of '{self._version}/{self._split}/{field}' in store "
                    f"'{self._store.path}' could not be read ({type(err).__name__}); "
                    "run 'gridstore validate --full'"
                )
                raise CorruptChunkError(msg) from err


def _export_metadata(source: _Source, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The seed's fields, from the version's metadata, then ``source``, then the rest."""
    meta = dict(source.metadata)
    counts = {s: len(source.splits[s]) if s in source.splits else 0 for s in SPLITS}
    params = dict(meta.get("generation_params", {}))
    grid = int(params.get("grid_size", 16))
    seed_part = {
        "version": meta.get("version", source.name),
        "timestamp": meta.get("timestamp"),
        "generation_params": params,
        "dataset_info": {f"{s}_count": counts[s] for s in SPLITS}
        | {"total_count": sum(counts.values())},
        "memory_info": meta.get("memory_info") or estimate_memory(sum(counts.values()), grid),
        "file_format": {
            "dtype": "uint8",
            "compression": NPZ_COMPRESSION,
            "format": "npz",
            "files": files,
        },
    }
    src = {
        "store": source.store_path,
        "version": source.name,
        "gridstore_version": meta.get("gridstore_version"),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "exported_by": f"gridstore {__version__}",
        "file_format": meta.get("file_format"),
        "storage": meta.get("storage"),
    }
    rest = {k: v for k, v in meta.items() if k not in (*SEED_KEYS, "state", "storage", "source")}
    return seed_part | {"source": src} | rest


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        msg = f"export directory '{out}' is a file; choose a directory"
        raise GridstoreError(msg)
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        msg = (
            f"export directory '{out}' is not empty; "
            "choose another, or pass overwrite=True (--overwrite) to replace it"
        )
        raise GridstoreError(msg)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _EXPORT_FILES)
    if foreign or not (out / METADATA_FILE).is_file():
        what = f"'{foreign[0]}'" if foreign else f"no {METADATA_FILE}"
        msg = (
            f"export directory '{out}' is not a gridstore export ({what}); "
            "not replacing it, choose another directory"
        )
        raise GridstoreError(msg)


def export_version(
    store_path: str | os.PathLike[str],
    version: str | None,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    show_progress: bool = False,
) -> Path:
    """Export a version of a store to the seed's npz layout.

    Writes ``out_dir/train.npz``, ``val.npz`` and ``test.npz`` (``images`` and
    every annotation array of the split, the same bytes as in the store) and
    ``metadata.json``: the seed's fields filled from the version's metadata
    (``file_format`` describes the npz files), then ``source`` {store,
    version, gridstore_version, ...}, then the rest of the version's metadata
    (statistics, duplicates, rng, generation).

    Memory: the arrays are streamed chunk by chunk into the npz files (each
    member is written as np.savez_compressed writes it), so memory stays at
    about one chunk of one array (16000 images, 4 MiB, by default), whatever
    the version's size. Reading the files back with ``np.load`` then needs
    the whole array: ``memory_info`` in metadata.json gives the images' size
    (the annotations take about as much again).

    The export is written to a temp directory beside ``out_dir`` and renamed
    into place, so a crash never leaves a half export under ``out_dir``.

    Parameters
    ----------
    store_path : path
        The store.
    version : str or None
        A version name; None exports the latest complete version.
    out_dir : path
        The directory to create.
    overwrite : bool
        Replace ``out_dir`` if it is a previous export. A non-empty directory
        that is not one (other files in it) is never replaced.
    show_progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    GridstoreError
        ``out_dir`` is a file or non-empty (and not ``overwrite``, or not an
        export); the store or version does not exist or is incomplete
        (``StoreNotFoundError``, ``VersionNotFoundError``,
        ``VersionIncompleteError``); a chunk is corrupt
        (``CorruptChunkError``); the disk is full (``InsufficientSpaceError``).

    Examples
    --------
    >>> export_version("datasets", None, "exports/latest")  # doctest: +SKIP
    PosixPath('exports/latest')
    """
    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    source = _Source(store_path, version)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}.tmp"
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    from tqdm import tqdm

    total = sum(len(split) for split in source.splits.values())
    grid = int(source.metadata.get("generation_params", {}).get("grid_size", 16))
    try:
        tmp.mkdir()
        files: dict[str, dict[str, Any]] = {}
        with tqdm(total=total, unit="img", unit_scale=True, desc=f"export {source.name}",
                  file=sys.stderr, disable=not show_progress) as bar:  # fmt: skip

            def on_rows(field: str, rows: int) -> None:
                if field == "images":
                    bar.update(rows)

            for s in SPLITS:
                # A version without this split still gets its (empty) file.
                split = source.splits[s] if s in source.splits else _EmptySplit(grid)
                fields = split.fields()
                members = [(f, *split.layout(f), split.blocks(f)) for f in fields]
                path = tmp / f"{s}.npz"
                _write_atomic(path, partial(_write_npz_stream, members=members, on_rows=on_rows))
                files[path.name] = {
                    "images": len(split),
                    "arrays": fields,
                    "bytes": path.stat().st_size,
                }
        save_metadata(_export_metadata(source, files), tmp)
        _check_out_dir(out, overwrite)  # again: it may have changed while we wrote
        _move_into_place(tmp, out)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            msg = f"no space left to export to '{out}'; free disk space and try again"
            raise InsufficientSpaceError(msg) from err
        raise
    return out


class _EmptySplit:
    def __init__(self, grid_size: int) -> None:
        self._g = grid_size

    def __len__(self) -> int:
        return 0

    def fields(self) -> list[str]:
        return ["images"]

    def layout(self, field: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return (0, self._g, self._g), np.dtype(np.uint8)

    def blocks(self, field: str) -> Iterator[np.ndarray]:
        return iter(())


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; a previous export there is moved aside, then removed."""
    old = None
    if out.is_dir() and any(out.iterdir()):
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.replace(tmp, out)  # onto a missing or empty directory
    fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
