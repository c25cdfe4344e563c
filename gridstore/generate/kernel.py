"""The numba kernel that draws one image, exactly as GENERATOR.md describes.

Order of draws for one image (this order *is* the distribution's byte layout):
number of objects; then per object: type, colour, and per try (up to
``max_tries``) the shape's parameters followed by its position (for a blob:
target size, start cell, then one draw per grown cell).

Images are handled as flat arrays of ``G * G`` cells (index ``r * G + c``).
For ``G <= 64`` the occupancy is also kept as one 64-bit word per row, and a
shape's free positions are found bit-parallel: the positions of row ``r0``
that overlap nothing are the complement of the OR, over the shape's cells
``(dr, dc)``, of row ``r0 + dr`` shifted right by ``dc``. Larger grids test
positions cell by cell. Both pick the same position for the same draws (see
docs/internals.md, "The kernel").
"""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel
from gridstore.generate.rng import randint, uniform
from gridstore.generate.shapes import ShapeTables
from gridstore.generate.unowned import unowned

__all__ = [
    "BLOB",
    "LINE",
    "PATTERN",
    "RECTANGLE",
    "draw_image",
    "make_scratch",
    "unowned_scratch",
    "unowned_tables",
]

BLOB, RECTANGLE, LINE, PATTERN = 1, 2, 3, 4  # object_type codes; 0 = no object
_ONE = np.uint64(1)
# error_model="numpy": no ZeroDivisionError paths (no divisor here can be 0), half the
# machine code, and fewer branches per image


@kernel(error_model="numpy")
def _pick(cum: np.ndarray, lo: int, hi: int, u: float) -> int:
    """Offset from ``lo`` of the first cumulative weight in ``cum[lo:hi]`` above u.

    ``cum`` never decreases, so that is the number of weights at or below u:
    counted without a data-dependent branch (a mispredicted one costs more).
    """
    k = 0
    for i in range(lo, hi):
        k += cum[i] <= u
    return min(k, hi - 1 - lo)


@kernel(inline="always")  # a separate compile of this costs 0.5 s
def make_scratch(g: int):
    """Work buffers for :func:`draw_image`, allocated once per batch."""
    cells = g * g
    rows, cols = np.zeros(cells, np.int64), np.zeros(cells, np.int64)
    for x in range(cells):  # a cell's row and column without a division per use
        rows[x], cols[x] = x // g, x % g
    return (
        np.zeros(cells, np.int64),  # a placed object's cells (flat indices)
        np.zeros(cells, np.int64),  # the blob's frontier; per-row free counts
        np.zeros(cells, np.uint8),  # blob neighbour counts per cell
        np.zeros(4, np.uint64),  # the rng state
        np.zeros(g, np.uint64),  # occupancy, one bit per cell, one word per row (g <= 64)
        np.zeros(g, np.uint64),  # free top-left positions per row
        np.zeros(cells, np.int64),  # the shape's cell rows
        np.zeros(cells, np.int64),  # the shape's cell columns
        rows,  # the row of each flat cell index
        cols,  # its column
    )


@kernel(inline="always")
def unowned_scratch(sc):
    """:func:`make_scratch`'s buffers as views without reference counts (`gridstore.generate.unowned`)."""
    return (unowned(sc[0]), unowned(sc[1]), unowned(sc[2]), unowned(sc[3]), unowned(sc[4]),
            unowned(sc[5]), unowned(sc[6]), unowned(sc[7]), unowned(sc[8]), unowned(sc[9]))  # fmt: skip


@kernel(inline="always")
def unowned_tables(t):
    """The shape tables as views without reference counts (`gridstore.generate.unowned`)."""
    return ShapeTables(
        unowned(t.type_cum), unowned(t.line_cum), unowned(t.rect_start), unowned(t.rect_count),
        unowned(t.rect_h), unowned(t.rect_w), unowned(t.rect_cum), unowned(t.family_cum),
        unowned(t.family_start), unowned(t.family_count), unowned(t.var_h), unowned(t.var_w),
        unowned(t.var_start), unowned(t.var_size), unowned(t.cell_r), unowned(t.cell_c),
    )  # fmt: skip


@kernel(error_model="numpy")
def _popcount(x: np.uint64) -> np.int64:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@kernel(error_model="numpy")
def _kth_bit(x: np.uint64, k: int) -> np.int64:
    """Position of the k-th set bit of x (k < popcount(x)), lowest first."""
    for _ in range(k):
        x &= x - _ONE  # clear the lowest set bit
    return _popcount((x & (~x + _ONE)) - _ONE)  # trailing zeros


@kernel(error_model="numpy")
def _mask(bits: int) -> np.uint64:
    """The lowest ``bits`` bits set (bits <= 64)."""
    if bits >= 64:
        return np.uint64(0xFFFFFFFFFFFFFFFF)
    return (_ONE << np.uint64(bits)) - _ONE


@kernel(error_model="numpy", inline="always")
def _shape(s, t, min_size, max_size, tb, cr, cc):
    """Draw a rectangle, line or pattern: its cells' rows and columns go in cr, cc.

    Returns (cells, height, width, subtype).
    """
    span = max_size - min_size + 1
    if t == RECTANGLE:
        a = randint(s, span)
        lo = tb.rect_start[a]
        k = lo + _pick(tb.rect_cum, lo, lo + tb.rect_count[a], uniform(s))
        h, w = tb.rect_h[k], tb.rect_w[k]
        r, c = 0, 0
        for i in range(h * w):  # row by row, without a division or a branch per cell
            cr[i], cc[i] = r, c
            c += 1
            wrap = c == w
            r += wrap
            c -= w * wrap
        return h * w, h, w, 0
    if t == LINE:
        n = min_size + randint(s, span)
        o = _pick(tb.line_cum, 0, tb.line_cum.shape[0], uniform(s))
        down, across, first = o != 0, (o != 1) - 2 * (o == 3), (n - 1) * (o == 3)
        for i in range(n):  # horizontal, vertical, diagonal, anti-diagonal
            cr[i], cc[i] = i * down, first + i * across
        if o == 0:
            return n, 1, n, o
        if o == 1:
            return n, n, 1, o
        return n, n, n, o
    f = _pick(tb.family_cum, 0, tb.family_cum.shape[0], uniform(s))
    v = tb.family_start[f] + randint(s, tb.family_count[f])
    n, k0 = tb.var_size[v], tb.var_start[v]
    for i in range(n):
        cr[i] = tb.cell_r[k0 + i]
        cc[i] = tb.cell_c[k0 + i]
    return n, tb.var_h[v], tb.var_w[v], f


@kernel(error_model="numpy", inline="always")
def _place(s, g, inst, occupied, n, h, w, cr, cc, occ, free, counts):
    """Pick a top-left corner uniformly among those where the shape overlaps nothing.

    Positions are counted in row-major order, and the k-th free one is taken,
    k uniform. Returns its (row, column), or (-1, -1).
    """
    rows, cols = g - h + 1, g - w + 1
    if occupied == 0:  # empty grid: every position fits
        k = randint(s, rows * cols)
        return k // cols, k % cols
    if g > 64:  # no bit rows: the k-th free position, found cell by cell
        npos = 0
        for r0 in range(rows):
            counts[r0] = 0
            for c0 in range(cols):
                fits = True
                for i in range(n):
                    if inst[(r0 + cr[i]) * g + c0 + cc[i]] != 0:
                        fits = False
                        break
                counts[r0] += fits
            npos += counts[r0]
        if npos == 0:
            return -1, -1
        k = randint(s, npos)
        for r0 in range(rows):
            if k < counts[r0]:
                for c0 in range(cols):
                    fits = True
                    for i in range(n):
                        if inst[(r0 + cr[i]) * g + c0 + cc[i]] != 0:
                            fits = False
                            break
                    if fits:
                        if k == 0:
                            return r0, c0
                        k -= 1
            k -= counts[r0]
        return -1, -1
    full = _mask(cols)
    npos = 0
    for r0 in range(rows):  # the overlaps of row r0: one shifted OR per cell
        bad = np.uint64(0)
        for i in range(n):
            bad |= occ[r0 + cr[i]] >> np.uint64(cc[i])
        free[r0] = ~bad & full
        counts[r0] = _popcount(free[r0])
        npos += counts[r0]
    if npos == 0:
        return -1, -1
    k = randint(s, npos)
    for r0 in range(rows):
        if k < counts[r0]:
            return r0, _kth_bit(free[r0], k)
        k -= counts[r0]
    return -1, -1


@kernel(error_model="numpy")
def _kth_free_cell(g, inst, occ, k):
    """Flat index of the k-th free cell in row-major order (-1: none)."""
    if g <= 64:
        full = _mask(g)
        for r in range(g):
            free = ~occ[r] & full
            n = _popcount(free)
            if k < n:
                return r * g + _kth_bit(free, k)
            k -= n
        return -1
    for x in range(g * g):
        if inst[x] == 0:
            if k == 0:
                return x
            k -= 1
    return -1


@kernel(error_model="numpy", inline="always")
def _grow_blob(s, g, inst, occ, occupied, label, min_size, max_size, compact, cells, front, nb,
               rowof, colof):  # fmt: skip
    """Grow a blob in place from a random free cell.

    Frontier cells with two or more blob neighbours weigh ``compact``, others 1.
    Returns its size (0: discarded) and bounding box (r0, c0, r1, c1).
    """
    target = min_size + randint(s, max_size - min_size + 1)
    x = _kth_free_cell(g, inst, occ, randint(s, g * g - occupied))
    size, nfront, n_multi = 0, 0, 0  # n_multi: frontier cells with >= 2 blob neighbours
    r0, c0, r1, c1 = g, g, 0, 0
    while True:
        inst[x] = label  # add x to the blob and its free neighbours to the frontier
        cells[size] = x
        size += 1
        nb[x] = 0
        r, c = rowof[x], colof[x]
        r0, c0, r1, c1 = min(r0, r), min(c0, c), max(r1, r), max(c1, c)
        for k in range(4):  # up, down, left, right; no data-dependent branch
            if k == 0:
                ok, y = r > 0, x - g
            elif k == 1:
                ok, y = r < g - 1, x + g
            elif k == 2:
                ok, y = c > 0, x - 1
            else:
                ok, y = c < g - 1, x + 1
            y = y if ok else x  # x is in the blob now: never free
            free, seen = inst[y] == 0, nb[y]
            front[nfront] = y  # kept only if new to the frontier
            nfront += free & (seen == 0)
            n_multi += free & (seen == 1)
            nb[y] = seen + free
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
        return 0, r0, c0, r1, c1
    return size, r0, c0, r1, c1


@kernel(error_model="numpy", inline="always")
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
    cells, front, nb, occ, free = scratch[0], scratch[1], scratch[2], scratch[4], scratch[5]
    cr, cc, rowof, colof = scratch[6], scratch[7], scratch[8], scratch[9]
    bits = g <= 64
    for r in range(g if bits else 0):
        occ[r] = 0
    n = min_objects + randint(s, max_objects - min_objects + 1)
    placed, occupied = 0, np.int64(0)  # not a literal 0: callees compile once
    for _ in range(n):
        t = _pick(tb.type_cum, 0, tb.type_cum.shape[0], uniform(s)) + 1
        colour = 1 + randint(s, 9)
        label = placed + 1
        size, sub, r0, c0, r1, c1 = 0, 0, 0, 0, 0, 0
        for _try in range(max_tries):
            if t == BLOB:
                if occupied == g * g:
                    break  # no free cell to start from: skip the object, drawing nothing
                size, r0, c0, r1, c1 = _grow_blob(
                    s, g, inst, occ, occupied, label, min_size, max_size, compact, cells, front,
                    nb, rowof, colof,
                )  # fmt: skip
                if size > 0:
                    for i in range(size):
                        x = cells[i]
                        image[x] = colour
                        if bits:
                            occ[rowof[x]] |= _ONE << np.uint64(colof[x])
                    break
            else:
                ncells, h, w, sub = _shape(s, t, min_size, max_size, tb, cr, cc)
                r0, c0 = _place(s, g, inst, occupied, ncells, h, w, cr, cc, occ, free, front)
                if r0 >= 0:
                    for i in range(ncells):
                        r, c = r0 + cr[i], c0 + cc[i]
                        x = r * g + c
                        inst[x] = label
                        image[x] = colour
                        if bits:
                            occ[r] |= _ONE << np.uint64(c)
                    r1, c1 = r0 + h - 1, c0 + w - 1
                    size = ncells
                    break
        if size == 0:
            continue  # no room after max_tries: skip this object
        otype[placed] = t
        obbox[placed, 0], obbox[placed, 1], obbox[placed, 2], obbox[placed, 3] = r0, c0, r1, c1
        osub[placed] = sub
        ocol[placed] = colour
        osize[placed] = size
        placed += 1
        occupied += size
    return placed
