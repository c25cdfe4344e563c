"""What a store says about its versions outside them: tombstones, tags, descriptions, late digests.

A committed version never changes, so everything that may change about it
lives in the bookkeeping area (see :mod:`gridstore.storage.layout`), one
object per fact, each written whole (readers see the old object or the new):

- a *tombstone* per deleted version, written by `StoreBackend.delete` before
  the version is removed, so that its name is never given again
  (`StoreBackend.claim_version` skips it, and a claim that races a delete
  checks for it after it is made);
- a *tag* per name (``gridstore tag VERSION NAME``), created exclusively, so
  two writers never both create one; moving it is an explicit request;
- a version's *description* and a *digest recorded later* (by ``validate
  --full --record``, for versions committed before digests).

``latest`` is built in: the newest complete version. Every command and
`gridstore.read.StoreReader.version` take a tag wherever they take a version
(`resolve`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from gridstore.errors import ConfigError, VersionExistsError, VersionNotFoundError
from gridstore.metadata import now
from gridstore.storage.base import StoreBackend
from gridstore.storage.layout import NOTES, TAGS, TOMBSTONES, VERSION_RE
from gridstore.storage.tombstones import buried

__all__ = [
    "LATEST",
    "check_description",
    "check_tag",
    "description",
    "recorded_digest",
    "remove_tag",
    "resolve",
    "set_description",
    "set_recorded_digest",
    "set_tag",
    "tags",
    "tombstone",
    "tombstones",
]

LATEST = "latest"  # built in: the newest complete version
_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_MAX_DESCRIPTION = 10_000  # characters: a paragraph or a few, not a document


def _put(store: StoreBackend, key: str, doc: dict[str, Any]) -> None:
    store._put_record(key, json.dumps(doc, indent=2).encode())


def _doc(raw: bytes | None) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# -- tombstones -------------------------------------------------------------------


def tombstone(store: StoreBackend, name: str) -> dict[str, Any] | None:
    """The tombstone of a deleted version ``name``, or None."""
    raw = store.get(f"{TOMBSTONES}/{name}")
    return None if raw is None else (_doc(raw) or {"version": name})


def tombstones(store: StoreBackend) -> list[str]:
    """Names of the deleted versions (one listing)."""
    return sorted(buried(store))


def _deleted(store: StoreBackend, name: str, doc: dict[str, Any], via: str = "") -> str:
    when = doc.get("deleted", "an unknown date")
    what = f"{via}version '{name}', which was" if via else f"version '{name}' was"
    return (f"{what} deleted from store '{store.path}' on {when}; a deleted version's name is "
            "never given to another version")  # fmt: skip


# -- tags -------------------------------------------------------------------------


def check_tag(tag: str) -> str:
    """Return ``tag`` if it can name a tag: a letter, then letters, digits, ``._-`` (64 at most).

    Raises
    ------
    ConfigError
        Not of that form, ``latest`` (built in), or of a version name's form.
    """
    if tag == LATEST:
        msg = "'latest' is built in (the newest version) and cannot be set; choose another tag"
        raise ConfigError(msg)
    if not _TAG_RE.match(tag) or VERSION_RE.match(tag):
        msg = (f"tag {tag!r} must start with a letter and hold only letters, digits, '.', '_' "
               "and '-' (at most 64), e.g. paper-2026")  # fmt: skip
        raise ConfigError(msg)
    return tag


def set_tag(store: StoreBackend, ref: str, tag: str, *, move: bool = False) -> str | None:
    """Point ``tag`` at the version ``ref`` names (a version, a tag or ``latest``).

    A new tag is created exclusively; an existing one is moved only with
    ``move``. Returns the version the tag pointed at before (None: a new tag).

    Raises
    ------
    ConfigError
        A bad tag name.
    VersionNotFoundError
        ``ref`` names no complete version.
    VersionExistsError
        The tag exists, pointing elsewhere, and ``move`` is false.
    """
    check_tag(tag)
    version = resolve(store, ref)
    store.metadata(version)  # a complete version, or its error
    doc = {"tag": tag, "version": version, "tagged": now()}
    key = f"{TAGS}/{tag}"
    if store._create(key, json.dumps(doc, indent=2).encode()):
        return None
    before = (_doc(store.get(key)) or {}).get("version")
    if before == version:
        return before
    if not move:
        msg = (f"tag '{tag}' already points to version '{before}' in store '{store.path}'; "
               "pass --move to point it elsewhere")  # fmt: skip
        raise VersionExistsError(msg)
    _put(store, key, doc)
    return before


def remove_tag(store: StoreBackend, tag: str) -> str:
    """Remove ``tag``; return the version it pointed at.

    Raises
    ------
    VersionNotFoundError
        No such tag.
    """
    doc = _doc(store.get(f"{TAGS}/{tag}")) if _TAG_RE.match(tag) else None
    if doc is None:
        known = ", ".join(sorted(tags(store))) or "none"
        msg = f"no tag '{tag}' in store '{store.path}'; tags: {known}"
        raise VersionNotFoundError(msg)
    store._remove(f"{TAGS}/{tag}")
    return str(doc.get("version"))


def tags(store: StoreBackend) -> dict[str, str]:
    """Every tag of the store and the version it points at (one listing, reads in parallel)."""
    names = [n for n in store._list(TAGS) if _TAG_RE.match(n)]
    docs = store._get_many([f"{TAGS}/{n}" for n in names])
    found = {n: (_doc(d) or {}).get("version") for n, d in zip(names, docs, strict=True)}
    return {n: str(v) for n, v in found.items() if v is not None}


def resolve(store: StoreBackend, ref: str | None) -> str:
    """The version name ``ref`` means: a version name, a tag, or ``latest`` / None (the newest).

    Raises
    ------
    VersionNotFoundError
        No complete version at all (for ``latest``), an unknown tag, a deleted
        version, or a tag that points at one. A version name that is neither a
        version nor deleted is returned as it is, for the caller's own error.
    """
    if ref is None or ref == LATEST:
        versions = store.versions()
        if not versions:
            msg = (f"store '{store.path}' has no complete version; "
                   f"create one with 'gridstore generate --store {store.path}'")  # fmt: skip
            raise VersionNotFoundError(msg)
        return versions[-1]
    via, name = "", ref
    if not VERSION_RE.match(ref):
        doc = _doc(store.get(f"{TAGS}/{ref}")) if _TAG_RE.match(ref) else None
        if doc is None or not isinstance(doc.get("version"), str):
            known = ", ".join(sorted(tags(store)))
            available = ", ".join(store.versions()) or "none"
            msg = (f"version '{ref}' not found in store '{store.path}'; available: {available}"
                   + (f"; tags: {known}" if known else ""))  # fmt: skip
            raise VersionNotFoundError(msg)
        via, name = f"tag '{ref}' points to ", doc["version"]
    if not store.has(f"{name}/zarr.json"):
        buried = tombstone(store, name)
        if buried is not None:
            raise VersionNotFoundError(_deleted(store, name, buried, via))
    return name


# -- notes: a description, a digest recorded after the commit ---------------------


def set_description(store: StoreBackend, ref: str, text: str) -> str:
    """Describe the version ``ref`` names (replacing its description); returns its name.

    Raises
    ------
    ConfigError
        Empty or longer than 10,000 characters.
    """
    text = check_description(text)
    version = resolve(store, ref)
    store.metadata(version)
    _put(store, f"{NOTES}/{version}.description", {"description": text, "described": now()})
    return version


def check_description(text: str) -> str:
    """``text`` stripped, if it can be a description (1 to 10,000 characters).

    Raises
    ------
    ConfigError
        Empty or too long.
    """
    text = text.strip()
    if not text or len(text) > _MAX_DESCRIPTION:
        msg = f"a description must hold 1 to {_MAX_DESCRIPTION:,} characters, got {len(text):,}"
        raise ConfigError(msg)
    return text


def description(store: StoreBackend, name: str) -> str | None:
    """The description of version ``name``, or None."""
    doc = _doc(store.get(f"{NOTES}/{name}.description"))
    return None if doc is None else doc.get("description")


def set_recorded_digest(store: StoreBackend, name: str, digest: str) -> None:
    """Record the digest of a version committed without one (see ``validate --full --record``)."""
    _put(store, f"{NOTES}/{name}.digest", {"digest": digest, "recorded": now()})


def recorded_digest(store: StoreBackend, name: str) -> str | None:
    """The digest recorded for ``name`` after its commit, or None."""
    doc = _doc(store.get(f"{NOTES}/{name}.digest"))
    return None if doc is None else doc.get("digest")
