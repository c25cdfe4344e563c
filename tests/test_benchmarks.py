"""The benchmarks' own steps still call the writer as it is (they rot silently otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridstore.plan import Plan

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_the_stage_timing_goes_through_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bench_stages.stage_times`` (used by ``bench_targets``) on two tasks of a plan."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from bench_stages import stage_times

    spent, images = stage_times(Plan(num_images=40_000), 2, tmp_path / "store")
    assert images == 40_000
    assert {"generate (kernel, routing, hashes)", "encode images", "file writes"} <= set(spent)
    assert all(seconds > 0 for seconds in spent.values())
