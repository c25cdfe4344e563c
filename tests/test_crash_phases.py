"""kill -9 at chosen moments of a real run: before any task, mid-tasks, inside the commit.

Each round aims at one phase and kills the writer with SIGKILL: before any task
and mid-tasks once the store's own bookkeeping shows the phase reached (random
timing), inside the commit once the writer has stopped itself at a fault point
there (GRIDSTORE_STALL_AT: after commit() wrote the final metadata, before or
after its flush). It records which phase the kill really hit, from what the
store holds afterwards, then resumes or discards. "commit" is recorded only when
the staged version's zarr.json says ``complete`` (commit() has written it) and
nothing is published: all task records with the document still ``in_progress``
is "all-tasks-recorded". A round never leaves a version that passes for finished
unless it is whole, and resuming always gives the bytes of an uninterrupted run.
The run of rounds must have covered every phase. Deselected by default (``-m
stress``); ``GRIDSTORE_STRESS_ROUNDS`` sets the number of rounds (at least 3:
one per phase).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gridstore.plan import Plan
from gridstore.storage import open_backend
from gridstore.storage.layout import staged_key, tasks_key
from gridstore.write.versions import create_version, resume_version
from tests.conftest import version_chunks

IMAGES = 300_000  # 15 tasks
PHASES = ("before-any-task", "mid-tasks", "commit")
COMMIT_POINTS = ("commit-before-sync", "commit-before-publish")  # inside commit(), after its write


def _records(store: Path) -> tuple[str | None, int]:
    """The staged version's name (None: none yet) and how many task records it has."""
    claims = store / ".gridstore" / "work" / "claims"
    names = sorted(os.listdir(claims)) if claims.is_dir() else []
    if not names:
        return None, 0
    tasks = store / tasks_key(names[-1])
    if not (tasks / "plan.json").is_file():
        return None, 0
    return names[-1], sum(f.endswith(".json") and f[0].isdigit() for f in os.listdir(tasks))


def _kill_in(store: Path, phase: str, rng: random.Random, workers: str) -> None:
    """Start a writer and SIGKILL it once it reached ``phase`` (see the module docstring)."""
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--num-images", str(IMAGES),
           "--store", str(store), "--seed", "5", "--yes", "--quiet", "--workers", workers]  # fmt: skip
    env = {
        k: v for k, v in os.environ.items() if k not in ("GRIDSTORE_CRASH_AT", "GRIDSTORE_STALL_AT")
    }
    if phase == "commit":
        env["GRIDSTORE_STALL_AT"] = rng.choice(COMMIT_POINTS)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    want = {"before-any-task": 0, "mid-tasks": rng.randint(1, 13)}.get(phase)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if want is None:  # the commit: wait until the writer stopped itself inside it
            if _stopped(proc.pid):
                break
        else:
            name, done = _records(store)
            if name is not None and done >= want:
                break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # a stopped process dies of SIGKILL too
    proc.wait(timeout=60)  # pool workers die with their parent: nothing lingers


def _stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def _staged_state(store: Path, name: str) -> str | None:
    """The ``state`` the staged version's zarr.json records (None: no document yet)."""
    try:
        doc = json.loads((store / staged_key(name) / "zarr.json").read_text())
    except FileNotFoundError:
        return None
    return doc.get("attributes", {}).get("state")


def _phase_hit(store: Path) -> str:
    """Which phase the kill interrupted, from what the store holds."""
    s = open_backend(store)
    if s.versions():
        return "finished"
    name, done = _records(store)
    if name is None:
        return "before any plan"
    if done < 15:
        return "before-any-task" if done == 0 else "mid-tasks"
    # commit() writes the final document ("complete") first: only then was it under way
    return "commit" if _staged_state(store, name) == "complete" else "all-tasks-recorded"


@pytest.mark.stress
def test_kill_9_in_every_phase_never_passes_for_finished_and_resumes_to_the_same_bytes(
    tmp_path: Path,
) -> None:
    rounds = max(3, int(os.environ.get("GRIDSTORE_STRESS_ROUNDS", "6")))
    clean = create_version(tmp_path / "c", Plan(num_images=IMAGES, seed=5), show_progress=False)
    expected = version_chunks(tmp_path / "c", clean["version"])
    rng = random.Random(0)
    hit: Counter[str] = Counter()
    for i in range(rounds):
        store = tmp_path / f"s{i}"
        _kill_in(store, PHASES[i % 3], rng, rng.choice(["1", "2"]))
        phase = _phase_hit(store)
        hit[phase] += 1
        s = open_backend(store)
        for name in s.versions():  # finished before the kill: must be whole
            assert version_chunks(store, name) == expected
        for staged in s.staged():
            if staged.plan is None:  # killed before its plan was recorded: only removable
                s.discard(staged.name)
                continue
            meta = resume_version(store, staged.name, workers=2, show_progress=False)
            assert version_chunks(store, meta["version"]) == expected
    print(f"kill -9 in {rounds} rounds, phases hit: {dict(hit)}")
    assert set(PHASES) <= set(hit), f"rounds hit {dict(hit)}; every phase must be covered"
