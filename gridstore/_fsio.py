"""Durable file operations: atomic writes and advisory locks that die with their owner."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gridstore.errors import InsufficientSpaceError, StoreLockedError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "exclusive_lock",
    "fsync_dir",
    "is_locked",
    "read_json",
]


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename or create inside it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    ``durable=False`` skips the fsyncs: still atomic for readers and against a
    killed process, but not against a power cut (for data that a resume or
    ``validate`` would find missing anyway).

    Raises
    ------
    InsufficientSpaceError
        The disk filled up (nothing is left behind).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            msg = f"no space left to write '{path}'; free disk space and resume"
            raise InsufficientSpaceError(msg) from err
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, *, durable: bool = True) -> None:
    """Atomically write ``value`` as indented JSON."""
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode(), durable=durable)


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`."""
    return json.loads(path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, *, wait: bool = False) -> Iterator[None]:
    """Hold an flock on ``path`` (created if needed); the kernel drops it if we die.

    Raises
    ------
    StoreLockedError
        Another live process holds it (and ``wait`` is False). The message
        names that process, read from the pid the holder writes into the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            msg = f"{what} is locked by pid {holder} ('{path}'); wait for it to finish"
            raise StoreLockedError(msg) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
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
