"""The one exception hierarchy that user mistakes and damaged data raise."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptChunkError",
    "GridstoreError",
    "InsufficientSpaceError",
    "StoreLockedError",
    "StoreNotFoundError",
    "VersionExistsError",
    "VersionIncompleteError",
    "VersionNotFoundError",
]


class GridstoreError(Exception):
    """Base class: a problem the user can act on; the message is one line."""


class ConfigError(GridstoreError, ValueError):
    """A parameter, preset or config file is invalid."""


class StoreNotFoundError(GridstoreError):
    """A path is not a gridstore store (or cannot be one)."""


class VersionNotFoundError(GridstoreError, KeyError):
    """A version or split does not exist in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class VersionExistsError(GridstoreError):
    """A version name is already taken."""


class VersionIncompleteError(GridstoreError):
    """A version was not finished (interrupted, or still being written)."""


class CorruptChunkError(GridstoreError):
    """A chunk is missing, truncated or fails its checksum."""


class StoreLockedError(GridstoreError):
    """Another live process holds the store's writer lock."""


class InsufficientSpaceError(GridstoreError):
    """Not enough free disk space for the planned run."""
