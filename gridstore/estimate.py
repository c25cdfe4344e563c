"""What a run will cost before it starts: disk, memory and time, measured on a sample.

The sample is one routing block generated and compressed here with the
store's codecs, so the estimate follows whatever parameters were chosen.
"""

from __future__ import annotations

import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridstore.errors import InsufficientSpaceError
from gridstore.generate.batch import ROUTING_BLOCK_IMAGES, generate_block
from gridstore.plan import Plan, estimate_memory, format_bytes
from gridstore.store import ARRAY_CODECS

__all__ = ["RunEstimate", "check_free_space", "estimate_run"]

SAFETY = 1.2  # disk headroom over the estimate before a run is refused


@dataclass(frozen=True)
class RunEstimate:
    """Expected cost of a plan with a number of workers."""

    raw_image_bytes: int
    disk_bytes: int
    peak_memory_bytes: int
    seconds: float

    def lines(self) -> list[str]:
        """Human-readable lines for the plan printout."""
        return [
            f"raw images:       {format_bytes(self.raw_image_bytes)} (estimate_memory)",
            f"on disk (est.):   {format_bytes(self.disk_bytes)} with annotations",
            f"peak memory:      {format_bytes(self.peak_memory_bytes)} (all processes)",
            f"time (est.):      {_duration(self.seconds)}",
        ]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_run(plan: Plan, workers: int) -> RunEstimate:
    """Estimate disk, memory and time of ``plan`` by generating one block here.

    Parameters
    ----------
    plan : Plan
        The planned version.
    workers : int
        Worker processes that will run it.

    Returns
    -------
    RunEstimate
    """
    from numcodecs import Blosc

    sample = min(ROUTING_BLOCK_IMAGES, plan.num_images)
    started = time.perf_counter()
    block = generate_block(plan.config, plan.seed, 0, (sample, 0, 0), (1.0, 0.0, 0.0))
    arrays = {"images": block.images[0], **block.annotations[0].as_dict()}
    encoded = 0
    for name, arr in arrays.items():
        spec = ARRAY_CODECS.get(name, ARRAY_CODECS["*"])
        shuffle = {
            "noshuffle": Blosc.NOSHUFFLE,
            "shuffle": Blosc.SHUFFLE,
            "bitshuffle": Blosc.BITSHUFFLE,
        }
        codec = Blosc(spec["cname"], spec["clevel"], shuffle[spec["shuffle"]], spec["blocksize"])
        encoded += len(codec.encode(np.ascontiguousarray(arr)))
    per_image_seconds = (time.perf_counter() - started) / sample
    per_image_bytes = sum(a.nbytes for a in arrays.values()) / sample
    task_bytes = per_image_bytes * plan.blocks_per_chunk * ROUTING_BLOCK_IMAGES
    # A worker holds a task's arrays about three times (blocks, concatenation,
    # encoding) on top of its interpreter with numpy, numba and zarr loaded.
    process_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    parallel = max(1, min(workers, len(plan.tasks)))
    return RunEstimate(
        raw_image_bytes=estimate_memory(plan.num_images, plan.config.grid_size)["bytes"],
        disk_bytes=int(encoded / sample * plan.num_images * 1.01),  # + metadata and checksums
        peak_memory_bytes=int(
            process_bytes
            + (parallel if parallel > 1 else 0) * process_bytes
            + parallel * 3 * task_bytes
        ),
        seconds=plan.num_images * per_image_seconds * 1.1 / parallel
        + (3.0 if parallel > 1 else 0.0),
    )


def check_free_space(store_path: Path, needed_bytes: int) -> None:
    """Refuse a run whose estimate does not fit on the store's disk.

    Raises
    ------
    InsufficientSpaceError
        Free space is below ``needed_bytes`` times a safety margin.
    """
    probe = Path(store_path).absolute()
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed_bytes * SAFETY:
        msg = (
            f"not enough disk space at '{probe}': the run needs about {format_bytes(needed_bytes * SAFETY)} "
            f"(estimate + 20%), {format_bytes(free)} free; free space or use fewer --num-images"
        )
        raise InsufficientSpaceError(msg)
