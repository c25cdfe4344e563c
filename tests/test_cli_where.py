"""``--where`` on preview, stats and export, and ``gridstore count``: real store, CliRunner.

Counts and exported rows are checked against a brute-force selection on the
whole annotation arrays of each split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gridstore.cli import main
from gridstore.plan import Plan
from gridstore.read import open_store
from gridstore.viz import render_preview, render_stats
from gridstore.write.versions import create_version

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("cli-where") / "datasets"
    meta = create_version(path, Plan(num_images=2000), engine="serial", show_progress=False)
    return path, meta["version"]


@pytest.fixture(scope="module")
def arrays(store: tuple[Path, str]) -> dict[str, dict[str, np.ndarray]]:
    """Every array of every split, whole, for brute force."""
    version = open_store(store[0]).version()
    return {s: {f: version[s].annotation(f)[:] for f in version[s].fields} for s in SPLITS}


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, args, catch_exceptions=False)


def line_blob_or_big(a: dict[str, np.ndarray]) -> np.ndarray:
    """--where 'object_type=line,blob object_size=12..15' --where num_objects=2,3"""
    t, size = a["object_type"], a["object_size"]
    same = (np.isin(t, [1, 3]) & (size >= 12) & (size <= 15)).any(axis=1)
    return same & np.isin(a["num_objects"], [2, 3])


WHERE = ["--where", "object_type=line,blob object_size=12..15", "--where", "num_objects=2,3"]


def test_count_json_matches_brute_force_per_split(store: tuple[Path, str], arrays: dict) -> None:
    path, version = store
    result = run(["count", "--store", str(path), *WHERE, "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["version"] == version
    assert got["where"] == ["object_type=line,blob object_size=12..15", "num_objects=2,3"]
    want = {
        s: {"count": int(line_blob_or_big(arrays[s]).sum()), "images": len(arrays[s]["images"])}
        for s in SPLITS
    }
    assert got["splits"] == want
    assert 0 < want["train"]["count"] < want["train"]["images"]


def test_count_text_and_one_split(store: tuple[Path, str], arrays: dict) -> None:
    path, version = store
    result = run(["count", version, "--store", str(path), "--split", "val", *WHERE])
    assert result.exit_code == 0, result.output
    n = int(line_blob_or_big(arrays["val"]).sum())
    assert result.output.splitlines() == [
        f"{version}: images where object_type=line,blob object_size=12..15 and num_objects=2,3",
        f"val    {n:>14,} of 200 ({n / 200:.1%})",
    ]
    everything = run(["count", "--store", str(path), "--json"])
    assert json.loads(everything.output)["splits"]["test"] == {"count": 200, "images": 200}


def test_a_subtype_name_in_one_where_holds_for_the_same_object(
    store: tuple[Path, str], arrays: dict
) -> None:
    path, _ = store
    result = run(
        [
            "count",
            "--store",
            str(path),
            "--json",
            "--where",
            "object_subtype=diagonal object_colour=2",
        ]
    )
    a = arrays["train"]
    want = ((a["object_type"] == 3) & (a["object_subtype"] == 2) & (a["object_colour"] == 2)).any(1)
    assert json.loads(result.output)["splits"]["train"]["count"] == int(want.sum()) > 0


# (id, arguments after the command, exit code, the exact last line)
BAD = [
    (
        "unknown-field",
        ["--where", "colour=3"],
        1,
        "Error: unknown where() field 'colour'; choose from num_objects, object_type, object_subtype, object_colour, object_size, intervention",
    ),
    (
        "colour-12",
        ["--where", "object_colour=12"],
        1,
        "Error: bad where() value object_colour=12; object_colour takes 1..9 (one value, a range or a list of them)",
    ),
    (
        "no-equals",
        ["--where", "num_objects"],
        2,
        "Error: Invalid value for '--where': 'num_objects' is not FIELD=VALUE[,VALUE...], e.g. num_objects=1 or object_size=12..15",
    ),
    (
        "bad-range",
        ["--where", "object_size=1..x"],
        2,
        "Error: Invalid value for '--where': range '1..x' must be two integers LO..HI (inclusive), e.g. 12..15",
    ),
    (
        "field-twice",
        ["--where", "object_colour=1 object_colour=2"],
        2,
        "Error: Invalid value for '--where': field 'object_colour' is given twice in 'object_colour=1 object_colour=2'; list its values: object_colour=A,B",
    ),
    (
        "empty",
        ["--where", " "],
        2,
        "Error: Invalid value for '--where': an empty --where; give FIELD=VALUE, e.g. num_objects=1",
    ),
]


@pytest.mark.parametrize("command", ["count", "preview", "stats", "export"])
@pytest.mark.parametrize(("args", "code", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_where_is_one_line_on_every_command(
    store: tuple[Path, str], tmp_path: Path, command: str, args: list[str], code: int, line: str
) -> None:
    out = ["-o", str(tmp_path / ("x" if command == "export" else "x.png"))]
    result = run([command, "--store", str(store[0]), *args, *(out if command != "count" else [])])
    assert result.exit_code == code
    assert result.output.splitlines()[-1] == line
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.png").exists()


def png(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """A PNG's pixels and text chunks."""
    with Image.open(path) as image:
        return np.asarray(image), dict(image.text)


def test_preview_draws_samples_of_the_view_labelled_by_split_row(
    store: tuple[Path, str], arrays: dict, tmp_path: Path
) -> None:
    path, version = store
    out = tmp_path / "preview.png"
    result = run(
        ["preview", "--store", str(path), "--split", "test", "--seed", "3", *WHERE, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"{out}\n"
    pixels, text = png(out)
    sel = np.flatnonzero(line_blob_or_big(arrays["test"]))
    assert len(sel) < 100  # all of them are drawn, in split order
    assert f"where {' and '.join(WHERE[1::2])}: {len(sel):,} match" in text["Description"]
    rows = sel[
        np.sort(np.random.default_rng(3).choice(len(sel), min(100, len(sel)), replace=False))
    ]
    want = render_preview(
        arrays["test"]["images"][rows],
        rows,
        tmp_path / "want.png",
        title=text["Title"],
        subtitle=text["Description"],
    )
    np.testing.assert_array_equal(pixels, png(want)[0])
    nothing = ["--where", "num_objects=1", "--where", "num_objects=2"]
    none = run(["preview", "--store", str(path), "-o", str(tmp_path / "none.png"), *nothing])
    assert none.exit_code == 1
    assert none.output.splitlines()[-1] == (
        f"Error: no image of split 'train' of version '{version}' matches --where num_objects=1 "
        "and num_objects=2; loosen it, or count matches with 'gridstore count'"
    )
    assert not (tmp_path / "none.png").exists()


def test_stats_plot_the_views_annotations(
    store: tuple[Path, str], arrays: dict, tmp_path: Path
) -> None:
    path, version = store
    out = tmp_path / "stats.png"
    result = run(["stats", "--store", str(path), "--split", "val", *WHERE, "-o", str(out)])
    assert result.exit_code == 0, result.output
    pixels, text = png(out)
    sel = line_blob_or_big(arrays["val"])
    assert (
        text["Title"] == f"{version} (val) where {' and '.join(WHERE[1::2])}: {sel.sum():,} images"
    )
    want = render_stats(
        {f: a[sel] for f, a in arrays["val"].items()}, tmp_path / "want.png", title=text["Title"]
    )
    np.testing.assert_array_equal(pixels, png(want)[0])


def test_export_writes_only_the_views_rows(
    store: tuple[Path, str], arrays: dict, tmp_path: Path
) -> None:
    path, _ = store
    out = tmp_path / "export"
    result = run(["export", "--store", str(path), *WHERE, "-o", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["source"]["where"] == [
        "object_type=['line', 'blob'], object_size=range(12, 16)",
        "num_objects=[2, 3]",
    ]
    for s in SPLITS:
        sel = line_blob_or_big(arrays[s])
        with np.load(out / f"{s}.npz") as npz:
            assert sorted(npz.files) == sorted(arrays[s])
            for field, whole in arrays[s].items():
                np.testing.assert_array_equal(npz[field], whole[sel])
        assert meta["file_format"]["files"][f"{s}.npz"]["images"] == int(sel.sum())
