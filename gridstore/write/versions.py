"""Build versions: create, resume or grow one, from a plan, with any engine.

The flow: claim a name and create the staged arrays; run the plan's tasks
(each writes one chunk of every array and then a record); merge the records
into the metadata; commit. Re-running an interrupted version runs only the
tasks without a record, which rewrite exactly the bytes they would have.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from gridstore._faults import crash_point
from gridstore._version import __version__
from gridstore.digest import DIGEST_SCHEME
from gridstore.engines import EngineName, default_workers, open_engine
from gridstore.errors import (
    WorkerLostError,
    resume_hint,
)
from gridstore.generate.rng import RNG_SCHEME
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
from gridstore.metadata import now, seed_fields
from gridstore.pairs.counting import pair_metadata
from gridstore.plan import Plan
from gridstore.statistics import summarize
from gridstore.storage import StoreBackend, open_backend
from gridstore.storage.layout import COMPRESSIONS
from gridstore.write import reduce, tasks, unique
from gridstore.write.holdout import hold_out_metadata
from gridstore.write.identity import commit_digest
from gridstore.write.progress import Phases, progress_bar

__all__ = ["create_version", "grow_version", "resume_version"]


def _run(
    store: StoreBackend,
    name: str,
    plan: Plan,
    *,
    engine: EngineName,
    workers: int | None,
    scheduler: str | None,
    show_progress: bool,
    grow_from: str | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    plan_json = json.dumps(plan.to_dict(), sort_keys=True)
    workers = workers or default_workers()
    jobs = reduce.plan_jobs(plan, workers)
    with store.version_lock(name):
        done = store.task_indices(name)
        if done:  # a record written without fsync may outlive its chunks (a power cut)
            rows = {t: plan.task_rows(plan.tasks[t]) for t in done}
            done -= set(store.drop_damaged_tasks(name, rows))
        todo = [t.index for t in plan.tasks if t.index not in done]
        already = sum(sum(b - a for a, b in plan.task_rows(plan.tasks[t]).values()) for t in done)
        # the commit's jobs start workers of their own only for a large version
        most = max(len(todo), len(jobs) if plan.num_images >= reduce.POOL_MIN_IMAGES else 1)
        with open_engine(engine, workers, scheduler, max_tasks=most) as pool:

            def run(fn: Callable[[int], Any], indices: list[int], on_done: Any) -> None:
                try:
                    pool(fn, indices, on_done)
                except WorkerLostError as err:
                    raise WorkerLostError(f"{err}; {resume_hint(str(store.path), name)}") from err

            if plan.unique and todo:  # first the draws each task passes over
                with progress_bar(None, 0, show_progress, f"{name} repeats") as bar:
                    unique.find_skips(store, name, plan, todo, partial(run, on_done=bar.update))
            with progress_bar(plan.num_images, already, show_progress, name) as bar:
                # A grow's first tasks, whole in the source, are copied by the workers
                # (unless the source is gone or encoded otherwise: they are generated,
                # to the bytes a fresh run writes).
                copy_tasks = 0
                if grow_from is not None and grow_from in store.versions():
                    old = Plan.from_dict(store.metadata(grow_from)["generation_params"])
                    if store.same_encoding(grow_from, name):
                        copy_tasks = old.num_images // (
                            plan.blocks_per_chunk * ROUTING_BLOCK_IMAGES
                        )
                fence = store.fence(name)
                task = partial(tasks.run_task, str(store.path), name, plan_json, fence,
                               grow_from=grow_from, copy_tasks=copy_tasks,
                               run=uuid.uuid4().hex)  # fmt: skip
                run(task, todo, bar.update)
            tasks_seconds = time.perf_counter() - started
            crash_point("before-commit")
            store.check_held(name)  # a writer that stalled past its lease stops here
            phases = Phases(name, show_progress)
            phases.seconds["tasks"] = tasks_seconds
            phases.start("merging")  # statistics, duplicates and sizes, read by the workers
            results: list[dict[str, Any]] = []

            def collect(result: dict[str, Any]) -> None:
                results.append(result)
                phases.step(len(results), len(jobs))

            run(
                partial(reduce.run_job, str(store.path), name, plan_json, fence, jobs),
                list(range(len(jobs))),
                collect,
            )
        merged = reduce.merge(results)
        for t, note in sorted(merged.notes.items()):
            if t in todo:  # a task of this run that could not be copied
                warnings.warn(note, RuntimeWarning, stacklevel=1)
        if merged.missing_count:
            raise store.incomplete(name, merged.missing, merged.missing_count)
        # every chunk is there: the digest of their crc32c, as the records jobs returned them
        digest = commit_digest(plan, merged.crcs)
        metadata = _metadata(
            store, name, plan, merged, digest, phases, engine, workers, grow_from, created
        )
        metadata |= pair_metadata(plan, merged.counts, merged.pair_duplicates)  # {} without pairs
        store.commit(
            name, metadata, None, phases.start, copied=merged.copied and store.publishes_by_copy
        )
        phases.close()
    return metadata


def _metadata(
    store: StoreBackend,
    name: str,
    plan: Plan,
    merged: reduce.Merged,
    digest: str,
    phases: Phases,
    engine: str,
    workers: int,
    grow_from: str | None,
    created: str | None,
) -> dict[str, Any]:
    g = plan.config.grid_size
    on_disk, images_on_disk = merged.bytes, merged.image_bytes
    raw = sum(
        int(np.prod(shape)) * np.dtype(dtype).itemsize
        for arrays in plan.array_shapes().values()
        for shape, _, dtype in arrays.values()
    )
    counts = plan.split_counts
    codecs = COMPRESSIONS[plan.compression]
    phases.start("writing metadata")  # the phases timed so far are the metadata's
    seconds = phases.seconds["tasks"]
    file_format = {
        "format": "zarr",
        "zarr_format": 3,
        "dtype": "uint8",
        "compression": ", ".join(f"{a}: {_describe(c)}" for a, c in codecs.items()),
        "checksum": "crc32c",
        "codecs": codecs,
        "chunk_images": plan.chunk_images,
        "chunks": {s: -(-counts[s] // plan.chunk_images[s]) for s in plan.splits},
    }
    held = hold_out_metadata(plan, merged)  # {} without hold-out conditions
    return (
        seed_fields(name, plan.to_dict(), counts, file_format, timestamp=created)
        | held
        | {
            "committed": now(),
            "gridstore_version": __version__,
            "rng": {"scheme": RNG_SCHEME, "routing_block_images": ROUTING_BLOCK_IMAGES},
            "storage": {
                "bytes_on_disk": on_disk,
                "image_bytes_on_disk": images_on_disk,
                "raw_bytes": raw,
                "compression_ratio": raw / on_disk if on_disk else None,
                "image_bytes_per_image": images_on_disk / plan.num_images,
            },
            "statistics": {s: summarize(merged.counts[s], g) for s in plan.splits},
            "digest": digest,  # see gridstore.digest
            "digest_scheme": DIGEST_SCHEME,
            "duplicates": merged.duplicates,
            "generation": {
                # the tasks' time (the whole command's is printed by `generate`)
                "wall_seconds": seconds,
                "images_per_second": plan.num_images / seconds if seconds else None,
                # the phases before this metadata was written (flushing and publishing come after)
                "phase_seconds": dict(phases.seconds),
                "engine": engine,
                "workers": workers,
                # images drawn to fill the routed quotas (copied tasks count 0)
                "draws": merged.draws,
                # a unique version's draws passed over as repeats (copied tasks count 0)
                "skipped_repeats": merged.skipped if plan.unique else None,
                "grown_from": grow_from,
                # unique to this run: makes the published zarr.json this writer's own bytes
                "writer": store.token,
            },
        }
    )


def _describe(codec: dict[str, Any]) -> str:
    if "zstd_level" in codec:
        return f"zstd level {codec['zstd_level']}"
    return f"blosc {codec['cname']} level {codec['clevel']} {codec['shuffle']}"


def create_version(
    store: str | os.PathLike[str],
    plan: Plan,
    *,
    name: str | None = None,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Generate a new version into a store (created if needed) and commit it.

    Parameters
    ----------
    store : path
        The store directory.
    plan : Plan
        What to generate.
    name : str, optional
        ``YYYY-MM-DD-vN``; default the next free name of today.
    engine, workers, scheduler
        See :func:`gridstore.engines.run_tasks`.
    show_progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    dict
        The committed version's metadata.

    Raises
    ------
    GridstoreError
        Bad store path or name, a name already taken, a locked version, no space.
    """
    s = open_backend(store, create=True)
    name = s.claim_version(name)
    crash_point("after-claim")  # claimed, no plan recorded yet
    created = now()
    s.create_arrays(name, {"plan": plan.to_dict(), "created": created}, plan.array_shapes())
    return _run(
        s,
        name,
        plan,
        engine=engine,
        workers=workers,
        scheduler=scheduler,
        show_progress=show_progress,
        created=created,
    )


def resume_version(
    store: str | os.PathLike[str],
    name: str,
    *,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Finish an interrupted version: run only its missing tasks, then commit.

    The result is byte-identical to an uninterrupted run.

    Raises
    ------
    VersionNotFoundError
        No unfinished version of that name.
    StoreLockedError
        Another process is writing it.
    """
    s = open_backend(store)
    record = s.staged_plan(name)
    return _run(
        s,
        name,
        Plan.from_dict(record["plan"]),
        engine=engine,
        workers=workers,
        scheduler=scheduler,
        show_progress=show_progress,
        grow_from=record.get("grow_from"),
        created=record.get("created"),
    )


def grow_version(
    store: str | os.PathLike[str],
    source: str,
    num_images: int,
    *,
    name: str | None = None,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Make a new version holding ``source``'s images plus more.

    Whole chunks of ``source`` are copied; only the rest is generated. The
    result is byte-identical to generating ``num_images`` from scratch with
    the same parameters and seed.

    Raises
    ------
    ConfigError
        ``num_images`` is not larger than the source's.
    """
    s = open_backend(store)
    old = Plan.from_dict(s.metadata(source)["generation_params"])
    plan = old.grown(num_images, source)
    name = s.claim_version(name)
    created = now()
    s.create_arrays(
        name, {"plan": plan.to_dict(), "created": created, "grow_from": source}, plan.array_shapes()
    )
    return _run(
        s,
        name,
        plan,
        engine=engine,
        workers=workers,
        scheduler=scheduler,
        show_progress=show_progress,
        grow_from=source,
        created=created,
    )
