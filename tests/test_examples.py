"""The examples run, on a tiny version, so they cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gridstore.plan import Plan
from gridstore.write.versions import create_version

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(store: Path, checkpoint: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_autoencoder.py"),
            *("--store", str(store), "--epochs", "1", "--batch-size", "256"),
            *("--checkpoint", str(checkpoint), *args),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_training_loop_example_stops_and_resumes_with_another_worker_count(
    tmp_path: Path,
) -> None:
    store, checkpoint = tmp_path / "datasets", tmp_path / "ae.pt"
    create_version(store, Plan(num_images=6000, seed=1), workers=1, show_progress=False)
    first = run_example(store, checkpoint, "--max-steps", "3", "--workers", "2")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # nothing at exit, with the loader's iterator left unfinished
    assert "4,800 train / 600 val images" in first.stdout
    assert "stopped at epoch 0 step 3" in first.stdout
    second = run_example(store, checkpoint, "--workers", "1")
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
    assert "resumed at epoch 0 step 3, 15 steps to go" in second.stdout  # 4,800 // 256 = 18
    assert "epoch 0: validation cell accuracy" in second.stdout
