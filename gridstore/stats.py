"""Dataset statistics: additive per-task counts, merged into the version's metadata."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gridstore.config import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.generate.batch import Annotations

__all__ = ["count_duplicates", "merge_counts", "split_counts", "summarize"]


def split_counts(images: np.ndarray, ann: Annotations, max_size: int) -> dict[str, Any]:
    """Additive counts of one split's share of a task (JSON-ready)."""
    n = len(images)
    pixels = np.bincount(images.ravel(), minlength=10)
    present = ann.object_type > 0
    return {
        "images": n,
        "pixel_sum": int(np.dot(np.arange(len(pixels)), pixels)),
        "pixel_sq_sum": int(np.dot(np.arange(len(pixels)) ** 2, pixels)),
        "pixel_min": int(images.min()) if n else None,
        "pixel_max": int(images.max()) if n else None,
        "colour_pixels": pixels.tolist(),
        "objects_per_image": np.bincount(ann.num_objects, minlength=ann.object_type.shape[1] + 1).tolist(),
        "object_types": np.bincount(ann.object_type[present], minlength=5)[1:].tolist(),
        "object_colours": np.bincount(ann.object_colour[present], minlength=10)[1:].tolist(),
        "object_sizes": np.bincount(ann.object_size[present], minlength=max_size + 1).tolist(),
        "line_orientations": np.bincount(ann.object_subtype[ann.object_type == 3], minlength=4).tolist(),
        "pattern_families": np.bincount(ann.object_subtype[ann.object_type == 4], minlength=5).tolist(),
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
    mean = counts["pixel_sum"] / cells if cells else None
    var = counts["pixel_sq_sum"] / cells - mean**2 if cells else None
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


def count_duplicates(
    hash_parts: Iterable[dict[str, np.ndarray]], splits: tuple[str, ...], total: int, bucket_bytes: int = 1 << 28
) -> dict[str, int]:
    """Count repeated images within each split and contents shared across splits.

    Hashes are processed in buckets of their top bits so that memory stays
    near ``bucket_bytes`` whatever the dataset size; ``hash_parts`` is
    re-iterated once per bucket, so pass a callable-backed iterable (a list,
    or an object whose ``__iter__`` reloads the parts).
    """
    buckets = max(1, -(-total * 8 // bucket_bytes))
    shift = np.uint64(64 - max(1, int(np.ceil(np.log2(buckets))))) if buckets > 1 else None
    within = dict.fromkeys(splits, 0)
    cross = 0
    for b in range(buckets if shift is None else 1 << (64 - int(shift))):
        per_split = {s: [] for s in splits}
        for part in hash_parts:
            for s in splits:
                h = part[s]
                per_split[s].append(h if shift is None else h[(h >> shift) == b])
        uniques = []
        for s in splits:
            h = np.concatenate(per_split[s]) if per_split[s] else np.zeros(0, np.uint64)
            u = np.unique(h)
            within[s] += len(h) - len(u)
            uniques.append(u)
        all_u = np.concatenate(uniques)
        cross += len(all_u) - len(np.unique(all_u))
    return {**{f"{s}_within": within[s] for s in splits}, "cross_split": cross}
