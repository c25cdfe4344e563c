"""Compare s3fs and obstore as the client of gridstore's object-storage backend.

Prints two tables, correctness first, then speed, and the libraries' weight.

Correctness: for each client, what a conditional create (``If-None-Match: *``) and
a compare-and-swap (``If-Match: <etag>``) return or raise, directly against the
server and through ``tests.helpers_s3proxy.FaultProxy``, which rewrites 412 bodies
into AWS's or MinIO's form, answers 409 ConditionalRequestConflict or 503 SlowDown,
or applies a PUT and then loses its response (500). Each row shows the outcome,
how many requests reached the proxy (so ``2`` means the client retried once), and
whether the object now holds this PUT's bytes. Last, whether a client still works
in a ``fork()``-ed child after the parent used it (DataLoader workers fork).

Speed: sequential and concurrent (64 in flight, issued from a sync caller as
gridstore does) 16 KB PUTs, concurrent whole-object GETs, conditional creates, a
listing, server-side copies and a bulk delete; median of ``--repeat`` runs. Then
each library's import time in a fresh interpreter, a fresh process's first GET,
and the installed size of the packages it adds to gridstore's core install.

moto is a single Python process that keeps objects in memory and shares this
machine's cores with the client: its rates are a floor that mostly measures
moto, with a client's own CPU cost showing only where it is large. On S3 a
request takes 10-50 ms and thousands run in parallel, so concurrency, not
per-request overhead, decides throughput there.

    python benchmarks/bench_s3_clients.py                 # moto on a free port
    python benchmarks/bench_s3_clients.py --objects 500 --repeat 1
    python benchmarks/bench_s3_clients.py --endpoint http://127.0.0.1:9000  # e.g. MinIO

obstore is not a gridstore dependency: ``pip install obstore`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
import errno
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, distribution
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

from _moto import moto_server

REPO = Path(__file__).resolve().parents[1]
SIZE = 16 * 1024  # a small chunk
INFLIGHT = 64
CREATES = 200
FORK_TIMEOUT = 10.0
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# -- servers ---------------------------------------------------------------------------


@contextmanager
def given(endpoint: str) -> Iterator[str]:
    yield endpoint


def fault_proxy_class() -> Any:
    """The test suite's FaultProxy, or None when this checkout has none."""
    sys.path.insert(0, str(REPO))
    try:
        from tests.helpers_s3proxy import FaultProxy
    except ImportError:
        return None
    return FaultProxy


# -- clients ---------------------------------------------------------------------------


def run_window(
    submit: Callable[[Any], cf.Future[Any]], items: Sequence[Any], inflight: int
) -> list[Any]:
    """Submit ``items`` from this (sync) thread, at most ``inflight`` at once; the results."""
    results: list[Any] = [None] * len(items)
    pending: dict[cf.Future[Any], int] = {}
    for i, item in enumerate(items):
        if len(pending) >= inflight:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
        pending[submit(item)] = i
    for future, i in pending.items():
        results[i] = future.result()
    return results


class S3fsClient:
    """s3fs, called the way gridstore's backend calls it.

    ``pool`` sets botocore's connection pool (default 10, which gridstore keeps).
    """

    name = "s3fs"
    concurrent_only = False

    def __init__(self, endpoint: str, bucket: str, pool: int | None = None) -> None:
        import s3fs

        config = {"max_pool_connections": pool} if pool else {}
        self.fs = s3fs.S3FileSystem(
            endpoint_url=endpoint,
            use_listings_cache=False,
            skip_instance_cache=True,  # a proxy and a direct client side by side
            config_kwargs=config,
        )
        self.bucket = bucket
        # One GET per whole-object read on s3fs 2025+ (else a HEAD first), as in s3.py.
        self._whole = {"max_concurrency": 1}

    def _p(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._p(key), data)

    def create(self, key: str, data: bytes) -> str:
        return str(self.fs.pipe_file(self._p(key), data, mode="create")["ETag"])

    def cas(self, key: str, data: bytes, etag: str) -> str:
        return str(self.fs.pipe_file(self._p(key), data, IfMatch=etag)["ETag"])

    def get(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._p(key), **self._whole))

    def etag(self, key: str) -> str | None:
        try:
            return str(self.fs.info(self._p(key))["ETag"])
        except FileNotFoundError:
            return None

    def _submit(self, coro: Any) -> cf.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.fs.loop)

    def submit_put(self, item: tuple[str, bytes]) -> cf.Future[Any]:
        return self._submit(self.fs._pipe_file(self._p(item[0]), item[1]))

    def submit_get(self, key: str) -> cf.Future[Any]:
        return self._submit(self.fs._cat_file(self._p(key), **self._whole))

    def submit_copy(self, pair: tuple[str, str]) -> cf.Future[Any]:
        return self._submit(self.fs._copy_basic(self._p(pair[0]), self._p(pair[1])))

    def list(self, prefix: str) -> list[str]:
        return list(self.fs.find(self._p(prefix)))

    def delete(self, keys: list[str]) -> None:
        self.fs.rm([self._p(k) for k in keys])  # DeleteObjects, 1000 keys a request

    def close(self) -> None:
        pass


class S3fsPool64(S3fsClient):
    """s3fs with a connection pool as wide as the requests in flight."""

    name = "s3fs pool=64"
    concurrent_only = True

    def __init__(self, endpoint: str, bucket: str) -> None:
        super().__init__(endpoint, bucket, pool=INFLIGHT)


class _LoopThread:
    """An asyncio loop in a daemon thread: what fsspec gives s3fs, made for obstore."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Any) -> cf.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def _in_loop(fn: Callable[..., Any], *args: Any) -> Any:
    # obstore's *_async bind their future to the running loop when called: call them in it.
    return await fn(*args)


async def _obs_get_bytes(store: Any, key: str) -> bytes:
    import obstore

    result = await obstore.get_async(store, key)
    return bytes(await result.bytes_async())


class ObstoreClient:
    """obstore's S3Store with its defaults (10 retries of 5xx, 3 min), as zarr's ObjectStore has."""

    name = "obstore"
    concurrent_only = False

    def __init__(self, endpoint: str, bucket: str) -> None:
        import obstore
        from obstore.store import S3Store

        self.obs = obstore
        self.store = S3Store(
            bucket,
            endpoint=endpoint,
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            client_options={"allow_http": True},
            conditional_put="etag",  # If-Match / If-None-Match (the default, said explicitly)
        )
        self._loop = _LoopThread()

    def put(self, key: str, data: bytes) -> None:
        self.obs.put(self.store, key, data)

    def create(self, key: str, data: bytes) -> str:
        return str(self.obs.put(self.store, key, data, mode="create")["e_tag"])

    def cas(self, key: str, data: bytes, etag: str) -> str:
        return str(self.obs.put(self.store, key, data, mode={"e_tag": etag})["e_tag"])

    def get(self, key: str) -> bytes:
        return bytes(self.obs.get(self.store, key).bytes())

    def etag(self, key: str) -> str | None:
        try:
            return str(self.obs.head(self.store, key)["e_tag"])
        except FileNotFoundError:
            return None

    def submit_put(self, item: tuple[str, bytes]) -> cf.Future[Any]:
        return self._loop.submit(_in_loop(self.obs.put_async, self.store, item[0], item[1]))

    def submit_get(self, key: str) -> cf.Future[Any]:
        return self._loop.submit(_obs_get_bytes(self.store, key))

    def submit_copy(self, pair: tuple[str, str]) -> cf.Future[Any]:
        return self._loop.submit(_in_loop(self.obs.copy_async, self.store, pair[0], pair[1]))

    def list(self, prefix: str) -> list[str]:
        return [m["path"] for m in self.obs.list(self.store, prefix=prefix).collect()]

    def delete(self, keys: list[str]) -> None:
        self.obs.delete(self.store, keys)  # DeleteObjects, 1000 keys a request

    def close(self) -> None:
        self._loop.close()


class ObstoreThreads(ObstoreClient):
    """obstore's sync calls in a thread pool: they release the GIL, so no event loop."""

    name = "obstore threads"
    concurrent_only = True

    def __init__(self, endpoint: str, bucket: str) -> None:
        super().__init__(endpoint, bucket)
        self._pool = cf.ThreadPoolExecutor(INFLIGHT)

    def submit_put(self, item: tuple[str, bytes]) -> cf.Future[Any]:
        return self._pool.submit(self.obs.put, self.store, item[0], item[1])

    def submit_get(self, key: str) -> cf.Future[Any]:
        return self._pool.submit(self.get, key)

    def submit_copy(self, pair: tuple[str, str]) -> cf.Future[Any]:
        return self._pool.submit(self.obs.copy, self.store, pair[0], pair[1])

    def close(self) -> None:
        self._pool.shutdown()
        super().close()


CLIENTS = (S3fsClient, ObstoreClient)
SPEED_CLIENTS = (S3fsClient, S3fsPool64, ObstoreClient, ObstoreThreads)

# -- correctness -----------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """An exception as type and errno name: what a caller can branch on."""
    name = type(exc).__name__
    code = getattr(exc, "errno", None)
    return f"{name}({errno.errorcode.get(code, code)})" if code else name


def stored(direct: Any, key: str, data: bytes) -> str:
    """Whether ``key`` holds ``data`` now: did the PUT land, whatever the caller saw."""
    try:
        return "ours" if direct.get(key) == data else "other"
    except FileNotFoundError:
        return "none"


class _Op:
    """A conditional PUT on a fresh key, the key seeded (directly, not via the proxy) as needed."""

    def __init__(self, direct: Any, via: Any, kind: str, *, seed: bool, right: bool = True) -> None:
        self.direct, self.via, self.kind, self.right = direct, via, kind, right
        self.key = f"claims/{uuid.uuid4().hex}"
        self.etag = direct.create(self.key, b"seed") if seed else None
        self.new_etag: str | None = None

    def __call__(self, data: bytes) -> str:
        if self.kind == "create":
            self.new_etag = self.via.create(self.key, data)
        else:
            etag = self.etag if self.right else '"0123456789abcdef0123456789abcdef"'
            self.new_etag = self.via.cas(self.key, data, str(etag))
        return self.new_etag

    def key_state(self, data: bytes) -> str:
        state = stored(self.direct, self.key, data)
        if self.new_etag is not None and state == "ours":
            same = self.direct.etag(self.key) == self.new_etag
            state += ", ETag matches" if same else ", ETag DIFFERS"
        return state


def attempt(via: Any, proxy: Any, mode: str, case: str, op: _Op) -> list[str]:
    """Run one conditional PUT through ``via`` in ``mode``; a row of the correctness table."""
    data = uuid.uuid4().bytes * 64
    if proxy is not None:
        proxy.set_mode(mode, every=3, delay=0.2)
    t0 = time.perf_counter()
    try:
        result = f"ok, ETag {op(data)[:9]}..."
    except Exception as exc:
        result = describe(exc)
    seconds = time.perf_counter() - t0
    requests = str(proxy.requests) if proxy is not None else "1*"
    if proxy is not None:
        proxy.set_mode("off")
    return [via.name, mode, case, result, requests, f"{seconds:.2f}", op.key_state(data)]


CASES: tuple[tuple[str, str, dict[str, bool]], ...] = (
    ("create new key", "create", {"seed": False}),
    ("create existing key", "create", {"seed": True}),
    ("CAS, right ETag", "cas", {"seed": True, "right": True}),
    ("CAS, wrong ETag", "cas", {"seed": True, "right": False}),
)
# Which cases each fault touches: 412 bodies come from failed preconditions; the
# others fault the first conditional PUT of a key, which must succeed in the end.
MODE_CASES = {
    "aws412": ("create existing key", "CAS, wrong ETag"),
    "minio412": ("create existing key", "CAS, wrong ETag"),
    "conflict409": ("create new key", "CAS, right ETag"),
    "lost500": ("create new key", "CAS, right ETag"),
    "slowdown503": ("create new key", "CAS, right ETag"),
    "delay": ("create new key",),
}


def correctness_rows(cls: type, endpoint: str, bucket: str, proxy: Any) -> list[list[str]]:
    direct = cls(endpoint, bucket)
    rows = []
    try:
        for case, kind, kw in CASES:  # straight to the server: its own 412 bodies
            rows.append(attempt(direct, None, "direct", case, _Op(direct, direct, kind, **kw)))
        if proxy is not None:
            via = cls(proxy.url, bucket)
            try:
                for mode, cases in MODE_CASES.items():
                    for case, kind, kw in CASES:
                        if case in cases:
                            op = _Op(direct, via, kind, **kw)
                            rows.append(attempt(via, proxy, mode, case, op))
            finally:
                via.close()
    finally:
        direct.close()
    return rows


def _fork_child(cls: type, endpoint: str, bucket: str, key: str, parent: Any, out: Any) -> None:
    try:
        client = parent if parent is not None else cls(endpoint, bucket)
        client.get(key)
        out.put("ok")
    except Exception as exc:
        out.put(describe(exc))


def _get_within(client: Any, key: str, timeout: float) -> str:
    """GET in a daemon thread: "ok", the exception, or HANGS after ``timeout``."""
    result = [f"HANGS (> {timeout:.0f} s)"]

    def get() -> None:
        try:
            client.get(key)
            result[0] = "ok"
        except Exception as exc:
            result[0] = describe(exc)

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0]


def _fork_probe(cls: type, endpoint: str, bucket: str, reuse: bool, out: Any) -> None:
    """In a fresh process: use the library, fork, GET in the child, then GET in the parent."""
    client = cls(endpoint, bucket)
    key = f"fork/{uuid.uuid4().hex}"
    client.put(key, b"x")
    client.get(key)  # the library's threads, runtime and connection pool now exist
    ctx = multiprocessing.get_context("fork")
    child_out = ctx.SimpleQueue()
    args = (cls, endpoint, bucket, key, client if reuse else None, child_out)
    child = ctx.Process(target=_fork_child, args=args, daemon=True)
    child.start()
    child.join(FORK_TIMEOUT)
    if child.is_alive():
        child.kill()
        child.join()
        seen = f"HANGS (killed after {FORK_TIMEOUT:.0f} s)"
    else:
        seen = child_out.get() if not child_out.empty() else f"exit code {child.exitcode}"
    out.put((seen, _get_within(cls(endpoint, bucket), key, FORK_TIMEOUT)))


def fork_row(cls: type, endpoint: str, bucket: str, reuse: bool) -> list[str]:
    """A correctness row: is the library usable in a fork()-ed child, and in the parent after?

    Probed in a spawned process, since a wedged library cannot be unwedged.
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.SimpleQueue()
    probe = ctx.Process(target=_fork_probe, args=(cls, endpoint, bucket, reuse, out))
    t0 = time.perf_counter()
    probe.start()
    probe.join(4 * FORK_TIMEOUT)
    if probe.is_alive():
        probe.kill()
        probe.join()
    child, parent = out.get() if not out.empty() else ("probe failed", "probe failed")
    case = "GET in child, " + ("parent's client" if reuse else "new client")
    seconds = f"{time.perf_counter() - t0:.2f}"
    return [cls.name, "fork", case, child, "", seconds, f"parent's next GET: {parent}"]


def summary(rows: list[list[str]]) -> list[str]:
    """What the table says about each client, in one line per question."""
    out = []
    for cls in CLIENTS:
        got = {(r[1], r[2]): r for r in rows if r[0] == cls.name}
        lines = [f"{cls.name}:"]
        for mode in ("direct", "aws412", "minio412"):
            exists, failed = (
                got.get((mode, "create existing key")),
                got.get((mode, "CAS, wrong ETag")),
            )
            if exists and failed:
                tell = "distinguishes" if exists[3] != failed[3] else "does NOT distinguish"
                lines.append(
                    f"  {mode:<8} 412: {tell} exists ({exists[3]}) from precondition ({failed[3]})"
                )
        for mode in ("conflict409", "slowdown503", "lost500"):
            for case in MODE_CASES[mode]:
                r = got.get((mode, case))
                if r:
                    lines.append(f"  {mode:<11} {case}: {r[4]} requests -> {r[3]}; object: {r[6]}")
        out += lines
    return out


# -- speed -----------------------------------------------------------------------------


Timing = tuple[int, float, float]  # operations, wall seconds, this process's CPU seconds


def timed(ops: int, fn: Callable[[], Any]) -> Timing:
    """Run ``fn``: wall time, and CPU time of every thread of this process.

    The CPU time is the client's own cost (s3fs's event loop thread, obstore's
    tokio threads included), which moto's slowness does not hide.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return ops, time.perf_counter() - t0, time.process_time() - c0


def speed_round(client: Any, n: int, run: str) -> dict[str, Timing]:
    """One run of every operation: {label: timing}."""
    data = os.urandom(SIZE)
    base = f"speed/{run}"
    seq = [f"{base}/seq/{i:06d}" for i in range(n)]
    conc = [f"{base}/conc/{i:06d}" for i in range(n)]
    copies = [f"{base}/copy/{i:06d}" for i in range(n)]
    claims = [f"{base}/claims/{i:06d}" for i in range(CREATES)]
    items = [(k, data) for k in conc]
    pairs = list(zip(conc, copies, strict=True))
    bodies: list[Any] = []
    listed: list[str] = []
    got: dict[str, Timing] = {}
    if not client.concurrent_only:
        got["a. sequential PUT"] = timed(n, lambda: [client.put(k, data) for k in seq])
    got["b. concurrent PUT"] = timed(n, lambda: run_window(client.submit_put, items, INFLIGHT))
    got["c. concurrent GET"] = timed(
        n, lambda: bodies.extend(run_window(client.submit_get, conc, INFLIGHT))
    )
    assert all(len(b) == SIZE for b in bodies), "short read"
    if not client.concurrent_only:
        got["d. conditional create"] = timed(
            CREATES, lambda: [client.create(k, data) for k in claims]
        )
        got["e. list (keys/s)"] = timed(n, lambda: listed.extend(client.list(f"{base}/conc")))
        assert len(listed) == n, f"listed {len(listed)} of {n}"
    got["g. concurrent copy"] = timed(n, lambda: run_window(client.submit_copy, pairs, INFLIGHT))
    got["h. bulk delete (keys/s)"] = timed(n, lambda: client.delete(copies))
    client.delete(seq + conc + claims if not client.concurrent_only else conc)  # keep moto small
    return got


def speed_rows(endpoint: str, bucket: str, n: int, repeat: int) -> list[list[str]]:
    runs: dict[tuple[str, str], list[Timing]] = {}
    for r in range(repeat):
        for cls in SPEED_CLIENTS:  # interleaved, so drift in moto hits every client alike
            client = cls(endpoint, bucket)
            try:
                client.put("warm", b"x")  # connect, sign, start threads: not measured
                for label, result in speed_round(client, n, f"{r}-{uuid.uuid4().hex[:6]}").items():
                    runs.setdefault((label, cls.name), []).append(result)
            finally:
                client.close()
    rows = []
    for (label, name), results in sorted(runs.items()):
        ops = results[0][0]
        seconds = statistics.median(s for _, s, _ in results)
        cpu = statistics.median(c for _, _, c in results)
        spread = ", ".join(f"{o / s:,.0f}" for o, s, _ in results)
        rows.append([label, name, f"{ops / seconds:,.0f}", f"{seconds:.3f}",
                     f"{cpu / ops * 1e6:,.0f}", spread])  # fmt: skip
    return rows


# -- weight ----------------------------------------------------------------------------


def _importtime(module: str) -> tuple[float, float]:
    """(cumulative import seconds by -X importtime, wall seconds of the whole interpreter)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1e6, wall
    return float("nan"), wall


def _cold_get(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


COLD = {
    "s3fs": (
        "import time; t=time.perf_counter(); import s3fs\n"
        "fs=s3fs.S3FileSystem(endpoint_url={e!r}); fs.cat_file({b!r}+'/warm', max_concurrency=1)\n"
        "print(time.perf_counter()-t)"
    ),
    "obstore": (
        "import time; t=time.perf_counter(); import obstore\n"
        "from obstore.store import S3Store\n"
        "s=S3Store({b!r}, endpoint={e!r}, client_options={{'allow_http': True}})\n"
        "obstore.get(s, 'warm').bytes(); print(time.perf_counter()-t)"
    ),
}


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: Iterable[str]) -> set[str]:
    """The installed distributions that ``names`` need, without extras."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [_canon(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        seen.add(name)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_canon(req.name))
    return seen


def installed_mb(names: Iterable[str]) -> float:
    total = 0
    for name in names:
        for f in distribution(name).files or []:
            path = Path(str(distribution(name).locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def weight_rows(endpoint: str, bucket: str, repeat: int) -> list[list[str]]:
    base = closure(["gridstore"])  # gridstore's core install, no extras
    rows = []
    for lib in ("s3fs", "obstore"):
        times = [_importtime(lib) for _ in range(repeat)]
        cold = [_cold_get(COLD[lib].format(e=endpoint, b=bucket)) for _ in range(repeat)]
        extra = sorted(closure([lib]) - base)
        rows.append([
            lib,
            f"{statistics.median(t for t, _ in times) * 1000:.0f} ms",
            f"{statistics.median(w for _, w in times) * 1000:.0f} ms",
            f"{statistics.median(cold) * 1000:.0f} ms",
            f"{installed_mb(extra):.1f} MB",
            f"{len(extra)}: {' '.join(extra)}",
        ])  # fmt: skip
    return rows


# -- output ----------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    line = lambda cells: "  ".join(f"{c!s:<{w}}" for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)]).rstrip()


def header(endpoint: str) -> list[str]:
    libs = ("s3fs", "aiobotocore", "botocore", "fsspec", "obstore", "zarr", "moto")
    versions = []
    for d in libs:
        try:
            versions.append(f"{d} {dist_version(d)}")
        except PackageNotFoundError:
            versions.append(f"{d} (not installed)")
    return [
        f"Python {sys.version.split()[0]} on {os.cpu_count()} logical cores; endpoint {endpoint}",
        f"libraries: {', '.join(versions)}",
    ]


def print_correctness(endpoint: str, bucket: str) -> None:
    FaultProxy = fault_proxy_class()
    proxy = FaultProxy(endpoint).start() if FaultProxy else None
    print("\n== Correctness ==")
    if proxy is None:
        print("(tests/helpers_s3proxy.py not found: fault rows skipped)")
    try:
        rows = [r for cls in CLIENTS for r in correctness_rows(cls, endpoint, bucket, proxy)]
    finally:
        if proxy is not None:
            proxy.stop()
    rows += [fork_row(cls, endpoint, bucket, reuse) for cls in CLIENTS for reuse in (False, True)]
    heads = ["client", "server", "case", "caller sees", "requests", "s", "object afterwards"]
    print(table(heads, rows))
    print("(requests: reaching the proxy, 2 = one retry; 1* = direct, not counted. Object:\n"
          " ours = holds this PUT's bytes, other = someone else's, none = absent; ETag matches =\n"
          " the ETag returned is the object's. fork: probed in a spawned process, 10 s limit)\n")  # fmt: skip
    print("\n".join(summary(rows)))


def print_speed(endpoint: str, bucket: str, objects: int, repeat: int) -> None:
    print(f"\n== Speed: {objects} objects of {SIZE // 1024} KB, {INFLIGHT} in flight, "
          f"median of {repeat} ==")  # fmt: skip
    print("NOTE: moto is one Python process on this machine: a floor, not S3's rates;\n"
          "client CPU us/op is the client's own cost (all its threads), which carries over.")  # fmt: skip
    rows = speed_rows(endpoint, bucket, objects, repeat)
    heads = ["operation", "client", "ops/s", "median s", "client CPU us/op", "each run ops/s"]
    print(table(heads, rows))
    print(f"(d = {CREATES} sequential If-None-Match PUTs; e = one listing of all keys;\n"
          " the extra variants: s3fs with a 64-connection pool (gridstore keeps\n"
          " botocore's 10), obstore's sync calls from a 64-thread pool instead of a loop)")  # fmt: skip


def print_weight(endpoint: str, bucket: str, repeat: int) -> None:
    print(f"\n== Weight (median of {repeat} fresh interpreters) ==")
    heads = ["library", "import (-X importtime)", "python -c 'import' wall",
             "fresh process: import+client+GET", "added install",
             "packages added to gridstore's core install"]  # fmt: skip
    print(table(heads, weight_rows(endpoint, bucket, repeat)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="an S3-compatible server instead of a new moto "
                        "(credentials from the environment)")  # fmt: skip
    parser.add_argument("--objects", type=int, default=2000, help="objects per speed run")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs; the median is shown")
    args = parser.parse_args()
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    with moto_server() if args.endpoint is None else given(args.endpoint) as endpoint:
        print("\n".join(header(endpoint)))
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        setup = S3fsClient(endpoint, bucket)
        setup.fs.mkdir(bucket)
        setup.put("warm", b"x")  # what each fresh process of the weight table GETs
        print_correctness(endpoint, bucket)
        print_speed(endpoint, bucket, args.objects, args.repeat)
        print_weight(endpoint, bucket, args.repeat)


if __name__ == "__main__":
    main()
