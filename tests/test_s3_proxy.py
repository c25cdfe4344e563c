"""The fault-injecting proxy: each mode, seen through the real clients (boto3 and s3fs).

The tests talk to their own moto server through their own proxy, with clients built
for it explicitly (not through AWS_ENDPOINT_URL, which other fixtures point at moto).
"""

from __future__ import annotations

import errno
import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import s3fs
from botocore.config import Config
from botocore.exceptions import ClientError, FlexibleChecksumError

from tests.helpers_s3 import _start_server
from tests.helpers_s3proxy import KINDS, FaultProxy, fault_mode

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# "max_attempts" counts retries, not attempts: 1 would still retry a 500 or 503 once.
NO_RETRY = Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module", name="proxy")
def proxy_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultProxy]:
    """A proxy in front of a moto server of this module's own."""
    server, url = _start_server(tmp_path_factory.mktemp("moto-proxy") / "server.log")
    proxy = FaultProxy(url).start()
    try:
        yield proxy
    finally:
        proxy.stop()
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(name="client")
def client_fixture(proxy: FaultProxy) -> Iterator[Callable[..., Any]]:
    """Make boto3 s3 clients that reach moto through the proxy, or ``url`` (closed at teardown)."""
    made: list[Any] = []

    def make(config: Config | None = None, url: str | None = None) -> Any:
        session = boto3.session.Session(region_name="us-east-1", **CREDS)
        made.append(session.client("s3", endpoint_url=url or proxy.url, config=config))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture(name="fs")
def fs_fixture(proxy: FaultProxy) -> s3fs.S3FileSystem:
    """An s3fs filesystem of its own, through the proxy."""
    return s3fs.S3FileSystem(
        endpoint_url=proxy.url,
        key="testing",
        secret="testing",
        skip_instance_cache=True,
        use_listings_cache=False,
        client_kwargs={"region_name": "us-east-1"},
    )


@pytest.fixture(name="bucket")
def bucket_fixture(proxy: FaultProxy, client: Callable[..., Any]) -> str:
    """A new bucket, made with the proxy off, which is how each test starts."""
    proxy.set_mode("off")
    name = f"p-{uuid.uuid4().hex[:16]}"
    client().create_bucket(Bucket=name)
    return name


def answered(response: dict[str, Any]) -> dict[str, str]:
    """A response's headers, less those that differ from one answer to the next."""
    per_response = {"date", "x-amzn-requestid", "connection", "keep-alive"}
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return {k: v for k, v in headers.items() if k not in per_response}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, str]:
    return exc.value.response["Error"]


def test_off_passes_everything_through(
    proxy: FaultProxy, client: Callable[..., Any], fs: s3fs.S3FileSystem, bucket: str
) -> None:
    s3 = client()
    big = os.urandom(5 * 2**20)
    put = s3.put_object(Bucket=bucket, Key="big", Body=big, Metadata={"m": "v"})
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    head = s3.head_object(Bucket=bucket, Key="big")  # a HEAD keeps its Content-Length
    assert (head["ContentLength"], head["ETag"], head["Metadata"]) == (
        len(big),
        put["ETag"],
        {"m": "v"},
    )
    fs.pipe_file(f"{bucket}/dir/small", bytes(range(256)))
    assert fs.cat_file(f"{bucket}/dir/small") == bytes(range(256))
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "big",
        "dir/small",
    ]
    assert fs.ls(f"{bucket}/dir", detail=False) == [f"{bucket}/dir/small"]
    s3.delete_object(Bucket=bucket, Key="big")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="big")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert proxy.requests >= 9 and not any(proxy.injected.values())
    # What the proxy passed on is what the server holds: read it there, not through the proxy;
    # and the server's answers come back whole (every header but the per-response ones).
    direct = client(url=proxy.upstream)
    assert [o["Key"] for o in direct.list_objects_v2(Bucket=bucket)["Contents"]] == ["dir/small"]
    for op in ("get_object", "head_object"):
        through = getattr(s3, op)(Bucket=bucket, Key="dir/small")
        assert answered(through) == answered(getattr(direct, op)(Bucket=bucket, Key="dir/small"))
    assert direct.get_object(Bucket=bucket, Key="dir/small")["Body"].read() == bytes(range(256))


def test_chunked_and_expect_continue_requests(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))  # moto takes unsigned requests
    try:
        conn.request(
            "PUT", f"/{bucket}/chunked", body=iter([b"ab", b"", b"cde" * 1000]), encode_chunked=True
        )
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    finally:
        conn.close()
    # Expect: the proxy says 100 Continue before the body is sent, then the real answer.
    with socket.create_connection((host, int(port))) as sock:
        head = f"PUT /{bucket}/expect HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        sock.sendall(head.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(b"xyz")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200")
    s3 = client()
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"ab" + b"cde" * 1000
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == b"xyz"


def test_a_client_that_dies_mid_upload_stores_nothing(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    """As a real server: a PUT whose body ends early (its writer was killed) is not applied.

    The proxy says when it is done with the request: only then is the server asked (not
    after a guessed pause), and the proxy says it dropped it unforwarded.
    """
    host, port = proxy.url.removeprefix("http://").split(":")
    for framing, body in (
        ("Content-Length: 10", b"abc"),
        ("Transfer-Encoding: chunked", b"a\r\nabc"),
    ):
        done, cut = proxy.done, proxy.cut
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                f"PUT /{bucket}/cut HTTP/1.1\r\nHost: {host}\r\n{framing}\r\n\r\n".encode()
            )
            sock.sendall(body)  # then the connection closes: the client is gone
        assert proxy.wait_until(lambda n=done: proxy.done > n), "the proxy never ended it"
        with pytest.raises(ClientError) as exc:
            client(url=proxy.upstream).head_object(Bucket=bucket, Key="cut")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert proxy.cut == cut + 1  # dropped, not forwarded
    # The same request whole is stored: what kept it out was its cut body.
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"PUT /{bucket}/cut HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabc".encode()
        )
        assert sock.recv(1000).startswith(b"HTTP/1.1 200")
    assert client().get_object(Bucket=bucket, Key="cut")["Body"].read() == b"abc"


@pytest.mark.parametrize(("mode", "aws"), [("aws412", True), ("minio412", False)])
def test_412_in_aws_and_minio_forms(
    proxy: FaultProxy,
    client: Callable[..., Any],
    fs: s3fs.S3FileSystem,
    bucket: str,
    mode: str,
    aws: bool,
) -> None:
    s3 = client(NO_RETRY)
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    proxy.set_mode(mode)
    # s3fs knows a lost create race only by AWS's <Condition>: with MinIO's, EINVAL.
    with pytest.raises(OSError, match="pre-conditions") as raised:
        fs.pipe_file(f"{bucket}/k", b"new", mode="create")
    assert isinstance(raised.value, FileExistsError) is aws
    assert aws or raised.value.errno == errno.EINVAL
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"new", IfNoneMatch="*")
    assert error_of(exc)["Code"] == "PreconditionFailed"
    assert error_of(exc).get("Condition") == ("If-None-Match" if aws else None)
    assert aws or (error_of(exc)["Key"], error_of(exc)["BucketName"]) == ("k", bucket)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"new", IfMatch='"not-the-etag"')
    assert error_of(exc).get("Condition") == ("If-Match" if aws else None)
    assert proxy.injected["412-aws" if aws else "412-minio"] == 3
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_conflict409_refuses_the_first_conditional_put_of_each_key(
    proxy: FaultProxy, client: Callable[..., Any], fs: s3fs.S3FileSystem, bucket: str
) -> None:
    s3 = client(NO_RETRY)
    proxy.set_mode("conflict409")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")
    assert error_of(exc)["Code"] == "ConditionalRequestConflict"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # refused, not applied
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")  # the retry passes
    s3.put_object(Bucket=bucket, Key="plain", Body=b"2")  # unconditional: untouched
    assert proxy.injected["409"] == 1
    # Neither botocore nor s3fs retries a 409: s3fs raises a plain OSError (EIO).
    with pytest.raises(OSError, match="ConditionalRequestConflict") as raised:
        fs.pipe_file(f"{bucket}/other", b"3", mode="create")
    assert not isinstance(raised.value, FileExistsError)
    assert proxy.injected["409"] == 2


def test_lost500_applies_the_write_and_loses_the_answer(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    s3 = client()  # default retries: the retry of the applied create meets its own object
    proxy.set_mode("lost500")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"mine", IfNoneMatch="*")
    assert error_of(exc)["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"mine"
    assert (proxy.injected["lost-500"], proxy.requests) == (1, 3)
    proxy.set_mode("lost500", every=3)  # plain PUTs: every third answer is lost
    once = client(NO_RETRY)
    once.put_object(Bucket=bucket, Key="p1", Body=b"1")
    once.put_object(Bucket=bucket, Key="p2", Body=b"2")
    with pytest.raises(ClientError) as exc:
        once.put_object(Bucket=bucket, Key="p3", Body=b"3")
    assert error_of(exc)["Code"] == "InternalError"
    assert once.get_object(Bucket=bucket, Key="p3")["Body"].read() == b"3"
    assert proxy.injected["lost-500"] == 1


def test_slowdown503_is_retried_by_botocore(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    proxy.set_mode("slowdown503", every=1000)
    client().put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")
    assert (proxy.injected["503"], proxy.requests) == (1, 2)
    once = client(NO_RETRY)
    with pytest.raises(ClientError) as exc:
        once.put_object(Bucket=bucket, Key="k2", Body=b"2", IfNoneMatch="*")
    assert error_of(exc)["Code"] == "SlowDown"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    proxy.set_mode("slowdown503", every=2)  # any method: the second GET is refused
    assert once.get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"
    with pytest.raises(ClientError, match="SlowDown"):
        once.get_object(Bucket=bucket, Key="k")
    assert proxy.injected["503"] == 1


def test_garble_damages_a_body_and_the_checksum_catches_it(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    s3 = client(NO_RETRY)
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
    proxy.set_mode("garble", every=2)  # the second GET's body has its first byte flipped
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"
    with pytest.raises(FlexibleChecksumError):
        s3.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert proxy.injected["garbled"] == 1


def test_delay_slows_every_request(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    """A delayed request waits its delay; one sent meanwhile with the mode off overtakes it.

    Events, not durations, decide: the delayed request is held (a delay of 10 minutes)
    until the one sent after it has been answered, then released.
    """
    s3 = client()
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    proxy.set_mode("delay", delay=0.05)
    start = time.monotonic()
    s3.head_object(Bucket=bucket, Key="k")
    assert time.monotonic() - start >= 0.05  # a lower bound: a busy machine only adds to it
    assert proxy.injected["delay"] == proxy.requests == 1
    proxy.set_mode("delay", delay=600)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(client().head_object, Bucket=bucket, Key="k")
        try:
            deadline = time.monotonic() + 60
            while proxy.injected["delay"] < 1:  # the proxy holds it
                assert time.monotonic() < deadline and not held.done(), "never reached the proxy"
                time.sleep(0.01)
            delayed = dict(proxy.injected)
            proxy.set_mode("off")
            assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1  # not held
            assert not held.done()  # still waiting in the proxy
            assert (proxy.injected["delay"], proxy.requests) == (0, 1)
        finally:
            proxy.release_delayed()
        assert held.result(timeout=60)["ContentLength"] == 1
    assert delayed == {**dict.fromkeys(KINDS, 0), "delay": 1}


def test_fault_mode_applies_to_other_processes_and_restores_off(
    proxy: FaultProxy, client: Callable[..., Any], bucket: str
) -> None:
    code = (
        "import sys, boto3, botocore.config, botocore.exceptions as e\n"
        "s3 = boto3.client('s3', config=botocore.config.Config(retries={'total_max_attempts': 1}))\n"
        "try: s3.put_object(Bucket=sys.argv[1], Key='k', Body=b'1', IfNoneMatch='*')\n"
        "except e.ClientError as x: print(x.response['Error']['Code'])\n"
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url, "AWS_DEFAULT_REGION": "us-east-1"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    with fault_mode(proxy, "conflict409") as p:
        assert p is proxy and proxy.mode == "conflict409"
        run = subprocess.run(
            [sys.executable, "-c", code, bucket],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.strip() == "ConditionalRequestConflict"
    assert proxy.mode == "off" and proxy.injected["409"] == 1  # the counts outlive the block
    once = client(NO_RETRY)  # off again: a first conditional PUT passes
    once.put_object(Bucket=bucket, Key="k2", Body=b"2", IfNoneMatch="*")
    assert proxy.injected["409"] == 1
    with pytest.raises(ValueError, match="unknown mode"):
        proxy.set_mode("flaky")
    assert proxy.mode == "off"  # a refused mode changes nothing
