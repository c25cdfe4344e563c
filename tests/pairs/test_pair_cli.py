"""The command line on a paired version: generate --pairs, count, preview and stats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import zarr
from click.testing import CliRunner
from PIL import Image

from gridstore.cli import main
from gridstore.pairs import KINDS
from gridstore.storage import open_backend
from gridstore.viz import render_stats
from tests.pairs.conftest import VERSION


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def test_count_reports_the_interventions_of_the_matching_images(paired) -> None:
    store, meta, _ = paired
    got = _run("count", VERSION, "--store", str(store), "--where", "intervention=move,7", "--json")
    assert got.exit_code == 0, got.output
    splits = json.loads(got.output)["splits"]
    for split, recorded in meta["pairs"]["interventions"].items():
        kinds = splits[split]["interventions"]
        assert kinds == {k: (v if k in ("move", "flip") else 0) for k, v in recorded.items()}
        assert splits[split]["count"] == recorded["move"] + recorded["flip"]
    text = _run("count", VERSION, "--store", str(store), "--split", "val").output
    assert (
        f"       interventions: recolour {meta['pairs']['interventions']['val']['recolour']:,}, "
        in text
    )


def test_preview_draws_pairs_and_generate_refuses_an_unknown_kind(paired, tmp_path: Path) -> None:
    store = paired[0]
    out = tmp_path / "p.png"
    got = _run("preview", VERSION, "--store", str(store), "--pairs", "--samples", "3",
               "--where", "intervention=reshape", "-o", str(out))  # fmt: skip
    assert got.exit_code == 0, got.output
    with Image.open(out) as png:
        info = dict(png.info)
    assert info["Title"] == f"{VERSION} (train) - image | twin"
    assert "where intervention=reshape" in info["Description"]
    bad = _run("generate", "--store", str(tmp_path / "s"), "--num-images", "10", "--pairs",
               "move,warp", "--yes")  # fmt: skip
    assert bad.exit_code == 1
    assert bad.output == (
        "Error: unknown intervention kind 'warp'; choose from recolour, move, remove, add, "
        "reshape, rotate, flip, permute_colours, translate (or all)\n"
    )
    assert not (tmp_path / "s").exists()  # nothing written


def test_a_grow_keeps_its_sources_pairs(paired) -> None:
    store = paired[0]
    before = sorted(p.name for p in store.iterdir())
    got = _run("generate", "--store", str(store), "--grow-from", VERSION, "--num-images", "7000",
               "--pairs", "move", "--yes")  # fmt: skip
    assert got.exit_code == 1
    assert got.output.startswith(
        f"Error: --grow-from {VERSION} keeps its source's parameters, and --pairs (source: "
        "recolour,move,remove,add,reshape,rotate,flip,permute_colours,translate) contradicts them"
    )
    assert sorted(p.name for p in store.iterdir()) == before


def test_like_keeps_the_pairs_and_reproduce_gives_the_same_digest(paired, tmp_path: Path) -> None:
    store = tmp_path / "s"
    shutil.copytree(paired[0], store)
    like = _run("generate", "--store", str(store), "--like", VERSION, "--num-images", "1000",
                "--engine", "serial", "--yes", "-q")  # fmt: skip
    assert like.exit_code == 0, like.output
    s = open_backend(store)
    made = s.metadata(s.versions()[-1])
    source = paired[1]["generation_params"]
    assert made["generation_params"] == {**source, "num_images": 1000}  # the pairs too
    assert set(made["pairs"]["interventions"]["train"]) == set(KINDS)
    again = _run("reproduce", VERSION, "--store", str(store), "--engine", "serial", "-q")
    assert again.exit_code == 0, again.output
    assert f"reproduced digest:           {paired[1]['digest']}" in again.output


def test_stats_plots_the_interventions_and_with_pairs_the_twins(paired, tmp_path: Path) -> None:
    store = paired[0]
    train = zarr.open_group(store / VERSION / "train", mode="r")
    kind = train["intervention/kind"][:]
    # the kinds that change what stats plots (a move would plot the same twins as bases)
    picked = np.isin(kind, [KINDS.index("add") + 1, KINDS.index("recolour") + 1])
    fields = ("num_objects", "object_type", "object_subtype", "object_colour", "object_size")
    for pairs, side in (((), ""), (("--pairs",), "pair/")):
        out = tmp_path / f"stats{side[:-1]}.png"
        got = _run("stats", VERSION, "--store", str(store), *pairs, "--where",
                   "intervention=add,recolour", "-o", str(out))  # fmt: skip
        assert got.exit_code == 0, got.output
        with Image.open(out) as png:
            pixels, title = np.asarray(png), png.info["Title"]
        assert title.endswith(f"{picked.sum():,} {'twins' if pairs else 'images'}")
        ann = {f: train[f"{side}{f}"][:][picked] for f in fields}  # plain zarr, not gridstore's
        counts = {k: int((kind[picked] == KINDS.index(k) + 1).sum()) for k in KINDS}
        want = render_stats(ann, tmp_path / "want.png", title=title, interventions=counts)
        with Image.open(want) as png:
            np.testing.assert_array_equal(pixels, np.asarray(png))


def test_export_writes_the_twins_and_records_of_the_matching_rows(paired, tmp_path: Path) -> None:
    store, out = paired[0], tmp_path / "export"
    got = _run("export", VERSION, "--store", str(store), "--where", "intervention=rotate,flip",
               "-o", str(out))  # fmt: skip
    assert got.exit_code == 0, got.output
    for split in ("train", "val", "test"):
        group = zarr.open_group(store / VERSION / split, mode="r")
        kind = group["intervention/kind"][:]
        rows = np.isin(kind, [KINDS.index("rotate") + 1, KINDS.index("flip") + 1])
        names = [f"{g}/{a}" for g in ("pair", "intervention") for a in group[g].array_keys()]
        names.remove("pair/bbox")  # the labels of object_bbox's last axis, as the split's own
        with np.load(out / f"{split}.npz") as npz:
            assert set(names) < set(npz.files)
            for name in ["images", *names]:
                np.testing.assert_array_equal(npz[name], group[name][:][rows], err_msg=name)
    hub = _run("export", VERSION, "--store", str(store), "--format", "parquet", "--where",
               "intervention=rotate", "-o", str(tmp_path / "hub"), "-q")  # fmt: skip
    assert hub.exit_code == 0, hub.output
    assert "note: parquet holds the images; --format npz exports the twins too" in hub.output
