"""How workers start (gridstore.workers): forked warm from a fork server on Linux, with the
caller's environment, dying with the caller; spawned where no server can start.

Real processes throughout: a real process pool and fork server, a real LocalCluster,
and a real caller killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gridstore.engines import run_tasks
from gridstore.workers import start_early

LINUX = pytest.mark.skipif(sys.platform != "linux", reason="the fork server is Linux-only")
VAR = "GRIDSTORE_TEST_WORKERS_VAR"


def loaded_kernels(t: int) -> tuple[int, int]:
    """Signatures the generator's kernels hold in this worker before it ran any, and its parent."""
    from gridstore.generate import batch, hashing

    return len(batch._fill.overloads) + len(hashing._hash_rows.overloads), os.getppid()


def environment(t: int) -> tuple[str | None, str | None]:
    return os.environ.get(VAR), os.environ.get("GRIDSTORE_FORK_SERVER")


@LINUX
def test_pool_workers_are_forked_with_the_kernels_loaded() -> None:
    got: list[tuple[int, int]] = []
    run_tasks(loaded_kernels, range(4), got.append, engine="processes", workers=2)
    assert all(n >= 2 for n, _ in got), got  # spawned workers would hold none
    assert all(parent != os.getpid() for _, parent in got)  # forked by the server, not by us


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_workers_see_the_environment_of_the_run_not_the_servers(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VAR, "before")
    start_early(dask=engine == "dask")  # the server keeps the environment it started with
    monkeypatch.setenv(VAR, "now")
    got: list[tuple[str | None, str | None]] = []
    run_tasks(environment, range(2), got.append, engine=engine, workers=2)
    assert got == [("now", None)] * 2


CALLER = """
import os, sys, time
from pathlib import Path
from gridstore.engines import run_tasks

def hang(t):
    Path(sys.argv[1], str(os.getpid())).write_text(str(os.getppid()))
    time.sleep(120)

if __name__ == "__main__":
    run_tasks(hang, [0, 1], print, engine="processes", workers=2)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@LINUX
def test_workers_and_their_server_die_with_a_caller_killed_with_sigkill(tmp_path: Path) -> None:
    script, pids = tmp_path / "caller.py", tmp_path / "pids"
    script.write_text(textwrap.dedent(CALLER))
    pids.mkdir()
    caller = subprocess.Popen([sys.executable, str(script), str(pids)], cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(os.listdir(pids)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(p.name) for p in pids.iterdir()]
    servers = {int(p.read_text()) for p in pids.iterdir()}
    assert len(workers) == 2 and len(servers) == 1 and caller.pid not in servers
    caller.send_signal(signal.SIGKILL)
    caller.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(map(_alive, [*workers, *servers])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in [*workers, *servers] if _alive(p)] == []


def _with_tests(**extra: str) -> dict[str, str]:
    """This environment, with ``extra``, where a script can import this module."""
    path = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    return {**os.environ, "PYTHONPATH": path, **extra}


COLD = """
from gridstore.engines import run_tasks
from test_workers import loaded_kernels

if __name__ == "__main__":
    got = []
    run_tasks(loaded_kernels, [0, 1], got.append, engine="processes", workers=2)
    print(sorted(n for n, _ in got))
"""


@LINUX
def test_on_a_cold_cache_the_server_compiles_nothing(tmp_path: Path) -> None:
    """The caller compiles for its plan; a second compiler's memory would go to every worker."""
    script = tmp_path / "cold.py"
    script.write_text(textwrap.dedent(COLD))
    env = _with_tests(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "[0, 0]\n"), run.stderr
    assert not (tmp_path / "cache").exists()  # nothing compiled, so nothing cached


THREADS = """
import os, threading
from gridstore.engines import run_tasks
from gridstore.workers import start_early
from test_workers import loaded_kernels

def spawned_in_a_thread():
    got = []
    thread = threading.Thread(target=run_tasks, args=(loaded_kernels, [0, 1], got.append),
                              kwargs={"engine": "processes", "workers": 2})
    thread.start()
    thread.join()
    return sorted(parent == os.getpid() for _, parent in got)

if __name__ == "__main__":
    before = spawned_in_a_thread()  # no server yet: a thread does not start one
    start_early()
    print(before, spawned_in_a_thread())  # the main thread's server serves the thread
"""


@LINUX
def test_only_the_main_thread_starts_the_server(tmp_path: Path) -> None:
    """The server dies with the thread that started it, and its workers with it."""
    script = tmp_path / "threads.py"
    script.write_text(textwrap.dedent(THREADS))
    run = subprocess.run([sys.executable, str(script)], env=_with_tests(), capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "[True, True] [False, False]\n"), run.stderr


FALLBACK = """
from gridstore.engines import run_tasks
from gridstore.workers import start_early

if __name__ == "__main__":
    got = []
    run_tasks(abs, [-1, -2, -3], got.append, engine="processes", workers=2)
    print(start_early(), sorted(got))
"""


def test_without_a_fork_server_workers_are_spawned(tmp_path: Path) -> None:
    """A temporary directory too long for the server's socket: the run still runs, spawned."""
    script, tmp = tmp_path / "fallback.py", tmp_path / ("t" * 120)
    script.write_text(textwrap.dedent(FALLBACK))
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "False [1, 2, 3]\n"), run.stderr
