"""What an S3 server's answer means, the same on every server.

Servers answer the same situation differently, and a client cannot tell some
answers apart without looking at the object:

- a failed conditional PUT is a 412 whose body names the failed condition on
  AWS and does not on MinIO (s3fs raises FileExistsError for one and
  ``OSError(EINVAL)`` for the other);
- AWS answers concurrent conditional writes to one key with 409
  ConditionalRequestConflict, meaning "try again";
- a PUT that was applied but whose answer was lost is retried by botocore and
  then fails its own condition with a 412.

So every conditional PUT here carries bytes unique to its writer (a token),
and any precondition failure is settled by reading the object back: our own
bytes mean our write landed. Conflicts, throttling (503 SlowDown), server
errors, timeouts and bodies that fail the response checksum (corrupted or
cut short in transit) are retried with exponential backoff until a deadline.
Errors are told apart by their HTTP status and code (botocore's
``ClientError``, which s3fs keeps as the translated error's cause), never by
their message.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gridstore.errors import StoreUnavailableError

__all__ = [
    "CONFLICT",
    "PRECONDITION",
    "TRANSIENT",
    "classify",
    "describe",
    "found",
    "get_object",
    "put_if",
    "retry_deadline",
    "retrying",
    "run",
]

T = TypeVar("T")
PRECONDITION, CONFLICT, TRANSIENT = "precondition", "conflict", "transient"
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}
)


def retry_deadline() -> float:
    """Seconds a request is retried for before its error is raised.

    ``GRIDSTORE_S3_RETRY_SECONDS`` overrides the default of 120 s (an outage
    longer than that is reported, not waited out).
    """
    return float(os.environ.get("GRIDSTORE_S3_RETRY_SECONDS", "120"))


def _answer(err: BaseException) -> tuple[int | None, str | None]:
    """The HTTP status and S3 error code behind ``err`` (or its causes), if any."""
    seen: BaseException | None = err
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return status, response.get("Error", {}).get("Code")
        seen = seen.__cause__ or seen.__context__
    return None, None


def _network_error(err: BaseException) -> bool:
    # Imported here: botocore and aiohttp come with the s3 extra only.
    from aiohttp import ClientError as AiohttpError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import (
        FlexibleChecksumError,
        HTTPClientError,
        IncompleteReadError,
        ResponseStreamingError,
    )

    network = (TimeoutError, ConnectionError, HTTPClientError, BotoConnectionError, AiohttpError)
    # A body that fails its checksum or ends early was damaged on the way: read it again.
    damaged = (FlexibleChecksumError, IncompleteReadError, ResponseStreamingError)
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, network + damaged):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(err: BaseException) -> str:
    """An error in one line, for a message: its type and its message's first line."""
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"


def classify(err: BaseException) -> str | None:
    """What an error from an S3 request means.

    Returns
    -------
    str or None
        ``PRECONDITION`` (a conditional write's condition did not hold, in any
        server's form), ``CONFLICT`` (a concurrent conditional write: retry),
        ``TRANSIENT`` (throttling, a server error, a timeout, a body damaged
        in transit: retry), or None
        (anything else, such as a missing object or denied access).
    """
    if isinstance(err, StoreUnavailableError):  # retried until its deadline already
        return None
    if isinstance(err, FileExistsError):
        return PRECONDITION
    status, code = _answer(err)
    if status == 412 or code == "PreconditionFailed":
        return PRECONDITION
    if status == 409 and code == "ConditionalRequestConflict":
        return CONFLICT
    if status in _TRANSIENT_STATUS or code in _TRANSIENT_CODES:
        return TRANSIENT
    if status is None and _network_error(err):
        return TRANSIENT
    return None


async def retrying(call: Callable[[], Awaitable[T]], deadline: float | None = None) -> T:
    """Await ``call()``, again after conflicts and transient errors, until a deadline.

    Parameters
    ----------
    call : callable
        Makes a fresh request each time it is called.
    deadline : float, optional
        Seconds to keep trying (default :func:`retry_deadline`).

    Raises
    ------
    StoreUnavailableError
        The server still failed when the deadline passed (the last error is its cause).
    Exception
        An error not worth a retry, as raised.
    """
    seconds = retry_deadline() if deadline is None else deadline
    stop = time.monotonic() + seconds
    for attempt in range(1_000_000):
        try:
            return await call()
        except Exception as err:
            pause = min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
            if classify(err) not in (CONFLICT, TRANSIENT):
                raise
            if time.monotonic() + pause > stop:
                msg = (f"object storage kept failing for {seconds:g} s ({describe(err)}); try "
                       "again later: an unfinished version resumes with "
                       "'gridstore generate --resume --version NAME'")  # fmt: skip
                raise StoreUnavailableError(msg) from err
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


def run(fs: Any, coro: Awaitable[T]) -> T:
    """Run a coroutine on an s3fs filesystem's event loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, fs.loop).result()  # type: ignore[arg-type]


async def found(fs: Any, method: str, **params: str) -> bool:
    """Whether a HEAD request (``head_bucket``, ``head_object``) finds its target.

    A transient error is raised, for `retrying`; any other (404, 403) means
    not found. s3fs's own ``exists`` and ``isfile`` take every error for "not
    there": a throttled HEAD and a damaged answer once reported a bucket as missing.
    """
    try:
        await fs._call_s3(method, **params)
    except Exception as err:
        if classify(err) in (CONFLICT, TRANSIENT):
            raise
        return False
    return True


async def get_object(fs: Any, path: str) -> tuple[bytes, str] | None:
    """One GET of a whole object: its bytes and ETag, or None if there is none."""
    bucket, key, _ = fs.split_path(path)

    async def get() -> tuple[bytes, str]:
        resp = await fs._call_s3("get_object", Bucket=bucket, Key=key)
        try:
            return bytes(await resp["Body"].read()), str(resp["ETag"])
        finally:
            resp["Body"].close()

    try:
        return await retrying(get)
    except FileNotFoundError:
        return None


async def put_if(fs: Any, path: str, data: bytes, etag: str | None = None) -> str | None:
    """PUT ``data`` at ``path`` if nothing is there (``etag`` None) or if it still has ``etag``.

    ``data`` must be unique to this writer (carry its token): a failed
    condition is settled by reading the object back, so that a write whose
    answer was lost, and whose retry then failed its own condition, counts
    as done.

    Returns
    -------
    str or None
        The ETag of the object now holding ``data``, or None if the condition
        did not hold (another writer's object is there).
    """
    bucket, key, _ = fs.split_path(path)
    condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}

    async def put() -> str:
        out = await fs._call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
        return str(out["ETag"])

    try:
        return await retrying(put)
    except Exception as err:
        if classify(err) != PRECONDITION:
            raise
    now = await get_object(fs, path)
    return now[1] if now is not None and now[0] == data else None
