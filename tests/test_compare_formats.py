"""benchmarks/compare_formats.py still runs end to end (tiny sizes; no h5py / datasets needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_formats.py"
FORMATS = ("gridstore", "npz", "npy")


def test_compare_formats_runs_and_writes_table_and_chart(tmp_path: Path) -> None:
    png = tmp_path / "chart.png"
    cmd = [sys.executable, str(SCRIPT), "--num-images", "20000", "--skip-large", "--formats",
           ",".join(FORMATS), "--out-png", str(png), "--workdir", str(tmp_path)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("format "))
    rows = {line.split()[0]: line.split() for line in lines[header + 1 : header + 1 + len(FORMATS)]}
    assert set(rows) == set(FORMATS), run.stdout
    for fmt, cells in rows.items():
        assert cells[1] == "20,000", cells
        assert cells[-1] == "True", f"{fmt}: the pixels read back differ from the corpus"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == [png.name]  # the work dir was cleaned up
