"""A split opens in xarray as a tidy Dataset; versions from before shared dimensions still work.

Real stores on disk, opened with plain ``xr.open_zarr`` (warnings are errors in
this suite, so a warning from xarray or zarr fails these tests) and with
`gridstore.read.xarray.open_split`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from gridstore.errors import ConfigError, VersionNotFoundError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.plan import SPLITS, Plan
from gridstore.read import open_store
from gridstore.read.xarray import flag_names, open_split, subtype_names
from gridstore.storage import FIELDS, open_backend
from gridstore.storage.layout import staged_key
from gridstore.validate import validate_version
from gridstore.write.versions import create_version, grow_version, resume_version
from tests.conftest import version_chunks
from tests.helpers_s3 import bucket_fixture, s3_endpoint_fixture  # noqa: F401 - fixtures

SMALL = Plan(num_images=2000, seed=5)
# One routing block per task: 7,000 images are one whole task and a partial one,
# so a grow to 9,000 copies task 0 and regenerates task 1.
GROWABLE = Plan(num_images=7000, seed=3, blocks_per_chunk=1)
DIMS = {
    "images": ("image", "row", "col"),
    "num_objects": ("image",),
    **{f: ("image", "object") for f in FIELDS if f.startswith("object_")},
    "object_bbox": ("image", "object", "bbox"),
    "instance_map": ("image", "row", "col"),
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("xarray") / "datasets"
    meta = create_version(store, SMALL, engine="serial", show_progress=False)
    return store, meta["version"]


def _to_old_form(root: Path) -> int:
    """Rewrite the arrays' zarr.json under ``root`` as gridstore wrote them before shared dimensions."""
    rewritten = 0
    for path in sorted(root.glob("*/*/zarr.json")):  # <split>/<array>/zarr.json
        name = path.parent.name
        if name == "bbox":  # the labels array came with the shared dimensions
            shutil.rmtree(path.parent)
            continue
        doc = json.loads(path.read_text())
        doc["attributes"] = {}
        doc["dimension_names"] = ["image", *(f"{name}_dim{i}" for i in range(1, len(doc["shape"])))]
        path.write_text(json.dumps(doc, indent=2))
        rewritten += 1
    return rewritten


def _arrays(store: Path | str, version: str, split: str) -> dict[str, np.ndarray]:
    """Every array of a split through gridstore's own reader."""
    reader = open_store(store).version(version)[split]
    return {f: (reader.images if f == "images" else reader.annotation(f))[:] for f in FIELDS}


def test_a_split_opens_in_plain_xarray_with_shared_dimensions(small: tuple[Path, str]) -> None:
    store, version = small
    ds = xr.open_zarr(f"{store}/{version}/val", consolidated=False)
    assert {name: ds[name].dims for name in FIELDS} == DIMS
    assert dict(ds.sizes) == {"image": 200, "row": 16, "col": 16, "object": 4, "bbox": 4}
    assert ds.images.dims == ds.instance_map.dims  # aligned: one cell, one object id
    assert ds.bbox.values.tolist() == ["row_min", "col_min", "row_max", "col_max"]
    assert ds.object_bbox.sel(bbox="row_max").dims == ("image", "object")
    for name, want in _arrays(store, version, "val").items():
        np.testing.assert_array_equal(ds[name].values, want, err_msg=name)


def test_the_arrays_carry_cf_attributes(small: tuple[Path, str]) -> None:
    store, version = small
    ds = xr.open_zarr(f"{store}/{version}/train", consolidated=False)
    assert all(ds[name].attrs["long_name"] for name in FIELDS)
    assert (ds.object_size.units, ds.object_bbox.units, ds.num_objects.units) == (
        "cells",
        "cells",
        "1",
    )
    assert ds.object_type.flag_values == [0, 1, 2, 3, 4]
    assert ds.object_type.flag_meanings == "none blob rectangle line pattern"
    assert ds.images.flag_values == list(range(10))
    assert ds.images.flag_meanings.split()[0] == "background"
    by_type = ds.object_subtype.flag_meanings_by_type
    assert by_type["line"]["flag_meanings"].split() == list(LINE_ORIENTATIONS)
    assert by_type["pattern"]["flag_meanings"].split() == list(PATTERN_FAMILIES)
    assert ds.object_bbox.bbox_labels == ["row_min", "col_min", "row_max", "col_max"]
    # no _FillValue / missing_value: xarray keeps the 0s (background, empty slots) as 0
    assert ds.images.dtype == np.uint8 and ds.object_size.dtype == np.uint16
    assert int(ds.images.isel(image=0).min()) == 0


def test_open_split_labels_bbox_and_names_codes(small: tuple[Path, str]) -> None:
    store, version = small
    ds = open_split(store, version, "train")
    assert list(ds.data_vars) == list(FIELDS)
    assert list(ds.bbox.values) == ["row_min", "col_min", "row_max", "col_max"]
    got = _arrays(store, version, "train")
    np.testing.assert_array_equal(ds.object_bbox.sel(bbox="row_max"), got["object_bbox"][..., 2])
    codes, subcodes = got["object_type"], got["object_subtype"]
    types = np.array(["none", *OBJECT_TYPES])[codes]
    np.testing.assert_array_equal(flag_names(ds.object_type).values, types)
    subtypes = np.where(
        codes == 3,
        np.array((*LINE_ORIENTATIONS, ""))[np.minimum(subcodes, 4)],
        np.where(codes == 4, np.array(PATTERN_FAMILIES)[np.minimum(subcodes, 4)], ""),
    )
    named = subtype_names(ds)
    np.testing.assert_array_equal(named.values, subtypes)
    assert set(np.unique(named.values)) > {"", "horizontal", "checkerboard"}
    cells = flag_names(ds.images.isel(image=slice(0, 50))).values
    np.testing.assert_array_equal(cells == "background", got["images"][:50] == 0)
    # a plain xarray user's one-liner from the attributes gives the same names
    names = xr.DataArray(ds.object_type.flag_meanings.split())[ds.object_type.compute()]
    np.testing.assert_array_equal(names.values, types)


def test_filtering_with_xarray_matches_a_brute_force_selection(small: tuple[Path, str]) -> None:
    store, version = small
    ds = open_split(store, version, "train")
    got = _arrays(store, version, "train")
    single = got["num_objects"] == 1
    one = ds.isel(image=(ds.num_objects == 1).values)
    np.testing.assert_array_equal(one.images.values, got["images"][single])
    dropped = ds.where((ds.num_objects == 1).compute(), drop=True)
    np.testing.assert_array_equal(dropped.instance_map.values, got["instance_map"][single])
    # images holding a blob of colour 3: the same object must be both
    blob3 = ((flag_names(ds.object_type) == "blob") & (ds.object_colour == 3)).any("object")
    want = ((got["object_type"] == 1) & (got["object_colour"] == 3)).any(axis=1)
    assert 0 < want.sum() < len(want)
    np.testing.assert_array_equal(
        ds.isel(image=blob3.values).object_size.values, got["object_size"][want]
    )


def test_open_split_names_what_is_missing(small: tuple[Path, str]) -> None:
    store, version = small
    with pytest.raises(VersionNotFoundError, match=r"split 'dev' not found .* available: train"):
        open_split(store, version, "dev")
    ds = open_split(store, version, "test")
    with pytest.raises(
        ConfigError,
        match=r"^array 'object_subtype' has no flag_values / flag_meanings attributes; "
        r"use subtype_names\(ds\)$",
    ):
        flag_names(ds.object_subtype)


def test_a_version_from_before_shared_dimensions_opens_validates_and_grows(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s"
    old = create_version(store, GROWABLE, engine="serial", show_progress=False)["version"]
    assert _to_old_form(store / old) == len(SPLITS) * len(FIELDS)
    want = {s: _arrays(store, old, s) for s in SPLITS}
    plain = xr.open_zarr(f"{store}/{old}/train", consolidated=False)
    assert plain.images.dims == ("image", "images_dim1", "images_dim2")  # as it was written
    tidy = open_split(store, old, "train")
    assert {name: tidy[name].dims for name in FIELDS} == DIMS
    assert tidy.object_type.flag_meanings == "none blob rectangle line pattern"
    for name in FIELDS:
        np.testing.assert_array_equal(tidy[name].values, want["train"][name], err_msg=name)
    assert validate_version(store, old, full=True).ok
    grown = grow_version(store, old, 9000, engine="serial", show_progress=False)["version"]
    fresh = tmp_path / "fresh"
    create_version(fresh, Plan(num_images=9000, seed=3, blocks_per_chunk=1), engine="serial",
                   show_progress=False)  # fmt: skip
    assert version_chunks(store, grown) == version_chunks(fresh, open_store(fresh).versions[0])
    # the old encoding is the new one: task 0's chunk files are shared, not rewritten
    chunk = store / old / "train" / "images" / "c.0.0.0"
    assert chunk.stat().st_ino == (store / grown / "train/images/c.0.0.0").stat().st_ino
    assert open_split(store, grown, "train").images.dims == DIMS["images"]
    assert xr.open_zarr(f"{store}/{grown}/val", consolidated=False).images.dims == DIMS["images"]
    assert validate_version(store, grown, full=True).ok
    for split in SPLITS:  # the old version reads as before
        for name, data in _arrays(store, old, split).items():
            np.testing.assert_array_equal(data, want[split][name])


def test_dimension_names_and_attributes_do_not_change_the_chunks(tmp_path: Path) -> None:
    """A version staged with the old documents (an older gridstore) resumes to the same chunk bytes."""
    fresh = create_version(tmp_path / "new", SMALL, engine="serial", show_progress=False)
    s = open_backend(tmp_path / "old", create=True)
    name = s.claim_version()
    s.create_arrays(name, {"plan": SMALL.to_dict()}, SMALL.array_shapes())
    assert _to_old_form(tmp_path / "old" / staged_key(name)) == len(SPLITS) * len(FIELDS)
    resume_version(tmp_path / "old", name, engine="serial", show_progress=False)
    assert version_chunks(tmp_path / "old", name) == version_chunks(
        tmp_path / "new", fresh["version"]
    )
    doc = json.loads((tmp_path / "old" / name / "val" / "images" / "zarr.json").read_text())
    assert doc["dimension_names"] == ["image", "images_dim1", "images_dim2"]  # kept as staged


def test_open_split_reads_a_store_on_object_storage(bucket: str) -> None:
    url = f"s3://{bucket}/datasets"
    version = create_version(url, SMALL, engine="serial", show_progress=False)["version"]
    ds = open_split(url, split="val")
    assert {name: ds[name].dims for name in FIELDS} == DIMS
    for name, want in _arrays(url, version, "val").items():
        np.testing.assert_array_equal(ds[name].values, want, err_msg=name)
