"""Run a plan's tasks: in this process, in a local process pool, or on Dask.

An engine maps ``fn(task_index) -> result`` over task indices and calls
``on_done(result)`` in this process as each finishes (in any order). A
generation task returns the images it wrote; a validation task its findings,
any small picklable value. Tasks are idempotent (they write whole chunks and
then a record, or only read), so a task that is run twice, after a crash or a
lost Dask worker, leaves the same bytes.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Protocol, TypeVar

from gridstore.arguments import ENGINES, EngineName, check_engine
from gridstore.dask_setup import (
    check_scheduler,
    quiet_distributed,
    unreachable,
    worker_environment,
)
from gridstore.errors import ConfigError, WorkerLostError
from gridstore.workers import context, init_worker, keep_freed_memory

__all__ = [
    "ENGINES",
    "Engine",
    "EngineName",
    "default_workers",
    "open_engine",
    "run_tasks",
    "runs_here",
]
R = TypeVar("R")  # what a task returns: images written (generation), findings (validation)


class Engine(Protocol):
    """Anything that can run task indices through ``fn``."""

    def __call__(
        self, fn: Callable[[int], R], tasks: Sequence[int], on_done: Callable[[R], None]
    ) -> None: ...


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def runs_here(engine: str, workers: int, tasks: int) -> bool:
    """Whether ``tasks`` run in this process: serially, or as a pool that could run one at a time."""
    return engine == "serial" or (engine == "processes" and min(workers, tasks) <= 1)


def _serial(fn: Callable[[int], R], tasks: Sequence[int], on_done: Callable[[R], None]) -> None:
    for t in tasks:
        on_done(fn(t))


@contextmanager
def _pool(workers: int) -> Iterator[Engine]:
    # Never a fork of this process: zarr keeps an event-loop thread that a fork would orphan.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context(),
        initializer=init_worker,
        initargs=(dict(os.environ),),
    ) as pool:

        def run(fn: Callable[[int], R], tasks: Sequence[int], on_done: Callable[[R], None]) -> None:
            pending: set[Future[R]] = set()
            queue = list(reversed(tasks))

            def refill() -> None:
                while queue and len(pending) < 2 * workers:  # bounded queue: bounded memory
                    pending.add(pool.submit(fn, queue.pop()))

            try:
                with _deferred_interrupt():  # the first submits spawn the workers
                    refill()
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_done(f.result())
                    refill()
            except BrokenProcessPool as err:  # a worker was killed (kill -9, the OOM killer)
                pool.shutdown(wait=True, cancel_futures=True)
                msg = (
                    "a worker process died while writing (killed, or out of memory); "
                    "the tasks it finished are kept"
                )
                raise WorkerLostError(msg) from err
            except BaseException:
                for f in pending:
                    f.cancel()
                raise

        yield run


# Tasks that raise are run again this many times (a transient I/O error); a task
# whose worker *died* is rescheduled by the scheduler itself, up to its
# ``distributed.scheduler.allowed-failures`` (default 3) deaths, then KilledWorker.
DASK_RETRIES = 2


@contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, so half-started workers never leak.

    ``LocalCluster(...)`` interrupted part-way leaves worker processes that nothing
    can close (its own close asserts on workers still starting), and a process
    pool interrupted while it spawns its workers breaks with tracebacks. The held
    signal is delivered to its previous handler when the block ends. A second
    signal is not held back, in case start-up hangs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    held: list[int] = []

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def deliver(signum: int) -> None:
        handler = previous[signal.Signals(signum)]
        if callable(handler):
            handler(signum, None)  # e.g. default_int_handler: KeyboardInterrupt
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), signum)  # restored first: the default action

    def hold(signum: int, frame: Any) -> None:
        if held:
            restore()
            deliver(signum)
        held.append(signum)

    for sig, handler in previous.items():
        if handler != signal.SIG_IGN:
            signal.signal(sig, hold)
    try:
        yield
    except Exception as err:
        if held:  # e.g. workers that got the terminal's Ctrl-C too and failed to start
            restore()
            try:
                deliver(held[0])
            except BaseException as interrupt:
                raise interrupt from err
        raise
    finally:
        restore()
    if held:
        deliver(held[0])


# A Dask task costs the scheduler and the workers' event loops a few ms of CPU
# (messages, state transitions, the result's gather): on two cores, 150 tasks of
# 20,000 images took 11% of the CPU from the tasks. So a Dask task runs a group of
# consecutive tasks: large first, then smaller as the plan's end nears (guided
# scheduling), so that no worker waits long on the last ones.
MAX_GROUP = 16  # tasks: a lost worker or an error reruns no more than this


def group_size(left: int, threads: int) -> int:
    """How many of the ``left`` tasks the next Dask task runs, on ``threads`` worker threads.

    An external cluster may have no worker yet (they join later): counted as one.
    """
    return max(1, min(MAX_GROUP, left // (4 * max(threads, 1))))


def _run_group(fn: Callable[[int], R], tasks: list[int]) -> list[R]:
    """Run ``tasks`` one after another (one Dask task); their results in order."""
    return [fn(t) for t in tasks]


@contextmanager
def _dask(scheduler: str | None, workers: int) -> Iterator[Engine]:
    # unwinds client first, then cluster; both made by the first run with tasks
    with quiet_distributed(), ExitStack() as stack:
        clients: list[Any] = []

        def connect() -> Any:
            try:
                from distributed import Client, LocalCluster
            except ImportError as err:
                msg = "the dask engine needs the dask extra: pip install 'gridstore[dask]'"
                raise ConfigError(msg) from err
            if scheduler is not None:  # before signals are held: it may wait its timeout
                check_scheduler(scheduler)
            with _deferred_interrupt():
                if scheduler is None:
                    # Workers are processes forked warm where they can be (else spawned,
                    # distributed's default), with this process's environment, one thread
                    # each: a task is CPU-bound numba code. The HTTP server binds a free
                    # loopback port: two runs (or a user's dashboard on :8787) never clash.
                    # The environment is restored after the cluster closed (a worker
                    # restarted meanwhile sets it again).
                    stack.enter_context(worker_environment())
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address="127.0.0.1:0",
                                           env=dict(os.environ))  # fmt: skip
                    stack.callback(cluster.close)
                    address: Any = cluster
                else:
                    address = scheduler
                try:
                    # set_as_default=False: not the scheduler of the caller's own dask code.
                    client = Client(address, set_as_default=False)
                except OSError as err:  # nothing there: OSError after the connect timeout
                    raise unreachable(scheduler, err) from err
                stack.callback(client.close)
                if scheduler is None:  # our own workers: tuned as the pool's are
                    client.run(keep_freed_memory)
            clients.append(client)
            return client

        def run(fn: Callable[[int], R], tasks: Sequence[int], on_done: Callable[[R], None]) -> None:
            if not tasks:  # nothing to do: do not start a cluster
                return
            from distributed import as_completed

            client = clients[0] if clients else connect()
            threads = sum(client.nthreads().values())
            # Submit a bounded window, not every task: the scheduler's memory stays
            # flat for huge plans, and an interrupted run has little to cancel.
            window = max(64, 4 * threads)
            token = uuid.uuid4().hex[:8]
            left = list(reversed(tasks))
            running: set[Any] = set()
            finished = as_completed(loop=client.loop)

            def submit(n: int) -> None:
                for _ in range(n):
                    if not left:
                        return
                    group = [left.pop() for _ in range(group_size(len(left), threads))]
                    # a key of this run's own: never a result cached from another run
                    key = f"gridstore-{token}-task-{group[0]}"
                    f = client.submit(_run_group, fn, group, key=key, retries=DASK_RETRIES)
                    running.add(f)
                    finished.add(f)

            try:
                submit(window)
                for future in finished:
                    results = future.result()  # re-raises a task's error or KilledWorker
                    running.discard(future)
                    future.release()
                    submit(1)
                    for result in results:
                        on_done(result)
            except BaseException:
                # On an error or Ctrl-C, an external cluster drops what has not run
                # (tasks already running finish, rewriting their identical chunks);
                # our own cluster is simply closed.
                if scheduler is not None:
                    with suppress(Exception):
                        client.cancel(list(running))
                raise

        yield run


@contextmanager
def open_engine(
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    max_tasks: int | None = None,
) -> Iterator[Engine]:
    """An engine whose workers (a process pool, a Dask cluster) serve every run until the block ends.

    The generation's tasks and the commit's jobs then share one pool: no
    second start-up. Workers start with the first run that has tasks.

    Parameters
    ----------
    engine, workers, scheduler
        As for `run_tasks`.
    max_tasks : int, optional
        The most tasks a run gets: no more workers start (one: run in this process).

    Raises
    ------
    ConfigError
        Unknown engine, or workers < 1.
    """
    check_engine(engine, workers)
    workers = default_workers() if workers is None else workers
    most = max(max_tasks, 1) if max_tasks is not None else workers
    if engine == "dask":
        with _dask(scheduler, min(workers, most)) as run:
            yield run
    elif runs_here(engine, workers, most):
        yield _serial
    else:
        with _pool(min(workers, most)) as run:
            yield run


def run_tasks(
    fn: Callable[[int], R],
    tasks: Sequence[int],
    on_done: Callable[[R], None],
    *,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
) -> None:
    """Run ``fn`` over ``tasks`` with the chosen engine.

    Parameters
    ----------
    fn : callable
        A picklable top-level function of one task index (or a ``functools.partial``
        of one); returns a small picklable result, e.g. the images it wrote.
    tasks : sequence of int
        Task indices to run.
    on_done : callable
        Called in this process with each finished task's result, in the order
        the tasks finish.
    engine : {"serial", "processes", "dask"}
        Where tasks run. ``processes`` with one worker (or one task) runs in
        this process, which saves starting a pool. ``dask`` submits groups of
        consecutive tasks as Dask tasks (`group_size`), to the scheduler at
        ``scheduler`` or else to a LocalCluster of ``workers`` processes with
        one thread each, started and closed (also on Ctrl-C) by this call.
        Workers write the chunks themselves; a group whose worker dies is rerun
        on another one, a group that raises is retried ``DASK_RETRIES`` times.
    workers : int, optional
        Worker processes (default: all cores); ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``) whose workers
        see the store at the same path; it is left running.

    Raises
    ------
    ConfigError
        Unknown engine, workers < 1, no dask installed, or no scheduler at ``scheduler``.
    distributed.KilledWorker
        A task's workers died ``distributed.scheduler.allowed-failures`` + 1 times.
    """
    with open_engine(engine, workers, scheduler, max_tasks=len(tasks)) as run:
        run(fn, tasks, on_done)
