"""moto's S3 server with S3's atomic conditional writes: run as ``python tests/helpers_moto_server.py``.

moto checks a PUT's ``If-None-Match`` / ``If-Match`` and then writes, with no
lock between, on a threaded server: two writers creating one key at the same
moment can both get 200. S3 (and MinIO) never allow that, and gridstore's
version claims and leases rely on it. A suite run caught moto doing it: two
processes both created ``claims/2026-12-07-v3`` (both PUTs 200 in the server
log). So every object PUT runs under one lock here; nothing else changes, and
clients still talk HTTP to moto's own server.
"""

from __future__ import annotations

import threading
from typing import Any

import moto.backends
import moto.server
from moto.s3.responses import S3Response

_put_object = S3Response.put_object
_one_put_at_a_time = threading.Lock()


def _atomic_put_object(self: S3Response) -> Any:
    with _one_put_at_a_time:  # the condition's check and the write, as one step
        return _put_object(self)


S3Response.put_object = _atomic_put_object  # type: ignore[method-assign]

# moto finds each request's service by listing its own package directory, twice per
# request and under a lock that serialises every request: a fifth of the server's CPU.
# The directory does not change while it runs: list it once.
_MODULES = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _MODULES

if __name__ == "__main__":
    moto.server.main()
