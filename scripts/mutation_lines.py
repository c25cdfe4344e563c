"""A pytest plugin of scripts/mutation_score.py: which test runs which line of one module.

Loaded with ``-p mutation_lines`` (``scripts/`` on ``PYTHONPATH``). While each test runs (its
setup, call and teardown), a trace function records the lines of ``$MUTATION_LINES_FILE``
that execute, in this process and its threads; at the end the map ``line -> [node ids]``, and
each test's seconds, go to ``$MUTATION_LINES_OUT`` as JSON. Lines run at import, in a
subprocess or in a compiled kernel are not seen: the script runs every test of the module for
those.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

_TARGET = str(Path(os.environ.get("MUTATION_LINES_FILE", "-")).resolve())
_LINES: dict[int, set[str]] = {}
_CURRENT = [""]
_SECONDS: dict[str, float] = {}
_IS_TARGET: dict[str, bool] = {}


def _line(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _LINES.setdefault(frame.f_lineno, set()).add(_CURRENT[0])
    return _line


def _call(frame: FrameType, event: str, arg: Any) -> Any:
    name = frame.f_code.co_filename
    hit = _IS_TARGET.get(name)
    if hit is None:
        hit = _IS_TARGET[name] = str(Path(name).resolve()) == _TARGET
    if not hit:
        return None
    _LINES.setdefault(frame.f_lineno, set()).add(_CURRENT[0])
    return _line


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Trace the module's lines while ``item`` runs."""
    _CURRENT[0] = item.nodeid
    begin = time.monotonic()
    threading.settrace(_call)
    sys.settrace(_call)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type,unused-ignore]
        _SECONDS[item.nodeid] = time.monotonic() - begin


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the map of lines to tests, and each test's time."""
    out = os.environ.get("MUTATION_LINES_OUT")
    if out:
        lines = {str(k): sorted(v) for k, v in sorted(_LINES.items())}
        Path(out).write_text(json.dumps({"lines": lines, "seconds": _SECONDS}))
