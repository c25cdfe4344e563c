"""Jobs a scheduler can repeat: `generate ... --version V --resume` converges from any state.

A real command is killed (SIGKILL) at a fault point or at a random moment, then
the same command is run again until it exits 0; the version must then hold
the bytes of one uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.storage import open_backend
from gridstore.storage.records import unpack_hashes

VERSION = "2026-01-01-v1"
# 3 tasks of one routing block (5,000 images) each, written by this process (serial).
ARGS = ["--num-images", "15000", "--seed", "5", "--version", VERSION, "--resume", "--yes"]
ARGS += ["--quiet", "--engine", "serial"]
# What a run records about itself (times, its writer's token); the rest must match.
VOLATILE = {"created", "committed", "timestamp", "generation"}


def command(store: Path, config: Path, *extra: str) -> list[str]:
    return [*ARGS, "--store", str(store), "--config", str(config), *extra]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "job.json"
    path.write_text(json.dumps({"blocks_per_chunk": 1}))
    return path


def version_files(store: Path) -> dict[str, bytes]:
    """Every file of the published version (its metadata apart), by path."""
    root = store / VERSION
    return {
        str(f.relative_to(root)): f.read_bytes()
        for f in sorted(root.rglob("*"))
        if f.is_file() and f != root / "zarr.json"
    }


def lasting(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, config: Path) -> tuple[dict, dict]:
    """The files and metadata of one uninterrupted run."""
    store = tmp_path_factory.mktemp("clean") / "store"
    result = CliRunner().invoke(main, ["generate", *command(store, config)])
    assert result.exit_code == 0, result.output
    return version_files(store), open_backend(store).metadata(VERSION)


def run_cli(store: Path, config: Path, env: dict[str, str] | None = None):
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", *command(store, config)]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def converge(store: Path, config: Path) -> list[str]:
    """Run the command in this process until it exits 0; return what each run printed."""
    outputs = []
    for _ in range(3):
        result = CliRunner().invoke(main, ["generate", *command(store, config)])
        outputs.append(result.output)
        if result.exit_code == 0:
            return outputs
    pytest.fail(f"no convergence in 3 runs: {outputs}")


def assert_clean(store: Path, clean: tuple[dict, dict]) -> None:
    files, meta = clean
    assert version_files(store) == files
    assert lasting(open_backend(store).metadata(VERSION)) == lasting(meta)
    assert not open_backend(store).staged()


@pytest.mark.parametrize(
    "point",
    [
        "after-claim",
        "task-1-written",
        "before-commit",
        "commit-before-sync",
        "commit-before-publish",
        "commit-after-publish",
    ],
)
def test_the_same_command_converges_after_a_kill_at_each_phase(
    tmp_path: Path, config: Path, clean: tuple[dict, dict], point: str
) -> None:
    store = tmp_path / "store"
    killed = run_cli(store, config, {"GRIDSTORE_CRASH_AT": point})
    assert killed.returncode == -9, killed.stderr
    outputs = converge(store, config)
    assert len(outputs) == 1  # one rerun finishes the job, whatever the kill left
    if point == "commit-after-publish":
        assert f"{VERSION} is already complete with this plan: nothing to do" in outputs[0]
    assert_clean(store, clean)


def test_a_name_that_holds_another_plan_is_a_one_line_error(
    tmp_path: Path, config: Path, clean: tuple[dict, dict]
) -> None:
    store = tmp_path / "store"
    killed = run_cli(store, config, {"GRIDSTORE_CRASH_AT": "task-1-written"})
    assert killed.returncode == -9
    for state in ("unfinished", "complete"):
        other = CliRunner().invoke(main, ["generate", *command(store, config, "--seed", "6")])
        assert other.exit_code == 1
        assert other.output == (
            f"Error: version '{VERSION}' in store '{store}' was made with another plan "
            "(seed 5, this command's 6); choose another --version, or rerun the command "
            "that made it\n"
        ), state
        converge(store, config)
    assert_clean(store, clean)
    again = CliRunner().invoke(main, ["generate", "--store", str(store), "--resume", "--yes",
                                      "--version", VERSION])  # fmt: skip
    assert again.exit_code == 0
    assert f"{VERSION} is already complete: nothing to do" in again.output


@pytest.mark.stress
def test_kills_at_random_moments_then_the_same_command_until_it_exits_0(
    tmp_path: Path, config: Path, clean: tuple[dict, dict]
) -> None:
    rounds = int(os.environ.get("GRIDSTORE_STRESS_ROUNDS", "6"))
    rng = random.Random(1)
    whole = time.monotonic()
    run_cli(tmp_path / "timing", config)  # how long one uninterrupted command takes here
    seconds = time.monotonic() - whole
    for i in range(rounds):
        store = tmp_path / f"round{i}"
        cmd = [sys.executable, "-m", "gridstore.cli", "generate", *command(store, config)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, seconds))  # start-up, claim, tasks, commit, or done
        proc.kill()
        proc.wait(timeout=60)
        for _ in range(3):
            if run_cli(store, config).returncode == 0:
                break
        else:
            pytest.fail(f"round {i}: the command did not converge")
        assert_clean(store, clean)


def test_the_summary_is_the_whole_commands_time_and_the_metadata_keeps_its_phases(
    tmp_path: Path, config: Path
) -> None:
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", *command(store, config)]
    env = {**os.environ, "GRIDSTORE_STALL_AT": "before-commit"}  # after the tasks, then held
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stat = Path(f"/proc/{proc.pid}/stat")
    deadline = time.monotonic() + 120
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    time.sleep(1.5)  # a commit that takes 1.5 s more than nothing
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    match = re.search(r"; (\d+\.\d) s \(([\d,]+) images/s; tasks (\d+\.\d) s\)$", out.strip())
    assert match, out
    total, rate, tasks = float(match[1]), int(match[2].replace(",", "")), float(match[3])
    assert total >= tasks + 1.5
    assert 15000 / (total + 0.05) <= rate <= 15000 / (total - 0.05)  # total is rounded
    generation = open_backend(store).metadata(VERSION)["generation"]
    phases = generation["phase_seconds"]
    assert list(phases) == ["tasks", "merging"]
    assert phases["tasks"] == generation["wall_seconds"] == pytest.approx(tasks, abs=0.05)
    assert all(s >= 0 for s in phases.values())


def test_a_version_whose_recorded_tasks_keep_their_hashes_in_npz_resumes_to_the_same_metadata(
    tmp_path: Path, config: Path, clean: tuple[dict, dict]
) -> None:
    """Tasks recorded by older gridstores kept their hashes in ``<t>.npz``, or unpartitioned."""
    store = tmp_path / "store"
    killed = run_cli(store, config, {"GRIDSTORE_CRASH_AT": "before-commit"})  # every task done
    assert killed.returncode == -9
    tasks = store / ".gridstore" / "work" / "tasks" / VERSION
    raw = sorted(tasks.glob("*.h[0-9]*"))
    assert len(raw) == 3
    # one task as the first gridstore left it (npz), one as the next (a count per split,
    # then the hashes, unsorted), one as this one does (sorted, partitioned)
    splits = ("train", "val", "test")
    for path, kind in zip(raw[:2], ("npz", "counts"), strict=True):
        parts = unpack_hashes(path.read_bytes(), splits)
        parts = {s: np.random.default_rng(0).permutation(h) for s, h in parts.items()}
        if kind == "npz":
            np.savez(path.with_suffix(".npz"), **parts)
            path.unlink()
        else:
            counts = np.array([len(h) for h in parts.values()], "<i8")
            body = counts.tobytes() + b"".join(h.tobytes() for h in parts.values())
            path.with_suffix(".hashes").write_bytes(body)
            path.unlink()
    converge(store, config)
    assert_clean(store, clean)
