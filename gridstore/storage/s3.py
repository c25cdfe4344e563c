"""A store in object storage: ``s3://bucket/prefix``, the local layout with objects for files.

Object storage has no rename, so publishing copies the staged objects into the
store server-side and writes the version's ``zarr.json`` last, with
``If-None-Match: *``: that one PUT is the moment the version appears. Names
are claimed and versions leased with conditional PUTs too, so two writers
never share a name and two processes never write one version at once.

Credentials and the endpoint come from the environment as for any AWS tool
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` for an S3-compatible server), so
worker processes and local Dask workers inherit them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from gridstore._faults import crash_point
from gridstore.errors import ConfigError, GridstoreError, StoreNotFoundError, VersionExistsError
from gridstore.storage.base import StoreBackend
from gridstore.storage.layout import lock_key, root_doc, staged_key
from gridstore.storage.lease import Lease, lease_live

__all__ = ["SCHEMES", "ObjectStore", "filesystem"]

SCHEMES = ("s3",)
# A writer renews its lease this often; another host takes a lease over once it
# has not been renewed for LEASE_STALE_SECONDS (by that host's clock, so the two
# clocks may disagree by up to the difference). On the writer's own host a
# lease is stale as soon as its process is gone.
LEASE_RENEW_SECONDS = 30.0
LEASE_STALE_SECONDS = 300.0
# No listing cache: other processes (workers, other writers) change the bucket.
STORAGE_OPTIONS: dict[str, Any] = {"use_listings_cache": False}


def filesystem() -> Any:
    """The (sync) fsspec s3 filesystem; fsspec caches it per process."""
    try:
        import fsspec

        return fsspec.filesystem("s3", **STORAGE_OPTIONS)
    except ImportError as err:
        msg = "object storage needs the s3 extra: pip install 'gridstore[s3]'"
        raise ConfigError(msg) from err


@functools.cache
def _whole_get(fs_type: type) -> tuple[tuple[str, Any], ...]:
    """Arguments that make a whole-object read of this s3fs one GET.

    s3fs 2025+ HEADs an object before reading it (to split a large one into
    concurrent ranges) unless ``max_concurrency=1``; older versions take no such
    argument and never HEAD. Every object of a store is read whole, and is small.
    """
    takes = "max_concurrency" in inspect.signature(fs_type._cat_file).parameters
    return (("max_concurrency", 1),) if takes else ()


class ObjectStore(StoreBackend):
    """A gridstore store in object storage, addressed as ``s3://bucket/prefix``.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix``.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        scheme, _, rest = url.partition("://")
        if scheme not in SCHEMES:
            msg = (f"unsupported URL scheme '{scheme}://' in '{url}'; a store is a local path "
                   "or s3://bucket/prefix")  # fmt: skip
            raise StoreNotFoundError(msg)
        rest = rest.strip("/")
        bucket, _, prefix = rest.partition("/")
        if not bucket or not prefix or "//" in rest:
            msg = f"store URL '{url}' needs a bucket and a prefix, like s3://bucket/datasets"
            raise StoreNotFoundError(msg)
        self.url = self.path = f"{scheme}://{rest}"
        self.bucket, self.root = bucket, rest
        self._leases: dict[str, Lease] = {}
        self._pending: list[concurrent.futures.Future[Any]] = []

    def __repr__(self) -> str:
        return f"ObjectStore('{self.url}')"

    @property
    def fs(self) -> Any:
        """The (sync) fsspec filesystem."""
        return filesystem()

    def _full(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, create: bool = False, missing_ok: bool = False) -> ObjectStore:
        """Open a store, or create it if ``create`` and the prefix is empty.

        Raises
        ------
        StoreNotFoundError
            No such bucket, a non-empty prefix that is not a store, no access,
            no connection.
        """
        store = cls(url)
        try:
            store._open_root(create, missing_ok)
        except GridstoreError:
            raise
        except PermissionError as err:
            msg = (f"access to store '{store.url}' denied; check the credentials "
                   "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)")  # fmt: skip
            raise StoreNotFoundError(msg) from err
        except Exception as err:  # connection, endpoint, DNS: botocore's own types
            first = (str(err).splitlines() or [""])[0]
            msg = (f"cannot reach store '{store.url}' ({type(err).__name__}: {first}); "
                   "check AWS_ENDPOINT_URL and the network")  # fmt: skip
            raise StoreNotFoundError(msg) from err
        return store

    def _open_root(self, create: bool, missing_ok: bool) -> None:
        raw = self._get("zarr.json")
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
            if self._list(""):
                # Not empty: a store that a concurrent writer made since the first read
                # (its zarr.json is its first object), or something else.
                raw = self._get("zarr.json")
                if raw is None:
                    msg = f"'{self.url}' is not a gridstore store (no zarr.json) and not empty; use a new or empty prefix"
                    raise StoreNotFoundError(msg)
            elif not create:
                if missing_ok:
                    return
                msg = f"store '{self.url}' does not exist; create one with 'gridstore generate --store {self.url}'"
                raise StoreNotFoundError(msg)
            else:
                self._create("zarr.json", root_doc())  # another process may have made it meanwhile
                raw = self._get("zarr.json") or b""
        self._check_root(raw)

    # -- primitives ----------------------------------------------------------------

    def _get(self, key: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self._full(key), **dict(_whole_get(type(self.fs)))))
        except FileNotFoundError:
            return None

    def has(self, key: str) -> bool:
        return bool(self.fs.exists(self._full(key)))  # one HEAD, not a download

    def _get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        paths = [self._full(k) for k in keys]
        got = self.fs.cat(paths, on_error="omit", **dict(_whole_get(type(self.fs))))
        return [got.get(p) for p in paths]

    def _put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._full(key), data)

    def _put_chunk(self, key: str, data: bytes) -> None:
        # Runs concurrently with the task's next chunks; record_task flushes first.
        fs = self.fs
        self._pending.append(
            asyncio.run_coroutine_threadsafe(fs._pipe_file(self._full(key), data), fs.loop)
        )

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _create(self, key: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(self._full(key), data, mode="create")
        except FileExistsError:
            return False
        return True

    def _list(self, prefix: str) -> list[str]:
        try:
            listing = self.fs.ls(self._full(prefix) + "/", detail=False)
        except FileNotFoundError:
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listing)

    def _below(self, prefix: str) -> dict[str, Any]:
        """Every object under ``prefix/`` (never a sibling sharing its stem), with its info.

        One listing per 1000 objects: a plain ``find(path)`` that lists nothing
        also HEADs ``path``, for every removal of a prefix that is not there.
        """
        parent, _, leaf = self._full(prefix).rstrip("/").rpartition("/")
        try:
            return dict(self.fs.find(parent, prefix=f"{leaf}/", detail=True))
        except FileNotFoundError:
            return {}

    def _sizes(self, prefix: str) -> dict[str, int]:
        base = self._full(prefix).rstrip("/") + "/"
        return {p[len(base) :]: int(i.get("size") or 0) for p, i in self._below(prefix).items()}

    def _remove(self, prefix: str) -> None:
        below = list(self._below(prefix))
        if below:
            self.fs.rm(below)  # one bulk delete per 1000
        with suppress(FileNotFoundError):
            self.fs.rm_file(self._full(prefix))

    def _copy(self, pairs: list[tuple[str, str]]) -> None:
        # One server-side CopyObject per object, 64 at a time; a missing source
        # raises (fsspec's list copy would skip it silently). Not _cp_file: it
        # HEADs each source first, to choose a multipart copy for objects over
        # 5 GB, which no chunk or zarr.json comes near.
        fs = self.fs

        async def copy_all() -> None:
            for i in range(0, len(pairs), 64):
                await asyncio.gather(
                    *(fs._copy_basic(self._full(s), self._full(d)) for s, d in pairs[i : i + 64])
                )

        asyncio.run_coroutine_threadsafe(copy_all(), fs.loop).result()

    def _publish(self, name: str) -> None:
        if name in self._leases:
            self._leases[name].check()
        staged = staged_key(name)
        exists = f"version '{name}' already exists in store '{self.url}'; not overwritten"
        if self._get(f"{name}/zarr.json") is not None:
            raise VersionExistsError(exists)
        doc = self._get(f"{staged}/zarr.json") or b""
        files = [k for k in self._sizes(staged) if k != "zarr.json"]
        self._copy([(f"{staged}/{k}", f"{name}/{k}") for k in files])
        crash_point("commit-before-publish")
        if not self._create(f"{name}/zarr.json", doc):
            raise VersionExistsError(exists)
        self._remove(staged)

    @contextmanager
    def version_lock(self, name: str) -> Iterator[None]:
        lease = Lease(self.fs, self._full(lock_key(name)), name,
                      renew_seconds=LEASE_RENEW_SECONDS, stale_seconds=LEASE_STALE_SECONDS)  # fmt: skip
        lease.acquire()
        self._leases[name] = lease
        try:
            yield
        finally:
            del self._leases[name]
            lease.release()

    def _writer_alive(self, name: str) -> bool:
        raw = self._get(lock_key(name))
        try:
            doc = json.loads(raw) if raw is not None else None
        except ValueError:
            doc = None
        return lease_live(doc, LEASE_STALE_SECONDS)
