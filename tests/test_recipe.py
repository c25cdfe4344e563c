"""A version's recipe fed back: --like, --config of its metadata, reproduce, honest grows and plans."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.diff import diff_versions
from gridstore.plan import Plan
from gridstore.storage import open_backend
from gridstore.write.versions import create_version

SOURCE = Plan(num_images=3000, seed=5)


def cli(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with one small version (module-wide: copy it before changing it)."""
    store = tmp_path_factory.mktemp("recipe") / "datasets"
    meta = create_version(store, SOURCE, engine="serial", show_progress=False)
    return store, meta["version"]


def _generate(store: Path, *args: Any) -> str:
    out = cli("generate", "--store", store, "--yes", "-q", "--engine", "serial", *args)
    assert out.exit_code == 0, out.output
    # the summary says which bytes each figure counts
    assert " on disk with annotations (" in out.output and "B/image), images alone " in out.output
    return open_backend(store).versions()[-1]


def test_like_with_one_override_differs_in_exactly_that(
    source: tuple[Path, str], tmp_path: Path
) -> None:
    store = tmp_path / "datasets"
    shutil.copytree(source[0], store)
    like = _generate(store, "--like", source[1], "--seed", "7")
    changed = diff_versions(store, source[1], like).parameters
    assert [(c.name, c.a, c.b) for c in changed] == [("seed", 5, 7)]
    # a partial weight mapping completes the source's weights, not the preset's
    plan = cli("generate", "--store", store, "--like", like, "--type-weights", "blob=0.6",
               "--dry-run")  # fmt: skip
    assert plan.exit_code == 0, plan.output
    assert "type weights blob 0.50, rectangle 0.17, line 0.17, pattern 0.17" in plan.output
    assert "seed 7" in plan.output


def test_config_takes_a_versions_metadata(source: tuple[Path, str], tmp_path: Path) -> None:
    """info --json and a version's own zarr.json are recipes: the same bytes come out."""
    store = tmp_path / "datasets"
    shutil.copytree(source[0], store)
    info = tmp_path / "info.json"
    info.write_text(cli("info", source[1], "--store", store, "--json").output)
    again = _generate(store, "--config", info)
    meta = open_backend(store).metadata
    assert meta(again)["digest"] == meta(source[1])["digest"]
    assert meta(again)["generation_params"] == meta(source[1])["generation_params"]
    plan = cli("generate", "--store", store, "--config", store / source[1] / "zarr.json",
               "--max-objects", "3", "--dry-run")  # fmt: skip
    assert plan.exit_code == 0, plan.output
    assert "seed 5" in plan.output and "parameters:       max_objects 3" in plan.output
    both = cli("generate", "--store", store, "--config", info, "--like", source[1])
    assert both.exit_code == 2 and "--like and --config both give the parameters" in both.output


def test_reproduce_proves_the_digest(source: tuple[Path, str], tmp_path: Path) -> None:
    ok = cli("reproduce", source[1], "--store", source[0], "--to", tmp_path / "copy", "-q",
             "--engine", "serial")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert f"equal: {source[1]} is reproduced byte for byte" in ok.output
    assert open_backend(tmp_path / "copy").versions() == [source[1]]
    # a version without a recorded digest is recomputed from its chunks: damage shows
    store = tmp_path / "damaged"
    shutil.copytree(source[0], store)
    doc_path = store / source[1] / "zarr.json"
    doc = json.loads(doc_path.read_text())
    del doc["attributes"]["digest"]
    doc_path.write_text(json.dumps(doc))
    chunk = store / source[1] / "train" / "images" / "c.0.0.0"
    os.chmod(chunk, 0o644)
    data = bytearray(chunk.read_bytes())
    data[50] ^= 1
    chunk.write_bytes(bytes(data))
    bad = cli("reproduce", "latest", "--store", store, "-q", "--engine", "serial")
    assert bad.exit_code == 1
    assert "recomputed from its chunks (none recorded)" in bad.output
    assert f"Error: the reproduction of {source[1]} differs from it" in bad.output


# Every option that sets a parameter of the plan, with a value the source does not have.
CONTRADICTIONS = [
    ("--seed", "3", "--seed (source: 5)"),
    ("--preset", "shapes", "--preset (source: atomic)"),
    ("--splits", "0.5,0.25,0.25", "--splits (source: 0.8,0.1,0.1)"),
    ("--split-mode", "independent", "--split-mode (source: disjoint)"),
    ("--compression", "max", "--compression (source: default)"),
    ("--unique", None, "--unique (source: False)"),
    ("--grid-size", "20", "--grid-size (source: 16)"),
    ("--min-objects", "2", "--min-objects (source: 1)"),
    ("--max-objects", "5", "--max-objects (source: 4)"),
    ("--min-size", "3", "--min-size (source: 2)"),
    ("--max-size", "12", "--max-size (source: 15)"),
    (
        "--type-weights",
        "blob=1",
        "--type-weights (source: blob=0.4,rectangle=0.2,line=0.2,pattern=0.2)",
    ),
    ("--line-weights", "vertical=1", "--line-weights (source: horizontal=0.3,vertical=0.3,"),
    ("--pattern-weights", "plus=2", "--pattern-weights (source: checkerboard=0.2,"),
    ("--blob-compactness", "2", "--blob-compactness (source: 3.0)"),
    ("--max-tries", "5", "--max-tries (source: 10)"),
    ("--pairs", "move", "--pairs (source: none)"),
]


@pytest.mark.parametrize(
    ("option", "value", "named"), CONTRADICTIONS, ids=[c[0] for c in CONTRADICTIONS]
)
def test_grow_refuses_every_option_that_contradicts_its_source(
    source: tuple[Path, str], option: str, value: str | None, named: str
) -> None:
    store, version = source
    given = [option] if value is None else [option, value]
    out = cli("generate", "--store", store, "--grow-from", version, "--num-images", "6000",
              *given, "--dry-run")  # fmt: skip
    assert out.exit_code == 1, out.output
    (line,) = out.output.splitlines()
    assert line.startswith(f"Error: --grow-from {version} keeps its source's parameters, and ")
    assert named in line


def test_grow_takes_agreeing_options_and_says_what_it_shares(source: tuple[Path, str]) -> None:
    store, version = source
    out = cli("generate", "--store", store, "--grow-from", "latest", "--num-images", "26000",
              "--seed", "5", "--preset", "atomic", "--type-weights", "blob=0.4", "--dry-run")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (f"grown from:       {version}: 3,000 images shared (0 in whole chunks copied, "
            "3,000 regenerated to the same bytes), 23,000 new") in out.output  # fmt: skip


def test_the_plan_shows_effective_normalised_parameters(source: tuple[Path, str]) -> None:
    out = cli("generate", "--store", source[0], "--num-images", "1000", "--preset", "shapes",
              "--max-objects", "3", "--type-weights", "line=2", "--dry-run")  # fmt: skip
    assert out.exit_code == 0, out.output
    # shapes' weights are 0, 1/3, 1/3, 1/3: line=2 makes them 0, 1/3, 2, 1/3 of 8/3
    assert ("parameters:       max_objects 3; type weights blob 0.00, rectangle 0.12, line 0.75, "
            "pattern 0.12") in out.output  # fmt: skip
    plain = cli("generate", "--store", source[0], "--num-images", "1000", "--dry-run")
    assert "parameters:       those of the preset" in plain.output
