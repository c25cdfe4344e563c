"""gridstore.validate.version against real versions on disk, intact and damaged in known places."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from gridstore.errors import (
    ConfigError,
    StoreNotFoundError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.plan import Plan
from gridstore.storage import FIELDS, open_backend
from gridstore.validate.task import MAX_WHERE
from gridstore.validate.version import CHECKS, ValidationReport, validate_version
from gridstore.write.versions import create_version

# One block per chunk: 3 tasks, so chunks 0 and 1 are full and chunk 2 is partial
# (train 4000 + 4000 + 1600 images, val and test 500 + 500 + 200).
PLAN = Plan(num_images=12_000, seed=3, blocks_per_chunk=1)


@pytest.fixture(scope="module")
def version_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with one complete version of PLAN (module-wide: copy it before damaging)."""
    store = tmp_path_factory.mktemp("validate") / "datasets"
    meta = create_version(store, PLAN, workers=1, show_progress=False)
    return store, meta["version"]


@pytest.fixture
def damaged(version_store: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the version store that the test may damage."""
    src, version = version_store
    shutil.copytree(src, tmp_path / "datasets")
    return tmp_path / "datasets", version


def failing(report: ValidationReport) -> dict[str, list[str]]:
    """The failed checks, each with its locations."""
    return {c.name: c.where for c in report.checks if not c.ok}


def flip_bit(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("full", [False, True], ids=["sampled", "full"])
def test_fresh_version_passes_every_check(version_store: tuple[Path, str], full: bool) -> None:
    store, version = version_store
    report = validate_version(store, version, sample=2, full=full)
    assert report.ok, "\n".join(report.summary_lines())
    assert [c.name for c in report.checks] == list(CHECKS)
    assert report.version == version
    expected = [0, 1, 2] if full else report.chunks["train"]
    assert report.chunks == {"train": expected, "val": expected, "test": expected}
    assert len(expected) == (3 if full else 2)
    assert expected[-1] == 2  # the partial chunk is always checked
    lines = report.summary_lines()
    assert len(lines) == 1 + len(CHECKS)
    assert all(line.startswith("PASS") for line in lines[1:])
    assert all(c.detail for c in report.checks), "a passed check says what it checked"
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True


def test_default_layout_version_passes(built_store: tuple[Path, str]) -> None:
    """The shared conftest version (default 4 blocks per chunk, a partial block) passes in full."""
    store, version = built_store
    report = validate_version(store, full=True)
    assert report.version == version
    assert report.ok, "\n".join(report.summary_lines())


def test_flipped_bit_fails_checksums_naming_the_chunk(damaged: tuple[Path, str]) -> None:
    store, version = damaged
    key = f"{version}/train/images/c.1.0.0"
    flip_bit(store / key)
    report = validate_version(store, version, full=True)
    assert failing(report) == {"checksums": [key], "digest": [key]}  # the digest names it too
    assert "crc32c" in report.check("checksums").detail
    assert any(line.startswith("FAIL checksums") and key in line for line in report.summary_lines())


def test_deleted_chunk_is_reported_missing_never_read_as_zeros(damaged: tuple[Path, str]) -> None:
    store, version = damaged
    key = f"{version}/val/object_bbox/c.0.0.0"
    (store / key).unlink()
    assert failing(validate_version(store, version, sample=1)) == {"chunks_present": [key]}
    report = validate_version(store, version, full=True)
    # Zeros in place of the boxes would fail constraints and regeneration: the chunk is skipped.
    assert failing(report) == {"chunks_present": [key], "checksums": [key], "digest": [key]}
    assert "missing" in report.check("checksums").detail


def test_chunks_present_counts_the_files_missing_and_truncated(damaged: tuple[Path, str]) -> None:
    """3 splits of 3 chunks, one file per field: counted whole, then one lost and two cut."""
    store, version = damaged
    files = 3 * 3 * len(FIELDS)
    intact = validate_version(store, version, sample=1).check("chunks_present")
    assert intact.detail == f"all {files} chunk files present"
    (store / version / "val/object_bbox/c.0.0.0").unlink()
    (store / version / "test/images/c.1.0.0").write_bytes(b"12")
    (store / version / "test/images/c.0.0.0").write_bytes(b"")  # empty: there, but truncated
    report = validate_version(store, version, sample=1).check("chunks_present")
    assert report.detail == f"1 of {files} chunk files missing, 2 truncated below 21 bytes"


@pytest.mark.parametrize(
    ("keep", "checks"),
    [
        (0.5, {"checksums"}),
        (0, {"chunks_present", "checksums"}),
        (3, {"chunks_present", "checksums"}),
        (21, {"checksums"}),  # the shortest a chunk file can be: read, and its crc fails
    ],
    ids=["half", "empty", "3-bytes", "21-bytes"],
)
def test_truncated_chunk_fails_naming_it(
    damaged: tuple[Path, str], keep: float, checks: set[str]
) -> None:
    store, version = damaged
    key = f"{version}/test/instance_map/c.2.0.0"
    data = (store / key).read_bytes()
    (store / key).write_bytes(data[: int(len(data) * keep) if keep < 1 else int(keep)])
    report = validate_version(store, version, sample=1)  # the last chunk is always sampled
    assert failing(report) == {check: [key] for check in checks}


def test_consistent_pixel_edit_fails_regeneration_and_constraints(
    damaged: tuple[Path, str],
) -> None:
    """A re-encoded chunk passes its checksum; the rules and the regeneration catch the edit."""
    store, version = damaged
    images = zarr.open_array(store=store / version, path="train/images", mode="r+")
    chunk = images[4000:8000]
    row, col = np.argwhere(chunk[7] > 0)[0]
    chunk[7, row, col] = chunk[7, row, col] % 9 + 1  # another colour than its object's
    images[4000:8000] = chunk
    report = validate_version(store, version, full=True)
    bad = failing(report)
    assert set(bad) == {"constraints", "instance_maps", "regeneration", "digest"}
    assert bad["regeneration"] == [f"{version}/train/images/c.1.0.0"]
    assert bad["digest"] == []  # its crc32c is valid: the content changed, no chunk is damaged
    assert bad["constraints"] == bad["instance_maps"] == ["train:4007"]
    assert "image_matches_instances" in report.check("constraints").detail
    assert "train:4007" in report.check("regeneration").detail


def test_a_check_keeps_at_most_max_where_locations(damaged: tuple[Path, str]) -> None:
    """150 recoloured images in each of two chunks: the check names the first MAX_WHERE."""
    store, version = damaged
    images = zarr.open_array(store=store / version, path="train/images", mode="r+")
    for start in (0, 4000):
        chunk = images[start : start + 4000]
        for image in chunk[:150]:
            row, col = np.argwhere(image > 0)[0]
            image[row, col] = image[row, col] % 9 + 1
        images[start : start + 4000] = chunk
    check = validate_version(store, version, full=True).check("constraints")
    assert check.where == [f"train:{i}" for i in range(MAX_WHERE)]


def test_by_default_a_version_of_more_than_eight_chunks_is_sampled_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nine chunks per split: a call without sample, full or progress reads 8 of each, the
    last among them, and prints nothing."""
    plan = Plan(num_images=45_000, seed=3, blocks_per_chunk=1)
    create_version(tmp_path / "ds", plan, engine="serial", show_progress=False)
    capsys.readouterr()
    began = time.perf_counter()
    report = validate_version(tmp_path / "ds", engine="serial")
    assert 0 < report.seconds <= time.perf_counter() - began
    assert report.ok and not report.full and report.seed == 0
    assert all(len(c) == 8 and c[-1] == 8 for c in report.chunks.values()), report.chunks
    assert capsys.readouterr() == ("", "")
    whole = validate_version(tmp_path / "ds", sample=None, engine="serial")  # None: every chunk
    assert whole.full and whole.chunks == {s: list(range(9)) for s in ("train", "val", "test")}


def test_an_empty_splits_arrays_are_checked_too(tmp_path: Path) -> None:
    """Three images: val and test hold none, and their arrays' shapes are checked all the same."""
    meta = create_version(tmp_path / "s", Plan(num_images=3), engine="serial", show_progress=False)
    version = meta["version"]
    clean = validate_version(tmp_path / "s", engine="serial")
    assert clean.ok and clean.chunks == {"train": [0], "val": [], "test": []}
    assert "all 3 images" in clean.check("duplicates").detail  # every split checked whole
    doc_path = tmp_path / "s" / version / "val/images/zarr.json"
    doc = json.loads(doc_path.read_text())
    doc["shape"] = [1, 16, 16]
    doc_path.write_text(json.dumps(doc))
    structure = validate_version(tmp_path / "s", engine="serial").check("structure")
    assert structure.where == [f"{version}/val/images"], structure.detail


def test_image_moved_across_splits_fails_duplicates(damaged: tuple[Path, str]) -> None:
    """Val image 3, copied with its annotations over train image 5, breaks disjointness."""
    store, version = damaged
    group = zarr.open_group(store / version, mode="r+")
    for name in FIELDS:
        array = group["train"][name]
        rows = array[0:4000]
        rows[5] = group["val"][name][3]
        array[0:4000] = rows
    report = validate_version(store, version, full=True)
    assert set(failing(report)) == {"regeneration", "duplicates", "digest"}
    assert report.check("duplicates").where == ["train:5"]
    assert "1 contents are in two splits" in report.check("duplicates").detail


def test_tampered_count_fails_split_counts(damaged: tuple[Path, str]) -> None:
    store, version = damaged
    doc_path = store / version / "zarr.json"
    doc = json.loads(doc_path.read_text())
    doc["attributes"]["dataset_info"]["train_count"] += 1
    doc_path.write_text(json.dumps(doc))
    report = validate_version(store, version)
    bad = failing(report)
    assert set(bad) == {"structure", "split_counts"}
    assert f"{version}/train/images" in bad["split_counts"]
    assert "9601" in report.check("split_counts").detail
    assert report.chunks.keys() == {"val", "test"}  # train's data is not trusted to a wrong shape


def test_a_total_count_that_disagrees_with_the_splits_fails_split_counts(
    damaged: tuple[Path, str],
) -> None:
    store, version = damaged
    doc_path = store / version / "zarr.json"
    doc = json.loads(doc_path.read_text())
    doc["attributes"]["dataset_info"]["total_count"] += 1
    doc_path.write_text(json.dumps(doc))
    report = validate_version(store, version, sample=1)
    assert set(failing(report)) == {"split_counts"}
    assert "total_count 12001 and generation_params.num_images 12000 disagree" in (
        report.check("split_counts").detail
    )


def test_missing_metadata_field_fails_metadata(damaged: tuple[Path, str]) -> None:
    store, version = damaged
    doc_path = store / version / "zarr.json"
    doc = json.loads(doc_path.read_text())
    del doc["attributes"]["memory_info"], doc["attributes"]["file_format"]["compression"]
    doc_path.write_text(json.dumps(doc))
    assert failing(validate_version(store, version)) == {
        "metadata": ["memory_info", "file_format.compression"]
    }


@pytest.mark.parametrize(
    ("lost", "shown"),
    [
        (
            ["memory_info", "timestamp", "file_format.compression", "file_format.dtype"],
            "missing timestamp; missing memory_info; missing file_format.dtype; "
            "missing file_format.compression",
        ),
        (
            [
                "memory_info",
                "timestamp",
                "file_format.compression",
                "file_format.dtype",
                "dataset_info.total_count",
            ],
            "missing timestamp; missing dataset_info.total_count; missing memory_info; "
            "missing file_format.dtype; +1 more",
        ),
    ],
    ids=["4", "5"],
)
def test_a_check_shows_four_notes_and_counts_the_rest(
    damaged: tuple[Path, str], lost: list[str], shown: str
) -> None:
    """Four notes are shown whole; a fifth is counted as `+1 more`, and four have no count."""
    store, version = damaged
    doc_path = store / version / "zarr.json"
    doc = json.loads(doc_path.read_text())
    for dotted in lost:
        *parents, field = dotted.split(".")
        node = doc["attributes"]
        for part in parents:
            node = node[part]
        del node[field]
    doc_path.write_text(json.dumps(doc))
    assert validate_version(store, version).check("metadata").detail == shown


def test_sample_is_deterministic_and_includes_the_last_chunk(
    version_store: tuple[Path, str],
) -> None:
    store, version = version_store
    picks = {
        s: validate_version(store, version, sample=2, seed=s).chunks["train"] for s in range(8)
    }
    assert picks[5] == validate_version(store, version, sample=2, seed=5).chunks["train"]
    assert all(len(p) == 2 and p[-1] == 2 for p in picks.values())
    assert {tuple(p) for p in picks.values()} == {(0, 2), (1, 2)}  # seeds do choose
    assert validate_version(store, version, sample=3).full  # a sample of every chunk is all


def test_sampled_mode_reads_only_the_sampled_chunks(damaged: tuple[Path, str]) -> None:
    """Every chunk file of chunks 0 and 1 fails its crc; sampling chunk 2 reads none of them."""
    store, version = damaged
    corrupted = sorted(p for p in (store / version).glob("*/*/c.[01]*") if p.is_file())
    assert len(corrupted) == 2 * 3 * 8
    for path in corrupted:
        flip_bit(path, offset=len(path.read_bytes()) // 2)
    sampled = validate_version(store, version, sample=1)
    assert sampled.ok
    assert sampled.chunks == {"train": [2], "val": [2], "test": [2]}
    full = validate_version(store, version, full=True)
    assert len(failing(full)["checksums"]) == len(corrupted)


def test_independent_mode_reports_shared_contents_without_failing(tmp_path: Path) -> None:
    plan = Plan(num_images=6000, seed=1, blocks_per_chunk=1, split_mode="independent")
    create_version(tmp_path / "ds", plan, workers=1, show_progress=False)
    report = validate_version(tmp_path / "ds", full=True)
    assert report.ok, "\n".join(report.summary_lines())
    assert report.check("duplicates").detail.startswith("independent splits: ")


def test_user_errors_raise_one_line_gridstore_errors(
    version_store: tuple[Path, str], tmp_path: Path
) -> None:
    store, version = version_store
    with pytest.raises(StoreNotFoundError, match="does not exist") as err:
        validate_version(tmp_path / "nowhere")
    assert "\n" not in str(err.value)
    with pytest.raises(VersionNotFoundError, match=f"available: {version}"):
        validate_version(store, "2020-01-01-v1")
    with pytest.raises(ConfigError, match="sample must be an integer >= 1, got 0"):
        validate_version(store, sample=0)
    with pytest.raises(ConfigError, match="seed must be an integer >= 0, got -1"):
        validate_version(store, sample=1, seed=-1)
    with pytest.raises(ConfigError, match="unknown engine 'bogus'"):  # before the store is read
        validate_version(tmp_path / "nowhere", engine="bogus")  # type: ignore[arg-type]
    fresh = tmp_path / "fresh"
    open_backend(fresh, create=True).claim_version("2026-01-01-v1")
    with pytest.raises(VersionIncompleteError, match="unfinished"):
        validate_version(fresh, "2026-01-01-v1")
    with pytest.raises(VersionNotFoundError, match="no complete version"):
        validate_version(fresh)


def test_progress_bar_goes_to_stderr(
    version_store: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    validate_version(version_store[0], sample=1, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "validate" in err


def test_each_split_lists_only_its_own_chunks_when_the_counts_differ(tmp_path: Path) -> None:
    """5,001 images: the last block's one image goes to train, so train has 2 chunks and val
    and test 1; the report names chunk 1 for train only (it does not exist in the others)."""
    plan = Plan(num_images=5001, seed=3, blocks_per_chunk=1)
    meta = create_version(tmp_path / "ds", plan, engine="serial", show_progress=False)
    report = validate_version(tmp_path / "ds", full=True, engine="serial")
    assert report.ok, "\n".join(report.summary_lines())
    assert report.chunks == {"train": [0, 1], "val": [0], "test": [0]}
    # every chunk read: the duplicates are counted over the whole version (val and test have
    # no chunk 1, so it is not waited for)
    assert "all 5001 images" in report.check("duplicates").detail
    assert meta["file_format"]["chunks"] == {"train": 2, "val": 1, "test": 1}
    # a sample of 1 reads each split's last chunk: train's 1, val's and test's 0
    sampled = validate_version(tmp_path / "ds", sample=1, engine="serial")
    assert sampled.chunks == {"train": [0, 1], "val": [0], "test": [0]}
    assert "data read from 4 sampled chunks" in sampled.summary_lines()[0]


def test_metadata_without_chunk_sizes_is_reported_not_raised(tmp_path: Path) -> None:
    """No split can be checked then: the report says why, and counting no split raises nothing."""
    store = tmp_path / "s"
    meta = create_version(store, Plan(num_images=1000), engine="serial", show_progress=False)
    doc_path = store / meta["version"] / "zarr.json"
    doc = json.loads(doc_path.read_text())
    del doc["attributes"]["file_format"]["chunk_images"]
    doc_path.write_text(json.dumps(doc))
    report = validate_version(store, engine="serial")
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert set(failed) == {"metadata", "structure"}
    assert failed["metadata"] == "missing file_format.chunk_images"
