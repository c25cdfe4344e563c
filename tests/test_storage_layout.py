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


def _array_docs() -> dict[str, dict]:
    from gridstore.plan import Plan
    from gridstore.storage.layout import array_docs

    docs = array_docs("2026-11-25-v1", Plan(num_images=30_000).array_shapes())
    assert docs == array_docs("2026-11-25-v1", Plan(num_images=30_000).array_shapes())
    return {  # each array of FIELDS; the bbox labels have a test of their own
        k.removesuffix("/zarr.json"): json.loads(v)
        for k, v in docs.items()
        if k.endswith("/zarr.json") and k.count("/") == 2 and k.split("/")[1] in FIELDS
    }


def test_each_split_labels_the_bbox_axis(tmp_path: Path) -> None:
    import zarr

    from gridstore.plan import Plan
    from gridstore.storage.layout import array_docs

    docs = array_docs("2026-11-25-v1", Plan(num_images=30_000).array_shapes())
    assert json.loads(docs["val/bbox/zarr.json"])["dimension_names"] == ["bbox"]
    for key, data in docs.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(data)
    group = zarr.open_group(tmp_path, mode="r")
    assert group["val/bbox"][:].tolist() == ["row_min", "col_min", "row_max", "col_max"]


def test_arrays_share_dimension_names() -> None:
    """xarray aligns arrays by dimension name: images and instance maps cell by cell, objects by slot."""
    per_object = ("image", "object")
    want = {
        "images": ("image", "row", "col"),
        "num_objects": ("image",),
        "object_type": per_object,
        "object_subtype": per_object,
        "object_colour": per_object,
        "object_size": per_object,
        "object_bbox": ("image", "object", "bbox"),
        "instance_map": ("image", "row", "col"),
    }
    docs = _array_docs()
    assert len(docs) == 3 * len(FIELDS)
    for key, doc in docs.items():
        assert tuple(doc["dimension_names"]) == want[key.split("/")[1]], key


def test_arrays_carry_cf_attributes_from_the_vocabulary() -> None:
    from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES

    attrs = {key.split("/")[1]: doc["attributes"] for key, doc in _array_docs().items()}
    assert set(attrs) == set(FIELDS)
    assert all(a["long_name"] for a in attrs.values())
    # xarray masks _FillValue / missing_value as NaN: the 0s of background and empty slots must stay
    assert not any({"_FillValue", "missing_value"} & set(a) for a in attrs.values())
    assert attrs["object_type"]["flag_meanings"].split() == ["none", *OBJECT_TYPES]
    assert attrs["object_type"]["flag_values"] == list(range(len(OBJECT_TYPES) + 1))
    by_type = attrs["object_subtype"]["flag_meanings_by_type"]
    assert by_type["line"]["flag_meanings"].split() == list(LINE_ORIENTATIONS)
    assert by_type["pattern"]["flag_meanings"].split() == list(PATTERN_FAMILIES)
    assert set(by_type) < set(OBJECT_TYPES)
    assert "flag_values" not in attrs["object_subtype"]  # one list cannot name every type's codes
    assert attrs["images"]["flag_meanings"].split()[0] == "background"
    assert len(attrs["images"]["flag_values"]) == len(attrs["images"]["flag_meanings"].split())
    assert attrs["object_size"]["units"] == "cells"
    # docs/internals.md's order of the bbox axis
    assert attrs["object_bbox"]["bbox_labels"] == ["row_min", "col_min", "row_max", "col_max"]


def test_same_encoding_ignores_dimension_names_and_attributes(
    store_copy: tuple[Path, str],
) -> None:
    """A version written before shared dimension names may share its chunks with a grow."""
    from gridstore.plan import Plan
    from gridstore.storage.layout import staged_key
    from tests.conftest import TINY

    store, version = store_copy
    for path in (store / version).glob("*/*/zarr.json"):
        doc = json.loads(path.read_text())
        doc["attributes"] = {}
        doc["dimension_names"] = [
            "image",
            *(f"{path.parent.name}_dim{i}" for i in range(1, len(doc["shape"]))),
        ]
        path.write_text(json.dumps(doc, indent=2))
    s = open_backend(store)
    name = s.claim_version()
    grown = Plan(num_images=TINY.num_images + 5000, seed=TINY.seed)
    s.create_arrays(name, {"plan": grown.to_dict()}, grown.array_shapes())
    assert s.same_encoding(version, name)
    staged = store / staged_key(name) / "val" / "object_size" / "zarr.json"
    doc = json.loads(staged.read_text())
    doc["codecs"][1]["configuration"]["clevel"] = 9  # another codec setting: not the same bytes
    staged.write_text(json.dumps(doc, indent=2))
    assert not s.same_encoding(version, name)
