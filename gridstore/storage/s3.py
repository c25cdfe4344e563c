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
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from gridstore._faults import crash_point
from gridstore.errors import (
    ConfigError,
    GridstoreError,
    StoreNotFoundError,
    StoreUnavailableError,
    VersionExistsError,
)
from gridstore.storage.base import StoreBackend
from gridstore.storage.layout import lock_key, root_doc, staged_key
from gridstore.storage.lease import Lease, lease_holder, lease_live, lease_matches, taken_over
from gridstore.storage.s3client import describe, found, get_object, put_if, retrying, run

__all__ = ["SCHEMES", "ObjectStore", "filesystem"]

SCHEMES = ("s3",)
# Requests in flight at once for reads and copies of many objects.
CONCURRENCY = 64
# For readers (zarr's FsspecStore): no listing cache, since other processes
# (workers, other writers) change the bucket; a connection per request in flight;
# one GET per object (with more than one transfer per file, s3fs 2025+ asks each
# object's size first, a HEAD, to read a large one in ranges: chunks are small).
STORAGE_OPTIONS: dict[str, Any] = {
    "use_listings_cache": False,
    "config_kwargs": {"max_pool_connections": CONCURRENCY},
    "max_concurrency": 1,
}
# The backend's own: botocore makes one attempt per request, and s3client's
# `retrying` decides what is retried and for how long (one policy, one deadline).
_BACKEND_OPTIONS: dict[str, Any] = {
    "use_listings_cache": False,
    "config_kwargs": {"max_pool_connections": CONCURRENCY, "retries": {"total_max_attempts": 1}},
}


def lease_seconds() -> float:
    """Age after which another host may take over a writer's lease (renewed every tenth of it).

    By the other host's clock, so clocks that disagree shift it by the
    difference; on the writer's own host a lease is stale as soon as its
    process is gone. ``GRIDSTORE_S3_LEASE_SECONDS`` overrides the default 300 s.
    """
    return float(os.environ.get("GRIDSTORE_S3_LEASE_SECONDS", "300"))


def filesystem() -> Any:
    """The (sync) fsspec s3 filesystem; fsspec caches it per process."""
    try:
        import fsspec

        return fsspec.filesystem("s3", **_BACKEND_OPTIONS)
    except ImportError as err:
        msg = "object storage needs the s3 extra: pip install 'gridstore[s3]'"
        raise ConfigError(msg) from err


def _unreachable(url: str, err: BaseException) -> StoreNotFoundError:
    msg = f"cannot reach store '{url}' ({describe(err)}); check AWS_ENDPOINT_URL and the network"
    return StoreNotFoundError(msg)


class ObjectStore(StoreBackend):
    """A gridstore store in object storage, addressed as ``s3://bucket/prefix``.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix``.
    """

    publishes_by_copy = True

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
        self.bucket, self.prefix, self.root = bucket, prefix, rest
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
        except StoreUnavailableError as err:  # failing since the first request: say where
            raise _unreachable(store.url, err.__cause__ or err) from err
        except GridstoreError:
            raise
        except PermissionError as err:
            msg = (f"access to store '{store.url}' denied; check the credentials "
                   "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)")  # fmt: skip
            raise StoreNotFoundError(msg) from err
        except Exception as err:  # connection, endpoint, DNS: botocore's own types
            raise _unreachable(store.url, err) from err
        return store

    def _open_root(self, create: bool, missing_ok: bool) -> None:
        raw = self._get("zarr.json")
        if raw is None:
            fs, bucket, prefix = self.fs, self.bucket, self.prefix
            if not run(fs, retrying(lambda: found(fs, "head_bucket", Bucket=bucket))):
                msg = (f"bucket '{self.bucket}' of store '{self.url}' does not exist or is not "
                       "accessible with these credentials; create the bucket first")  # fmt: skip
                raise StoreNotFoundError(msg)
            if run(fs, retrying(lambda: found(fs, "head_object", Bucket=bucket, Key=prefix))):
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
        found = run(self.fs, get_object(self.fs, self._full(key)))  # one GET, no HEAD
        return found[0] if found is not None else None

    def has(self, key: str) -> bool:
        fs = self.fs
        return bool(run(self.fs, retrying(lambda: fs._exists(self._full(key)))))  # a HEAD

    def _get_many(self, keys: list[str]) -> list[bytes | None]:
        fs = self.fs

        async def get_all() -> list[bytes | None]:
            gate = asyncio.Semaphore(CONCURRENCY)  # made on the loop that uses it

            async def get(key: str) -> bytes | None:
                async with gate:
                    found = await get_object(fs, self._full(key))
                return found[0] if found is not None else None

            return list(await asyncio.gather(*(get(k) for k in keys)))

        return run(self.fs, get_all()) if keys else []

    async def _aput(self, key: str, data: bytes) -> None:
        bucket, path, _ = self.fs.split_path(self._full(key))
        fs = self.fs
        await retrying(lambda: fs._call_s3("put_object", Bucket=bucket, Key=path, Body=data))

    def _put(self, key: str, data: bytes) -> None:
        run(self.fs, self._aput(key, data))

    def _put_chunk(self, key: str, data: bytes) -> None:
        # Runs concurrently with the task's next chunks; record_task flushes first.
        self._pending.append(asyncio.run_coroutine_threadsafe(self._aput(key, data), self.fs.loop))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _create(self, key: str, data: bytes) -> bool:
        return run(self.fs, put_if(self.fs, self._full(key), data)) is not None

    def _list(self, prefix: str) -> list[str]:
        fs, path = self.fs, self._full(prefix) + "/"
        try:
            listing = run(self.fs, retrying(lambda: fs._ls(path, detail=False)))
        except FileNotFoundError:
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listing)

    def _below(self, prefix: str) -> dict[str, Any]:
        """Every object under ``prefix/`` (never a sibling sharing its stem), with its info.

        One listing per 1000 objects: a plain ``find(path)`` that lists nothing
        also HEADs ``path``, for every removal of a prefix that is not there.
        """
        fs = self.fs
        parent, _, leaf = self._full(prefix).rstrip("/").rpartition("/")
        try:
            return dict(
                run(self.fs, retrying(lambda: fs._find(parent, prefix=f"{leaf}/", detail=True)))
            )
        except FileNotFoundError:
            return {}

    def _sizes(self, prefix: str) -> dict[str, int]:
        base = self._full(prefix).rstrip("/") + "/"
        return {p[len(base) :]: int(i.get("size") or 0) for p, i in self._below(prefix).items()}

    def _remove(self, prefix: str) -> None:
        fs, below, path = self.fs, list(self._below(prefix)), self._full(prefix)
        if below:
            run(self.fs, retrying(lambda: fs._rm(below)))  # one bulk delete per 1000
        with suppress(FileNotFoundError):
            run(self.fs, retrying(lambda: fs._rm_file(path)))

    def _copy(self, pairs: list[tuple[str, str]]) -> None:
        # One server-side CopyObject per object, CONCURRENCY at a time; a missing
        # source raises (fsspec's list copy would skip it silently). Not _cp_file:
        # it HEADs each source first, to choose a multipart copy for objects over
        # 5 GB, which no chunk or zarr.json comes near.
        fs = self.fs

        async def copy(source: str, dest: str) -> None:
            await retrying(lambda: fs._copy_basic(self._full(source), self._full(dest)))

        async def copy_all() -> None:
            for i in range(0, len(pairs), CONCURRENCY):
                await asyncio.gather(*(copy(s, d) for s, d in pairs[i : i + CONCURRENCY]))

        run(self.fs, copy_all())

    def _publish(self, name: str, copied: bool = False) -> None:
        # Fenced: the lease is re-read before the copy and again right before the
        # publishing PUT, which is itself conditional, so a writer that stalled
        # past its lease and was taken over never publishes or rewrites a version.
        lease = self._leases[name]
        staged = staged_key(name)
        exists = f"version '{name}' already exists in store '{self.url}'; not overwritten"
        if self._get(f"{name}/zarr.json") is not None:
            raise VersionExistsError(exists)
        doc = self._get(f"{staged}/zarr.json") or b""
        files = [] if copied else [k for k in self._sizes(staged) if k != "zarr.json"]
        lease.verify()
        self._copy([(f"{staged}/{k}", f"{name}/{k}") for k in files])
        crash_point("commit-before-publish")
        lease.verify()
        if not self._create(f"{name}/zarr.json", doc):
            raise VersionExistsError(exists)
        self._remove(staged)

    @contextmanager
    def version_lock(self, name: str) -> Iterator[None]:
        stale = lease_seconds()
        lease = Lease(self.fs, self._full(lock_key(name)), name,
                      renew_seconds=stale / 10, stale_seconds=stale)  # fmt: skip
        lease.acquire()
        self._leases[name] = lease
        try:
            yield
        finally:
            del self._leases[name]
            lease.release()

    def fence(self, name: str) -> str | None:
        return self._leases[name].token

    def check_fence(self, name: str, fence: str) -> None:
        if not lease_matches(self._get(lock_key(name)), fence):
            # Writes in flight when this writer stalled may land after the taker
            # published and cleared the staging area: clear what they left there.
            with suppress(Exception):
                self._flush()
            if name in self.versions():
                self._remove(staged_key(name))
            raise taken_over(name)

    def _writer_alive(self, name: str) -> bool:
        return lease_live(lease_holder(self._get(lock_key(name))), lease_seconds())
