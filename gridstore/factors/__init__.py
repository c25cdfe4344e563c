"""Generative factors: sample them, render images from them, and a disentanglement_lib adapter.

The names below load on first use (the renderer loads numba; the factor table
does not).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FACTOR_TABLE": "gridstore.factors.table",
    "FREE": "gridstore.factors.table",
    "factors_of": "gridstore.factors.table",
    "render": "gridstore.factors.rendering",
    "sample_factors": "gridstore.factors.rendering",
    "SingleObjectData": "gridstore.factors.grid",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'gridstore.factors' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return __all__
