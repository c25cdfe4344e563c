"""Local file operations: atomic writes, flushes to stable storage, locks that die with their owner."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gridstore.errors import StoreLockedError, StoreNotFoundError, no_space

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "exclusive_lock",
    "flush_tree",
    "fsync_dir",
    "is_locked",
    "os_errors",
    "read_json",
    "share_file",
]

READ_ONLY = 0o444  # finished chunk files: a write in place fails instead of changing them
_FICLONE = 0x40049409  # Linux ioctl (linux/fs.h): dst shares src's extents (btrfs, XFS, bcachefs)
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOTSUP)

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def os_errors(where: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a full disk or a read-only store into gridstore's one-line errors."""
    try:
        yield
    except OSError as err:
        if err.errno in _FULL:
            raise no_space(os.fspath(where)) from err
        if err.errno in _READ_ONLY:
            msg = f"'{os.fspath(where)}' is not writable ({err.strerror}: '{err.filename}'); it can only be read"
            raise StoreNotFoundError(msg) from err
        raise


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename or create inside it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_unfinished(name: str) -> bool:
    """Whether file ``name`` is one `atomic_write_bytes` had not finished: never an object."""
    return name.startswith(".") and name.endswith((".tmp", ".create"))


def atomic_write_bytes(
    path: Path, data: bytes, *, durable: bool = True, read_only: bool = False
) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    ``durable=False`` skips the fsyncs: still atomic for readers and against a
    killed process, but not against a power cut (for files that a later
    :func:`flush_tree` makes durable, or that a resume re-checks).
    ``read_only`` gives the file mode 0444 (it can still be replaced whole).

    Raises
    ------
    InsufficientSpaceError
        The disk filled up (nothing is left behind).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os_errors(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                if read_only:
                    os.fchmod(fh.fileno(), READ_ONLY)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if durable:
            fsync_dir(path.parent)


def share_file(src: Path, dst: Path) -> str:
    """Give ``dst`` the bytes of ``src``, sharing them on disk where the file system can.

    A hard link where the file system has them (both names are then one
    file); else, on Linux, a reflink (a new file sharing the old one's blocks
    until either is written); else a copy. The shared file is made read-only,
    so that a write in place by another tool fails instead of changing every
    version that holds it. ``dst`` must not exist.

    Returns
    -------
    str
        ``"link"``, ``"reflink"`` or ``"copy"``: what was done.

    Raises
    ------
    FileNotFoundError
        ``src`` does not exist.
    """
    try:
        os.link(src, dst)
        os.chmod(dst, READ_ONLY)  # the one inode both versions hold
        return "link"
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
    if sys.platform.startswith("linux"):
        try:
            with open(src, "rb") as source, open(dst, "wb") as target:
                fcntl.ioctl(target.fileno(), _FICLONE, source.fileno())
            os.chmod(dst, READ_ONLY)
            return "reflink"
        except OSError:
            dst.unlink(missing_ok=True)  # no reflinks here: copy below
    shutil.copyfile(src, dst)
    os.chmod(dst, READ_ONLY)
    return "copy"


def atomic_write_json(path: Path, value: Any, *, durable: bool = True) -> None:
    """Atomically write ``value`` as indented JSON."""
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode(), durable=durable)


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`."""
    return json.loads(path.read_text(encoding="utf-8"))


def _syncfs(path: Path) -> bool:
    """Flush the whole file system holding ``path`` (Linux); False where there is no syncfs."""
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)
    return True


def _fsync_each(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def flush_tree(root: Path) -> None:
    """Put every file and directory entry under ``root`` on stable storage.

    One ``syncfs`` of its file system on Linux (benchmarks/bench_store.py
    measures it against one fsync per file); elsewhere one fsync per file and
    directory, with a warning. ``GRIDSTORE_SYNC`` chooses
    ``syncfs``, ``fsync`` or ``none`` (for measurements only: ``none`` gives up
    durability).
    """
    how = os.environ.get("GRIDSTORE_SYNC", "syncfs")
    with os_errors(root):
        if how == "none":
            return
        if how == "fsync" or not _syncfs(root):
            if how != "fsync":  # shown once per process: warnings' default filter
                warnings.warn(
                    "no syncfs on this platform: flushing each file of the version instead (slower)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            _fsync_each(root)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, *, wait: bool = False) -> Iterator[None]:
    """Hold an flock on ``path`` (created if needed); the kernel drops it if we die.

    Raises
    ------
    StoreLockedError
        Another live process holds it (and ``wait`` is False). The message
        names that process, read from the pid the holder writes into the file.
    InsufficientSpaceError
        No space to create the lock file or write the pid into it.
    """
    with os_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            msg = f"{what} is locked by pid {holder} ('{path}'); wait for it to finish"
            raise StoreLockedError(msg) from None
        try:
            with os_errors(path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """True if a live process holds the flock on ``path`` (works on read-only file systems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
