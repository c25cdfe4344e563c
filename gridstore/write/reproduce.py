"""Regenerate a version from its recipe, elsewhere, and prove it by its content digest.

A version's ``generation_params`` fix its bytes, for a given RNG scheme
(`gridstore.generate.rng.RNG_SCHEME`). `reproduce_version` generates them
again into another store (a scratch directory by default, removed after)
and compares the new version's digest with the recorded one (or, for a
version committed before digests, with one recomputed from its chunks).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from gridstore.digest import recompute
from gridstore.engines import EngineName
from gridstore.errors import ConfigError, VersionExistsError
from gridstore.generate.rng import RNG_SCHEME
from gridstore.plan import Plan
from gridstore.storage import open_backend
from gridstore.storage.registry import recorded_digest, resolve
from gridstore.write.versions import create_version

__all__ = ["Reproduction", "reproduce_version"]


@dataclass(frozen=True)
class Reproduction:
    """What `reproduce_version` did: the version, where it was regenerated, both digests."""

    version: str
    digest: str  # the original's: recorded, or recomputed from its chunks
    recorded: bool  # False: the original recorded none, so it was recomputed
    store: str  # where the reproduction was written ("" if a scratch directory, removed)
    name: str  # the reproduction's name there
    reproduced: str  # the reproduction's digest

    @property
    def equal(self) -> bool:
        """True when the reproduction holds the same bytes as the original."""
        return self.digest == self.reproduced


def reproduce_version(
    store: str | os.PathLike[str],
    ref: str | None = None,
    *,
    to: str | os.PathLike[str] | None = None,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    show_progress: bool = False,
) -> Reproduction:
    """Regenerate the version ``ref`` names from its recipe and compare content digests.

    Parameters
    ----------
    store : path or URL
        The store holding the version.
    ref : str, optional
        A version name, a tag or ``latest`` (the default).
    to : path or URL, optional
        The store to write the reproduction into (created if needed; it keeps
        the version's name there if free). Default: a scratch directory,
        removed afterwards.
    engine, workers, scheduler, show_progress
        As for `gridstore.write.create_version`.

    Returns
    -------
    Reproduction
        Its ``equal`` says whether the digests agree.

    Raises
    ------
    ConfigError
        The version was made with another RNG scheme (this gridstore cannot make its bytes).
    """
    source = open_backend(store)
    name = resolve(source, ref)
    meta = source.metadata(name)
    scheme = (meta.get("rng") or {}).get("scheme")
    if scheme != RNG_SCHEME:
        msg = (f"version '{name}' was made with RNG scheme {scheme!r}; this gridstore "
               f"{meta.get('gridstore_version', '')} draws with {RNG_SCHEME!r}, so it cannot "
               "make the same bytes: reproduce it with the gridstore that made it")  # fmt: skip
        raise ConfigError(msg)
    plan = Plan.from_dict(meta["generation_params"])
    digest = meta.get("digest") or recorded_digest(source, name)
    recorded = digest is not None
    scratch = None if to is not None else tempfile.mkdtemp(prefix="gridstore-reproduce-")
    target: Any = to if to is not None else os.path.join(str(scratch), "store")
    run: dict[str, Any] = {"engine": engine, "workers": workers, "scheduler": scheduler,
                           "show_progress": show_progress}  # fmt: skip
    try:
        try:
            made = create_version(target, plan, name=name, **run)
        except VersionExistsError:  # the name is taken there: the next free one
            made = create_version(target, plan, **run)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if digest is None:
        digest, _ = recompute(source, name)
    return Reproduction(name, digest or "none (chunks missing)", recorded,
                        "" if to is None else str(target), made["version"], made["digest"])  # fmt: skip
