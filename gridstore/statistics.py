"""Dataset statistics: additive per-task counts, merged into the version's metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES, Annotations

__all__ = [
    "BUCKET_BYTES",
    "bucket_bits",
    "count_duplicates",
    "duplicate_count_bytes",
    "merge_counts",
    "split_counts",
    "summarize",
]


def split_counts(images: np.ndarray, ann: Annotations, max_size: int) -> dict[str, Any]:
    """Additive counts of one split's share of a task (JSON-ready).

    Pixel statistics come from the annotations (object sizes and colours), which
    the constraint checks hold equal to the pixels: no second pass over images.
    """
    n = len(images)
    cells = int(np.prod(images.shape[1:]))
    present = ann.object_type > 0
    sizes = ann.object_size[present].astype(np.int64)
    colours = ann.object_colour[present]
    pixels = np.bincount(colours, weights=sizes, minlength=10).astype(np.int64)
    pixels[0] = n * cells - pixels[1:].sum()
    used = np.flatnonzero(pixels)
    return {
        "images": n,
        "pixel_sum": int(np.dot(np.arange(10), pixels)),
        "pixel_sq_sum": int(np.dot(np.arange(10) ** 2, pixels)),
        "pixel_min": int(used.min()) if n else None,
        "pixel_max": int(used.max()) if n else None,
        "colour_pixels": pixels.tolist(),
        "objects_per_image": np.bincount(
            ann.num_objects, minlength=ann.object_type.shape[1] + 1
        ).tolist(),
        "object_types": np.bincount(ann.object_type[present], minlength=5)[1:].tolist(),
        "object_colours": np.bincount(colours, minlength=10)[1:].tolist(),
        "object_sizes": np.bincount(sizes, minlength=max_size + 1).tolist(),
        "line_orientations": np.bincount(
            ann.object_subtype[ann.object_type == 3], minlength=4
        ).tolist(),
        "pattern_families": np.bincount(
            ann.object_subtype[ann.object_type == 4], minlength=5
        ).tolist(),
    }


def merge_counts(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Add up counts from several tasks."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in total or total[key] is None:
                total[key] = value
            elif value is None:
                continue
            elif key == "pixel_min":
                total[key] = min(total[key], value)
            elif key == "pixel_max":
                total[key] = max(total[key], value)
            elif isinstance(value, list):
                a, b = total[key], value
                if len(a) < len(b):
                    a, b = b, a
                total[key] = [x + (b[i] if i < len(b) else 0) for i, x in enumerate(a)]
            else:
                total[key] = total[key] + value
    return total


def summarize(counts: dict[str, Any], grid_size: int) -> dict[str, Any]:
    """Turn merged counts into the statistics recorded in metadata."""
    n = counts.get("images", 0)
    cells = n * grid_size * grid_size
    mean = var = None
    if cells:
        mean = counts["pixel_sum"] / cells
        var = counts["pixel_sq_sum"] / cells - mean**2
    return {
        "images": n,
        "pixel_mean": mean,
        "pixel_std": float(np.sqrt(max(var, 0.0))) if var is not None else None,
        "pixel_min": counts.get("pixel_min"),
        "pixel_max": counts.get("pixel_max"),
        "colour_histogram": dict(enumerate(counts["colour_pixels"])),
        "objects_per_image": dict(enumerate(counts["objects_per_image"])),
        "object_types": dict(zip(OBJECT_TYPES, counts["object_types"], strict=True)),
        "object_colours": dict(enumerate(counts["object_colours"], start=1)),
        "object_sizes": {k: v for k, v in enumerate(counts["object_sizes"]) if v},
        "line_orientations": dict(zip(LINE_ORIENTATIONS, counts["line_orientations"], strict=True)),
        "pattern_families": dict(zip(PATTERN_FAMILIES, counts["pattern_families"], strict=True)),
    }


# The largest bucket of hashes counted at once (held about six times over): the
# committing process's peak memory stays flat up to 16 buckets (33M images), at
# the cost of one pass over the task records per bucket (8 at 10M images).
BUCKET_BYTES = 1 << 24


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path is ~20x slower on uint64 here)."""
    v = np.sort(values)
    return v[np.concatenate(([True], v[1:] != v[:-1]))] if len(v) else v


def bucket_bits(total: int, bucket_bytes: int, max_bits: int = 4) -> int:
    """Top bits that split ``total`` hashes into buckets of at most ``bucket_bytes`` (capped)."""
    buckets = max(1, -(-total * 8 // bucket_bytes))
    return min(max_bits, (buckets - 1).bit_length())


def duplicate_count_bytes(total: int, bucket_bytes: int = BUCKET_BYTES) -> int:
    """Peak memory of :func:`count_duplicates` over ``total`` hashes.

    One bucket is held about six times: the filtered parts, their concatenation,
    the sort's copy, and the splits' union sorted again.
    """
    return 6 * total * 8 // (1 << bucket_bits(total, bucket_bytes))


def count_duplicates(
    load_parts: Callable[[], Iterable[dict[str, np.ndarray]]],
    splits: tuple[str, ...],
    total: int,
    bucket_bytes: int = BUCKET_BYTES,
) -> dict[str, int]:
    """Count repeated images within each split and contents shared across splits.

    Hashes are processed in buckets of their lowest bits, re-reading the parts
    (``load_parts()``) once per bucket: memory stays near a few times
    ``bucket_bytes`` up to 16 buckets (about 33M images), and beyond that the
    buckets grow instead of the passes (10**9 images: 16 passes over 8 GB of
    hashes, about 3 GB of memory). Not the top bits: a commit job's parts
    share theirs (`gridstore.write.reduce`), and would all fall in one bucket.
    """
    bits = bucket_bits(total, bucket_bytes)
    low = np.uint64((1 << bits) - 1)
    within = dict.fromkeys(splits, 0)
    cross = 0
    for bucket in range(1 << bits):
        per_split: dict[str, list[np.ndarray]] = {s: [] for s in splits}
        for part in load_parts():
            for s in splits:
                h = part[s]
                per_split[s].append(h[(h & low) == bucket] if bits else h)
        uniques = []
        for s in splits:
            h = np.concatenate(per_split[s]) if per_split[s] else np.zeros(0, np.uint64)
            del per_split[s][:]
            u = _distinct(h)
            within[s] += len(h) - len(u)
            uniques.append(u)
        all_u = np.concatenate(uniques) if uniques else np.zeros(0, np.uint64)  # no split
        cross += len(all_u) - len(_distinct(all_u))
    return {**{f"{s}_within": within[s] for s in splits}, "cross_split": cross}
