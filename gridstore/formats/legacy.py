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
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gridstore._version import __version__
from gridstore.arguments import is_integer
from gridstore.errors import ConfigError, GridstoreError, StoreNotFoundError
from gridstore.formats.npz import Member, write_npz
from gridstore.generate.vocab import Annotations
from gridstore.plan import DEFAULT_FRACTIONS, SPLITS, estimate_memory, parse_fractions
from gridstore.storage import is_url
from gridstore.storage.fsio import atomic_write_bytes, fsync_dir

if TYPE_CHECKING:
    from tqdm import tqdm

    from gridstore.read.arrays import LazyArray

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
    if unknown := sorted(set(split_sizes) - set(SPLITS)):
        msg = f"unknown split {unknown[0]!r} in split_sizes; expected train, val and test"
        raise ConfigError(msg)
    counts = {s: _count(s, split_sizes.get(s, 0)) for s in SPLITS}
    total = sum(counts.values())
    fractions = parse_fractions(splits if isinstance(splits, str) else tuple(splits))
    if clash := sorted(set(extra or {}) & set(SEED_KEYS)):
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


# -- one npz file --------------------------------------------------------------


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


# -- export of a version ---------------------------------------------------------


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
    version, gridstore_version, ...}, then the rest of the version's metadata.

    The arrays are streamed chunk by chunk, so memory stays at about one chunk
    of one array whatever the version's size (``np.load`` of a file then needs
    the whole array). The export is written to a temp directory beside
    ``out_dir`` and renamed into place, so a crash never leaves a half export.

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
    from tqdm import tqdm

    from gridstore.read import open_store

    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    store_path = store_path if is_url(str(store_path)) else Path(store_path).absolute()
    reader = open_store(store_path).version(version)
    splits = {s: reader[s] for s in reader.splits}
    grid = int(reader.metadata.get("generation_params", {}).get("grid_size", 16))
    tmp = out.parent / f".{out.name}.export-{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    bar = tqdm(
        total=sum(map(len, splits.values())),
        unit="img",
        unit_scale=True,
        desc=f"export {reader.name}",
        file=sys.stderr,
        disable=not show_progress,
    )
    try:
        files = {}
        for s in SPLITS:
            split = splits.get(s)
            if split is None:  # a version without this split still gets its (empty) file
                members: list[Member] = [("images", (0, grid, grid), np.dtype(np.uint8), [])]
            else:
                arrays = [split.annotation(f) for f in split.fields]
                members = [(a.name, a.shape, a.dtype, _blocks(a, bar)) for a in arrays]
            path = tmp / f"{s}.npz"
            write_npz(path, members)
            files[path.name] = {
                "images": 0 if split is None else len(split),
                "arrays": [m[0] for m in members],
                "bytes": path.stat().st_size,
            }
        save_metadata(_export_metadata(reader.metadata, reader.name, store_path, files), tmp)
        _check_out_dir(out, overwrite)  # again: it may have changed while we wrote
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return out


def _blocks(arr: LazyArray, bar: tqdm[Any]) -> Iterator[np.ndarray]:
    """Rows of the lazy array ``arr`` one chunk at a time; images count on ``bar``."""
    step = max(1, arr.chunk_images)
    for lo in range(0, len(arr), step):
        block = arr[lo : lo + step]
        yield block
        if arr.name == "images":
            bar.update(len(block))


def _export_metadata(
    meta: dict[str, Any], name: str, store_path: Path, files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The seed's fields from the version's metadata, then ``source``, then the rest."""
    counts = {f"{Path(f).stem}_count": info["images"] for f, info in files.items()}
    total = sum(counts.values())
    params = dict(meta.get("generation_params", {}))
    seed_part = {
        "version": meta.get("version", name),
        "timestamp": meta.get("timestamp"),
        "generation_params": params,
        "dataset_info": counts | {"total_count": total},
        "memory_info": meta.get("memory_info")
        or estimate_memory(total, int(params.get("grid_size", 16))),
        "file_format": {
            "dtype": "uint8",
            "compression": NPZ_COMPRESSION,
            "format": "npz",
            "files": files,
        },
    }
    source = {
        "store": str(store_path),
        "version": name,
        "gridstore_version": meta.get("gridstore_version"),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "exported_by": f"gridstore {__version__}",
        "file_format": meta.get("file_format"),
        "storage": meta.get("storage"),
    }
    rest = {k: v for k, v in meta.items() if k not in (*SEED_KEYS, "state", "storage", "source")}
    return seed_part | {"source": source} | rest


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """Raise GridstoreError unless ``out`` is missing, empty, or (``overwrite``) an export."""
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
