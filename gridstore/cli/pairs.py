"""What `preview` and `count` show of a paired version's pairs (helpers of `gridstore.cli.inspect`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["intervention_counts", "preview_pairs"]


def intervention_counts(view: Any) -> dict[str, int] | None:
    """The interventions of a view's rows by kind (None: the version has no pairs).

    Reads the view's chunks of ``intervention/kind`` only (one byte per image).
    """
    from gridstore.pairs.layout import KINDS

    if not view.split.pair_fields:
        return None
    counts = np.zeros(len(KINDS) + 1, np.int64)
    kinds = view.annotation("intervention/kind")
    for start in range(0, len(view), 1 << 20):
        counts += np.bincount(kinds[start : start + (1 << 20)], minlength=len(KINDS) + 1)
    return {k: int(c) for k, c in zip(KINDS, counts[1:], strict=True)}


def preview_pairs(view: Any, picks: np.ndarray, output: Path, title: str, subtitle: str) -> Path:
    """Draw the pairs of rows ``picks`` of a view side by side, each named by its intervention."""
    from gridstore.pairs.layout import RECORD_FIELDS, describe
    from gridstore.viz import render_pair_preview

    pairs = view.pairs
    picks = picks[:50]  # two images each: 50 pairs fill a sheet as 100 images do
    rec = {f: pairs.interventions[f][picks] for f in RECORD_FIELDS}
    index = view.indices[picks]
    labels = [f"#{int(index[k])} {describe(rec, k)}" for k in range(len(picks))]
    return render_pair_preview(view.images[picks], pairs.images[picks], labels, output,
                               title=title, subtitle=subtitle)  # fmt: skip
