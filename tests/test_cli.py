"""The command line, in-process with click's CliRunner: bad input is one line and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.storage import open_backend
from tests.conftest import tree_bytes

# (id, arguments, exit code, the exact error line); {tmp}, {store}, {version} are filled in.
BAD_INPUT = [
    (
        "num-images-zero",
        ["generate", "--num-images", "0"],
        2,
        "Error: Invalid value for '--num-images': 0 is not in the range 1<=x<=1000000000000.",
    ),
    (
        "num-images-negative",
        ["generate", "--num-images", "-5"],
        2,
        "Error: Invalid value for '--num-images': -5 is not in the range 1<=x<=1000000000000.",
    ),
    (
        "num-images-float",
        ["generate", "--num-images", "1.5"],
        2,
        "Error: Invalid value for '--num-images': '1.5' is not a valid integer range.",
    ),
    (
        "num-images-huge",
        ["generate", "--num-images", "10000000000000"],
        2,
        "Error: Invalid value for '--num-images': 10000000000000 is not in the range 1<=x<=1000000000000.",
    ),
    (
        "num-images-missing",
        ["generate"],
        1,
        "Error: --num-images is required (on the command line or in the config file)",
    ),
    (
        "splits-sum",
        ["generate", "--num-images", "10", "--splits", "0.5,0.1,0.1"],
        1,
        "Error: splits must be >= 0 and sum to 1, got '0.5,0.1,0.1' (sum 0.7)",
    ),
    (
        "splits-negative",
        ["generate", "--num-images", "10", "--splits", "1.2,-0.1,-0.1"],
        1,
        "Error: splits must be >= 0 and sum to 1, got '1.2,-0.1,-0.1' (sum 1)",
    ),
    (
        "splits-malformed",
        ["generate", "--num-images", "10", "--splits", "a,b"],
        1,
        "Error: splits must be three numbers train,val,test like 0.8,0.1,0.1, got 'a,b'",
    ),
    (
        "splits-two",
        ["generate", "--num-images", "10", "--splits", "0.5,0.5"],
        1,
        "Error: splits must be three numbers train,val,test like 0.8,0.1,0.1, got '0.5,0.5'",
    ),
    (
        "preset-unknown",
        ["generate", "--num-images", "10", "--preset", "circles"],
        2,
        "Error: Invalid value for '--preset': 'circles' is not one of 'atomic', 'shapes'.",
    ),
    (
        "config-bad-toml",
        ["generate", "--num-images", "10", "--config", "{tmp}/bad.toml"],
        1,
        "Error: config file '{tmp}/bad.toml' is not valid TOML: Invalid value (at end of document)",
    ),
    (
        "config-unknown-key",
        ["generate", "--config", "{tmp}/unknown.toml"],
        1,
        "Error: unknown key 'colour_count' in config file '{tmp}/unknown.toml'; known keys: blob_compactness, "
        "blocks_per_chunk, compression, grid_size, heldout_images, hold_out, line_weights, max_objects, max_size, max_tries, min_objects, min_size, "
        "num_images, pairs, pattern_weights, preset, seed, split_mode, splits, type_weights, unique",
    ),
    (
        "config-bad-value",
        ["generate", "--config", "{tmp}/badvalue.toml"],
        1,
        "Error: max_objects must be an integer, got 'four'",
    ),
    (
        "config-bad-json",
        ["generate", "--num-images", "10", "--config", "{tmp}/bad.json"],
        1,
        "Error: config file '{tmp}/bad.json' is not valid JSON: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)",
    ),
    (
        "config-not-a-table",
        ["generate", "--num-images", "10", "--config", "{tmp}/list.json"],
        1,
        "Error: config file '{tmp}/list.json' must hold a table of parameters, got list",
    ),
    (
        "config-missing",
        ["generate", "--num-images", "10", "--config", "{tmp}/nope.toml"],
        2,
        "Error: Invalid value for '--config': File '{tmp}/nope.toml' does not exist.",
    ),
    (
        "store-is-a-file",
        ["generate", "--num-images", "10", "--store", "{tmp}/file.txt"],
        1,
        "Error: store path '{tmp}/file.txt' is a file, not a directory; choose another --store",
    ),
    (
        "store-not-a-store",
        ["generate", "--num-images", "10", "--store", "{tmp}/notstore"],
        1,
        "Error: '{tmp}/notstore' is not a gridstore store (no zarr.json) and not empty; use a new or empty directory",
    ),
    (
        "store-missing",
        ["versions", "--store", "{tmp}/missing"],
        1,
        "Error: store '{tmp}/missing' does not exist; create one with 'gridstore generate --store {tmp}/missing'",
    ),
    (
        "store-bad-root",
        ["versions", "--store", "{tmp}/badroot"],
        1,
        "Error: '{tmp}/badroot/zarr.json' is not a gridstore store's root (unreadable or no gridstore attributes)",
    ),
    (
        "version-malformed",
        ["generate", "--num-images", "10", "--version", "v1"],
        1,
        "Error: version name must look like YYYY-MM-DD-vN (e.g. 2026-11-25-v1), got 'v1'",
    ),
    (
        "version-impossible-date",
        ["generate", "--num-images", "10", "--version", "2026-02-30-v1"],
        1,
        "Error: version name must look like YYYY-MM-DD-vN (e.g. 2026-11-25-v1), got '2026-02-30-v1'",
    ),
    (
        "version-taken",
        ["generate", "--num-images", "10", "--version", "{version}", "--yes"],
        1,
        "Error: version '{version}' already exists in store '{store}'; choose another --version or omit it",
    ),
    (
        "version-unknown",
        ["info", "2020-01-01-v1"],
        1,
        "Error: version '2020-01-01-v1' not found in store '{store}'; available: {version}",
    ),
    (
        "seed-negative",
        ["generate", "--num-images", "10", "--seed", "-1"],
        2,
        "Error: Invalid value for '--seed': -1 is not in the range 0<=x<=18446744073709551615.",
    ),
    (
        "seed-text",
        ["generate", "--num-images", "10", "--seed", "abc"],
        2,
        "Error: Invalid value for '--seed': 'abc' is not a valid integer range.",
    ),
    (
        "seed-too-big",
        ["generate", "--num-images", "10", "--seed", str(2**64)],
        2,
        "Error: Invalid value for '--seed': 18446744073709551616 is not in the range 0<=x<=18446744073709551615.",
    ),
    (
        "workers-zero",
        ["generate", "--num-images", "10", "--workers", "0"],
        2,
        "Error: Invalid value for '--workers': 0 is not in the range x>=1.",
    ),
    (
        "sizes-reversed",
        ["generate", "--num-images", "10", "--min-size", "9", "--max-size", "3"],
        1,
        "Error: min_size (9) must be <= max_size (3)",
    ),
    (
        "grid-too-big",
        ["generate", "--num-images", "10", "--grid-size", "300"],
        1,
        "Error: grid_size must be in [2, 255], got 300",
    ),
    (
        "max-size-too-big",
        ["generate", "--num-images", "10", "--grid-size", "8"],
        1,
        "Error: max_size=15 is longer than a line can be on a 8x8 grid (8); lower max_size or set type_weights line=0",
    ),
    (
        "weights-malformed",
        ["generate", "--num-images", "10", "--type-weights", "blob"],
        1,
        "Error: weights must look like name=weight,name=weight, got 'blob'",
    ),
    (
        "weights-unknown",
        ["generate", "--num-images", "10", "--type-weights", "circle=1"],
        1,
        "Error: unknown name 'circle' in type_weights; expected some of blob, rectangle, line, pattern",
    ),
    (
        "weights-all-zero",
        ["generate", "--num-images", "10", "--type-weights", "blob=0,rectangle=0,line=0,pattern=0"],
        1,
        "Error: type_weights must not all be zero",
    ),
    (
        "weights-negative",
        ["generate", "--num-images", "10", "--type-weights", "blob=-1"],
        1,
        "Error: type_weights must be >= 0, got {{'blob': -1.0, 'rectangle': 0.2, 'line': 0.2, 'pattern': 0.2}}",
    ),
    (
        "resume-nothing",
        ["generate", "--resume"],
        1,
        "Error: --resume needs --version NAME; unfinished versions: none",
    ),
    (
        "grow-unknown",
        ["generate", "--num-images", "10", "--grow-from", "2020-01-01-v1"],
        1,
        "Error: version '2020-01-01-v1' not found in store '{store}'; available: {version}",
    ),
    (
        "grow-smaller",
        ["generate", "--num-images", "10", "--grow-from", "{version}", "--yes"],
        1,
        "Error: grow needs num_images > 3000 (the size of '{version}'), got 10",
    ),
    (
        "no-terminal",
        ["generate", "--num-images", "10"],
        1,
        "Error: Proceed: no terminal to ask; pass --yes to proceed",
    ),
    (
        "delete-unknown",
        ["delete", "2020-01-01-v1", "--yes"],
        1,
        "Error: version '2020-01-01-v1' not found in store '{store}'; available: {version}",
    ),
    (
        "delete-unconfirmed",
        ["delete", "{version}"],
        1,
        "Error: Delete version {version} (3,000 images, {size}): no terminal to ask; pass --yes to proceed",
    ),
    (
        "validate-unknown",
        ["validate", "2020-01-01-v1"],
        1,
        "Error: version '2020-01-01-v1' not found in store '{store}'; available: {version}",
    ),
    (
        "preview-unknown",
        ["preview", "2020-01-01-v1"],
        1,
        "Error: version '2020-01-01-v1' not found in store '{store}'; available: {version}",
    ),
]


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("cli")
    store = tmp / "datasets"
    args = [
        "generate",
        "--num-images",
        "3000",
        "--store",
        str(store),
        "--yes",
        "--quiet",
        "--workers",
        "1",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (tmp / "file.txt").write_text("x")
    (tmp / "notstore").mkdir()
    (tmp / "notstore" / "a.txt").write_text("x")
    (tmp / "badroot").mkdir()
    (tmp / "badroot" / "zarr.json").write_text("{not json")
    (tmp / "bad.toml").write_text("grid_size = [")
    (tmp / "unknown.toml").write_text("num_images = 10\ncolour_count = 3\n")
    (tmp / "badvalue.toml").write_text('num_images = 10\nmax_objects = "four"\n')
    (tmp / "bad.json").write_text("{1}")
    (tmp / "list.json").write_text("[1, 2]")
    return store, open_backend(store).versions()[0]


@pytest.mark.parametrize(
    ("args", "code", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli_store: tuple[Path, str], args: list[str], code: int, message: str
) -> None:
    store, version = cli_store
    from gridstore.plan import format_bytes

    size = format_bytes(open_backend(store).metadata(version)["storage"]["bytes_on_disk"])
    fill = {"tmp": str(store.parent), "store": str(store), "version": version, "size": size}
    args = [a.format(**fill) for a in args]
    if "--store" not in args:
        args += ["--store", str(store)]
    before = tree_bytes(store)
    result = CliRunner().invoke(main, args)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [message.format(**fill)], result.output
    assert result.exit_code == code
    # CliRunner keeps a raised exception in result.exception, never in the output:
    # a user error ends in SystemExit (click's one-line exit), nothing else
    assert isinstance(result.exception, SystemExit), result.exception
    assert tree_bytes(store) == before


def test_debug_shows_the_traceback(cli_store: tuple[Path, str]) -> None:
    store, _ = cli_store
    result = CliRunner().invoke(main, ["--debug", "info", "2020-01-01-v1", "--store", str(store)])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "VersionNotFoundError"


def test_a_tour_of_the_commands(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    run = CliRunner().invoke

    result = run(
        main,
        [
            "generate",
            "--num-images",
            "6000",
            "--store",
            str(store),
            "--yes",
            "--workers",
            "1",
            "--seed",
            "3",
            "--preset",
            "shapes",
            "--splits",
            "0.7,0.2,0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "plan for the next version" in result.output and "on disk (est.)" in result.output
    version = open_backend(store).versions()[0]
    assert f"{version}: 6,000 images (train 4,200, val 1,200, test 600)" in result.output

    listing = run(main, ["versions", "--store", str(store)])
    assert version in listing.output and "complete" in listing.output

    meta = json.loads(run(main, ["info", version, "--store", str(store), "--json"]).output)
    assert meta["generation_params"]["preset"] == "shapes"
    assert meta["generation_params"]["generator"]["max_objects"] == 6

    check = run(main, ["validate", version, "--store", str(store)])
    assert check.exit_code == 0, check.output

    png = tmp_path / "p.png"
    assert run(main, ["preview", version, "--store", str(store), "-o", str(png)]).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stats_png = tmp_path / "s.png"
    assert run(main, ["stats", version, "--store", str(store), "-o", str(stats_png)]).exit_code == 0
    assert stats_png.stat().st_size > 10_000

    out = tmp_path / "npz"
    assert run(main, ["export", version, "--store", str(store), "-o", str(out)]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json",
        "test.npz",
        "train.npz",
        "val.npz",
    ]

    dry = run(main, ["generate", "--num-images", "100", "--store", str(store), "--dry-run"])
    assert dry.exit_code == 0 and len(open_backend(store).versions()) == 1

    assert run(main, ["delete", version, "--store", str(store), "--yes"]).exit_code == 0
    assert open_backend(store).versions() == []


def test_generate_into_a_directory_holding_only_gitkeep(tmp_path: Path) -> None:
    """README's first command runs in the repository, whose datasets/ holds .gitkeep."""
    store = tmp_path / "datasets"
    store.mkdir()
    (store / ".gitkeep").touch()
    args = ["generate", "--num-images", "1000", "--store", str(store), "--yes", "--workers", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(open_backend(store).versions()) == 1
