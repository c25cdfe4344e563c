"""How worker processes start: warm where the platform allows, and tied to this process.

A spawned worker is a fresh interpreter. Before its first task it imports
numpy, zarr and numba and loads the kernels: about 0.95 s of CPU, a sixth of
it in page faults, paid by every worker of every run. On Linux, workers are
instead forked from multiprocessing's fork server, which pays that once and
hands every worker it forks its loaded kernels (``gridstore.write.warm``).
:func:`start_early` starts the server at once, so that it loads on the second
core while this process measures the plan. Elsewhere (macOS: a fork without
exec is unsafe with its system frameworks) workers are spawned as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.context import BaseContext

__all__ = [
    "context",
    "die_with_parent",
    "forks_warm",
    "init_worker",
    "keep_freed_memory",
    "start_early",
]

WARM_MODULE = "gridstore.write.warm"  # imported by the fork server: the kernels, loaded
SERVER_MARK = "GRIDSTORE_FORK_SERVER"  # our pid, while the server starts
log = logging.getLogger(__name__)
_started = False  # the main thread started the fork server


def forks_warm() -> bool:
    """Whether workers are forked from a server that loaded the kernels (Linux)."""
    return sys.platform == "linux"


def context() -> BaseContext:
    """The multiprocessing context that starts this platform's pool workers (see `start_early`)."""
    if start_early():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def start_early(*, dask: bool = False) -> bool:
    """Start the fork server unless it runs, so that it loads the kernels while this process works.

    The server dies with the thread that started it (else it would outlive a
    caller killed with SIGKILL), and its workers with it: only the main
    thread starts it. Another thread's workers are forked from a server the
    main thread started, or else spawned.

    Parameters
    ----------
    dask : bool
        The server also imports ``distributed`` (Dask workers), if it starts now.

    Returns
    -------
    bool
        Whether workers fork from the server. They do not on macOS, nor where
        its socket cannot be made (a temporary directory whose path is too
        long for a socket, or full): workers are then spawned.
    """
    global _started
    if not forks_warm():
        log.debug("workers are spawned: no fork server on %s", sys.platform)
        return False
    if threading.current_thread() is not threading.main_thread():
        return _started
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(
        [WARM_MODULE, *(["distributed"] if dask else [])]
    )
    os.environ[SERVER_MARK] = str(os.getpid())
    try:
        forkserver.ensure_running()
    except OSError as err:
        log.debug("workers are spawned: no fork server (%s)", err)
        return False
    finally:
        os.environ.pop(SERVER_MARK, None)
    _started = True
    return True


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; else a no-op)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def init_worker(environ: dict[str, str]) -> None:
    """Set up a pool worker: this run's environment, Ctrl-C left to the parent, death with it.

    A forked worker has the fork server's environment: ``environ`` is the
    parent's now, as a spawned worker would have it. The worker dies with its
    parent process: the caller, or the fork server, which dies with the caller
    (``gridstore.write.warm``). Without that, workers of a caller killed with
    SIGKILL would finish their task and linger, holding its stdout open. A
    caller that died before the signal was armed is caught by its sentinel.
    """
    os.environ.clear()
    os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    caller = multiprocessing.parent_process()
    if caller is not None and not caller.is_alive():
        os._exit(1)
    keep_freed_memory()


def keep_freed_memory() -> None:
    """Have glibc's malloc reuse freed memory for a task's large buffers.

    By default each buffer over 128 KiB-32 MiB (blosc's output, the last
    chunk's padding) is a fresh mmap whose every page faults when first
    written: a fifth of a worker's time went to the kernel. Only in pool
    workers and the workers of our own LocalCluster: a user's process or
    cluster keeps its allocator's settings. Elsewhere (macOS, musl) the
    allocator keeps its defaults.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc
        log.debug("no mallopt: the allocator keeps its defaults")
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)  # buffers under 64 MiB come from the heap
    mallopt(m_trim_threshold, 128 << 20)  # and up to 128 MiB of freed heap is kept
