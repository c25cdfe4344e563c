"""How gridstore meets Dask: its own LocalCluster's workers, a scheduler it is given, distributed's chatter."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from gridstore.errors import ConfigError
from gridstore.workers import start_early

__all__ = ["check_scheduler", "quiet_distributed", "unreachable", "worker_environment"]


@contextmanager
def quiet_distributed() -> Iterator[None]:
    """Keep ``distributed``'s INFO chatter (scheduler/worker start, client connect) off stderr."""
    logger = logging.getLogger("distributed")
    old = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(old)


@contextmanager
def worker_environment() -> Iterator[None]:
    """Start LocalCluster workers as the pool's start (`gridstore.workers`), without ``MALLOC_TRIM_THRESHOLD_`` or the profiler; leave ``os.environ`` as it was.

    distributed's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in the workers it
    spawns. That turns off glibc's adaptive mmap threshold, so every large array
    a task allocates is mmapped, faulted in and unmapped again: tasks ran about
    40% slower than in the process pool (benchmarks/bench_scaling.py). The nanny
    also writes its pre-spawn variables (that one, ``OMP_NUM_THREADS=1`` and
    friends, ``PYTHONHASHSEED``) into *this* process's ``os.environ`` and never
    undoes it; they are restored afterwards.
    """
    import dask

    forked = start_early(dask=True)
    keys = {*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "PYTHONHASHSEED"}
    saved = {k: os.environ.get(k) for k in keys}
    # The workers' statistical profiler samples every thread's stack each 10 ms: about
    # 1 s of CPU per 3M images here, for a dashboard panel nobody looks at in a CLI run.
    tuned: dict[str, Any] = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.worker.profile.enabled": False,
    }
    if forked:
        import distributed.utils

        tuned["distributed.worker.multiprocessing-method"] = "forkserver"
        # The fork server already runs, so a preload set now would never be used; yet
        # distributed's first nanny sets one, importing every package it names in this
        # process first (pandas among them where installed: 0.3 s of CPU before any worker
        # starts). Its flag says the preload is set, and so it is: by gridstore.workers.
        distributed.utils._forkserver_preload_set = True
    try:
        with dask.config.set(tuned):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def unreachable(scheduler: str | None, why: object) -> ConfigError:
    """The one-line error for a Dask scheduler that cannot be used."""
    return ConfigError(f"cannot connect to the Dask scheduler at {scheduler!r}: {why}")


def check_scheduler(scheduler: str) -> None:
    """Refuse, a `ConfigError`, a ``tcp://`` address where no Dask scheduler answers.

    distributed's client retries a refused connection until its connect timeout
    (30 s), and waits forever on a service that accepts the connection but never
    answers as a scheduler (an HTTP server, the dashboard's port: dask/distributed
    #8071). A plain connection says "refused" at once; a second one asks the
    scheduler who it is, within the connect timeout. Other protocols are the client's.
    """
    import asyncio

    import dask
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port

    protocol, location = parse_address(scheduler)
    if protocol != "tcp":
        return
    timeout = dask.utils.parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))

    try:  # refused at once, where distributed's connect would retry until its timeout
        socket.create_connection(parse_host_port(location), timeout=timeout).close()
    except OSError as err:
        raise unreachable(scheduler, err) from err

    async def identity() -> Any:
        comm = await connect(scheduler, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            await comm.close()

    # A daemon thread of its own: the caller may run an event loop already (a notebook),
    # and a Ctrl-C here need not wait for the answer.
    asked: Future[Any] = Future()

    def ask() -> None:
        try:
            asked.set_result(asyncio.run(asyncio.wait_for(identity(), timeout)))
        except BaseException as err:
            asked.set_exception(err)

    threading.Thread(target=ask, name="gridstore-scheduler-check", daemon=True).start()
    try:
        answer = asked.result()
    except TimeoutError as err:  # a subclass of OSError: first
        raise unreachable(scheduler, f"no answer as a scheduler within {timeout:g} s") from err
    except OSError as err:  # reset, closed: distributed's CommClosedError too
        raise unreachable(scheduler, err) from err
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != "Scheduler":
        raise unreachable(scheduler, f"what answers there is not a scheduler ({kind or 'unknown'})")
