"""Run a plan's tasks: in this process, in a local process pool, or on Dask.

An engine maps ``fn(task_index) -> images written`` over task indices and
calls ``on_done(images)`` as each finishes. Tasks are idempotent (they write
whole chunks and then a record), so a task that is run twice, after a crash or
a lost Dask worker, leaves the same bytes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Literal, Protocol

from gridstore.errors import ConfigError

__all__ = ["ENGINES", "Engine", "default_workers", "run_tasks"]

EngineName = Literal["serial", "processes", "dask"]
ENGINES = ("serial", "processes", "dask")


class Engine(Protocol):
    """Anything that can run task indices through ``fn``."""

    def __call__(self, fn: Callable[[int], int], tasks: Sequence[int], on_done: Callable[[int], None]) -> None: ...


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _serial(fn: Callable[[int], int], tasks: Sequence[int], on_done: Callable[[int], None]) -> None:
    for t in tasks:
        on_done(fn(t))


def _pool(workers: int) -> Engine:
    def run(fn: Callable[[int], int], tasks: Sequence[int], on_done: Callable[[int], None]) -> None:
        # spawn, not fork: zarr keeps an event-loop thread that a fork would orphan.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            pending: set[Future[int]] = set()
            queue = list(reversed(tasks))
            try:
                while queue or pending:
                    while queue and len(pending) < 2 * workers:  # bounded queue: bounded memory
                        pending.add(pool.submit(fn, queue.pop()))
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_done(f.result())
            except BaseException:
                for f in pending:
                    f.cancel()
                raise

    return run


def _dask(scheduler: str | None, workers: int) -> Engine:
    def run(fn: Callable[[int], int], tasks: Sequence[int], on_done: Callable[[int], None]) -> None:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError as err:
            msg = "the dask engine needs the dask extra: pip install 'gridstore[dask]'"
            raise ConfigError(msg) from err
        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        client = Client(scheduler or cluster)
        try:
            # pure=False: a retried task is a new run, not a cached result
            futures = client.map(fn, list(tasks), pure=False, retries=3)
            for future in as_completed(futures):
                on_done(future.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run


def run_tasks(
    fn: Callable[[int], int],
    tasks: Sequence[int],
    on_done: Callable[[int], None],
    *,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
) -> None:
    """Run ``fn`` over ``tasks`` with the chosen engine.

    Parameters
    ----------
    fn : callable
        A picklable top-level function of one task index; returns images written.
    tasks : sequence of int
        Task indices to run.
    on_done : callable
        Called in this process with each finished task's image count.
    engine : {"serial", "processes", "dask"}
        Where tasks run. ``processes`` with one worker (or one task) runs in
        this process, which saves starting a pool.
    workers : int, optional
        Worker processes (default: all cores).
    scheduler : str, optional
        Address of a running Dask scheduler; without it ``dask`` starts a LocalCluster.

    Raises
    ------
    ConfigError
        Unknown engine or workers < 1.
    """
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers must be an integer >= 1, got {workers!r}"
        raise ConfigError(msg)
    if engine not in ENGINES:
        msg = f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}"
        raise ConfigError(msg)
    if engine == "dask":
        runner = _dask(scheduler, workers)
    elif engine == "serial" or workers == 1 or len(tasks) <= 1:
        runner = _serial
    else:
        runner = _pool(min(workers, len(tasks)))
    runner(fn, tasks, on_done)
