"""Dataset plans (gridstore.plan): split fractions, block quotas, split counts, tasks, estimates."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from gridstore.config import GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
from gridstore.plan import (
    SPLITS,
    Plan,
    Task,
    estimate_memory,
    format_bytes,
    parse_fractions,
    split_quotas,
)

THREE = "splits must be three numbers train,val,test like 0.8,0.1,0.1, got {!r}"
NUM = "num_images must be an integer in [1, 1e+12], got {}"
SUM = "splits must be >= 0 and sum to 1, got {!r} (sum {})"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.8,0.1,0.1", (0.8, 0.1, 0.1)),
        ((0.8, 0.1, 0.1), (0.8, 0.1, 0.1)),
        ([1, 0, 0], (1.0, 0.0, 0.0)),
        (" 0.5, 0.25 ,0.25", (0.5, 0.25, 0.25)),
        ("1e0,0,0", (1.0, 0.0, 0.0)),
    ],
    ids=["string", "tuple", "list_ints", "spaces", "exponent"],
)
def test_parse_fractions_accepts(value: Any, expected: tuple[float, float, float]) -> None:
    assert parse_fractions(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.8,0.2", THREE.format("0.8,0.2")),
        ("0.8;0.1;0.1", THREE.format("0.8;0.1;0.1")),
        ("a,b,c", THREE.format("a,b,c")),
        ("", THREE.format("")),
        ("0.8,0.1,0.05,0.05", THREE.format("0.8,0.1,0.05,0.05")),
        ("0.8,nan,0.2", THREE.format("0.8,nan,0.2")),
        ("inf,0,0", THREE.format("inf,0,0")),
        ((0.5, 0.3, 0.1), SUM.format("0.5,0.3,0.1", 0.9)),
        ("1.2,-0.1,-0.1", SUM.format("1.2,-0.1,-0.1", 1)),
        ("0,0,0", SUM.format("0,0,0", 0)),
        ("0.8,0.1,0.2", SUM.format("0.8,0.1,0.2", 1.1)),
    ],
    ids=[
        "two_numbers", "semicolons", "words", "empty", "four_numbers", "nan", "inf",
        "sum_below_1", "negative", "all_zero", "sum_above_1",
    ],
)  # fmt: skip
def test_parse_fractions_rejects(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_fractions(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_images": 0}, NUM.format("0")),
        ({"num_images": -5}, NUM.format("-5")),
        ({"num_images": 10.0}, NUM.format("10.0")),
        ({"num_images": True}, NUM.format("True")),
        ({"num_images": "10"}, NUM.format("'10'")),
        ({"num_images": 10**12 + 1}, NUM.format("1000000000001")),
        ({"seed": -1}, "seed must be an integer in [0, 2**64), got -1"),
        ({"seed": 2**64}, "seed must be an integer in [0, 2**64), got 18446744073709551616"),
        ({"seed": 1.0}, "seed must be an integer in [0, 2**64), got 1.0"),
        ({"seed": False}, "seed must be an integer in [0, 2**64), got False"),
        ({"fractions": (0.8, 0.1, 0.2)}, SUM.format("0.8,0.1,0.2", 1.1)),
        ({"fractions": (-0.1, 0.6, 0.5)}, SUM.format("-0.1,0.6,0.5", 1)),
        ({"fractions": "0.8,0.2"}, THREE.format("0.8,0.2")),
        ({"split_mode": "iid"}, "split_mode must be 'disjoint' or 'independent', got 'iid'"),
        ({"blocks_per_chunk": 0}, "blocks_per_chunk must be an integer in [1, 64], got 0"),
        ({"blocks_per_chunk": 65}, "blocks_per_chunk must be an integer in [1, 64], got 65"),
    ],
    ids=[
        "images_zero", "images_negative", "images_float", "images_bool", "images_str",
        "images_too_many", "seed_negative", "seed_2_64", "seed_float", "seed_bool",
        "fractions_sum", "fractions_negative", "fractions_malformed", "split_mode",
        "blocks_per_chunk_0", "blocks_per_chunk_65",
    ],
)  # fmt: skip
def test_plan_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Plan(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"num_images": 1, "seed": 0},
        {"num_images": 10**12, "seed": 2**64 - 1},
        {"num_images": np.int64(7), "seed": np.uint64(2**63)},
        {"fractions": "0.7,0.2,0.1", "split_mode": "independent"},
    ],
    ids=["smallest", "largest", "numpy_ints", "fraction_string"],
)
def test_plan_accepts(kwargs: dict[str, Any]) -> None:
    plan = Plan(**kwargs)
    assert len(plan.fractions) == 3
    assert isinstance(plan.fractions[0], float)


FRACTIONS = [
    (0.8, 0.1, 0.1),
    (0.7, 0.2, 0.1),
    (0.5, 0.25, 0.25),
    (1 / 3, 1 / 3, 1 / 3),
    (0.98, 0.01, 0.01),
    (0.0, 0.5, 0.5),
    (1.0, 0.0, 0.0),
    (0.333, 0.333, 0.334),
]
FRACTION_IDS = [
    "80-10-10",
    "70-20-10",
    "50-25-25",
    "thirds",
    "98-1-1",
    "0-50-50",
    "100-0-0",
    "333-333-334",
]


@pytest.mark.parametrize("fractions", FRACTIONS, ids=FRACTION_IDS)
def test_split_quotas_are_monotone_and_fair(fractions: tuple[float, float, float]) -> None:
    q = np.array([split_quotas(fractions, r) for r in range(ROUTING_BLOCK_IMAGES + 1)])
    assert q[0].tolist() == [0, 0, 0]
    assert (q.sum(axis=1) == np.arange(ROUTING_BLOCK_IMAGES + 1)).all()
    steps = np.diff(q, axis=0)
    assert (steps >= 0).all(), "a split lost an image when the block grew"
    assert (steps.sum(axis=1) == 1).all()
    # largest-deficit routing never strays a whole image from the exact share
    assert np.abs(q - np.outer(np.arange(ROUTING_BLOCK_IMAGES + 1), fractions)).max() < 1
    assert split_quotas(fractions) == tuple(q[-1])


@pytest.mark.parametrize(
    ("fractions", "expected"),
    [
        ((0.8, 0.1, 0.1), (4000, 500, 500)),
        ((0.7, 0.2, 0.1), (3500, 1000, 500)),
        ((0.9, 0.05, 0.05), (4500, 250, 250)),
        ((0.98, 0.01, 0.01), (4900, 50, 50)),
        ((0.0, 0.5, 0.5), (0, 2500, 2500)),
        ((1.0, 0.0, 0.0), (5000, 0, 0)),
    ],
    ids=["80-10-10", "70-20-10", "90-5-5", "98-1-1", "0-50-50", "100-0-0"],
)
def test_split_quotas_exact_for_multiples_of_1_over_5000(
    fractions: tuple[float, float, float], expected: tuple[int, int, int]
) -> None:
    assert split_quotas(fractions) == expected


def test_split_quotas_ties_go_to_the_lowest_split() -> None:
    assert [split_quotas((1 / 3, 1 / 3, 1 / 3), r) for r in (1, 2, 3)] == [
        (1, 0, 0),
        (1, 1, 0),
        (1, 1, 1),
    ]
    assert split_quotas((0.5, 0.25, 0.25), 1) == (1, 0, 0)


@pytest.mark.parametrize(
    "num_images", [1, 2, 4999, 5000, 5001, 23_456, 123_457, 10**12], ids=lambda n: f"n={n}"
)
@pytest.mark.parametrize("fractions", FRACTIONS[:5], ids=FRACTION_IDS[:5])
def test_plan_split_counts_sum_to_num_images(
    num_images: int, fractions: tuple[float, float, float]
) -> None:
    plan = Plan(num_images=num_images, fractions=fractions)
    counts = plan.split_counts
    assert tuple(counts) == SPLITS
    assert sum(counts.values()) == num_images
    blocks = [plan.block_quotas(b) for b in range(min(plan.num_blocks, 30))]
    if plan.num_blocks <= 30:
        assert tuple(np.sum(blocks, axis=0)) == tuple(counts.values())
    for k, s in enumerate(SPLITS):
        assert abs(counts[s] - fractions[k] * num_images) < plan.num_blocks


def test_plan_normalises_fraction_strings() -> None:
    assert Plan(fractions="0.8,0.1,0.1") == Plan()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Tasks, rows, array shapes, metadata
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_images", "blocks_per_chunk", "fractions"),
    [
        (1, 4, (0.8, 0.1, 0.1)),
        (23_456, 2, (0.8, 0.1, 0.1)),
        (40_000, 4, (0.7, 0.2, 0.1)),
        (40_001, 4, (1 / 3, 1 / 3, 1 / 3)),
        (123_457, 3, (0.0, 0.5, 0.5)),
    ],
    ids=["one_image", "partial_last_block", "whole_tasks", "one_image_over", "no_train"],
)
def test_tasks_cover_every_block_and_row_once(
    num_images: int, blocks_per_chunk: int, fractions: tuple[float, float, float]
) -> None:
    """Task t holds blocks [t*B, (t+1)*B) and writes chunk t: its rows start at t * chunk rows."""
    plan = Plan(num_images=num_images, blocks_per_chunk=blocks_per_chunk, fractions=fractions)
    tasks = plan.tasks
    assert len(tasks) == -(-plan.num_blocks // blocks_per_chunk)
    assert list(tasks) == [tasks[t] for t in range(len(tasks))]
    assert tasks[-1] == tasks[len(tasks) - 1]
    blocks = [b for t in tasks for b in range(t.first_block, t.stop_block)]
    assert blocks == list(range(plan.num_blocks))
    for split in SPLITS:
        rows = [plan.task_rows(t)[split] for t in tasks]
        assert rows[0][0] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(rows))  # no gap, no overlap
        assert rows[-1][1] == plan.split_counts[split]
        for t, (start, stop) in zip(tasks, rows, strict=True):
            if stop > start:  # the rows of task t are chunk t
                assert start == t.index * plan.chunk_images[split]
                assert stop - start <= plan.chunk_images[split]


def test_tasks_are_computed_on_demand() -> None:
    """A plan of 10**12 images has 5 * 10**7 tasks: indexing them costs nothing."""
    tasks = Plan(num_images=10**12, blocks_per_chunk=4).tasks
    assert len(tasks) == 50_000_000
    assert tasks[-1] == Task(49_999_999, 199_999_996, 200_000_000)
    assert tasks[12_345] == Task(12_345, 49_380, 49_384)
    for bad in (50_000_000, -50_000_001):
        with pytest.raises(IndexError):
            tasks[bad]


def test_array_shapes_follow_the_config_and_split_counts() -> None:
    config = make_config(grid_size=12, max_objects=7, max_size=12)
    plan = Plan(config=config, num_images=12_345, blocks_per_chunk=2)
    shapes = plan.array_shapes()
    assert list(shapes) == list(SPLITS)
    for split, arrays in shapes.items():
        n, c = plan.split_counts[split], plan.chunk_images[split]
        assert arrays == {
            "images": ((n, 12, 12), (c, 12, 12), "uint8"),
            "instance_map": ((n, 12, 12), (c, 12, 12), "uint8"),
            "num_objects": ((n,), (c,), "uint8"),
            "object_type": ((n, 7), (c, 7), "uint8"),
            "object_subtype": ((n, 7), (c, 7), "uint8"),
            "object_colour": ((n, 7), (c, 7), "uint8"),
            "object_size": ((n, 7), (c, 7), "uint16"),
            "object_bbox": ((n, 7, 4), (c, 7, 4), "uint8"),
        }
    assert plan.chunk_images == {"train": 8000, "val": 1000, "test": 1000}
    # an empty split still gets chunks of one row, as Zarr needs
    assert Plan(fractions=(1.0, 0.0, 0.0)).chunk_images == {"train": 20_000, "val": 1, "test": 1}


@pytest.mark.parametrize(
    "plan",
    [
        Plan(),
        Plan(
            config=make_config("shapes", grid_size=9, max_size=9),
            num_images=10**12,
            seed=2**64 - 1,
            fractions=(1 / 3, 1 / 3, 1 / 3),
            split_mode="independent",
            blocks_per_chunk=64,
        ),
    ],
    ids=["default", "extreme"],
)
def test_plan_to_dict_from_dict_round_trip(plan: Plan) -> None:
    d = json.loads(json.dumps(plan.to_dict()))  # as the version metadata stores it
    assert Plan.from_dict(d) == plan
    assert d["routing_block_images"] == ROUTING_BLOCK_IMAGES
    assert GeneratorConfig.from_dict(d["generator"]) == plan.config


def test_from_dict_refuses_other_routing_blocks() -> None:
    d = Plan().to_dict() | {"routing_block_images": 4096}
    with pytest.raises(ConfigError) as info:
        Plan.from_dict(d)
    assert str(info.value) == (
        "the data was made with routing blocks of 4096 images; this gridstore uses 5000"
    )


# ---------------------------------------------------------------------------
# Estimates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (262_144, "256.0 KiB"),
        (1.5 * 2**30, "1.5 GiB"),
        (3 * 2**40, "3.0 TiB"),
        (2**50, "1024.0 TiB"),
    ],
)
def test_format_bytes(n: float, text: str) -> None:
    assert format_bytes(n) == text


def test_estimate_memory() -> None:
    assert estimate_memory(1000) == {
        "bytes": 256_000,
        "readable": "250.0 KiB",
        "num_images": 1000,
        "bytes_per_image": 256,
        "grid_size": 16,
        "dtype": "uint8",
    }
    big = estimate_memory(np.int64(10), grid_size=30, dtype="float32")
    assert (big["bytes"], big["bytes_per_image"], big["dtype"]) == (36_000, 3600, "float32")
    assert type(big["num_images"]) is int
    assert estimate_memory(0)["bytes"] == 0


@pytest.mark.parametrize("bad", [-1, 2.0, True, "10"], ids=["negative", "float", "bool", "str"])
def test_estimate_memory_rejects(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        estimate_memory(bad)
    assert str(info.value) == f"num_images must be an integer >= 0, got {bad!r}"
