"""A paired version on disk: its layout, what plain zarr and xarray see, and the same bytes for
1 and 2 workers, a Dask LocalCluster, kill -9 then resume, and a grow.

Real stores, real worker processes, a real LocalCluster and a real killed subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.plan import SPLITS, Plan
from gridstore.read import open_store
from gridstore.storage import FIELDS, open_backend
from gridstore.storage.layout import staged_key
from gridstore.validate import validate_version
from gridstore.validate.constraints import check_constraints
from gridstore.write import reduce
from gridstore.write.versions import create_version, grow_version
from tests.conftest import version_chunks
from tests.pairs.conftest import PLAN, VERSION
from tests.pairs.twin_checks import KINDS, check_twins

RECORDS = ("kind", "slot", "old_colour", "new_colour", "offset", "rotation", "flip", "permutation")


def _stored(store: Path, split: str) -> tuple[np.ndarray, dict, np.ndarray, dict, dict]:
    """A split's images, twins and records as plain zarr reads them."""
    group = zarr.open_group(store, mode="r", path=f"{VERSION}/{split}")
    base = {f: group[f][:] for f in FIELDS}
    twin = {f: group[f"pair/{f}"][:] for f in FIELDS}
    rec = {f: group[f"intervention/{f}"][:] for f in RECORDS}
    return base.pop("images"), base, twin.pop("images"), twin, rec


def test_the_layout_the_records_and_what_other_readers_see(
    paired: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    store, meta, chunks = paired
    # the base arrays are those of the same version without pairs, byte for byte
    plain = create_version(tmp_path / "plain", Plan(num_images=6000, seed=3, blocks_per_chunk=1),
                           engine="serial", show_progress=False)  # fmt: skip
    own = version_chunks(tmp_path / "plain", plain["version"])
    assert {
        k: v for k, v in chunks.items() if "/pair/" not in k and "/intervention/" not in k
    } == own
    for key in ("statistics", "duplicates", "dataset_info"):
        assert meta[key] == plain[key], key
    # every pair array has its two chunks in every split
    for split in SPLITS:
        for f in [*(f"pair/{f}" for f in FIELDS), *(f"intervention/{f}" for f in RECORDS)]:
            assert sum(k.startswith(f"{split}/{f}/c.") for k in chunks) == 2, (split, f)
    files = [f for f in (store / VERSION).rglob("*") if f.is_file()]
    assert meta["storage"]["bytes_on_disk"] == sum(
        f.stat().st_size for f in files if f != store / VERSION / "zarr.json"
    )
    # the metadata: the kinds drawn per split, the twins' repeats and leaks
    pairs = meta["pairs"]
    assert pairs["kinds"] == list(KINDS)
    for split in SPLITS:
        assert sum(pairs["interventions"][split].values()) == PLAN.split_counts[split]
    assert set(pairs["duplicates"]) == {f"{s}_{w}" for s in SPLITS for w in ("within", "leaks")}
    # each twin is its base changed as recorded (checked apart from the kernel); both obey the rules
    for split in SPLITS:
        base, ann, twin, tann, rec = _stored(store, split)
        counts = check_twins(base, ann, twin, tann, rec)
        assert counts == pairs["interventions"][split]
        assert check_constraints(twin, tann).ok
    # plain zarr lists everything without a warning; xarray sees named dimensions and flags
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = {n for n, _ in zarr.open_group(store, mode="r").members(max_depth=None)}
    assert {f"{VERSION}/train/pair/images", f"{VERSION}/test/intervention/kind"} <= names
    records = xr.open_zarr(store, group=f"{VERSION}/val/intervention", consolidated=False)
    assert records["kind"].dims == ("image",) and records["offset"].dims == ("image", "offset_axis")
    assert records["kind"].attrs["flag_meanings"].split() == list(KINDS)
    assert records["kind"].attrs["flag_values"] == list(range(1, 10))
    assert records["flip"].attrs["flag_meanings"] == "none horizontal vertical transpose"
    twins = xr.open_zarr(store, group=f"{VERSION}/val/pair", consolidated=False)
    assert twins["images"].dims == ("image", "row", "col")
    assert list(twins["bbox"].values) == ["row_min", "col_min", "row_max", "col_max"]
    assert twins.sizes["image"] == records.sizes["image"] == PLAN.split_counts["val"]
    # a reader that knows nothing of pairs sees the split it always saw; the validator passes
    split = open_store(store).version(VERSION)["train"]
    assert split.fields == list(FIELDS)
    assert validate_version(store, VERSION, engine="serial").ok


def test_two_workers_give_the_serial_bytes(
    paired: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    _, meta, chunks = paired
    got = create_version(tmp_path / "s", PLAN, name=VERSION, engine="processes", workers=2,
                         show_progress=False)  # fmt: skip
    assert version_chunks(tmp_path / "s", VERSION) == chunks
    assert got["pairs"] == meta["pairs"]


@pytest.mark.slow
@pytest.mark.usefixtures("environ_restored")
def test_a_dask_local_cluster_gives_the_serial_bytes(
    paired: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    _, meta, chunks = paired
    got = create_version(tmp_path / "s", PLAN, name=VERSION, engine="dask", workers=2,
                         show_progress=False)  # fmt: skip
    assert got["generation"]["engine"] == "dask"
    assert version_chunks(tmp_path / "s", VERSION) == chunks
    assert got["pairs"] == meta["pairs"]


def test_kill_9_then_resume_refuses_a_lost_twin_chunk_and_gives_the_serial_bytes(
    paired: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    _, meta, chunks = paired
    store, config = tmp_path / "s", tmp_path / "plan.json"
    config.write_text(json.dumps({"blocks_per_chunk": 1, "pairs": "all"}))
    args = ["generate", "--store", str(store), "--config", str(config), "--num-images", "6000",
            "--seed", "3", "--version", VERSION, "--resume", "--yes", "--quiet",
            "--engine", "serial"]  # fmt: skip
    env = {**os.environ, "GRIDSTORE_CRASH_AT": "task-1-written"}  # task 0 recorded, 1 written
    killed = subprocess.run([sys.executable, "-m", "gridstore.cli", *args], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    # a twin chunk of the recorded task 0 lost (a power cut): the commit's check names it ...
    lost = store / staged_key(VERSION) / "val" / "pair" / "instance_map" / "c.0.0.0"
    lost.unlink()
    plan_json = json.dumps(PLAN.to_dict(), sort_keys=True)
    jobs = [j for j in reduce.plan_jobs(PLAN, 1) if j.array == "val/pair/instance_map"]
    found = reduce.run_job(str(store), VERSION, plan_json, None, jobs, 0)
    assert found["missing"] == ["val/pair/instance_map/c.0.0.0"]
    # ... and the same command, run again, redoes task 0 and finishes with the serial bytes
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert version_chunks(store, VERSION) == chunks
    got = open_backend(store).metadata(VERSION)["pairs"]
    assert got == json.loads(json.dumps(meta["pairs"]))  # as stored: JSON's string keys


def test_a_grown_version_holds_the_bytes_of_a_fresh_one(
    paired: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    _, meta, chunks = paired
    store = tmp_path / "s"
    small = create_version(store, Plan(num_images=5000, seed=3, blocks_per_chunk=1, pairs="all"),
                           engine="serial", show_progress=False)  # fmt: skip
    grown = grow_version(store, small["version"], 6000, name=VERSION, engine="serial",
                         show_progress=False)  # fmt: skip
    assert version_chunks(store, VERSION) == chunks  # task 0 copied, its twins made again
    assert grown["pairs"] == meta["pairs"]


def test_a_unique_paired_version_keeps_the_unique_images_and_pairs_them(tmp_path: Path) -> None:
    plan = Plan(num_images=3000, seed=4, unique=True, pairs="recolour,move")
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    plain = create_version(tmp_path / "p", Plan(num_images=3000, seed=4, unique=True),
                           engine="serial", show_progress=False)  # fmt: skip
    ours = version_chunks(tmp_path / "s", meta["version"])
    assert {k: v for k, v in ours.items() if "/pair/" not in k and "/intervention/" not in k} == (
        version_chunks(tmp_path / "p", plain["version"])
    )
    assert meta["duplicates"] == plain["duplicates"]
    assert set(meta["pairs"]["interventions"]["train"]) == set(KINDS)
    assert sum(meta["pairs"]["interventions"]["train"].values()) == 2400


def test_the_plans_disk_estimate_counts_the_twins(paired) -> None:
    from gridstore.estimate import estimate_run

    written = paired[1]["storage"]["bytes_on_disk"]  # about twice an unpaired version's
    estimate = estimate_run(PLAN, 1, "serial").disk_bytes
    assert 0.8 < estimate / written < 1.2, (estimate, written)


def test_open_split_opens_the_twins_and_the_records(paired, tmp_path: Path) -> None:
    from gridstore.errors import ConfigError, VersionNotFoundError
    from gridstore.read.xarray import flag_names, open_split

    store = paired[0]
    group = zarr.open_group(store / VERSION / "val", mode="r")
    twins = open_split(store, VERSION, "val", group="pair")
    records = open_split(store, VERSION, "val", group="intervention")
    assert twins["images"].dims == ("image", "row", "col")
    np.testing.assert_array_equal(twins["images"].values, group["pair/images"][:])
    np.testing.assert_array_equal(twins["object_colour"].values, group["pair/object_colour"][:])
    names = flag_names(records["kind"]).values
    assert list(names) == [KINDS[k - 1] for k in group["intervention/kind"][:]]
    with pytest.raises(ConfigError, match="unknown group 'twins'"):
        open_split(store, VERSION, "val", group="twins")
    plain = tmp_path / "plain"
    create_version(plain, Plan(num_images=100, seed=1), engine="serial", show_progress=False)
    with pytest.raises(VersionNotFoundError, match="has no pairs"):
        open_split(plain, None, "val", group="pair")


def test_the_metadata_holds_the_twins_own_statistics(paired) -> None:
    """Counted here from the stored twins' pixels and annotations, not by the writer's code."""
    meta = paired[1]
    for split in SPLITS:
        group = zarr.open_group(paired[0] / VERSION / split, mode="r")
        twins, stats = group["pair/images"][:], meta["pairs"]["statistics"][split]
        assert stats["images"] == len(twins)
        assert stats["pixel_mean"] == pytest.approx(twins.mean(), rel=1e-12)
        assert stats["pixel_std"] == pytest.approx(twins.std(), rel=1e-9)
        hist = np.bincount(twins.ravel(), minlength=10)
        assert list(stats["colour_histogram"].values()) == hist.tolist()
        objects = np.bincount(group["pair/num_objects"][:], minlength=5)
        assert list(stats["objects_per_image"].values()) == objects.tolist()
        assert stats != meta["statistics"][split]  # the twins', not the images' again
