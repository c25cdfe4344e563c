"""Integer arguments (gridstore.arguments): one rule for what a valid integer is, one-line messages.

The entry points' own messages (Plan, make_config, generate_corpus, ...) are
tested beside them; here are the rules they share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridstore.arguments import (
    SEED_BOUND,
    check_int,
    check_number,
    check_seed,
    check_whole_number,
    is_integer,
)
from gridstore.config import load_config_file, make_config
from gridstore.errors import ConfigError

NUMPY_INTS = [np.int8(3), np.int64(3), np.uint8(3), np.uint64(3), np.intp(3)]


@pytest.mark.parametrize("value", [0, -7, 2**70, *NUMPY_INTS], ids=repr)
def test_is_integer_accepts_python_and_numpy_ints(value: Any) -> None:
    assert is_integer(value)


@pytest.mark.parametrize(
    "value",
    [True, False, np.bool_(True), 3.0, np.float64(3), "3", None, [3], np.array(3), 3 + 0j],
    ids=repr,
)
def test_is_integer_rejects_bools_and_everything_else(value: Any) -> None:
    assert not is_integer(value)


@pytest.mark.parametrize("value", NUMPY_INTS, ids=repr)
def test_check_int_returns_a_python_int(value: Any) -> None:
    out = check_int("n", value, 1, 10)
    assert out == 3
    assert type(out) is int


@pytest.mark.parametrize(
    ("value", "low", "high", "message"),
    [
        (True, None, None, "n must be an integer, got True"),
        (False, 0, None, "n must be an integer >= 0, got False"),
        (2.0, 1, None, "n must be an integer >= 1, got 2.0"),
        ("2", 1, None, "n must be an integer >= 1, got '2'"),
        (0, 1, None, "n must be an integer >= 1, got 0"),
        (11, None, 10, "n must be an integer <= 10, got 11"),
        (11, 1, 10, "n must be an integer in [1, 10], got 11"),
        (0, 1, 10, "n must be an integer in [1, 10], got 0"),
        (10**12 + 1, 1, 10**12, "n must be an integer in [1, 1e+12], got 1000000000001"),
        (-1, 0, 10**9, "n must be an integer in [0, 1e+09], got -1"),
        (-1, 0, 10**9 - 1, "n must be an integer in [0, 999999999], got -1"),
    ],
    ids=[
        "bool_no_bounds", "bool_low", "float", "str", "below_low", "above_high",
        "above_range", "below_range", "huge_bound", "bound_1e9",
        "bound_below_1e9",
    ],
)  # fmt: skip
def test_check_int_rejects_with_the_bounds_in_the_message(
    value: Any, low: int | None, high: int | None, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        check_int("n", value, low, high)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.bool_(True), "n must be an integer in [1, 10], got True"),
        (np.int64(0), "n must be an integer in [1, 10], got 0"),
        (np.uint8(11), "n must be an integer in [1, 10], got 11"),
    ],
    ids=["numpy_bool", "numpy_below", "numpy_above"],
)
def test_check_int_rejects_numpy_scalars(value: Any, message: str) -> None:
    """numpy bools are refused like bools, numpy ints out of range like ints, shown as plain numbers."""
    with pytest.raises(ConfigError) as info:
        check_int("n", value, 1, 10)
    assert str(info.value) == message


def test_check_int_bounds_are_inclusive() -> None:
    assert check_int("n", 1, 1, 5) == 1
    assert check_int("n", 5, 1, 5) == 5
    assert check_int("n", np.uint64(2**64 - 1), 0) == 2**64 - 1


@pytest.mark.parametrize(
    "seed", [0, 1, 2**63, SEED_BOUND - 1, np.uint64(2**64 - 1), np.int64(5)], ids=repr
)
def test_check_seed_accepts_uint64(seed: Any) -> None:
    out = check_seed(seed)
    assert out == int(seed)
    assert type(out) is int


@pytest.mark.parametrize(
    "seed", [-1, SEED_BOUND, 2**100, True, np.bool_(False), 1.0, "1", None], ids=repr
)
def test_check_seed_rejects(seed: Any) -> None:
    with pytest.raises(ConfigError) as info:
        check_seed(seed)
    shown = seed.item() if isinstance(seed, np.generic) else seed  # numpy scalars as numbers
    assert str(info.value) == f"seed must be an integer in [0, 2**64), got {shown!r}"


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), (3.0, 3), (-2.0, -2), (np.int16(7), 7), (1e3, 1000)], ids=repr
)
def test_check_whole_number_accepts_integral_numbers(value: Any, expected: int) -> None:
    out = check_whole_number("grid_size", value)
    assert out == expected
    assert type(out) is int


@pytest.mark.parametrize("value", [3.5, float("inf"), float("nan"), True, "3", None, [3]], ids=repr)
def test_check_whole_number_rejects(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        check_whole_number("grid_size", value)
    assert str(info.value) == f"grid_size must be an integer, got {value!r}"


def test_whole_numbers_in_config_files(tmp_path: Path) -> None:
    """A JSON file may write 20.0 where it means 20; 20.5 or true is refused, naming the key."""
    path = tmp_path / "gen.json"
    path.write_text('{"grid_size": 20.0, "max_objects": 6}', encoding="utf-8")
    config = make_config(**load_config_file(path))
    assert config.grid_size == 20
    assert type(config.grid_size) is int
    for text, message in (
        ('{"grid_size": 20.5}', "grid_size must be an integer, got 20.5"),
        ('{"max_tries": true}', "max_tries must be an integer, got True"),
        ('{"min_size": "2"}', "min_size must be an integer, got '2'"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            make_config(**load_config_file(path))
        assert str(info.value) == message
    toml = tmp_path / "gen.toml"
    toml.write_text("max_objects = 6.0\n", encoding="utf-8")
    assert make_config(**load_config_file(toml)).max_objects == 6


@pytest.mark.parametrize("value", [0, 2.5, np.float32(0.5), np.int64(3)], ids=repr)
def test_check_number_accepts_finite_numbers(value: Any) -> None:
    assert check_number("w", value) == float(value)


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), "1", None], ids=repr)
def test_check_number_rejects_the_rest(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        check_number("w", value)
    assert str(info.value) == f"w must be a finite number, got {value!r}"
