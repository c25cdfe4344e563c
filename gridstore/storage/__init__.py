"""Where versions live: one interface (:class:`StoreBackend`), a local and an object-storage backend.

Everything above this package (build, read, validate, the CLI) opens a store
with :func:`open_backend` and uses only the interface.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gridstore.errors import VersionNotFoundError
from gridstore.storage.base import StagedVersion, StoreBackend
from gridstore.storage.layout import (
    ARRAY_CODECS,
    FIELDS,
    LAYOUT,
    format_version_name,
    parse_version_name,
)
from gridstore.storage.local import LocalStore, holds_only_ignorable

__all__ = [
    "ARRAY_CODECS",
    "FIELDS",
    "LAYOUT",
    "LocalStore",
    "StagedVersion",
    "StoreBackend",
    "backend",
    "check_store_target",
    "format_version_name",
    "is_url",
    "latest_version",
    "open_backend",
    "parse_version_name",
    "zarr_store",
]


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(path, str) and "://" in path


def backend(path: str | os.PathLike[str]) -> StoreBackend:
    """The store at ``path`` or URL, unchecked (for workers, after the driver opened it)."""
    if is_url(path):
        from gridstore.storage.s3 import ObjectStore

        return ObjectStore(str(path))
    return LocalStore(path)


def open_backend(path: str | os.PathLike[str], *, create: bool = False) -> StoreBackend:
    """Open the store at a local path or an ``s3://`` URL.

    Raises
    ------
    StoreNotFoundError
        Not a store, or (``create``) one cannot be made there.
    """
    if is_url(path):
        from gridstore.storage.s3 import ObjectStore

        return ObjectStore.open(str(path), create=create)
    return LocalStore.open(path, create=create)


def latest_version(store: StoreBackend) -> str:
    """The newest complete version of ``store``.

    Raises
    ------
    VersionNotFoundError
        The store has no complete version.
    """
    versions = store.versions()
    if not versions:
        msg = (
            f"store '{store.path}' has no complete version; "
            f"create one with 'gridstore generate --store {store.path}'"
        )
        raise VersionNotFoundError(msg)
    return versions[-1]


def check_store_target(path: str | os.PathLike[str]) -> None:
    """Raise unless ``path`` is a store or a place where one can be created (before any work)."""
    if is_url(path):
        from gridstore.storage.s3 import ObjectStore

        ObjectStore.open(str(path), missing_ok=True)
    elif Path(path).exists() and not holds_only_ignorable(Path(path)):
        LocalStore.open(path)


def zarr_store(path: str | os.PathLike[str], *, read_only: bool = True) -> Any:
    """What ``zarr.open_group`` / ``zarr.open_array`` should open for a path or URL."""
    if not is_url(path):
        return os.fspath(path)
    from botocore.exceptions import FlexibleChecksumError
    from s3fs import core as s3fs_core
    from zarr.storage import FsspecStore

    from gridstore.storage.s3 import STORAGE_OPTIONS

    # A body that fails its response checksum was damaged on the way: s3fs reads it again.
    if FlexibleChecksumError not in s3fs_core.S3_RETRYABLE_ERRORS:
        s3fs_core.add_retryable_error(FlexibleChecksumError)
    return FsspecStore.from_url(
        os.fspath(path), storage_options=dict(STORAGE_OPTIONS), read_only=read_only
    )
