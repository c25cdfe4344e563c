"""From a request to a plan: split counts, block quotas, tasks and estimates.

Images are made in routing blocks of ``ROUTING_BLOCK_IMAGES`` slots (see
docs/internals.md); a task is ``blocks_per_chunk`` consecutive blocks and
writes exactly one chunk of every array of every split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, Literal, get_args

import numpy as np

from gridstore.arguments import check_int, check_seed, is_integer
from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
from gridstore.holdout.spec import HELDOUT, HoldOut, check_hold_out, parse_hold_out
from gridstore.pairs.layout import check_kinds, pair_shapes

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLITS",
    "Plan",
    "Task",
    "estimate_memory",
    "format_bytes",
    "parse_fractions",
    "split_quotas",
]

SPLITS = ("train", "val", "test")
Split = Literal["train", "val", "test"]
SplitMode = Literal["disjoint", "independent"]
Compression = Literal["default", "max"]
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
MAX_IMAGES = 10**12


def format_bytes(n: float) -> str:
    """Return a readable size: ``format_bytes(262144) == '256.0 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def estimate_memory(num_images: int, grid_size: int = 16, dtype: Any = np.uint8) -> dict[str, Any]:
    """Return the raw size of ``num_images`` images, as the seed's estimate_memory did.

    Parameters
    ----------
    num_images : int
        Number of images.
    grid_size : int
        Side of each square image.
    dtype : numpy dtype
        Pixel type (gridstore stores uint8).

    Returns
    -------
    dict
        ``bytes``, ``readable``, ``num_images``, ``bytes_per_image``, ``grid_size``, ``dtype``.

    Examples
    --------
    >>> estimate_memory(1000)["bytes"]
    256000
    """
    num_images = check_int("num_images", num_images, 0)
    per_image = grid_size * grid_size * np.dtype(dtype).itemsize
    total = int(num_images) * per_image
    return {
        "bytes": total,
        "readable": format_bytes(total),
        "num_images": int(num_images),
        "bytes_per_image": per_image,
        "grid_size": grid_size,
        "dtype": np.dtype(dtype).name,
    }


def parse_fractions(
    value: str | Sequence[float] | Mapping[str, float],
) -> tuple[float, float, float]:
    """Validate split fractions given as ``"0.8,0.1,0.1"`` or three numbers.

    Raises
    ------
    ConfigError
        Not three numbers, a negative one, or a sum other than 1.
    """
    if isinstance(value, Mapping):  # {"train": 0.8, "val": 0.1, "test": 0.1}
        text = ",".join(str(value[s]) if s in value else "?" for s in SPLITS)
    else:
        text = value if isinstance(value, str) else ",".join(map(str, value))
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or not all(math.isfinite(p) for p in parts):
        msg = f"splits must be three numbers train,val,test like 0.8,0.1,0.1, got {text!r}"
        raise ConfigError(msg)
    if (
        min(parts) < 0
        or abs(sum(parts) - 1) > 1e-6
        or (parts[0] == 0 and parts[1] == 0 and parts[2] == 0)
    ):
        msg = f"splits must be >= 0 and sum to 1, got {text!r} (sum {sum(parts):g})"
        raise ConfigError(msg)
    return parts


@lru_cache(maxsize=16)
def _slot_splits(fractions: tuple[float, float, float]) -> np.ndarray:
    """Split of each slot of a routing block: always the one furthest below its share."""
    f = np.asarray(fractions)
    counts = np.zeros(3)
    out = np.empty(ROUTING_BLOCK_IMAGES, np.int8)
    for i in range(ROUTING_BLOCK_IMAGES):
        s = int(np.argmax(f * (i + 1) - counts))
        out[i] = s
        counts[s] += 1
    return out


def split_quotas(
    fractions: tuple[float, float, float], slots: int = ROUTING_BLOCK_IMAGES
) -> tuple[int, int, int]:
    """Images each split takes from the first ``slots`` slots of a block.

    Monotone in ``slots``, so growing a dataset only appends.

    Examples
    --------
    >>> split_quotas((0.8, 0.1, 0.1))
    (4000, 500, 500)
    """
    counts = np.bincount(_slot_splits(tuple(fractions))[:slots], minlength=3)
    return int(counts[0]), int(counts[1]), int(counts[2])


@dataclass(frozen=True)
class Task:
    """A unit of work: blocks ``[first_block, stop_block)``, one chunk per split."""

    index: int
    first_block: int
    stop_block: int


class _Tasks(Sequence[Task]):
    """Tasks computed on demand: a plan of 10**12 images has 5 * 10**7 of them."""

    def __init__(self, num_blocks: int, blocks_per_task: int) -> None:
        self._blocks, self._per = num_blocks, blocks_per_task

    def __len__(self) -> int:
        return -(-self._blocks // self._per)

    def __getitem__(self, t: int) -> Task:  # type: ignore[override]
        t = t + len(self) if t < 0 else t
        if not 0 <= t < len(self):
            raise IndexError(t)
        return Task(t, t * self._per, min((t + 1) * self._per, self._blocks))


@dataclass(frozen=True)
class Plan:
    """Everything that fixes a dataset's bytes, and how the work is cut.

    Parameters
    ----------
    config : GeneratorConfig
        The image distribution.
    num_images : int
        Total images over all splits.
    seed : int
        Dataset seed.
    fractions : tuple of 3 float
        Train, val, test fractions.
    split_mode : {"disjoint", "independent"}
        Route images by content hash (no image in two splits) or iid.
    blocks_per_chunk : int
        Routing blocks per task and per chunk.
    compression : {"default", "max"}
        The codecs (`gridstore.storage.layout.COMPRESSIONS`): ``max`` stores
        images in 0.78x the npz's bytes but writes about 30x slower.
    unique : bool
        No image twice in the version: each block passes over the draws whose
        content an earlier draw gave (`gridstore.write.unique`); disjoint splits only.
    pairs : tuple of str
        Intervention kinds (`gridstore.pairs.KINDS`, a comma-separated string or
        ``"all"``): each image gets a twin under one of them, stored beside it
        (docs/factors.md). Empty: no pairs.
    hold_out : tuple of str
        Hold-out conditions in ``where``'s syntax (`gridstore.holdout.spec`):
        train, val and test hold no image that matches one, and a fourth
        split, ``heldout``, only such images. Empty: no hold-out.
    heldout_images : int or float, optional
        The heldout split's images: a count, or a fraction of ``num_images``
        (rounded). Default: as many as the test split.
    """

    config: GeneratorConfig = field(default_factory=GeneratorConfig)
    num_images: int = 1000
    seed: int = 42
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    split_mode: SplitMode = "disjoint"
    blocks_per_chunk: int = 4
    compression: Compression = "default"
    unique: bool = False
    pairs: tuple[str, ...] = ()
    hold_out: tuple[str, ...] = ()
    heldout_images: int | float | None = None

    def __post_init__(self) -> None:
        check_int("num_images", self.num_images, 1, MAX_IMAGES)
        check_seed(self.seed)
        object.__setattr__(self, "fractions", parse_fractions(self.fractions))
        if self.split_mode not in ("disjoint", "independent"):
            msg = f"split_mode must be 'disjoint' or 'independent', got {self.split_mode!r}"
            raise ConfigError(msg)
        check_int("blocks_per_chunk", self.blocks_per_chunk, 1, 64)
        if self.compression not in get_args(Compression):
            names = " or ".join(repr(c) for c in get_args(Compression))
            msg = f"compression must be {names}, got {self.compression!r}"
            raise ConfigError(msg)
        if self.unique not in (True, False):
            msg = f"unique must be True or False, got {self.unique!r}"
            raise ConfigError(msg)
        if self.unique and self.split_mode != "disjoint":
            msg = "a unique version needs disjoint splits (its repeats are found by content)"
            raise ConfigError(msg)
        object.__setattr__(self, "pairs", check_kinds(self.pairs))
        texts, spec = check_hold_out(self.hold_out, self.heldout_images, self.config)
        object.__setattr__(self, "hold_out", texts)
        object.__setattr__(self, "heldout_images", spec)

    @cached_property
    def holdout(self) -> HoldOut:
        """The hold-out conditions, parsed (false when there are none)."""
        c = self.config
        return parse_hold_out(self.hold_out, c.max_objects, c.grid_size)

    @property
    def splits(self) -> tuple[str, ...]:
        """The version's splits: train, val, test, and ``heldout`` under hold-out conditions."""
        return (*SPLITS, HELDOUT) if self.hold_out else SPLITS

    @cached_property
    def heldout_count(self) -> int:
        """Images of the heldout split (0 without hold-out conditions)."""
        spec = self.heldout_images
        if not self.hold_out:
            return 0
        if spec is None:
            return self._routed_counts["test"]
        return spec if isinstance(spec, int) else round(spec * self.num_images)

    @cached_property
    def num_blocks(self) -> int:
        """Routing blocks, the last one possibly partial."""
        return -(-self.num_images // ROUTING_BLOCK_IMAGES)

    def block_quotas(self, block: int) -> tuple[int, int, int]:
        """Images block ``block`` gives each split."""
        slots = min(ROUTING_BLOCK_IMAGES, self.num_images - block * ROUTING_BLOCK_IMAGES)
        return split_quotas(self.fractions, slots)

    @cached_property
    def _routed_counts(self) -> dict[str, int]:
        full = np.array(split_quotas(self.fractions)) * (self.num_blocks - 1)
        last = np.array(self.block_quotas(self.num_blocks - 1))
        return {s: int(c) for s, c in zip(SPLITS, full + last, strict=True)}

    @cached_property
    def split_counts(self) -> dict[str, int]:
        """Images per split: train, val and test sum to num_images; heldout comes on top."""
        held = {HELDOUT: self.heldout_count} if self.hold_out else {}
        return self._routed_counts | held

    @cached_property
    def chunk_images(self) -> dict[str, int]:
        """Rows per chunk of each split (at least 1, as Zarr needs); heldout's spread over the
        tasks, so that task t writes chunk t of every split."""
        q = split_quotas(self.fractions)
        out = {s: max(1, self.blocks_per_chunk * c) for s, c in zip(SPLITS, q, strict=True)}
        if self.hold_out:
            out[HELDOUT] = max(1, -(-self.heldout_count // len(self.tasks)))
        return out

    def array_shapes(self) -> dict[str, dict[str, tuple]]:
        """``{split: {array: (shape, chunks, dtype)}}`` of the version this plan writes."""
        g, k = self.config.grid_size, self.config.max_objects
        out = {}
        for split in self.splits:
            n, c = self.split_counts[split], self.chunk_images[split]
            per_image = {"images": (g, g), "instance_map": (g, g), "num_objects": (),
                         "object_type": (k,), "object_subtype": (k,), "object_colour": (k,),
                         "object_size": (k,), "object_bbox": (k, 4)}  # fmt: skip
            out[split] = {
                a: ((n, *rest), (c, *rest), "uint16" if a == "object_size" else "uint8")
                for a, rest in per_image.items()
            }
            if self.pairs and split != HELDOUT:  # twins and records, chunked as the split's own
                out[split] |= pair_shapes(out[split])
        return out

    @property
    def tasks(self) -> _Tasks:
        """The tasks, in order (a lazy sequence); task t writes chunk t of every split."""
        return _Tasks(self.num_blocks, self.blocks_per_chunk)

    def task_rows(self, task: Task) -> dict[str, tuple[int, int]]:
        """Rows ``[start, stop)`` that a task writes in each split."""
        full = split_quotas(self.fractions)
        out = {}
        for k, s in enumerate(SPLITS):
            start = task.first_block * full[k]
            count = sum(self.block_quotas(b)[k] for b in range(task.first_block, task.stop_block))
            out[s] = (start, start + count)
        if self.hold_out:  # rows [t * chunk, (t + 1) * chunk) of those there are
            c, n = self.chunk_images[HELDOUT], self.heldout_count
            out[HELDOUT] = (min(task.index * c, n), min((task.index + 1) * c, n))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (what the metadata records)."""
        return (
            {
                "num_images": int(self.num_images),
                "seed": int(self.seed),
                "grid_size": self.config.grid_size,
                "splits": dict(zip(SPLITS, self.fractions, strict=True)),
                "split_mode": self.split_mode,
                "preset": self.config.preset,
                "generator": self.config.to_dict(),
                "blocks_per_chunk": self.blocks_per_chunk,
                "routing_block_images": ROUTING_BLOCK_IMAGES,
                "compression": self.compression,
                "unique": self.unique,
            }
            | ({"pairs": list(self.pairs)} if self.pairs else {})
            | (  # absent: as before them
                {"hold_out": list(self.hold_out), "heldout_images": self.heldout_images}
                if self.hold_out
                else {}
            )
        )

    def grown(self, num_images: int, source: str = "") -> Plan:
        """Return this plan with more images: the plan of a version grown from this one's.

        Its first images are exactly this plan's (same config, seed, splits and
        chunking), so the grown version can reuse the source's chunks.

        Raises
        ------
        ConfigError
            ``num_images`` is not an integer larger than this plan's.

        Examples
        --------
        >>> Plan(num_images=1000).grown(3000).num_images
        3000
        """
        if not is_integer(num_images) or num_images <= self.num_images:
            size = f" (the size of '{source}')" if source else ""
            msg = f"grow needs num_images > {self.num_images}{size}, got {num_images!r}"
            raise ConfigError(msg)
        return replace(self, num_images=int(num_images))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output."""
        if d.get("routing_block_images", ROUTING_BLOCK_IMAGES) != ROUTING_BLOCK_IMAGES:
            msg = f"the data was made with routing blocks of {d['routing_block_images']} images; this gridstore uses {ROUTING_BLOCK_IMAGES}"
            raise ConfigError(msg)
        return cls(
            config=GeneratorConfig.from_dict(d["generator"]),
            num_images=d["num_images"],
            seed=d["seed"],
            fractions=tuple(d["splits"][s] for s in SPLITS),
            split_mode=d["split_mode"],
            blocks_per_chunk=d["blocks_per_chunk"],
            compression=d.get("compression", "default"),  # absent from older versions
            unique=d.get("unique", False),
            pairs=tuple(d.get("pairs", ())),
            hold_out=tuple(d.get("hold_out", ())),
            heldout_images=d.get("heldout_images"),
        )
