"""What the pages share: the store, request checks, and the readers and counts kept between requests.

Every name a URL carries is checked here before it reaches the store: a
version must be ``YYYY-MM-DD-vN`` and complete, a split one of the version's,
an index in range, a filter of ``--where``'s syntax. A bad one is a `Problem`
(4xx) with the same one line the command line prints; nothing in a URL ever
becomes a path of its own, so nothing can reach outside the store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from gridstore.browse.matches import MatchCache, Matches
from gridstore.errors import (
    ConfigError,
    GridstoreError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.read import open_store
from gridstore.read.conditions import parse_where
from gridstore.read.split import SplitReader
from gridstore.read.view import select
from gridstore.storage import open_backend
from gridstore.storage.layout import VERSION_RE

__all__ = ["MAX_WHERE", "Browser", "Problem", "int_param"]

MAX_WHERE = 8  # --where conditions in one URL; more is not a filter anyone types


class Problem(Exception):
    """A request the server answers with an error page: an HTTP status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def int_param(
    params: Mapping[str, list[str]], name: str, default: int | None, lo: int, hi: int
) -> int | None:
    """Query parameter ``name`` as an int in ``lo..hi`` (``default`` if absent or empty)."""
    values = params.get(name, [])
    if len(values) > 1:
        raise Problem(400, f"parameter '{name}' is given {len(values)} times; give it once")
    if not values or values[0] == "":
        return default
    text = values[0]
    if not (text.isascii() and text.isdigit()) or not lo <= int(text) <= hi:
        raise Problem(400, f"parameter {name}={text!r} must be an integer in {lo}..{hi}")
    return int(text)


def check_params(params: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> None:
    """Refuse query parameters a page does not take (a typo would otherwise be ignored)."""
    if unknown := sorted(set(params) - set(allowed)):
        takes = ", ".join(allowed) or "none"
        raise Problem(400, f"unknown parameter '{unknown[0]}'; this page takes: {takes}")


class Browser:
    """One store being browsed: its readers, opened once, and the filters' counts.

    Parameters
    ----------
    store : str
        A local directory or an ``s3://bucket/prefix`` URL.

    Raises
    ------
    StoreNotFoundError
        ``store`` is not a gridstore store.
    """

    def __init__(self, store: str) -> None:
        self.backend = open_backend(store)  # the store's own checks, once
        self.path = store
        self.reader = open_store(store)
        self.matches = MatchCache()
        self._splits: dict[tuple[str, str], SplitReader] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the background counts."""
        self.matches.close()

    def metadata(self, version: str) -> dict[str, Any]:
        """A complete version's metadata; `Problem` 404 for a bad, unknown or deleted name."""
        if not VERSION_RE.match(version):
            raise Problem(404, f"'{version}' is not a version name (YYYY-MM-DD-vN)")
        try:
            return self.backend.metadata(version)
        except VersionNotFoundError as err:
            raise Problem(404, f"{err}; it may have been deleted while you browsed") from err
        except VersionIncompleteError as err:
            raise Problem(404, str(err)) from err

    def split(self, version: str, split: str) -> SplitReader:
        """Split ``split`` of a complete version (checked on every call: it may be deleted)."""
        meta = self.metadata(version)
        if split not in ALL_SPLITS or not meta.get("dataset_info", {}).get(f"{split}_count"):
            present = [s for s in ALL_SPLITS if meta.get("dataset_info", {}).get(f"{s}_count")]
            msg = (
                f"split '{split}' not found in version '{version}'; available: {', '.join(present)}"
            )
            raise Problem(404, msg)
        with self._lock:
            key = (version, split)
            if key not in self._splits:
                self._splits[key] = self.reader.version(version)[split]
            return self._splits[key]

    def matching(self, version: str, split: str, where: Sequence[str]) -> Matches:
        """The `Matches` of the rows of a split that pass every ``--where`` text in ``where``."""
        if len(where) > MAX_WHERE:
            raise Problem(400, f"{len(where)} where conditions; give at most {MAX_WHERE}")
        reader = self.split(version, split)
        key = (version, split, tuple(where))
        try:
            view = select(reader, [parse_where(text) for text in where])
        except ConfigError as err:
            raise Problem(400, str(err).splitlines()[0]) from err
        return self.matches.get(key, view)

    def gone(self, version: str, err: GridstoreError) -> Problem:
        """The page for an error while reading ``version``: 404 if it was deleted, else 500."""
        self.metadata(version)  # raises the 404 when the version is gone
        return Problem(500, str(err).splitlines()[0] if str(err) else type(err).__name__)
