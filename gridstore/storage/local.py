"""A store in a local directory (which may be a mount point, or a symlink to another disk).

Staging lives inside the store (see :mod:`gridstore.storage.layout`), so it is
on the store's own file system whatever is mounted where, and publishing a
version is one rename after one flush of that file system.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from gridstore._faults import crash_point
from gridstore.errors import StoreNotFoundError, VersionExistsError
from gridstore.storage.base import StoreBackend
from gridstore.storage.fsio import (
    atomic_write_bytes,
    exclusive_lock,
    flush_tree,
    fsync_dir,
    is_locked,
    is_unfinished,
    os_errors,
    share_file,
)
from gridstore.storage.layout import BOOKKEEPING, lock_key, root_doc, staged_key
from gridstore.storage.tombstones import bury

__all__ = ["LocalStore", "holds_only_ignorable"]

# What a fresh volume may hold before it becomes a store: dot-files (a repo's
# datasets/.gitkeep) and the lost+found of an ext2/3/4 mount.
_IGNORABLE = ("lost+found",)


def holds_only_ignorable(path: Path) -> bool:
    """True for a directory holding nothing but dot-files and lost+found (or nothing)."""
    return path.is_dir() and all(
        c.name.startswith(".") or c.name in _IGNORABLE for c in path.iterdir()
    )


class LocalStore(StoreBackend):
    """A gridstore store on the local file system.

    Parameters
    ----------
    path : str or PathLike
        The store's directory (a Zarr v3 group).
    """

    #: tails() reads only a chunk's last bytes (a positional read): a disk has no
    #: transit to damage them, unlike a ranged GET (`ChunkStore.tails`).
    reads_tails = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path).absolute()

    def __repr__(self) -> str:
        return f"LocalStore('{self.path}')"

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False) -> LocalStore:
        """Open a store, or create it if ``create`` and the directory is new or empty.

        Raises
        ------
        StoreNotFoundError
            The path is a file, not a gridstore store, or cannot be created.
        """
        store = cls(path)
        p = store.path
        if p.exists() and not p.is_dir():
            msg = f"store path '{p}' is a file, not a directory; choose another --store"
            raise StoreNotFoundError(msg)
        if (
            create
            and not (p / "zarr.json").exists()
            and (not p.exists() or holds_only_ignorable(p))
        ):
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                msg = f"cannot create store '{p}': {err.strerror} ('{err.filename}')"
                raise StoreNotFoundError(msg) from err
            store._create("zarr.json", root_doc())  # two first writers: one creates it
        raw = store._get("zarr.json")
        if raw is None:
            if p.exists():
                msg = f"'{p}' is not a gridstore store (no zarr.json) and not empty; use a new or empty directory"
            else:
                msg = (
                    f"store '{p}' does not exist; create one with 'gridstore generate --store {p}'"
                )
            raise StoreNotFoundError(msg)
        store._check_root(raw)
        return store

    def claim_version(self, name: str | None = None, today: dt.date | None = None) -> str:
        """See :meth:`StoreBackend.claim_version`; a read-only store is refused first, in one line."""
        if not os.access(self.path, os.W_OK):
            why = (
                "read-only file system"
                if os.statvfs(self.path).f_flag & os.ST_RDONLY
                else "permission denied"
            )
            msg = f"store '{self.path}' is not writable ({why}); it can only be read"
            raise StoreNotFoundError(msg)
        return super().claim_version(name, today)

    # -- primitives ----------------------------------------------------------------

    def _get(self, key: str) -> bytes | None:
        try:
            return (self.path / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _get_ranges(
        self, ranges: list[tuple[str, int, int]], held: dict[str, bytes | None] | None = None
    ) -> list[bytes | None]:
        out: list[bytes | None] = []
        for key, start, length in ranges:
            try:
                fd = os.open(self.path / key, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                out.append(None)
                continue
            try:
                out.append(os.pread(fd, length, start))
            finally:
                os.close(fd)
        return out

    def tails(self, keys: list[str], n: int = 4) -> list[bytes | None]:
        out: list[bytes | None] = []
        for key in keys:
            try:
                fd = os.open(self.path / key, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                out.append(None)
                continue
            try:  # a positional read of the last n bytes (all of a shorter file)
                out.append(os.pread(fd, n, max(0, os.fstat(fd).st_size - n)))
            finally:
                os.close(fd)
        return out

    def has(self, key: str) -> bool:
        return (self.path / key).is_file()

    def _put(self, key: str, data: bytes) -> None:
        # No fsync here: _publish flushes the whole version before it appears.
        atomic_write_bytes(self.path / key, data, durable=False)

    def _put_record(self, key: str, data: bytes) -> None:
        atomic_write_bytes(self.path / key, data, durable=True)  # no commit flushes it later

    def _put_chunk(self, key: str, data: bytes) -> None:
        # Read-only: a grown version shares these files (see _copy), so a write
        # in place by another tool must fail rather than change both versions.
        atomic_write_bytes(self.path / key, data, durable=False, read_only=True)

    def _create(self, key: str, data: bytes) -> bool:
        path = self.path / key
        tmp = path.with_name(f".{path.name}.{os.getpid()}.create")
        atomic_write_bytes(tmp, data, durable=False)
        try:
            with os_errors(path):
                os.link(tmp, path)  # fails if path exists: an exclusive create of whole content
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _list(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path / prefix))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _sizes(self, prefix: str) -> dict[str, int]:
        root = self.path / prefix
        out = {}
        for dirpath, _, files in os.walk(root):
            for name in files:
                if is_unfinished(name):  # a killed writer's leftover: not part of the version
                    continue
                full = os.path.join(dirpath, name)
                with suppress(FileNotFoundError):
                    out[os.path.relpath(full, root)] = os.stat(full).st_size
        return out

    def _remove(self, prefix: str) -> None:
        path = self.path / prefix
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def _copy(self, pairs: list[tuple[str, str]]) -> None:
        # Chunks of finished versions never change, so a grown version shares
        # them (hard links or reflinks): time and disk grow with the new images only.
        for src, dst in pairs:
            target = self.path / dst
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with os_errors(target):
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    tmp.unlink(missing_ok=True)  # a killed run's leftover
                    share_file(self.path / src, tmp)
                    os.replace(tmp, target)  # a killed copy leaves no partial chunk
                finally:
                    tmp.unlink(missing_ok=True)

    def _publish(self, name: str, copied: bool = False) -> None:
        staged, final = self.path / staged_key(name), self.path / name
        for tmp in staged.rglob(".*.tmp"):  # a killed writer's unfinished file: never published
            tmp.unlink(missing_ok=True)
        flush_tree(staged)  # every file and entry of the version on stable storage first
        crash_point("commit-before-publish")
        if final.exists():
            msg = f"version '{name}' already exists in store '{self.path}'; not overwritten"
            raise VersionExistsError(msg)
        try:
            with os_errors(final):
                os.rename(staged, final)
        except OSError as err:  # a version of that name appeared meanwhile
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                msg = f"version '{name}' already exists in store '{self.path}'; not overwritten"
                raise VersionExistsError(msg) from err
            raise
        with os_errors(self.path):
            fsync_dir(self.path)  # the rename itself
            fsync_dir(staged.parent)

    @contextmanager
    def version_lock(self, name: str) -> Iterator[None]:
        with exclusive_lock(self.path / lock_key(name), f"version '{name}'"):
            yield

    def _writer_alive(self, name: str) -> bool:
        return is_locked(self.path / lock_key(name))

    def delete(self, name: str) -> None:
        """Delete a complete version: one rename takes it out of the store, then it is removed."""
        bury(self, name, self.metadata(name))
        trash = self.path / BOOKKEEPING / "work" / "trash" / f"{name}.{os.getpid()}"
        with os_errors(self.path):
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.path / name, trash)  # never a half-deleted version in the store
            fsync_dir(self.path)
        shutil.rmtree(trash, ignore_errors=True)
        self._remove_all(name)

    def _remove_all(self, name: str) -> None:
        super()._remove_all(name)
        (self.path / lock_key(name)).unlink(missing_ok=True)

    def free_bytes(self) -> int:
        """Free bytes on the file system that receives the store's bytes."""
        probe = self.path
        while not probe.exists():
            probe = probe.parent
        return shutil.disk_usage(probe).free
