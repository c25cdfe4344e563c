"""Hold-out conditions: no train/val/test image matches, the heldout split only matching ones,
exact counts, and the same bytes however the work is cut (issue 22).

The checks read the stores through plain zarr and test the conditions by brute force,
written out here apart from gridstore's matcher.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from gridstore import Plan, create_version, grow_version, resume_version
from gridstore.cli import main
from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate.draws import draw_hashes
from gridstore.generate.vocab import OBJECT_TYPES
from gridstore.holdout.spec import parse_hold_out
from gridstore.validate.version import validate_version
from tests.conftest import version_chunks
from tests.helpers_s3 import s3_endpoint_fixture  # noqa: F401 - fixture

BLOB = OBJECT_TYPES.index("blob") + 1
CONDITIONS = ("object_type=blob object_colour=3", "num_objects=4")  # same-object, image-level
PLAN = Plan(num_images=6000, seed=3, blocks_per_chunk=1, hold_out=CONDITIONS, heldout_images=700)
VERSION = "2026-12-01-v1"
ROUTED = ("train", "val", "test")


def _fields(store: Path, version: str, split: str, group: str = "") -> dict[str, np.ndarray]:
    g = zarr.open_group(str(store / version / split / group), mode="r")
    return {f: g[f][:] for f in ("num_objects", "object_type", "object_colour")}


def _brute(a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per image: a blob of colour 3 (one and the same object), and four objects."""
    blue_blob = ((a["object_type"] == BLOB) & (a["object_colour"] == 3)).any(axis=1)
    return blue_blob, a["num_objects"] == 4


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[str, bytes]]:
    store = tmp_path_factory.mktemp("holdout") / "s"
    meta = create_version(store, PLAN, name=VERSION, engine="serial", show_progress=False)
    return store, meta, version_chunks(store, VERSION)


def test_no_routed_image_matches_and_every_heldout_image_does(
    reference: tuple[Path, dict, dict[str, bytes]],
) -> None:
    store, meta, _ = reference
    counts = {s: _fields(store, VERSION, s)["num_objects"].shape[0] for s in (*ROUTED, "heldout")}
    assert counts == {**PLAN.split_counts, "heldout": 700}
    assert sum(counts[s] for s in ROUTED) == 6000
    for split in ROUTED:
        a = _fields(store, VERSION, split)
        blue_blob, four = _brute(a)
        assert not blue_blob.any() and not four.any(), split
        # same-object semantics: a blob and a colour-3 object in one image are kept
        blob = (a["object_type"] == BLOB).any(axis=1)
        if split == "train":
            assert (blob & (a["object_colour"] == 3).any(axis=1)).sum() > 50
    held = _brute(_fields(store, VERSION, "heldout"))
    assert (held[0] | held[1]).all() and held[0].any() and held[1].any()
    info = meta["dataset_info"]
    assert (info["total_count"], info["heldout_count"]) == (6000, 700)
    h = meta["hold_out"]
    assert h["conditions"] == list(CONDITIONS) and h["heldout_images"] == 700
    assert h["draws"]["passed_over"] > 0 and 0.2 < h["removed_share"] < 0.45
    assert set(meta["statistics"]) == {*ROUTED, "heldout"}


def test_the_kernel_matches_as_the_numpy_rule_does() -> None:
    """The compiled matcher's verdict on 5,000 draws equals the terms tested on their arrays."""
    config = GeneratorConfig()
    texts = ["object_subtype=diagonal,L object_size=3..9", "num_objects=1,3 object_colour=2..4",
             "object_type=rectangle"]  # fmt: skip
    held = parse_hold_out(texts, config.max_objects, config.grid_size)
    _, flags = draw_hashes(config, 5, 0, 0, 5000, held.table())
    from gridstore.generate.batch import generate_images

    _, ann = generate_images(config, 5, 0, 5000)  # the same draws: block 0 of the stream
    want = held.mask(ann.as_dict(), 5000)
    assert 0.05 < want.mean() < 0.95
    assert np.array_equal(flags, want)


def test_two_workers_give_the_serial_bytes(
    reference: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    _, meta, chunks = reference
    got = create_version(tmp_path / "s", PLAN, name=VERSION, engine="processes", workers=2,
                         show_progress=False)  # fmt: skip
    assert version_chunks(tmp_path / "s", VERSION) == chunks
    assert got["digest"] == meta["digest"] and got["hold_out"]["draws"] == meta["hold_out"]["draws"]


@pytest.mark.slow
@pytest.mark.usefixtures("environ_restored")
def test_a_dask_local_cluster_gives_the_serial_bytes(
    reference: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    _, meta, chunks = reference
    got = create_version(tmp_path / "s", PLAN, name=VERSION, engine="dask", workers=2,
                         show_progress=False)  # fmt: skip
    assert got["generation"]["engine"] == "dask"
    assert version_chunks(tmp_path / "s", VERSION) == chunks
    assert got["hold_out"]["draws"] == meta["hold_out"]["draws"]


_KILL = f"""
import os, sys
from gridstore import Plan, create_version
os.environ["GRIDSTORE_CRASH_AT"] = "task-1-written"
plan = Plan(num_images=6000, seed=3, blocks_per_chunk=1, hold_out={CONDITIONS!r}, heldout_images=700)
create_version(sys.argv[1], plan, engine="serial", show_progress=False, name="{VERSION}")
"""


def test_kill_9_then_resume_gives_the_serial_bytes(
    reference: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    _, meta, chunks = reference
    run = subprocess.run([sys.executable, "-c", _KILL, str(tmp_path / "s")], timeout=300)
    assert run.returncode == -9
    got = resume_version(tmp_path / "s", VERSION, engine="serial", show_progress=False)
    assert version_chunks(tmp_path / "s", VERSION) == chunks
    assert got["digest"] == meta["digest"]


def test_a_grown_version_keeps_the_conditions_and_the_fresh_bytes(
    reference: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    _, _, chunks = reference
    store = tmp_path / "s"
    small = create_version(store, Plan(num_images=5000, seed=3, blocks_per_chunk=1,
                                       hold_out=CONDITIONS, heldout_images=700),
                           engine="serial", show_progress=False)  # fmt: skip
    grown = grow_version(store, small["version"], 6000, name=VERSION, engine="serial",
                         show_progress=False)  # fmt: skip
    assert grown["generation_params"]["hold_out"] == list(CONDITIONS)
    assert version_chunks(store, VERSION) == chunks
    # the heldout images do not depend on the chunking: the source's, chunked in one, are kept
    source, now = (zarr.open_array(str(store / v / "heldout" / "images"), mode="r")[:]
                   for v in (small["version"], VERSION))  # fmt: skip
    assert small["file_format"]["chunk_images"]["heldout"] == 700
    assert grown["file_format"]["chunk_images"]["heldout"] == 350
    assert np.array_equal(source, now)


def test_validate_full_passes_and_names_a_leaked_image(
    reference: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    store, _, _ = reference
    report = validate_version(store, VERSION, full=True, engine="serial")
    assert report.ok, [c for c in report.checks if not c.ok]
    assert "every heldout image matches one" in report.check("hold_out").detail
    assert "heldout 700, as planned" in report.check("split_counts").detail
    leaked = tmp_path / "s"
    shutil.copytree(store, leaked)
    zarr.open_array(str(leaked / VERSION / "train" / "num_objects"), mode="r+")[5] = 4
    report = validate_version(leaked, VERSION, full=True, engine="serial")
    assert not report.check("hold_out").ok
    assert "train:5" in report.check("hold_out").where


def test_unique_and_paired_keep_images_and_twins_out_of_the_held_region(tmp_path: Path) -> None:
    plan = Plan(num_images=3000, seed=4, unique=True, pairs="recolour,add,remove",
                hold_out=CONDITIONS, heldout_images=200)  # fmt: skip
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    name = meta["version"]
    for split in ROUTED:
        for group in ("", "pair"):  # the images, then their twins
            blue_blob, four = _brute(_fields(tmp_path / "s", name, split, group))
            assert not blue_blob.any() and not four.any(), (split, group)
    dup = meta["duplicates"]
    assert [dup[f"{s}_within"] for s in ROUTED] == [0, 0, 0] and dup["cross_split"] == 0
    assert validate_version(tmp_path / "s", name, full=True, engine="serial").ok


def test_the_plan_prints_the_forecast_and_bad_conditions_are_one_line(tmp_path: Path) -> None:
    args = ["generate", "--store", str(tmp_path / "s"), "--num-images", "2000", "--dry-run"]
    ok = CliRunner().invoke(main, [*args, "--hold-out", CONDITIONS[0], "--hold-out", "num_objects=4",
                                   "--heldout-images", "0.05"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "heldout 100" in ok.output and "removed (est.):" in ok.output
    for bad, says in [
        (["--hold-out", "intervention=move"], "cannot test 'intervention'"),
        (["--hold-out", "num_objects=9"], "num_objects takes 1..4"),
        (["--hold-out", "object_type"], "is not FIELD=VALUE"),
        (["--heldout-images", "10"], "needs hold-out conditions"),
        (["--hold-out", "num_objects=1", "--heldout-images", "1.5"], "fraction must lie in"),
        (["--hold-out", "num_objects=1..4"], "train, val and test could not be filled"),
        (
            ["--hold-out", "object_type=line", "--type-weights", "blob=1,rectangle=1,line=0"],
            "matches none of",
        ),
    ]:
        got = CliRunner().invoke(main, [*args, *bad])
        assert got.exit_code == 1, (bad, got.output)
        assert says in got.output and got.output.count("\n") == 1, got.output
    with pytest.raises(ConfigError, match="given twice"):
        Plan(hold_out=("num_objects=4", "num_objects=4"))


def test_every_reader_and_command_takes_the_heldout_split(
    reference: tuple[Path, dict, dict[str, bytes]], tmp_path: Path
) -> None:
    """Readers, views, batches, torch, xarray, count, preview, stats, export and diff."""
    store, _, _ = reference
    from gridstore import open_store

    version = open_store(store).version(VERSION)
    assert version.splits == ["train", "val", "test", "heldout"]
    held = version["heldout"]
    plain = zarr.open_array(str(store / VERSION / "heldout" / "images"), mode="r")[:]
    assert np.array_equal(held.images[:], plain) and len(held) == 700
    four = held.where(num_objects=4)
    assert 0 < len(four) < 700 and (four.annotation("num_objects")[:] == 4).all()
    batches = list(held.batches(256, fields=["images", "num_objects"]))
    assert sum(len(b["images"]) for b in batches) == 700
    torch = pytest.importorskip("torch")
    item = held.torch_dataset(("images",))[3]
    assert torch.equal(item[0] if isinstance(item, tuple | list) else item,
                       torch.from_numpy(plain[3]))  # fmt: skip
    xr = pytest.importorskip("xarray")
    from gridstore.read.xarray import open_split

    ds = open_split(store, VERSION, "heldout")
    assert isinstance(ds, xr.Dataset) and np.array_equal(ds["images"].values, plain)
    run = CliRunner()
    base = ["--store", str(store)]
    got = run.invoke(main, ["count", VERSION, *base, "--where", "num_objects=4", "--json"])
    assert got.exit_code == 0, got.output
    import json

    counts = json.loads(got.output)["splits"]
    assert counts["heldout"] == {"count": len(four), "images": 700}
    assert [counts[s]["count"] for s in ROUTED] == [0, 0, 0]
    for command in ("preview", "stats"):
        out = tmp_path / f"{command}.png"
        got = run.invoke(main, [command, VERSION, *base, "--split", "heldout", "-o", str(out)])
        assert got.exit_code == 0 and out.stat().st_size > 10_000, got.output
    got = run.invoke(main, ["export", VERSION, *base, "--format", "npz", "-o", str(tmp_path / "n")])
    assert got.exit_code == 0, got.output
    with np.load(tmp_path / "n" / "heldout.npz") as f:
        assert np.array_equal(f["images"], plain)
    got = run.invoke(main, ["diff", VERSION, VERSION, *base, "--split", "heldout"])
    assert got.exit_code == 0 and "identical" in got.output, got.output
    other = run.invoke(main, ["count", VERSION, *base, "--split", "heldout"])
    assert "heldout" in other.output and "700" in other.output
    table = run.invoke(main, ["versions", *base]).output.splitlines()
    assert table[0].split()[4:8] == ["train", "val", "test", "heldout"]
    row = table[1].split()
    assert row[0] == VERSION and row[7] == "700"  # the heldout column


def test_the_readmes_composition_interpolation_and_extrapolation_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's section: its commands through the CLI, then its Python, in a fresh dir."""
    import re
    import shlex

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("\n## Held-out combinations", 1)[1].split("\n## ", 1)[0]
    bash, python = (re.search(rf"```{k}\n(.*?)```", section, re.DOTALL)[1]  # type: ignore[index]
                    for k in ("bash", "python"))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    commands = [c for c in bash.replace("\\\n", " ").splitlines() if c.startswith("gridstore ")]
    assert len(commands) == 6
    for command in commands:
        got = CliRunner().invoke(main, shlex.split(command, comments=True)[1:])
        assert got.exit_code == 0, (command, got.output)
        if " validate " in command:
            assert "PASS hold_out: every image: no train/val/test image matches" in got.output
    run = subprocess.run([sys.executable, "-c", python], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "['train', 'val', 'test', 'heldout']"
    assert lines[1:4] == ["train 16000 0", "val 2000 0", "test 2000 0"]
    assert lines[4] == "heldout 2000 2000"
    realised, forecast = map(float, lines[5].split())
    assert abs(realised / forecast - 1) < 0.1
    assert lines[6] == "[2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15] 3000"
    assert lines[7] == "[1, 2, 3]"
    assert lines[8] == "{'train': 16000, 'val': 2000, 'test': 2000, 'heldout': 2000}"


def test_a_hold_out_version_on_object_storage_equals_the_local_one(
    reference: tuple[Path, dict, dict[str, bytes]],
    s3_endpoint: str,
) -> None:
    from gridstore import open_store
    from tests.helpers_s3 import new_bucket

    store, meta, _ = reference
    url = f"s3://{new_bucket()}/datasets"
    got = create_version(url, PLAN, name=VERSION, engine="serial", show_progress=False)
    assert got["digest"] == meta["digest"]
    remote, local = open_store(url).version(VERSION), open_store(store).version(VERSION)
    assert remote.splits == local.splits == [*ROUTED, "heldout"]
    assert np.array_equal(remote["heldout"].images[:], local["heldout"].images[:])  # published
