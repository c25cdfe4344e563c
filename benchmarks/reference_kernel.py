"""The generator's kernel before issue 26 (commit 19c6ecb), kept to check and time the new one.

``gridstore/generate/kernel.py`` was rewritten for speed (bit-parallel placement,
no per-cell division for the annotations). It must draw the very same bytes:
``tests/generate/test_kernel_reference.py`` compares the two over many seeds
and configurations, and ``bench_generate.py`` times both in the same run.
This file is the old kernel verbatim (only ``@kernel`` became
``numba.njit(cache=True)``, cached by numba beside this file), with a driver
that mirrors the old ``batch._fill`` for the corpus stream. It is not part of
the package.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from gridstore.config import GeneratorConfig
from gridstore.generate.batch import empty_outputs, flat_arrays, kernel_args
from gridstore.generate.hashing import content_hash
from gridstore.generate.rng import image_key, randint, seed_state, uniform
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES, Annotations

__all__ = ["generate_images_reference"]


def kernel(fn: Any = None, **options: Any) -> Any:
    """``numba.njit(cache=True)`` (the package's ``@kernel`` takes only package modules)."""
    if fn is None:
        return lambda f: numba.njit(cache=True, **options)(f)
    return numba.njit(cache=True, **options)(fn)


BLOB, RECTANGLE, LINE, PATTERN = 1, 2, 3, 4  # object_type codes; 0 = no object


@kernel
def _pick(cum: np.ndarray, u: float) -> int:
    """Index of the first cumulative weight above u."""
    for i in range(cum.shape[0]):
        if u < cum[i]:
            return i
    return cum.shape[0] - 1


@kernel(inline="always")  # a separate compile of this costs 0.5 s
def make_scratch(g: int):
    """Work buffers for :func:`draw_image`, allocated once per batch."""
    cells = g * g
    return (
        np.zeros(cells, np.int64),  # offsets of a shape's cells / a blob's cells
        np.zeros(cells, np.int64),  # valid positions, or the blob's frontier
        np.zeros(cells, np.uint8),  # blob neighbour counts per cell
        np.zeros(4, np.uint64),  # the rng state
        np.zeros(g, np.uint64),  # occupancy, one bit per cell, one word per row (g <= 64)
        np.zeros(g, np.uint64),  # the shape being placed, as row bit masks
    )


@kernel
def _shape(s, t, g, min_size, max_size, tb, offs):
    """Draw a rectangle, line or pattern: its cell offsets (row * g + col) go in offs.

    Returns (cells, height, width, subtype).
    """
    span = max_size - min_size + 1
    if t == RECTANGLE:
        a = randint(s, span)
        k = tb.rect_start[a] + _pick(
            tb.rect_cum[tb.rect_start[a] : tb.rect_start[a] + tb.rect_count[a]], uniform(s)
        )
        h, w = tb.rect_h[k], tb.rect_w[k]
        for r in range(h):
            for c in range(w):
                offs[r * w + c] = r * g + c
        return h * w, h, w, 0
    if t == LINE:
        n = min_size + randint(s, span)
        o = _pick(tb.line_cum, uniform(s))
        for i in range(n):
            if o == 0:
                offs[i] = i
            elif o == 1:
                offs[i] = i * g
            elif o == 2:
                offs[i] = i * g + i
            else:
                offs[i] = i * g + (n - 1 - i)
        if o == 0:
            return n, 1, n, o
        if o == 1:
            return n, n, 1, o
        return n, n, n, o
    f = _pick(tb.family_cum, uniform(s))
    v = tb.family_start[f] + randint(s, tb.family_count[f])
    n = tb.var_size[v]
    for i in range(n):
        k = tb.var_start[v] + i
        offs[i] = tb.cell_r[k] * g + tb.cell_c[k]
    return n, tb.var_h[v], tb.var_w[v], f


@kernel
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@kernel
def _free_columns(g, occ, rowmask, h, cols, r0):
    """Bit c0 set where the shape's top-left corner at (r0, c0) overlaps nothing."""
    bad = np.uint64(0)
    for i in range(h):
        m, o = rowmask[i], occ[r0 + i]
        b = 0
        while m:
            if m & np.uint64(1):
                bad |= o >> np.uint64(b)
            m >>= np.uint64(1)
            b += 1
    full = (
        np.uint64(0xFFFFFFFFFFFFFFFF)
        if cols == 64
        else (np.uint64(1) << np.uint64(cols)) - np.uint64(1)
    )
    return ~bad & full


@kernel
def _place(s, g, inst, occupied, n, h, w, offs, pos, occ, rowmask):
    """Pick a position uniformly among those where the shape overlaps nothing.

    Positions are counted in row-major order of their top-left corner, and the
    k-th free one is taken, k uniform. Returns its flat index, or -1.
    """
    rows, cols = g - h + 1, g - w + 1
    if occupied == 0:  # empty grid: every position fits
        k = randint(s, rows * cols)
        return (k // cols) * g + k % cols
    if g > 64:  # no bit rows: test every position cell by cell
        npos = 0
        for r0 in range(rows):
            for c0 in range(cols):
                base = r0 * g + c0
                free = True
                for i in range(n):
                    if inst[base + offs[i]] != 0:
                        free = False
                        break
                if free:
                    pos[npos] = base
                    npos += 1
        if npos == 0:
            return -1
        return pos[randint(s, npos)]
    for i in range(h):
        rowmask[i] = 0
    for i in range(n):
        rowmask[offs[i] // g] |= np.uint64(1) << np.uint64(offs[i] % g)
    npos = 0
    for r0 in range(rows):  # count first: the draw needs the total
        pos[r0] = _popcount(_free_columns(g, occ, rowmask, h, cols, r0))
        npos += pos[r0]
    if npos == 0:
        return -1
    k = randint(s, npos)
    for r0 in range(rows):
        if k < pos[r0]:
            free = _free_columns(g, occ, rowmask, h, cols, r0)
            for c0 in range(cols):
                if free & (np.uint64(1) << np.uint64(c0)):
                    if k == 0:
                        return r0 * g + c0
                    k -= 1
        k -= pos[r0]
    return -1


@kernel
def _kth_free_cell(g, inst, occ, k):
    """Flat index of the k-th free cell in row-major order."""
    if g <= 64:
        full = (
            np.uint64(0xFFFFFFFFFFFFFFFF)
            if g == 64
            else (np.uint64(1) << np.uint64(g)) - np.uint64(1)
        )
        for r in range(g):
            free = ~occ[r] & full
            n = _popcount(free)
            if k < n:
                for c in range(g):
                    if free & (np.uint64(1) << np.uint64(c)):
                        if k == 0:
                            return r * g + c
                        k -= 1
            k -= n
    for x in range(g * g):
        if inst[x] == 0:
            if k == 0:
                return x
            k -= 1
    return -1


@kernel
def _grow_blob(s, g, inst, occ, occupied, label, min_size, max_size, compact, cells, front, nb):
    """Grow a blob in place from a random free cell; return its size (0: discarded).

    Frontier cells with two or more blob neighbours weigh ``compact``, others 1.
    """
    target = min_size + randint(s, max_size - min_size + 1)
    x = _kth_free_cell(g, inst, occ, randint(s, g * g - occupied))
    size, nfront, n_multi = 0, 0, 0  # n_multi: frontier cells with >= 2 blob neighbours
    while True:
        inst[x] = label  # add x to the blob and its free neighbours to the frontier
        cells[size] = x
        size += 1
        nb[x] = 0
        r, c = x // g, x % g
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < g and 0 <= cc < g and inst[rr * g + cc] == 0:
                y = rr * g + cc
                if nb[y] == 0:
                    front[nfront] = y
                    nfront += 1
                elif nb[y] == 1:
                    n_multi += 1
                nb[y] += 1
        if size >= target or nfront == 0:
            break
        u = uniform(s) * ((nfront - n_multi) + compact * n_multi)
        i = 0
        for i in range(nfront):
            u -= compact if nb[front[i]] >= 2 else 1.0
            if u < 0.0:
                break
        x = front[i]
        if nb[x] >= 2:
            n_multi -= 1
        front[i] = front[nfront - 1]
        nfront -= 1
    for i in range(nfront):
        nb[front[i]] = 0
    if size < min_size:  # hemmed in: discard
        for i in range(size):
            inst[cells[i]] = 0
        return 0
    return size


@kernel
def draw_image(
    s,
    g,
    min_objects,
    max_objects,
    min_size,
    max_size,
    compact,
    max_tries,
    tb,
    image,
    inst,
    otype,
    osub,
    ocol,
    osize,
    obbox,
    scratch,
):
    """Draw one image into zeroed ``image``/``inst`` (flat, g*g) and object rows.

    Returns the number of objects placed (>= 1 for a valid config).
    """
    offs, pos, nb, occ, rowmask = scratch[0], scratch[1], scratch[2], scratch[4], scratch[5]
    occ[:] = 0
    n = min_objects + randint(s, max_objects - min_objects + 1)
    placed, occupied = 0, np.int64(0)  # not a literal 0: callees compile once
    for _ in range(n):
        t = _pick(tb.type_cum, uniform(s)) + 1
        colour = 1 + randint(s, 9)
        label = placed + 1
        size = 0
        sub = 0
        for _try in range(max_tries):
            if t == BLOB:
                if occupied == g * g:
                    break  # no free cell to start from: skip the object, drawing nothing
                size = _grow_blob(
                    s, g, inst, occ, occupied, label, min_size, max_size, compact, offs, pos, nb
                )
                if size > 0:
                    for i in range(size):
                        image[offs[i]] = colour
                    break
            else:
                ncells, h, w, sub = _shape(s, t, g, min_size, max_size, tb, offs)
                base = _place(s, g, inst, occupied, ncells, h, w, offs, pos, occ, rowmask)
                if base >= 0:
                    for i in range(ncells):
                        inst[base + offs[i]] = label
                        image[base + offs[i]] = colour
                        offs[i] += base
                    size = ncells
                    break
        if size == 0:
            continue  # no room after max_tries: skip this object
        r0, c0, r1, c1 = g, g, 0, 0
        for i in range(size):
            r, c = offs[i] // g, offs[i] % g
            r0, c0, r1, c1 = min(r0, r), min(c0, c), max(r1, r), max(c1, c)
            if g <= 64:
                occ[r] |= np.uint64(1) << np.uint64(c)
        otype[placed] = t
        osub[placed] = sub
        ocol[placed] = colour
        osize[placed] = size
        obbox[placed, 0], obbox[placed, 1], obbox[placed, 2], obbox[placed, 3] = r0, c0, r1, c1
        placed += 1
        occupied += size
    return placed


@kernel
def _stream(seed, first, n, g, nmin, nmax, smin, smax, compact, tries, tb,
            img, inst, n_obj, otype, osub, ocol, osize, obbox, hashes):  # fmt: skip
    """Images ``first .. first + n - 1`` of the corpus stream, as the old ``batch._fill``."""
    scratch = make_scratch(g)
    k = otype.shape[1]
    for row in range(n):
        j = first + row
        key = image_key(np.uint64(seed), np.uint64(j // 5000), np.uint64(j % 5000))
        seed_state(scratch[3], key)
        n_obj[row] = draw_image(scratch[3], g, nmin, nmax, smin, smax, compact, tries, tb,
                                img[row], inst[row], otype[row], osub[row], ocol[row],
                                osize[row], obbox[row].reshape((k, 4)), scratch)  # fmt: skip
        hashes[row] = content_hash(img[row])


def generate_images_reference(
    config: GeneratorConfig, seed: int, start: int, stop: int
) -> tuple[np.ndarray, Annotations, np.ndarray]:
    """Images ``[start, stop)`` of the corpus stream, their annotations and content hashes."""
    assert ROUTING_BLOCK_IMAGES == 5000
    n = stop - start
    images, ann = empty_outputs(n, config)
    hashes = np.zeros(n, np.uint64)
    _stream(np.uint64(seed), np.int64(start), np.int64(n), *kernel_args(config),
            *flat_arrays(images, ann), hashes)  # fmt: skip
    return images, ann, hashes
