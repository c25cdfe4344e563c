"""A hold-out version's duplicate counts: the routed splits' as ever, and the heldout split's.

train, val and test are counted as in any version (``*_within``, and
``cross_split`` between them: 0 for disjoint splits). The heldout split adds
``heldout_within``, its own repeats (it is drawn iid, even in a unique
version), and ``heldout_shared``, contents it shares with train, val or test:
the same pixels annotated otherwise (a blob shaped as a rectangle), which
match no condition there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from gridstore.holdout.spec import HELDOUT

__all__ = ["heldout_duplicates"]


def heldout_duplicates(
    count: Callable[..., dict[str, int]],
    load_parts: Callable[[], Iterable[dict[str, np.ndarray]]],
    splits: tuple[str, ...],
    total: int,
) -> dict[str, Any]:
    """``count`` (`gridstore.statistics.count_duplicates`) over ``splits``, heldout apart."""
    routed = tuple(s for s in splits if s != HELDOUT)
    got = count(load_parts, routed, total)
    if HELDOUT not in splits:
        return got
    every = count(load_parts, (*routed, HELDOUT), total)
    shared = every["cross_split"] - got["cross_split"]
    return got | {"heldout_within": every["heldout_within"], "heldout_shared": shared}
