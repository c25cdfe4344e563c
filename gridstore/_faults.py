"""Deterministic crash points for tests: ``GRIDSTORE_CRASH_AT=<point>`` kills the process there."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """SIGKILL this process if ``GRIDSTORE_CRASH_AT`` names this point (tests only)."""
    if os.environ.get("GRIDSTORE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
