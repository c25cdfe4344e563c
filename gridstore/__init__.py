"""gridstore: synthetic ARC-like grid image corpora, generated from a seed into versioned Zarr v3 stores.

Heavy modules (numba, zarr, matplotlib) load on first use, so ``import gridstore``
stays fast.

Examples
--------
>>> import gridstore
>>> gridstore.estimate_memory(1000)["readable"]
'250.0 KiB'
"""

from __future__ import annotations

import importlib
from typing import Any

from gridstore._version import __version__
from gridstore.errors import (
    ConfigError,
    CorruptChunkError,
    GridstoreError,
    InsufficientSpaceError,
    StoreLockedError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
    VersionNotFoundError,
)

_LAZY = {
    "GeneratorConfig": "gridstore.config",
    "make_config": "gridstore.config",
    "load_config_file": "gridstore.config",
    "PRESETS": "gridstore.config",
    "Plan": "gridstore.plan",
    "estimate_memory": "gridstore.plan",
    "generate_images": "gridstore.generate",
    "generate_block": "gridstore.generate",
    "Annotations": "gridstore.generate",
    "check_constraints": "gridstore.validate.constraints",
    "validate_dataset": "gridstore.validate.dataset",
    "DatasetReport": "gridstore.validate.dataset",
    "generate_corpus": "gridstore.corpus",
    "split_corpus": "gridstore.corpus",
    "create_version": "gridstore.write.versions",
    "resume_version": "gridstore.write.versions",
    "grow_version": "gridstore.write.versions",
    "open_store": "gridstore.read.store",
    "validate_version": "gridstore.validate.version",
    "save_corpus": "gridstore.formats",
    "load_corpus": "gridstore.formats",
    "create_metadata": "gridstore.formats",
    "save_metadata": "gridstore.formats",
    "export_version": "gridstore.formats",
}

__all__ = [
    "ConfigError",
    "CorruptChunkError",
    "GridstoreError",
    "InsufficientSpaceError",
    "StoreLockedError",
    "StoreNotFoundError",
    "VersionExistsError",
    "VersionIncompleteError",
    "VersionNotFoundError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    msg = f"module 'gridstore' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)
