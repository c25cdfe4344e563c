"""Batches of images with their annotations: the corpus stream and routed blocks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridstore._jit import kernel
from gridstore.arguments import check_seed
from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate.hashing import content_hash, content_hashes
from gridstore.generate.holdout import HOLD_NONE, HOLD_ONLY, HOLD_OUT, NO_CONDITIONS, matches_any
from gridstore.generate.kernel import draw_image, make_scratch, unowned_scratch, unowned_tables
from gridstore.generate.rng import image_key, seed_state, split_of, splitmix64
from gridstore.generate.shapes import build_tables
from gridstore.generate.unowned import unowned
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES, Annotations

__all__ = [
    "BlockOutput",
    "empty_outputs",
    "flat_arrays",
    "generate_block",
    "generate_blocks",
    "generate_images",
]

MAX_DRAWS_PER_SLOT = 50  # a block drawing this many times its slots cannot fill its splits
_ROUTE_SALT = np.uint64(0x5EED5EED5EED5EED)


@dataclass(frozen=True)
class BlockOutput:
    """One routing block's images, split by split (views of one buffer)."""

    images: list[np.ndarray]
    annotations: list[Annotations]
    hashes: list[np.ndarray]
    draws: int
    held: int = 0  # draws passed over as matching a hold-out condition


def kernel_args(config: GeneratorConfig) -> tuple:
    c = config
    return (
        c.grid_size,
        c.min_objects,
        c.max_objects,
        c.min_size,
        c.max_size,
        float(c.blob_compactness),
        c.max_tries,
        build_tables(c),
    )


STREAM, BY_CONTENT, BY_POSITION = 0, 1, 2  # how _fill routes a drawn image to a split
NO_SKIP, NO_FLAGS = np.zeros(0, np.int64), np.zeros(0, np.uint8)  # none of either


@kernel
def _copy(dst, row, src):
    """dst[row] = src for a 2-D dst, as a loop (no row view, no slice assignment to compile)."""
    for i in range(src.shape[0]):
        dst[row, i] = src[i]


@kernel
def _fill(seed, block, first, quotas, offsets, route, cum_fracs, max_draws, skip, hold, mode,
          flags, tally, g, nmin, nmax, smin, smax, compact, tries, tb,
          img, inst, n_obj, otype, osub, ocol, osize, obbox, hashes):  # fmt: skip
    """Draw images j = first, first + 1, ... of a routing block, keeping each if its split has room.

    ``route`` is STREAM (every image to split 0, in order), BY_CONTENT (a hash of
    the image's bytes picks the split) or BY_POSITION (a hash of its key does).
    This one kernel serves the corpus stream and routed blocks, so it is compiled once.
    Split ``s``'s images go to rows ``offsets[s]``, ``offsets[s] + 1``, ...
    Draws listed in ``skip`` (ascending) are passed over without being drawn: a
    unique version's repeats (see gridstore.write.unique). ``hold``: hold-out
    conditions (`gridstore.generate.holdout`); ``mode`` HOLD_OUT passes over the
    draws that match one, HOLD_ONLY over those that do not; ``flags[row]``, if
    given, says whether the row's image matches; ``tally[0]`` counts the draws passed over so.
    Returns the number of draws, or -1 if max_draws did not fill every quota.
    """
    scratch = make_scratch(g)
    k = otype.shape[1]
    cells = g * g
    s_img = np.zeros(cells, np.uint8)
    s_inst = np.zeros(cells, np.uint8)
    s_type = np.zeros(k, np.uint8)
    s_sub = np.zeros(k, np.uint8)
    s_col = np.zeros(k, np.uint8)
    s_size = np.zeros(k, np.uint16)
    s_bbox = np.zeros(k * 4, np.uint8)
    s_bbox2 = s_bbox.reshape((k, 4))  # the same bytes, as the kernel writes them
    # draw_image takes views without reference counts: the atomic counts of the arrays
    # it binds were a third of its time. Their owners stay alive: the loop uses them.
    v_scratch, v_tb = unowned_scratch(scratch), unowned_tables(tb)
    v_img, v_inst, v_type, v_sub = unowned(s_img), unowned(s_inst), unowned(s_type), unowned(s_sub)
    v_col, v_size, v_bbox = unowned(s_col), unowned(s_size), unowned(s_bbox2)
    counts = np.zeros(3, np.int64)
    remaining = quotas[0] + quotas[1] + quotas[2]
    j = first
    skipped = 0
    while remaining > 0:
        if j - first >= max_draws:
            return -1
        if skipped < skip.shape[0] and skip[skipped] == j:
            skipped += 1
            j += 1
            continue
        key = image_key(np.uint64(seed), np.uint64(block), np.uint64(j))
        seed_state(scratch[3], key)
        s_img[:] = 0
        s_inst[:] = 0
        s_type[:] = 0
        s_sub[:] = 0
        s_col[:] = 0
        s_size[:] = 0
        s_bbox[:] = 0
        n = draw_image(v_scratch[3], g, nmin, nmax, smin, smax, compact, tries, v_tb, v_img, v_inst,
                       v_type, v_sub, v_col, v_size, v_bbox, v_scratch)  # fmt: skip
        m = hold.shape[0] > 0 and matches_any(hold, n, s_type, s_sub, s_col, s_size)
        if (mode == HOLD_OUT and m) or (mode == HOLD_ONLY and not m):
            tally[0] += 1
            j += 1
            continue
        h = content_hash(s_img)
        split = 0
        if route != STREAM:
            split = split_of(h if route == BY_CONTENT else splitmix64(key ^ _ROUTE_SALT), cum_fracs)
        j += 1
        if counts[split] >= quotas[split]:
            continue
        row = offsets[split] + counts[split]
        counts[split] += 1
        remaining -= 1
        _copy(img, row, s_img)
        _copy(inst, row, s_inst)
        n_obj[row] = n
        _copy(otype, row, s_type)
        _copy(osub, row, s_sub)
        _copy(ocol, row, s_col)
        _copy(osize, row, s_size)
        _copy(obbox, row, s_bbox)
        hashes[row] = h
        if flags.shape[0] > 0:
            flags[row] = m
    return j - first


def empty_outputs(n: int, config: GeneratorConfig) -> tuple[np.ndarray, Annotations]:
    """Zeroed images and annotations for ``n`` rows, as the kernels fill them."""
    g = config.grid_size
    return np.zeros((n, g, g), np.uint8), Annotations.empty(n, g, config.max_objects)


def flat_arrays(images: np.ndarray, ann: Annotations) -> tuple[np.ndarray, ...]:
    """Images and annotations as the kernels take them, a row each: images, instance
    maps, then the annotations (views of contiguous arrays, contiguous copies of others)."""
    n, g = len(images), ann.instance_map.shape[-1]
    return (
        images.reshape(n, g * g),
        ann.instance_map.reshape(n, g * g),
        ann.num_objects,
        ann.object_type,
        ann.object_subtype,
        ann.object_colour,
        ann.object_size,
        ann.object_bbox.reshape(n, ann.object_bbox.shape[1] * 4),
    )


def generate_images(
    config: GeneratorConfig,
    seed: int,
    start: int,
    stop: int,
    *,
    out: tuple[np.ndarray, Annotations] | None = None,
) -> tuple[np.ndarray, Annotations]:
    """Generate images ``[start, stop)`` of the corpus stream of ``(config, seed)``.

    The corpus stream is what :func:`gridstore.generate_corpus` returns: any cut
    of it into ranges gives the same bytes.

    Parameters
    ----------
    config : GeneratorConfig
        The distribution.
    seed : int
        Dataset seed, in [0, 2**64).
    start, stop : int
        Image range, 0 <= start <= stop.
    out : (ndarray, Annotations), optional
        Arrays of ``stop - start`` rows to generate into (uint8 images, C
        order; any contents): the kernel writes every byte of each row, so
        the caller's arrays need no copy. Default: new arrays.

    Returns
    -------
    images : ndarray, shape (stop - start, G, G), uint8
    annotations : Annotations
        ``out`` when given.

    Examples
    --------
    >>> images, ann = generate_images(GeneratorConfig(), seed=0, start=0, stop=3)
    >>> images.shape, int(ann.num_objects.min()) >= 1
    ((3, 16, 16), True)
    """
    check_seed(seed)
    if not 0 <= start <= stop:
        msg = f"image range must satisfy 0 <= start <= stop, got [{start}, {stop})"
        raise ConfigError(msg)
    images, ann = empty_outputs(stop - start, config) if out is None else out
    arrays = (images, *ann.as_dict().values())
    if images.dtype != np.uint8 or any(len(a) != stop - start for a in arrays):
        msg = f"out must hold {stop - start} rows (images uint8), got {images.dtype} {images.shape}"
        raise ConfigError(msg)
    if not all(a.flags.c_contiguous for a in arrays):  # a reshape would copy: rows lost
        msg = "out arrays must be C-contiguous"
        raise ConfigError(msg)
    flat = flat_arrays(images, ann)
    hashes = np.empty(stop - start, np.uint64)
    args = kernel_args(config)
    no_fracs, no_offsets = np.ones(3, np.float64), np.zeros(3, np.int64)
    i = start
    while i < stop:  # the stream is the routing blocks' draws, in order
        block, first = divmod(i, ROUTING_BLOCK_IMAGES)
        n = min(stop - i, ROUTING_BLOCK_IMAGES - first)
        rows = slice(i - start, i - start + n)
        quotas = np.array([n, 0, 0], np.int64)
        _fill(
            np.uint64(seed),
            np.int64(block),
            np.int64(first),
            quotas,
            no_offsets,
            STREAM,
            no_fracs,
            np.int64(n),
            NO_SKIP,
            NO_CONDITIONS,
            HOLD_NONE,
            NO_FLAGS,
            np.zeros(1, np.int64),
            *args,
            *(a[rows] for a in flat),
            hashes[rows],
        )
        i += n
    return images, ann


def generate_block(
    config: GeneratorConfig,
    seed: int,
    block: int,
    quotas: tuple[int, int, int],
    fractions: tuple[float, float, float],
    *,
    disjoint: bool = True,
) -> BlockOutput:
    """Generate one routing block: ``quotas[s]`` images for each split ``s``.

    Parameters
    ----------
    config, seed : GeneratorConfig, int
        The distribution and the dataset seed.
    block : int
        Routing block index.
    quotas : tuple of 3 int
        Images this block gives train, val and test.
    fractions : tuple of 3 float
        Split fractions (sum 1); route keys in [0, 1) are cut by their cumulative sums.
    disjoint : bool
        Route by a hash of the image's bytes (no image in two splits), or by a
        hash of its stream position (``independent`` iid split).

    Returns
    -------
    BlockOutput (raises ConfigError: too few distinct images to fill a split disjointly)
    """
    return generate_blocks(config, seed, block, [quotas], fractions, disjoint=disjoint)


def generate_blocks(
    config: GeneratorConfig,
    seed: int,
    first_block: int,
    quotas: Sequence[tuple[int, int, int]],
    fractions: tuple[float, float, float],
    *,
    disjoint: bool = True,
    out: tuple[np.ndarray, Annotations, np.ndarray] | None = None,
    skips: Sequence[np.ndarray] | None = None,
    hold: np.ndarray = NO_CONDITIONS,
) -> BlockOutput:
    """Generate routing blocks ``first_block, first_block + 1, ...`` into one buffer.

    Block ``first_block + i`` gives split ``s`` ``quotas[i][s]`` images. The
    rows are the blocks' rows concatenated, split by split (all of train, then
    val, then test), written in place: no block is copied after it is drawn.

    Parameters
    ----------
    config, seed, fractions, disjoint
        As for :func:`generate_block`.
    first_block : int
        The first routing block.
    quotas : sequence of (int, int, int)
        Each block's images per split.
    out : (ndarray, Annotations, ndarray), optional
        Images (uint8, C order), annotations and uint64 hashes of exactly the
        blocks' total rows, to generate into (any contents: every byte of each
        row is written). A writer reuses them from task to task. Default: new
        arrays.

    Returns
    -------
    BlockOutput
        Views of ``out`` (or of new arrays), split by split; ``draws`` summed.
    """
    check_seed(seed)
    q = np.asarray(quotas, np.int64).reshape(-1, 3)
    per_split = q.sum(axis=0)
    total = int(per_split.sum())
    if out is None:
        images, ann = empty_outputs(total, config)
        hashes = np.zeros(total, np.uint64)
    else:
        images, ann, hashes = out
        if len(images) != total or len(hashes) != total or not images.flags.c_contiguous:
            msg = f"out must hold {total} C-contiguous rows, got {images.shape}"
            raise ConfigError(msg)
    flat, args = flat_arrays(images, ann), kernel_args(config)
    cum = np.cumsum(np.asarray(fractions, np.float64))
    cum[-1] = 1.0
    split_start = np.concatenate([[0], np.cumsum(per_split)[:-1]])
    done, held = np.zeros(3, np.int64), np.zeros(1, np.int64)  # held: matching draws passed over
    draws = 0
    for i, block_quotas in enumerate(q):
        block, slots = first_block + i, max(int(block_quotas.sum()), 1)
        max_draws = slots * MAX_DRAWS_PER_SLOT  # skips included: a unique block's cap too
        drawn = _fill(
            np.uint64(seed),
            np.int64(block),
            np.int64(0),
            block_quotas,
            split_start + done,
            BY_CONTENT if disjoint else BY_POSITION,
            cum,
            np.int64(max_draws),
            NO_SKIP if skips is None else np.asarray(skips[i], np.int64),
            hold,
            HOLD_OUT,
            NO_FLAGS,
            held,
            *args,
            *flat,
            hashes,
        )
        if drawn < 0:
            msg = (
                f"block {block} drew {max_draws} images without filling its splits "
                f"{tuple(int(x) for x in block_quotas)}: the distribution has too few distinct "
                + ("images for a unique version of this size" if skips is not None else
                   "images for disjoint splits; use split_mode='independent' or a larger grid")
                + ("; or the hold-out conditions remove too many draws" if len(hold) else "")
            )  # fmt: skip
            raise ConfigError(msg)
        done += block_quotas
        draws += int(drawn)
    bounds = np.concatenate([[0], np.cumsum(per_split)])
    parts = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    return BlockOutput(
        images=[images[p] for p in parts],
        annotations=[ann[p] for p in parts],
        hashes=[hashes[p] for p in parts],
        draws=draws,
        held=int(held[0]),
    )


def load_kernels() -> None:
    """Load (or compile) the kernels a generation task calls: one image made and hashed."""
    block = generate_block(GeneratorConfig(), 0, 0, (1, 0, 0), (1.0, 0.0, 0.0))
    content_hashes(block.images[0])
