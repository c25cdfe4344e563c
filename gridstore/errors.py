"""The one exception hierarchy that user mistakes and damaged data raise."""

from __future__ import annotations

__all__ = [
    "ChunkChecksumError",
    "ChunkDecodeError",
    "ChunkMissingError",
    "ConfigError",
    "CorruptChunkError",
    "GridstoreError",
    "InsufficientSpaceError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "VersionExistsError",
    "VersionIncompleteError",
    "VersionNotFoundError",
    "WorkerLostError",
    "no_space",
    "resume_hint",
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


class ChunkMissingError(CorruptChunkError):
    """A chunk file or object is not there."""


class ChunkChecksumError(CorruptChunkError):
    """A chunk's bytes do not match their crc32c."""


class ChunkDecodeError(CorruptChunkError):
    """A chunk passes its crc32c but blosc cannot decode it (or it has the wrong size)."""


class StoreLockedError(GridstoreError):
    """Another live process holds the store's writer lock."""


class StoreUnavailableError(GridstoreError):
    """Object storage kept failing (throttling, server errors, no answer) past the retry deadline."""


class InsufficientSpaceError(GridstoreError):
    """Not enough free disk space for the planned run."""


class WorkerLostError(GridstoreError):
    """A worker process died mid-task; the version can be resumed."""


def resume_hint(store: str, name: str) -> str:
    """How to finish or remove an unfinished version: the one wording every message uses."""
    return (
        f"resume it with 'gridstore generate --store {store} --resume --version {name}' "
        f"or remove it with 'gridstore delete --store {store} {name}'"
    )


def no_space(where: str) -> InsufficientSpaceError:
    """The error of every write that found its file system full."""
    return InsufficientSpaceError(
        f"no space left on the file system of '{where}'; free disk space, then resume the "
        "version ('gridstore generate --resume --version NAME')"
    )
