"""A fault-injecting HTTP proxy in front of the moto S3 server, for tests.

moto answers every request correctly and at once; real servers do not. The proxy runs
as threads of the test process on a loopback port, and every client that is pointed at
it (``AWS_ENDPOINT_URL``: this process, spawned writers, pool workers) sees the mode
the test thread sets, from its next request on. Each mode models one behaviour:

``off``
    Pure pass-through.
``aws412``
    AWS S3's ``412 PreconditionFailed`` body, whose ``<Condition>`` names the failed
    header (s3fs turns an ``If-None-Match`` one into ``FileExistsError``).
``minio412``
    MinIO's 412 body, which has no ``<Condition>`` (s3fs raises a plain ``OSError``,
    errno ``EINVAL``): clients must recognise a lost create race by the code alone.
``conflict409``
    AWS's ``409 ConditionalRequestConflict``, its answer to concurrent conditional
    writes to one key: the first conditional PUT of each key is refused, unapplied.
``lost500``
    A response lost after the write was applied: the first conditional PUT of each key,
    and every ``every``-th plain PUT, reach moto, then the answer is replaced by ``500``.
    botocore retries it, so a conditional create then sees a 412 for its own write.
``slowdown503``
    Throttling (``503 SlowDown``), unapplied: the first conditional PUT of each key and
    every ``every``-th other request.
``garble``
    A body damaged in transit: every ``every``-th GET is forwarded, and one byte of its
    body is flipped on the way back, headers (and the checksum they declare) unchanged.
``delay``
    A slow server: every request waits ``delay`` seconds before it is forwarded (or
    until `FaultProxy.release_delayed`, which lets a test hold requests for as long as
    it needs).

A request whose body ends early (its client died mid-upload) is never forwarded, as
no real server applies it. `FaultProxy.wait_until` tells a test when the proxy has
finished with requests (``done``: answered or dropped; ``cut``: dropped so).

With both ``aws412`` and ``minio412`` on, rewritten 412s alternate between the two forms.
Outside them, a 412 reaches the client as moto wrote it, which is
AWS's form. Standard library only; one upstream connection per client connection.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import socketserver
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

__all__ = ["KINDS", "MODES", "FaultProxy", "fault_mode"]

MODES = ("off", "aws412", "minio412", "conflict409", "lost500", "slowdown503", "garble", "delay")
KINDS = ("412-aws", "412-minio", "409", "lost-500", "503", "garbled", "delay")

# Framing is per hop: the proxy reads whole bodies and re-frames them with Content-Length.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate"}
_HOP_BY_HOP |= {"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}
# Expect is answered here (100 Continue): upstream gets the whole body at once.
_NOT_FORWARDED = _HOP_BY_HOP | {"expect", "content-length"}
_PRECONDITION = "At least one of the pre-conditions you specified did not hold"
_INTERNAL = "We encountered an internal error. Please try again."
_CONFLICT = "A conflicting conditional operation is currently in progress against this resource. Please try again."


def _error_xml(code: str, message: str, **fields: str) -> bytes:
    """An S3 ``<Error>`` document, with fresh RequestId and HostId."""
    fields = {"Code": code, "Message": message, **fields}
    fields.update(RequestId=uuid.uuid4().hex[:16].upper(), HostId=uuid.uuid4().hex)
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


class FaultProxy:
    """Forwards HTTP requests to `upstream`, injecting faults according to its mode.

    Parameters
    ----------
    upstream : str
        Base URL of the real server, like ``"http://127.0.0.1:5000"``.

    Attributes
    ----------
    url : str
        Where clients reach the proxy, ``"http://127.0.0.1:<port>"`` (set by `start`).
    mode : str
        The current mode, one of `MODES`.
    injected : dict of str to int
        Faults injected since `set_mode`, by kind (`KINDS`).
    requests : int
        Requests seen since `set_mode`.
    done : int
        Requests the proxy has finished with (answered, or dropped), in all.
    cut : int
        Of those, requests dropped because their body ended early (never forwarded).
    upstream : str
        The real server's base URL.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.upstream = upstream
        self.url = ""
        self.mode = "off"
        self._modes: frozenset[str] = frozenset({"off"})
        self.every, self.delay = 3, 0.2
        self._matching: re.Pattern[str] | None = None  # the requests faults may meet
        self._limit: int | None = None  # at most this many every-th faults
        self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.requests = 0
        self.done = self.cut = 0
        self._seen: list[str] | None = None  # the requests' targets, while `recording`
        self._attempts: dict[str, int] = {}  # conditional PUTs seen, by key
        self._count = 0  # requests eligible for the every-th fault
        self._gets = 0  # GETs eligible for the every-th garbled body
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified when `done` grows
        self._wake = threading.Event()  # set: delayed requests go on at once
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FaultProxy:
        """Bind a free port on 127.0.0.1, serve in daemon threads, and return self."""
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end the open client connections (their threads then exit)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            clients = list(server.clients)
        for sock in clients:  # idle keep-alive handlers would otherwise wait forever
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[str]]:
        """The requests that reach the proxy inside the block, as ``"METHOD /path?query"``."""
        seen: list[str] = []
        with self._lock:
            self._seen = seen
        try:
            yield seen
        finally:
            with self._lock:
                self._seen = None

    def set_mode(
        self,
        mode: str,
        *,
        every: int = 3,
        delay: float = 0.2,
        matching: str | None = None,
        limit: int | None = None,
    ) -> None:
        """Switch to `mode`, resetting the per-key memory and counters.

        ``mode`` is one of `MODES` or several joined by ``+`` (as a real server
        misbehaves in several ways at once). Then each conditional PUT meets the
        faults of ``conflict409``, ``lost500`` and ``slowdown503`` that are on, one
        per attempt in that order; every ``every``-th plain request meets one of
        the ``lost500`` or ``slowdown503`` faults; ``delay`` delays every request.
        ``matching`` (a regular expression searched in ``"METHOD /path?query"``)
        narrows the requests that meet any fault (the delay too) to those it finds,
        and ``limit`` caps how many every-th faults are injected.
        """
        modes = frozenset(mode.split("+"))
        if not modes <= set(MODES):
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}, joined by +")
        with self._lock:
            self.mode, self.every, self.delay = mode, max(1, every), delay
            self._matching = re.compile(matching) if matching is not None else None
            self._limit = limit
            self._modes = modes
            self.injected.update(dict.fromkeys(KINDS, 0))
            self.requests, self._count, self._gets = 0, 0, 0
            self._attempts.clear()
            self._wake.clear()

    def release_delayed(self) -> None:
        """Let every request waiting in ``delay`` go on now (until the next `set_mode`)."""
        self._wake.set()

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Wait until ``ready()`` (asked again each time the proxy finishes with a request);
        False if ``timeout`` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(ready, timeout)

    def _finished(self, *, cut: bool) -> None:
        with self._changed:
            self.done += 1
            self.cut += cut
            self._changed.notify_all()

    def _decide(
        self, method: str, key: str, conditional: bool, target: str
    ) -> tuple[str | None, bool]:
        """Count one request (``target`` is its ``"METHOD /path?query"``); return the
        fault to inject into it (a `KINDS` name or None) and whether to delay it."""
        with self._lock:
            self.requests += 1
            if self._seen is not None:
                self._seen.append(target)
            modes, fault = self._modes, None
            aimed = self._matching is None or self._matching.search(target) is not None
            if aimed and conditional:  # the n-th attempt at a key meets the n-th fault that is on
                gauntlet = [m for m in ("conflict409", "lost500", "slowdown503") if m in modes]
                attempt = self._attempts.get(key, 0)
                self._attempts[key] = attempt + 1
                if attempt < len(gauntlet):
                    fault = {"conflict409": "409", "lost500": "lost-500"}.get(
                        gauntlet[attempt], "503"
                    )
            elif aimed and ("slowdown503" in modes or ("lost500" in modes and method == "PUT")):
                self._count += 1
                faulted = self.injected["503"] + self.injected["lost-500"]
                if self._count % self.every == 0 and (self._limit is None or faulted < self._limit):
                    fault = "503" if "slowdown503" in modes else "lost-500"
            if fault is None and aimed and "garble" in modes and method == "GET":
                self._gets += 1
                if self._gets % self.every == 0:
                    fault = "garbled"
            delay = "delay" in modes and aimed
            for kind in (fault, "delay" if delay else None):
                if kind:
                    self.injected[kind] += 1
            return fault, delay

    def _412_form(self) -> str | None:
        """The form of the next rewritten 412 ("412-aws" or "412-minio"), or None: with both
        modes on, the forms alternate, as when servers of both kinds serve one store."""
        with self._lock:
            forms = [
                k for m, k in (("aws412", "412-aws"), ("minio412", "412-minio")) if m in self._modes
            ]
            if not forms:
                return None
            kind = forms[sum(self.injected[k] for k in forms) % len(forms)]
            self.injected[kind] += 1
            return kind


@contextlib.contextmanager
def fault_mode(proxy: FaultProxy, mode: str, **kw: Any) -> Iterator[FaultProxy]:
    """Run the block in `mode` (keywords as for `FaultProxy.set_mode`), then back to "off".

    Leaving only switches the mode off: ``injected`` and ``requests`` keep their counts,
    so the test can check them after the block.
    """
    proxy.set_mode(mode, **kw)
    try:
        yield proxy
    finally:
        with proxy._lock:
            proxy.mode, proxy._modes = "off", frozenset({"off"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of new connections from several processes

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.clients: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own would look the host name up (socket.getfqdn): slow, unneeded.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client going away is normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100 Continue answered by the base class
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.upstream: http.client.HTTPConnection | None = None
        with self.server.proxy._lock:
            self.server.clients.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()
            with self.server.proxy._lock:
                self.server.clients.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: thousands of requests per second pass."""

    def _read_body(self) -> bytes | None:
        """The request body, de-chunked; None when the request has none."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline(65537).split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                if len(parts[-1]) < size:  # the client died mid-upload
                    raise ConnectionResetError("the client went away before the end of its body")
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers: dropped
            return b"".join(parts)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        body = self.rfile.read(int(length))
        if len(body) < int(length):  # the client died mid-upload: a server stores nothing
            raise ConnectionResetError("the client went away before the end of its body")
        return body

    def _forward(self, body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream; a stale kept-alive connection is reopened once."""
        while True:
            fresh = self.upstream is None
            if fresh:
                self.upstream = http.client.HTTPConnection(*self.server.proxy._upstream)
            conn = self.upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():  # Host included: it is signed
                    if name.lower() not in _NOT_FORWARDED:
                        conn.putheader(name, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                return resp.status, resp.reason, resp.getheaders(), resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.upstream = None
                if fresh:
                    raise

    def _reply(
        self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str = ""
    ) -> None:
        self.send_response_only(status, reason or None)
        bodyless = self.command == "HEAD" or status in (204, 304)
        for name, value in headers:
            # A HEAD answer keeps upstream's Content-Length: the size of the object.
            if name.lower() not in _HOP_BY_HOP and (bodyless or name.lower() != "content-length"):
                self.send_header(name, value)
        if not bodyless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not bodyless:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._reply(status, [("Content-Type", "application/xml")], _error_xml(code, message))

    def do_any(self) -> None:
        """Handle one request of any method (and say when it is done with it)."""
        cut = False
        try:
            self._handle()
        except ConnectionResetError:  # the client died mid-upload: nothing was forwarded
            cut = True
            raise
        finally:
            self.server.proxy._finished(cut=cut)

    def _handle(self) -> None:
        """Read the request, maybe fault it, forward it, answer."""
        proxy = self.server.proxy
        body = self._read_body()  # read even when refused, to keep the connection in step
        bucket, _, key = unquote(urlsplit(self.path).path).lstrip("/").partition("/")
        if_match = "If-Match" in self.headers
        conditional = self.command == "PUT" and (if_match or "If-None-Match" in self.headers)
        fault, delay = proxy._decide(
            self.command, f"{bucket}/{key}", conditional, f"{self.command} {self.path}"
        )
        if delay:
            proxy._wake.wait(proxy.delay)
        if fault == "409":
            return self._error(409, "ConditionalRequestConflict", _CONFLICT)
        if fault == "503":
            return self._error(503, "SlowDown", "Please reduce your request rate.")
        try:
            status, reason, headers, data = self._forward(body)
        except (OSError, http.client.HTTPException) as exc:
            return self._error(502, "BadGateway", f"upstream failed: {exc!r}")
        if fault == "lost-500":  # applied upstream; the client never learns it
            return self._error(500, "InternalError", _INTERNAL)
        if fault == "garbled" and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        kind = proxy._412_form() if status == 412 and self.command != "HEAD" else None
        if kind is not None:
            if kind == "412-aws":  # AWS names the failed header
                extra = {"Condition": "If-Match" if if_match else "If-None-Match"}
            else:  # MinIO names the object instead
                extra = {"Key": key, "BucketName": bucket, "Resource": f"/{bucket}/{key}"}
            data = _error_xml("PreconditionFailed", _PRECONDITION, **extra)
            headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
            headers.append(("Content-Type", "application/xml"))
        self._reply(status, headers, data, reason)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_any
