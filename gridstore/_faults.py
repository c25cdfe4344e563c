"""Deterministic fault points for tests.

``GRIDSTORE_CRASH_AT=<point>`` kills the process there (SIGKILL);
``GRIDSTORE_STALL_AT=<point>`` stops it there (SIGSTOP) until a SIGCONT, as a
writer stalls on a frozen VM or a long GC pause.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """SIGKILL or SIGSTOP this process if ``GRIDSTORE_CRASH_AT`` or ``GRIDSTORE_STALL_AT`` names this point."""
    if os.environ.get("GRIDSTORE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("GRIDSTORE_STALL_AT") == name:
        os.kill(os.getpid(), signal.SIGSTOP)
