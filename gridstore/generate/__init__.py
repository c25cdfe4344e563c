"""The atomic image generator: numba kernels with per-image random streams.

The names below load on first use: `vocab` and `shapes` are plain numpy, and
importing them (or this package) does not load numba.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RNG_SCHEME": "gridstore.generate.rng",
    "ROUTING_BLOCK_IMAGES": "gridstore.generate.vocab",
    "Annotations": "gridstore.generate.vocab",
    "BlockOutput": "gridstore.generate.batch",
    "GeneratorConfig": "gridstore.config",
    "content_hashes": "gridstore.generate.hashing",
    "generate_block": "gridstore.generate.batch",
    "generate_images": "gridstore.generate.batch",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'gridstore.generate' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return __all__
