"""Keep numba's on-disk cache honest across edits.

numba invalidates a cached function only when its own file changes, not when
a function it calls (in another module) does. The kernels span several
modules, so a stamp of all their sources decides whether the cache is kept.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_HERE = Path(__file__).parent
_CACHE = _HERE / "__pycache__"


def drop_stale_cache() -> None:
    """Delete this package's numba cache files if any kernel source changed."""
    digest = hashlib.sha256()
    for source in sorted(_HERE.glob("*.py")):
        digest.update(source.read_bytes())
    stamp = _CACHE / "numba-sources.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest.hexdigest():
            return
        _CACHE.mkdir(exist_ok=True)
        for stale in [*_CACHE.glob("*.nbi"), *_CACHE.glob("*.nbc")]:
            stale.unlink(missing_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:
        pass  # read-only install or a race with another process: numba copes
