"""The numba kernel that renders images with given factors (see `gridstore.factors.render`).

Each object is drawn in the generator's order of steps (type, colour, then per
try a shape and its position, or a blob's target size, start cell and growth),
every step restricted to the values the fixed factors allow. With no factor
fixed, each step is the generator's own (docs/generator.md), so free factors
follow its distribution. Images are flat arrays of ``G * G`` cells.
"""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel
from gridstore.generate.rng import image_key, randint, seed_state, uniform

__all__ = ["render_rows"]

BLOB = 1
RENDER_BLOCK = np.uint64(0xFAC7_0125_0000_0000)  # render's streams: apart from any routing block


@kernel
def _ax(v, n):
    """Index of factor value ``v`` on a feasibility axis of n + 1 entries (-1: the last, any)."""
    return n if v < 0 else v


@kernel
def _draw_type(s, cat, sub, size, row, col):
    """An object type by the config's weights, among the types the fixed factors allow."""
    f = cat.feasible
    a1, a2 = _ax(sub, f.shape[1] - 1), _ax(size, f.shape[2] - 1)
    a3, a4 = _ax(row, f.shape[3] - 1), _ax(col, f.shape[4] - 1)
    total = 0.0
    for t in range(1, 5):
        if f[t, a1, a2, a3, a4]:
            total += cat.type_w[t]
    u = uniform(s) * total
    last = 0
    for t in range(1, 5):
        if f[t, a1, a2, a3, a4]:
            last = t
            u -= cat.type_w[t]
            if u < 0.0:
                return t
    return last


@kernel
def _fits(cat, k, row, col, g):
    """Does catalogue row k fit with its corner on the fixed row and column (-1: free)?"""
    return (row < 0 or cat.h[k] <= g - row) and (col < 0 or cat.w[k] <= g - col)


@kernel
def _free_at(inst, cat, k, base, g):
    for i in range(cat.size[k]):
        j = cat.start[k] + i
        if inst[base + cat.cell_r[j] * g + cat.cell_c[j]] != 0:
            return False
    return True


@kernel
def _draw_shape(s, cat, inst, t, sub, size, row, col, g):
    """A catalogue row of type t by its probability, among those the fixed factors allow.

    With the corner fixed, only shapes that overlap nothing there count (one
    pass, not a try per overlapping shape); -1 when none does.
    """
    a, b = cat.type_start[t], cat.type_start[t + 1]
    if sub < 0 and size < 0 and row < 0 and col < 0:  # the generator's draw: bisect the type's cum
        u = uniform(s)
        while a < b - 1:
            m = (a + b) // 2
            if u < cat.cum[m - 1]:
                b = m
            else:
                a = m
        return a
    s_lo, s_hi = (size, size + 1) if size >= 0 else (0, cat.group.shape[2] - 1)
    u_lo, u_hi = (sub, sub + 1) if sub >= 0 else (0, cat.group.shape[1])
    total = 0.0
    for u in range(u_lo, u_hi):
        for k in range(cat.group[t, u, s_lo], cat.group[t, u, s_hi]):
            if _fits(cat, k, row, col, g) and (
                row < 0 or col < 0 or _free_at(inst, cat, k, row * g + col, g)
            ):
                total += cat.prob[k]
    x = uniform(s) * total
    last = -1
    for u in range(u_lo, u_hi):
        for k in range(cat.group[t, u, s_lo], cat.group[t, u, s_hi]):
            if _fits(cat, k, row, col, g) and (
                row < 0 or col < 0 or _free_at(inst, cat, k, row * g + col, g)
            ):
                last = k
                x -= cat.prob[k]
                if x < 0.0:
                    return k
    return last


@kernel
def _place(s, g, inst, occupied, cat, k, row, col, pos):
    """A corner uniform among those (on the fixed row / column) where shape k overlaps nothing."""
    r_lo, r_hi = (row, row + 1) if row >= 0 else (0, g - cat.h[k] + 1)
    c_lo, c_hi = (col, col + 1) if col >= 0 else (0, g - cat.w[k] + 1)
    if occupied == 0:  # every corner fits
        x = randint(s, (r_hi - r_lo) * (c_hi - c_lo))
        return (r_lo + x // (c_hi - c_lo)) * g + c_lo + x % (c_hi - c_lo)
    npos = 0
    for r0 in range(r_lo, r_hi):
        for c0 in range(c_lo, c_hi):
            if _free_at(inst, cat, k, r0 * g + c0, g):
                pos[npos] = r0 * g + c0
                npos += 1
    if npos == 0:
        return -1
    return pos[randint(s, npos)]


@kernel
def _start_ok(x, g, row, col):
    """May a blob with fixed corner (row, col) start at cell x? (-1: that side is free)."""
    r, c = x // g, x % g
    if r < max(row, 0) or c < max(col, 0):
        return False
    if row >= 0 and col >= 0:
        return r == row or c == col
    if row >= 0:
        return r == row
    if col >= 0:
        return c == col
    return True


@kernel
def _grow_blob(
    s, g, inst, occupied, label, size, row, col, min_size, max_size, compact, cells, front, nb,
    at_corner,
):  # fmt: skip
    """Grow a blob as the generator does, inside the quadrant the fixed corner allows.

    It starts from a free cell of the corner's row and column (either, when
    both are fixed), or from the corner cell itself when ``at_corner`` and the
    cell is free.

    Returns its size, or 0 (cells cleared) when it ends below ``min_size`` or
    misses a fixed size, row or column.
    """
    target = size if size >= 0 else min_size + randint(s, max_size - min_size + 1)
    nstart = g * g - occupied  # the generator's start: any free cell
    if row >= 0 or col >= 0:
        nstart = 0
        for x in range(g * g):
            if inst[x] == 0 and _start_ok(x, g, row, col):
                nstart += 1
    if nstart == 0:
        return 0
    x = 0
    if at_corner and row >= 0 and col >= 0 and inst[row * g + col] == 0:
        x = row * g + col
    else:
        k = randint(s, nstart)
        for x in range(g * g):
            if inst[x] == 0 and _start_ok(x, g, row, col):
                if k == 0:
                    break
                k -= 1
    r_min, c_min = max(row, 0), max(col, 0)
    got, nfront, n_multi = 0, 0, 0
    while True:
        inst[x] = label
        cells[got] = x
        got += 1
        nb[x] = 0
        r, c = x // g, x % g
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if r_min <= rr < g and c_min <= cc < g and inst[rr * g + cc] == 0:
                y = rr * g + cc
                if nb[y] == 0:
                    front[nfront] = y
                    nfront += 1
                elif nb[y] == 1:
                    n_multi += 1
                nb[y] += 1
        if got >= target or nfront == 0:
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
    r0, c0 = g, g
    for i in range(got):
        r0, c0 = min(r0, cells[i] // g), min(c0, cells[i] % g)
    ok = got >= min_size and (size < 0 or got == size)
    if not ok or (row >= 0 and r0 != row) or (col >= 0 and c0 != col):
        for i in range(got):
            inst[cells[i]] = 0
        return 0
    return got


@kernel
def _object(
    s, g, inst, occupied, label, f, min_size, max_size, compact, tries, cat, cells, front, nb
):
    """Draw and place one object with factors f = (type, sub, colour, size, row, col).

    Returns (cells placed or 0, type, subtype, colour); the cells are in ``cells``.
    """
    t, sub, colour, size, row, col = f[0], f[1], f[2], f[3], f[4], f[5]
    if t < 0:
        t = _draw_type(s, cat, sub, size, row, col)
    if colour < 0:
        colour = 1 + randint(s, 9)
    for _try in range(tries):
        if t == BLOB:
            if occupied == g * g:
                break  # no free cell to start from
            # a fixed corner: rejection from the row and column first, then from the corner
            # cell itself, so that a blob whose corner is hard to meet still ends
            at_corner = _try >= tries // 2
            got = _grow_blob(s, g, inst, occupied, label, size, row, col, min_size, max_size,
                             compact, cells, front, nb, at_corner)  # fmt: skip
            if got > 0:
                return got, t, 0, colour
        else:
            k = _draw_shape(s, cat, inst, t, sub, size, row, col, g)
            if k < 0:
                break
            base = _place(s, g, inst, occupied, cat, k, row, col, front)
            if base >= 0:
                for i in range(cat.size[k]):
                    j = cat.start[k] + i
                    cells[i] = base + cat.cell_r[j] * g + cat.cell_c[j]
                    inst[cells[i]] = label
                return cat.size[k], t, cat.sub[k], colour
    return 0, t, 0, colour


@kernel
def render_rows(seed, g, min_size, max_size, compact, max_tries, fixed_tries, max_attempts,
                cat, factors, lo, hi, skip_from, image, inst, n_obj, otype, osub, ocol, osize,
                obbox, ok):  # fmt: skip
    """Render row i of ``factors`` (n, K, 6) into the flat outputs; False in ``ok`` where it failed.

    Row i draws ``lo[i]..hi[i]`` objects from slot 0 on; an object that finds no
    room is skipped when its slot is ``>= skip_from[i]`` (the generator's rule),
    and otherwise the row starts again (up to ``max_attempts`` times).
    """
    cells = np.zeros(g * g, np.int64)
    front = np.zeros(g * g, np.int64)
    nb = np.zeros(g * g, np.uint8)
    state = np.zeros(4, np.uint64)
    for i in range(factors.shape[0]):
        seed_state(state, image_key(np.uint64(seed), RENDER_BLOCK, np.uint64(i)))
        done = False
        for _attempt in range(max_attempts):
            image[i, :] = 0
            inst[i, :] = 0
            otype[i, :] = 0
            osub[i, :] = 0
            ocol[i, :] = 0
            osize[i, :] = 0
            obbox[i, :] = 0
            m = lo[i] + randint(state, hi[i] - lo[i] + 1)
            placed, occupied = 0, 0
            done = True
            for slot in range(m):
                f = factors[i, slot]
                free = f[0] < 0 and f[1] < 0 and f[2] < 0 and f[3] < 0 and f[4] < 0 and f[5] < 0
                tries = max_tries if free else max(max_tries, fixed_tries)
                label = placed + 1
                got, t, sub, colour = _object(state, g, inst[i], occupied, label, f, min_size, max_size,
                                              compact, tries, cat, cells, front, nb)  # fmt: skip
                if got == 0:
                    if slot >= skip_from[i]:
                        continue
                    done = False
                    break
                r0, c0, r1, c1 = g, g, 0, 0
                for j in range(got):
                    r, c = cells[j] // g, cells[j] % g
                    r0, c0, r1, c1 = min(r0, r), min(c0, c), max(r1, r), max(c1, c)
                    image[i, cells[j]] = colour
                otype[i, placed], osub[i, placed], ocol[i, placed] = t, sub, colour
                osize[i, placed] = got
                b = placed * 4
                obbox[i, b], obbox[i, b + 1], obbox[i, b + 2], obbox[i, b + 3] = r0, c0, r1, c1
                placed += 1
                occupied += got
            if done:
                n_obj[i] = placed
                break
        ok[i] = done
        if not done:  # leave nothing of the failed attempt
            image[i, :] = 0
            inst[i, :] = 0
            otype[i, :] = 0
            osub[i, :] = 0
            ocol[i, :] = 0
            osize[i, :] = 0
            obbox[i, :] = 0
