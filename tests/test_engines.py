"""Task engines (gridstore.engines): serial and the process pool, over a small pure function.

The dask engine runs on real LocalClusters in tests/test_dask.py. The worker
functions below are at module level: the pool pickles them by reference and its
spawned workers import this module.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest

from gridstore.engines import ENGINES, default_workers, run_tasks
from gridstore.errors import ConfigError, WorkerLostError

PID_SPAN = 10**7  # above any pid (Linux pid_max is at most 2**22)
PARENT = "GRIDSTORE_TEST_ENGINES_PARENT"


def square_and_pid(t: int) -> int:
    """t squared, and the pid of the process that ran it, in one int."""
    return t * t * PID_SPAN + os.getpid()


def fail_on_three(t: int) -> int:
    if t == 3:
        msg = f"task {t} failed"
        raise ValueError(msg)
    return t


def die_on_two(t: int) -> int:
    """SIGKILL the worker running task 2, never the test process itself."""
    if t == 2 and os.environ.get(PARENT) not in (None, str(os.getpid())):
        os.kill(os.getpid(), signal.SIGKILL)
    return t


def square_and_more(t: int) -> tuple[int, dict[str, object]]:
    """A result that is not an int: what a validation task returns (its findings)."""
    return t, {"square": t * t, "pid": os.getpid()}


def _run(tasks: list[int] | range, **kwargs: object) -> list[tuple[int, int]]:
    """(t squared, pid) of each on_done call, in the order of the calls."""
    done: list[int] = []
    run_tasks(square_and_pid, tasks, done.append, **kwargs)  # type: ignore[arg-type]
    return [divmod(v, PID_SPAN) for v in done]


def test_serial_runs_each_task_once_in_order_in_this_process() -> None:
    out = _run([4, 0, 7, 2], engine="serial", workers=4)
    assert out == [(16, os.getpid()), (0, os.getpid()), (49, os.getpid()), (4, os.getpid())]


@pytest.mark.parametrize("engine", ["serial", "processes"])
def test_any_picklable_result_reaches_on_done(engine: str) -> None:
    done: list[tuple[int, dict[str, object]]] = []
    run_tasks(square_and_more, range(6), done.append, engine=engine, workers=2)  # type: ignore[arg-type]
    assert sorted(t for t, _ in done) == list(range(6))
    assert all(r["square"] == t * t for t, r in done)
    assert ({r["pid"] for _, r in done} == {os.getpid()}) == (engine == "serial")


def test_processes_run_each_task_once_in_worker_processes() -> None:
    tasks = range(12)
    out = _run(tasks, engine="processes", workers=2)
    assert Counter(sq for sq, _ in out) == Counter(t * t for t in tasks)  # once each
    pids = {pid for _, pid in out}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


@pytest.mark.parametrize(
    ("tasks", "workers"), [([5, 6, 7], 1), ([5], 4)], ids=["one_worker", "one_task"]
)
def test_processes_with_one_worker_or_task_run_here(tasks: list[int], workers: int) -> None:
    """No pool is started when it could only run one task at a time."""
    out = _run(tasks, engine="processes", workers=workers)
    assert out == [(t * t, os.getpid()) for t in tasks]


@pytest.mark.parametrize("engine", ["serial", "processes"])
def test_no_tasks_no_calls(engine: str) -> None:
    assert _run([], engine=engine, workers=2) == []


@pytest.mark.parametrize("engine", ["serial", "processes"])
def test_a_failing_task_raises_its_error(engine: str) -> None:
    done: list[int] = []
    with pytest.raises(ValueError, match="task 3 failed"):
        run_tasks(fail_on_three, range(8), done.append, engine=engine, workers=2)  # type: ignore[arg-type]
    assert 3 not in done


def test_a_killed_worker_is_a_worker_lost_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT, str(os.getpid()))  # inherited by the spawned workers
    with pytest.raises(WorkerLostError) as info:
        run_tasks(die_on_two, range(6), lambda n: None, engine="processes", workers=2)
    assert str(info.value) == (
        "a worker process died while writing (killed, or out of memory); "
        "the tasks it finished are kept"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "threads"}, "unknown engine 'threads'; choose one of serial, processes, dask"),
        ({"engine": "Serial"}, "unknown engine 'Serial'; choose one of serial, processes, dask"),
        ({"workers": 0}, "workers must be an integer >= 1, got 0"),
        ({"workers": -2, "engine": "serial"}, "workers must be an integer >= 1, got -2"),
        ({"workers": 2.0}, "workers must be an integer >= 1, got 2.0"),
        ({"workers": True}, "workers must be an integer >= 1, got True"),
    ],
    ids=["unknown_engine", "engine_case", "workers_0", "workers_negative_serial", "workers_float",
         "workers_bool"],
)  # fmt: skip
def test_bad_arguments_are_one_line_config_errors(kwargs: dict[str, object], message: str) -> None:
    done: list[int] = []
    with pytest.raises(ConfigError) as info:
        run_tasks(square_and_pid, [1, 2], done.append, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert done == []  # nothing ran


def test_default_workers_is_the_usable_cores() -> None:
    assert ENGINES == ("serial", "processes", "dask")
    assert default_workers() == len(os.sched_getaffinity(0)) >= 1
    out = _run([1, 2, 3], engine="serial")  # workers=None: the default, accepted
    assert [sq for sq, _ in out] == [1, 4, 9]
