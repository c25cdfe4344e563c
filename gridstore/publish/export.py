"""Publish a version: parquet in the Hub's layout with its card and Croissant, or WebDataset shards.

``gridstore export --format parquet`` writes::

    OUT/README.md          the dataset card (gridstore.publish.card)
    OUT/croissant.json     Croissant 1.1 (gridstore.publish.croissant)
    OUT/preview.png        100 samples of the first split with images
    OUT/data/<split>-00000-of-000NN.parquet

and ``--format webdataset`` writes ``OUT/data/<split>-00000-of-000NN.tar.gz``
(`gridstore.publish.webdataset`). Rows stream chunk by chunk; the directory is
built beside ``OUT`` and renamed in, so a crash never leaves half an export.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridstore.errors import ConfigError, GridstoreError
from gridstore.formats.export import _move_into_place, check_out_dir
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.storage import is_url
from gridstore.storage.fsio import atomic_write_bytes, fsync_dir

__all__ = ["FORMATS", "publish_version", "write_card"]

FORMATS = ("parquet", "webdataset")
#: Default rows per shard: about 90 MB of parquet (45 B per image), 11 MB of .tar.gz (110 B).
SHARD_IMAGES = {"parquet": 2_000_000, "webdataset": 100_000}
_TOP_FILES = {"README.md", "croissant.json", "preview.png", "data"}


def _open(
    store_path: str | os.PathLike[str], version: str | None, where: Sequence[Mapping[str, Any]]
) -> tuple[Any, dict[str, Any], str]:
    """The version's reader, its views by split (``where`` applied) and the store's path."""
    from gridstore.publish.schema import check_fields
    from gridstore.read import open_store
    from gridstore.read.view import select

    store = str(store_path) if is_url(str(store_path)) else str(Path(store_path).absolute())
    reader = open_store(store).version(version)
    views = {}
    for s in ALL_SPLITS:
        if s in reader.splits:
            split = reader[s]
            check_fields(split.fields, f"split '{s}' of version '{reader.name}'")
            views[s] = select(split, where)
    return reader, views, store


def _preview(views: Mapping[str, Any], meta: Mapping[str, Any], path: Path) -> bool:
    """Draw 100 samples (seed 0, as ``gridstore preview``) of the first split with images."""
    import numpy as np

    from gridstore.viz import render_preview

    name = next((s for s, v in views.items() if len(v)), None)
    if name is None:
        return False
    view = views[name]
    picks = np.sort(
        np.random.default_rng(0).choice(len(view), size=min(100, len(view)), replace=False)
    )
    render_preview(
        view.images[picks],
        view.indices[picks],
        path,
        title=f"{meta['version']} ({name})",
        subtitle=f"preset {meta['generation_params']['preset']}, seed "
        f"{meta['generation_params']['seed']}, {len(view):,} images, samples drawn with seed 0",
    )
    return True


def write_card(
    store_path: str | os.PathLike[str],
    version: str | None,
    output: str | os.PathLike[str],
    *,
    license: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a version's dataset card, and its preview picture beside it.

    Parameters
    ----------
    store_path : path or s3:// URL
        The store.
    version : str or None
        A version name; None is the latest complete version.
    output : path
        The card (``README.md``); ``preview.png`` goes into the same directory.
    license : str, optional
        A Hub licence id; default a placeholder for the author to fill in.
    overwrite : bool
        Replace ``output`` and ``preview.png`` if they exist.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    GridstoreError
        ``output`` or the preview exists (and not ``overwrite``), or is a
        directory; the store or version does not exist.
    """
    from gridstore.publish.card import card_text

    out = Path(output)
    for path in (out, out.parent / "preview.png"):
        if path.is_dir() or (path.exists() and not overwrite):
            what = "is a directory" if path.is_dir() else "exists"
            msg = f"'{path}' {what}; choose another --output" + (
                "" if path.is_dir() else ", or pass --overwrite"
            )
            raise GridstoreError(msg)
    reader, views, _ = _open(store_path, version, ())
    has_preview = _preview(views, reader.metadata, out.parent / "preview.png")
    rows = {s: len(v) for s, v in views.items()}
    text = card_text(
        reader.metadata, rows, license=license, preview="preview.png" if has_preview else None
    )
    atomic_write_bytes(out, text.encode())
    return out


def publish_version(
    store_path: str | os.PathLike[str],
    version: str | None,
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "parquet",
    overwrite: bool = False,
    show_progress: bool = False,
    where: Sequence[Mapping[str, Any]] = (),
    shard_images: int | None = None,
    license: str | None = None,
) -> Path:
    """Export a version for other libraries: parquet (Hub layout, card, Croissant) or WebDataset.

    Parameters
    ----------
    store_path : path or s3:// URL
        The store.
    version : str or None
        A version name; None is the latest complete version.
    out_dir : path
        The directory to create (local).
    fmt : {"parquet", "webdataset"}
        What to write (see the module's docstring).
    overwrite : bool
        Replace ``out_dir`` if it is a previous export of this kind; any other
        non-empty directory is never replaced.
    show_progress : bool
        A tqdm bar on stderr.
    where : sequence of mapping
        Export only the rows that pass these ``where`` conditions (one mapping per call).
    shard_images : int, optional
        Most rows per shard; default `SHARD_IMAGES` of the format.
    license : str, optional
        A Hub licence id for the card and Croissant; default a placeholder.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ConfigError
        An unknown format, a bad ``shard_images`` or ``where``, no row to
        export, or pyarrow missing.
    GridstoreError
        ``out_dir`` exists and is not replaceable; the store, version or a chunk is bad.
    """
    from tqdm import tqdm

    from gridstore.publish import webdataset
    from gridstore.publish.parquet import write_split
    from gridstore.publish.rows import chunks

    if fmt not in FORMATS:
        msg = f"unknown export format '{fmt}'; choose one of npz, {', '.join(FORMATS)}"
        raise ConfigError(msg)
    shard_images = SHARD_IMAGES[fmt] if shard_images is None else shard_images
    if not isinstance(shard_images, int) or shard_images < 1:
        msg = f"shard_images must be a positive integer, got {shard_images!r}"
        raise ConfigError(msg)
    out = Path(out_dir)
    check_out_dir(out, overwrite, _strays)
    reader, views, _ = _open(store_path, version, where)
    rows = {s: len(v) for s, v in views.items()}
    if not any(rows.values()):
        msg = (
            f"no image of version '{reader.name}' matches the --where conditions; nothing to export"
        )
        raise ConfigError(msg)
    grid = int(reader.metadata["generation_params"]["grid_size"])
    tmp = out.parent / f".{out.name}.publish-{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    bar = tqdm(total=sum(rows.values()), unit="img", unit_scale=True, file=sys.stderr,
               desc=f"export {reader.name}", disable=not show_progress)  # fmt: skip
    try:
        files: dict[str, list[Path]] = {}
        for s, view in views.items():
            if rows[s]:  # a split without rows gets no files (the card lists the others)
                write = write_split if fmt == "parquet" else webdataset.write_split
                files[s] = write(tmp / "data", s, rows[s], chunks(view), grid=grid,
                                 shard_images=shard_images, on_rows=bar.update)  # fmt: skip
        if fmt == "parquet":
            texts = [c.text for c in next(iter(views.values())).conditions]
            _describe(tmp, reader.metadata, views, rows, files, texts, license)
        for paths in files.values():
            for path in paths:
                _fsync(path)
        fsync_dir(tmp / "data")
        check_out_dir(out, overwrite, _strays)  # again: it may have changed while we wrote
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return out


def _describe(
    tmp: Path,
    meta: Mapping[str, Any],
    views: Mapping[str, Any],
    rows: Mapping[str, int],
    files: Mapping[str, list[Path]],
    where: list[str],
    license: str | None,
) -> None:
    """Write the card, the preview and croissant.json of the parquet files in ``tmp``."""
    from gridstore.publish.card import LICENSE_PLACEHOLDER, card_text
    from gridstore.publish.croissant import croissant

    has_preview = _preview(views, meta, tmp / "preview.png")
    sizes = {s: sum(p.stat().st_size for p in paths) for s, paths in files.items()}
    card = card_text(meta, rows, split_bytes=sizes, where=where, license=license,
                     preview="preview.png" if has_preview else None)  # fmt: skip
    atomic_write_bytes(tmp / "README.md", card.encode())
    names = [str(p.relative_to(tmp)) for s in ALL_SPLITS for p in files.get(s, [])]
    about = card.split("\n# ", 1)[1].split("\n\n", 2)[1]  # the card's first paragraph
    doc = croissant(
        meta, tmp, names, license=license or LICENSE_PLACEHOLDER, description_text=about
    )
    atomic_write_bytes(tmp / "croissant.json", (json.dumps(doc, indent=2) + "\n").encode())


def _strays(out: Path) -> list[str]:
    """What in ``out`` is not of a publish export (see `check_out_dir`)."""
    data = out / "data"
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _TOP_FILES)
    if data.is_dir():
        foreign += sorted(
            f"data/{p.name}" for p in data.iterdir() if not p.name.endswith((".parquet", ".tar.gz"))
        )
    return [f"'{f}'" for f in foreign] or ([] if data.is_dir() else ["no data/"])


def _fsync(path: Path) -> None:
    """Flush a written file to disk (it is renamed into place only once durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
