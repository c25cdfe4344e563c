"""Sample the resident memory of a process tree while a command runs (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd``; return wall seconds, peak RSS of the largest process and of the whole tree (MiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, text=True
    )
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
            peak_one = max(peak_one, max(sizes, default=0))
            peak_sum = max(peak_sum, sum(sizes))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode:
        msg = f"{cmd} failed with exit code {proc.returncode}"
        raise RuntimeError(msg)
    return {
        "seconds": time.perf_counter() - started,
        "peak_process_mib": peak_one / 1024,
        "peak_tree_mib": peak_sum / 1024,
        "stdout": out,
    }
