"""Draws outside the routed blocks: a unique version's first pass, and the heldout split.

Heldout image ``i`` is the first draw of its own stream, routing block
``HELDOUT_BLOCK + i`` (no corpus block, < 2**40, and no pair or render stream
reaches it), that matches a hold-out condition: rejection sampling, so the
heldout split is the generator's distribution conditioned on matching. Each
image depends on its number only, not on how the split is chunked or which
task writes it.
"""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel
from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate.batch import (
    NO_FLAGS,
    NO_SKIP,
    STREAM,
    _fill,
    empty_outputs,
    flat_arrays,
    kernel_args,
)
from gridstore.generate.holdout import HOLD_NONE, HOLD_ONLY, NO_CONDITIONS
from gridstore.generate.vocab import Annotations

__all__ = ["HELDOUT_BLOCK", "HELDOUT_MAX_DRAWS", "draw_hashes", "heldout_rows"]

HELDOUT_BLOCK = 0x4E1D_0000_0000_0000
HELDOUT_MAX_DRAWS = 200_000  # per heldout image: conditions rarer than this cannot fill the split


def draw_hashes(
    config: GeneratorConfig,
    seed: int,
    block: int,
    start: int,
    stop: int,
    hold: np.ndarray = NO_CONDITIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Content hashes of draws ``[start, stop)`` of routing block ``block``, in draw order,
    and whether each matches a hold-out condition of ``hold``.

    Every draw of a block, whatever split it routes to: what a unique version's
    first pass looks at (`gridstore.write.unique`).
    """
    n = stop - start
    images, ann = empty_outputs(n, config)
    hashes, flags = np.empty(n, np.uint64), np.zeros(n, np.uint8)
    quotas, offsets, fracs = np.array([n, 0, 0], np.int64), np.zeros(3, np.int64), np.ones(3)
    _fill(np.uint64(seed), np.int64(block), np.int64(start), quotas, offsets, STREAM, fracs,
          np.int64(n), NO_SKIP, hold, HOLD_NONE, flags, np.zeros(1, np.int64), *kernel_args(config),
          *flat_arrays(images, ann), hashes)  # fmt: skip
    return hashes, flags.astype(bool)


@kernel
def _heldout(seed, start, hold, cap, skip, flags, tally, g, nmin, nmax, smin, smax, compact, tries, tb,
             img, inst, n_obj, otype, osub, ocol, osize, obbox, hashes):  # fmt: skip
    """Rows ``start, start + 1, ...``: each the first matching draw of its own block.

    Returns the draws made, or ``-1 - r`` if row ``r`` found no match in ``cap`` draws.
    """
    quotas, offsets = np.zeros(3, np.int64), np.zeros(3, np.int64)
    quotas[0] = 1
    fracs = np.ones(3, np.float64)
    total = 0
    for r in range(img.shape[0]):
        offsets[0] = r
        got = _fill(seed, np.int64(HELDOUT_BLOCK + start + r), np.int64(0), quotas, offsets,
                    STREAM, fracs, cap, skip, hold, HOLD_ONLY, flags, tally, g, nmin, nmax, smin, smax,
                    compact, tries, tb, img, inst, n_obj, otype, osub, ocol, osize, obbox,
                    hashes)  # fmt: skip
        if got < 0:
            return -1 - r
        total += got
    return total


def heldout_rows(
    config: GeneratorConfig, seed: int, start: int, stop: int, hold: np.ndarray
) -> tuple[np.ndarray, Annotations, np.ndarray, int]:
    """Heldout images ``[start, stop)`` of ``(config, seed)`` under the conditions ``hold``.

    Returns
    -------
    images, annotations, content hashes, and the draws made.

    Raises
    ------
    ConfigError
        An image found no matching draw in ``HELDOUT_MAX_DRAWS`` draws.
    """
    images, ann = empty_outputs(stop - start, config)
    hashes = np.zeros(stop - start, np.uint64)
    got = _heldout(np.uint64(seed), np.int64(start), hold, np.int64(HELDOUT_MAX_DRAWS), NO_SKIP,
                   NO_FLAGS, np.zeros(1, np.int64), *kernel_args(config), *flat_arrays(images, ann), hashes)  # fmt: skip
    if got < 0:
        msg = (
            f"heldout image {start - 1 - got}: none of {HELDOUT_MAX_DRAWS:,} draws matched a "
            "hold-out condition; the conditions are too rare to fill the heldout split"
        )
        raise ConfigError(msg)
    return images, ann, hashes, int(got)
