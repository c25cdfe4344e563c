"""Unique versions: no image twice, exact counts, the same bytes however the work is cut."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tqdm import tqdm

from gridstore import Plan, create_version, grow_version, open_store, resume_version
from gridstore.config import make_config
from gridstore.errors import ConfigError
from gridstore.generate.draws import draw_hashes
from gridstore.generate.hashing import content_hashes, route_splits
from gridstore.plan import SPLITS, format_bytes
from gridstore.validate.unique import UniqueRegeneration
from gridstore.validate.version import validate_version
from gridstore.write.tasks import generate_task
from gridstore.write.unique import _budget, _link, first_pass_draws, schedule
from tests.helpers_s3 import new_bucket, s3_endpoint_fixture  # noqa: F401 - fixture
from tests.test_storage_local import mount_tmpfs  # noqa: F401 - fixture

# Few distinct images (up to two small objects on an 8x8 grid): a fifth of 12,000 draws repeat.
NO_PATTERNS = {"blob": 1, "rectangle": 1, "line": 1, "pattern": 0}
SMALL = make_config(
    "atomic", grid_size=8, max_objects=2, min_size=2, max_size=4, type_weights=NO_PATTERNS
)


def _digest(store: Path) -> tuple[str, dict[str, np.ndarray]]:
    version = open_store(store).version()
    images = {s: version[s].images[:] for s in SPLITS}
    return hashlib.sha256(b"".join(images[s].tobytes() for s in SPLITS)).hexdigest(), images


def _by_the_rule(plan: Plan) -> dict[str, list[int]]:
    """The content hashes a unique version holds, split by split, by the rule in plain Python."""
    return _the_rule(plan)[0]


def _the_rule(
    plan: Plan, draws: int = 40_000, fill: bool = True
) -> tuple[dict[str, list[int]], list[int]]:
    """`_by_the_rule`, and the draws each block makes up to its last image taken; what the
    first ``draws`` draws of each block take (``fill``: they must fill it)."""
    taken: set[int] = set()
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    needed = []
    for b in range(plan.num_blocks):
        room = list(plan.block_quotas(b))
        hashes, _ = draw_hashes(plan.config, plan.seed, b, 0, draws)
        last = -1
        for j, (h, s) in enumerate(
            zip(hashes.tolist(), route_splits(hashes, plan.fractions).tolist(), strict=True)
        ):
            if not any(room):
                break
            if room[s] and h not in taken:
                taken.add(h)
                room[s] -= 1
                out[SPLITS[s]].append(h)
                last = j
        assert not fill or not any(room), "the reference drew too few"
        needed.append(last + 1)
    return out, needed


@pytest.mark.parametrize(
    ("blocks_per_chunk", "fractions"),
    [(1, (0.8, 0.1, 0.1)), (2, (0.7, 0.2, 0.1))],
    ids=["one-block-tasks", "a-two-block-task-uneven-splits"],
)
def test_a_unique_version_is_the_rule_exactly_and_has_no_repeat(
    tmp_path: Path,
    blocks_per_chunk: int,
    fractions: tuple[float, float, float],
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=blocks_per_chunk,
                fractions=fractions, unique=True)  # fmt: skip
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=True)
    # the repeats bar counts the first pass's draws (no block runs short here)
    drawn = tqdm.format_sizeof(first_pass_draws(plan), divisor=1000)
    shown = [part for part in capsys.readouterr().err.split("\r") if " repeats: " in part]
    assert f"repeats: {drawn}img " in shown[-1], shown[-1]
    _, images = _digest(tmp_path / "s")
    want = _by_the_rule(plan)
    for s in SPLITS:
        assert len(images[s]) == plan.split_counts[s]
        assert content_hashes(images[s]).tolist() == want[s]
    every = np.concatenate([content_hashes(images[s]) for s in SPLITS])
    assert len(np.unique(every)) == len(every) == 12_000
    assert meta["generation_params"]["unique"] is True
    assert set(meta["duplicates"].values()) == {0}
    assert meta["generation"]["skipped_repeats"] > 1000  # this distribution repeats a lot


def test_an_ordinary_version_of_the_same_plan_repeats(tmp_path: Path) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1)
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    assert meta["duplicates"]["train_within"] > 1000
    assert meta["generation_params"]["unique"] is False


def test_links_point_to_the_previous_equal_hash_in_any_number_of_buckets(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 50, 5000).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    want, last = np.full(len(hashes), -1), {}
    for i, h in enumerate(hashes.tolist()):
        want[i] = last.get(h, -1)
        last[h] = i
    for bucket_bytes in (1 << 24, 64):  # one bucket; the most buckets (256)
        links = np.zeros(len(hashes), np.int64)
        _link(hashes, links, tmp_path, bucket_bytes)
        assert np.array_equal(links, want)


def test_links_spread_the_pairs_over_the_buckets(tmp_path: Path) -> None:
    """The memory bound: about ``bucket_bytes`` of hashes per bucket, at most 256 buckets, each
    holding its share of the (hash, index) pairs."""
    sizes = []

    class Recording(type(tmp_path)):  # type: ignore[misc]
        def unlink(self, missing_ok: bool = False) -> None:
            sizes.append(self.stat().st_size)  # a bucket file, read and done with
            super().unlink(missing_ok)

    hashes = np.random.default_rng(2).integers(0, 2**64 - 1, 100_000, dtype=np.uint64)
    for n, bucket_bytes, buckets in [(100_000, 64, 256), (1000, 1024, 8), (100_000, 1 << 24, 1)]:
        sizes.clear()
        _link(hashes[:n], np.zeros(n, np.int64), Recording(tmp_path), bucket_bytes)
        assert len(sizes) == buckets and sum(sizes) == 16 * n
        assert min(sizes) > 0 and max(sizes) < 2 * 16 * n / buckets


def test_links_hold_across_the_spill_passes_of_a_million_rows(tmp_path: Path) -> None:
    n = (1 << 20) + 5000  # the spill pass takes 2^20 rows at a time: two passes
    values = np.random.default_rng(1).integers(0, 50, n).astype(np.uint64)
    hashes = values * np.uint64(0x9E3779B97F4A7C15)
    want = np.full(n, -1)
    for v in range(50):  # each value's occurrences point back to the one before
        where = np.flatnonzero(values == v)
        want[where[1:]] = where[:-1]
    links = np.zeros(n, np.int64)
    _link(hashes, links, tmp_path, 64)
    assert np.array_equal(links, want)


def test_same_bytes_for_any_workers_and_engine_dask_included(tmp_path: Path) -> None:
    plan = Plan(config=SMALL, num_images=30_000, seed=5, blocks_per_chunk=1, unique=True)
    digests = set()
    for i, (engine, workers) in enumerate((("serial", 1), ("processes", 2), ("dask", 2))):
        create_version(
            tmp_path / f"s{i}", plan, engine=engine, workers=workers, show_progress=False
        )
        digests.add(_digest(tmp_path / f"s{i}")[0])
    assert len(digests) == 1


# grid 4, one object of 2 cells: 378 distinct images, and a split's share of them (the
# route is by content) is small, so a block's last slots cost many draws.
TINY = make_config(
    "atomic", grid_size=4, max_objects=1, min_size=2, max_size=2, type_weights=NO_PATTERNS
)


@pytest.mark.parametrize(("num_images", "seed"), [(280, 1), (300, 6)], ids=["run-out", "one-short"])
def test_a_block_short_of_candidates_draws_more_and_gives_the_rule_s_bytes(
    tmp_path: Path, num_images: int, seed: int
) -> None:
    """280 images: the first pass's candidates run out (1,644 draws needed, 927 drawn). 300
    images, seed 6: 5 slots left after the first pass, and after the second (2,338 draws)
    exactly one, which still counts as short."""
    plan = Plan(config=TINY, num_images=num_images, seed=seed, unique=True)
    want, needed = _the_rule(plan)
    first_pass = _budget(plan, 0, 0, schedule(plan))
    assert needed[0] > first_pass
    if seed == 6:
        second_round, _ = _the_rule(plan, draws=2 * first_pass, fill=False)
        assert sum(map(len, second_round.values())) == num_images - 1
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    _, images = _digest(tmp_path / "s")
    for s in SPLITS:
        assert content_hashes(images[s]).tolist() == want[s]
    assert meta["generation"]["draws"] == needed[0]  # the writer stops at the last image taken


def test_blocks_short_of_candidates_in_any_task_give_the_bytes_whatever_the_tasks(
    tmp_path: Path,
) -> None:
    """A hold-out condition takes away draws, so both blocks of 6,000 images run short of
    candidates and draw again: as one task of two blocks, or as two tasks of one."""
    images = []
    for blocks_per_chunk in (1, 2):
        plan = Plan(config=SMALL, num_images=6000, seed=3, blocks_per_chunk=blocks_per_chunk,
                    unique=True, hold_out=("num_objects=1",), heldout_images=100)  # fmt: skip
        create_version(tmp_path / str(blocks_per_chunk), plan, engine="serial",
                       show_progress=False)  # fmt: skip
        version = open_store(tmp_path / str(blocks_per_chunk)).version()
        images.append([version[s].images[:] for s in (*SPLITS, "heldout")])
    for one, two in zip(*images, strict=True):
        np.testing.assert_array_equal(one, two)


def test_a_distribution_with_too_few_distinct_images_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too few distinct images for a unique version"):
        create_version(tmp_path / "t", Plan(config=TINY, num_images=2000, unique=True),
                       engine="serial", show_progress=False)  # fmt: skip


def test_growing_a_unique_version_keeps_it_unique_and_equals_a_fresh_one(tmp_path: Path) -> None:
    small = Plan(config=SMALL, num_images=10_000, seed=2, blocks_per_chunk=1, unique=True)
    source = create_version(tmp_path / "g", small, engine="serial", show_progress=False)
    grown = grow_version(
        tmp_path / "g", source["version"], 17_500, engine="serial", show_progress=False
    )
    assert grown["generation_params"]["unique"] is True
    fresh_meta = create_version(
        tmp_path / "f", small.grown(17_500), engine="serial", show_progress=False
    )
    # the copied tasks passed over nothing in this run: only the generated ones count
    skipped = [m["generation"]["skipped_repeats"] for m in (source, grown, fresh_meta)]
    assert skipped[1] == skipped[2] - skipped[0]
    assert skipped[1] > 0
    version = open_store(tmp_path / "g").version(grown["version"])
    fresh = _digest(tmp_path / "f")[1]
    for s in SPLITS:
        assert np.array_equal(version[s].images[:], fresh[s])


def test_validate_full_proves_a_unique_version(tmp_path: Path) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1, unique=True)
    create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    report = validate_version(tmp_path / "s", full=True, progress=False)
    assert report.ok, report.summary_lines()
    assert "every draw passed over repeats an earlier one" in report.check("duplicates").detail


def test_validate_of_a_unique_version_missing_a_chunk_accuses_no_draw(tmp_path: Path) -> None:
    """Skips are proven only when every chunk is read: with train's chunk 0 of images lost,
    the draws that block 1 passed over (their first take is in that chunk) are not called
    undue; the loss is reported where it is."""
    plan = Plan(config=SMALL, num_images=10_000, seed=3, blocks_per_chunk=1, unique=True)
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    key = f"{meta['version']}/train/images/c.0.0.0"
    (tmp_path / "s" / key).unlink()
    report = validate_version(tmp_path / "s", full=True, progress=False, engine="serial")
    assert report.check("chunks_present").where == [key]
    duplicates = report.check("duplicates")
    assert duplicates.ok, duplicates.detail
    assert duplicates.detail.startswith("unique: no image twice among ")
    assert "passed over" not in duplicates.detail  # no proof claimed, no draw accused


def test_validate_catches_an_ordinary_version_that_claims_to_be_unique(tmp_path: Path) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1)
    meta = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    doc_path = tmp_path / "s" / meta["version"] / "zarr.json"
    doc = json.loads(doc_path.read_text())
    doc["attributes"]["generation_params"]["unique"] = True
    doc_path.write_text(json.dumps(doc))
    report = validate_version(tmp_path / "s", full=True, progress=False)
    assert not report.check("duplicates").ok
    assert "a unique version, but" in report.check("duplicates").detail


def test_a_draw_passed_over_without_being_a_repeat_is_caught() -> None:
    plan = Plan(config=SMALL, num_images=5_000, seed=3, blocks_per_chunk=1, unique=True)
    check = UniqueRegeneration(plan)
    honest = generate_task(plan, 0, skips=[np.zeros(0, np.int64)])  # block 0 repeats within itself
    rebuilt = check.task(0, honest[0])
    assert rebuilt and check.late_skips() == 0
    extra = [np.array([7], np.int64)]  # pass over draw 7, whose content is new
    tampered = generate_task(plan, 0, skips=extra)
    assert check.task(0, tampered[0]) and check.late_skips() == 1


_KILL = """
import os, sys
from gridstore import Plan, create_version
from gridstore.config import make_config
os.environ["GRIDSTORE_CRASH_AT"] = sys.argv[2]
weights = {"blob": 1, "rectangle": 1, "line": 1, "pattern": 0}
config = make_config("atomic", grid_size=8, max_objects=2, min_size=2, max_size=4, type_weights=weights)
plan = Plan(config=config,
            num_images=12_000, seed=3, blocks_per_chunk=1, unique=True)
create_version(sys.argv[1], plan, engine="serial", show_progress=False, name="2026-11-30-v1")
"""


@pytest.mark.parametrize("point", ["unique-candidates-1", "task-1-written"])
def test_kill_9_during_a_unique_run_then_resume_gives_the_same_bytes(
    tmp_path: Path, point: str
) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1, unique=True)
    create_version(tmp_path / "clean", plan, engine="serial", show_progress=False)
    run = subprocess.run([sys.executable, "-c", _KILL, str(tmp_path / "s"), point])
    assert run.returncode == -signal.SIGKILL
    resume_version(tmp_path / "s", "2026-11-30-v1", engine="serial", show_progress=False)
    assert _digest(tmp_path / "s")[0] == _digest(tmp_path / "clean")[0]


def test_unique_needs_disjoint_splits() -> None:
    with pytest.raises(ConfigError, match="needs disjoint splits"):
        Plan(unique=True, split_mode="independent")


def test_a_unique_version_on_object_storage_equals_the_local_one(
    tmp_path: Path, s3_endpoint: str
) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1, unique=True)
    url = f"s3://{new_bucket()}/datasets"
    create_version(url, plan, engine="processes", workers=2, show_progress=False)
    create_version(tmp_path / "s", plan, engine="serial", show_progress=False)
    remote, local = open_store(url).version(), open_store(tmp_path / "s").version()
    for s in SPLITS:
        assert np.array_equal(remote[s].images[:], local[s].images[:])


def test_too_little_temporary_space_is_one_line_and_resumes_to_the_same_bytes(
    tmp_path: Path,
    mount_tmpfs: Callable[[Path, str], Path],  # noqa: F811 - the fixture
) -> None:
    plan = Plan(config=SMALL, num_images=12_000, seed=3, blocks_per_chunk=1, unique=True)
    create_version(tmp_path / "clean", plan, engine="serial", show_progress=False)
    small = mount_tmpfs(tmp_path / "small-tmp", "64k")  # the links need ~33 bytes per draw
    env = {**os.environ, "TMPDIR": str(small)}
    settings = {"num_images": 12_000, "seed": 3, "grid_size": 8, "max_objects": 2, "min_size": 2,
                "max_size": 4, "type_weights": NO_PATTERNS, "blocks_per_chunk": 1, "unique": True}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(settings))
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--store", str(tmp_path / "s"),
           "--config", str(tmp_path / "plan.json"), "--version", "2026-11-30-v1", "--yes",
           "--quiet"]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error")]
    assert run.returncode == 1 and len(errors) == 1, run.stderr
    assert "of temporary space" in errors[0] and "set TMPDIR" in errors[0]
    # 33 bytes per candidate at the peak: hash, hold-out flag, link, and a (hash, index) pair
    needed = f"needs {format_bytes(33 * first_pass_draws(plan))} of temporary space"
    assert needed in errors[0], errors[0]
    resume_version(tmp_path / "s", "2026-11-30-v1", engine="serial", show_progress=False)
    assert _digest(tmp_path / "s")[0] == _digest(tmp_path / "clean")[0]
