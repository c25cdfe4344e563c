"""The plan's estimates: what they measure in this process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM is Linux's; elsewhere ru_maxrss")
def test_peak_memory_is_the_process_own_not_its_launchers() -> None:
    """ru_maxrss survives exec: a gridstore started by a large process must not count its peak."""
    held = np.ones(800 << 20, np.uint8)  # 800 MiB, touched, while the child starts
    code = "from gridstore.estimate import _max_rss_bytes; print(_max_rss_bytes())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(child.stdout) < 400 << 20, int(child.stdout) >> 20
    del held
