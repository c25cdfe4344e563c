"""Counterfactual pairs: a twin of each image that differs by exactly one intervention.

In memory only for now (`intervene`); see docs/factors.md for what is left.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "KINDS": "gridstore.pairs.interventions",
    "IMPLEMENTED_KINDS": "gridstore.pairs.interventions",
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
