"""Export a version of a store to the seed's layout: ``{train,val,test}.npz`` and ``metadata.json``.

The version is streamed chunk by chunk into each file, so memory stays bounded;
the directory is written beside its place and renamed in, so a crash or a full
disk never leaves a half export.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gridstore._version import __version__
from gridstore.errors import GridstoreError
from gridstore.formats.metadata_json import METADATA_FILE, NPZ_COMPRESSION, save_metadata
from gridstore.formats.npz import Member, write_npz
from gridstore.holdout.spec import ALL_SPLITS, HELDOUT
from gridstore.metadata import SEED_KEYS, now, seed_fields
from gridstore.plan import SPLITS
from gridstore.storage import is_url
from gridstore.storage.fsio import fsync_dir

if TYPE_CHECKING:
    from tqdm import tqdm

    from gridstore.read.arrays import LazyArray, ViewArray

__all__ = ["check_out_dir", "export_version"]

_EXPORT_FILES = {f"{s}.npz" for s in ALL_SPLITS} | {METADATA_FILE}


def export_version(
    store_path: str | os.PathLike[str],
    version: str | None,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    show_progress: bool = False,
    where: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Export a version of a store to the seed's npz layout.

    Writes ``out_dir/train.npz``, ``val.npz``, ``test.npz`` (and a hold-out
    version's ``heldout.npz``) (``images`` and every annotation array of the
    split, the same bytes as in the store; a paired version's twins and
    records as ``pair/images``, ..., ``intervention/kind``, ...) and
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
    where : sequence of mapping
        Export only the rows of each split that pass these conditions: one
        mapping per ``where`` call (see `gridstore.read.view.View.where`), e.g.
        ``[{"num_objects": 1}]``. ``metadata.json`` records them under
        ``source.where`` and counts the exported rows.

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
        (``CorruptChunkError``); the disk is full (``InsufficientSpaceError``);
        a bad ``where`` condition (``ConfigError``).

    Examples
    --------
    >>> import tempfile
    >>> from gridstore import Plan, create_version
    >>> store = tempfile.mkdtemp() + "/datasets"
    >>> _ = create_version(store, Plan(num_images=2000), engine="serial", show_progress=False)
    >>> out = export_version(store, None, tempfile.mkdtemp() + "/latest")
    >>> sorted(p.name for p in out.iterdir())
    ['metadata.json', 'test.npz', 'train.npz', 'val.npz']
    """
    from tqdm import tqdm

    from gridstore.read import open_store
    from gridstore.read.view import select

    out = Path(out_dir)
    check_out_dir(out, overwrite, _npz_strays)
    store = str(store_path) if is_url(str(store_path)) else Path(store_path).absolute()
    reader = open_store(store).version(version)
    splits: dict[str, Any] = {s: reader[s] for s in reader.splits}
    pairs = {s: split.pair_fields for s, split in splits.items()}  # a paired version's arrays
    if where:  # the views' rows; without conditions the splits' (contiguous reads)
        splits = {s: select(split, where) for s, split in splits.items()}
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
        for s in (*SPLITS, *([HELDOUT] if HELDOUT in splits else [])):
            split = splits.get(s)
            if split is None:  # a version without this split still gets its (empty) file
                members: list[Member] = [("images", (0, grid, grid), np.dtype(np.uint8), [])]
            else:
                arrays = [split.annotation(f) for f in [*split.fields, *pairs[s]]]
                members = [(a.name, a.shape, a.dtype, _blocks(a, bar)) for a in arrays]
            path = tmp / f"{s}.npz"
            write_npz(path, members)
            files[path.name] = {
                "images": 0 if split is None else len(split),
                "arrays": [m[0] for m in members],
                "bytes": path.stat().st_size,
            }
        selected = [c.text for c in next(iter(splits.values())).conditions] if where else []
        meta = _export_metadata(reader.metadata, reader.name, store, files, selected)
        save_metadata(meta, tmp)
        check_out_dir(out, overwrite, _npz_strays)  # again: it may have changed while we wrote
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return out


def _blocks(arr: LazyArray | ViewArray, bar: tqdm[Any]) -> Iterator[np.ndarray]:
    """Rows of the lazy array ``arr`` one chunk at a time; images count on ``bar``."""
    step = max(1, arr.chunk_images)
    for lo in range(0, len(arr), step):
        block = arr[lo : lo + step]
        yield block
        if arr.name == "images":
            bar.update(len(block))


def _export_metadata(
    meta: dict[str, Any],
    name: str,
    store_path: str | Path,
    files: dict[str, dict[str, Any]],
    where: list[str],
) -> dict[str, Any]:
    """The seed's fields from the version's metadata, then ``source``, then the rest."""
    counts = {Path(f).stem: info["images"] for f, info in files.items()}
    file_format = {
        "dtype": "uint8",
        "compression": NPZ_COMPRESSION,
        "format": "npz",
        "files": files,
    }
    params = meta.get("generation_params", {})
    seed_part = seed_fields(
        meta.get("version", name),
        params,
        counts,
        file_format,
        timestamp=meta.get("timestamp"),
        memory_info=meta.get("memory_info"),
    )
    source = {
        "store": str(store_path),
        "version": name,
        "gridstore_version": meta.get("gridstore_version"),
        "exported_at": now(),
        "exported_by": f"gridstore {__version__}",
        "file_format": meta.get("file_format"),
        "storage": meta.get("storage"),
        **({"where": where} if where else {}),
    }
    rest = {k: v for k, v in meta.items() if k not in (*SEED_KEYS, "state", "storage", "source")}
    return seed_part | {"source": source} | rest


def check_out_dir(out: Path, overwrite: bool, strays: Callable[[Path], list[str]]) -> None:
    """Raise GridstoreError unless ``out`` is missing, empty, or (``overwrite``) an export.

    ``strays(out)`` names what in a non-empty ``out`` shows it is not such an
    export (a foreign file, quoted, or what is missing), most telling first.
    """
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
    found = strays(out)
    if found:
        msg = (
            f"export directory '{out}' is not a gridstore export ({found[0]}); "
            "not replacing it, choose another directory"
        )
        raise GridstoreError(msg)


def _npz_strays(out: Path) -> list[str]:
    foreign = [
        f"'{p}'" for p in sorted(p.name for p in out.iterdir() if p.name not in _EXPORT_FILES)
    ]
    return foreign or ([] if (out / METADATA_FILE).is_file() else [f"no {METADATA_FILE}"])


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
