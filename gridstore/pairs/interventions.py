"""Twins: each image under one intervention, with its annotations and a record of it.

`make_twins` runs the kernel (`gridstore.pairs._kernel`) on a batch whose
rows are numbered ``first, first + 1, ...`` in a stream ``block``; the store's
writer numbers a split's rows, `intervene` a batch's. The rules (which
intervention a row gets, what each kind draws) are in docs/factors.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridstore.arguments import check_seed
from gridstore.config import GeneratorConfig
from gridstore.generate.vocab import Annotations
from gridstore.pairs.layout import FLIPS, KINDS, RECORD_FIELDS, check_kinds

__all__ = ["FLIPS", "KINDS", "PAIR_BLOCK", "intervene", "make_twins", "stream_key"]

# The twins' streams: routing block numbers no corpus block (< 2**40) and no
# render stream (0xFAC70125 << 32) reaches; + 0..2 for a split's rows, + 255
# for `intervene`'s batches.
PAIR_BLOCK = 0x9A12_5000_0000_0000
_INTERVENE = 255
_SALT = 0x9A12_5EED_0000_0021
FIXED_TRIES = 30  # as `gridstore.factors.render`: draws of an object with a fixed corner


def stream_key(seed: int) -> np.uint64:
    """The key of a seed's twin streams (mixed apart from the corpus's and render's)."""
    from gridstore.generate.rng import splitmix64

    return np.uint64(splitmix64(np.uint64(check_seed(seed) ^ _SALT)))


def make_twins(
    images: np.ndarray,
    annotations: Annotations,
    kinds: Sequence[str],
    config: GeneratorConfig,
    *,
    seed: int,
    block: int,
    first: int,
) -> tuple[np.ndarray, Annotations, dict[str, np.ndarray]]:
    """The twin of each image: row ``i`` from stream ``(seed, PAIR_BLOCK + block, first + i)``.

    Returns twins, their annotations and the records (`RECORD_FIELDS`). The
    same rows, kinds, seed and numbers give the same bytes.
    """
    from gridstore.factors.catalogue import build_catalogue
    from gridstore.generate.batch import flat_arrays
    from gridstore.pairs._kernel import twin_rows

    codes = np.array([KINDS.index(k) + 1 for k in check_kinds(kinds)], np.int64)
    n, g = images.shape[0], config.grid_size
    k = annotations.object_type.shape[1]
    twins = np.empty((n, g, g), np.uint8)  # contiguous: the kernel writes into its rows
    out = Annotations.empty(n, g, k)
    rec = {f: np.zeros((n, *rest), dtype) for f, (rest, dtype) in RECORD_FIELDS.items()}
    cfg = np.array(
        [config.min_size, config.max_size, config.blob_compactness, config.max_tries, FIXED_TRIES],
        np.float64,
    )
    base, twin = flat_arrays(images, annotations), flat_arrays(twins, out)
    twin_rows(
        stream_key(seed),
        np.uint64(PAIR_BLOCK + block),
        first,
        codes,
        g,
        cfg,
        np.asarray(config.line_weights) > 0,
        build_catalogue(config),
        base[0],
        base[1:],
        twin[0],
        twin[1:],
        tuple(rec.values()),
    )
    return twins, out, rec


def intervene(
    images: np.ndarray,
    annotations: Annotations,
    kinds: Sequence[str],
    seed: int,
    config: GeneratorConfig | None = None,
) -> tuple[np.ndarray, Annotations, dict[str, np.ndarray]]:
    """Make each image's twin: the same image under one intervention drawn from ``kinds``.

    Row ``i`` draws from its own stream, keyed by ``(seed, i)``: a random order
    of the kinds, then the first that applies to the image (a recolour if none
    does, since one always applies). See docs/factors.md for what each kind draws.

    Parameters
    ----------
    images : ndarray, shape (n, G, G), uint8
        Images the generator made (or `gridstore.factors.render` did).
    annotations : Annotations
        Their annotations.
    kinds : sequence of str
        Some of `KINDS` (or ``"all"``).
    seed : int
        Seed of the rows' streams (the same rows and seed, the same twins).
    config : GeneratorConfig, optional
        The images' distribution: ``add`` and ``reshape`` draw by its rules,
        and a rotation or flip that would make a line orientation of weight 0
        in it does not apply.

    Returns
    -------
    twins : ndarray (n, G, G), uint8
    twin_annotations : Annotations
    records : dict of str to ndarray
        ``kind`` (code 1..9 in `KINDS`), ``slot``, ``old_colour``,
        ``new_colour``, ``offset``, ``rotation``, ``flip``, ``permutation``
        (`gridstore.pairs.layout.RECORD_FIELDS`).

    Raises
    ------
    ConfigError
        An unknown kind, or none.

    Examples
    --------
    >>> from gridstore.generate import generate_images
    >>> images, ann = generate_images(GeneratorConfig(), 0, 0, 2)
    >>> twins, _, rec = intervene(images, ann, ["recolour"], seed=1)
    >>> [KINDS[k - 1] for k in rec["kind"]], bool((twins != images).any(axis=(1, 2)).all())
    (['recolour', 'recolour'], True)
    """
    from gridstore.errors import ConfigError

    if not check_kinds(kinds):
        msg = f"no intervention kinds given; choose from {', '.join(KINDS)} (or all)"
        raise ConfigError(msg)
    c = config or GeneratorConfig()
    return make_twins(images, annotations, kinds, c, seed=seed, block=_INTERVENE, first=0)
