"""The commit's reading, as engine tasks: statistics, duplicate counts and sizes of a staged version.

After the generation tasks, everything the metadata needs is read by jobs on
the same engine (the process pool, or Dask), and the client only adds up their
small results, so its time and memory do not grow with the version:

- a ``records`` job merges the statistics of a range of task records, and
  returns their chunks' crc32c (4 bytes a chunk) for the content digest;
- a ``duplicates`` job counts repeats among the hashes of a range of
  partitions, reading that range of every task's hash file (tasks store their
  hashes sorted and cut by their top `hash_bits` bits,
  `gridstore.storage.records`); repeats share a hash, so the counts of
  disjoint partitions add up exactly;
- a ``sizes`` job lists one array's stored objects: its bytes, and the chunks
  the plan requires that are missing.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from gridstore.digest import split_arrays
from gridstore.holdout.counting import heldout_duplicates
from gridstore.pairs.counting import count_twin_repeats
from gridstore.pairs.writing import hash_groups
from gridstore.plan import SPLITS, Plan
from gridstore.statistics import count_duplicates, duplicate_count_bytes, merge_counts
from gridstore.storage import backend
from gridstore.storage.layout import CHUNK_KEY_SEPARATOR, chunk_key, staged_key
from gridstore.write.identity import pack_crcs, task_crcs

__all__ = [
    "HASH_PARTITION",
    "JOB_HASHES",
    "POOL_MIN_IMAGES",
    "Job",
    "Merged",
    "hash_bits",
    "job_bytes",
    "merge",
    "plan_jobs",
    "run_job",
]

# Hashes per partition of a task's hash file, aimed at: the partitions are the
# unit the duplicate count is split into (10**8 images: 64 partitions).
HASH_PARTITION = 1 << 21
# Hashes a duplicates job reads at once, aimed at (32 MiB); fewer jobs, fewer reads
# of every task's file.
JOB_HASHES = 1 << 22
# It counts them in buckets of this size (each held about six times over in
# `count_duplicates`): a worker's peak stays near a generation task's, flat in N.
JOB_BUCKET_BYTES = 1 << 21
RECORDS_PER_JOB = 1024
# A smaller version's jobs run where its tasks ran: in this process when they
# did, since starting workers would take longer than the jobs.
POOL_MIN_IMAGES = 1_000_000


def hash_bits(num_images: int) -> int:
    """Top bits that cut a version's hashes into partitions of about `HASH_PARTITION`.

    At least 4 (16 partitions, so that small versions still spread over
    workers), at most 12.
    """
    return min(12, max(4, ((max(num_images, 1) - 1) // HASH_PARTITION).bit_length()))


@dataclass(frozen=True)
class Job:
    """One piece of the commit's reading: what it reads, ``[start, stop)`` of it."""

    kind: Literal["records", "duplicates", "sizes"]
    start: int = 0  # first task (records), partition (duplicates)
    stop: int = 0
    array: str = ""  # sizes: "<split>/<array>"


def _duplicates_jobs(num_images: int, workers: int) -> int:
    return min(1 << hash_bits(num_images), max(2 * workers, -(-num_images // JOB_HASHES)))


def job_bytes(num_images: int, workers: int, paired: bool = False) -> int:
    """Peak memory of a duplicates job: its hashes, and a bucket of them held about six times.

    A paired version's job also holds its twins' hashes, and counts their
    repeats with its images' about six times over (`count_twin_repeats`).
    """
    hashes = -(-num_images // _duplicates_jobs(num_images, workers))
    twins = 8 * hashes + 6 * 8 * 2 * hashes if paired else 0
    return 8 * hashes + duplicate_count_bytes(hashes, JOB_BUCKET_BYTES) + twins


def plan_jobs(plan: Plan, workers: int) -> list[Job]:
    """The jobs of a plan's commit, the longest first (duplicates, sizes, records)."""
    parts = 1 << hash_bits(plan.num_images)
    count = _duplicates_jobs(plan.num_images, workers)
    edges = [parts * i // count for i in range(count + 1)]
    jobs = [Job("duplicates", a, b) for a, b in itertools.pairwise(edges) if b > a]
    shapes = plan.array_shapes()
    jobs += [Job("sizes", array=f"{s}/{a}") for s in plan.splits for a in shapes[s]]
    tasks = len(plan.tasks)
    jobs += [
        Job("records", t, min(t + RECORDS_PER_JOB, tasks)) for t in range(0, tasks, RECORDS_PER_JOB)
    ]
    return jobs


def run_job(
    store_path: str, name: str, plan_json: str, fence: str | None, jobs: list[Job], index: int
) -> dict[str, Any]:
    """Run job ``index`` of ``jobs`` (an engine task): its small, additive result.

    ``fence``: the writer's (`StoreBackend.fence`), checked before a sizes job
    copies objects for publishing.
    """
    job, plan = jobs[index], Plan.from_dict(json.loads(plan_json))
    store = backend(store_path)  # the writer opened it; a GET per job saved
    if job.kind == "records":
        return _records(store, name, plan, job)
    if job.kind == "duplicates":
        return _duplicates(store, name, plan, job)
    return _sizes(store, name, plan, job, fence)


def _groups(docs: list[dict[str, Any]]) -> list[str]:
    """The count groups of task records, in order: the splits (and a paired version's twins)."""
    return list(dict.fromkeys(g for d in docs for g in d["counts"]))


def _records(store: Any, name: str, plan: Plan, job: Job) -> dict[str, Any]:
    indices = list(range(job.start, job.stop))
    docs = store.task_records(name, indices)
    # a record of an older gridstore has no crc32c: its chunks' are read from the store
    pairs = zip(indices, docs, strict=True)
    shapes = plan.array_shapes()  # FIELDS, and a paired one's pairs (not heldout's)
    width = {s: len(split_arrays(shapes[s])) for s in plan.splits}
    crcs = pack_crcs(
        ((t, d.get("crc32c") or task_crcs(store, name, plan, t)) for t, d in pairs), width
    )
    return {
        # each split's, and a paired version's twins' (groups "<split>/pair")
        "counts": {g: merge_counts(d["counts"].get(g, {}) for d in docs) for g in _groups(docs)},
        "draws": sum(d["draws"] for d in docs),
        "held": sum(d.get("held", 0) for d in docs),
        "heldout_draws": sum(d.get("heldout_draws", 0) for d in docs),
        "skipped": sum(d.get("skipped", 0) for d in docs),
        "notes": {t: d["note"] for t, d in zip(indices, docs, strict=True) if "note" in d},
        "crc32c": crcs,
    }


def _duplicates(store: Any, name: str, plan: Plan, job: Job) -> dict[str, Any]:
    tasks = [t.index for t in plan.tasks]
    bits = hash_bits(plan.num_images)
    groups = hash_groups(plan)  # a paired version's files hold its twins' hashes too
    parts = list(store.hash_parts(name, tasks, groups, bits, range(job.start, job.stop)))
    total = sum(len(p[s]) for p in parts for s in plan.splits)
    count = functools.partial(count_duplicates, bucket_bytes=JOB_BUCKET_BYTES)
    out = {"duplicates": heldout_duplicates(count, lambda: parts, plan.splits, total)}
    return out | ({"pair_duplicates": count_twin_repeats(parts)} if plan.pairs else {})


def _sizes(store: Any, name: str, plan: Plan, job: Job, fence: str | None) -> dict[str, Any]:
    split, array = job.array.split("/", 1)  # a pair array: "train/pair/images"
    shapes = plan.array_shapes()[split]
    shape, chunks, _ = shapes[array]
    parts = {job.array: store.staged_sizes(name, job.array)}
    separator = (  # the array's own, as its zarr.json says (missing: the keys of today)
        store.chunk_separator(f"{staged_key(name)}/{job.array}")
        if "zarr.json" in parts[job.array]
        else CHUNK_KEY_SEPARATOR
    )
    count = -(-shape[0] // chunks[0])
    required = ["zarr.json"] + [
        chunk_key("", i, len(shape), separator).lstrip("/") for i in range(count)
    ]
    missing = [f"{job.array}/{k}" for k in required if k not in parts[job.array]]
    image_bytes = sum(parts[job.array].values()) if array == "images" else 0
    group = array.rpartition("/")[0]  # "" for the split's own arrays, "pair", "intervention"
    prefix = f"{group}/" if group else ""
    if array == next(a for a in shapes if a.rpartition("/")[0] == group):
        # the first array of its group takes the group's own document, and what else it holds
        where = f"{split}/{prefix}".rstrip("/")
        doc = store.get(f"{staged_key(name)}/{where}/zarr.json")
        missing += [f"{where}/zarr.json"] if doc is None else []
        parts[where] = {"zarr.json": len(doc)} if doc is not None else {}
        held = {a[len(prefix) :].split("/")[0] for a in shapes if a.startswith(prefix)}
        others = set(store.staged_children(name, where)) - {*held, "zarr.json"}
        parts |= {f"{where}/{o}": store.staged_sizes(name, f"{where}/{o}") for o in sorted(others)}
    if store.publishes_by_copy and not missing:  # object storage: copied here, not by the client
        if fence is not None:
            store.check_fence(name, fence)
        for below, stored in parts.items():
            store.copy_staged(name, below, list(stored))
    return {"bytes": sum(sum(p.values()) for p in parts.values()), "image_bytes": image_bytes,
            "missing": missing[:3], "missing_count": len(missing), "copied": store.publishes_by_copy and not missing}  # fmt: skip


@dataclass
class Merged:
    """The jobs' results added up: what the metadata and the commit's check need."""

    counts: dict[str, dict[str, Any]]
    duplicates: dict[str, int]
    draws: int = 0
    skipped: int = 0
    held: int = 0  # a hold-out version's draws passed over as matching
    heldout_draws: int = 0  # and the heldout split's draws
    bytes: int = 0
    image_bytes: int = 0
    missing_count: int = 0
    copied: bool = True  # every sizes job copied its objects for publishing
    notes: dict[int, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    # per split, each records job's (tasks, crc32c per array): `identity.commit_digest`
    crcs: dict[str, list[tuple[Any, Any]]] = field(default_factory=dict)
    pair_duplicates: dict[str, int] = field(default_factory=dict)  # a paired version's twins


def merge(results: list[dict[str, Any]]) -> Merged:
    """Add up the results of a commit's jobs (any order)."""
    out = Merged({s: {} for s in SPLITS}, {**{f"{s}_within": 0 for s in SPLITS}, "cross_split": 0})
    for r in results:
        for key, value in r.get("duplicates", {}).items():
            out.duplicates[key] = out.duplicates.get(key, 0) + value
        for key, value in r.get("pair_duplicates", {}).items():
            out.pair_duplicates[key] = out.pair_duplicates.get(key, 0) + value
        if "counts" in r:
            out.counts |= {
                g: merge_counts([out.counts.get(g, {}), c]) for g, c in r["counts"].items()
            }
            out.draws += r["draws"]
            out.skipped += r["skipped"]
            out.held += r.get("held", 0)
            out.heldout_draws += r.get("heldout_draws", 0)
            out.notes |= r["notes"]
        for split, part in r.get("crc32c", {}).items():
            out.crcs.setdefault(split, []).append(part)
        out.bytes += r.get("bytes", 0)
        out.image_bytes += r.get("image_bytes", 0)
        out.missing_count += r.get("missing_count", 0)
        out.missing += r.get("missing", [])
        if "copied" in r:
            out.copied = out.copied and r["copied"]
    return out
