"""The content hashes a validation read, spilled to temporary files by their top bits.

The client of a validation receives each task's hashes (8 bytes per image)
and a unique version's draws; it keeps none of them. They are buffered up to
`FLUSH_BYTES` and appended to one file per bucket of hash top bits and kind,
so that duplicates, which share a hash, share a bucket, and each bucket is
counted alone afterwards. Memory: the buffer plus one bucket (a few times
`BUCKET_BYTES`) whatever the version's size, up to 256 buckets (about 500 M
images; beyond that the buckets grow). Disk: 9 bytes per image read (hash and
split), 32 more per draw of a unique version when every chunk is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from gridstore.holdout.counting import heldout_duplicates
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.pairs.counting import count_twin_repeats
from gridstore.pairs.layout import PAIR
from gridstore.plan import SPLITS
from gridstore.statistics import BUCKET_BYTES, bucket_bits, count_duplicates
from gridstore.validate.unique import late_skips

__all__ = ["FLUSH_BYTES", "HashSpill"]

# Buckets of BUCKET_BYTES of hashes (16 MiB, held about six times while counted,
# as in gridstore.statistics): 8 buckets at 10**7 images. Flushing every 8 MiB
# appends ~50 KB per bucket file at 10**7 images (400 tasks per flush).
FLUSH_BYTES = 1 << 23
_MAX_BITS = 8
# content hash, and its group: a split's index in ALL_SPLITS, or 4 + it for the split's twins
_HASH = np.dtype([("h", "<u8"), ("s", "u1")])
_GROUPS = (*ALL_SPLITS, *(f"{s}/{PAIR}" for s in SPLITS))
_DRAW = np.dtype([("h", "<u8"), ("p", "<i8")])  # as gridstore.write.unique.taken_draws


def _once(part: dict[str, np.ndarray]) -> Callable[[], list[dict[str, np.ndarray]]]:
    return lambda: [part]


class HashSpill:
    """Hashes of the images read, and a unique version's draws, bucketed on disk.

    Parameters
    ----------
    directory : Path
        An empty temporary directory for the bucket files (the caller removes it).
    total : int
        Images expected: sets the number of buckets.
    bucket_bytes : int
        Bytes of hashes aimed at per bucket.
    """

    def __init__(self, directory: Path, total: int, bucket_bytes: int = BUCKET_BYTES) -> None:
        self.directory = directory
        self.bits = bucket_bits(total, bucket_bytes, _MAX_BITS)
        self.images = self.paired = self.twins = 0
        self._buffer: dict[str, list[np.ndarray]] = {"hashes": [], "taken": [], "passed": []}
        self._buffered = 0

    def add(
        self,
        hashes: dict[str, np.ndarray],
        taken: np.ndarray | None = None,
        passed: np.ndarray | None = None,
    ) -> None:
        """Take one task's content hashes by split (and twins), and its unique draws if any."""
        for group, h in hashes.items():
            rec = np.empty(len(h), _HASH)
            rec["h"], rec["s"] = h, _GROUPS.index(group)
            self._put("hashes", rec)
            if group in ALL_SPLITS:
                self.images += len(h)
                self.paired += len(h) if group in SPLITS else 0  # images that have a twin
            else:
                self.twins += len(h)
        for kind, draws in (("taken", taken), ("passed", passed)):
            if draws is not None:
                self._put(kind, draws.astype(_DRAW, copy=False))
        if self._buffered >= FLUSH_BYTES:
            self.flush()

    def _put(self, kind: str, rows: np.ndarray) -> None:
        self._buffer[kind].append(rows)
        self._buffered += rows.nbytes

    def _path(self, kind: str, bucket: int) -> Path:
        return self.directory / f"{kind}-{bucket:03d}.bin"

    def flush(self) -> None:
        """Append what is buffered to the bucket files."""
        for kind, parts in self._buffer.items():
            if not parts:
                continue
            rows = np.concatenate(parts)
            parts.clear()
            top = (
                rows["h"] >> np.uint64(64 - self.bits)
                if self.bits
                else np.zeros(len(rows), np.uint64)
            )
            order = np.argsort(top, kind="stable")
            rows, top = rows[order], top[order]
            edges = np.searchsorted(top, np.arange((1 << self.bits) + 1))
            for bucket in np.flatnonzero(np.diff(edges)):
                with open(self._path(kind, int(bucket)), "ab") as f:
                    rows[edges[bucket] : edges[bucket + 1]].tofile(f)
        self._buffered = 0

    def _load(self, kind: str, bucket: int) -> np.ndarray:
        path = self._path(kind, bucket)
        dtype = _HASH if kind == "hashes" else _DRAW
        return np.fromfile(path, dtype) if path.exists() else np.zeros(0, dtype)

    def _buckets(self) -> Iterator[int]:
        self.flush()
        return iter(range(1 << self.bits))

    def count_duplicates(
        self, splits: tuple[str, ...], twins: bool = False
    ) -> tuple[dict[str, int], dict[str, int] | None]:
        """Repeats within each split and contents in two splits, as `count_duplicates` counts.

        With ``twins``, a paired version's twin repeats and leaks too, as the
        commit counts them, in the same pass over the buckets (None unless a
        twin was read for every image that has one: no pairs, or a twin chunk
        that could not be read, already a failure).
        """
        total = {**{f"{s}_within": 0 for s in splits}, "cross_split": 0}
        paired: dict[str, int] | None = {} if twins and self.twins == self.paired > 0 else None
        for bucket in self._buckets():
            rec = self._load("hashes", bucket)
            n, part = len(rec), {s: rec["h"][rec["s"] == ALL_SPLITS.index(s)] for s in splits}
            if paired is not None:
                groups = {g: rec["h"][rec["s"] == i] for i, g in enumerate(_GROUPS)}
                for key, value in count_twin_repeats([groups]).items():
                    paired[key] = paired.get(key, 0) + value
            del rec
            counts = heldout_duplicates(count_duplicates, _once(part), splits, n)
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
        return total, paired

    def late_skips(self) -> int:
        """Draws passed over whose content was not taken at an earlier position."""
        return sum(
            late_skips(self._load("taken", b), self._load("passed", b)) for b in self._buckets()
        )
