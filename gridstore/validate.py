"""Check a committed version: structure, integrity, constraints and regeneration, sampled lazily.

Cheap checks (metadata, array structure, split counts, which chunk files exist)
always cover the whole version: they read metadata and list directories only.
Data checks read a sample of chunk indices, one task at a time: chunk ``c`` of
every split is written by task ``c`` of the plan, so one regeneration checks
the same index in all three splits. Memory is one task's data (about 20 000
images with their annotations, twice: stored and regenerated), plus, with
``full=True``, one 8-byte content hash per image for the cross-split duplicate
count (100 M images: 800 MB, plus sort temporaries of the largest split).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gridstore.errors import ConfigError, GridstoreError, VersionNotFoundError
from gridstore.plan import SPLITS, Plan
from gridstore.store import Store

__all__ = ["CHECKS", "CheckResult", "ValidationReport", "choose_chunks", "validate_version"]

CHECKS = ("metadata", "structure", "split_counts", "chunks_present", "checksums", "values",
          "constraints", "instance_maps", "regeneration", "duplicates")  # fmt: skip
_FIELDS = ("images", "num_objects", "object_type", "object_subtype", "object_colour",
           "object_size", "object_bbox", "instance_map")  # fmt: skip
_INSTANCE_RULES = ("instance_labels", "image_matches_instances")
_REQUIRED = ("version", "timestamp", "generation_params.num_images", "generation_params.seed",
             "generation_params.grid_size", "generation_params.splits", "dataset_info.total_count",
             *(f"dataset_info.{s}_count" for s in SPLITS), "memory_info", "file_format.dtype",
             "file_format.compression", "file_format.chunk_images", "state")  # fmt: skip
_MAX_WHERE = 100  # locations kept per check; the detail gives the total
_MIN_CHUNK_BYTES = 21  # blosc header (16) + one byte + crc32c (4): anything shorter is truncated


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one named check; ``where`` lists failing chunk keys or ``split:index`` images."""

    name: str
    ok: bool
    detail: str
    where: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """Result of :func:`validate_version`: one :class:`CheckResult` per entry of ``CHECKS``."""

    version: str
    store: str
    checks: list[CheckResult]
    full: bool
    seed: int
    chunks: dict[str, list[int]]  # chunk indices whose data was checked, per split
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> CheckResult:
        """Return the result of check ``name``."""
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (what ``gridstore validate --json`` prints)."""
        return {"version": self.version, "store": self.store, "ok": self.ok,
                "mode": "full" if self.full else "sampled", "seed": self.seed,
                "chunks": self.chunks, "seconds": round(self.seconds, 3),
                "checks": [asdict(c) for c in self.checks]}  # fmt: skip

    def summary_lines(self, *, header: bool = True, limit: int = 5) -> list[str]:
        """Return a human report: a header, then ``PASS|FAIL name: detail [at ...]`` per check."""
        lines = []
        if header:
            n = sum(map(len, self.chunks.values()))
            mode = "every chunk" if self.full else f"{n} sampled chunks (seed {self.seed})"
            bad = sum(not c.ok for c in self.checks)
            verdict = "OK" if self.ok else f"FAILED ({bad} of {len(self.checks)} checks)"
            lines.append(f"version {self.version}: {verdict}; data checks on {mode}, {self.seconds:.1f} s")
        for c in self.checks:
            at = ""
            if not c.ok and c.where:
                more = f" (+{len(c.where) - limit} more)" if len(c.where) > limit else ""
                at = f" [at {', '.join(c.where[:limit])}{more}]"
            lines.append(f"{'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail}{at}")
        return lines


def choose_chunks(num_chunks: int, sample: int | None, seed: int, last: tuple[int, ...] = ()) -> list[int]:
    """Pick ``sample`` of ``num_chunks`` chunk indices: the last one plus uniform others.

    Parameters
    ----------
    num_chunks : int
        Chunks to pick from.
    sample : int or None
        How many; None (or more than there are) picks all.
    seed : int
        Seeds ``numpy.random.default_rng``: the same seed picks the same chunks.
    last : tuple of int
        Further indices always included (the last chunk of a shorter split).

    Returns
    -------
    list of int
        Sorted chunk indices.

    Examples
    --------
    >>> choose_chunks(10, 3, seed=0)[-1]
    9
    """
    if num_chunks <= 0:
        return []
    if sample is None or sample >= num_chunks:
        return list(range(num_chunks))
    rng = np.random.default_rng(seed)
    picked = rng.choice(num_chunks - 1, size=sample - 1, replace=False) if sample > 1 else []
    return sorted({num_chunks - 1, *map(int, picked), *(c for c in last if 0 <= c < num_chunks)})


class _Findings:
    """Failure locations and notes gathered per check during the data pass."""

    def __init__(self) -> None:
        self.where: dict[str, list[str]] = {c: [] for c in CHECKS}
        self.count: dict[str, int] = dict.fromkeys(CHECKS, 0)
        self.notes: dict[str, list[str]] = {c: [] for c in CHECKS}

    def add(self, check: str, locations: list[str], note: str = "") -> None:
        self.count[check] += len(locations)
        room = _MAX_WHERE - len(self.where[check])
        self.where[check].extend(locations[: max(room, 0)])
        if note:
            self.notes[check].append(note)

    def result(self, check: str, passed: str, failed: str = "") -> CheckResult:
        notes = self.notes[check]
        if self.count[check] == 0 and not notes:
            return CheckResult(check, True, passed)
        more = "; ".join(notes[:5]) + (f"; +{len(notes) - 5} more" if len(notes) > 5 else "")
        return CheckResult(check, False, f"{failed}{more}" if failed else more, self.where[check])


def _get(meta: dict[str, Any], dotted: str) -> Any:
    value: Any = meta
    for part in dotted.split("."):
        value = value[part]
    return value


def _check_metadata(name: str, meta: dict[str, Any]) -> CheckResult:
    missing = []
    for dotted in _REQUIRED:
        try:
            _get(meta, dotted)
        except (KeyError, TypeError):
            missing.append(dotted)
    problems = [f"missing {', '.join(missing)}"] if missing else []
    if meta.get("state") != "complete" and "state" not in missing:
        problems.append(f"state is {meta['state']!r}, expected 'complete'")
    if meta.get("version", name) != name:
        problems.append(f"version field {meta['version']!r} differs from the group name {name!r}")
    if not problems:
        return CheckResult("metadata", True, f"all {len(_REQUIRED)} required fields present; state complete")
    return CheckResult("metadata", False, "; ".join(problems), missing)


def _expected_arrays(meta: dict[str, Any], split: str, plan: Plan) -> dict[str, tuple[tuple[int, ...], str]]:
    n, g, k = int(meta["dataset_info"][f"{split}_count"]), int(meta["generation_params"]["grid_size"]), plan.config.max_objects
    shapes = {"images": (n, g, g), "instance_map": (n, g, g), "num_objects": (n,), "object_bbox": (n, k, 4)}
    return {f: (shapes.get(f, (n, k)), "uint16" if f == "object_size" else "uint8") for f in _FIELDS}


def _check_structure(store: Store, name: str, meta: dict[str, Any], plan: Plan | None,
                     plan_error: str) -> tuple[dict[str, dict[str, Any]], set[str], CheckResult]:  # fmt: skip
    """Open every array; return them, the splits whose arrays all match the metadata, the result."""
    import zarr
    from zarr.codecs import Crc32cCodec

    arrays: dict[str, dict[str, Any]] = {s: {} for s in SPLITS}
    good, where, problems = set(), [], []
    for split in SPLITS:
        try:
            expected = _expected_arrays(meta, split, plan) if plan is not None else None
            chunk = int(meta["file_format"]["chunk_images"][split])
        except (KeyError, TypeError, ValueError) as err:
            expected, plan_error = None, plan_error or f"metadata lacks {err}"
        split_ok = expected is not None
        for f in _FIELDS:
            key = f"{name}/{split}/{f}"
            try:
                arr = zarr.open_array(store=str(store.chunk_path(name)), path=f"{split}/{f}", mode="r")
            except (OSError, ValueError, TypeError, KeyError) as err:
                where.append(key)
                problems.append(f"{key} cannot be opened ({type(err).__name__})")
                split_ok = False
                continue
            arrays[split][f] = arr
            if expected is None:
                continue
            shape, dtype = expected[f]
            want = {"shape": shape, "dtype": dtype, "chunks": (chunk, *shape[1:])}
            got = {"shape": tuple(arr.shape), "dtype": str(arr.dtype), "chunks": tuple(arr.chunks)}
            bad = [f"{w} {got[w]} != {want[w]}" for w in want if got[w] != want[w]]
            if not any(isinstance(c, Crc32cCodec) for c in arr.metadata.codecs):
                bad.append("no crc32c codec")
            if bad:
                where.append(key)
                problems.append(f"{key}: {', '.join(bad)}")
                split_ok = False
        if split_ok:
            good.add(split)
    if plan is None:
        problems.insert(0, f"cannot rebuild the plan from generation_params: {plan_error}")
    elif plan_error:
        problems.insert(0, plan_error)
    if plan is not None and meta.get("file_format", {}).get("chunk_images") != plan.chunk_images:
        problems.append(f"file_format.chunk_images differs from the plan's {plan.chunk_images}")
    if not problems:
        return arrays, good, CheckResult("structure", True, f"{len(SPLITS) * len(_FIELDS)} arrays have the expected shape, dtype, chunks and crc32c")
    return arrays, good, CheckResult("structure", False, "; ".join(problems[:8]), where)
