"""Compiled kernels and where numba caches them: a per-user directory, never the package.

numba's default cache sits beside the sources, inside the installed package.
pip does not record those files, so an uninstall leaves ``site-packages/gridstore/``
behind and it shadows a later editable install; a read-only install cannot cache
at all. Kernels declared with :func:`kernel` cache instead in

- ``$NUMBA_CACHE_DIR/gridstore/<key>`` when the user set ``NUMBA_CACHE_DIR``;
- ``~/.cache/gridstore/numba/<key>`` (``$XDG_CACHE_HOME``; ``~/Library/Caches`` on macOS);
- ``<tempdir>/gridstore-numba-<uid>/<key>`` when neither can be written.

``<key>`` digests the source of every module that holds kernels, and numba's
version. numba invalidates a cached function only when its own file changes,
not when a kernel it calls in another module does; with the key, a changed
kernel anywhere gets a fresh directory and never loads a stale cache. The
directory is created on the first compile, not on import.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.core import caching, config

__all__ = ["KERNEL_SOURCES", "cache_dir", "kernel", "kernel_cache_is_warm", "sources_key"]

_PACKAGE = Path(__file__).resolve().parent
KERNEL_SOURCES = (
    *sorted((_PACKAGE / "generate").glob("*.py")),
    _PACKAGE / "validate" / "constraints.py",
    _PACKAGE / "write" / "unique.py",
    _PACKAGE / "factors" / "_kernel.py",
    _PACKAGE / "pairs" / "_kernel.py",
    _PACKAGE / "pairs" / "_objects.py",
)


def sources_key(sources: tuple[Path, ...] = KERNEL_SOURCES) -> str:
    """Digest of numba's version, this module and every kernel source: the cache's key."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in (*sources, Path(__file__).resolve()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _writable(path: Path) -> bool:
    """True if ``path`` exists writable, or could be created under a writable ancestor."""
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


@functools.cache
def cache_dir() -> Path:
    """Return the directory that holds this version's compiled kernels (created on demand)."""
    key = sources_key()
    if config.CACHE_DIR:  # numba's own setting, from NUMBA_CACHE_DIR
        candidates = [Path(config.CACHE_DIR) / "gridstore"]
    elif sys.platform == "darwin":
        candidates = [Path.home() / "Library" / "Caches" / "gridstore" / "numba"]
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        candidates = [Path(xdg) / "gridstore" / "numba"]
    candidates.append(Path(tempfile.gettempdir()) / f"gridstore-numba-{os.getuid()}")
    root = next((c for c in candidates if _writable(c)), candidates[-1])
    return root / key


class _KernelCacheLocator(caching._CacheLocator):
    """Puts gridstore's kernels in :func:`cache_dir`, stamped by content, not mtime."""

    def __init__(self, py_func: Callable[..., Any], py_file: str) -> None:
        self._lineno = py_func.__code__.co_firstlineno

    def get_cache_path(self) -> str:
        return str(cache_dir())

    def get_source_stamp(self) -> str:
        # The directory is already keyed by content: a reinstall of the same
        # sources (new mtimes) keeps its cache.
        return cache_dir().name

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Callable[..., Any], py_file: str) -> _KernelCacheLocator | None:
        if Path(py_file).resolve() not in KERNEL_SOURCES:
            return None  # anyone else's function: numba's usual locators
        return cls(py_func, py_file)  # no mkdir here: numba makes it when it saves


# numba has no public hook for this; the registry is CacheImpl (numba >= 0.61) or _CacheImpl.
_LOCATORS = getattr(caching, "CacheImpl", None) or caching._CacheImpl
if _KernelCacheLocator not in _LOCATORS._locator_classes:
    _LOCATORS._locator_classes.insert(0, _KernelCacheLocator)


def kernel(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, **options)``, cached in :func:`cache_dir`.

    Only functions of the modules in :data:`KERNEL_SOURCES` may use it, so that
    the cache key covers every kernel.
    """
    if fn is None:
        return functools.partial(kernel, **options)
    source = Path(fn.__code__.co_filename).resolve()
    if source not in KERNEL_SOURCES:
        msg = f"{fn.__qualname__} is in {source}, which is not in gridstore._jit.KERNEL_SOURCES"
        raise RuntimeError(msg)
    return numba.njit(cache=True, **options)(fn)


def kernel_cache_is_warm(name: str = "batch._fill") -> bool:
    """True if a compiled ``name`` (``module.function``) is cached for these sources."""
    return any(cache_dir().glob(f"{name}-*.nbi"))
