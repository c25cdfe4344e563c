"""Object storage (s3://bucket/prefix) against a real S3-compatible server: moto's, on 127.0.0.1.

The server runs as its own process for the session; clients find it through the
standard AWS environment (AWS_ENDPOINT_URL and test credentials), which spawned
workers and killed-and-resumed writers inherit. Nothing is mocked: every call
is an HTTP request to that server.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
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
import numpy as np
import pytest
import s3fs  # noqa: F401
import zarr
from click.testing import CliRunner

from gridstore.build import create_version, grow_version, resume_version
from gridstore.cli import main
from gridstore.errors import (
    CorruptChunkError,
    StoreLockedError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
)
from gridstore.plan import SPLITS, Plan
from gridstore.read import open_store
from gridstore.storage import open_backend, zarr_store
from gridstore.storage.s3 import ObjectStore
from tests.conftest import TINY, version_chunks

FIELDS = [
    "images",
    "num_objects",
    "object_type",
    "object_subtype",
    "object_colour",
    "object_size",
    "object_bbox",
    "instance_map",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server process on a free loopback port, and the environment that points at it."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    for _ in range(5):  # the free port may be taken between probing and binding: retry
        port = _free_port()
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(key, raising=False)
        yield url
    proc.terminate()
    proc.wait(timeout=10)


def _fs() -> Any:
    import fsspec

    return fsspec.filesystem("s3", use_listings_cache=False)


def _new_bucket() -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    _fs().mkdir(name)
    return name


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket."""
    return _new_bucket()


def s3_chunks(url: str, version: str) -> dict[str, bytes]:
    """Chunk objects of a version by key below the version (like conftest.version_chunks)."""
    fs, prefix = _fs(), f"{url.removeprefix('s3://')}/{version}/"
    return {p[len(prefix) :]: bytes(fs.cat_file(p)) for p in sorted(fs.find(prefix)) if "/c/" in p}


def s3_objects(prefix: str) -> list[str]:
    fs = _fs()
    try:
        return sorted(fs.find(prefix.removeprefix("s3://").rstrip("/") + "/"))
    except FileNotFoundError:
        return []


@pytest.fixture(scope="session")
def s3_built(s3_endpoint: str) -> tuple[str, str, dict[str, Any]]:
    """TINY written to S3 with one worker (session-wide; do not damage it)."""
    url = f"s3://{_new_bucket()}/datasets"
    meta = create_version(url, TINY, workers=1, show_progress=False)
    return url, meta["version"], meta


# -- writing -------------------------------------------------------------------


def test_one_worker_writes_the_local_bytes(s3_built: tuple, built_store: tuple[Path, str]) -> None:
    url, version, meta = s3_built
    local, local_version = built_store
    expected = version_chunks(local, local_version)
    assert s3_chunks(url, version) == expected
    # every other object too (array and group zarr.json) except the version's own metadata
    prefix = f"{url.removeprefix('s3://')}/{version}/"
    fs = _fs()
    for path in s3_objects(prefix):
        key = path[len(prefix) :]
        if key != "zarr.json":
            assert fs.cat_file(path) == (local / local_version / key).read_bytes(), key
    assert meta["storage"] == open_backend(local).metadata(local_version)["storage"]
    assert ObjectStore.open(url).metadata(version) == json.loads(
        json.dumps({**meta, "state": "complete"})
    )
    # the sidecar keeps only the name's claim: no staging, no task records, no lease
    assert s3_objects(url.rsplit("/", 1)[0] + "/.datasets.gridstore") == [
        f"{url.removeprefix('s3://').rsplit('/', 1)[0]}/.datasets.gridstore/claims/{version}"
    ]


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_two_workers_write_the_same_bytes(
    bucket: str, built_store: tuple[Path, str], engine: str
) -> None:
    """Spawned processes (a pool, or Dask workers) write straight to S3 with the inherited environment."""
    url = f"s3://{bucket}/datasets"
    meta = create_version(url, TINY, workers=2, engine=engine, show_progress=False)
    assert (meta["generation"]["engine"], meta["generation"]["workers"]) == (engine, 2)
    assert s3_chunks(url, meta["version"]) == version_chunks(*built_store)


def test_grow_on_s3_equals_generating_the_larger_version(bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/datasets"
    small = create_version(
        url, Plan(num_images=10_500, seed=9, blocks_per_chunk=1), workers=1, show_progress=False
    )
    grown = grow_version(
        url, small["version"], 12_000, workers=1, show_progress=False
    )  # copies 2 tasks
    scratch = create_version(
        tmp_path / "t",
        Plan(num_images=12_000, seed=9, blocks_per_chunk=1),
        workers=1,
        show_progress=False,
    )
    assert grown["generation"]["grown_from"] == small["version"]
    assert s3_chunks(url, grown["version"]) == version_chunks(tmp_path / "t", scratch["version"])


def _run_killed(url: str, crash_at: str) -> subprocess.CompletedProcess[str]:
    code = (
        "from gridstore.build import create_version; from tests.conftest import TINY; "
        f"create_version({url!r}, TINY, workers=1, show_progress=False)"
    )
    env = {**os.environ, "GRIDSTORE_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[1],
    )


@pytest.mark.parametrize("crash_at", ["task-1-written", "commit-copied"])
def test_killed_writer_is_never_listed_and_resume_gives_the_same_bytes(
    bucket: str, built_store: tuple[Path, str], crash_at: str
) -> None:
    url = f"s3://{bucket}/datasets"
    proc = _run_killed(url, crash_at)
    assert proc.returncode == -9, proc.stderr
    store = ObjectStore.open(url)
    (staged,) = store.staged()
    assert store.versions() == []
    assert not staged.writing
    reader = open_store(url)  # warnings are errors in this suite: gridstore readers see nothing odd
    assert reader.versions == []
    with pytest.raises(VersionIncompleteError, match="being written or was interrupted"):
        reader.version(staged.name)
    with pytest.raises(VersionIncompleteError, match="is unfinished"):
        store.metadata(staged.name)
    listed = json.loads(CliRunner().invoke(main, ["versions", "--store", url, "--json"]).output)
    assert listed == [
        {
            "version": staged.name,
            "state": "interrupted",
            "created": listed[0]["created"],
            "total": TINY.num_images,
        }
    ]
    plain = zarr.open_group(zarr_store(url), mode="r")
    if crash_at == "commit-copied":  # the copy window: a prefix without zarr.json (documented)
        with pytest.warns(UserWarning, match="not recognized as a component"):
            assert [name for name, _ in plain.groups()] == []
    else:
        assert [name for name, _ in plain.groups()] == []
    meta = resume_version(url, staged.name, workers=1, show_progress=False)
    assert s3_chunks(url, meta["version"]) == version_chunks(*built_store)
    assert open_store(url).versions == [staged.name]
    assert store.staged() == []


# -- names, leases, removal ------------------------------------------------------


def _claimer(url: str, barrier: Any, count: int, out: Any) -> None:
    store = ObjectStore(url)
    barrier.wait()
    out.put([store.claim_version() for _ in range(count)])


def test_concurrent_claimers_never_share_a_name(bucket: str) -> None:
    url = f"s3://{bucket}/datasets"
    store = ObjectStore.open(url, create=True)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(url, barrier, 6, out)) for _ in range(3)]
    for p in procs:
        p.start()
    names = [n for _ in procs for n in out.get(timeout=60)]
    for p in procs:
        p.join(timeout=30)
    day = names[0].rsplit("-v", 1)[0]
    assert sorted(names) == sorted(f"{day}-v{n}" for n in range(1, 19))
    assert len({s.name for s in store.staged()}) == 18
    with pytest.raises(VersionExistsError, match=f"version '{day}-v3' already exists"):
        store.claim_version(f"{day}-v3")
    assert not store._claim(f"{day}-v3")  # the conditional PUT itself refuses


def test_lease_excludes_a_second_writer_and_a_dead_ones_is_taken_over(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"s3://{bucket}/datasets"
    store = ObjectStore.open(url, create=True)
    name = store.claim_version()
    with store.version_lock(name):
        assert [s.writing for s in store.staged()] == [True]
        locked = rf"version '{name}' is locked by pid {os.getpid()}"
        with pytest.raises(StoreLockedError, match=locked), ObjectStore(url).version_lock(name):
            pass
    assert [s.writing for s in store.staged()] == [False]
    fs, key = _fs(), f"{store.sidecar}/leases/{name}"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    records = [
        ({"host": socket.gethostname(), "pid": int(dead.stdout), "renewed": time.time()}, False),
        ({"host": "elsewhere", "pid": 1, "renewed": time.time() - 3600}, False),
        ({"host": "elsewhere", "pid": 1, "renewed": time.time()}, True),
    ]
    for record, live in records:
        fs.pipe_file(key, json.dumps(record).encode())
        assert [s.writing for s in store.staged()] == [live]
        if live:
            with (
                pytest.raises(StoreLockedError, match="on host elsewhere"),
                store.version_lock(name),
            ):
                pass
        else:
            with store.version_lock(name):
                assert json.loads(fs.cat_file(key))["pid"] == os.getpid()
    # a writer whose lease was taken over (it stalled) learns it before committing
    fs.rm_file(key)
    monkeypatch.setattr("gridstore.objstore.LEASE_RENEW_SECONDS", 0.05)
    with store.version_lock(name):
        first = json.loads(fs.cat_file(key))["renewed"]
        time.sleep(0.5)
        assert json.loads(fs.cat_file(key))["renewed"] > first  # renewed with If-Match
        fs.pipe_file(
            key, json.dumps({"host": "elsewhere", "pid": 1, "renewed": time.time()}).encode()
        )
        time.sleep(0.5)
        with pytest.raises(StoreLockedError, match="lost the lease"):
            store.commit(name, {})


def test_discard_and_delete_remove_every_object(bucket: str) -> None:
    url = f"s3://{bucket}/datasets"
    meta = create_version(url, Plan(num_images=1000, seed=1), workers=1, show_progress=False)
    store = ObjectStore.open(url)
    staged = store.claim_version()
    store.create_arrays(staged, {"plan": Plan(num_images=1000).to_dict()}, {})
    assert [s.name for s in store.staged()] == [staged]
    store.discard(staged)
    store.delete(meta["version"])
    assert s3_objects(f"{bucket}/datasets") == [f"{bucket}/datasets/zarr.json"]
    assert s3_objects(f"{bucket}/.datasets.gridstore") == []
    assert store.versions() == []
    assert store.staged() == []


# -- reading ---------------------------------------------------------------------


def _read_in_child(split: Any, rows: list[int]) -> np.ndarray:
    return split.images[rows]


def test_open_store_reads_the_local_arrays_lazily(
    s3_built: tuple, built_store: tuple[Path, str]
) -> None:
    url, version, _ = s3_built
    local, local_version = built_store
    remote, here = open_store(url), open_store(local)
    assert remote.versions == [version]
    differ = {"version", "timestamp", "committed", "generation"}  # name, times, wall seconds
    ours, theirs = remote.version().metadata, open_backend(local).metadata(local_version)
    assert {k: v for k, v in ours.items() if k not in differ} == {
        k: v for k, v in theirs.items() if k not in differ
    }
    for split in SPLITS:
        got, want = remote.version()[split], here.version(local_version)[split]
        assert got.fields == want.fields == FIELDS
        for field in FIELDS:
            np.testing.assert_array_equal(
                got.annotation(field)[:], want.annotation(field)[:], field
            )
    got, want = remote.version()["train"], here.version(local_version)["train"]
    for a, b in zip(
        got.batches(1000, seed=3, fields=FIELDS),
        want.batches(1000, seed=3, fields=FIELDS),
        strict=True,
    ):
        for field in FIELDS:
            np.testing.assert_array_equal(a[field], b[field])
    rows = [0, 17_000, 5, 18_764]
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # pickled, reopened in a new process
        child = pool.apply(_read_in_child, (pickle.loads(pickle.dumps(got)), rows))
    np.testing.assert_array_equal(child, want.images[rows])


def test_torch_loader_workers_forked_from_an_s3_reader(s3_built: tuple, built_store: tuple) -> None:
    import torch
    from torch.utils.data import DataLoader

    url, _, _ = s3_built
    split = open_store(url).version()["val"]
    split.images[0]  # the parent has an open zarr / s3fs session that the forks must not reuse
    loader = DataLoader(
        split.torch_iterable(500, seed=2),
        batch_size=None,
        num_workers=2,
        multiprocessing_context="fork",
        timeout=60,
    )
    got = torch.cat(list(loader)).numpy()
    want = open_store(built_store[0]).version(built_store[1])["val"].images[:]
    assert sorted(r.tobytes() for r in got) == sorted(r.tobytes() for r in want)


def test_missing_and_damaged_chunks_are_errors(bucket: str) -> None:
    url = f"s3://{bucket}/datasets"
    version = create_version(url, Plan(num_images=3000, seed=1), workers=1, show_progress=False)[
        "version"
    ]
    fs, base = _fs(), f"{bucket}/datasets/{version}"
    fs.rm_file(f"{base}/train/images/c/0/0/0")
    damaged = bytearray(fs.cat_file(f"{base}/val/instance_map/c/0/0/0"))
    damaged[40] ^= 0x10
    fs.pipe_file(f"{base}/val/instance_map/c/0/0/0", bytes(damaged))
    split = open_store(url).version()
    with pytest.raises(CorruptChunkError) as info:
        split["train"].images[5]
    assert str(info.value) == (
        f"chunk '{version}/train/images/c/0/0/0' of store '{url}' is missing "
        "(read as zeros); run 'gridstore validate --full'"
    )
    with pytest.raises(
        CorruptChunkError, match=r"val/instance_map/c/0/0/0' .* failed its crc32c check"
    ):
        list(split["val"].batches(64, fields=["images", "instance_map"]))


# -- command line and errors --------------------------------------------------------


def test_cli_generate_versions_info_delete(bucket: str) -> None:
    url, runner = f"s3://{bucket}/team/datasets", CliRunner()
    result = runner.invoke(
        main,
        [
            "generate",
            "--store",
            url,
            "--num-images",
            "3000",
            "--engine",
            "serial",
            "--yes",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"in store '{url}'" in result.stderr
    rows = json.loads(runner.invoke(main, ["versions", "--store", url, "--json"]).output)
    assert [(r["state"], r["total"]) for r in rows] == [("complete", 3000)]
    name = rows[0]["version"]
    info = json.loads(runner.invoke(main, ["info", "--store", url, "--json"]).output)
    assert (info["version"], info["dataset_info"]["total_count"]) == (name, 3000)
    text = runner.invoke(main, ["info", name, "--store", url])
    assert text.exit_code == 0
    assert text.output.startswith(f"version:     {name} (complete")
    assert runner.invoke(main, ["delete", name, "--store", url, "--yes"]).exit_code == 0
    assert runner.invoke(main, ["versions", "--store", url]).output == f"no versions in '{url}'\n"


ERRORS = [
    (
        "bucket-missing",
        ["versions", "--store", "s3://{missing}/datasets"],
        "Error: bucket '{missing}' of store 's3://{missing}/datasets' does not exist or is not accessible "
        "with these credentials; create the bucket first",
    ),
    (
        "generate-bucket-missing",
        ["generate", "--num-images", "10", "--yes", "--store", "s3://{missing}/ds"],
        "Error: bucket '{missing}' of store 's3://{missing}/ds' does not exist or is not accessible with "
        "these credentials; create the bucket first",
    ),
    (
        "not-a-store",
        ["versions", "--store", "s3://{bucket}/other"],
        "Error: 's3://{bucket}/other' is not a gridstore store (no zarr.json) and not empty; use a new or "
        "empty prefix",
    ),
    (
        "generate-not-a-store",
        ["generate", "--num-images", "10", "--yes", "--store", "s3://{bucket}/other"],
        "Error: 's3://{bucket}/other' is not a gridstore store (no zarr.json) and not empty; use a new or "
        "empty prefix",
    ),
    (
        "object-not-prefix",
        ["versions", "--store", "s3://{bucket}/other/file"],
        "Error: store URL 's3://{bucket}/other/file' names an object, not a prefix; choose another --store",
    ),
    (
        "store-missing",
        ["info", "--store", "s3://{bucket}/nothing"],
        "Error: store 's3://{bucket}/nothing' does not exist; create one with 'gridstore generate --store "
        "s3://{bucket}/nothing'",
    ),
    (
        "bucket-root",
        ["versions", "--store", "s3://{bucket}"],
        "Error: store URL 's3://{bucket}' needs a bucket and a prefix, like s3://bucket/datasets (the "
        "store's bookkeeping lives beside the prefix)",
    ),
    (
        "scheme",
        ["versions", "--store", "gs://{bucket}/datasets"],
        "Error: unsupported URL scheme 'gs://' in 'gs://{bucket}/datasets'; a store is a local path or "
        "s3://bucket/prefix",
    ),
    (
        "local-only",
        ["validate", "--store", "s3://{bucket}/store"],
        "Error: 's3://{bucket}/store' is a URL; this operation works on local stores only",
    ),
]


@pytest.mark.parametrize(("args", "line"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_one_line(bucket: str, args: list[str], line: str) -> None:
    _fs().pipe_file(f"{bucket}/other/file", b"not zarr")
    if "validate" in args:
        create_version(
            f"s3://{bucket}/store", Plan(num_images=100, seed=1), workers=1, show_progress=False
        )
    fill = {"bucket": bucket, "missing": f"{bucket}-missing"}
    result = CliRunner().invoke(main, [a.format(**fill) for a in args])
    assert result.exit_code == 1
    assert [ln for ln in result.output.splitlines() if ln.startswith("Error")] == [
        line.format(**fill)
    ]
    assert "Traceback" not in result.output
    assert s3_objects(f"{bucket}/.other.gridstore") == []  # nothing written beside a non-store
    assert not _fs().exists(fill["missing"])


def test_open_store_errors_are_the_stores(bucket: str) -> None:
    with pytest.raises(StoreNotFoundError) as info:
        open_store(f"s3://{bucket}-missing/datasets")
    assert str(info.value) == (
        f"bucket '{bucket}-missing' of store 's3://{bucket}-missing/datasets' does "
        "not exist or is not accessible with these credentials; create the bucket "
        "first"
    )
    with pytest.raises(
        StoreNotFoundError, match=r"^store 's3://.*/nothing' does not exist; create one"
    ):
        open_store(f"s3://{bucket}/nothing")
    assert s3_objects(bucket) == []  # opening for reading never creates anything
