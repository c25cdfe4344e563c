"""The store layout: opening, naming, claiming, committing, deleting — on real directories."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from pathlib import Path

import pytest

from gridstore.errors import (
    ConfigError,
    StoreLockedError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.storage import LocalStore, format_version_name, open_backend, parse_version_name


@pytest.mark.parametrize(
    ("name", "parsed"),
    [("2026-11-25-v1", (dt.date(2026, 11, 25), 1)), ("1999-01-31-v42", (dt.date(1999, 1, 31), 42))],
)
def test_version_names_round_trip(name: str, parsed: tuple[dt.date, int]) -> None:
    assert parse_version_name(name) == parsed
    assert format_version_name(*parsed) == name


@pytest.mark.parametrize(
    "bad", ["v1", "2026-11-25", "2026-11-25-v0", "2026-13-01-v1", "2026-11-25-v1/..", "x-v1"]
)
def test_malformed_version_names(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"version name must look like YYYY-MM-DD-vN"):
        parse_version_name(bad)


def test_open_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreNotFoundError, match=r"is a file, not a directory"):
        open_backend(tmp_path / "file", create=True)
    with pytest.raises(StoreNotFoundError, match=r"does not exist; create one with"):
        open_backend(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("1,2")
    with pytest.raises(
        StoreNotFoundError, match=r"not a gridstore store \(no zarr.json\) and not empty"
    ):
        open_backend(tmp_path / "other", create=True)
    (tmp_path / "zarr-only").mkdir()
    (tmp_path / "zarr-only" / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group"})
    )
    with pytest.raises(StoreNotFoundError, match=r"zarr.json' is not a gridstore store's root"):
        open_backend(tmp_path / "zarr-only")
    assert not (tmp_path / "missing").exists()


def test_names_count_up_per_day_and_are_never_reused(tmp_store: Path) -> None:
    s = open_backend(tmp_store, create=True)
    day = dt.date(2026, 11, 25)
    assert [s.claim_version(today=day) for _ in range(3)] == [f"2026-11-25-v{i}" for i in (1, 2, 3)]
    assert s.claim_version(today=dt.date(2026, 11, 26)) == "2026-11-26-v1"
    assert s.claim_version("2026-11-25-v9") == "2026-11-25-v9"
    assert s.claim_version(today=day) == "2026-11-25-v10"
    with pytest.raises(VersionExistsError, match=r"version '2026-11-25-v9' already exists"):
        s.claim_version("2026-11-25-v9")
    assert s.versions() == []  # claimed is not complete
    assert [st.name for st in s.staged()][:2] == ["2026-11-25-v1", "2026-11-25-v10"]


def _claim(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([LocalStore(path).claim_version(today=dt.date(2026, 1, 1)) for _ in range(10)])


def test_concurrent_claims_get_distinct_names(tmp_store: Path) -> None:
    open_backend(tmp_store, create=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_store), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    names = [n for _ in procs for n in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
    assert sorted(names, key=parse_version_name) == [f"2026-01-01-v{i}" for i in range(1, 31)]


def test_missing_and_unfinished_versions_are_clear_errors(built_store: tuple[Path, str]) -> None:
    store, version = built_store
    s = open_backend(store)
    with pytest.raises(
        VersionNotFoundError, match=rf"version '2020-01-01-v1' not found .*available: {version}"
    ):
        s.metadata("2020-01-01-v1")


def test_unfinished_version_is_not_readable_and_can_be_discarded(
    store_copy: tuple[Path, str],
) -> None:
    store, _ = store_copy
    s = open_backend(store)
    name = s.claim_version()
    with pytest.raises(VersionIncompleteError, match=rf"version '{name}' is unfinished; resume it"):
        s.metadata(name)
    with s.version_lock(name), pytest.raises(StoreLockedError, match=r"is locked by pid \d+"):
        s.discard(name)
    s.discard(name)
    assert s.staged() == []
    with pytest.raises(VersionNotFoundError, match=rf"no unfinished version '{name}'"):
        s.discard(name)


def test_delete_removes_only_that_version(store_copy: tuple[Path, str]) -> None:
    store, version = store_copy
    s = open_backend(store)
    other = s.claim_version()
    s.delete(version)
    assert s.versions() == []
    assert [st.name for st in s.staged()] == [other]
    with pytest.raises(VersionNotFoundError):
        s.delete(version)


def test_commit_never_overwrites(store_copy: tuple[Path, str]) -> None:
    store, version = store_copy
    s = open_backend(store)
    before = (store / version / "zarr.json").read_bytes()
    (s.staging_dir / version).mkdir(parents=True)
    (s.staging_dir / version / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group"})
    )
    with pytest.raises(
        VersionExistsError, match=rf"version '{version}' already exists .* not overwritten"
    ):
        s.commit(version, {"version": version})
    assert (store / version / "zarr.json").read_bytes() == before


def test_layout_fields_are_the_annotations_after_images() -> None:
    from gridstore.generate import Annotations
    from gridstore.storage import FIELDS

    assert ("images", *Annotations.names()) == FIELDS


def test_a_directory_with_only_dot_files_becomes_a_store(tmp_path: Path) -> None:
    """The repository's datasets/ holds only .gitkeep: README's first command must work there."""
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / ".gitkeep").touch()
    assert open_backend(tmp_path / "datasets", create=True).versions() == []
