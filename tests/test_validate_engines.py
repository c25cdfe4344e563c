"""validate's chunk checks as engine tasks: the serial report, whatever runs them.

A small version is damaged in six of its chunks, one kind of damage per
chunk (so that failures of one check come from several tasks, which finish
in any order), then validated in this process, in a pool of 2 spawned
workers, on a real Dask LocalCluster, and through the CLI: every report must
equal the serial one but for its time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.config import make_config
from gridstore.errors import WorkerLostError
from gridstore.plan import Plan
from gridstore.statistics import count_duplicates
from gridstore.storage import FIELDS
from gridstore.validate.hashes import HashSpill
from gridstore.validate.task import InOrder, TaskFindings
from gridstore.validate.unique import late_skips
from gridstore.validate.version import ValidationReport, validate_version
from gridstore.write.versions import create_version
from tests.helpers_s3 import bucket_fixture, s3_endpoint_fixture, s3_fs  # noqa: F401 - fixtures

# Six tasks of one routing block each (train 4000, val 500, test 500 images per chunk).
PLAN = Plan(num_images=30_000, seed=5, blocks_per_chunk=1)
SMALL = make_config(
    "atomic",
    grid_size=8,
    max_objects=2,
    min_size=2,
    max_size=4,
    type_weights={"blob": 1, "rectangle": 1, "line": 1, "pattern": 0},
)  # as tests/test_unique.py: few distinct images, so a unique version passes draws over


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _damage(store: Path, version: str) -> list[str]:
    """One damage per chunk 0..5; returns the damaged chunk files' keys."""
    keys = [
        f"{version}/train/images/c.0.0.0",  # a flipped bit
        f"{version}/val/object_bbox/c.1.0.0",  # deleted
        f"{version}/test/instance_map/c.2.0.0",  # half of it
        f"{version}/val/num_objects/c.5",  # 3 bytes left
    ]
    _flip(store / keys[0])
    (store / keys[1]).unlink()
    data = (store / keys[2]).read_bytes()
    (store / keys[2]).write_bytes(data[: len(data) // 2])
    (store / keys[3]).write_bytes((store / keys[3]).read_bytes()[:3])
    group = zarr.open_group(store / version, mode="r+")
    images = group["train"]["images"]  # chunk 3: a pixel recoloured, re-encoded (crc valid)
    chunk = images[12_000:16_000]
    for i in (7, 3000):
        row, col = np.argwhere(chunk[i] > 0)[0]
        chunk[i, row, col] = chunk[i, row, col] % 9 + 1
    images[12_000:16_000] = chunk
    for name in FIELDS:  # chunk 4: val image 3 copied over train image 16_005
        array = group["train"][name]
        rows = array[16_000:20_000]
        rows[5] = group["val"][name][3]
        array[16_000:20_000] = rows
    return keys


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("engines") / "datasets"
    version = create_version(store, PLAN, engine="serial", show_progress=False)["version"]
    _damage(store, version)
    return store, version


@pytest.fixture(scope="module")
def serial(damaged: tuple[Path, str]) -> dict[str, dict[str, Any]]:
    """The serial reports, full and sampled: what every engine must reproduce."""
    store, version = damaged
    return {
        "full": _same(validate_version(store, version, full=True, engine="serial")),
        "sampled": _same(validate_version(store, version, sample=3, seed=1, engine="serial")),
    }


def _same(report: ValidationReport) -> dict[str, Any]:
    """The report but its time."""
    out = report.to_dict()
    del out["seconds"]
    return out


def test_the_damage_fails_many_checks_from_many_tasks(
    serial: dict[str, dict[str, Any]], damaged: tuple[Path, str]
) -> None:
    """The reference is worth comparing with: failures from every chunk, in chunk order."""
    version = damaged[1]
    where = {c["name"]: c["where"] for c in serial["full"]["checks"] if not c["ok"]}
    assert set(where) == {
        "chunks_present",
        "checksums",
        "constraints",
        "instance_maps",
        "regeneration",
        "duplicates",
        "digest",  # chunks are missing: no digest to recompute
    }
    assert set(where["digest"]) == set(where["checksums"])  # the chunks read whole
    assert where["checksums"] == [
        f"{version}/train/images/c.0.0.0",
        f"{version}/val/object_bbox/c.1.0.0",
        f"{version}/test/instance_map/c.2.0.0",
        f"{version}/val/num_objects/c.5",
    ]
    assert where["constraints"] == ["train:12007", "train:15000"]
    assert where["duplicates"] == ["train:16005"]
    assert serial["sampled"]["chunks"]["train"] == [1, 2, 5]  # three damaged chunks


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_two_worker_processes_give_the_serial_report(
    damaged: tuple[Path, str], serial: dict[str, dict[str, Any]], mode: str
) -> None:
    store, version = damaged
    kw: dict[str, Any] = {"full": True} if mode == "full" else {"sample": 3, "seed": 1}
    report = validate_version(store, version, engine="processes", workers=2, **kw)
    assert _same(report) == serial[mode]


@pytest.mark.slow
@pytest.mark.usefixtures("environ_restored")
def test_a_dask_local_cluster_gives_the_serial_report(
    damaged: tuple[Path, str], serial: dict[str, dict[str, Any]]
) -> None:
    pytest.importorskip("distributed")
    store, version = damaged
    report = validate_version(store, version, full=True, engine="dask", workers=2)
    assert _same(report) == serial["full"]


def test_the_cli_with_two_workers_prints_the_serial_report(damaged: tuple[Path, str]) -> None:
    store, version = damaged
    base = ["validate", version, "--store", str(store), "--full", "--json"]
    runs = [
        CliRunner().invoke(main, [*base, "--engine", "serial", "--quiet"]),
        CliRunner().invoke(main, [*base, "--workers", "2"]),
    ]
    assert [r.exit_code for r in runs] == [1, 1], runs[1].output
    reports = [json.loads(r.stdout) for r in runs]
    for r in reports:
        del r["seconds"]
    assert reports[0] == reports[1]
    assert runs[0].stderr == ""
    assert f"validate {version}" in runs[1].stderr  # the progress bar, on stderr
    assert "30.0k/30.0k" in runs[1].stderr


def test_on_object_storage_two_workers_name_the_damaged_chunks_alike(bucket: str) -> None:
    """Workers read s3:// through their own clients (the AWS environment, inherited)."""
    store = f"s3://{bucket}/datasets"
    plan = Plan(num_images=15_000, seed=2, blocks_per_chunk=1)
    version = create_version(store, plan, engine="serial", show_progress=False)["version"]
    fs, root = s3_fs(), f"{bucket}/datasets/{version}"
    flipped, missing, truncated = (
        "val/instance_map/c.0.0.0",
        "train/images/c.1.0.0",
        "test/object_size/c.2.0",
    )
    raw = bytearray(fs.cat_file(f"{root}/{flipped}"))
    raw[len(raw) // 2] ^= 0x10
    fs.pipe_file(f"{root}/{flipped}", bytes(raw))
    fs.rm_file(f"{root}/{missing}")
    fs.pipe_file(f"{root}/{truncated}", fs.cat_file(f"{root}/{truncated}")[:-20])
    one = validate_version(store, version, full=True, engine="serial")
    two = validate_version(store, version, full=True, engine="processes", workers=2)
    assert one.check("checksums").where == [f"{version}/{k}" for k in (flipped, missing, truncated)]
    assert _same(two) == _same(one)


def test_a_unique_version_is_proven_alike_by_two_workers(tmp_path: Path) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1, unique=True)
    create_version(tmp_path / "u", plan, engine="serial", show_progress=False)
    one = validate_version(tmp_path / "u", full=True, engine="serial")
    two = validate_version(tmp_path / "u", full=True, engine="processes", workers=2)
    assert one.ok, one.summary_lines()
    assert "every draw passed over repeats an earlier one" in one.check("duplicates").detail
    assert _same(two) == _same(one)


def test_a_worker_killed_mid_validation_is_one_line_error(
    damaged: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, version = damaged
    monkeypatch.setenv("GRIDSTORE_CRASH_AT", "validate-task-1")  # the spawned workers see it
    with pytest.raises(WorkerLostError, match=f"died while validating {version}") as err:
        validate_version(store, version, full=True, engine="processes", workers=2)
    assert "\n" not in str(err.value)


def test_findings_are_handed_on_in_chunk_order() -> None:
    order = InOrder([0, 2, 3, 7])
    got = [[f.chunk for f in order.add(TaskFindings(c))] for c in (3, 2, 7, 0)]
    assert got == [[], [], [], [0, 2, 3, 7]]
    order = InOrder([0, 2, 3])
    got = [[f.chunk for f in order.add(TaskFindings(c))] for c in (0, 3, 2)]
    assert got == [[0], [], [2, 3]]


@pytest.mark.parametrize("bucket_bytes", [1 << 24, 1 << 10], ids=["one-bucket", "many-buckets"])
def test_spilled_hashes_count_as_in_memory(tmp_path: Path, bucket_bytes: int) -> None:
    """Duplicates within and across splits, and late skips, as counted from memory."""
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 2**64, size=3000, dtype=np.uint64)  # draws repeat: duplicates
    sizes = {"train": 400, "val": 50, "test": 50}
    tasks = [{s: rng.choice(pool, size=n) for s, n in sizes.items()} for _ in range(12)]
    pair = np.dtype([("h", np.uint64), ("p", np.int64)])
    draws = np.zeros(2000, pair)
    draws["h"], draws["p"] = rng.choice(pool, size=2000), rng.permutation(2000)
    taken, passed = draws[:1500], draws[1500:]
    spill = HashSpill(tmp_path, 12 * 500, bucket_bytes=bucket_bytes)
    for t, part in enumerate(tasks):
        spill.add(part, taken[t * 125 : (t + 1) * 125], passed[t * 41 : (t + 1) * 41])
    assert spill.bits == (0 if bucket_bytes > 1 << 20 else 6)
    splits = ("train", "val", "test")
    want = count_duplicates(lambda: tasks, splits, 12 * 500)
    assert want["train_within"] > 0 and want["cross_split"] > 0
    assert spill.count_duplicates(splits) == (want, None)
    assert spill.images == 12 * 500
    assert spill.late_skips() == late_skips(taken, passed[: 12 * 41]) > 0
