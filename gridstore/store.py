"""The on-disk layout: a Zarr v3 store of dataset versions, staged then committed.

Nothing else in gridstore builds paths or Zarr keys. A store ``datasets/``
keeps its bookkeeping beside it in ``.datasets.gridstore/``: the writer lock,
versions being written (``staging/``) and their task records (``work/``).
A version appears in the store by one atomic rename, already complete.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gridstore._fsio import (
    atomic_write_bytes,
    atomic_write_json,
    exclusive_lock,
    fsync_dir,
    is_locked,
    read_json,
)
from gridstore.errors import (
    ConfigError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
    VersionNotFoundError,
)

__all__ = [
    "ARRAY_CODECS",
    "FIELDS",
    "LAYOUT",
    "Store",
    "format_version_name",
    "parse_version_name",
]

LAYOUT = 1
# The arrays of every split, in docs/internals.md order (Annotations' fields after images).
FIELDS = (
    "images",
    "num_objects",
    "object_type",
    "object_subtype",
    "object_colour",
    "object_size",
    "object_bbox",
    "instance_map",
)
_VERSION_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-v([1-9]\d{0,5})$")
# Chosen with benchmarks/bench_codecs.py: for images the cheapest setting
# smaller than the seed's npz (zstd 4: 0.98x its bytes at ~1 us/image; zstd 5
# gains 1.5% for 30% more time); the instance map, read less, gets lz4.
ARRAY_CODECS: dict[str, dict[str, Any]] = {
    "images": {"cname": "zstd", "clevel": 4, "shuffle": "bitshuffle", "blocksize": 1 << 20},
    "instance_map": {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle", "blocksize": 0},
    "*": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "blocksize": 0},
}


def parse_version_name(name: str) -> tuple[dt.date, int]:
    """Split ``YYYY-MM-DD-vN`` into its date and N.

    Raises
    ------
    ConfigError
        The name does not have that form.
    """
    m = _VERSION_RE.match(name)
    try:
        if m is None:
            raise ValueError
        return dt.date(int(m[1]), int(m[2]), int(m[3])), int(m[4])
    except ValueError:
        msg = f"version name must look like YYYY-MM-DD-vN (e.g. 2026-11-25-v1), got {name!r}"
        raise ConfigError(msg) from None


def format_version_name(day: dt.date, n: int) -> str:
    """Build ``YYYY-MM-DD-vN``."""
    return f"{day.isoformat()}-v{n}"


@dataclass(frozen=True)
class StagedVersion:
    """A version being written: its name and whether a live process is writing it."""

    name: str
    writing: bool
    plan: dict[str, Any] | None


def _codecs(name: str, itemsize: int) -> list[Any]:
    from zarr.codecs import BloscCodec, Crc32cCodec

    spec = ARRAY_CODECS.get(name, ARRAY_CODECS["*"])
    return [BloscCodec(typesize=itemsize, **spec), Crc32cCodec()]


class Store:
    """A gridstore store on the local file system.

    Parameters
    ----------
    path : str or PathLike
        The store's directory (a Zarr v3 group).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.sidecar = self.path.parent / f".{self.path.name}.gridstore"

    def __repr__(self) -> str:
        return f"Store('{self.path}')"

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False) -> Store:
        """Open a store, or create it if ``create`` and it does not exist yet.

        Raises
        ------
        StoreNotFoundError
            The path is a file, not a gridstore store, or cannot be created.
        """
        if "://" in os.fspath(path):  # an object-storage URL reaching local-only code
            msg = f"'{os.fspath(path)}' is a URL; this operation works on local stores only"
            raise StoreNotFoundError(msg)
        store = cls(path)
        p = store.path
        if p.exists() and not p.is_dir():
            msg = f"store path '{p}' is a file, not a directory; choose another --store"
            raise StoreNotFoundError(msg)
        if create and not (p / "zarr.json").exists():
            try:
                with store._store_lock():  # two creators must not see each other's half-made root
                    if not p.exists() or holds_only_dot_files(p):  # e.g. a repo's datasets/.gitkeep
                        store._create()
            except OSError as err:
                msg = f"cannot create store '{p}': {err.strerror} ('{err.filename}')"
                raise StoreNotFoundError(msg) from err
        root = p / "zarr.json"
        try:
            attrs = json.loads(root.read_text())["attributes"]["gridstore"]
        except FileNotFoundError:
            if p.exists():
                msg = f"'{p}' is not a gridstore store (no zarr.json) and not empty; use a new or empty directory"
            else:
                msg = (
                    f"store '{p}' does not exist; create one with 'gridstore generate --store {p}'"
                )
            raise StoreNotFoundError(msg) from None
        except (KeyError, TypeError, ValueError):
            msg = (
                f"'{root}' is not a gridstore store's root (unreadable or no gridstore attributes)"
            )
            raise StoreNotFoundError(msg) from None
        if attrs.get("layout") != LAYOUT:
            msg = f"store '{p}' has layout {attrs.get('layout')!r}; this gridstore reads layout {LAYOUT}"
            raise StoreNotFoundError(msg)
        return store

    def _create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        root = {
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {"gridstore": {"layout": LAYOUT}},
        }
        atomic_write_bytes(self.path / "zarr.json", json.dumps(root, indent=2).encode())

    # -- listing ---------------------------------------------------------------

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        names = []
        for child in self.path.iterdir():
            if _VERSION_RE.match(child.name) and (child / "zarr.json").is_file():
                names.append(child.name)
        return sorted(names, key=parse_version_name)

    def metadata(self, name: str) -> dict[str, Any]:
        """A complete version's metadata (its group attributes).

        Raises
        ------
        VersionNotFoundError, VersionIncompleteError
        """
        path = self.path / name / "zarr.json"
        if not path.is_file():
            if (self.staging_dir / name).is_dir():
                msg = f"version '{name}' is unfinished; resume it with 'gridstore generate --resume {name}' or delete it"
                raise VersionIncompleteError(msg)
            available = ", ".join(self.versions()) or "none"
            msg = f"version '{name}' not found in store '{self.path}'; available: {available}"
            raise VersionNotFoundError(msg)
        try:
            return dict(json.loads(path.read_text())["attributes"])
        except (ValueError, KeyError) as err:
            msg = f"metadata file '{path}' is corrupt ({type(err).__name__}); the version cannot be trusted"
            raise StoreNotFoundError(msg) from err

    def staged(self) -> list[StagedVersion]:
        """Versions under way or interrupted, with whether a live process holds them."""
        out = []
        if self.staging_dir.is_dir():
            for child in sorted(self.staging_dir.iterdir()):
                plan_file = self.work_dir(child.name) / "plan.json"
                plan = read_json(plan_file) if plan_file.is_file() else None
                out.append(StagedVersion(child.name, self._is_locked(child.name), plan))
        return out

    # -- writing ---------------------------------------------------------------

    @property
    def staging_dir(self) -> Path:
        """Where versions are written before their commit."""
        return self.sidecar / "staging"

    def work_dir(self, name: str) -> Path:
        """Task records of a version being written."""
        return self.sidecar / "work" / name

    @contextmanager
    def _store_lock(self) -> Iterator[None]:
        with exclusive_lock(self.sidecar / "lock", f"store '{self.path}'", wait=True):
            yield

    def version_lock(self, name: str) -> Any:
        """Lock held while a process writes version ``name``."""
        return exclusive_lock(self.work_dir(name) / "lock", f"version '{name}'")

    def _is_locked(self, name: str) -> bool:
        return is_locked(self.work_dir(name) / "lock")

    def claim_version(self, name: str | None = None, today: dt.date | None = None) -> str:
        """Reserve a version name: ``name``, or the next ``YYYY-MM-DD-vN`` of today.

        Raises
        ------
        VersionExistsError
            ``name`` is already a version (complete or staged).
        """
        try:
            with self._store_lock():
                return self._claim(name, today)
        except OSError as err:
            if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            msg = f"store '{self.path}' is not writable ({err.strerror}: '{err.filename}'); it can only be read"
            raise StoreNotFoundError(msg) from err

    def _claim(self, name: str | None, today: dt.date | None) -> str:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        taken = set(self.versions()) | {s.name for s in self.staging_dir.iterdir()}
        if name is None:
            day = today or dt.date.today()
            used = [parse_version_name(t)[1] for t in taken if t.startswith(day.isoformat() + "-v")]
            name = format_version_name(day, max(used, default=0) + 1)
        else:
            parse_version_name(name)
            if name in taken:
                msg = f"version '{name}' already exists in store '{self.path}'; choose another --version or omit it"
                raise VersionExistsError(msg)
        (self.staging_dir / name).mkdir()
        self.work_dir(name).mkdir(parents=True, exist_ok=True)
        return name

    def create_arrays(
        self, name: str, plan_dict: dict[str, Any], shapes: dict[str, dict[str, tuple]]
    ) -> None:
        """Create the staged version's groups and empty arrays; record its plan.

        ``shapes[split][array] = (shape, chunks, dtype)``.
        """
        _open_array.cache_clear()  # a discarded version of this name may be cached
        _chunk_encoder.cache_clear()
        create_hierarchy(self.staging_dir / name, name, shapes)
        atomic_write_json(self.work_dir(name) / "plan.json", plan_dict)

    def staged_plan(self, name: str) -> dict[str, Any]:
        """The plan recorded for a staged version.

        Raises
        ------
        VersionNotFoundError
            No staged version of that name.
        """
        path = self.work_dir(name) / "plan.json"
        if not (self.staging_dir / name).is_dir():
            staged = ", ".join(s.name for s in self.staged()) or "none"
            msg = f"no unfinished version '{name}' in store '{self.path}' to resume; unfinished: {staged}"
            raise VersionNotFoundError(msg)
        if not path.is_file():  # killed between claiming the name and recording the plan
            msg = f"version '{name}' was interrupted before it started: nothing to resume; remove it with 'gridstore delete {name}'"
            raise VersionIncompleteError(msg)
        return read_json(path)

    def write_chunk(self, name: str, split: str, array: str, chunk: int, data: np.ndarray) -> None:
        """Encode and write chunk ``chunk`` (along images) of a staged array.

        The bytes are exactly what zarr would write (the codecs are read from
        the array's own zarr.json; a test holds the two equal), written to a
        temporary file and renamed, so a killed writer leaves no partial chunk.
        Encoding here instead of through zarr's async write path saves about
        two thirds of a task's write time.
        """
        array_dir = self.staging_dir / name / split / array
        stat = (array_dir / "zarr.json").stat()  # the key notices a re-created array
        encode, ndim = _chunk_encoder(str(array_dir), stat.st_mtime_ns, stat.st_ino)
        path = array_dir.joinpath("c", str(chunk), *["0"] * (ndim - 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, encode(data), durable=False)

    def read_rows(self, name: str, split: str, array: str, start: int, stop: int) -> np.ndarray:
        """Read rows of a complete version's array."""
        return _open_array(str(self.path / name), f"{split}/{array}", mode="r")[start:stop]

    def record_task(
        self, name: str, index: int, result: dict[str, Any], hashes: dict[str, np.ndarray]
    ) -> None:
        """Mark a task done, with its statistics and content hashes."""
        work = self.work_dir(name) / "tasks"
        work.mkdir(exist_ok=True)
        np.savez(work / f".{index}.npz.tmp.npz", **hashes)
        os.replace(work / f".{index}.npz.tmp.npz", work / f"{index}.npz")
        # Written last: it marks the task done. Not fsynced, like the chunks it
        # vouches for: a power cut can lose both, and resume or validate notice.
        atomic_write_json(work / f"{index}.json", result, durable=False)

    def task_results(self, name: str) -> dict[int, dict[str, Any]]:
        """Results of the finished tasks of a staged version, by task index."""
        work = self.work_dir(name) / "tasks"
        if not work.is_dir():
            return {}
        return {int(p.stem): read_json(p) for p in work.glob("*.json")}

    def task_hashes(self, name: str) -> Iterator[dict[str, np.ndarray]]:
        """Content hashes of each finished task (one dict of split -> hashes per task)."""
        for path in sorted((self.work_dir(name) / "tasks").glob("*.npz")):
            with np.load(path) as f:
                yield {k: f[k] for k in f.files}

    def staged_bytes(self, name: str) -> int:
        """Bytes on disk of a staged version."""
        return _tree_bytes(self.staging_dir / name)

    def array_bytes(self, name: str, split: str, array: str) -> int:
        """Bytes on disk of one staged array."""
        return _tree_bytes(self.staging_dir / name / split / array)

    def copy_chunk(self, source: str, name: str, split: str, chunk: int) -> None:
        """Copy chunk ``chunk`` of every array of a split from a complete version into a staged one."""
        for array_dir in sorted((self.path / source / split).iterdir()):
            if not (array_dir / "zarr.json").is_file():
                continue
            src = array_dir / "c" / str(chunk)
            dst = self.staging_dir / name / split / array_dir.name / "c" / str(chunk)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)

    def commit(self, name: str, metadata: dict[str, Any]) -> None:
        """Write the final metadata and move the staged version into the store.

        Raises
        ------
        VersionExistsError
            A version of that name appeared meanwhile (never overwritten).
        """
        staged = self.staging_dir / name
        group_json = staged / "zarr.json"
        doc = json.loads(group_json.read_text())
        doc["attributes"] = {**metadata, "state": "complete"}
        atomic_write_bytes(group_json, json.dumps(doc, indent=2).encode())
        with self._store_lock():
            target = self.path / name
            if target.exists():
                msg = f"version '{name}' already exists in store '{self.path}'; not overwritten"
                raise VersionExistsError(msg)
            os.rename(staged, target)
            fsync_dir(self.path)
        shutil.rmtree(self.work_dir(name), ignore_errors=True)

    def discard(self, name: str) -> None:
        """Remove an unfinished version and its records."""
        if not (self.staging_dir / name).is_dir():
            self.staged_plan(name)  # raises the not-found error
        with self.version_lock(name):
            self._remove(self.staging_dir / name)
        shutil.rmtree(self.work_dir(name), ignore_errors=True)

    def delete(self, name: str) -> None:
        """Delete a complete version (it disappears atomically, then is removed)."""
        self.metadata(name)
        with self._store_lock():
            self._remove(self.path / name)

    def _remove(self, path: Path) -> None:
        trash = self.sidecar / "trash"
        trash.mkdir(parents=True, exist_ok=True)
        doomed = trash / f"{path.name}.{os.getpid()}"
        os.rename(path, doomed)
        fsync_dir(path.parent)
        shutil.rmtree(doomed)

    def chunk_key(self, name: str, split: str, array: str, chunk: int) -> str:
        """The store key of chunk ``chunk`` (along images) of an array."""
        ndim = len(_open_array(str(self.path / name), f"{split}/{array}", mode="r").shape)
        return "/".join([name, split, array, "c", str(chunk), *["0"] * (ndim - 1)])

    def chunk_path(self, key: str) -> Path:
        """Where a chunk key lives on disk."""
        return self.path / key


def create_hierarchy(target: Any, name: str, shapes: dict[str, dict[str, tuple]]) -> None:
    """Write a version's empty zarr hierarchy (groups, arrays, state "in_progress") at ``target``.

    ``target`` is anything ``zarr.open_group`` accepts (a path, a zarr Store);
    whatever was there is removed first. Shared by every backend.
    """
    import zarr

    root = zarr.open_group(target, mode="w", zarr_format=3)
    root.attrs.update({"state": "in_progress", "version": name})
    for split, arrays in shapes.items():
        group = root.create_group(split)
        for array, (shape, chunks, dtype) in arrays.items():
            group.create_array(
                array,
                shape=shape,
                chunks=chunks,
                dtype=dtype,
                fill_value=0,
                compressors=_codecs(array, np.dtype(dtype).itemsize),
                dimension_names=("image", *(f"{array}_dim{i}" for i in range(1, len(shape)))),
                config={"write_empty_chunks": True},
            )


def holds_only_dot_files(path: Path) -> bool:
    """True for a directory holding nothing but dot-files (an empty one included)."""
    return path.is_dir() and all(child.name.startswith(".") for child in path.iterdir())


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@lru_cache(maxsize=64)
def _chunk_encoder(array_dir: str, mtime_ns: int, inode: int) -> tuple[Any, int]:
    """An encoder for whole chunks of the array at ``array_dir``, from its zarr.json."""
    return chunk_encoder(json.loads((Path(array_dir) / "zarr.json").read_text()), array_dir)


def chunk_encoder(meta: dict[str, Any], where: str) -> tuple[Any, int]:
    """``(encode, ndim)`` for whole chunks of an array, from its zarr.json document ``meta``.

    Shared by every backend (gridstore.objstore too): ``encode(data)`` returns
    the bytes zarr would write for that chunk. ``where`` names the array in errors.
    """
    import google_crc32c
    from numcodecs import Blosc

    chunk_shape = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    dtype = np.dtype(meta["data_type"]).newbyteorder("<")
    names = [c["name"] for c in meta["codecs"]]
    if names != ["bytes", "blosc", "crc32c"] or meta["fill_value"] != 0:
        msg = f"array '{where}' has codecs {names}; gridstore writes bytes, blosc, crc32c"
        raise ConfigError(msg)
    conf = meta["codecs"][1]["configuration"]
    shuffle = {
        "noshuffle": Blosc.NOSHUFFLE,
        "shuffle": Blosc.SHUFFLE,
        "bitshuffle": Blosc.BITSHUFFLE,
    }
    blosc = Blosc(
        conf["cname"], conf["clevel"], shuffle[conf["shuffle"]], conf["blocksize"], conf["typesize"]
    )

    def encode(data: np.ndarray) -> bytes:
        if data.shape != chunk_shape:  # the last chunk: zarr pads it with the fill value
            padded = np.zeros(chunk_shape, dtype)
            padded[: len(data)] = data
            data = padded
        compressed = blosc.encode(np.ascontiguousarray(data, dtype=dtype))
        return compressed + np.uint32(google_crc32c.value(compressed)).tobytes()

    return encode, len(chunk_shape)


@lru_cache(maxsize=256)
def _open_array(root: str, path: str, mode: str = "r+") -> Any:
    import zarr

    return zarr.open_array(store=root, path=path, mode=mode, zarr_format=3)
