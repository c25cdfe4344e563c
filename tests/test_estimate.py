"""The plan's estimates: what they measure in this process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.config import GeneratorConfig, make_config
from gridstore.estimate import estimate_run
from gridstore.forecast import forecast_duplicates
from gridstore.plan import Plan


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM is Linux's; elsewhere ru_maxrss")
def test_peak_memory_is_the_process_own_not_its_launchers() -> None:
    """ru_maxrss survives exec: a gridstore started by a large process must not count its peak."""
    held = np.ones(800 << 20, np.uint8)  # 800 MiB, touched, while the child starts
    code = "from gridstore.estimate import _max_rss_bytes; print(_max_rss_bytes())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(child.stdout) < 400 << 20, int(child.stdout) >> 20
    del held


# ---------------------------------------------------------------------------
# The duplicate forecast in the plan (gridstore.forecast)
# ---------------------------------------------------------------------------


def _line(lines: list[str], label: str) -> str:
    found = [line for line in lines if line.startswith(label)]
    assert len(found) == 1, lines
    return found[0]


def test_plan_prints_the_duplicate_forecast() -> None:
    """The plan's duplicates line is the forecast for its config and N, to three digits."""
    plan = Plan(num_images=1_000_000)
    est = estimate_run(plan, 1, "serial")
    forecast = forecast_duplicates(plan.config, plan.num_images)
    assert est.duplicates == forecast
    count = f"{round(forecast.duplicates, -2):,}"  # five digits: rounded to hundreds
    line = _line(est.lines(), "duplicates (est.):")
    assert line == f"duplicates (est.): {forecast.share:.1%} of images ({count})"
    assert not any(x.startswith("unique:") for x in est.lines())
    assert est.unique_seconds == 0


def test_independent_plan_forecasts_each_split_of_its_own_fractions() -> None:
    """Independent splits: each is a stream of its own length, from the plan's fractions.

    The expected counts are disjoint forecasts of each split alone (a disjoint plan holds
    all its repeats within), so they do not go through the fractions the plan passes on;
    the default fractions (0.8, 0.1, 0.1) would give other counts.
    """
    plan = Plan(num_images=1_000_000, split_mode="independent", fractions=(0.4, 0.3, 0.3))
    est = estimate_run(plan, 1, "serial")
    alone = [forecast_duplicates(plan.config, n).duplicates for n in plan.split_counts.values()]
    total = forecast_duplicates(plan.config, plan.num_images).duplicates
    assert est.duplicates is not None
    assert est.duplicates.within_split == pytest.approx(sum(alone), abs=2)
    assert est.duplicates.cross_split == pytest.approx(total - sum(alone), abs=3)
    default = [forecast_duplicates(plan.config, n).duplicates for n in (800_000, 100_000, 100_000)]
    assert abs(sum(default) - sum(alone)) > 0.2 * sum(alone)  # the fractions matter
    f = est.duplicates
    within, cross = (f"{round(x, -(len(str(x)) - 3)):,}" for x in (f.within_split, f.cross_split))
    line = _line(est.lines(), "duplicates (est.):")
    assert line.endswith(f": {within} within splits, {cross} across)"), line


def test_unique_plan_prints_and_times_its_extra_draws() -> None:
    """A unique plan: no duplicates kept, the extra draws the forecast implies, their time counted."""
    est = estimate_run(Plan(num_images=1_000_000, unique=True), 1, "serial")
    assert est.duplicates is not None and est.duplicates.extra_draws is not None
    extra = est.duplicates.extra_draws
    assert 0.05 * 10**6 < extra < 0.15 * 10**6  # 8.5% measured on the real stream
    assert _line(est.lines(), "duplicates (est.):").startswith("duplicates (est.): none;")
    unique = _line(est.lines(), "unique:")
    assert f"+{extra / 10**6:.1%} generation ({round(extra, -2):,} extra images drawn" in unique
    # The first pass draws every candidate: at least the time of drawing them all.
    assert est.unique_seconds > 0 and est.seconds > est.unique_seconds
    resumed = estimate_run(Plan(num_images=1_000_000, unique=True), 1, "serial", done_tasks=1)
    assert resumed.unique_seconds == 0  # the first pass is done before any task is written


def test_unique_time_is_part_of_the_plan_time() -> None:
    """One object per image: 10M distinct images take about 48M draws, which the time shows."""
    config = make_config(max_objects=1)
    plain = estimate_run(Plan(config=config, num_images=10**7), 1, "serial")
    unique = estimate_run(Plan(config=config, num_images=10**7, unique=True), 1, "serial")
    assert unique.duplicates is not None and unique.duplicates.draws_for_unique is not None
    assert unique.duplicates.draws_for_unique > 3 * 10**7
    # The two plans' other costs are measured apart, so allow for noise between them.
    assert unique.seconds > plain.seconds + 0.3 * unique.unique_seconds > plain.seconds


def test_generate_dry_run_shows_the_forecast(tmp_path: Path) -> None:
    args = ["generate", "--num-images", "2000000", "--store", str(tmp_path / "s"), "--dry-run"]
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0, plain.output
    found = re.search(r"\nduplicates \(est\.\): ([\d.]+)% of images \(([\d,]+)\)\n", plain.output)
    assert found is not None, plain.output
    # The real stream of 2M atomic images (seed 42) repeats 205,568 of them.
    assert float(found[1]) == pytest.approx(10.3, abs=0.5)
    assert int(found[2].replace(",", "")) == pytest.approx(205_568, rel=0.05)
    unique = CliRunner().invoke(main, [*args, "--unique"])
    assert unique.exit_code == 0, unique.output
    extra = forecast_duplicates(GeneratorConfig(), 2_000_000).extra_draws
    assert extra is not None
    line = f"\nunique:           +{extra / 2e6:.1%} generation ({round(extra, -3):,} extra images drawn"
    assert line in unique.output
