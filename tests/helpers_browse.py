"""A `gridstore browse` server of a real store, running in a thread of the test process."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gridstore.browse import BrowseServer, make_server

__all__ = ["count_when_done", "get", "request", "running"]


@contextmanager
def running(store: str) -> Iterator[BrowseServer]:
    """A server of ``store`` on a free loopback port, serving until the block ends."""
    server = make_server(store, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def request(
    server: BrowseServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    """One request: status, body text and headers."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=60)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        conn.close()


def get(server: BrowseServer, path: str, **params: Any) -> tuple[int, str]:
    """GET ``path`` with query ``params`` (a list value repeats the parameter)."""
    pairs = [(k, x) for k, v in params.items() for x in (v if isinstance(v, list) else [v])]
    query = urllib.parse.urlencode(pairs)
    status, body, _ = request(server, path + (f"?{query}" if query else ""))
    return status, body


def count_when_done(
    server: BrowseServer, version: str, split: str, where: list[str]
) -> dict[str, Any]:
    """The count endpoint's answer once the background count is done."""
    deadline = time.monotonic() + 60
    while True:
        status, body = get(server, f"/v/{version}/{split}/count", where=where)
        assert status == 200, body
        got = json.loads(body)
        if got["done"] or time.monotonic() > deadline:
            return dict(got)
        time.sleep(0.05)
