"""Sample the resident memory of a process tree while a command runs, and count its CPU (Linux /proc)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


@contextlib.contextmanager
def descendants_cpu() -> Iterator[dict[str, float]]:
    """User and system seconds of every process started in the block, orphans included.

    gridstore's pool workers are forked from multiprocessing's fork server,
    which is not the command's to wait for: it exits just after the command,
    and its CPU and its workers' would not count in ``RUSAGE_CHILDREN``. As
    this process's subreaper (Linux) it is handed to us, and waited for here.
    The dict is filled when the block ends.
    """
    pr_set_child_subreaper, pr_get_child_subreaper = 36, 37
    was = ctypes.c_int(0)
    if sys.platform == "linux":
        prctl = ctypes.CDLL(None).prctl
        prctl(pr_get_child_subreaper, ctypes.byref(was))
        prctl(pr_set_child_subreaper, 1)
    known = set(_children(os.getpid()))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict[str, float] = {}
    try:
        yield out
        for pid in set(_children(os.getpid())) - known:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    finally:
        if sys.platform == "linux":
            prctl(pr_set_child_subreaper, was.value)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["user"] = after.ru_utime - before.ru_utime
    out["sys"] = after.ru_stime - before.ru_stime


def _rss_kib(pid: int) -> tuple[int, int]:
    """Current and peak (high-water mark) resident KiB of ``pid``; zeros once it is gone."""
    now = peak = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    except OSError:
        pass
    return now, peak


def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, *, capture_stderr: bool = False
) -> dict[str, Any]:
    """Run ``cmd``; return wall seconds, user and system CPU seconds of all its processes,
    and the peak RSS of the largest process and of the whole tree (MiB).

    With ``capture_stderr``, ``stderr_lines`` holds ``(seconds since start, line)`` pairs.
    """
    with descendants_cpu() as cpu:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if capture_stderr else None,
            text=True,
        )
        stderr_lines: list[tuple[float, str]] = []

        def read_stderr() -> None:
            for line in proc.stderr:  # type: ignore[union-attr]
                stderr_lines.append((time.perf_counter() - started, line.rstrip("\n")))

        reader = threading.Thread(target=read_stderr, daemon=True)
        if capture_stderr:
            reader.start()
        peak_one = peak_sum = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_one, peak_sum
            while not stop.is_set():
                tree, todo = [], [proc.pid]
                while todo:
                    pid = todo.pop()
                    tree.append(pid)
                    todo += _children(pid)
                sizes = [_rss_kib(p) for p in tree]
                # the kernel's high-water mark catches a process's peak between samples
                peak_one = max(peak_one, max((hwm for _, hwm in sizes), default=0))
                peak_sum = max(peak_sum, sum(now for now, _ in sizes))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out = proc.stdout.read()  # type: ignore[union-attr]
        proc.wait()
        seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    if capture_stderr:
        reader.join()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    if proc.returncode:
        tail = "\n".join(line for _, line in stderr_lines[-5:])
        msg = f"{cmd} failed with exit code {proc.returncode}\n{tail}"
        raise RuntimeError(msg)
    return {
        "seconds": seconds,
        "user": cpu["user"],
        "sys": cpu["sys"],
        "peak_process_mib": peak_one / 1024,
        "peak_tree_mib": peak_sum / 1024,
        "stdout": out,
        "stderr_lines": stderr_lines,
    }
