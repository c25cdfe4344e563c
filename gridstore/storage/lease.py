"""Leases of an object-storage store: which process writes a version, made with conditional PUTs.

A lease says which process is writing a version: created with ``If-None-Match: *``,
renewed in a thread with ``If-Match`` on its last ETag, and taken over from a
writer that is gone. :class:`gridstore.storage.s3.ObjectStore` chooses the key
and the timings.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import suppress
from typing import Any

from gridstore.errors import StoreLockedError

__all__ = ["Lease", "lease_live"]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def lease_live(doc: dict[str, Any] | None, stale_seconds: float) -> bool:
    """Return whether a lease record names a writer that may still be running.

    Parameters
    ----------
    doc : dict or None
        The lease record (None or anything else: no lease).
    stale_seconds : float
        On another host, a lease not renewed for this long is dead; on this
        host, a lease is dead as soon as its process is gone.

    Returns
    -------
    bool
    """
    if not isinstance(doc, dict):
        return False
    if doc.get("host") == socket.gethostname():
        return _pid_alive(int(doc.get("pid", 0)))
    return time.time() - float(doc.get("renewed", 0)) < stale_seconds


class Lease:
    """The lease object ``key`` on version ``name``: acquire, renew in a thread, release.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The s3 filesystem.
    key : str
        ``bucket/.../leases/<name>``.
    name : str
        The version leased (named in records and messages).
    renew_seconds : float
        Interval between renewals.
    stale_seconds : float
        Age after which another host's lease may be taken over (see `lease_live`).
    """

    def __init__(
        self, fs: Any, key: str, name: str, *, renew_seconds: float, stale_seconds: float
    ) -> None:
        self.fs, self.key, self.name = fs, key, name
        self.renew_seconds, self.stale_seconds = renew_seconds, stale_seconds
        self.token = uuid.uuid4().hex
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({"version": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                           "token": self.token, "renewed": time.time()}).encode()  # fmt: skip

    def acquire(self) -> None:
        """Create the lease, or take it over from a dead writer; start renewing it.

        Raises
        ------
        StoreLockedError
            A live writer holds it, or another process took it over first.
        """
        fs = self.fs
        try:
            self.etag = fs.pipe_file(self.key, self._record(), mode="create")["ETag"]
        except FileExistsError:
            try:
                etag = fs.info(self.key)["ETag"]
                holder = json.loads(fs.cat_file(self.key))
            except (FileNotFoundError, ValueError):
                holder, etag = None, None
            if holder is not None and lease_live(holder, self.stale_seconds):
                msg = (f"version '{self.name}' is locked by pid {holder.get('pid')} on host "
                       f"{holder.get('host')} ('s3://{self.key}'); wait for it to finish")  # fmt: skip
                raise StoreLockedError(msg) from None
            try:  # a dead writer's lease: take it over, unless someone else just did
                match = {"IfMatch": etag} if etag else {"mode": "create"}
                self.etag = fs.pipe_file(self.key, self._record(), **match)["ETag"]
            except (FileExistsError, OSError) as err:
                msg = f"version '{self.name}' was just taken over by another process; wait for it to finish"
                raise StoreLockedError(msg) from err
        self._thread = threading.Thread(
            target=self._renew, name=f"gridstore-lease-{self.name}", daemon=True
        )
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_seconds):
            try:
                self.etag = self.fs.pipe_file(self.key, self._record(), IfMatch=self.etag)["ETag"]
            except Exception:  # taken over (precondition failed) or unreachable: stop claiming it
                self.lost = True
                return

    def check(self) -> None:
        """Raise unless this process still holds the lease.

        Raises
        ------
        StoreLockedError
            A renewal failed: another process may have taken the version over.
        """
        if self.lost:
            msg = f"lost the lease on version '{self.name}' (not renewed in time); resume it to finish"
            raise StoreLockedError(msg)

    def release(self) -> None:
        """Stop renewing; delete the lease object if it is still this process's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost:
            return
        try:
            holder = json.loads(self.fs.cat_file(self.key))
        except (FileNotFoundError, ValueError):
            return
        if holder.get("token") == self.token:
            with suppress(FileNotFoundError):
                self.fs.rm_file(self.key)
