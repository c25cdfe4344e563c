"""Counterfactual pairs: a twin of each image that differs by exactly one intervention.

`intervene` makes twins in memory; a plan with ``pairs`` stores each image's
twin, its annotations and the intervention's record in the version
(docs/factors.md); `gridstore.read` reads them back (``split.pairs``).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "KINDS": "gridstore.pairs.layout",
    "check_kinds": "gridstore.pairs.layout",
    "intervene": "gridstore.pairs.interventions",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'gridstore.pairs' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return __all__
