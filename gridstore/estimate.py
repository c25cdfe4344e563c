"""What a run will cost before it starts: disk, memory, time and duplicates, measured on samples.

The sample is one routing block generated and compressed here with the
store's codecs, so the estimate follows whatever parameters were chosen.
The duplicates are forecast from a larger sample (`gridstore.forecast`).
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridstore.engines import default_workers, runs_here
from gridstore.errors import InsufficientSpaceError
from gridstore.forecast import DuplicateForecast, forecast_duplicates
from gridstore.generate.batch import generate_blocks, load_kernels
from gridstore.plan import SPLITS, Plan, estimate_memory, format_bytes
from gridstore.storage import StoreBackend
from gridstore.storage.layout import array_docs, chunk_encoder
from gridstore.workers import forks_warm
from gridstore.write.unique import first_pass_draws

__all__ = ["RunEstimate", "check_free_space", "estimate_run"]

SAFETY = 1.2  # disk headroom over the estimate before a run is refused
# A worker holds a task's arrays about three times over on top of its
# interpreter: its reused buffers, the encoded chunks with Blosc's output
# buffers, and the freed memory its allocator keeps (workers.keep_freed_memory).
# Plans of 2M and 10M print 236 and 227 MiB for the largest process; 233 and 227 measured.
TASK_COPIES = 3
# Mapping cached kernels in a fresh process (LLVM's code pages); measured warm,
# this figure stands in for it when the cache is cold and nothing was loaded.
KERNEL_LOAD_BYTES = 30 << 20


@dataclass(frozen=True)
class RunEstimate:
    """Expected cost of a plan: bytes, memory and time after the plan is printed.

    ``compile_seconds`` is the one-time compile of the kernels this process just
    did (0 when they came from the cache); it is not part of ``seconds``.
    ``record_bytes`` is the task records (each image's 8-byte content hash,
    and each of a unique run's first-pass draws'), on disk next to the chunks
    until the commit. ``duplicates`` forecasts the
    repeats a plain run would record; a ``unique`` run passes over them
    instead: ``unique_seconds``, part of ``seconds``, is its first pass over
    ``first_pass_draws`` draws.
    """

    raw_image_bytes: int
    disk_bytes: int
    peak_process_bytes: int
    peak_total_bytes: int
    seconds: float
    compile_seconds: float = 0.0
    record_bytes: int = 0
    duplicates: DuplicateForecast | None = None
    unique: bool = False
    unique_seconds: float = 0.0
    first_pass_draws: int = 0
    hold_out_seconds: float | None = None  # part of seconds: hold-out's extra draws

    @property
    def needed_bytes(self) -> int:
        """Disk space the run needs before its commit: its chunks and its task records."""
        return self.disk_bytes + self.record_bytes

    def lines(self) -> list[str]:
        """Human-readable lines for the plan printout."""
        lines = [
            f"raw images:       {format_bytes(self.raw_image_bytes)} (estimate_memory)",
            f"on disk (est.):   {format_bytes(self.disk_bytes)} with annotations",
            f"peak memory:      {format_bytes(self.peak_process_bytes)} largest process, "
            f"{format_bytes(self.peak_total_bytes)} all processes",
            f"time (est.):      {_duration(self.seconds)}",
        ]
        if self.compile_seconds:
            lines.append(
                f"compiled:         {self.compile_seconds:.1f} s (once: cached for later runs)"
            )
        if self.duplicates is not None:
            lines += _duplicate_lines(
                self.duplicates, self.unique, self.unique_seconds, self.first_pass_draws
            )
        return lines


def _duplicate_lines(
    forecast: DuplicateForecast, unique: bool, seconds: float, first_pass: int
) -> list[str]:
    """The forecast's lines: the share of repeats, and what a unique run draws to avoid them."""
    f = forecast
    detail = _about(f.duplicates)
    if f.cross_split:
        detail += f": {_about(f.within_split)} within splits, {_about(f.cross_split)} across"
    share = f"{_percent(f.share)} of images ({detail})"
    lines = [f"duplicates (est.): {f'none; a plain run would hold {share}' if unique else share}"]
    if unique and f.extra_draws is None:
        lines.append(
            f"unique:           out of reach: these parameters are not expected to make "
            f"{f.num_images:,} distinct images"
        )
    elif unique and f.extra_draws is not None:
        lines.append(
            f"unique:           +{_percent(f.extra_draws / f.num_images)} generation "
            f"({_about(f.extra_draws)} extra images drawn; first pass {_duration(seconds)}, "
            f"hashing {_about(first_pass)} draws)"
        )
    return lines


def _about(count: int) -> str:
    """A forecast count to three significant digits: ``_about(205568) == '206,000'``."""
    if count < 1000:
        return f"{count:,}"
    digits = len(str(count)) - 3
    return f"{round(count, -digits):,}"


def _percent(share: float) -> str:
    """A share as a percentage, two significant digits below 0.1%."""
    if share == 0 or share >= 0.001:
        return f"{share:.1%}"
    return f"{100 * share:.2g}%"


# The commit's costs per stored file (calibrated with benchmarks/bench_scale.py at
# 10**6..10**8 images): a job lists it and reads a task file's partitions, on the
# workers; the client makes every file durable and publishes the version.
LIST_FILE_SECONDS = 30e-6
PUBLISH_FILE_SECONDS = 20e-6


def _count_seconds_per_hash() -> float:
    """The duplicate count's time per hash, timed here on 2**18 random hashes."""
    from gridstore.statistics import count_duplicates

    n = 1 << 18
    h = np.random.default_rng(0).integers(0, 2**63, n, dtype=np.uint64)
    started = time.perf_counter()
    count_duplicates(lambda: [{"train": h}], ("train",), n)
    return (time.perf_counter() - started) / n


def _commit_seconds(plan: Plan, per_hash: float, workers: int) -> float:
    """The commit: its jobs spread over the workers, then the client's publishing."""
    from gridstore.write.reduce import plan_jobs

    files = len(plan.tasks) * (sum(len(a) for a in plan.array_shapes().values()) + 2)
    reads = len(plan.tasks) * sum(j.kind == "duplicates" for j in plan_jobs(plan, workers))
    jobs = per_hash * plan.num_images + LIST_FILE_SECONDS * (files + reads)
    return jobs / workers + PUBLISH_FILE_SECONDS * files


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _max_rss_bytes() -> int:
    """This process's peak resident memory.

    On Linux, the high-water mark of its own memory (VmHWM): ``ru_maxrss``
    survives exec, so a process started by a large one would inherit its peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # macOS counts bytes


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _encoders(arrays: dict[str, np.ndarray], rows: int, compression: str) -> dict[str, Any]:
    """The writer's chunk encoder (codec, crc32c) for arrays like these of ``rows`` rows, one chunk."""
    shapes = {"s": {k: ((rows, *a.shape[1:]),) * 2 + (a.dtype.name,) for k, a in arrays.items()}}
    docs = array_docs("sample", shapes, compression)
    return {k: chunk_encoder(json.loads(docs[f"s/{k}/zarr.json"]), k)[0] for k in arrays}


def _twin_cost(plan: Plan, block: Any, rows: int) -> tuple[int, float]:
    """The encoded bytes of a sample block's twins, and the seconds to make and encode them."""
    from gridstore.generate.hashing import content_hashes
    from gridstore.pairs.interventions import make_twins
    from gridstore.pairs.layout import INTERVENTION, PAIR

    started = time.thread_time()
    parts = []
    for k in range(len(SPLITS)):
        twins, ann, rec = make_twins(block.images[k], block.annotations[k], plan.pairs,
                                     plan.config, seed=plan.seed, block=k, first=0)  # fmt: skip
        parts.append({f"{PAIR}/images": twins} | {f"{PAIR}/{f}": v for f, v in ann.as_dict().items()}
                     | {f"{INTERVENTION}/{f}": v for f, v in rec.items()})  # fmt: skip
    arrays = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    content_hashes(arrays[f"{PAIR}/images"])
    seconds = time.thread_time() - started
    encoders = _encoders(arrays, rows, plan.compression)  # zarr's documents: not a task's cost
    started = time.thread_time()
    encoded = sum(len(encoders[k](a)) for k, a in arrays.items())
    return encoded, seconds + time.thread_time() - started


def estimate_run(
    plan: Plan, workers: int, engine: str = "processes", *, done_tasks: int = 0
) -> RunEstimate:
    """Estimate disk, memory and time of ``plan`` by doing a sample of its work here.

    The kernels are compiled (or loaded from the cache) first and timed apart.
    Then the plan's first routing block is generated, counted and encoded as a
    worker would; the time per image, the bytes per image and this process's
    memory scale to the plan; the sample's time is this thread's CPU time. A
    spawned worker's start-up is this process's own start-up CPU time; a
    worker forked warm (Linux) costs next to nothing, its fork server loading
    while the plan is measured. The commit is a duplicate count over every
    image's hash, timed on the sample's hashes. The duplicates are forecast
    (:func:`gridstore.forecast.forecast_duplicates`); a unique plan's time
    includes drawing and sifting the draws its forecast needs.

    Parameters
    ----------
    plan : Plan
        The planned version.
    workers : int
        Workers that will run it.
    engine : str
        ``processes``, ``dask`` (each worker a fresh process) or ``serial`` (this one).
    done_tasks : int
        Tasks already written (a resume): time and bytes count only the rest.

    Returns
    -------
    RunEstimate
    """
    from gridstore._jit import kernel_cache_is_warm
    from gridstore.statistics import split_counts
    from gridstore.write.reduce import job_bytes

    startup = _cpu_seconds()  # interpreter and imports: what each fresh worker pays
    rss_before = _max_rss_bytes()
    cold = not kernel_cache_is_warm()
    started = time.perf_counter()
    load_kernels()
    first_call = time.perf_counter() - started
    parent_bytes = _max_rss_bytes()
    # Loading the cached kernels in a fresh process: measured here when warm; when this
    # process compiled them, half its import time stands in (about the same here).
    load = startup / 2 if cold else first_call

    quotas = plan.block_quotas(0)
    sample = sum(quotas)
    # Timed in this thread's CPU time (the fork server, gridstore.workers, loads on the
    # other core meanwhile); the first pass pays first-call costs, and the faster of
    # the other two is kept: a sample of 5,000 images is short enough to be disturbed.
    timed = []  # each pass's (seconds per image, of which counted and encoded; per draw)
    encoders: dict[str, Any] = {}
    for _ in range(3):
        started = time.thread_time()
        block = generate_blocks(  # hold-out conditions' passed-over draws included
            plan.config,
            plan.seed,
            0,
            [quotas],
            plan.fractions,
            disjoint=plan.split_mode == "disjoint",
            hold=plan.holdout.table(),
        )
        generated = time.thread_time() - started
        fields = block.annotations[0].names()
        if not encoders:  # zarr's documents, once: not a task's cost
            like = {"images": block.images[0], **block.annotations[0].as_dict()}
            encoders = _encoders(like, sample, plan.compression)
        started = time.thread_time()  # what a worker does with a task's images, on one block
        arrays = {
            "images": np.concatenate(block.images),
            **{f: np.concatenate([getattr(a, f) for a in block.annotations]) for f in fields},
        }
        for k in range(len(SPLITS)):
            split_counts(block.images[k], block.annotations[k], plan.config.max_size)
        encoded = sum(len(encoders[k](a)) for k, a in arrays.items())
        handled = (time.thread_time() - started) / sample  # an image counted and encoded
        per_image = generated / sample + handled
        if plan.pairs:  # a paired version makes, hashes and encodes a twin per image too
            twin_bytes, twin_seconds = _twin_cost(plan, block, sample)
            encoded, per_image = encoded + twin_bytes, per_image + twin_seconds / sample
        timed.append((per_image, handled, generated / block.draws))  # a draw and its hash
    per_image, handled, draw_seconds = min(timed[1:])

    started = time.perf_counter()  # the run's fixed cost: its empty arrays
    array_docs("estimate", plan.array_shapes(), plan.compression)
    setup = time.perf_counter() - started

    per_hash = _count_seconds_per_hash()
    tasks = max(0, len(plan.tasks) - done_tasks)
    remaining = tasks / max(1, len(plan.tasks))
    # The process pool runs a single task, or a single worker, here (gridstore.engines).
    in_process = runs_here(engine, workers, tasks)
    parallel = 1 if in_process else max(1, min(workers, tasks))
    commit = _commit_seconds(plan, per_hash, 1 if in_process else max(1, workers))
    contention = max(1.0, parallel / default_workers())
    images_per_task = plan.blocks_per_chunk * sample
    rounds = math.ceil(tasks / parallel)
    task_seconds = min(images_per_task, plan.num_images) * per_image * contention
    # At exit the interpreter unloads the kernels about as fast as it loaded them, and
    # after a compile it also frees what LLVM built: about 2% of the compile time
    # (calibrated with benchmarks/bench_estimate.py).
    teardown = load + (0.02 * first_call if cold else 0.0)
    seconds = setup + rounds * task_seconds + commit + teardown
    if not in_process and not forks_warm():
        seconds += startup + load  # each spawned worker imports and loads the kernels
    elif not in_process and cold:
        seconds += load  # forked workers load what this process compiles (gridstore.write.warm)
    duplicates = forecast_duplicates(plan.config, plan.num_images, plan.split_mode, plan.fractions)
    unique = bool(getattr(plan, "unique", False))  # older plans have no unique field
    unique_seconds, unique_draws = 0.0, 0
    if unique:  # the first pass hashes its budgets' draws (write/unique.py)
        unique_draws = first_pass_draws(plan)
    if unique and done_tasks == 0:
        # The first pass draws and hashes every candidate, repeats included, and finds
        # the repeats among their hashes (about what the commit's count costs per image).
        per_draw = draw_seconds * contention / parallel + per_hash
        unique_seconds = unique_draws * per_draw
    seconds += unique_seconds
    hold_seconds = None
    if plan.hold_out:  # the routed images' extra draws are in per_image; the heldout's not
        from gridstore.holdout_forecast import forecast_hold_out, heldout_draw_seconds

        f = forecast_hold_out(plan.config, plan.hold_out)
        heldout, scale = plan.heldout_count * remaining, contention / parallel
        extra_draws = (f.routed_draws(plan.num_images) - plan.num_images) * remaining
        per_heldout = heldout_draw_seconds(plan, f) if heldout else 0.0  # timed on a sample
        heldout_seconds = (f.heldout_draws(heldout) * per_heldout + heldout * handled) * scale
        hold_seconds = extra_draws * draw_seconds * scale + heldout_seconds
        seconds += heldout_seconds

    task_bytes = TASK_COPIES * images_per_task * sum(a.nbytes for a in arrays.values()) / sample
    worker_bytes = (parent_bytes if not cold else rss_before + KERNEL_LOAD_BYTES) + task_bytes
    # the commit's jobs, on the same workers (gridstore.write.reduce)
    committing = job_bytes(plan.num_images, 1 if in_process else parallel, bool(plan.pairs))
    if in_process:
        peak_process = peak_total = int(parent_bytes + max(task_bytes, committing))
    else:
        worker = int(worker_bytes + max(0, committing - task_bytes))
        # After a compile this process is the largest: the compiler's memory stays.
        peak_process = max(worker, parent_bytes)
        # With forked workers (gridstore.workers) add the fork server, less what its
        # workers share with it: about as much (measured on 2M: 586 MiB, 588 estimated).
        peak_total = int(parent_bytes + parallel * worker)
    return RunEstimate(
        raw_image_bytes=estimate_memory(plan.num_images, plan.config.grid_size)["bytes"],
        disk_bytes=int(encoded / sample * plan.num_images * remaining * 1.01),  # + zarr.json files
        peak_process_bytes=peak_process,
        peak_total_bytes=peak_total,
        seconds=seconds,
        compile_seconds=first_call if cold else 0.0,
        # hashes + JSON, and a unique run's candidate hashes (its first pass's draws)
        record_bytes=int(8 * (plan.num_images + unique_draws) * remaining) + 4096 * tasks,
        duplicates=duplicates,
        unique=unique,
        unique_seconds=unique_seconds,
        first_pass_draws=unique_draws,
        hold_out_seconds=hold_seconds,
    )


def check_free_space(store: StoreBackend, needed_bytes: int, *, resuming: bool = False) -> None:
    """Refuse a run whose bytes do not fit where the store keeps them.

    ``needed_bytes`` is what remains to be written (for a resume, only the
    missing tasks). Object storage reports no free space and is not checked.

    Raises
    ------
    InsufficientSpaceError
        Free space is below ``needed_bytes`` times a safety margin.
    """
    free = store.free_bytes()
    if free is None or free >= needed_bytes * SAFETY:
        return
    advice = "free space, then resume" if resuming else "free space or use fewer --num-images"
    msg = (
        f"not enough disk space for store '{store.path}': the run needs about "
        f"{format_bytes(needed_bytes * SAFETY)} more (estimate + 20%), {format_bytes(free)} free; {advice}"
    )
    raise InsufficientSpaceError(msg)
