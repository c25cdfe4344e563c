"""The HTTP server: routes, read-only methods, checked hosts, error pages; `serve`.

The standard library's ``ThreadingHTTPServer``: each request in a thread of its
own, so a slow page never holds up another; nothing to install. Only GET and
HEAD are served (every other method is 405: no route writes or deletes), and
only for a Host header naming the loopback address the server listens on (a
web page cannot reach it through DNS rebinding). Every page is also JSON at
the same path with ``.json`` appended, as Datasette does.
"""

from __future__ import annotations

import json
import sys
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gridstore.browse.app import Browser, Problem, check_params
from gridstore.browse.diffpage import diff_page
from gridstore.browse.html import esc, page
from gridstore.browse.imagepage import image_page
from gridstore.browse.pages import Rendered, store_page, version_page
from gridstore.browse.splitpage import count_data, split_page
from gridstore.errors import ConfigError, GridstoreError

__all__ = ["BrowseServer", "make_server", "serve"]

_ASSETS = {"style.css": "text/css; charset=utf-8", "browse.js": "text/javascript; charset=utf-8"}
_HEADERS = {
    # Every asset comes from this server; images are data: URIs. No inline script or style.
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def route(
    app: Browser, parts: list[str], params: dict[str, list[str]]
) -> Rendered | dict[str, Any]:
    """The page (or, for ``count``, the JSON) of a path's decoded segments; `Problem` 404 if none."""
    if not parts:
        check_params(params, [])
        return store_page(app)
    if parts == ["diff"]:
        return diff_page(app, params)
    if parts[0] == "v" and 2 <= len(parts) <= 4:
        version = parts[1]
        if len(parts) == 2:
            check_params(params, [])
            return version_page(app, version)
        split = parts[2]
        if len(parts) == 3:
            return split_page(app, version, split, params)
        if parts[3] == "count":
            return count_data(app, version, split, params)
        return image_page(app, version, split, parts[3], params)
    raise Problem(404, f"no page at '/{'/'.join(parts)}'; start at /")


class Handler(BaseHTTPRequestHandler):
    """One request: GET and HEAD only; anything else is 405."""

    server: BrowseServer
    server_version = "gridstore-browse"
    protocol_version = "HTTP/1.1"

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # any other method, known or made up: 405, not 501
            return self._refuse
        raise AttributeError(name)

    def _refuse(self) -> None:
        self._send(
            405,
            b"405: this server only reads (GET, HEAD)\n",
            "text/plain; charset=utf-8",
            {"Allow": "GET, HEAD"},
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a browsing session is not worth a log line per image page."""

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if self.server.loopback_only and host not in _LOOPBACK:
            self._send(
                400,
                b"400: this server answers only requests for its loopback address\n",
                "text/plain; charset=utf-8",
                head=head,
            )
            return
        split = urlsplit(self.path)
        path, as_json = split.path, split.path.endswith(".json")
        # Split first, then decode each segment: an encoded '/' stays inside its segment.
        parts = [unquote(p) for p in path.removesuffix(".json").strip("/").split("/") if p]
        if path == "/favicon.ico":  # browsers ask for one; there is none (and no console error)
            self._send(204, b"", "image/x-icon", head=head)
            return
        if parts[:1] == ["static"]:
            self._asset("/".join(unquote(p) for p in path.split("/")[2:]), head)
            return
        try:
            try:
                params = parse_qs(split.query, keep_blank_values=True, max_num_fields=64)
            except ValueError as err:
                raise Problem(400, f"bad query string: {err}") from err
            result = route(self.server.app, parts, params)
        except Problem as err:
            self._error(err.status, str(err), as_json, head)
            return
        except GridstoreError as err:  # the store failed under us (unreadable metadata, ...)
            self._error(500, str(err).splitlines()[0], as_json, head)
            return
        if isinstance(result, dict):  # JSON only (the count)
            self._json(200, result, head)
        elif as_json:
            self._json(result.status, result.data, head)
        else:
            html = page(result.title, result.body, result.crumbs)
            self._send(result.status, html.encode(), "text/html; charset=utf-8", head=head)

    def _asset(self, name: str, head: bool) -> None:
        if name not in _ASSETS:  # a fixed list: no path from a URL reaches the filesystem
            self._error(404, f"no asset '{name}'", False, head)
            return
        body = files("gridstore.browse").joinpath("static", name).read_bytes()
        self._send(200, body, _ASSETS[name], head=head)

    def _error(self, status: int, message: str, as_json: bool, head: bool) -> None:
        if as_json:
            self._json(status, {"error": message, "status": status}, head)
            return
        body = f'<h1>Error {status}</h1><p class="error" id="error">Error: {esc(message)}</p><p><a href="/">the store</a></p>'
        self._send(
            status, page(f"error {status}", body).encode(), "text/html; charset=utf-8", head=head
        )

    def _json(self, status: int, data: Any, head: bool) -> None:
        body = json.dumps(data, default=str).encode()
        self._send(status, body, "application/json", head=head)

    def _send(
        self,
        status: int,
        body: bytes,
        kind: str,
        extra: dict[str, str] | None = None,
        *,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        for key, value in {**_HEADERS, **(extra or {}), "Content-Type": kind}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class BrowseServer(ThreadingHTTPServer):
    """A threading HTTP server over one `Browser`; ``url`` is where it listens."""

    daemon_threads = True  # a browser's open keep-alive connection does not hold up Ctrl-C

    def __init__(self, app: Browser, host: str, port: int) -> None:
        self.app = app
        self.loopback_only = host in _LOOPBACK
        try:
            super().__init__((host, port), Handler)
        except OSError as err:
            msg = f"cannot listen on {host}:{port} ({err.strerror or err}); choose another --port (0 picks a free one)"
            raise ConfigError(msg) from err

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the server."""
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Report a request's error as the standard library does, unless the client went away.

        A browser that closes a tab, or a client that reads only the status line,
        closes its connection while the answer is written: not the server's error,
        and no traceback on the terminal of ``gridstore browse``.
        """
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self.app.close()


def make_server(store: str, host: str = "127.0.0.1", port: int = 0) -> BrowseServer:
    """Return a server of the store, listening but not yet serving (call ``serve_forever``).

    Parameters
    ----------
    store : str
        A local directory or an ``s3://bucket/prefix`` URL.
    host : str
        Address to listen on: the loopback address unless told otherwise.
    port : int
        Port; 0 picks a free one (see ``url``).

    Returns
    -------
    BrowseServer

    Raises
    ------
    StoreNotFoundError
        ``store`` is not a gridstore store.
    ConfigError
        The address cannot be listened on (the port is taken).
    """
    return BrowseServer(Browser(store), host, port)


def serve(
    store: str, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False
) -> None:
    """Serve the store until Ctrl-C (or SIGTERM), printing its URL first.

    Parameters
    ----------
    store : str
        A local directory or an ``s3://bucket/prefix`` URL.
    host, port
        Where to listen (see `make_server`).
    open_browser : bool
        Open the URL in the default web browser.

    Raises
    ------
    StoreNotFoundError, ConfigError
        As `make_server`.
    """
    server = make_server(store, host, port)
    print(f"gridstore browse: {store} at {server.url} (read-only; Ctrl-C stops it)", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("gridstore browse: stopped", file=sys.stderr, flush=True)
    finally:
        server.server_close()
