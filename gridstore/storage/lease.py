"""Leases of an object-storage store: which process writes a version, made with conditional PUTs.

A lease record names its writer (a token unique to the process's lease, its
host and pid) and a generation. It is created with ``If-None-Match: *``,
renewed in a thread with ``If-Match`` on its last ETag, and taken over from a
writer that is gone by a PUT conditional on the dead writer's ETag, which
raises the generation by one. A writer that stalls past its lease loses it:
every task and the publishing step re-read the record first and stop unless
it still carries this writer's token and generation.
:class:`gridstore.storage.s3.ObjectStore` chooses the key and the timings.
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
from gridstore.storage.s3client import get_object, put_if, run

__all__ = ["Lease", "lease_holder", "lease_live", "lease_matches", "taken_over"]


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


def lease_holder(raw: bytes | None) -> dict[str, Any] | None:
    """The record in a lease object's bytes, or None if there is none or it is unreadable."""
    try:
        doc = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Lease:
    """The lease object ``key`` on version ``name``: acquire, renew in a thread, verify, release.

    Parameters
    ----------
    fs : s3fs.S3FileSystem
        The s3 filesystem (its event loop runs every request).
    key : str
        ``bucket/.../locks/<name>``.
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
        self.generation = 0
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({"version": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                           "token": self.token, "generation": self.generation,
                           "renewed": time.time()}).encode()  # fmt: skip

    def _locked(self, holder: dict[str, Any]) -> StoreLockedError:
        return StoreLockedError(
            f"version '{self.name}' is locked by pid {holder.get('pid')} on host "
            f"{holder.get('host')} ('s3://{self.key}'); wait for it to finish"
        )

    def acquire(self) -> None:
        """Create the lease, or take it over from a dead writer; start renewing it.

        Raises
        ------
        StoreLockedError
            A live writer holds it, or another process took it over first.
        """
        self.generation = 1
        self.etag = run(self.fs, put_if(self.fs, self.key, self._record()))
        if self.etag is None:
            found = run(self.fs, get_object(self.fs, self.key))
            holder = lease_holder(found[0] if found else None)
            if holder is not None and lease_live(holder, self.stale_seconds):
                raise self._locked(holder) from None
            # A dead writer's lease: take it over, unless someone else just did.
            self.generation = int((holder or {}).get("generation", 0)) + 1
            etag = found[1] if found else None
            self.etag = run(self.fs, put_if(self.fs, self.key, self._record(), etag))
            if self.etag is None:
                msg = f"version '{self.name}' was just taken over by another process; wait for it to finish"
                raise StoreLockedError(msg)
        self._thread = threading.Thread(
            target=self._renew, name=f"gridstore-lease-{self.name}", daemon=True
        )
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_seconds):
            try:
                self.etag = run(self.fs, put_if(self.fs, self.key, self._record(), self.etag))
            except Exception:  # unreachable past the retry deadline: stop claiming it
                self.etag = None
            if self.etag is None:  # taken over: stop claiming it
                self.lost = True
                return

    def verify(self) -> None:
        """Re-read the lease; raise unless it still carries this writer's token and generation.

        Raises
        ------
        StoreLockedError
            The lease was lost or taken over (this writer stalled past it).
        """
        found = run(self.fs, get_object(self.fs, self.key)) if not self.lost else None
        if lease_matches(found[0] if found else None, self.token, self.generation):
            return
        self.lost = True
        raise taken_over(self.name)

    def release(self) -> None:
        """Stop renewing; delete the lease object if it is still this writer's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost:
            return
        found = run(self.fs, get_object(self.fs, self.key))
        if lease_matches(found[0] if found else None, self.token, self.generation):
            with suppress(FileNotFoundError):
                self.fs.rm_file(self.key)


def taken_over(name: str) -> StoreLockedError:
    """The error of a writer whose lease another process holds now."""
    return StoreLockedError(
        f"version '{name}' was taken over by another process while this one was stalled "
        "(its lease expired); this process stops without recording or publishing anything"
    )


def lease_matches(raw: bytes | None, token: str, generation: int | None = None) -> bool:
    """Whether a lease object's bytes carry ``token`` (and ``generation``, if given)."""
    holder = lease_holder(raw)
    if holder is None or holder.get("token") != token:
        return False
    return generation is None or holder.get("generation") == generation
