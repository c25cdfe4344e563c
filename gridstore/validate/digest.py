"""The ``digest`` check: a version's content digest, recomputed from its chunks with ``--full``."""

from __future__ import annotations

from typing import Any

from gridstore.digest import recompute
from gridstore.storage.registry import recorded_digest

__all__ = ["check_digest"]


def check_digest(run: Any, full: bool) -> str | None:
    """Check ``run``'s version's digest (a `gridstore.validate.version` run); return the recomputed one.

    Sampled validation only says what is recorded: the digest covers every
    chunk, so only ``full`` reads them all (once more, in this process) to recompute it.
    """
    recorded = run.meta.get("digest") or recorded_digest(run.store, run.name)
    if not full:
        run.passed["digest"] = (f"recorded {recorded}; recomputed by --full only" if recorded
                                else "no digest recorded (a version committed before digests)")  # fmt: skip
        return None
    digest, damaged = recompute(run.store, run.name)
    if digest is None:
        run.fail("digest", "not recomputed: chunks are missing", damaged)
    elif recorded is None:
        run.passed["digest"] = (f"recomputed {digest}; none recorded (a version committed before "
                                "digests): 'validate --full --record' records it")  # fmt: skip
    elif digest != recorded:
        run.fail("digest", f"recomputed {digest} differs from the recorded {recorded}", damaged)
    else:
        run.passed["digest"] = f"recomputed from every chunk: {digest}, as recorded"
    return digest
