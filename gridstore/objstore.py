"""Stores in object storage: ``s3://bucket/prefix`` with the methods of :class:`gridstore.store.Store`.

The layout is the local one (docs/internals.md, "Object storage"): the store's
Zarr hierarchy under ``<prefix>/``, its bookkeeping beside it under
``.<leaf>.gridstore/`` (``claims/``, ``leases/``, ``staging/``, ``work/``).
Object storage has no rename, so a commit copies the staged objects into the
store server-side and writes the version's ``zarr.json`` last, with
``If-None-Match: *``: that one PUT is the moment the version appears. Names are
claimed and versions leased with conditional PUTs too, so two writers never
share a name and two processes never write one version at once.

Credentials and the endpoint come from the environment as for any AWS tool
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` for an S3-compatible server), so
worker processes and local Dask workers inherit them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gridstore._faults import crash_point
from gridstore._s3lease import Lease, claim_next, create_claim, lease_live
from gridstore.errors import (
    ConfigError,
    GridstoreError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.store import (
    _VERSION_RE,
    LAYOUT,
    StagedVersion,
    Store,
    chunk_encoder,
    create_hierarchy,
    holds_only_dot_files,
    parse_version_name,
)

__all__ = ["ObjectStore", "backend", "check_store_target", "is_url", "open_backend", "zarr_store"]

SCHEMES = ("s3",)
# A writer renews its lease this often; another host takes a lease over once it
# has not been renewed for LEASE_STALE_SECONDS (by that host's clock, so the two
# clocks may disagree by up to the difference). On the writer's own host a
# lease is stale as soon as its process is gone.
LEASE_RENEW_SECONDS = 30.0
LEASE_STALE_SECONDS = 300.0
# No listing cache: other processes (workers, other writers) change the bucket.
_STORAGE_OPTIONS: dict[str, Any] = {"use_listings_cache": False}


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(path, str) and "://" in path


def backend(path: str | os.PathLike[str]) -> Store | ObjectStore:
    """The store at ``path`` or URL, unchecked (for workers, after the driver opened it)."""
    return ObjectStore(path) if is_url(path) else Store(path)  # type: ignore[arg-type]


def open_backend(path: str | os.PathLike[str], *, create: bool = False) -> Store | ObjectStore:
    """Open the store at a local path (:class:`Store`) or an ``s3://`` URL (:class:`ObjectStore`).

    Raises
    ------
    StoreNotFoundError
        Not a store (see ``Store.open`` and ``ObjectStore.open``).
    """
    if is_url(path):
        return ObjectStore.open(path, create=create)  # type: ignore[arg-type]
    return Store.open(path, create=create)


def check_store_target(path: str | os.PathLike[str]) -> None:
    """Raise unless ``path`` is a store or a place where one can be created (before any work)."""
    if is_url(path):
        ObjectStore(path)._check(create=False, missing_ok=True)  # type: ignore[arg-type]
    elif Path(path).exists() and not holds_only_dot_files(Path(path)):
        Store.open(path)


def zarr_store(path: str | os.PathLike[str], *, read_only: bool = True) -> Any:
    """What ``zarr.open_group`` / ``zarr.open_array`` should open for a path or URL."""
    if not is_url(path):
        return os.fspath(path)
    from zarr.storage import FsspecStore

    options = dict(_STORAGE_OPTIONS)
    return FsspecStore.from_url(os.fspath(path), storage_options=options, read_only=read_only)


def _filesystem() -> Any:
    try:
        import fsspec

        return fsspec.filesystem("s3", **_STORAGE_OPTIONS)
    except ImportError as err:
        msg = "object storage needs the s3 extra: pip install 'gridstore[s3]'"
        raise ConfigError(msg) from err


def _state(doc: Any) -> Any:
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    return attrs.get("state") if isinstance(attrs, dict) else None


class ObjectStore:
    """A gridstore store in object storage, addressed as ``s3://bucket/prefix``.

    The same methods as :class:`gridstore.store.Store`; ``path`` is the URL.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix`` (a prefix is required: the bookkeeping lives beside it).
    """

    def __init__(self, url: str) -> None:
        scheme, _, rest = url.partition("://")
        if scheme not in SCHEMES:
            msg = (f"unsupported URL scheme '{scheme}://' in '{url}'; a store is a local path "
                   "or s3://bucket/prefix")  # fmt: skip
            raise StoreNotFoundError(msg)
        rest = rest.strip("/")
        bucket, _, prefix = rest.partition("/")
        if not bucket or not prefix or "//" in rest:
            msg = (f"store URL '{url}' needs a bucket and a prefix, like s3://bucket/datasets "
                   "(the store's bookkeeping lives beside the prefix)")  # fmt: skip
            raise StoreNotFoundError(msg)
        self.url = self.path = f"{scheme}://{rest}"
        self.bucket, self.root = bucket, rest
        parent, _, leaf = rest.rpartition("/")
        self.sidecar = f"{parent}/.{leaf}.gridstore"
        self._leases: dict[str, Lease] = {}
        self._pending: list[concurrent.futures.Future[Any]] = []

    def __repr__(self) -> str:
        return f"ObjectStore('{self.url}')"

    @property
    def fs(self) -> Any:
        """The (sync) fsspec filesystem; fsspec caches it per process."""
        return _filesystem()

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> ObjectStore:
        """Open a store, or create it if ``create`` and the prefix is empty.

        Raises
        ------
        StoreNotFoundError
            No such bucket, a non-empty prefix that is not a store, no access,
            no connection.
        """
        store = cls(url)
        store._check(create=create)
        return store

    def _check(self, *, create: bool, missing_ok: bool = False) -> None:
        try:
            self._check_root(create, missing_ok)
        except GridstoreError:
            raise
        except PermissionError as err:
            msg = (f"access to store '{self.url}' denied; check the credentials "
                   "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)")  # fmt: skip
            raise StoreNotFoundError(msg) from err
        except Exception as err:  # connection, endpoint, DNS: botocore's own types
            first = (str(err).splitlines() or [""])[0]
            msg = (f"cannot reach store '{self.url}' ({type(err).__name__}: {first}); "
                   "check AWS_ENDPOINT_URL and the network")  # fmt: skip
            raise StoreNotFoundError(msg) from err

    def _check_root(self, create: bool, missing_ok: bool) -> None:
        raw = self._get(f"{self.root}/zarr.json")
        if raw is None:
            if not self.fs.exists(self.bucket):
                msg = (f"bucket '{self.bucket}' of store '{self.url}' does not exist or is not "
                       "accessible with these credentials; create the bucket first")  # fmt: skip
                raise StoreNotFoundError(msg)
            if self.fs.isfile(self.root):
                msg = (
                    f"store URL '{self.url}' names an object, not a prefix; choose another --store"
                )
                raise StoreNotFoundError(msg)
            if self._children(self.root):
                msg = f"'{self.url}' is not a gridstore store (no zarr.json) and not empty; use a new or empty prefix"
                raise StoreNotFoundError(msg)
            if not create:
                if missing_ok:
                    return
                msg = f"store '{self.url}' does not exist; create one with 'gridstore generate --store {self.url}'"
                raise StoreNotFoundError(msg)
            raw = self._create()
        try:
            attrs = json.loads(raw)["attributes"]["gridstore"]
            layout = attrs["layout"]
        except (KeyError, TypeError, ValueError):
            msg = f"'{self.url}/zarr.json' is not a gridstore store's root (unreadable or no gridstore attributes)"
            raise StoreNotFoundError(msg) from None
        if layout != LAYOUT:
            msg = f"store '{self.url}' has layout {layout!r}; this gridstore reads layout {LAYOUT}"
            raise StoreNotFoundError(msg)

    def _create(self) -> bytes:
        doc = {
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {"gridstore": {"layout": LAYOUT}},
        }
        raw = json.dumps(doc, indent=2).encode()  # the bytes Store._create writes
        try:
            self.fs.pipe_file(f"{self.root}/zarr.json", raw, mode="create")
        except FileExistsError:  # created by another process meanwhile
            return bytes(self.fs.cat_file(f"{self.root}/zarr.json"))
        return raw

    # -- small object helpers ----------------------------------------------------

    def _get(self, path: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(path))
        except FileNotFoundError:
            return None

    def _get_many(self, paths: list[str]) -> list[bytes | None]:
        """Objects fetched concurrently; None for each that does not exist."""
        if not paths:
            return []
        got = self.fs.cat(paths, on_error="omit")
        return [got.get(p) for p in paths]

    def _json_many(self, paths: list[str]) -> list[Any]:
        out = []
        for raw in self._get_many(paths):
            try:
                out.append(None if raw is None else json.loads(raw))
            except ValueError:
                out.append(None)
        return out

    def _put_json(self, path: str, value: Any, **kwargs: Any) -> Any:
        return self.fs.pipe_file(
            path, json.dumps(value, indent=2, sort_keys=True).encode(), **kwargs
        )

    def _children(self, prefix: str) -> list[str]:
        """Names of the objects and sub-prefixes directly under ``prefix``."""
        try:
            return [
                p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(prefix + "/", detail=False)
            ]
        except FileNotFoundError:
            return []

    def _rm(self, prefix: str) -> None:
        """Remove every object under ``prefix/`` (never a sibling sharing its stem)."""
        with suppress(FileNotFoundError):
            self.fs.rm(prefix.rstrip("/") + "/", recursive=True)

    def _rm_object(self, path: str) -> None:
        with suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def _du(self, prefix: str) -> int:
        try:
            found = self.fs.find(prefix.rstrip("/") + "/", detail=True)
        except FileNotFoundError:
            return 0
        return sum(int(info.get("size") or 0) for info in found.values())

    def _staging(self, name: str) -> str:
        return f"{self.sidecar}/staging/{name}"

    def _work(self, name: str) -> str:
        return f"{self.sidecar}/work/{name}"

    def _tasks(self, name: str) -> str:
        return f"{self._work(name)}/tasks"

    def _claim_key(self, name: str) -> str:
        return f"{self.sidecar}/claims/{name}"  # see claim_next

    def _lease_key(self, name: str) -> str:
        return f"{self.sidecar}/leases/{name}"

    def _array(self, name: str, split: str, array: str) -> Any:
        return _open_array(f"s3://{self.root}/{name}", f"{split}/{array}")

    def _claims(self) -> list[str]:
        return [n for n in self._children(f"{self.sidecar}/claims") if _VERSION_RE.match(n)]

    def _complete(self, name: str) -> bool:
        raw = self._get(f"{self.root}/{name}/zarr.json")
        try:
            return raw is not None and _state(json.loads(raw)) == "complete"
        except ValueError:
            return False

    def _is_staged(self, name: str) -> bool:
        return self._get(self._claim_key(name)) is not None and not self._complete(name)

    # -- listing ---------------------------------------------------------------

    def versions(self) -> list[str]:
        """Complete versions, oldest first: those whose ``zarr.json`` says complete."""
        names = [n for n in self._children(self.root) if _VERSION_RE.match(n)]
        docs = self._json_many([f"{self.root}/{n}/zarr.json" for n in names])
        done = [n for n, doc in zip(names, docs, strict=True) if _state(doc) == "complete"]
        return sorted(done, key=parse_version_name)

    def metadata(self, name: str) -> dict[str, Any]:
        """A complete version's metadata (its group attributes).

        Raises
        ------
        VersionNotFoundError, VersionIncompleteError
        """
        raw = self._get(f"{self.root}/{name}/zarr.json")
        try:
            doc = None if raw is None else json.loads(raw)
        except ValueError as err:
            msg = (f"metadata object '{self.url}/{name}/zarr.json' is corrupt ({type(err).__name__}); "
                   "the version cannot be trusted")  # fmt: skip
            raise StoreNotFoundError(msg) from err
        if _state(doc) != "complete":
            if doc is not None or self._get(self._claim_key(name)) is not None:
                msg = (f"version '{name}' is unfinished; resume it with 'gridstore generate --resume {name}' "
                       "or delete it")  # fmt: skip
                raise VersionIncompleteError(msg)
            available = ", ".join(self.versions()) or "none"
            msg = f"version '{name}' not found in store '{self.url}'; available: {available}"
            raise VersionNotFoundError(msg)
        return dict(doc["attributes"])  # type: ignore[index]

    def staged(self) -> list[StagedVersion]:
        """Versions under way or interrupted (claimed, not complete), with whether a writer holds them."""
        done = set(self.versions())
        names = sorted(n for n in self._claims() if n not in done)
        plans = self._json_many([f"{self._work(n)}/plan.json" for n in names])
        leases = self._json_many([self._lease_key(n) for n in names])
        return [StagedVersion(n, lease_live(lease, LEASE_STALE_SECONDS), plan)
                for n, plan, lease in zip(names, plans, leases, strict=True)]  # fmt: skip

    # -- writing ---------------------------------------------------------------

    @contextmanager
    def version_lock(self, name: str) -> Iterator[None]:
        """Lease held while this process writes version ``name`` (renewed in a thread).

        Raises
        ------
        StoreLockedError
            A live writer holds it (or took it over from this one).
        """
        lease = Lease(self.fs, self._lease_key(name), name,
                      renew_seconds=LEASE_RENEW_SECONDS, stale_seconds=LEASE_STALE_SECONDS)  # fmt: skip
        lease.acquire()
        self._leases[name] = lease
        try:
            yield
        finally:
            del self._leases[name]
            lease.release()

    def claim_version(self, name: str | None = None, today: dt.date | None = None) -> str:
        """Reserve a version name by creating ``claims/<name>`` exclusively.

        ``name``, or the next free ``YYYY-MM-DD-vN`` of today (a name taken by a
        concurrent claimer is skipped). The claim outlives the commit, so a name
        is never handed out twice, even while its version is being committed.

        Raises
        ------
        VersionExistsError
            ``name`` is already a version (complete or staged).
        """
        try:
            taken = set(self.versions()) | set(self._claims())
            if name is None:
                return claim_next(
                    self.fs, f"{self.sidecar}/claims", today or dt.date.today(), taken
                )
            parse_version_name(name)
            if name in taken or not self._claim(name):
                msg = f"version '{name}' already exists in store '{self.url}'; choose another --version or omit it"
                raise VersionExistsError(msg)
            return name
        except PermissionError as err:
            msg = f"store '{self.url}' is not writable (access denied); it can only be read"
            raise StoreNotFoundError(msg) from err

    def _claim(self, name: str) -> bool:
        return create_claim(self.fs, self._claim_key(name), name)

    def create_arrays(
        self, name: str, plan_dict: dict[str, Any], shapes: dict[str, dict[str, tuple]]
    ) -> None:
        """Create the staged version's groups and empty arrays; record its plan."""
        from zarr.storage import MemoryStore

        _encoder.cache_clear()  # a discarded version of this name may be cached
        _open_array.cache_clear()
        docs: dict[str, Any] = {}  # zarr writes the metadata here; uploaded in one batch
        create_hierarchy(MemoryStore(docs), name, shapes)
        staged = self._staging(name)
        self._rm(staged)
        self.fs.pipe({f"{staged}/{key}": buf.to_bytes() for key, buf in docs.items()})
        self._put_json(f"{self._work(name)}/plan.json", plan_dict)

    def staged_plan(self, name: str) -> dict[str, Any]:
        """The plan recorded for a staged version.

        Raises
        ------
        VersionNotFoundError
            No staged version of that name.
        """
        raw = self._get(f"{self._work(name)}/plan.json") if self._is_staged(name) else None
        if raw is None:
            staged = ", ".join(s.name for s in self.staged()) or "none"
            msg = f"no unfinished version '{name}' in store '{self.url}' to resume; unfinished: {staged}"
            raise VersionNotFoundError(msg)
        return dict(json.loads(raw))

    def write_chunk(self, name: str, split: str, array: str, chunk: int, data: np.ndarray) -> None:
        """Encode (as zarr would) and PUT chunk ``chunk`` of a staged array.

        The PUT runs concurrently with the task's next chunks; ``record_task``
        waits for all of them before it marks the task done. A PUT stores the
        whole object or nothing, so a killed writer leaves no partial chunk.
        """
        array_dir = f"{self._staging(name)}/{split}/{array}"
        encode, ndim = _encoder(array_dir)
        path = _chunk_path(array_dir, chunk, ndim)
        fs = self.fs
        self._pending.append(
            asyncio.run_coroutine_threadsafe(fs._pipe_file(path, encode(data)), fs.loop)
        )

    def _flush(self) -> None:
        """Wait for this process's chunk PUTs; raise the first error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def read_rows(self, name: str, split: str, array: str, start: int, stop: int) -> np.ndarray:
        """Read rows of a complete version's array."""
        return np.asarray(self._array(name, split, array)[start:stop])

    def record_task(
        self, name: str, index: int, result: dict[str, Any], hashes: dict[str, np.ndarray]
    ) -> None:
        """Mark a task done, with its statistics and content hashes (the JSON, written last, marks it)."""
        self._flush()  # the task's chunks are stored before its record
        buf = io.BytesIO()
        np.savez(buf, **hashes)  # type: ignore[arg-type]
        tasks = self._tasks(name)
        self.fs.pipe_file(f"{tasks}/{index}.npz", buf.getvalue())
        self._put_json(f"{tasks}/{index}.json", result)

    def _task_files(self, name: str, suffix: str) -> list[str]:
        return sorted(n for n in self._children(self._tasks(name)) if n.endswith(suffix))

    def task_results(self, name: str) -> dict[int, dict[str, Any]]:
        """Results of the finished tasks of a staged version, by task index."""
        files = self._task_files(name, ".json")
        docs = self._json_many([f"{self._tasks(name)}/{f}" for f in files])
        return {
            int(f.removesuffix(".json")): d
            for f, d in zip(files, docs, strict=True)
            if d is not None
        }

    def task_hashes(self, name: str) -> Iterator[dict[str, np.ndarray]]:
        """Content hashes of each finished task (one dict of split -> hashes per task)."""
        paths = [f"{self._tasks(name)}/{f}" for f in self._task_files(name, ".npz")]
        for i in range(0, len(paths), 32):  # fetched 32 at a time: concurrent, bounded memory
            for raw in self._get_many(paths[i : i + 32]):
                if raw is None:
                    msg = f"a task record of version '{name}' vanished while reading it; resume the version"
                    raise VersionNotFoundError(msg)
                with np.load(io.BytesIO(raw)) as data:
                    yield {k: data[k] for k in data.files}

    def staged_bytes(self, name: str) -> int:
        """Bytes stored for a staged version."""
        return self._du(self._staging(name))

    def array_bytes(self, name: str, split: str, array: str) -> int:
        """Bytes stored for one staged array."""
        return self._du(f"{self._staging(name)}/{split}/{array}")

    def copy_chunk(self, source: str, name: str, split: str, chunk: int) -> None:
        """Copy chunk ``chunk`` of every array of a split from a complete version (server-side)."""
        src_split, dst_split = f"{self.root}/{source}/{split}", f"{self._staging(name)}/{split}"
        arrays = sorted(self._children(src_split))
        metas = self._json_many([f"{src_split}/{a}/zarr.json" for a in arrays])
        keys = [_chunk_path(a, chunk, len(m["shape"]))
                for a, m in zip(arrays, metas, strict=True) if isinstance(m, dict) and "shape" in m]  # fmt: skip
        self.fs.copy([f"{src_split}/{k}" for k in keys], [f"{dst_split}/{k}" for k in keys])

    def commit(self, name: str, metadata: dict[str, Any]) -> None:
        """Copy the staged version into the store, then write its ``zarr.json`` (the commit).

        Until that last PUT the version has no ``zarr.json`` in the store, so
        gridstore readers do not list it; a crash before it leaves a staged
        version that a resume commits again (the copies are idempotent).

        Raises
        ------
        VersionExistsError
            A version of that name appeared meanwhile (never overwritten).
        StoreLockedError
            This process lost its lease (another took the version over).
        """
        if name in self._leases:
            self._leases[name].check()
        final, staged = f"{self.root}/{name}", self._staging(name)
        exists = f"version '{name}' already exists in store '{self.url}'; not overwritten"
        if self._get(f"{final}/zarr.json") is not None:
            raise VersionExistsError(exists)
        doc = json.loads(self.fs.cat_file(f"{staged}/zarr.json"))
        doc["attributes"] = {**metadata, "state": "complete"}
        files = [p for p in self.fs.find(staged + "/") if p != f"{staged}/zarr.json"]
        self.fs.copy(files, [final + p[len(staged) :] for p in files])
        crash_point("commit-copied")
        try:
            self.fs.pipe_file(
                f"{final}/zarr.json", json.dumps(doc, indent=2).encode(), mode="create"
            )
        except FileExistsError:
            raise VersionExistsError(exists) from None
        self._rm(staged)
        self._rm(self._work(name))  # the claim stays: the name is never handed out again

    def discard(self, name: str) -> None:
        """Remove an unfinished version, its records and its claim."""
        if not self._is_staged(name):
            self.staged_plan(name)  # raises the not-found error
        with self.version_lock(name):
            self._rm_all(name)

    def delete(self, name: str) -> None:
        """Delete a complete version: its ``zarr.json`` first (it disappears), then the rest."""
        self.metadata(name)
        self._rm_object(f"{self.root}/{name}/zarr.json")
        self._rm_all(name)

    def _rm_all(self, name: str) -> None:
        """Remove every object of version ``name``: in the store, staged, records, claim."""
        self._rm(f"{self.root}/{name}")  # a discarded version: what a commit cut mid-copy left
        self._rm(self._staging(name))  # a deleted one: left if a commit died after its last PUT
        self._rm(self._work(name))
        self._rm_object(self._claim_key(name))

    def chunk_key(self, name: str, split: str, array: str, chunk: int) -> str:
        """The store key of chunk ``chunk`` (along images) of an array."""
        return _chunk_path(f"{name}/{split}/{array}", chunk, self._array(name, split, array).ndim)


def _chunk_path(array_dir: str, chunk: int, ndim: int) -> str:
    """Key of chunk ``chunk`` along images of an ``ndim``-d array at ``array_dir``."""
    return "/".join([array_dir, "c", str(chunk), *["0"] * (ndim - 1)])


@lru_cache(maxsize=64)
def _encoder(array_dir: str) -> tuple[Any, int]:
    """Chunk encoder of the staged array at ``bucket/...`` (see gridstore.store.chunk_encoder)."""
    meta = json.loads(_filesystem().cat_file(f"{array_dir}/zarr.json"))
    return chunk_encoder(meta, f"s3://{array_dir}")


@lru_cache(maxsize=256)
def _open_array(url: str, path: str) -> Any:
    import zarr

    return zarr.open_array(store=zarr_store(url), path=path, mode="r", zarr_format=3)
