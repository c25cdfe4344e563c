"""A paired version's metadata: interventions per kind, and the twins' repeats and leaks.

A twin is routed with its base, not by its own content, so it may repeat an
image of its split (a base or another twin) or show content that another split
holds. The commit's duplicates jobs count both from the tasks' hash files,
whose twin groups (`gridstore.pairs.writing.hash_groups`) are cut into the same
partitions as the images' hashes: equal contents fall in one partition, so the
jobs' counts add up exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridstore.pairs.layout import INTERVENTION, KINDS, PAIR

__all__ = ["count_twin_repeats", "pair_metadata"]

_SPLITS = ("train", "val", "test")


def _distinct(values: np.ndarray) -> np.ndarray:
    v = np.sort(values)
    return v[np.concatenate(([True], v[1:] != v[:-1]))] if len(v) else v


def count_twin_repeats(parts: list[dict[str, np.ndarray]]) -> dict[str, int]:
    """Repeats and leaks of the twins among one range of hash partitions of every task.

    ``parts``: per task, hashes by group (each split, and ``<split>/pair``).
    ``<split>_within``: the repeats the twins add to their split (its images
    and twins counted together, less the images' own repeats);
    ``<split>_leaks``: the split's twins whose content some other split holds
    (as an image or a twin).
    """
    out, held, twins = {}, {}, {}
    for s in _SPLITS:
        base = np.concatenate([p[s] for p in parts] or [np.zeros(0, np.uint64)])
        twin = np.concatenate([p[f"{s}/{PAIR}"] for p in parts] or [np.zeros(0, np.uint64)])
        both = _distinct(np.concatenate([base, twin]))
        out[f"{s}_within"] = len(twin) - (len(both) - len(_distinct(base)))
        held[s], twins[s] = both, twin
    for s in _SPLITS:
        elsewhere = np.concatenate([held[o] for o in _SPLITS if o != s])
        out[f"{s}_leaks"] = int(np.isin(twins[s], elsewhere).sum())
    return out


def pair_metadata(plan: Any, counts: dict[str, dict[str, Any]], repeats: dict[str, int]) -> dict:
    """The ``pairs`` entry of a paired version's metadata (``{}`` for a version without pairs).

    ``counts``: the merged task counts by split (and ``<split>/pair``, the
    twins'); ``repeats``: the merged `count_twin_repeats`.
    """
    if not plan.pairs:
        return {}
    from gridstore.statistics import summarize

    per_split = {s: counts[s].get("interventions", [0] * len(KINDS)) for s in _SPLITS}
    twins = {s: counts.get(f"{s}/{PAIR}", {}) for s in _SPLITS}
    # records written before the twins' statistics (a resume across versions): none then
    whole = all(twins[s].get("images") == counts[s].get("images") for s in _SPLITS)
    grid = plan.config.grid_size
    stats = {s: summarize(twins[s], grid) for s in _SPLITS} if whole else None
    return {
        "pairs": {
            "kinds": list(plan.pairs),
            "groups": {"twins": PAIR, "interventions": INTERVENTION},
            "interventions": {s: dict(zip(KINDS, c, strict=True)) for s, c in per_split.items()},
            # the twins' own, as the version's "statistics" are its images'
            "statistics": stats,
            "duplicates": {k: repeats.get(k, 0) for s in _SPLITS for k in (f"{s}_within",)}
            | {k: repeats.get(k, 0) for s in _SPLITS for k in (f"{s}_leaks",)},
        }
    }
