"""The seed's scripts: same options, same code underneath."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).parent.parent / "scripts"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=180)


def test_generate_then_validate_visual(tmp_path: Path) -> None:
    out = _run(
        str(SCRIPTS / "generate_dataset.py"),
        "--num-images",
        "3000",
        "--output-dir",
        str(tmp_path / "datasets" / "2025-10-22-v2"),
        "--seed",
        "42",
        "--yes",
        "--workers",
        "1",
    )
    assert out.returncode == 0, out.stderr
    assert "2025-10-22-v2: 3,000 images (train 2,400, val 300, test 300)" in out.stdout
    png = tmp_path / "grid.png"
    out = _run(
        str(SCRIPTS / "validate_visual.py"),
        str(tmp_path / "datasets" / "2025-10-22-v2"),
        "-o",
        str(png),
    )
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_generate_without_confirmation_refuses_in_one_line(tmp_path: Path) -> None:
    out = _run(
        str(SCRIPTS / "generate_dataset.py"),
        "--num-images",
        "100",
        "--output-dir",
        str(tmp_path / "d"),
    )
    assert out.returncode == 1
    assert (
        out.stderr.splitlines()[-1] == "Error: Proceed: no terminal to ask; pass --yes to proceed"
    )
    assert not (tmp_path / "d").exists()
