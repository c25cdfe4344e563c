"""Tombstones: a deleted version's name, kept so that it is never given to another version.

`StoreBackend.delete` writes one (`bury`) before it removes anything, durably;
`StoreBackend.claim_version` skips their names (`buried`), and a claim that
races a delete looks for one after its exclusive create (`is_buried`). The
backends write them, so they live here, below `gridstore.storage.registry`
(tags and notes), which reads them for its messages.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gridstore.storage.chunks import ChunkStore
from gridstore.storage.layout import NOTES, TOMBSTONES, VERSION_RE

__all__ = ["buried", "bury", "is_buried"]


def buried(store: ChunkStore) -> set[str]:
    """Names of the store's deleted versions (one listing)."""
    return {n for n in store._list(TOMBSTONES) if VERSION_RE.match(n)}


def is_buried(store: ChunkStore, name: str) -> bool:
    """True if version ``name`` was deleted (one read)."""
    return store.get(f"{TOMBSTONES}/{name}") is not None


def bury(store: ChunkStore, name: str, meta: dict[str, Any]) -> None:
    """Write the tombstone of version ``name`` (metadata ``meta``): first in a delete.

    It keeps what identifies the deleted data: creation time, seed, size and
    content digest (the one recorded after the commit, for an older version).
    """
    params = meta.get("generation_params", {})
    later = store.get(f"{NOTES}/{name}.digest")  # a digest recorded after the commit
    doc = {
        "version": name,
        "deleted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "created": meta.get("timestamp"),
        "seed": params.get("seed"),
        "num_images": params.get("num_images"),
        "digest": meta.get("digest") or (json.loads(later)["digest"] if later else None),
    }
    store._put_record(f"{TOMBSTONES}/{name}", json.dumps(doc, indent=2).encode())
