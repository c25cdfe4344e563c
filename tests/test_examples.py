"""The examples run, on a tiny version, so they cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gridstore.write.versions import create_version
from gridstore.plan import Plan

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_training_loop_example_runs(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    create_version(store, Plan(num_images=6000, seed=1), workers=1, show_progress=False)
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_autoencoder.py"),
            "--store",
            str(store),
            "--epochs",
            "1",
            "--max-steps",
            "3",
            "--batch-size",
            "64",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "4,800 train / 600 val images" in out.stdout
    assert "epoch 0: validation cell accuracy" in out.stdout
