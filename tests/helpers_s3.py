"""A real S3-compatible server for the tests: moto's, as its own process on 127.0.0.1
(with S3's atomic conditional writes: :mod:`tests.helpers_moto_server`).

Clients reach it through a fault-injecting proxy (:mod:`tests.helpers_s3proxy`),
off unless a test sets a mode (``faults`` fixture), and find the proxy through the
standard AWS environment (AWS_ENDPOINT_URL and test credentials), which spawned
workers and killed-and-resumed writers inherit. Nothing is mocked: every call is
an HTTP request to that server.

A test module imports the fixtures it needs (``from tests.helpers_s3 import
s3_endpoint_fixture``); each is registered under its short name (``s3_endpoint``,
``bucket``) so that test parameters do not shadow the import. A session fixture
imported into two modules is set up once per module: the server itself is shared
(one per process), since fsspec caches one s3 filesystem per process, made for the
endpoint it first saw.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import moto.server  # noqa: F401 - the server runs as `python -m moto.server` (test extra)
import pytest
import s3fs  # noqa: F401 - gridstore's s3 backend needs it

from tests.helpers_s3proxy import FaultProxy

__all__ = [
    "bucket_fixture",
    "faults_fixture",
    "new_bucket",
    "s3_endpoint_fixture",
    "s3_fs",
    "s3_objects",
    "the_proxy",
]

SERVER = Path(__file__).with_name("helpers_moto_server.py")  # moto's, conditional writes atomic
# The one server of this process: its URL, and how many session fixtures use it.
_SERVER: dict[str, Any] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    for _ in range(5):  # the free port may be taken between probing and binding: retry
        port = _free_port()
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, str(SERVER), "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                return proc, url
            except OSError:
                time.sleep(0.1)
        proc.kill()
        proc.wait()
    pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session", name="s3_endpoint")
def s3_endpoint_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server process on a free loopback port behind the fault proxy, and the
    environment that points at the proxy."""
    if not _SERVER:
        proc, upstream = _start_server(tmp_path_factory.mktemp("moto") / "server.log")
        proxy = FaultProxy(upstream).start()
        _SERVER.update(proc=proc, proxy=proxy, url=proxy.url, upstream=upstream, users=0)
    _SERVER["users"] += 1
    env = {
        "AWS_ENDPOINT_URL": _SERVER["url"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
                mp.delenv(key, raising=False)
            yield _SERVER["url"]
    finally:
        _SERVER["users"] -= 1
        if not _SERVER["users"]:
            proc = _SERVER.pop("proc")
            _SERVER.pop("proxy").stop()
            _SERVER.clear()
            proc.terminate()
            proc.wait(timeout=10)


def the_proxy() -> FaultProxy:
    """The fault proxy in front of this process's server (after ``s3_endpoint``)."""
    return _SERVER["proxy"]  # type: ignore[no-any-return]


@pytest.fixture(name="faults")
def faults_fixture(s3_endpoint: str) -> Iterator[FaultProxy]:
    """The fault proxy, for a test to set a mode on; off again afterwards."""
    yield the_proxy()
    the_proxy().set_mode("off")


def s3_fs() -> Any:
    """The sync s3 filesystem of the tests' own looks at the bucket: straight to the server,
    past the proxy and its faults, and without a listing cache (other processes change it)."""
    import fsspec

    return fsspec.filesystem("s3", use_listings_cache=False, endpoint_url=_SERVER["upstream"])


def new_bucket() -> str:
    """Create a new, empty bucket and return its name."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3_fs().mkdir(name)
    return name


@pytest.fixture(name="bucket")
def bucket_fixture(s3_endpoint: str) -> str:
    """A new, empty bucket."""
    return new_bucket()


def s3_objects(prefix: str) -> list[str]:
    """Every object under ``prefix`` (``s3://`` optional), as ``bucket/key``, sorted."""
    try:
        return sorted(s3_fs().find(prefix.removeprefix("s3://").rstrip("/") + "/"))
    except FileNotFoundError:
        return []
