"""The benchmarks' own steps still call the writer as it is (they rot silently otherwise)."""

from __future__ import annotations

import sys
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


ORPHAN = """
import os, sys, time
if os.fork() == 0:  # outlives its parent, as gridstore's fork server does
    os.setsid()
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass
    os._exit(0)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="a subreaper is Linux's")
def test_a_commands_cpu_includes_its_orphans(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_rss.run_measured`` waits for what the command left running and counts its CPU."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _rss import run_measured

    got = run_measured([sys.executable, "-c", ORPHAN])
    assert got["user"] + got["sys"] >= 0.35  # the orphan's 0.4 s of CPU, not the parent's
