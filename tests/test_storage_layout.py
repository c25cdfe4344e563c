"""The layout's rules that need no writer: version names, what a store is, what may become one.

On real directories. What every backend promises while writing (claims, crashes,
resume, concurrent writers and readers, damage, delete) is proved in
tests/test_storage_contract.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gridstore.errors import (
    ConfigError,
    StoreNotFoundError,
    VersionExistsError,
    VersionNotFoundError,
)
from gridstore.storage import FIELDS, format_version_name, open_backend, parse_version_name
from gridstore.storage.layout import BOOKKEEPING


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


def test_names_count_up_per_day_and_are_never_reused(tmp_store: Path) -> None:
    s = open_backend(tmp_store, create=True)
    day = dt.date(2026, 11, 25)
    assert [s.claim_version(today=day) for _ in range(3)] == [f"2026-11-25-v{i}" for i in (1, 2, 3)]
    assert s.claim_version(today=dt.date(2026, 11, 26)) == "2026-11-26-v1"
    assert s.claim_version("2026-11-25-v9") == "2026-11-25-v9"
    assert s.claim_version(today=day) == "2026-11-25-v10"  # after the highest, gaps stay gaps
    with pytest.raises(VersionExistsError, match=r"version '2026-11-25-v9' already exists"):
        s.claim_version("2026-11-25-v9")
    assert s.versions() == []  # claimed is not complete
    assert [st.name for st in s.staged()] == [
        *(f"2026-11-25-v{i}" for i in (1, 2, 3, 9, 10)),
        "2026-11-26-v1",
    ]


def test_an_unknown_version_is_a_clear_error(built_store: tuple[Path, str]) -> None:
    store, version = built_store
    with pytest.raises(
        VersionNotFoundError, match=rf"version '2020-01-01-v1' not found .*available: {version}"
    ):
        open_backend(store).metadata("2020-01-01-v1")


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
    (tmp_path / "future").mkdir()
    (tmp_path / "future" / "zarr.json").write_text(
        json.dumps(
            {"zarr_format": 3, "node_type": "group", "attributes": {"gridstore": {"layout": 2}}}
        )
    )
    with pytest.raises(StoreNotFoundError, match=r"has layout 2; this gridstore reads layout 1"):
        open_backend(tmp_path / "future")
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["data.csv"]  # untouched


@pytest.mark.parametrize(
    "contents",
    [[".gitkeep"], ["lost+found"], [".gitkeep", "lost+found", ".hidden/"]],
    ids=["dot-files", "lost+found", "both"],
)
def test_a_directory_with_only_dot_files_or_lost_found_becomes_a_store(
    tmp_path: Path, contents: list[str]
) -> None:
    """The repository's datasets/ holds only .gitkeep, a fresh ext4 volume only lost+found."""
    store = tmp_path / "datasets"
    store.mkdir()
    for name in contents:
        if name.endswith("/") or name == "lost+found":
            (store / name.rstrip("/")).mkdir()
        else:
            (store / name).touch()
    s = open_backend(store, create=True)
    assert s.versions() == []
    assert (store / "zarr.json").is_file()
    s.claim_version()  # the bookkeeping goes beside them
    assert (store / BOOKKEEPING / "zarr.json").is_file()
    assert {p.name for p in store.iterdir()} >= {c.rstrip("/") for c in contents}


def test_a_directory_with_other_files_does_not_become_a_store(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    store.mkdir()
    (store / "lost+found").mkdir()
    (store / "notes.txt").write_text("mine")
    with pytest.raises(StoreNotFoundError, match=r"not a gridstore store .* not empty"):
        open_backend(store, create=True)
    assert sorted(p.name for p in store.iterdir()) == ["lost+found", "notes.txt"]


def test_layout_fields_are_the_annotations_after_images() -> None:
    from gridstore.generate import Annotations

    assert ("images", *Annotations.names()) == FIELDS
