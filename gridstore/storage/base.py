"""One storage interface: what write, read, validate and the CLI may ask of a store.

:class:`StoreBackend` holds every rule of the layout once (names, claims,
staging, task records, listing, commit, delete). A backend supplies a handful
of byte-level primitives on keys relative to the store's root, a writer lock,
and :meth:`StoreBackend._publish`, the one step that makes a staged version
visible: :mod:`gridstore.storage.local` and :mod:`gridstore.storage.s3`.
"""

from __future__ import annotations

import datetime as dt
import json
from abc import abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore._faults import crash_point
from gridstore.errors import (
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
    VersionNotFoundError,
    resume_hint,
)
from gridstore.storage.layout import (
    CHUNK_KEY_SEPARATOR,
    CLAIMS,
    LAYOUT,
    TASKS,
    VERSION_RE,
    array_docs,
    bookkeeping_docs,
    claim_key,
    format_version_name,
    parse_version_name,
    required_keys,
    staged_key,
    task_key,
    tasks_key,
    version_state,
)
from gridstore.storage.records import TaskRecords
from gridstore.storage.tombstones import buried, bury, is_buried

__all__ = ["StagedVersion", "StoreBackend"]


@dataclass(frozen=True)
class StagedVersion:
    """A version under way or interrupted."""

    name: str
    writing: bool  # a live process holds its lock or lease
    plan: dict[str, Any] | None  # None: interrupted before its plan was recorded


class StoreBackend(TaskRecords):
    """A gridstore store: versions, staged versions, claims, locks and task records.

    Built on `ChunkStore` (bytes and chunks at keys) and `TaskRecords`; ``path`` is what the user
    named (a directory or a URL) and appears in messages.
    """

    #: Publishing copies every object (object storage): the commit's jobs copy them first
    #: (`copy_staged`), each from its own listing, so that the client does not.
    publishes_by_copy = False

    def copy_staged(self, name: str, below: str, keys: list[str]) -> None:
        """Copy objects ``keys`` of part ``below`` of a staged version to where it is published."""
        pairs = [f"{below}/{k}" for k in keys]
        self._copy([(f"{staged_key(name)}/{k}", f"{name}/{k}") for k in pairs])

    @abstractmethod
    def _publish(self, name: str, copied: bool = False) -> None:
        """Make the staged version ``name`` visible, durably, in one step; its zarr.json is final.

        ``copied``: every object but its zarr.json was copied already (`copy_staged`).

        Raises
        ------
        VersionExistsError
            A version of that name is already in the store (never overwritten).
        """

    @abstractmethod
    def version_lock(self, name: str) -> AbstractContextManager[None]:
        """Held while this process writes version ``name``.

        Raises
        ------
        StoreLockedError
            Another live process holds it.
        """

    @abstractmethod
    def _writer_alive(self, name: str) -> bool:
        """True if a live process holds the lock or lease of version ``name``."""

    def fence(self, name: str) -> str | None:
        """A token for the tasks of this process's writer of ``name`` to check (see `check_fence`).

        None where the lock cannot be taken over while this process lives (a
        local lock), so there is nothing to check.
        """
        return None

    def check_held(self, name: str) -> None:
        """Raise unless this process still holds the version ``name`` it writes (see `check_fence`)."""
        fence = self.fence(name)
        if fence is not None:
            self.check_fence(name, fence)

    def check_fence(self, name: str, fence: str) -> None:
        """Raise unless the writer that handed out ``fence`` still holds version ``name``.

        Raises
        ------
        StoreLockedError
            Another process took the version over (this writer stalled past its lease).
        """

    def free_bytes(self) -> int | None:
        """Free space where the store's bytes go (None: unknown, as in object storage)."""
        return None

    # -- the root ----------------------------------------------------------------

    def _check_root(self, raw: bytes) -> None:
        try:
            layout = json.loads(raw)["attributes"]["gridstore"]["layout"]
        except (KeyError, TypeError, ValueError):
            msg = f"'{self.path}/zarr.json' is not a gridstore store's root (unreadable or no gridstore attributes)"
            raise StoreNotFoundError(msg) from None
        if layout != LAYOUT:
            msg = f"store '{self.path}' has layout {layout!r}; this gridstore reads layout {LAYOUT}"
            raise StoreNotFoundError(msg)

    # -- listing -------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Complete versions, oldest first: those whose zarr.json says complete."""
        names = [n for n in self._list("") if VERSION_RE.match(n)]
        docs = self._get_many([f"{n}/zarr.json" for n in names])
        done = [n for n, doc in zip(names, docs, strict=True) if version_state(doc) == "complete"]
        return sorted(done, key=parse_version_name)

    def _claims(self) -> list[str]:
        return [n for n in self._list(CLAIMS) if VERSION_RE.match(n)]

    def metadata(self, name: str) -> dict[str, Any]:
        """A complete version's metadata (its group attributes).

        Raises
        ------
        VersionNotFoundError, VersionIncompleteError
        StoreNotFoundError
            Its metadata is unreadable.
        """
        raw = self._get(f"{name}/zarr.json") if VERSION_RE.match(name) else None
        try:
            doc = json.loads(raw) if raw is not None else None
            attrs = doc["attributes"] if doc is not None else None
        except (ValueError, KeyError, TypeError) as err:
            msg = f"metadata file '{self.path}/{name}/zarr.json' is corrupt ({type(err).__name__}); the version cannot be trusted"
            raise StoreNotFoundError(msg) from err
        if version_state(raw) != "complete":
            if raw is not None or self._get(claim_key(name)) is not None:
                msg = f"version '{name}' in store '{self.path}' is unfinished; {resume_hint(str(self.path), name)}"
                raise VersionIncompleteError(msg)
            available = ", ".join(self.versions()) or "none"
            msg = f"version '{name}' not found in store '{self.path}'; available: {available}"
            raise VersionNotFoundError(msg)
        return dict(attrs)  # type: ignore[arg-type]

    def staged(self) -> list[StagedVersion]:
        """Versions under way or interrupted (claimed, not complete), with whether a writer holds them."""
        done = set(self.versions())
        names = sorted((n for n in self._claims() if n not in done), key=parse_version_name)
        plans = self._get_many([f"{tasks_key(n)}/plan.json" for n in names])
        return [
            StagedVersion(n, self._writer_alive(n), json.loads(p) if p is not None else None)
            for n, p in zip(names, plans, strict=True)
        ]

    # -- writing -------------------------------------------------------------------

    def claim_version(self, name: str | None = None, today: dt.date | None = None) -> str:
        """Reserve a version name: ``name``, or the next ``YYYY-MM-DD-vN`` of today.

        A claim is created exclusively, so two writers never share a name; a
        name taken by a concurrent writer meanwhile is skipped.

        Raises
        ------
        VersionExistsError
            ``name`` is already a version (complete or staged).
        """
        # Deleted versions' names too: a name, once a version's, is never given again.
        gone = buried(self)
        taken = set(self.versions()) | set(self._claims()) | gone
        if name is not None:
            parse_version_name(name)
            if name in taken or not self._claim(name):
                where = f"store '{self.path}'"
                why = f"was deleted from {where} and its name is never reused"
                why = why if name in gone else f"already exists in {where}"
                msg = f"version '{name}' {why}; choose another --version or omit it"
                raise VersionExistsError(msg)
            return name
        day = today or dt.date.today()
        used = [parse_version_name(t)[1] for t in taken if t.startswith(day.isoformat() + "-v")]
        n = max(used, default=0) + 1
        while not self._claim(format_version_name(day, n)):
            n += 1
        return format_version_name(day, n)

    def _claim(self, name: str) -> bool:
        for key, doc in bookkeeping_docs().items():
            if self._get(key) is None:
                self._put(key, doc)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record = {"version": name, "claimed": now, "writer": self.token}
        if not self._create(claim_key(name), json.dumps(record).encode()):
            return False
        # A delete writes its tombstone before it removes the claim: a claim made
        # after that removal finds the tombstone here, and gives the name back.
        if is_buried(self, name):
            self._remove(claim_key(name))
            return False
        return True

    def create_arrays(
        self, name: str, plan_dict: dict[str, Any], shapes: dict[str, dict[str, tuple]]
    ) -> None:
        """Create the staged version's groups and empty arrays; record its plan.

        ``shapes[split][array] = (shape, chunks, dtype)``, codecs by the plan's
        ``compression``. Whatever was staged under that name before is removed first.
        """
        self._codecs.clear()
        self._separators.clear()
        staged = staged_key(name)
        self._remove(staged)
        self._remove(tasks_key(name))
        compression = plan_dict.get("plan", {}).get("compression", "default")
        for key, doc in array_docs(name, shapes, compression).items():
            self._put(f"{staged}/{key}", doc)
        self._put(f"{tasks_key(name)}/plan.json", json.dumps(plan_dict, indent=2).encode())

    def staged_plan(self, name: str) -> dict[str, Any]:
        """The plan recorded for a staged version.

        Raises
        ------
        VersionNotFoundError
            No staged version of that name.
        VersionIncompleteError
            It was interrupted before its plan was recorded: nothing to resume.
        """
        staged = {s.name: s for s in self.staged()}
        if name not in staged:
            names = ", ".join(staged) or "none"
            msg = f"no unfinished version '{name}' in store '{self.path}' to resume; unfinished: {names}"
            raise VersionNotFoundError(msg)
        plan = staged[name].plan
        if plan is None:
            msg = f"version '{name}' was interrupted before it started: nothing to resume; remove it with 'gridstore delete --store {self.path} {name}'"
            raise VersionIncompleteError(msg)
        return plan

    def record_task(
        self,
        name: str,
        index: int,
        result: dict[str, Any],
        hashes: dict[str, np.ndarray],
        fence: str | None = None,
        bits: int = 0,
    ) -> None:
        """Mark a task done, with its statistics and content hashes (partitioned by their
        top ``bits``: see `put_task_hashes`).

        The task's chunks are stored first, then its hashes, and its JSON
        record last: the record is what marks it done. With a ``fence`` (see
        `fence`), nothing is recorded unless its writer still holds the version.
        """
        self._flush()
        if fence is not None:
            self.check_fence(name, fence)
        self.put_task_hashes(name, index, hashes, bits)
        self._put(task_key(name, index, "json"), json.dumps(result, sort_keys=True).encode())

    def staged_sizes(self, name: str, below: str = "") -> dict[str, int]:
        """Size of every object of a staged version (or of its part ``below``, e.g.
        ``"train/images"``), by key relative to that (one listing)."""
        return self._sizes(f"{staged_key(name)}/{below}".rstrip("/"))

    def staged_children(self, name: str, below: str) -> list[str]:
        """Names directly under part ``below`` of a staged version (e.g. a split's arrays)."""
        return self._list(f"{staged_key(name)}/{below}")

    def missing_keys(
        self, name: str, shapes: dict[str, dict[str, tuple]], stored: dict[str, int] | None = None
    ) -> list[str]:
        """Keys of a staged version's arrays and chunks that are not stored (see `required_keys`).

        ``stored``: its `staged_sizes`, if listed since its last task was recorded.
        """
        stored = self.staged_sizes(name) if stored is None else stored
        # the staged arrays' own encoding: one staged by an older gridstore keeps "/" keys
        docs = [f"{split}/{array}" for split, arrays in shapes.items() for array in arrays]
        present = [d for d in docs if f"{d}/zarr.json" in stored]
        separator = (
            self.chunk_separator(f"{staged_key(name)}/{present[0]}")
            if present
            else CHUNK_KEY_SEPARATOR
        )
        return [k for k in required_keys(shapes, separator) if k not in stored]

    def incomplete(self, name: str, shown: list[str], count: int) -> VersionIncompleteError:
        """The error for a staged version missing ``count`` chunks (``shown``: some of them)."""
        listed = ", ".join(shown) + (
            f" and {count - len(shown)} more" if count > len(shown) else ""
        )
        return VersionIncompleteError(
            f"version '{name}' is missing {count} chunk(s) ({listed}); nothing was "
            f"published; {resume_hint(str(self.path), name)}"
        )

    def commit(
        self,
        name: str,
        metadata: dict[str, Any],
        shapes: dict[str, dict[str, tuple]] | None,
        on_phase: Callable[[str], None] = lambda phase: None,
        stored: dict[str, int] | None = None,
        copied: bool = False,
    ) -> None:
        """Check that every chunk is stored, write the final metadata and publish the staged version.

        ``shapes`` are the plan's arrays (see `required_keys`; None: the caller
        has checked them, as `gridstore.write.reduce` does); ``on_phase`` is
        told each phase as it begins (for a progress line); ``stored``: the
        version's `staged_sizes`, if listed after its last task was recorded
        (the writer holds the version, so nothing has gone since); ``copied``:
        its objects were copied to where it is published (`copy_staged`).

        Raises
        ------
        VersionIncompleteError
            A chunk or array the plan requires is not stored: nothing is
            published, and resuming the version writes it.
        VersionExistsError
            A version of that name appeared meanwhile (never overwritten).
        """
        on_phase("checking chunks")
        self._flush()
        self.check_held(name)
        if shapes is not None:
            missing = self.missing_keys(name, shapes, stored)
            if missing:
                raise self.incomplete(name, missing[:3], len(missing))
        key = f"{staged_key(name)}/zarr.json"
        doc = json.loads(self._get(key) or b"{}")
        doc["attributes"] = {**metadata, "state": "complete"}
        self._put(key, json.dumps(doc, indent=2).encode())
        crash_point("commit-before-sync")
        on_phase("flushing and publishing")
        self._publish(name, copied)
        crash_point("commit-after-publish")
        on_phase("cleaning up")
        done = set(self.versions())  # this one's records, and any a crash here left before
        for leftover in self._list(TASKS):
            if leftover in done:
                self._remove(tasks_key(leftover))  # the claim stays while the version exists

    def discard(self, name: str) -> None:
        """Remove an unfinished version, its records and its claim."""
        if name not in {s.name for s in self.staged()}:
            self.staged_plan(name)  # raises the not-found error
        with self.version_lock(name):
            self._remove_all(name)

    def delete(self, name: str) -> None:
        """Delete a complete version: its zarr.json first (it disappears), then the rest."""
        bury(self, name, self.metadata(name))
        self._remove(f"{name}/zarr.json")
        self._remove_all(name)

    def _remove_all(self, name: str) -> None:
        self._remove(name)  # a discarded version: what a publish cut mid-copy left
        self._remove(staged_key(name))
        self._remove(tasks_key(name))
        self._remove(claim_key(name))
