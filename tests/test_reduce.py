"""The commit's reading on the engine: partitioned hash files, and exact counts from their jobs.

Tasks store their hashes sorted and cut by top bits; a duplicates job reads one
partition range of every task's file. These tests hold the reads to a plain
filter of the hashes (locally and on a real S3 server, older files too) and a
committed version's duplicate counts to a brute-force count of its images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import zarr

from gridstore.config import make_config
from gridstore.plan import SPLITS, Plan
from gridstore.storage import open_backend
from gridstore.storage.layout import staged_key, task_key
from gridstore.storage.records import pack_hashes
from gridstore.write import reduce, versions
from gridstore.write.versions import create_version
from tests.helpers_s3 import bucket_fixture, s3_endpoint_fixture

__all__ = ["bucket_fixture", "s3_endpoint_fixture"]

NAME = "2026-01-01-v1"


def _tasks() -> list[dict[str, np.ndarray]]:
    """Four tasks' hashes: random, some repeated, one split empty in one task."""
    rng = np.random.default_rng(3)
    pool = rng.integers(0, 2**64, 300, dtype=np.uint64)
    tasks = [{s: rng.choice(pool, int(rng.integers(0, 120))) for s in SPLITS} for _ in range(4)]
    tasks[1]["val"] = np.zeros(0, np.uint64)
    return tasks


def _in(h: np.ndarray, bits: int, parts: range) -> np.ndarray:
    top = (h >> np.uint64(64 - bits)).astype(np.int64) if bits else np.zeros(len(h), np.int64)
    return np.sort(h[(top >= parts.start) & (top < parts.stop)])


def _store_tasks(store, tasks: list[dict[str, np.ndarray]], bits: int, kinds: list[str]) -> None:
    for t, (hashes, kind) in enumerate(zip(tasks, kinds, strict=True)):
        if kind in ("parts", "other bits"):  # the latter read whole and filtered
            store.put_task_hashes(NAME, t, hashes, bits + (kind == "other bits"))
        elif kind == "counts":  # the previous raw file: a count per split, then the hashes
            counts = np.array([len(h) for h in hashes.values()], "<i8").tobytes()
            store._put(
                task_key(NAME, t, "hashes"), counts + b"".join(h.tobytes() for h in hashes.values())
            )
        else:  # the first gridstore's npz
            buf = io.BytesIO()
            np.savez(buf, **hashes)
            store._put(task_key(NAME, t, "npz"), buf.getvalue())


def _check_parts(store, tasks: list[dict[str, np.ndarray]], bits: int) -> None:
    n = 1 << bits
    for parts in {range(n), range(1), range(min(1, n - 1), min(3, n)), range(n - 1, n)}:
        got = list(store.hash_parts(NAME, list(range(len(tasks))), SPLITS, bits, parts))
        for hashes, found in zip(tasks, got, strict=True):
            for s in SPLITS:
                np.testing.assert_array_equal(np.sort(found[s]), _in(hashes[s], bits, parts))


@pytest.mark.parametrize("bits", [0, 2, 5])
def test_a_partition_range_of_every_task_is_its_hashes_in_that_range(
    tmp_path: Path, bits: int
) -> None:
    """Files written with the asked bits, with others, and by older gridstores alike."""
    store = open_backend(tmp_path / "store", create=True)
    tasks = _tasks()
    _store_tasks(store, tasks, bits, ["parts", "counts", "npz", "other bits"])
    _check_parts(store, tasks, bits)


def test_a_partition_range_lists_the_tasks_files_only_for_older_files(tmp_path: Path) -> None:
    """A job reads 600 partitioned files without listing them; older ones, with one listing.

    (A listing a batch of 256 made each job at 10**9 images list 100,000 files 196 times.)
    """
    store = open_backend(tmp_path / "store", create=True)
    tasks = [_tasks()[t % 4] for t in range(600)]
    listings = []
    listed = store._list

    def counted(prefix: str) -> list[str]:
        listings.append(prefix)
        return listed(prefix)

    store._list = counted
    _store_tasks(store, tasks, 4, ["parts"] * 600)
    assert len(list(store.hash_parts(NAME, list(range(600)), SPLITS, 4, range(2, 5)))) == 600
    assert listings == []
    _store_tasks(store, tasks, 4, ["parts"] * 599 + ["npz"])  # task 599: an npz (and h4)
    store._remove(task_key(NAME, 599, "h4"))
    _check_parts(store, tasks, 4)
    assert len(listings) == 4  # one per call of four: the older file's batch


def test_partition_ranges_on_object_storage(bucket: str) -> None:
    """Range reads on a real S3 server, including a range past a short older file's end."""
    store = open_backend(f"s3://{bucket}/store", create=True)
    tasks = _tasks()
    tasks[2] = {s: h[:1] for s, h in tasks[2].items()}  # 3 hashes: 48 bytes, shorter than a range
    _store_tasks(store, tasks, 4, ["parts", "npz", "counts", "parts"])
    _check_parts(store, tasks, 4)


def test_a_hash_file_is_sorted_partitions_after_their_offsets() -> None:
    """The layout that the commit's range reads rely on, written out from the spec."""
    h = {"train": np.array([3 << 62, 1, 2 << 62], np.uint64), "val": np.array([5], np.uint64)}
    raw = pack_hashes(h, 1)
    assert raw[:4] == b"GSH2"
    assert np.frombuffer(raw, "<u4", 3, offset=4).tolist() == [2, 1, 0]
    # partition 0: train [1], val [5]; partition 1: train [2<<62, 3<<62], val []
    assert np.frombuffer(raw, "<i8", 5, offset=16).tolist() == [0, 1, 2, 4, 4]
    assert np.frombuffer(raw, "<u8", offset=56).tolist() == [1, 5, 2 << 62, 3 << 62]


def _brute_force(store: Path, version: str) -> dict[str, int]:
    root = zarr.open_group(store / version, mode="r")
    seen = []
    out = {}
    for s in SPLITS:
        rows = root[s]["images"][:].reshape(-1, 256)
        distinct = np.unique(rows, axis=0)
        out[f"{s}_within"] = len(rows) - len(distinct)
        seen.append(distinct)
    both = np.concatenate(seen)
    out["cross_split"] = len(both) - len(np.unique(both, axis=0))
    return out


@pytest.fixture(scope="module")
def repeats_plan() -> Plan:
    """Small single objects in independent splits: many repeats, within and across splits."""
    config = make_config("atomic", max_objects=1, max_size=5)
    return Plan(
        num_images=12_000, seed=4, config=config, blocks_per_chunk=1, split_mode="independent"
    )


@pytest.fixture(scope="module")
def on_the_pool(tmp_path_factory: pytest.TempPathFactory, repeats_plan: Plan) -> tuple[Path, dict]:
    """The version written and committed by the pool's two workers."""
    store = tmp_path_factory.mktemp("pool")
    return store, create_version(store, repeats_plan, name=NAME, workers=2, show_progress=False)


def test_duplicate_counts_from_the_workers_jobs_are_exact(
    repeats_plan: Plan, on_the_pool: tuple[Path, dict]
) -> None:
    """Several duplicates jobs (16 partitions) on two workers: a brute-force count's numbers."""
    assert len([j for j in reduce.plan_jobs(repeats_plan, 2) if j.kind == "duplicates"]) > 1
    store, meta = on_the_pool
    expected = _brute_force(store, NAME)
    assert expected["cross_split"] > 100 and expected["train_within"] > 500
    assert meta["duplicates"] == expected
    assert list(meta["generation"]["phase_seconds"]) == ["tasks", "merging"]


def test_the_jobs_give_the_same_metadata_in_this_process(
    tmp_path: Path, repeats_plan: Plan, on_the_pool: tuple[Path, dict]
) -> None:
    """Statistics, sizes and counts: in this process as on the pool; the bytes are the files'."""
    meta = create_version(tmp_path, repeats_plan, name=NAME, engine="serial", show_progress=False)
    keep = ("statistics", "duplicates", "storage", "dataset_info")
    assert {k: meta[k] for k in keep} == {k: on_the_pool[1][k] for k in keep}
    files = [f for f in (tmp_path / NAME).rglob("*") if f.is_file()]
    own = (tmp_path / NAME / "zarr.json").stat().st_size  # written after the count
    assert meta["storage"]["bytes_on_disk"] == sum(f.stat().st_size for f in files) - own


def test_a_killed_writers_unfinished_file_is_not_counted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    repeats_plan: Plan,
    on_the_pool: tuple[Path, dict],
) -> None:
    """A chunk's temporary file left by a killed worker: not in the version, nor in its bytes."""

    def leave_a_partial_chunk(point: str) -> None:
        if point == "before-commit":
            images = tmp_path / staged_key(NAME) / "train" / "images"
            (images / ".c.0.0.0.12345.tmp").write_bytes(b"\0" * 16384)

    monkeypatch.setattr(versions, "crash_point", leave_a_partial_chunk)
    meta = create_version(tmp_path, repeats_plan, name=NAME, engine="serial", show_progress=False)
    assert meta["storage"] == on_the_pool[1]["storage"]
    assert not list((tmp_path / NAME).rglob(".*"))


def test_a_duplicates_job_holds_its_hashes_and_one_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's peak (numpy's, traced) is its hashes read, not several copies of them.

    Its hashes share their top bits (its partitions): buckets cut by those would
    put every hash in one. 2M images, random hashes: 4 MB a job, in four buckets.
    """
    import json
    import tracemalloc

    monkeypatch.setattr(reduce, "JOB_BUCKET_BYTES", 1 << 20)
    store, plan = open_backend(tmp_path, create=True), Plan(num_images=2_000_000, seed=0)
    bits, rng = reduce.hash_bits(plan.num_images), np.random.default_rng(0)
    tasks = [
        {s: rng.integers(0, 2**64, b - a, np.uint64) for s, (a, b) in plan.task_rows(t).items()}
        for t in plan.tasks
    ]
    _store_tasks(store, tasks, bits, ["parts"] * len(tasks))
    jobs = reduce.plan_jobs(plan, 2)
    i = next(k for k, j in enumerate(jobs) if j.kind == "duplicates")
    parts = range(jobs[i].start, jobs[i].stop)
    held = sum(_in(h[s], bits, parts).nbytes for h in tasks for s in SPLITS)
    assert held > 3_000_000
    tracemalloc.start()
    try:
        got = reduce.run_job(str(tmp_path), NAME, json.dumps(plan.to_dict()), None, jobs, i)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got["duplicates"] == {
        "train_within": 0,
        "val_within": 0,
        "test_within": 0,
        "cross_split": 0,
    }
    assert peak < 2.5 * held  # read (twice: the bytes and their offsets' batch), one bucket
