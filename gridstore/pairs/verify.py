"""Check stored pairs from their pixels, annotations and records alone: `pair_problems`.

Written apart from the twin kernel (it calls none of it): for each kind, the
twin the record describes is rebuilt from the base with numpy and compared
with the stored twin, its instance map and its annotations; the record's
unused fields must hold their defaults. `gridstore validate` runs it on every
chunk it reads of a paired version. Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gridstore.pairs.layout import KINDS

__all__ = ["pair_problems"]

_OBJECT = ("object_type", "object_subtype", "object_colour", "object_size", "object_bbox")
_ALL = ("num_objects", *_OBJECT, "instance_map")
_IDENTITY = np.arange(10, dtype=np.uint8)
_USES = {  # the record fields each kind sets; the others keep their defaults
    "recolour": {"slot", "old_colour", "new_colour"},
    "move": {"slot", "offset"},
    "remove": {"slot"},
    "add": {"slot"},
    "reshape": {"slot"},
    "rotate": {"rotation"},
    "flip": {"flip"},
    "permute_colours": {"permutation"},
    "translate": {"offset"},
}
_DEFAULTS = {"slot": -1, "old_colour": 0, "new_colour": 0, "offset": 0, "rotation": 0, "flip": 0}


class _Rows:
    """One kind's rows of a batch, and the problems found in them (by global row)."""

    def __init__(self, data: dict, rows: np.ndarray, out: dict[str, list[np.ndarray]]) -> None:
        self.base, self.twin, self.rows = data["base"][rows], data["twin"][rows], rows
        self.ann = {f: np.asarray(a)[rows] for f, a in data["ann"].items()}
        self.tann = {f: np.asarray(a)[rows] for f, a in data["tann"].items()}
        self.rec = {f: np.asarray(a)[rows] for f, a in data["rec"].items()}
        self.out, self.i = out, np.arange(len(rows))

    def flag(self, bad: Any, what: str) -> None:
        """Record the rows where ``bad`` (one bool per row) holds."""
        bad = np.asarray(bad, bool)
        if bad.any():
            self.out.setdefault(what, []).append(self.rows[bad])

    def same(self, got: np.ndarray, want: np.ndarray, what: str) -> None:
        if len(got):
            self.flag(np.asarray(got != want).reshape(len(got), -1).any(1), what)

    def keep(self, good: np.ndarray) -> _Rows:
        """These rows only (rows whose record cannot be applied are not checked further)."""
        new = object.__new__(_Rows)
        new.base, new.twin, new.rows = self.base[good], self.twin[good], self.rows[good]
        new.ann = {f: a[good] for f, a in self.ann.items()}
        new.tann = {f: a[good] for f, a in self.tann.items()}
        new.rec = {f: a[good] for f, a in self.rec.items()}
        new.out, new.i = self.out, np.arange(int(good.sum()))
        return new

    def unchanged_except(self, kind: str, *fields: str) -> None:
        for f in _ALL:
            if f not in fields:
                self.same(self.tann[f], self.ann[f], f"{kind}: {f} changed")

    def with_slot(self, kind: str) -> tuple[_Rows, np.ndarray]:
        slot = self.rec["slot"].astype(np.int64)
        ok = (slot >= 0) & (slot < self.ann["num_objects"])
        self.flag(~ok, f"{kind}: slot is not one of the base's objects")
        kept = self.keep(ok)
        return kept, slot[ok]


def _boxes(inst: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(n, 4) box of the cells labelled ``label[i]`` of each instance map."""
    g = inst.shape[1]
    mine = inst == label[:, None, None]
    r, c = np.arange(g)[None, :, None], np.arange(g)[None, None, :]
    return np.stack([np.where(mine, r, g).min((1, 2)), np.where(mine, c, g).min((1, 2)),
                     np.where(mine, r, -1).max((1, 2)), np.where(mine, c, -1).max((1, 2))], 1)  # fmt: skip


def _moved(img: np.ndarray, mask: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``img`` with the cells of ``mask`` moved by ``off``; and the rows where that is impossible
    (a cell leaves the grid or lands on another object)."""
    g = img.shape[1]
    out = np.where(mask, 0, img)
    i, r, c = np.nonzero(mask)
    rr, cc = r + off[i, 0], c + off[i, 1]
    inside = (rr >= 0) & (rr < g) & (cc >= 0) & (cc < g)
    bad = np.zeros(len(img), bool)
    bad[i[~inside]] = True
    hit = inside.copy()
    hit[inside] = out[i[inside], rr[inside], cc[inside]] != 0
    bad[i[hit]] = True
    out[i[inside], rr[inside], cc[inside]] = img[i[inside], r[inside], c[inside]]
    return out, bad


def _recolour(s: _Rows) -> None:
    s, slot = s.with_slot("recolour")
    old, new = s.rec["old_colour"], s.rec["new_colour"]
    s.same(old, s.ann["object_colour"][s.i, slot], "recolour: old_colour is not the object's")
    s.flag((new < 1) | (new > 9) | (new == old), "recolour: new_colour not another of 1..9")
    mine = s.ann["instance_map"] == (slot + 1)[:, None, None]
    s.same(s.twin, np.where(mine, new[:, None, None], s.base), "recolour: pixels")
    colours = s.ann["object_colour"].copy()
    colours[s.i, slot] = new
    s.same(s.tann["object_colour"], colours, "recolour: colours")
    s.unchanged_except("recolour", "object_colour")


def _shift(s: _Rows, kind: str, mask: np.ndarray) -> _Rows:
    """Check a move or translate of ``mask``'s cells; the rows where it is possible."""
    off = s.rec["offset"].astype(np.int64)
    s.flag(~(off != 0).any(1), f"{kind}: offset (0, 0)")
    want, bad = _moved(s.base, mask, off)
    s.flag(bad, f"{kind}: the offset leaves the grid or lands on another object")
    s.same(np.where(bad[:, None, None], 0, s.twin), np.where(bad[:, None, None], 0, want),
           f"{kind}: pixels")  # fmt: skip
    inst, _ = _moved(s.ann["instance_map"], mask, off)
    s.same(np.where(bad[:, None, None], 0, s.tann["instance_map"]),
           np.where(bad[:, None, None], 0, inst), f"{kind}: instance map")  # fmt: skip
    return s.keep(~bad)


def _move(s: _Rows) -> None:
    s, slot = s.with_slot("move")
    s = _shift(s, "move", s.ann["instance_map"] == (slot + 1)[:, None, None])
    slot = s.rec["slot"].astype(np.int64)
    off = s.rec["offset"].astype(np.int64)
    box = s.ann["object_bbox"].astype(np.int64)
    box[s.i, slot] += np.concatenate([off, off], axis=1)
    s.same(s.tann["object_bbox"], box, "move: boxes")
    s.unchanged_except("move", "object_bbox", "instance_map")


def _translate(s: _Rows) -> None:
    s = _shift(s, "translate", s.ann["instance_map"] > 0)
    off = s.rec["offset"].astype(np.int64)
    k = s.ann["object_type"].shape[1]
    present = np.arange(k)[None, :] < s.ann["num_objects"][:, None]
    box = s.ann["object_bbox"].astype(np.int64)
    box += np.where(present[:, :, None], np.concatenate([off, off], 1)[:, None, :], 0)
    s.same(s.tann["object_bbox"], box, "translate: boxes")
    s.unchanged_except("translate", "object_bbox", "instance_map")


def _remove(s: _Rows) -> None:
    s, slot = s.with_slot("remove")
    s.flag(s.ann["num_objects"] < 2, "remove: the only object removed")
    inst = s.ann["instance_map"]
    label = (slot + 1)[:, None, None]
    mine = inst == label
    s.same(s.twin, np.where(mine, 0, s.base), "remove: pixels")
    s.same(s.tann["instance_map"], np.where(mine, 0, np.where(inst > label, inst - 1, inst)),
           "remove: instance map")  # fmt: skip
    s.same(s.tann["num_objects"], s.ann["num_objects"] - 1, "remove: num_objects")
    k = s.ann["object_type"].shape[1]
    src = np.arange(k)[None, :] + (np.arange(k)[None, :] >= slot[:, None])
    for f in _OBJECT:
        a = s.ann[f]
        want = np.take_along_axis(a, src.clip(0, k - 1).reshape(*src.shape, *[1] * (a.ndim - 2)), 1)
        want[src >= k] = 0
        s.same(s.tann[f], want, f"remove: {f}")


def _new_cells(s: _Rows, kind: str, slot: np.ndarray) -> np.ndarray:
    """The twin's cells of object ``slot`` (a new or redrawn one), checked against its annotations."""
    new = s.tann["instance_map"] == (slot + 1)[:, None, None]
    colour = s.tann["object_colour"][s.i, slot]
    s.flag((np.where(new, s.twin, colour[:, None, None]) != colour[:, None, None]).any((1, 2)),
           f"{kind}: the object's cells are not its colour")  # fmt: skip
    s.same(s.tann["object_size"][s.i, slot], new.sum((1, 2)), f"{kind}: size")
    s.same(s.tann["object_bbox"][s.i, slot].astype(np.int64), _boxes(s.tann["instance_map"],
           slot + 1), f"{kind}: box")  # fmt: skip
    return new


def _kept_slots(s: _Rows, kind: str, keep: np.ndarray) -> None:
    """The per-object annotations of the slots ``keep`` (n, K) are the base's."""
    for f in _OBJECT:
        k = keep.reshape(*keep.shape, *[1] * (s.ann[f].ndim - 2))
        s.same(np.where(k, s.tann[f], 0), np.where(k, s.ann[f], 0), f"{kind}: {f}")


def _add(s: _Rows) -> None:
    n = s.ann["num_objects"].astype(np.int64)
    ok = (s.rec["slot"] == n) & (n < s.ann["object_type"].shape[1])
    s.flag(~ok, "add: slot is not the next free one")
    s = s.keep(ok)
    n = s.ann["num_objects"].astype(np.int64)
    new = _new_cells(s, "add", n)
    s.flag((new & (s.base != 0)).any((1, 2)), "add: the new object lies on another")
    s.same(np.where(new, 0, s.twin), np.where(new, 0, s.base), "add: other pixels")
    s.same(s.tann["instance_map"], np.where(new, (n + 1)[:, None, None], s.ann["instance_map"]),
           "add: instance map")  # fmt: skip
    s.same(s.tann["num_objects"], n + 1, "add: num_objects")
    s.flag(~np.isin(s.tann["object_type"][s.i, n], [1, 2, 3, 4]), "add: no type")
    _kept_slots(s, "add", np.arange(s.ann["object_type"].shape[1])[None, :] < n[:, None])


def _reshape(s: _Rows) -> None:
    s, slot = s.with_slot("reshape")
    label = (slot + 1)[:, None, None]
    old = s.ann["instance_map"] == label
    new = _new_cells(s, "reshape", slot)
    s.flag(~(old != new).any((1, 2)), "reshape: the same cells")
    others = np.where(old, 0, s.ann["instance_map"])
    s.flag((new & (others > 0)).any((1, 2)), "reshape: the new shape lies on another object")
    s.same(s.tann["instance_map"], np.where(new, label, others), "reshape: instance map")
    s.same(np.where(new, 0, s.twin), np.where(new | old, 0, s.base), "reshape: other pixels")
    for f in ("object_type", "object_colour"):
        s.same(s.tann[f][s.i, slot], s.ann[f][s.i, slot], f"reshape: {f} changed")
    s.same(s.tann["object_bbox"][s.i, slot, :2], s.ann["object_bbox"][s.i, slot, :2],
           "reshape: the corner moved")  # fmt: skip
    s.same(s.tann["num_objects"], s.ann["num_objects"], "reshape: num_objects")
    _kept_slots(s, "reshape", np.arange(s.ann["object_type"].shape[1])[None, :] != slot[:, None])


def _transform(a: np.ndarray, rotation: int, flip: int) -> np.ndarray:
    if rotation:
        return np.rot90(a, rotation, axes=(1, 2))
    return {1: a[:, :, ::-1], 2: a[:, ::-1, :], 3: a.transpose(0, 2, 1)}[flip]


def _dihedral(s: _Rows, kind: str, line_on: np.ndarray) -> None:
    code = s.rec["rotation"] if kind == "rotate" else s.rec["flip"]
    s.flag((code < 1) | (code > 3), f"{kind}: code not in 1..3")
    for c in (1, 2, 3):
        part = s.keep(code == c)
        rot, flip = (c, 0) if kind == "rotate" else (0, c)
        part.same(part.twin, _transform(part.base, rot, flip), f"{kind}: pixels")
        part.same(part.tann["instance_map"], _transform(part.ann["instance_map"], rot, flip),
                  f"{kind}: instance map")  # fmt: skip
    g = s.base.shape[1]
    for j in range(s.ann["object_type"].shape[1]):
        on = j < s.ann["num_objects"]
        label = np.full(len(s.rows), j + 1)
        box = _boxes(s.tann["instance_map"], label)
        s.flag(on & (s.tann["object_bbox"][:, j] != box).any(1), f"{kind}: boxes")
        # a line's orientation from its cells: one row, one column, or which corner it holds
        corner = s.tann["instance_map"][s.i, box[:, 0].clip(0, g - 1), box[:, 1].clip(0, g - 1)]
        sub = np.select([box[:, 0] == box[:, 2], box[:, 1] == box[:, 3], corner == j + 1],
                        [0, 1, 2], 3)  # fmt: skip
        line = on & (s.tann["object_type"][:, j] == 3)
        s.flag(line & (s.tann["object_subtype"][:, j] != sub), f"{kind}: a line's orientation")
        s.flag(line & ~line_on[sub], f"{kind}: a line orientation of weight 0")
        other = on & ~line
        s.flag(other & (s.tann["object_subtype"][:, j] != s.ann["object_subtype"][:, j]),
               f"{kind}: subtypes")  # fmt: skip
    s.unchanged_except(kind, "object_bbox", "instance_map", "object_subtype")


def _permute(s: _Rows) -> None:
    perm = s.rec["permutation"]
    ok = (np.sort(perm, axis=1) == _IDENTITY).all(1) & (perm[:, 0] == 0)
    s.flag(~ok, "permute_colours: not a bijection of 1..9")
    s = s.keep(ok)
    perm = s.rec["permutation"]
    want = np.take_along_axis(perm, s.base.reshape(len(s.rows), -1), 1).reshape(s.base.shape)
    s.flag(~(want != s.base).any((1, 2)), "permute_colours: no colour shown changes")
    s.same(s.twin, want, "permute_colours: pixels")
    colours = np.take_along_axis(perm, s.ann["object_colour"].astype(np.int64), 1)
    s.same(s.tann["object_colour"], colours, "permute_colours: colours")
    s.unchanged_except("permute_colours", "object_colour")


def pair_problems(
    base: np.ndarray,
    annotations: Mapping[str, np.ndarray],
    twins: np.ndarray,
    twin_annotations: Mapping[str, np.ndarray],
    records: Mapping[str, np.ndarray],
    line_weights: tuple[float, ...] = (0.3, 0.3, 0.2, 0.2),
) -> dict[str, np.ndarray]:
    """Where twins differ from their bases otherwise than their records say.

    Parameters
    ----------
    base, twins : ndarray (n, G, G)
        Images and their twins.
    annotations, twin_annotations : mapping of str to ndarray
        Their annotation arrays by name (``num_objects``, ..., ``instance_map``).
    records : mapping of str to ndarray
        The records (`gridstore.pairs.layout.RECORD_FIELDS`).
    line_weights : tuple of 4 float
        The config's: a rotation or flip must not make a line orientation of weight 0.

    Returns
    -------
    dict of str to ndarray
        A description of each problem found -> the rows (sorted) that have it;
        empty when every pair is what its record says. The generator's rules on
        each side are `check_constraints`' to check.
    """
    data = {"base": np.asarray(base), "twin": np.asarray(twins), "ann": dict(annotations),
            "tann": dict(twin_annotations), "rec": dict(records)}  # fmt: skip
    out: dict[str, list[np.ndarray]] = {}
    kind = np.asarray(records["kind"])
    everything = _Rows(data, np.arange(len(kind)), out)
    everything.flag((kind < 1) | (kind > len(KINDS)), "kind not in 1..9")
    everything.flag(~(everything.twin != everything.base).any((1, 2)), "a twin equal to its base")
    line_on = np.asarray(line_weights) > 0
    for code, name in enumerate(KINDS, start=1):
        rows = np.flatnonzero(kind == code)
        if not len(rows):
            continue
        s = _Rows(data, rows, out)
        for f, default in _DEFAULTS.items():
            if f not in _USES[name]:
                s.same(s.rec[f], np.broadcast_to(default, s.rec[f].shape), f"{name}: {f} is set")
        if "permutation" not in _USES[name]:
            s.same(s.rec["permutation"], np.broadcast_to(_IDENTITY, s.rec["permutation"].shape),
                   f"{name}: permutation is set")  # fmt: skip
        if name in ("rotate", "flip"):
            _dihedral(s, name, line_on)
        else:
            {"recolour": _recolour, "move": _move, "remove": _remove, "add": _add,
             "reshape": _reshape, "permute_colours": _permute, "translate": _translate}[name](s)  # fmt: skip
    return {what: np.unique(np.concatenate(parts)) for what, parts in out.items()}
