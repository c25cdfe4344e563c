"""The ``digest`` check: a version's content digest, recomputed from its chunks with ``--full``."""

from __future__ import annotations

from typing import Any

from gridstore.digest import recompute
from gridstore.errors import GridstoreError
from gridstore.storage.registry import recorded_digest
from gridstore.validate.task import MAX_WHERE

__all__ = ["check_digest"]


def check_digest(run: Any, full: bool) -> str | None:
    """Check ``run``'s version's digest (a `gridstore.validate.version` run); return the recomputed one.

    Sampled validation only says what is recorded: the digest covers every
    chunk, so only ``full`` recomputes it, after the chunk checks: the last 4
    bytes of each chunk that passed its crc32c check, the whole of the others
    (all of them whole if more failed than the report keeps locations of, and
    on object storage, where only a whole read is checksummed: `recompute`).
    """
    recorded = run.meta.get("digest") or recorded_digest(run.store, run.name)
    if not full:
        run.passed["digest"] = (f"recorded {recorded}; recomputed by --full only" if recorded
                                else "no digest recorded (a version committed before digests)")  # fmt: skip
        return None
    # The workers checked every chunk's body against its crc32c: those that failed,
    # or were never read, are read whole; the others' stored crc32c is theirs.
    checked = len(run.where["checksums"]) < MAX_WHERE and len(run.good) == len(run.splits)
    suspects = set(run.bad_files) | set(run.where["checksums"]) if checked else None
    try:
        digest, damaged = recompute(run.store, run.name, suspects)
    except GridstoreError:  # an array's zarr.json unreadable (the structure check names it)
        run.fail("digest", "not recomputed: an array's zarr.json is unreadable (see structure)")
        return None
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
