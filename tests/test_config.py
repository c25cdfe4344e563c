"""Generator parameters (gridstore.config): presets, validation messages, config files.

Plans, split fractions and quotas are in tests/test_plan.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridstore.config import (
    LINE_ORIENTATIONS,
    OBJECT_TYPES,
    PATTERN_FAMILIES,
    PRESETS,
    GeneratorConfig,
    load_config_file,
    make_config,
)
from gridstore.errors import ConfigError

KNOWN = (
    "blob_compactness, grid_size, line_weights, max_objects, max_size, max_tries, "
    "min_objects, min_size, pattern_weights, type_weights"
)
NO_LINES = {"line": 0}

# ---------------------------------------------------------------------------
# make_config / GeneratorConfig: bad input, exact one-line messages
# ---------------------------------------------------------------------------

BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("min_size>max_size", {"min_size": 5, "max_size": 4}, "min_size (5) must be <= max_size (4)"),
    ("min_size<1", {"min_size": 0}, "min_size must be >= 1, got 0"),
    (
        "max_size>grid_cells",
        {"grid_size": 4, "max_size": 17, "type_weights": NO_LINES},
        "max_size=17 is larger than a 4x4 grid can hold (16)",
    ),
    (
        "max_size>line_length",
        {"grid_size": 8, "max_size": 9},
        "max_size=9 is longer than a line can be on a 8x8 grid (8); "
        "lower max_size or set type_weights line=0",
    ),
    ("grid_size<2", {"grid_size": 1}, "grid_size must be in [2, 255], got 1"),
    ("grid_size>255", {"grid_size": 256}, "grid_size must be in [2, 255], got 256"),
    ("grid_size_float", {"grid_size": 16.5}, "grid_size must be an integer, got 16.5"),
    ("grid_size_str", {"grid_size": "16"}, "grid_size must be an integer, got '16'"),
    ("grid_size_bool", {"grid_size": True}, "grid_size must be an integer, got True"),
    ("max_objects_bool", {"max_objects": False}, "max_objects must be an integer, got False"),
    ("min_objects<1", {"min_objects": 0}, "min_objects must be >= 1, got 0"),
    ("max_objects>255", {"max_objects": 256}, "max_objects must be <= 255, got 256"),
    (
        "min_objects>max_objects",
        {"min_objects": 5, "max_objects": 4},
        "min_objects (5) must be <= max_objects (4)",
    ),
    ("max_tries<1", {"max_tries": 0}, "max_tries must be in [1, 1000], got 0"),
    ("compactness<=0", {"blob_compactness": 0}, "blob_compactness must be > 0, got 0.0"),
    (
        "compactness_inf",
        {"blob_compactness": float("inf")},
        "blob_compactness must be a finite number, got inf",
    ),
    (
        "compactness_bool",
        {"blob_compactness": True},
        "blob_compactness must be a finite number, got True",
    ),
    (
        "weights_negative",
        {"type_weights": (-1, 1, 1, 1)},
        "type_weights must be >= 0, got "
        "{'blob': -1.0, 'rectangle': 1.0, 'line': 1.0, 'pattern': 1.0}",
    ),
    (
        "weights_negative_mapping",
        {"line_weights": {"vertical": -0.5}},
        "line_weights must be >= 0, got "
        "{'horizontal': 0.3, 'vertical': -0.5, 'diagonal': 0.2, 'anti_diagonal': 0.2}",
    ),
    ("weights_all_zero", {"type_weights": (0, 0, 0, 0)}, "type_weights must not all be zero"),
    (
        "weights_all_zero_mapping",
        {"pattern_weights": dict.fromkeys(PATTERN_FAMILIES, 0)},
        "pattern_weights must not all be zero",
    ),
    (
        "weights_wrong_length",
        {"type_weights": (1, 2)},
        "type_weights must give 4 weights (blob, rectangle, line, pattern), got (1, 2)",
    ),
    (
        "weights_string",
        {"line_weights": "1234"},
        "line_weights must give 4 weights (horizontal, vertical, diagonal, anti_diagonal), "
        "got '1234'",
    ),
    (
        "weights_not_numbers",
        {"type_weights": (1, "a", 1, 1)},
        "type_weights[rectangle] must be a finite number, got 'a'",
    ),
    (
        "weights_nan",
        {"type_weights": (1, float("nan"), 1, 1)},
        "type_weights[rectangle] must be a finite number, got nan",
    ),
    (
        "weights_unknown_name",
        {"type_weights": {"circle": 1}},
        "unknown name 'circle' in type_weights; expected some of blob, rectangle, line, pattern",
    ),
    (
        "pattern_family_no_shape",
        {"min_size": 9, "max_size": 15},
        "pattern family 'checkerboard' has no shape with 9..15 cells on a 16x16 grid; "
        "set pattern_weights checkerboard=0",
    ),
    (
        "pattern_family_plus_no_shape",
        {"min_size": 6, "max_size": 8},
        "pattern family 'plus' has no shape with 6..8 cells on a 16x16 grid; "
        "set pattern_weights plus=0",
    ),
    (
        "rectangle_no_shape",
        {"grid_size": 5, "min_size": 23, "max_size": 23, "type_weights": (1, 1, 0, 0)},
        "no rectangle of about 23 cells fits a 5x5 grid; set type_weights rectangle=0",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_make_config_rejects(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(**overrides)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_dataclass_rejects(overrides: dict[str, Any], message: str) -> None:
    """``GeneratorConfig(...)`` validates like ``make_config`` (mappings merge into atomic)."""
    with pytest.raises(ConfigError) as info:
        GeneratorConfig(**overrides)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("cubes", {}, "unknown preset 'cubes'; choose one of atomic, shapes"),
        ("atomic", {"colours": 3}, f"unknown parameter 'colours'; known parameters: {KNOWN}"),
        ("shapes", {"zz": 1, "aa": 2}, f"unknown parameter 'aa'; known parameters: {KNOWN}"),
        (
            "atomic",
            {"preset_name": "x"},
            f"unknown parameter 'preset_name'; known parameters: {KNOWN}",
        ),
    ],
    ids=["unknown_preset", "unknown_parameter", "first_unknown_sorted", "near_miss"],
)
def test_make_config_rejects_names(preset: str, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(preset, **overrides)
    assert str(info.value) == message


@pytest.mark.parametrize("value", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_non_finite_integers_raise_config_error(value: float) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(grid_size=value)
    assert str(info.value) == f"grid_size must be an integer, got {value!r}"


def test_dataclass_rejects_unknown_preset() -> None:
    with pytest.raises(ConfigError) as info:
        GeneratorConfig(preset="cubes")
    assert str(info.value) == "unknown preset 'cubes'; choose one of atomic, shapes"


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="grid_size"):
        make_config(grid_size=0)


# ---------------------------------------------------------------------------
# Good cases
# ---------------------------------------------------------------------------


def test_atomic_preset_matches_generator_md() -> None:
    c = PRESETS["atomic"]
    assert c == make_config() == make_config("atomic") == GeneratorConfig()
    assert c.preset == "atomic"
    assert (c.grid_size, c.min_objects, c.max_objects, c.min_size, c.max_size) == (16, 1, 4, 2, 15)
    assert dict(zip(OBJECT_TYPES, c.type_weights, strict=True)) == {
        "blob": 0.4,
        "rectangle": 0.2,
        "line": 0.2,
        "pattern": 0.2,
    }
    assert dict(zip(LINE_ORIENTATIONS, c.line_weights, strict=True)) == {
        "horizontal": 0.3,
        "vertical": 0.3,
        "diagonal": 0.2,
        "anti_diagonal": 0.2,
    }
    assert len(set(c.pattern_weights)) == 1
    assert len(c.pattern_weights) == len(PATTERN_FAMILIES) == 5
    assert c.blob_compactness == 3.0
    assert c.max_tries == 10


def test_shapes_preset_matches_generator_md() -> None:
    s, a = PRESETS["shapes"], PRESETS["atomic"]
    assert s == make_config("shapes")
    assert s.preset == "shapes"
    weights = dict(zip(OBJECT_TYPES, s.type_weights, strict=True))
    assert weights["blob"] == 0
    assert weights["rectangle"] == weights["line"] == weights["pattern"] > 0
    assert (s.min_objects, s.max_objects) == (1, 6)
    # everything else is the atomic distribution
    same = (
        "grid_size",
        "min_size",
        "max_size",
        "line_weights",
        "pattern_weights",
        "blob_compactness",
        "max_tries",
    )
    assert all(getattr(s, k) == getattr(a, k) for k in same)


def test_presets_are_frozen_and_hashable() -> None:
    c = make_config()
    with pytest.raises(AttributeError):
        c.grid_size = 20  # type: ignore[misc]
    assert hash(c) == hash(make_config())
    assert len({make_config(), make_config(), make_config("shapes")}) == 2


def test_integral_floats_normalise_to_equal_configs() -> None:
    a = make_config(grid_size=16.0, max_objects=4.0)
    assert a == make_config()
    assert hash(a) == hash(make_config())
    assert type(a.grid_size) is int
    b = make_config(type_weights=(2, 1, 1, 1))
    assert all(type(w) is float for w in b.type_weights)


def test_none_overrides_are_ignored() -> None:
    assert make_config(grid_size=None, type_weights=None) == make_config()


@pytest.mark.parametrize(
    ("preset", "key", "partial", "expected"),
    [
        ("atomic", "type_weights", {"blob": 0}, (0.0, 0.2, 0.2, 0.2)),
        ("atomic", "type_weights", {"line": 1, "pattern": 0}, (0.4, 0.2, 1.0, 0.0)),
        ("shapes", "type_weights", {"blob": 1}, (1.0, 1 / 3, 1 / 3, 1 / 3)),
        ("atomic", "line_weights", {"diagonal": 0, "anti_diagonal": 0}, (0.3, 0.3, 0.0, 0.0)),
        ("atomic", "pattern_weights", {"zigzag": 1.0}, (0.2, 0.2, 0.2, 0.2, 1.0)),
    ],
    ids=[
        "atomic_no_blobs",
        "atomic_two_names",
        "shapes_add_blobs",
        "lines_straight",
        "more_zigzag",
    ],
)
def test_partial_weight_mappings_merge(
    preset: str, key: str, partial: dict[str, float], expected: tuple[float, ...]
) -> None:
    c = make_config(preset, **{key: partial})
    assert getattr(c, key) == pytest.approx(expected)
    assert c.preset == preset


def test_dataclass_mapping_merges_into_atomic_defaults() -> None:
    assert GeneratorConfig(type_weights={"blob": 0}).type_weights == (0.0, 0.2, 0.2, 0.2)


@pytest.mark.parametrize(
    "config",
    [
        PRESETS["atomic"],
        PRESETS["shapes"],
        make_config(grid_size=30, max_objects=9, min_size=3, max_size=20, blob_compactness=1.5),
        make_config("shapes", line_weights={"horizontal": 0}, pattern_weights={"checkerboard": 0}),
        make_config(grid_size=6, max_size=20, type_weights={"line": 0, "pattern": 0}, max_tries=3),
    ],
    ids=["atomic", "shapes", "big", "shapes_partial", "no_lines"],
)
def test_to_dict_from_dict_round_trip(config: GeneratorConfig) -> None:
    d = config.to_dict()
    assert set(d["type_weights"]) == set(OBJECT_TYPES)
    assert GeneratorConfig.from_dict(d) == config
    # through JSON too, as the version metadata stores it
    assert GeneratorConfig.from_dict(json.loads(json.dumps(d))) == config


def test_from_dict_fills_missing_values_from_the_preset() -> None:
    assert GeneratorConfig.from_dict({"preset": "shapes", "max_objects": 3}) == make_config(
        "shapes", max_objects=3
    )
    assert GeneratorConfig.from_dict({}) == make_config()


# ---------------------------------------------------------------------------
# Config files
# ---------------------------------------------------------------------------

TOML_TEXT = """\
grid_size = 20
max_objects = 6
max_size = 12

[type_weights]
blob = 0
"""


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "gen.toml"
    path.write_text(TOML_TEXT, encoding="utf-8")
    values = load_config_file(path)
    assert values == {
        "grid_size": 20,
        "max_objects": 6,
        "max_size": 12,
        "type_weights": {"blob": 0},
    }
    c = make_config(**values)
    assert (c.grid_size, c.max_objects, c.max_size) == (20, 6, 12)
    assert c.type_weights == (0.0, 0.2, 0.2, 0.2)


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "gen.json"
    values = {"preset": "shapes", "grid_size": 12, "max_size": 12, "line_weights": [1, 1, 0, 0]}
    path.write_text(json.dumps(values), encoding="utf-8")
    assert load_config_file(str(path)) == values
    c = make_config(**load_config_file(path))
    assert c.preset == "shapes"
    assert c.line_weights == (1.0, 1.0, 0.0, 0.0)


def test_config_file_round_trips_to_dict(tmp_path: Path) -> None:
    config = make_config("shapes", grid_size=10, max_size=9)
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
    assert GeneratorConfig.from_dict(load_config_file(path)) == config


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.json", "{grid_size: 3", "config file '{path}' is not valid JSON: "
         "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("list.json", "[1, 2]", "config file '{path}' must hold a table of parameters, got list"),
        ("number.json", "16", "config file '{path}' must hold a table of parameters, got int"),
    ],
    ids=["malformed_json", "json_list", "json_number"],
)  # fmt: skip
def test_bad_json_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(info.value) == expected.format(path=path)


@pytest.mark.parametrize(
    "text",
    ["grid_size = ", "grid_size = 3\ngrid_size = 4\n", "[type_weights\nblob = 1\n", "x = [1, 2"],
    ids=["no_value", "duplicate_key", "unclosed_table", "unclosed_array"],
)
def test_malformed_toml_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gen.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert message.startswith(f"config file '{path}' is not valid TOML: ")
    assert "\n" not in message


def test_malformed_upper_case_json_is_called_json(tmp_path: Path) -> None:
    path = tmp_path / "GEN.JSON"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not valid JSON: "):
        load_config_file(path)


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(info.value) == f"cannot read config file '{path}': No such file or directory"


def test_unknown_key_in_config_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "gen.toml"
    path.write_text("grid_sise = 20\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        make_config(**load_config_file(path))
    assert str(info.value) == f"unknown parameter 'grid_sise'; known parameters: {KNOWN}"
