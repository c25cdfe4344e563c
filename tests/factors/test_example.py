"""examples/linear_probe.py runs, on a few images, so it cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "linear_probe.py"


def test_linear_probe_example_reports_every_factor() -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--train", "600", "--test", "200"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "600 train / 200 test images" in run.stdout
    found = dict(re.findall(r"^(\w+)\s+linear-probe accuracy (\d\.\d+)", run.stdout, re.M))
    assert list(found) == ["object_type", "object_subtype", "object_colour", "object_size",
                           "object_row", "object_col"]  # fmt: skip
    assert float(found["object_colour"]) > 0.5  # colour is linear in one-hot pixels: far above 1/9
