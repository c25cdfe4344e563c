"""In-memory corpora: generate one into numpy arrays and split it train / val / test.

This is the seed's Python API (``generate_corpus``, then a split), built on the
same kernel as the store: ``generate_corpus(n, seed)`` returns exactly the
images ``[0, n)`` of the corpus stream of ``(config, seed)`` (see
docs/internals.md). Everything here holds the whole corpus in memory; for
corpora that do not fit, generate a version into a store
(:func:`gridstore.write.create_version`) and read it lazily
(:func:`gridstore.read.open_store`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gridstore.arguments import check_int, check_seed
from gridstore.config import make_config
from gridstore.errors import ConfigError
from gridstore.generate.batch import generate_images
from gridstore.generate.hashing import content_hashes
from gridstore.generate.rng import splitmix64_array
from gridstore.generate.vocab import Annotations
from gridstore.plan import DEFAULT_FRACTIONS, SPLITS, parse_fractions

__all__ = ["BATCH_IMAGES", "generate_corpus", "split_corpus", "split_counts", "split_indices"]

BATCH_IMAGES = 100_000  # images per kernel call (one batch of scratch output in memory)
SplitMode = Literal["disjoint", "independent"]


def _numeric_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]:
    try:
        out = np.dtype(dtype)
    except TypeError:
        out = None
    if out is None or out.kind not in "uif":
        msg = f"dtype must be an integer or float numpy dtype (default uint8), got {dtype!r}"
        raise ConfigError(msg)
    return out


def generate_corpus(
    num_images: int,
    seed: int = 42,
    dtype: npt.DTypeLike = np.uint8,
    show_progress: bool = True,
    preset: str = "atomic",
    **overrides: Any,
) -> tuple[np.ndarray, Annotations]:
    """Generate a corpus of images with their annotations, in memory.

    The result is the first ``num_images`` images of the corpus stream of
    ``(make_config(preset, **overrides), seed)``: byte for byte what
    ``generate_images(config, seed, 0, num_images)`` returns, made in batches
    of ``BATCH_IMAGES`` into preallocated arrays.

    For corpora that fit in memory only: the result takes
    ``num_images * G * G * dtype.itemsize`` bytes for the images plus about
    ``G * G + 9 * max_objects + 1`` bytes per image for the annotations
    (about 550 bytes per image in total for the ``atomic`` preset and uint8).
    For larger corpora, generate a version into a store
    (:func:`gridstore.write.create_version`, ``gridstore generate``) and read
    it lazily with :func:`gridstore.read.open_store`.

    Parameters
    ----------
    num_images : int
        Number of images, >= 1.
    seed : int
        Corpus seed, in [0, 2**64).
    dtype : numpy dtype
        Pixel type of the returned images. uint8 (default) is what gridstore
        stores; other integer and float types are allowed for older code that
        expects them (the values are the same colours 0..9).
    show_progress : bool
        Show a tqdm bar on stderr.
    preset : str
        Generator preset, ``"atomic"`` (default) or ``"shapes"``.
    **overrides
        Generator parameters (see :func:`gridstore.config.make_config`),
        e.g. ``grid_size=8, max_size=8``.

    Returns
    -------
    images : ndarray, shape (num_images, G, G), of ``dtype``
    annotations : Annotations
        Arrays with ``num_images`` rows (see docs/internals.md).

    Raises
    ------
    ConfigError
        ``num_images`` or ``seed`` out of range, a non-numeric ``dtype``, an
        unknown preset or an invalid parameter.

    Examples
    --------
    >>> images, ann = generate_corpus(5, seed=0, show_progress=False)
    >>> images.shape, images.dtype, len(ann)
    ((5, 16, 16), dtype('uint8'), 5)
    >>> generate_corpus(2, seed=0, dtype="float32", show_progress=False)[0].dtype
    dtype('float32')
    """
    n = check_int("num_images", num_images, 1)
    seed = check_seed(seed)
    out_dtype = _numeric_dtype(dtype)
    config = make_config(preset, **overrides)
    g = config.grid_size
    images = np.empty((n, g, g), out_dtype)
    annotations = Annotations.empty(n, g, config.max_objects)

    from tqdm import tqdm

    with tqdm(total=n, unit="img", unit_scale=True, desc="generate", file=sys.stderr,
              disable=not show_progress) as bar:  # fmt: skip
        for start in range(0, n, BATCH_IMAGES):
            stop = min(start + BATCH_IMAGES, n)
            rows = slice(start, stop)
            if out_dtype == np.uint8:  # straight into the result
                generate_images(config, seed, start, stop, out=(images[rows], annotations[rows]))
            else:  # a cast copy (exact: the values are 0..9)
                pixels = np.empty(images[rows].shape, np.uint8)
                generate_images(config, seed, start, stop, out=(pixels, annotations[rows]))
                images[rows] = pixels
            bar.update(stop - start)
    return images, annotations


def split_counts(
    num_images: int, fractions: Sequence[float] | str = DEFAULT_FRACTIONS
) -> tuple[int, int, int]:
    """Return the exact train, val and test counts of ``num_images`` images.

    Largest remainder: each split gets ``floor(f * n)``, and the images left
    over go one each to the splits with the largest fractional parts (ties: the
    earlier split). The counts sum to ``num_images`` and a split of fraction 0
    gets none.

    Raises
    ------
    ConfigError
        Bad fractions or a negative ``num_images``.

    Examples
    --------
    >>> split_counts(1000)
    (800, 100, 100)
    >>> split_counts(7, (0.5, 0.25, 0.25))
    (3, 2, 2)
    """
    n = check_int("num_images", num_images, 0)
    f = np.asarray(
        parse_fractions(fractions if isinstance(fractions, str) else tuple(fractions)), np.float64
    )
    exact = np.round(f * n, 9)  # 0.1 * 30 -> 3.0000000000000004 is 3
    counts = np.floor(exact).astype(np.int64)
    left = n - int(counts.sum())
    order = sorted(range(3), key=lambda s: (-(exact[s] - counts[s]), s))
    for s in order[:left]:
        counts[s] += 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def _row_hashes(images: np.ndarray) -> np.ndarray:
    """64-bit hash of each row's bytes (the store's route hash for uint8 images)."""
    n = len(images)
    if images.dtype == np.uint8:
        return content_hashes(images)
    raw = np.ascontiguousarray(images).reshape(n, -1).view(np.uint8)
    return content_hashes(raw)


def split_indices(
    num_images: int | np.ndarray,
    fractions: Sequence[float] | str = DEFAULT_FRACTIONS,
    *,
    seed: int = 42,
    mode: SplitMode = "disjoint",
) -> dict[str, np.ndarray]:
    """Return the image indices of each split, ascending (see :func:`split_corpus`).

    Parameters
    ----------
    num_images : int or ndarray
        The number of images (``"independent"`` mode only), or the images
        themselves (axis 0 counts them; needed by ``"disjoint"`` mode).
    fractions, seed, mode
        As for :func:`split_corpus`.

    Returns
    -------
    dict
        ``{"train": idx, "val": idx, "test": idx}``, int64 arrays that
        together hold each index once.

    Raises
    ------
    ConfigError
        Bad fractions, seed or mode, or a count given for ``"disjoint"`` mode.

    Examples
    --------
    >>> {s: len(i) for s, i in split_indices(10, mode="independent").items()}
    {'train': 8, 'val': 1, 'test': 1}
    """
    if mode not in ("disjoint", "independent"):
        msg = f"mode must be 'disjoint' or 'independent', got {mode!r}"
        raise ConfigError(msg)
    seed = check_seed(seed)
    images = None if isinstance(num_images, int | np.integer) else np.asarray(num_images)
    if images is None:
        if mode == "disjoint":
            msg = "mode 'disjoint' needs the images (it compares their contents), got a count"
            raise ConfigError(msg)
        n = check_int("num_images", num_images, 0)
    else:
        if images.ndim < 1:
            msg = (
                f"images must have at least one axis (one row per image), got shape {images.shape}"
            )
            raise ConfigError(msg)
        n = len(images)
    counts = split_counts(n, fractions)
    cuts = [0, counts[0], counts[0] + counts[1], n]
    if mode == "independent" or images is None or n == 0:
        order = np.random.default_rng(seed).permutation(n)
    else:
        hashes = _row_hashes(images)
        keys = splitmix64_array(hashes ^ splitmix64_array(np.array([seed], np.uint64)))
        order = np.lexsort((hashes, keys))  # by seeded key; equal images adjacent, stable
        grouped = hashes[order]
        for k in (1, 2):
            cut = max(cuts[k], cuts[k - 1])
            # An identical-image group straddling the cut goes wholly to the earlier split.
            while 0 < cut < n and grouped[cut] == grouped[cut - 1]:
                cut += 1
            cuts[k] = cut
    return {s: np.sort(order[cuts[k] : cuts[k + 1]]).astype(np.int64) for k, s in enumerate(SPLITS)}


def split_corpus(
    images: np.ndarray,
    annotations: Annotations | None = None,
    fractions: Sequence[float] | str = DEFAULT_FRACTIONS,
    *,
    seed: int = 42,
    mode: SplitMode = "disjoint",
) -> dict[str, tuple[np.ndarray, Annotations | None]]:
    """Split an in-memory corpus into train, val and test.

    The counts are ``split_counts(len(images), fractions)`` (80/10/10 by
    default; largest remainder, so they sum to ``len(images)``).

    - ``mode="independent"``: a permutation seeded by ``seed`` is cut at those
      exact counts. Identical images may land in different splits.
    - ``mode="disjoint"`` (default): no image content is in two splits. Images
      are ordered by a seeded key of their content hash (so identical images
      are adjacent), the order is cut at the exact counts, and a group of
      identical images that straddles a cut moves entirely to the earlier
      split. A split can then hold more images than its exact count (and the
      next one fewer) by less than the size of the largest identical group;
      with no duplicates the counts are exact. Images are identical when their
      bytes are.

    Within each split images keep their corpus order. The result holds copies:
    it needs as much memory again as the corpus.

    Parameters
    ----------
    images : ndarray, shape (n, ...)
        The corpus (axis 0 counts images).
    annotations : Annotations, optional
        Their annotations, split alongside (``None`` in the result if omitted).
    fractions : sequence of 3 float
        Train, val, test fractions (>= 0, sum 1), or a string ``"0.8,0.1,0.1"``.
    seed : int
        Seed of the split, in [0, 2**64).
    mode : {"disjoint", "independent"}
        See above.

    Returns
    -------
    dict
        ``{"train": (images, annotations), "val": ..., "test": ...}``.

    Raises
    ------
    ConfigError
        Bad fractions, seed or mode, or annotations of another length.

    Examples
    --------
    >>> images, ann = generate_corpus(20, seed=0, show_progress=False)
    >>> parts = split_corpus(images, ann, seed=0)
    >>> {s: len(x) for s, (x, _) in parts.items()}
    {'train': 16, 'val': 2, 'test': 2}
    """
    images = np.asarray(images)
    if annotations is not None and len(annotations) != len(images):
        msg = (
            f"annotations have {len(annotations)} rows but images {len(images)}; "
            "pass the annotations of these images"
        )
        raise ConfigError(msg)
    parts = split_indices(images, fractions, seed=seed, mode=mode)
    return {
        s: (images[idx], None if annotations is None else annotations[idx])
        for s, idx in parts.items()
    }
