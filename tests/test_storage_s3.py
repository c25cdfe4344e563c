"""What only object storage has: URLs, leases, request costs, FsspecStore reading, its CLI errors.

Against a real S3-compatible server (moto's, see tests/helpers_s3.py). The
promises every backend keeps (claims, crashes, resume, concurrent writers and
readers, damaged chunks, delete) are in tests/test_storage_contract.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.errors import StoreLockedError, StoreNotFoundError, VersionExistsError
from gridstore.plan import SPLITS, Plan
from gridstore.read import open_store
from gridstore.storage import FIELDS, is_url, open_backend, zarr_store
from gridstore.storage.layout import claim_key, lock_key
from gridstore.storage.s3 import ObjectStore, filesystem
from gridstore.storage.s3client import put_if
from gridstore.validate.version import validate_version
from gridstore.write.reduce import plan_jobs
from gridstore.write.versions import create_version
from tests.conftest import TINY, version_chunks
from tests.helpers_s3 import (  # noqa: F401 - fixtures
    bucket_fixture,
    faults_fixture,
    new_bucket,
    s3_endpoint_fixture,
    s3_fs,
    s3_objects,
)
from tests.helpers_s3proxy import FaultProxy


def s3_chunks(url: str, version: str) -> dict[str, bytes]:
    """Chunk objects of a version by key below the version (like conftest.version_chunks)."""
    fs, prefix = s3_fs(), f"{url.removeprefix('s3://')}/{version}/"
    return {
        p[len(prefix) :]: bytes(fs.cat_file(p))
        for p in sorted(fs.find(prefix))
        if re.search(r"/c[./]", p)
    }


@contextmanager
def s3_requests() -> Iterator[Counter[str]]:
    """Count the S3 API calls this process makes inside the block, by operation name."""
    client = filesystem().s3
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.s3", count)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.s3", count)


@pytest.fixture(scope="session")
def s3_built(s3_endpoint: str) -> tuple[str, str, dict[str, Any]]:
    """TINY written to S3 with one worker (session-wide; do not damage it)."""
    url = f"s3://{new_bucket()}/datasets"
    meta = create_version(url, TINY, workers=1, show_progress=False)
    return url, meta["version"], meta


# -- URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("s3://bucket/datasets", "bucket/datasets"),
        ("s3://bucket/team/datasets/", "bucket/team/datasets"),
    ],
)
def test_a_url_names_a_bucket_and_a_prefix(url: str, root: str) -> None:
    store = ObjectStore(url)
    assert is_url(url)
    assert (store.url, store.bucket, store.root) == (f"s3://{root}", "bucket", root)
    assert store._full(claim_key("2026-01-01-v1")) == (
        f"{root}/.gridstore/work/claims/2026-01-01-v1"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://bucket", "needs a bucket and a prefix"),
        ("s3://bucket/", "needs a bucket and a prefix"),
        ("s3://bucket//datasets", "needs a bucket and a prefix"),
        ("gs://bucket/datasets", "unsupported URL scheme 'gs://'"),
    ],
)
def test_a_url_without_a_prefix_or_of_another_scheme_is_refused(url: str, message: str) -> None:
    with pytest.raises(StoreNotFoundError, match=message):
        ObjectStore(url)


def test_a_url_opens_as_an_fsspec_store(s3_built: tuple) -> None:
    url, version, _ = s3_built
    store = zarr_store(url)
    assert type(store).__name__ == "FsspecStore" and store.read_only
    assert store.path == url.removeprefix("s3://")
    assert zarr_store("/some/dir") == "/some/dir"
    assert open_store(url).versions == [version]


# -- writing ---------------------------------------------------------------------------


def test_one_worker_writes_the_local_bytes(s3_built: tuple, built_store: tuple[Path, str]) -> None:
    """An s3 version is the local one object for file; the bookkeeping keeps only its claim."""
    url, version, meta = s3_built
    local, local_version = built_store
    assert s3_chunks(url, version) == version_chunks(local, local_version)
    prefix = f"{url.removeprefix('s3://')}/{version}/"
    fs = s3_fs()
    for path in s3_objects(prefix):  # array and group zarr.json too, all but the version's
        key = path[len(prefix) :]
        if key != "zarr.json":
            assert fs.cat_file(path) == (local / local_version / key).read_bytes(), key
    assert meta["storage"] == open_backend(local).metadata(local_version)["storage"]
    assert ObjectStore.open(url).metadata(version) == json.loads(
        json.dumps({**meta, "state": "complete"})
    )
    root = url.removeprefix("s3://")
    assert s3_objects(f"{root}/.gridstore") == [
        f"{root}/.gridstore/work/claims/{version}",
        f"{root}/.gridstore/work/zarr.json",
        f"{root}/.gridstore/zarr.json",
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


def test_processes_making_one_store_at_once_all_open_it(bucket: str) -> None:
    """Of writers creating a store together, one makes it and every other opens it.

    The race: a second writer reads no zarr.json, then lists the prefix after the
    first has made the store; it must take that for the store, not for a stranger's
    objects. Four processes, released together, open ten new prefixes in order.
    """
    code = (
        "import sys\n"
        "from gridstore.storage.s3 import ObjectStore\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "for i in range(10):\n"
        "    s = ObjectStore.open(f'{sys.argv[1]}/s{i}', create=True)\n"
        "    s.claim_version()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"s3://{bucket}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for i in range(10):
        assert len(ObjectStore.open(f"s3://{bucket}/s{i}").staged()) == 4


# -- request costs -----------------------------------------------------------------------


def test_listing_costs_one_list_and_one_get_per_version(bucket: str) -> None:
    """Listing never reads chunks, and reads each version's zarr.json once (no HEAD first)."""
    url = f"s3://{bucket}/datasets"
    for seed in (1, 2):
        create_version(url, Plan(num_images=1000, seed=seed), workers=1, show_progress=False)
    store = ObjectStore.open(url)
    with s3_requests() as calls:
        names = store.versions()
    assert len(names) == 2
    assert calls == {"ListObjectsV2": 1, "GetObject": 2}
    with s3_requests() as calls:
        assert store.staged() == []
    assert calls == {"ListObjectsV2": 2, "GetObject": 2}  # the versions, then the claims
    with s3_requests() as calls:
        assert open_store(url).versions == names
    assert calls["ListObjectsV2"] == 1 and "HeadObject" not in calls


def test_zarr_on_object_storage_asks_for_v3_documents_only_and_once_each(
    s3_built: tuple[str, str, dict[str, Any]], faults: FaultProxy
) -> None:
    """zarr is told the format: it probes for none of zarr v2's documents (.zgroup,
    .zattrs, .zarray, .zmetadata), each a GET that fails and then s3fs's LIST to see
    whether the missing key is a directory. What it reads, it reads with one GET."""
    url, name, _ = s3_built
    with faults.recording() as requests:  # every process's, zarr's own included
        split = open_store(url).version(name)["train"]
        assert len(split.images[:5]) == 5 and len(split.fields) == 8
        assert validate_version(url, name, workers=2).ok
    v3 = [r for r in requests if r.endswith("/zarr.json")]
    v2 = [r for r in requests if re.search(r"/\.z|prefix=[^& ]*%2F\.z", r)]
    assert len(v3) >= 1 + 1 + 3 * (1 + len(FIELDS)) and v2 == []
    # what zarr reads in a split, each document and chunk, is one GET: s3fs asks no size first
    assert [r for r in requests if r.startswith("HEAD") and re.search(rf"/{name}/\w+/", r)] == []


def test_a_version_costs_a_put_per_object_and_a_copy_per_object(bucket: str) -> None:
    """Writing PUTs each object once; the commit copies each server-side once, with no HEAD."""
    url = f"s3://{bucket}/datasets"
    ObjectStore.open(url, create=True)
    with s3_requests() as calls:
        meta = create_version(
            url, Plan(num_images=1000), workers=1, engine="serial", show_progress=False
        )
    chunks = [p for p in s3_objects(f"{url}/{meta['version']}") if re.search(r"/c[./]", p)]
    assert len(chunks) == 24  # 3 splits x 8 arrays x 1 chunk
    # the version's, its splits' and its arrays' zarr.json, and each split's bbox labels
    # (a zarr.json and its one chunk)
    docs = 1 + 3 + 24 + 3 * 2
    # chunks; staged docs, the commit's rewrite of one and the version's own; plan and a
    # task record (hashes, json); the claim and the bookkeeping's 2 docs; the lease
    assert calls["PutObject"] == 24 + docs + 2 + 3 + 3 + 1
    assert calls["CopyObject"] == 24 + docs - 1  # all but the version's zarr.json
    assert calls["HeadObject"] == 0  # every object is read with one GET


def test_a_write_reads_each_document_and_hash_file_once_per_reader(
    bucket: str, faults: FaultProxy
) -> None:
    """The tasks of one writer share a backend (per thread): a staged array's zarr.json is
    read by the first task, not by every one (24 GETs a task: as many as its chunk PUTs).
    A commit's duplicates job reads each task's hash file once, whole as object storage
    is read, not once for the offsets of its parts and again for their hashes."""
    url = f"s3://{bucket}/datasets"
    ObjectStore.open(url, create=True)
    plan = Plan(num_images=12_000, blocks_per_chunk=1)
    jobs = [j for j in plan_jobs(plan, workers=1) if j.kind == "duplicates"]
    assert len(plan.tasks) == 3 and len(jobs) > 1
    with faults.recording() as requests:
        create_version(url, plan, workers=1, engine="serial", show_progress=False)
    staged = re.compile(r"GET /[^/]+/datasets/\.gridstore/work/staging/[^/]+/(\w+/\w+)/zarr\.json$")
    docs = Counter(m[1] for r in requests if (m := staged.match(r)))
    assert len(docs) == 3 * len(FIELDS)
    # once by the tasks, once by the commit's check of the array's chunks
    assert set(docs.values()) == {2}, docs
    hashes = Counter(r for r in requests if re.match(r"GET /.*/tasks/[^/]+/\d+\.h\d+$", r))
    assert len(hashes) == 3 and set(hashes.values()) == {len(jobs)}, hashes


# -- leases ------------------------------------------------------------------------------


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
    fs, key = s3_fs(), store._full(lock_key(name))
    assert key == f"{bucket}/datasets/.gridstore/work/locks/{name}"
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
                taken = json.loads(fs.cat_file(key))
                assert (taken["pid"], taken["generation"]) == (os.getpid(), 1)
    # a writer whose lease was taken over (it stalled) learns it before committing
    fs.rm_file(key)
    monkeypatch.setenv("GRIDSTORE_S3_LEASE_SECONDS", "0.5")  # renewed every 0.05 s
    with store.version_lock(name):
        first = json.loads(fs.cat_file(key))
        time.sleep(0.5)
        renewed = json.loads(fs.cat_file(key))
        assert renewed["renewed"] > first["renewed"]  # renewed with If-Match
        assert renewed["generation"] == first["generation"] == 1
        fs.pipe_file(key, json.dumps({"host": "elsewhere", "pid": 1, "generation": 2}).encode())
        time.sleep(0.5)
        with pytest.raises(StoreLockedError, match="taken over by another process"):
            store.commit(name, {}, {})


# -- what servers answer -----------------------------------------------------------------

# Each mode of the fault proxy, and the fault kinds a claim, a lease and a commit meet in it.
MODE_FAULTS = {
    "aws412": "412-aws",
    "minio412": "412-minio",
    "conflict409": "409",
    "lost500": "lost-500",
    "slowdown503": "503",
    "garble": "garbled",
    "delay": "delay",
    "aws412+conflict409+lost500+slowdown503": "409",
}


@pytest.mark.parametrize("mode", list(MODE_FAULTS))
def test_claims_leases_and_publishing_mean_the_same_whatever_the_server_answers(
    bucket: str, faults: FaultProxy, mode: str
) -> None:
    """A conditional create is settled by reading back: in every mode a writer's own claim,
    lease and publishing PUT are its own (a lost answer included), and another's are taken."""
    url = f"s3://{bucket}/datasets"
    mine, other = ObjectStore.open(url, create=True), ObjectStore(url)
    faults.set_mode(mode, every=4, delay=0.01)
    day = dt.date(2026, 1, 1)
    name = mine.claim_version(today=day)
    assert name == "2026-01-01-v1"  # its own claim, even when the answer to it was lost
    assert other.claim_version(today=day) == "2026-01-01-v2"  # a taken one is skipped
    with pytest.raises(VersionExistsError, match=f"'{name}' already exists"):
        other.claim_version(name)
    shapes = {"train": {"images": ((20, 16, 16), (20, 16, 16), "uint8")}}
    mine.create_arrays(name, {"plan": {}}, shapes)
    mine.write_chunk(name, "train", "images", 0, np.ones((20, 16, 16), np.uint8))
    with mine.version_lock(name):  # its own lease, not "locked by" itself
        locked = pytest.raises(StoreLockedError, match=f"locked by pid {os.getpid()}")
        with locked, other.version_lock(name):
            pass
        mine.commit(name, {"version": name}, shapes)  # published, not "already exists"
    assert other.versions() == [name]
    with other.version_lock(name), pytest.raises(VersionExistsError, match="not overwritten"):
        other._publish(name)  # another writer's publishing PUT is refused
    assert faults.injected[MODE_FAULTS[mode]] > 0, faults.injected


def test_a_conditional_put_is_settled_by_reading_back(bucket: str, faults: FaultProxy) -> None:
    """put_if returns the ETag of its own bytes when its answer was lost and its retry failed
    its own condition; None when another writer's bytes are there; If-Match swaps too."""
    fs, key = filesystem(), f"{bucket}/k"

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, fs.loop).result()

    faults.set_mode("minio412+lost500")
    etag = run(put_if(fs, key, b"mine"))
    assert etag == s3_fs().info(key)["ETag"]
    assert faults.injected["lost-500"] == 1  # applied, answered 500, retried: a 412
    assert run(put_if(fs, key, b"theirs")) is None
    assert faults.injected["412-minio"] == 2
    swapped = run(put_if(fs, key, b"mine, again", etag))
    assert swapped == s3_fs().info(key)["ETag"] != etag
    assert run(put_if(fs, key, b"stale", etag)) is None
    assert s3_fs().cat_file(key) == b"mine, again"


def test_a_server_that_keeps_failing_is_reported_in_one_line_after_the_deadline(
    bucket: str, faults: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throttling and server errors are retried with backoff until a deadline, then reported."""
    monkeypatch.setenv("GRIDSTORE_S3_RETRY_SECONDS", "1")
    faults.set_mode("slowdown503", every=1)  # every request
    started = time.monotonic()
    result = CliRunner().invoke(main, ["versions", "--store", f"s3://{bucket}/datasets"])
    took = time.monotonic() - started
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith(f"Error: cannot reach store 's3://{bucket}/datasets' (OSError: "), line
    assert "reduce your request rate" in line, line  # the server's own words, not ours
    assert faults.requests > 3 and 1 <= took < 10, (faults.requests, took)


@pytest.mark.parametrize("probe", ["bucket", "object"])
def test_a_faulted_probe_is_retried_not_taken_for_a_missing_bucket_or_object(
    bucket: str, faults: FaultProxy, probe: str
) -> None:
    """Opening a new store asks whether its bucket exists and whether its prefix is an
    object. Throttled or damaged answers say nothing either way, and are retried. (s3fs's
    own probes took them for "missing": a throttled HEAD and then a damaged answer to its
    second probe, GET ?location, made a generate say that the bucket did not exist; a
    throttled HEAD of the object let it pass for an empty prefix.)"""
    if probe == "bucket":  # the first HEAD /bucket is throttled, GET /bucket?location damaged
        probes = r"^(HEAD|GET) /[^/?]+/?(\?location|$)"
        faults.set_mode("slowdown503+garble", every=1, limit=1, matching=probes)
        url = f"s3://{bucket}/datasets"
    else:  # HEAD /bucket/key, throttled three times
        s3_fs().pipe_file(f"{bucket}/an-object", b"not a store")
        faults.set_mode("slowdown503", every=1, limit=3, matching=r"^HEAD /[^/?]+/an-object$")
        url = f"s3://{bucket}/an-object"
    result = CliRunner().invoke(main, ["generate", "--num-images", "10", "--yes", "--store", url])
    assert faults.injected["503"] == (1 if probe == "bucket" else 3)
    if probe == "bucket":
        assert result.exit_code == 0, result.output
        listed = CliRunner().invoke(main, ["versions", "--store", url, "--json"]).output
        assert [row["total"] for row in json.loads(listed)] == [10]
    else:
        assert result.exit_code == 1
        assert result.output.splitlines()[-1] == (
            f"Error: store URL '{url}' names an object, not a prefix; choose another --store"
        )


def test_a_task_whose_chunks_did_not_land_records_nothing(
    bucket: str, faults: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task's record marks it done, so it is written only once the task's chunk PUTs (sent
    in the background) have landed: when the server refuses them past the retry deadline,
    the run stops in one line, and the task has no record for a resume to trust."""
    monkeypatch.setenv("GRIDSTORE_S3_RETRY_SECONDS", "1")
    url, name = f"s3://{bucket}/datasets", "2026-01-01-v1"
    faults.set_mode("slowdown503", every=1, matching=r"^PUT /[^?]*/c\.\d")  # chunks only
    args = ["generate", "--num-images", "10", "--version", name, "--yes", "--quiet"]
    result = CliRunner().invoke(main, [*args, "--engine", "serial", "--store", url])
    refused = faults.injected["503"]
    faults.set_mode("off")
    assert result.exit_code == 1, result.output
    error = result.output.splitlines()[-1]  # after the plan
    assert error.startswith("Error: object storage kept failing for 1 s (OSError: "), error
    assert error.endswith("resumes with 'gridstore generate --resume --version NAME'"), error
    assert refused > 0
    store = open_backend(url)
    assert [s.name for s in store.staged()] == [name]
    assert store.task_indices(name) == set()


# -- reading ---------------------------------------------------------------------------


def _read_in_child(split: Any, rows: list[int]) -> np.ndarray:
    return split.images[rows]


def test_open_store_reads_the_local_arrays_lazily(
    s3_built: tuple, built_store: tuple[Path, str]
) -> None:
    """The reader on an FsspecStore: the local version's arrays, batches, and a pickled reader."""
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
        assert got.fields == want.fields == list(FIELDS)
        for field in FIELDS:
            np.testing.assert_array_equal(
                got.annotation(field)[:], want.annotation(field)[:], field
            )
    got, want = remote.version()["train"], here.version(local_version)["train"]
    for a, b in zip(
        got.batches(1000, seed=3, fields=list(FIELDS)),
        want.batches(1000, seed=3, fields=list(FIELDS)),
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


# -- command line and errors --------------------------------------------------------------


def test_cli_generate_versions_info_delete(bucket: str, tmp_path: Path) -> None:
    """Every command takes an s3:// URL as --store, kept whole (not collapsed like a path):
    generate, grow, versions, info, validate (sampled and full), preview, stats, export, delete."""
    url, runner = f"s3://{bucket}/team/datasets", CliRunner()
    args = ["--store", url, "--num-images", "3000", "--engine", "serial", "--yes", "--quiet"]
    result = runner.invoke(main, ["generate", *args])
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
    assert runner.invoke(main, ["validate", name, "--store", url, "--quiet"]).exit_code == 0
    full = runner.invoke(main, ["validate", name, "--store", url, "--full", "--quiet"])
    assert full.exit_code == 0, full.output
    for command in ("preview", "stats"):
        png = tmp_path / f"{command}.png"
        drawn = runner.invoke(main, [command, name, "--store", url, "-o", str(png)])
        assert drawn.exit_code == 0, drawn.output
        assert png.read_bytes().startswith(b"\x89PNG")
    exported = runner.invoke(main, ["export", name, "--store", url, "-o", str(tmp_path / "npz")])
    assert exported.exit_code == 0, exported.output
    with np.load(tmp_path / "npz" / "train.npz") as npz:
        assert np.array_equal(npz["images"], open_store(url).version(name)["train"].images[:])
    grow = ["generate", "--store", url, "--grow-from", name, "--num-images", "5000"]
    grown = runner.invoke(main, [*grow, "--engine", "serial", "--yes", "--quiet"])
    assert grown.exit_code == 0, grown.output
    assert runner.invoke(main, ["delete", name, "--store", url, "--yes"]).exit_code == 0
    rows = json.loads(runner.invoke(main, ["versions", "--store", url, "--json"]).output)
    assert [(r["state"], r["total"]) for r in rows] == [("complete", 5000)]
    assert s3_objects(f"{url}/{name}") == []  # nothing of it is left, its claim neither
    assert not s3_fs().exists(f"{url.removeprefix('s3://')}/{claim_key(name)}")
    again = ["generate", "--store", url, "--version", name, "--num-images", "10", "--yes"]
    reused = runner.invoke(main, again)
    assert reused.exit_code == 1 and "was deleted from" in reused.output, reused.output


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
        "Error: store URL 's3://{bucket}' needs a bucket and a prefix, like s3://bucket/datasets",
    ),
    (
        "scheme",
        ["versions", "--store", "gs://{bucket}/datasets"],
        "Error: unsupported URL scheme 'gs://' in 'gs://{bucket}/datasets'; a store is a local path or "
        "s3://bucket/prefix",
    ),
]


@pytest.mark.parametrize(("args", "line"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_one_line(bucket: str, args: list[str], line: str) -> None:
    fs = s3_fs()
    fs.pipe_file(f"{bucket}/other/file", b"not zarr")
    fill = {"bucket": bucket, "missing": f"{bucket}-missing"}
    result = CliRunner().invoke(main, [a.format(**fill) for a in args])
    assert result.exit_code == 1
    assert [ln for ln in result.output.splitlines() if ln.startswith("Error")] == [
        line.format(**fill)
    ]
    # CliRunner keeps a raised exception in result.exception, never in the output:
    # a user error ends in SystemExit (click's one-line exit), nothing else
    assert isinstance(result.exception, SystemExit), result.exception
    assert s3_objects(bucket) == [f"{bucket}/other/file"]  # nothing written anywhere
    assert not fs.exists(fill["missing"])


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
