"""`sample_factors` and `render`: images drawn from chosen generative factors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gridstore.arguments import check_int, check_seed
from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.factors._kernel import render_rows
from gridstore.factors.catalogue import build_catalogue
from gridstore.factors.checks import check_factors
from gridstore.factors.table import factors_of
from gridstore.generate.batch import empty_outputs, flat_arrays, generate_images
from gridstore.generate.rng import splitmix64
from gridstore.generate.vocab import Annotations

__all__ = ["FIXED_TRIES", "MAX_ATTEMPTS", "render", "sample_factors"]

FIXED_TRIES = 30  # shape draws for an object with a fixed factor (the config's max_tries if more)
MAX_ATTEMPTS = 100  # fresh starts of a row whose objects did not all fit, before it is an error
_RENDER_SALT = 0x5EED_FAC7_0125_0001  # render's streams never meet the corpus's


def sample_factors(
    n: int, seed: int, config: GeneratorConfig | None = None
) -> dict[str, np.ndarray]:
    """Draw the factors of ``n`` images from the generator's own distribution.

    They are the factors of images ``0..n-1`` of the corpus stream of
    ``(config, seed)`` (what `gridstore.generate_corpus` would make).

    Parameters
    ----------
    n : int
        Number of images.
    seed : int
        Seed, in [0, 2**64).
    config : GeneratorConfig, optional
        The distribution (default: the ``atomic`` preset).

    Returns
    -------
    dict of str to ndarray
        ``num_objects`` (n,) and ``object_type``, ``object_subtype``,
        ``object_colour``, ``object_size``, ``object_row``, ``object_col``
        (n, max_objects), int16; empty slots hold 0 (see `FACTOR_TABLE`).

    Examples
    --------
    >>> f = sample_factors(3, seed=0)
    >>> f["object_row"].shape, bool((f["num_objects"] >= 1).all())
    ((3, 4), True)
    """
    n = check_int("n", n, 0)
    _, ann = generate_images(config or GeneratorConfig(), check_seed(seed), 0, n)
    return factors_of(ann)


def render(
    factors: Mapping[str, Any],
    seed: int,
    config: GeneratorConfig | None = None,
    *,
    allow_failures: bool = False,
) -> tuple[np.ndarray, Annotations]:
    """Render images whose annotations have exactly the given factors.

    Row ``i`` is drawn from its own random stream, keyed by ``(seed, i)``: the
    same factors and seed give the same bytes. What the factors leave open (a
    blob's cells, a rectangle's height and width, a pattern's variant) comes
    from that stream.

    A factor given as ``-1`` is free: drawn as the generator draws it, each
    step (number of objects, type, colour, shape, position) restricted to the
    values the fixed factors allow (docs/factors.md). With every factor free,
    the images follow the generator's distribution. A factor left out of
    ``factors`` is free everywhere. ``num_objects`` free gives between
    ``min_objects`` (or the last slot with a fixed factor) and ``max_objects``
    (or the first empty slot) objects, and skips a wholly free object that
    finds no room, as the generator does; fixed, it is exact.

    Parameters
    ----------
    factors : mapping of str to array_like of int
        ``num_objects`` (n,) and object factors (n, K), K <= max_objects, as
        :func:`sample_factors` gives; ``-1`` = free, and a slot with
        ``object_type`` 0 is empty (all its factors 0 or -1).
    seed : int
        Seed, in [0, 2**64).
    config : GeneratorConfig, optional
        The distribution (default: the ``atomic`` preset).
    allow_failures : bool
        A row whose objects did not fit together in `MAX_ATTEMPTS` fresh starts
        is all zeros with ``num_objects == 0`` (a value no image has: the mask
        of the rows not rendered) instead of an error.

    Returns
    -------
    images : ndarray, shape (n, G, G), uint8
    annotations : Annotations
        With ``max_objects`` slots; their factors (`factors_of`) equal every
        fixed factor.

    Raises
    ------
    ConfigError
        A factor no image of the config can have (a code out of range, a
        type of weight 0, a size no shape of that type has, a shape that
        cannot have its corner at that row and column), or a row whose
        objects did not fit together without overlapping in `MAX_ATTEMPTS`
        fresh starts (unless ``allow_failures``). The message names the row, the slot and the factor.

    Examples
    --------
    >>> images, ann = render({"object_colour": [[3, -1]], "num_objects": [2]}, seed=1)
    >>> int(ann.object_colour[0, 0]), int(ann.num_objects[0])
    (3, 2)
    """
    c = config or GeneratorConfig()
    seed = check_seed(seed)
    cat = build_catalogue(c)
    req = check_factors(factors, c, cat)
    n, g = len(req.factors), c.grid_size
    images, ann = empty_outputs(n, c)
    ok = np.zeros(n, bool)
    render_rows(
        np.uint64(splitmix64(np.uint64(seed ^ _RENDER_SALT))),
        g,
        c.min_size,
        c.max_size,
        float(c.blob_compactness),
        c.max_tries,
        FIXED_TRIES,
        MAX_ATTEMPTS,
        cat,
        req.factors,
        req.lo,
        req.hi,
        req.skip_from,
        *flat_arrays(images, ann),
        ok,
    )
    if not allow_failures and not ok.all():
        failed = int(np.argmin(ok))
        msg = (
            f"factors row {failed}: its objects did not fit together without overlapping "
            f"in {MAX_ATTEMPTS} attempts; free some factors or ask for fewer or smaller objects"
        )
        raise ConfigError(msg)
    return images, ann
