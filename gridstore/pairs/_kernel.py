"""The numba kernel that makes each image's twin under one intervention (see docs/factors.md).

Row ``i`` draws from its own xoshiro256** stream, keyed by ``(key, block,
first + i)``: a random order of the kinds asked for, then the first kind of
that order that applies, with that kind's own draws. When none applies the
twin is a recolour, which always does. ``add`` and ``reshape`` draw objects
with the render kernel's steps (`gridstore.pairs._objects`), which
are the generator's own when nothing is fixed. Images are flat rows of
``G * G`` cells; a row's object slots are its first ``num_objects``.
"""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel
from gridstore.generate.rng import image_key, randint, seed_state
from gridstore.pairs._objects import _add, _reshape, _shuffle

__all__ = ["twin_rows"]

RECOLOUR, MOVE, REMOVE, ADD, RESHAPE, ROTATE, FLIP, PERMUTE, TRANSLATE = range(1, 10)
LINE = 3


@kernel
def _copy(dst, src):
    """dst[:] = src, as a loop (a slice assignment compiles an error path per call site)."""
    for x in range(dst.shape[0]):
        dst[x] = src[x]


@kernel
def _boxes(inst, n, g, bbox):
    """Bounding boxes of labels 1..n of a flat instance map, into bbox (K * 4)."""
    for j in range(n):
        bbox[4 * j], bbox[4 * j + 1], bbox[4 * j + 2], bbox[4 * j + 3] = g, g, 0, 0
    for x in range(g * g):
        v = int(inst[x])
        if v > 0:
            b = 4 * (v - 1)
            r, c = x // g, x % g
            bbox[b] = min(bbox[b], r)
            bbox[b + 1] = min(bbox[b + 1], c)
            bbox[b + 2] = max(bbox[b + 2], r)
            bbox[b + 3] = max(bbox[b + 3], c)


@kernel
def _recolour(s, n, tim, tin, tcol, rec_slot, rec_old, rec_new, i):
    j = randint(s, n)
    old = int(tcol[j])
    new = 1 + randint(s, 8)  # uniform among the 8 other colours
    if new >= old:
        new += 1
    for x in range(tim.shape[0]):
        if tin[x] == j + 1:
            tim[x] = new
    tcol[j] = new
    rec_slot[i], rec_old[i], rec_new[i] = j, old, new
    return True


@kernel
def _remove(s, n, tim, tin, tty, tsub, tcol, tsize, tbox):
    """One object (uniform) deleted, from images of two or more; later slots move down one."""
    if n < 2:
        return -1
    j = randint(s, n)
    for x in range(tim.shape[0]):
        if tin[x] == j + 1:
            tim[x] = 0
            tin[x] = 0
        elif tin[x] > j + 1:
            tin[x] -= 1
    k = tty.shape[0]
    for q in range(j, k):
        last = q == k - 1
        tty[q] = 0 if last else tty[q + 1]
        tsub[q] = 0 if last else tsub[q + 1]
        tcol[q] = 0 if last else tcol[q + 1]
        tsize[q] = 0 if last else tsize[q + 1]
        for e in range(4):
            tbox[4 * q + e] = 0 if last else tbox[4 * q + 4 + e]
    return j


@kernel
def _move(s, n, g, tim, tin, tcol, tbox, objs, pos, cr, cc, rec_slot, rec_off, i):
    """One object (uniform among those that can) to a corner uniform among the other free ones."""
    for q in range(n):
        objs[q] = q
    _shuffle(s, objs, n)
    for q in range(n):
        j = objs[q]
        r0, c0 = int(tbox[4 * j]), int(tbox[4 * j + 1])
        h, w = int(tbox[4 * j + 2]) - r0 + 1, int(tbox[4 * j + 3]) - c0 + 1
        m = 0
        for r in range(r0, r0 + h):
            for c in range(c0, c0 + w):
                if tin[r * g + c] == j + 1:
                    cr[m], cc[m] = r - r0, c - c0
                    m += 1
        npos = 0
        for nr in range(g - h + 1):
            for nc in range(g - w + 1):
                if nr == r0 and nc == c0:
                    continue
                ok = True
                for e in range(m):
                    v = tin[(nr + cr[e]) * g + nc + cc[e]]
                    if v != 0 and v != j + 1:
                        ok = False
                        break
                if ok:
                    pos[npos] = nr * g + nc
                    npos += 1
        if npos == 0:
            continue
        p = pos[randint(s, npos)]
        nr, nc = p // g, p % g
        colour = tcol[j]
        for e in range(m):
            x = (r0 + cr[e]) * g + c0 + cc[e]
            tim[x], tin[x] = 0, 0
        for e in range(m):
            x = (nr + cr[e]) * g + nc + cc[e]
            tim[x], tin[x] = colour, j + 1
        tbox[4 * j], tbox[4 * j + 1] = nr, nc
        tbox[4 * j + 2], tbox[4 * j + 3] = nr + h - 1, nc + w - 1
        rec_slot[i], rec_off[i, 0], rec_off[i, 1] = j, nr - r0, nc - c0
        return True
    return False


@kernel
def _translate(s, n, g, tim, tin, tbox, tmp_im, tmp_in, rec_off, i):
    """Every object by one offset, uniform among the non-zero ones that keep them all inside."""
    rmin, cmin, rmax, cmax = g, g, 0, 0
    for j in range(n):
        rmin, cmin = min(rmin, int(tbox[4 * j])), min(cmin, int(tbox[4 * j + 1]))
        rmax, cmax = max(rmax, int(tbox[4 * j + 2])), max(cmax, int(tbox[4 * j + 3]))
    hh, ww = g - (rmax - rmin), g - (cmax - cmin)  # offsets -rmin..g-1-rmax, -cmin..g-1-cmax
    if hh * ww <= 1:
        return False
    x = randint(s, hh * ww - 1)
    if x >= rmin * ww + cmin:  # pass over (0, 0)
        x += 1
    a, b = x // ww - rmin, x % ww - cmin
    for y in range(g * g):
        tmp_im[y], tmp_in[y] = 0, 0
    for y in range(g * g):
        if tin[y] > 0:
            z = (y // g + a) * g + y % g + b
            tmp_im[z], tmp_in[z] = tim[y], tin[y]
    _copy(tim, tmp_im)
    _copy(tin, tmp_in)
    for j in range(n):
        tbox[4 * j] += a
        tbox[4 * j + 1] += b
        tbox[4 * j + 2] += a
        tbox[4 * j + 3] += b
    rec_off[i, 0], rec_off[i, 1] = a, b
    return True


@kernel
def _source(x, g, rotation, flip):
    """The cell that a rotation (np.rot90, 1..3) or flip (1..3) moves to cell x."""
    r, c = x // g, x % g
    if rotation == 1:
        return c * g + g - 1 - r
    if rotation == 2:
        return (g - 1 - r) * g + g - 1 - c
    if rotation == 3:
        return (g - 1 - c) * g + r
    if flip == 1:
        return r * g + g - 1 - c
    if flip == 2:
        return (g - 1 - r) * g + c
    return c * g + r


@kernel
def _line_after(sub, rotation, flip):
    """A line's orientation (horizontal, vertical, diagonal, anti-diagonal) after the transform."""
    sub = int(sub)
    if rotation == 1 or rotation == 3 or flip == 3:  # horizontal <-> vertical
        sub = 1 - sub if sub < 2 else sub
    if rotation == 1 or rotation == 3 or flip == 1 or flip == 2:  # diagonal <-> anti-diagonal
        sub = 5 - sub if sub >= 2 else sub
    return sub


@kernel
def _dihedral(n, g, rotation, flip, line_on, tim, tin, tty, tsub, tbox, tmp_im, tmp_in):
    """Apply a rotation or flip unless it makes a line orientation of weight 0 or changes no pixel."""
    for j in range(n):
        if tty[j] == LINE and not line_on[_line_after(tsub[j], rotation, flip)]:
            return False
    changed = False
    for x in range(g * g):
        y = _source(x, g, rotation, flip)
        tmp_im[x], tmp_in[x] = tim[y], tin[y]
        changed = changed or tmp_im[x] != tim[x]
    if not changed:  # a symmetric image: the twin would be the image itself
        return False
    _copy(tim, tmp_im)
    _copy(tin, tmp_in)
    for j in range(n):
        if tty[j] == LINE:
            tsub[j] = _line_after(tsub[j], rotation, flip)
    _boxes(tin, n, g, tbox)
    return True


@kernel
def _permute(s, n, tim, tcol, perm):
    """A bijection of 1..9, uniform among those that change a colour the image shows."""
    while True:
        for c in range(10):
            perm[c] = c
        _shuffle(s, perm[1:], 9)
        for j in range(n):
            if perm[tcol[j]] != tcol[j]:
                for x in range(tim.shape[0]):
                    tim[x] = perm[tim[x]]
                for q in range(n):
                    tcol[q] = perm[tcol[q]]
                return True


@kernel
def twin_rows(key, block, first, kinds, g, cfg, line_on, cat, base, ann, twin, tann, rec):
    """Make the twin of each row of ``base`` (flat images) into ``twin`` and its record.

    ``key``: the streams' key (already mixed with the seed); row i draws from
    ``image_key(key, block, first + i)``. ``kinds``: codes 1..9 asked for.
    ``cfg``: min_size, max_size, blob_compactness, max_tries, fixed_tries.
    ``ann`` / ``tann``: (instance_map, num_objects, object_type, object_subtype,
    object_colour, object_size, object_bbox) of base and twin, flat per row.
    ``rec``: kind, slot, old_colour, new_colour, offset, rotation, flip, permutation.
    """
    inst, n_obj, oty, osub, ocol, osize, obox = ann
    tinst, tn, tty, tsub, tcol, tsize, tbox = tann
    r_kind, r_slot, r_old, r_new, r_off, r_rot, r_flip, r_perm = rec
    nk, k = kinds.shape[0], oty.shape[1]
    order = np.zeros(nk, np.int64)
    objs = np.zeros(k, np.int64)
    pos = np.zeros(g * g, np.int64)
    cr = np.zeros(g * g, np.int64)
    cc = np.zeros(g * g, np.int64)
    tmp_im = np.zeros(g * g, np.uint8)
    tmp_in = np.zeros(g * g, np.uint8)
    scratch = (np.zeros(g * g, np.int64), np.zeros(g * g, np.int64), np.zeros(g * g, np.uint8))
    f = np.zeros(6, np.int64)
    for c in range(6):
        f[c] = -1
    choice = np.zeros(3, np.int64)
    state = np.zeros(4, np.uint64)
    for i in range(base.shape[0]):
        seed_state(state, image_key(key, block, np.uint64(first + i)))
        n = int(n_obj[i])
        _copy(order, kinds)
        _shuffle(state, order, nk)
        r_rot[i], r_flip[i] = 0, 0
        for c in range(10):
            r_perm[i, c] = c
        done = False
        for q in range(nk + 1):
            kind = order[q] if q < nk else RECOLOUR  # none applied: a recolour always does
            _copy(twin[i], base[i])
            _copy(tinst[i], inst[i])
            tn[i] = n
            _copy(tty[i], oty[i])
            _copy(tsub[i], osub[i])
            _copy(tcol[i], ocol[i])
            _copy(tsize[i], osize[i])
            _copy(tbox[i], obox[i])
            r_slot[i], r_old[i], r_new[i], r_off[i, 0], r_off[i, 1] = -1, 0, 0, 0, 0
            tim, tin = twin[i], tinst[i]
            if kind == RECOLOUR:
                done = _recolour(state, n, tim, tin, tcol[i], r_slot, r_old, r_new, i)
            elif kind == MOVE:
                done = _move(state, n, g, tim, tin, tcol[i], tbox[i], objs, pos, cr, cc,
                             r_slot, r_off, i)  # fmt: skip
            elif kind == REMOVE:
                j = _remove(state, n, tim, tin, tty[i], tsub[i], tcol[i], tsize[i], tbox[i])
                done = j >= 0
                if done:
                    tn[i], r_slot[i] = n - 1, j
            elif kind == ADD:
                done = _add(state, n, g, cfg, cat, tim, tin, tty[i], tsub[i], tcol[i], tsize[i],
                            tbox[i], f, scratch)  # fmt: skip
                if done:
                    tn[i], r_slot[i] = n + 1, n
            elif kind == RESHAPE:
                j = _reshape(state, n, g, cfg, cat, tim, tin, tty[i], tsub[i], tcol[i], tsize[i],
                             tbox[i], objs, pos, scratch)  # fmt: skip
                done = j >= 0
                if done:
                    r_slot[i] = j
            elif ROTATE <= kind <= FLIP:  # FLIP follows ROTATE
                choice[0], choice[1], choice[2] = 1, 2, 3
                _shuffle(state, choice, 3)
                for e in range(3):
                    rot = choice[e] if kind == ROTATE else 0
                    flp = 0 if kind == ROTATE else choice[e]
                    if _dihedral(n, g, rot, flp, line_on, tim, tin, tty[i], tsub[i], tbox[i],
                                 tmp_im, tmp_in):  # fmt: skip
                        r_rot[i], r_flip[i] = rot, flp
                        done = True
                        break
            elif kind == PERMUTE:
                done = _permute(state, n, tim, tcol[i], r_perm[i])
            else:
                done = _translate(state, n, g, tim, tin, tbox[i], tmp_im, tmp_in, r_off, i)
            if done:
                r_kind[i] = kind
                break
