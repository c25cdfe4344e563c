"""Twins under hold-out conditions: a twin in train, val or test never matches one.

The rule: twin ``i`` of split ``k`` is first drawn as in any paired version,
from stream ``(seed, PAIR_BLOCK + k, i)``. While it matches a condition it is
drawn again, whole (kind and parameters), from stream
``(seed, PAIR_BLOCK + k + 4 a, i)`` for attempt ``a = 1, 2, ...``; after
``MAX_ATTEMPTS`` the plan is refused (its kinds cannot leave the held-out
region, e.g. ``add`` alone next to ``num_objects=4``). A twin depends on its
row and image only, so the writer and the validator redraw alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridstore.errors import ConfigError
from gridstore.generate.vocab import Annotations

__all__ = ["MAX_ATTEMPTS", "twins_of"]

MAX_ATTEMPTS = 60  # stream blocks k + 4a stay below intervene's (255)


def twins_of(
    plan: Any, k: int, first: int, images: np.ndarray, anns: Annotations
) -> tuple[np.ndarray, Annotations, dict[str, np.ndarray]]:
    """The twins of rows ``first, first + 1, ...`` of split ``k`` (the rule above)."""
    from gridstore.pairs.interventions import make_twins

    def made(block: int, rows: slice) -> tuple[np.ndarray, Annotations, dict[str, np.ndarray]]:
        return make_twins(images[rows], anns[rows], plan.pairs, plan.config, seed=plan.seed,
                          block=block, first=first + (rows.start or 0))  # fmt: skip

    twins, tann, rec = made(k, slice(None))
    if not plan.hold_out:
        return twins, tann, rec
    bad = np.flatnonzero(plan.holdout.mask(tann.as_dict(), len(twins)))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        still = []
        for r in bad.tolist():
            t, a, e = made(k + 4 * attempt, slice(r, r + 1))
            twins[r] = t[0]
            for name, value in a.as_dict().items():
                getattr(tann, name)[r] = value[0]
            for name, value in e.items():
                rec[name][r] = value[0]
            if plan.holdout.mask(a.as_dict(), 1)[0]:
                still.append(r)
        bad = np.array(still, np.int64)
        if not len(bad):
            return twins, tann, rec
    msg = (
        f"the twin of image {first + int(bad[0])} matched a hold-out condition in "
        f"{MAX_ATTEMPTS + 1} draws: pairs of kinds {','.join(plan.pairs)} cannot stay out of "
        f"{'; '.join(plan.hold_out)}"
    )
    raise ConfigError(msg)
