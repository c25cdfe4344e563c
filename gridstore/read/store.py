"""Opening a store for reading: the store, its versions, and a version's splits.

A store is a local directory or an ``s3://bucket/prefix`` URL (gridstore.storage);
both are read through zarr the same way. Readers hold only names and reopen
zarr lazily in each process, so they pickle into DataLoader workers under both
'fork' and 'spawn'.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from gridstore.errors import VersionNotFoundError
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.read.source import open_root
from gridstore.read.split import SplitReader
from gridstore.storage import backend
from gridstore.storage.registry import resolve

if TYPE_CHECKING:
    import zarr

__all__ = ["StoreReader", "VersionReader", "open_store"]


def open_store(path: str | os.PathLike[str]) -> StoreReader:
    """Open a gridstore store for reading.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of the store (its root zarr group), or an ``s3://bucket/prefix``
        URL (credentials and endpoint from the environment, see docs/internals.md).

    Returns
    -------
    StoreReader
        The store; only its root metadata has been read.

    Raises
    ------
    StoreNotFoundError
        `path` does not exist, is a file, or is not a zarr group whose
        attributes hold ``{"gridstore": {"layout": 1}}`` (the checks and
        messages of `gridstore.storage.open_backend`).

    Examples
    --------
    >>> import tempfile
    >>> from gridstore import Plan, create_version
    >>> store = tempfile.mkdtemp() + "/datasets"
    >>> _ = create_version(store, Plan(num_images=2000), engine="serial", show_progress=False)
    >>> split = open_store(store).version()["train"]
    >>> next(split.batches(256)).shape
    (256, 16, 16)
    """
    reader = StoreReader(path)
    reader._root()
    return reader


class StoreReader:
    """A gridstore store opened for reading; picklable (it holds only its path).

    Parameters
    ----------
    path : str or os.PathLike
        Directory or ``s3://`` URL of the store; `open_store` checks it at once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._opened: tuple[int, zarr.Group] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_opened": None}

    def __repr__(self) -> str:
        return f"StoreReader({self.path!r})"

    def _root(self) -> zarr.Group:
        if self._opened is None or self._opened[0] != os.getpid():
            self._opened = (os.getpid(), open_root(self.path))
        return self._opened[1]

    def _group(self, path: str) -> zarr.Group:
        return cast("zarr.Group", self._root()[path])

    @property
    def versions(self) -> list[str]:
        """Names of the complete versions, oldest first (by date, then N)."""
        self._root()  # the store's own checks, once per process
        return backend(self.path).versions()

    def version(self, name: str | None = None) -> VersionReader:
        """Return a complete version.

        Parameters
        ----------
        name : str, optional
            A name such as ``"2026-11-24-v1"``, a tag (``gridstore tag``) or
            ``"latest"``; None (default) is the latest.

        Returns
        -------
        VersionReader

        Raises
        ------
        VersionNotFoundError
            No such version or tag, a deleted version (or, for None, no
            complete version at all).
        VersionIncompleteError
            The version exists but is being written or was interrupted.
        """
        self._root()  # the store's own checks, once per process
        store = backend(self.path)
        name = resolve(store, name)  # a tag or "latest" names a version too
        store.metadata(name)  # one read; raises the store's not-found / unfinished error
        return VersionReader(self, name)


class VersionReader:
    """One complete version: `name`, `metadata`, `splits`, and ``version[split]``."""

    def __init__(self, store: StoreReader, name: str) -> None:
        self.store = store
        self.name = name

    def __repr__(self) -> str:
        return f"VersionReader({self.store.path!r}, {self.name!r})"

    @property
    def metadata(self) -> dict[str, Any]:
        """The version's metadata (a copy of its group attributes)."""
        return dict(self.store._group(self.name).attrs.asdict())

    @property
    def splits(self) -> list[str]:
        """Names of the splits present, in the order train, val, test (and a hold-out
        version's heldout)."""
        present = set(self.store._group(self.name).group_keys())
        return [s for s in ALL_SPLITS if s in present]

    def __getitem__(self, split: str) -> SplitReader:
        """Return split `split`; raise `VersionNotFoundError` naming those available."""
        if split not in (available := self.splits):
            msg = (
                f"split '{split}' not found in version '{self.name}' of store "
                f"'{self.store.path}'; available: {', '.join(available) or 'none'}"
            )
            raise VersionNotFoundError(msg)
        return SplitReader(self.store, self.name, split)
