"""A check of twins written apart from the twin kernel: from the pixels, the stored annotations
and the record alone, each twin must be its base changed exactly as recorded.

Vectorised over a batch with numpy; nothing from `gridstore.pairs` is used but the
documented codes (`KINDS` below is docs/factors.md's table, written out again).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

KINDS = ("recolour", "move", "remove", "add", "reshape", "rotate", "flip",
         "permute_colours", "translate")  # fmt: skip
OBJECT_FIELDS = ("object_type", "object_subtype", "object_colour", "object_size", "object_bbox")
IDENTITY = np.arange(10, dtype=np.uint8)


def _boxes(inst: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(n, 4) box of the cells labelled ``label[i]`` in each instance map (g where none)."""
    g = inst.shape[1]
    mine = inst == label[:, None, None]
    rows = np.where(mine, np.arange(g)[None, :, None], g)
    cols = np.where(mine, np.arange(g)[None, None, :], g)
    rows_hi = np.where(mine, np.arange(g)[None, :, None], -1)
    cols_hi = np.where(mine, np.arange(g)[None, None, :], -1)
    return np.stack([rows.min((1, 2)), cols.min((1, 2)), rows_hi.max((1, 2)),
                     cols_hi.max((1, 2))], axis=1)  # fmt: skip


def _line_orientation(inst: np.ndarray, label: np.ndarray, box: np.ndarray) -> np.ndarray:
    """0 horizontal, 1 vertical, 2 diagonal (down-right), 3 anti-diagonal, from the cells."""
    i = np.arange(len(inst))
    one_row, one_col = box[:, 0] == box[:, 2], box[:, 1] == box[:, 3]
    corner = inst[i, box[:, 0].clip(0, inst.shape[1] - 1), box[:, 1].clip(0, inst.shape[1] - 1)]
    return np.select([one_row, one_col, corner == label], [0, 1, 2], 3)


def _delete_slot(a: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """Per-object array ``a`` (n, K, ...) with slot ``slot[i]`` removed and a zero slot last."""
    n, k = a.shape[:2]
    src = np.arange(k)[None, :] + (np.arange(k)[None, :] >= slot[:, None])
    out = np.take_along_axis(a, src.clip(0, k - 1).reshape(n, k, *[1] * (a.ndim - 2)), axis=1)
    out[src >= k] = 0
    return out


def _assert_same(got: np.ndarray, want: np.ndarray, what: str, rows: np.ndarray) -> None:
    if not len(got):
        return
    bad = (got != want).reshape(len(got), -1).any(1)
    assert not bad.any(), f"{what}: rows {rows[bad][:5].tolist()} differ from what the record says"


def check_twins(
    base: np.ndarray,
    ann: Mapping[str, np.ndarray],
    twin: np.ndarray,
    tann: Mapping[str, np.ndarray],
    rec: Mapping[str, np.ndarray],
    line_weights: tuple[float, ...] = (0.3, 0.3, 0.2, 0.2),
) -> dict[str, int]:
    """Assert that every twin is its base changed exactly as its record says; count the kinds.

    ``ann`` / ``tann``: the annotation arrays by name (``num_objects``, the
    object arrays, ``instance_map``); ``rec``: the record arrays by name.
    The generator's rules on each side are `check_constraints`' job (and the
    caller's); here: what changed, and that nothing else did.
    """
    kind = np.asarray(rec["kind"])
    assert ((kind >= 1) & (kind <= len(KINDS))).all(), "a kind code outside 1..9"
    assert ((twin != base).reshape(len(base), -1).any(1)).all(), "a twin equal to its base"
    counts = {}
    for code, name in enumerate(KINDS, start=1):
        rows = np.flatnonzero(kind == code)
        counts[name] = len(rows)
        if len(rows):
            sel = {
                "base": base[rows],
                "twin": twin[rows],
                "ann": {f: np.asarray(a)[rows] for f, a in ann.items()},
                "tann": {f: np.asarray(a)[rows] for f, a in tann.items()},
                "rec": {f: np.asarray(a)[rows] for f, a in rec.items()},
            }
            _defaults(name, sel["rec"], rows)
            CHECKS[name](sel, rows, line_weights, name)
    return counts


def _defaults(name: str, rec: dict, rows: np.ndarray) -> None:
    """The record's fields that the kind does not use hold their defaults."""
    unused = {
        "slot": name not in ("recolour", "move", "remove", "add", "reshape"),
        "old_colour": name != "recolour",
        "new_colour": name != "recolour",
        "offset": name not in ("move", "translate"),
        "rotation": name != "rotate",
        "flip": name != "flip",
        "permutation": name != "permute_colours",
    }
    default = {"slot": -1, "old_colour": 0, "new_colour": 0, "offset": 0, "rotation": 0, "flip": 0}
    for field, is_unused in unused.items():
        if is_unused:
            want = IDENTITY if field == "permutation" else default[field]
            _assert_same(
                rec[field], np.broadcast_to(want, rec[field].shape), f"{name} {field}", rows
            )


def _unchanged_except(s: dict, rows: np.ndarray, what: str, *fields: str) -> None:
    for f in ("num_objects", *OBJECT_FIELDS, "instance_map"):
        if f not in fields:
            _assert_same(s["tann"][f], s["ann"][f], f"{what}: {f}", rows)


def _slot_label(s: dict) -> tuple[np.ndarray, np.ndarray]:
    slot = s["rec"]["slot"].astype(np.int64)
    assert ((slot >= 0) & (slot < s["ann"]["num_objects"])).all(), "slot past the objects"
    return slot, slot + 1


def _recolour(s: dict, rows: np.ndarray, *_: object) -> None:
    slot, label = _slot_label(s)
    i = np.arange(len(rows))
    old, new = s["rec"]["old_colour"], s["rec"]["new_colour"]
    _assert_same(old, s["ann"]["object_colour"][i, slot], "recolour: old colour", rows)
    assert ((new >= 1) & (new <= 9) & (new != old)).all()
    mine = s["ann"]["instance_map"] == label[:, None, None]
    _assert_same(s["twin"], np.where(mine, new[:, None, None], s["base"]), "recolour", rows)
    colours = s["ann"]["object_colour"].copy()
    colours[i, slot] = new
    _assert_same(s["tann"]["object_colour"], colours, "recolour: colours", rows)
    _unchanged_except(s, rows, "recolour", "object_colour")


def _moved(img: np.ndarray, mask: np.ndarray, offset: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """``img`` with the cells of ``mask`` moved by ``offset`` (rows, cols) onto ``clear``."""
    out = np.where(mask, 0, clear)
    i, r, c = np.nonzero(mask)
    rr, cc = r + offset[i, 0], c + offset[i, 1]
    g = img.shape[1]
    assert ((rr >= 0) & (rr < g) & (cc >= 0) & (cc < g)).all(), "moved outside the grid"
    assert not out[i, rr, cc].any(), "moved onto another object"
    out[i, rr, cc] = img[i, r, c]
    return out


def _move(s: dict, rows: np.ndarray, *_: object) -> None:
    slot, label = _slot_label(s)
    off = s["rec"]["offset"].astype(np.int64)
    assert (off != 0).any(1).all(), "a move by (0, 0)"
    inst = s["ann"]["instance_map"]
    mine = inst == label[:, None, None]
    _assert_same(s["twin"], _moved(s["base"], mine, off, s["base"]), "move: pixels", rows)
    _assert_same(s["tann"]["instance_map"], _moved(inst, mine, off, inst), "move: instances", rows)
    i = np.arange(len(rows))
    box = s["ann"]["object_bbox"].astype(np.int64)
    box[i, slot] += np.concatenate([off, off], axis=1)
    _assert_same(s["tann"]["object_bbox"], box, "move: boxes", rows)
    _unchanged_except(s, rows, "move", "object_bbox", "instance_map")


def _remove(s: dict, rows: np.ndarray, *_: object) -> None:
    slot, label = _slot_label(s)
    assert (s["ann"]["num_objects"] >= 2).all(), "the only object removed"
    inst = s["ann"]["instance_map"]
    mine = inst == label[:, None, None]
    _assert_same(s["twin"], np.where(mine, 0, s["base"]), "remove: pixels", rows)
    relabel = np.where(mine, 0, np.where(inst > label[:, None, None], inst - 1, inst))
    _assert_same(s["tann"]["instance_map"], relabel, "remove: instances", rows)
    _assert_same(s["tann"]["num_objects"], s["ann"]["num_objects"] - 1, "remove: count", rows)
    for f in OBJECT_FIELDS:
        _assert_same(s["tann"][f], _delete_slot(s["ann"][f], slot), f"remove: {f}", rows)


def _added(s: dict, rows: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The new cells of an add or reshape: exactly where the twin's pixels changed to non-zero."""
    new = s["tann"]["instance_map"] == label[:, None, None]
    i = np.arange(len(rows))
    slot = label - 1
    colour = s["tann"]["object_colour"][i, slot]
    _assert_same(s["twin"][new], np.repeat(colour, new.sum((1, 2))), "new cells' colour", rows)
    _assert_same(s["tann"]["object_size"][i, slot], new.sum((1, 2)), "new object's size", rows)
    box = s["tann"]["object_bbox"][i, slot].astype(np.int64)
    _assert_same(box, _boxes(s["tann"]["instance_map"], label), "new object's box", rows)
    return new


def _add(s: dict, rows: np.ndarray, *_: object) -> None:
    slot = s["rec"]["slot"].astype(np.int64)
    n = s["ann"]["num_objects"].astype(np.int64)
    _assert_same(slot, n, "add: the new object's slot is the next one", rows)
    k = s["ann"]["object_type"].shape[1]
    assert (n < k).all(), "added past the last slot"
    new = _added(s, rows, n + 1)
    assert not s["base"][new].any(), "added onto another object"
    _assert_same(s["twin"], np.where(new, s["twin"], s["base"]), "add: other pixels", rows)
    _assert_same(s["tann"]["instance_map"], np.where(new, n[:, None, None] + 1,
                 s["ann"]["instance_map"]), "add: instances", rows)  # fmt: skip
    _assert_same(s["tann"]["num_objects"], n + 1, "add: count", rows)
    slots = np.arange(k)[None, :] < n[:, None]
    for f in OBJECT_FIELDS:
        keep = slots.reshape(*slots.shape, *[1] * (s["ann"][f].ndim - 2))
        _assert_same(np.where(keep, s["tann"][f], 0), np.where(keep, s["ann"][f], 0), f, rows)
    assert (s["tann"]["object_type"][np.arange(len(rows)), n] >= 1).all()


def _reshape(s: dict, rows: np.ndarray, *_: object) -> None:
    slot, label = _slot_label(s)
    i = np.arange(len(rows))
    old = s["ann"]["instance_map"] == label[:, None, None]
    new = _added(s, rows, label)
    assert (old != new).any((1, 2)).all(), "reshaped to the same cells"
    others = s["ann"]["instance_map"] * ~old
    assert not (others.astype(bool) & new).any(), "reshaped onto another object"
    _assert_same(s["tann"]["instance_map"], np.where(new, label[:, None, None], others),
                 "reshape: instances", rows)  # fmt: skip
    _assert_same(s["twin"], np.where(new, s["twin"], np.where(old, 0, s["base"])),
                 "reshape: other pixels", rows)  # fmt: skip
    for f in ("object_type", "object_colour"):
        _assert_same(s["tann"][f][i, slot], s["ann"][f][i, slot], f"reshape: {f}", rows)
    corner = s["tann"]["object_bbox"][i, slot, :2]
    _assert_same(corner, s["ann"]["object_bbox"][i, slot, :2], "reshape: corner", rows)
    keep = np.arange(s["ann"]["object_type"].shape[1])[None, :] != slot[:, None]
    for f in OBJECT_FIELDS:
        k = keep.reshape(*keep.shape, *[1] * (s["ann"][f].ndim - 2))
        _assert_same(np.where(k, s["tann"][f], 0), np.where(k, s["ann"][f], 0), f, rows)
    _assert_same(s["tann"]["num_objects"], s["ann"]["num_objects"], "reshape: count", rows)


def _transformed(a: np.ndarray, rotation: int, flip: int) -> np.ndarray:
    if rotation:
        return np.rot90(a, rotation, axes=(1, 2))
    return {1: a[:, :, ::-1], 2: a[:, ::-1, :], 3: a.transpose(0, 2, 1)}[flip]


def _dihedral(s: dict, rows: np.ndarray, line_weights: tuple, name: str) -> None:
    code = s["rec"]["rotation"] if name == "rotate" else s["rec"]["flip"]
    assert ((code >= 1) & (code <= 3)).all(), f"{name}: a code outside 1..3"
    for c in (1, 2, 3):
        part = np.flatnonzero(code == c)
        rot, flip = (c, 0) if name == "rotate" else (0, c)
        for f in ("images", "instance_map"):
            got = s["twin"] if f == "images" else s["tann"][f]
            src = s["base"] if f == "images" else s["ann"][f]
            want = _transformed(src[part], rot, flip)
            _assert_same(got[part], want, f"{name} {c}: {f}", rows[part])
    k = s["ann"]["object_type"].shape[1]
    for j in range(k):  # every box recomputed from the cells; a line's orientation from its cells
        present = j < s["ann"]["num_objects"]
        label = np.full(len(rows), j + 1)
        box = _boxes(s["tann"]["instance_map"], label)
        got = s["tann"]["object_bbox"][:, j].astype(np.int64)
        _assert_same(got[present], box[present], f"{name}: boxes", rows[present])
        line = present & (s["tann"]["object_type"][:, j] == 3)
        sub = _line_orientation(s["tann"]["instance_map"], label, box)
        _assert_same(s["tann"]["object_subtype"][line, j], sub[line], f"{name}: lines", rows[line])
        assert (np.asarray(line_weights)[sub[line]] > 0).all(), f"{name}: a line of weight 0"
        pattern = present & (s["tann"]["object_type"][:, j] != 3)
        _assert_same(s["tann"]["object_subtype"][pattern, j], s["ann"]["object_subtype"][pattern, j],
                     f"{name}: subtypes", rows[pattern])  # fmt: skip
    _unchanged_except(s, rows, name, "object_bbox", "instance_map", "object_subtype")


def _permute(s: dict, rows: np.ndarray, *_: object) -> None:
    perm = s["rec"]["permutation"]
    assert (np.sort(perm, axis=1) == IDENTITY).all() and (perm[:, 0] == 0).all(), "no bijection"
    want = np.take_along_axis(perm, s["base"].reshape(len(rows), -1), 1).reshape(s["base"].shape)
    assert (want != s["base"]).any((1, 2)).all(), "a permutation that changes no colour shown"
    _assert_same(s["twin"], want, "permute_colours: pixels", rows)
    colours = np.take_along_axis(perm, s["ann"]["object_colour"].astype(np.int64), 1)
    _assert_same(s["tann"]["object_colour"], colours, "permute_colours: colours", rows)
    _unchanged_except(s, rows, "permute_colours", "object_colour")


def _translate(s: dict, rows: np.ndarray, *_: object) -> None:
    off = s["rec"]["offset"].astype(np.int64)
    assert (off != 0).any(1).all(), "a translation by (0, 0)"
    inst = s["ann"]["instance_map"]
    every = inst > 0
    _assert_same(s["twin"], _moved(s["base"], every, off, s["base"]), "translate: pixels", rows)
    _assert_same(s["tann"]["instance_map"], _moved(inst, every, off, inst),
                 "translate: instances", rows)  # fmt: skip
    k = s["ann"]["object_type"].shape[1]
    present = np.arange(k)[None, :] < s["ann"]["num_objects"][:, None]
    box = s["ann"]["object_bbox"].astype(np.int64)
    box += np.where(present[:, :, None], np.concatenate([off, off], 1)[:, None, :], 0)
    _assert_same(s["tann"]["object_bbox"], box, "translate: boxes", rows)
    _unchanged_except(s, rows, "translate", "object_bbox", "instance_map")


CHECKS = {
    "recolour": _recolour,
    "move": _move,
    "remove": _remove,
    "add": _add,
    "reshape": _reshape,
    "rotate": _dihedral,
    "flip": _dihedral,
    "permute_colours": _permute,
    "translate": _translate,
}
