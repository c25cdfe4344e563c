"""The object-level kernels of twins that draw new objects (``add``, ``reshape``), and shuffling.

They draw with the render kernel's steps (`gridstore.factors._kernel`), which
are the generator's own when nothing is fixed.
"""

from __future__ import annotations

from gridstore._jit import kernel
from gridstore.factors._kernel import _draw_shape, _fits, _free_at, _grow_blob, _object
from gridstore.generate.rng import randint

__all__ = ["_add", "_reshape", "_shuffle"]

BLOB = 1
# Shapes drawn for one object before the next object is tried (a draw is a bisection and a
# fit test: 100 cost about what one image costs the generator).
RESHAPE_DRAWS = 100


@kernel
def _shuffle(s, a, n):
    """Fisher-Yates: the first ``n`` entries of ``a`` in a uniformly random order."""
    for x in range(n - 1, 0, -1):
        y = randint(s, x + 1)
        a[x], a[y] = a[y], a[x]


@kernel
def _new_object(tim, tin, tty, tsub, tcol, tsize, tbox, slot, got, t, sub, colour, cells, g):
    """Paint a drawn object (its cells in ``cells``, labelled already) into slot ``slot``."""
    r0, c0, r1, c1 = g, g, 0, 0
    for e in range(got):
        x = cells[e]
        tim[x] = colour
        r, c = x // g, x % g
        r0, c0, r1, c1 = min(r0, r), min(c0, c), max(r1, r), max(c1, c)
    tty[slot], tsub[slot], tcol[slot], tsize[slot] = t, sub, colour, got
    tbox[4 * slot], tbox[4 * slot + 1], tbox[4 * slot + 2], tbox[4 * slot + 3] = r0, c0, r1, c1


@kernel
def _redraw(s, g, cfg, cat, tin, occupied, label, t, r0, c0, cells, front, nb):
    """One new shape of type t with its corner at (r0, c0) where nothing else is: (size, subtype).

    Size 0: the draw did not fit.

    A blob grows as the generator's do, from the corner cell and inside the
    quadrant below and right of it; another type draws a shape by the
    generator's probabilities and keeps it if it fits there.
    """
    if t == BLOB:
        got = _grow_blob(s, g, tin, occupied, label, -1, r0, c0, int(cfg[0]), int(cfg[1]),
                         cfg[2], cells, front, nb, True)  # fmt: skip
        return got, 0
    k = _draw_shape(s, cat, tin, t, -1, -1, -1, -1, g)
    if not _fits(cat, k, r0, c0, g) or not _free_at(tin, cat, k, r0 * g + c0, g):
        return 0, 0
    for e in range(cat.size[k]):
        x = cat.start[k] + e
        cells[e] = (r0 + cat.cell_r[x]) * g + c0 + cat.cell_c[x]
        tin[cells[e]] = label
    return int(cat.size[k]), int(cat.sub[k])


@kernel
def _reshape(s, n, g, cfg, cat, tim, tin, tty, tsub, tcol, tsize, tbox, objs, old, scratch):
    """An object (uniform among those that can) redrawn: same type, colour and corner, new cells.

    Up to `RESHAPE_DRAWS` draws per object (`_redraw`); a draw that gives
    the object's own cells again does not count as new.
    """
    cells, front, nb = scratch
    occupied = 0
    for q in range(n):
        occupied += int(tsize[q])
        objs[q] = q
    _shuffle(s, objs, n)
    for q in range(n):
        j = objs[q]
        t, r0, c0 = int(tty[j]), int(tbox[4 * j]), int(tbox[4 * j + 1])
        m = 0
        for x in range(g * g):
            if tin[x] == j + 1:
                old[m] = x
                m += 1
                tin[x] = 0
        for _draw in range(RESHAPE_DRAWS):
            got, sub = _redraw(s, g, cfg, cat, tin, occupied - m, j + 1, t, r0, c0, cells, front,
                               nb)  # fmt: skip
            if got == 0:
                continue
            same = got == m
            for e in range(m):
                same = same and tin[old[e]] == j + 1
            if not same:
                for e in range(m):
                    tim[old[e]] = 0
                _new_object(tim, tin, tty, tsub, tcol, tsize, tbox, j, got, t, sub,
                            int(tcol[j]), cells, g)  # fmt: skip
                return j
            for e in range(got):
                tin[cells[e]] = 0
        for e in range(m):
            tin[old[e]] = j + 1
    return -1


@kernel
def _add(s, n, g, cfg, cat, tim, tin, tty, tsub, tcol, tsize, tbox, f, scratch):
    """One new object drawn by the generator's rules into free space, in slot n (if there is one)."""
    if n >= tty.shape[0]:
        return False
    occupied = 0
    for q in range(n):
        occupied += int(tsize[q])
    for c in range(6):
        f[c] = -1  # every factor free: the generator's own draw
    cells, front, nb = scratch
    got, t, sub, colour = _object(s, g, tin, occupied, n + 1, f, int(cfg[0]), int(cfg[1]), cfg[2],
                                  int(cfg[3]), cat, cells, front, nb)  # fmt: skip
    if got == 0:  # no room in max_tries shapes: the generator would skip it
        return False
    _new_object(tim, tin, tty, tsub, tcol, tsize, tbox, n, got, t, sub, colour, cells, g)
    return True
