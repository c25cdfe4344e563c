"""`intervene`: each image's twin under one intervention, with its annotations and a record.

Numpy only. Each row draws its intervention from the batch's random stream:
a kind uniformly among those asked for, and, if it cannot apply to that image
(``remove`` on one object, ``move`` with no free place, ``translate`` when the
objects span the grid, a rotation or flip that would make a line orientation
of weight 0), the next kind of a random order of the kinds, until one applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gridstore.arguments import check_seed
from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate.vocab import Annotations

__all__ = ["IMPLEMENTED_KINDS", "KINDS", "intervene"]

#: Intervention kinds, coded 1..9 in this order (issue 21's list).
KINDS = (
    "recolour",
    "move",
    "remove",
    "add",
    "reshape",
    "rotate",
    "flip",
    "permute_colours",
    "translate",
)
IMPLEMENTED_KINDS = ("recolour", "move", "remove", "rotate", "flip", "permute_colours", "translate")
FLIPS = (
    "horizontal",
    "vertical",
    "transpose",
)  # flip codes 1..3: left-right, up-down, main diagonal
LINE = 3
# a line's orientation (horizontal, vertical, diagonal, anti-diagonal) after a transform
_ROT_ODD = np.array([1, 0, 3, 2])
_SAME = np.array([0, 1, 2, 3])
_MIRROR = np.array([0, 1, 3, 2])
_TRANSPOSE = np.array([1, 0, 2, 3])


def _records(n: int) -> dict[str, np.ndarray]:
    return {
        "kind": np.zeros(n, np.uint8),  # 1..9, KINDS order
        "slot": np.full(n, -1, np.int16),  # the object (object-level kinds), else -1
        "old_colour": np.zeros(n, np.uint8),  # recolour
        "new_colour": np.zeros(n, np.uint8),
        "offset": np.zeros((n, 2), np.int8),  # move, translate: (rows, cols)
        "rotation": np.zeros(n, np.uint8),  # rotate: quarter turns counter-clockwise (np.rot90)
        "flip": np.zeros(n, np.uint8),  # flip: 1..3, FLIPS order
        "permutation": np.tile(np.arange(10, dtype=np.uint8), (n, 1)),  # colour c -> perm[c]
    }


def _transform(a: np.ndarray, rotation: int, flip: int) -> np.ndarray:
    if rotation:
        return np.rot90(a, rotation)
    return (a, np.fliplr(a), np.flipud(a), a.T)[flip]


def _lines(rotation: int, flip: int) -> np.ndarray:
    if rotation:
        return _ROT_ODD if rotation % 2 else _SAME
    return (_SAME, _MIRROR, _MIRROR, _TRANSPOSE)[flip]


def _boxes(inst: np.ndarray, k: int) -> np.ndarray:
    """Bounding boxes (k, 4) of labels 1..k of one instance map (zeros where absent)."""
    out = np.zeros((k, 4), np.uint8)
    for j in range(k):
        rows, cols = np.nonzero(inst == j + 1)
        if len(rows):
            out[j] = rows.min(), cols.min(), rows.max(), cols.max()
    return out


class _Row:
    """One image and its annotations, and the twin being made of it."""

    def __init__(self, image: np.ndarray, ann: Annotations, i: int, c: GeneratorConfig) -> None:
        self.c, self.image, self.inst = c, image, ann.instance_map[i]
        self.n = int(ann.num_objects[i])
        self.fields = {k: v[i].copy() for k, v in ann.as_dict().items()}
        self.line_on = np.asarray(c.line_weights) > 0

    def recolour(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        j = int(rng.integers(self.n))
        old = int(self.fields["object_colour"][j])
        new = int(rng.choice([x for x in range(1, 10) if x != old]))
        self.image = np.where(self.inst == j + 1, new, self.image).astype(np.uint8)
        self.fields["object_colour"][j] = new
        rec["slot"][i], rec["old_colour"][i], rec["new_colour"][i] = j, old, new
        return True

    def remove(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        if self.n < 2:
            return False
        j = int(rng.integers(self.n))
        mine = self.inst == j + 1
        self.image = np.where(mine, 0, self.image).astype(np.uint8)
        inst = np.where(mine, 0, self.inst)
        self.inst = np.where(inst > j + 1, inst - 1, inst).astype(np.uint8)
        for name in (
            "object_type",
            "object_subtype",
            "object_colour",
            "object_size",
            "object_bbox",
        ):
            a = self.fields[name]
            a[j:-1] = a[j + 1 :].copy()
            a[-1] = 0
        self.fields["num_objects"] = np.asarray(self.n - 1, np.uint8)
        rec["slot"][i] = j
        return True

    def move(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        for j in rng.permutation(self.n):
            r0, c0, r1, c1 = (int(x) for x in self.fields["object_bbox"][j])
            shape = self.inst[r0 : r1 + 1, c0 : c1 + 1] == j + 1
            others = (self.inst > 0) & (self.inst != j + 1)
            windows = sliding_window_view(others, shape.shape)
            free = ~(windows & shape).any(axis=(2, 3))
            free[r0, c0] = False  # somewhere else
            spots = np.argwhere(free)
            if len(spots) == 0:
                continue
            nr, nc = (int(x) for x in spots[rng.integers(len(spots))])
            colour = self.fields["object_colour"][j]
            mine = self.inst == j + 1
            image = np.where(mine, 0, self.image)
            inst = np.where(mine, 0, self.inst)
            h, w = shape.shape
            image[nr : nr + h, nc : nc + w][shape] = colour
            inst[nr : nr + h, nc : nc + w][shape] = j + 1
            self.image, self.inst = image.astype(np.uint8), inst.astype(np.uint8)
            self.fields["object_bbox"][j] = nr, nc, nr + h - 1, nc + w - 1
            rec["slot"][i], rec["offset"][i] = j, (nr - r0, nc - c0)
            return True
        return False

    def translate(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        g = self.c.grid_size
        rows, cols = np.nonzero(self.inst)
        dr = np.arange(-rows.min(), g - rows.max())
        dc = np.arange(-cols.min(), g - cols.max())
        offsets = [(a, b) for a in dr for b in dc if (a, b) != (0, 0)]
        if not offsets:
            return False
        a, b = (int(x) for x in offsets[rng.integers(len(offsets))])
        self.image = np.roll(self.image, (a, b), axis=(0, 1))  # nothing wraps: the box stays inside
        self.inst = np.roll(self.inst, (a, b), axis=(0, 1))
        box = self.fields["object_bbox"][: self.n].astype(np.int64) + np.array([a, b, a, b])
        self.fields["object_bbox"][: self.n] = box
        rec["offset"][i] = a, b
        return True

    def _dihedral(self, rotation: int, flip: int) -> bool:
        lines = self.fields["object_type"][: self.n] == LINE
        new_sub = _lines(rotation, flip)[self.fields["object_subtype"][: self.n][lines]]
        if not self.line_on[new_sub].all():  # an orientation the config never draws
            return False
        self.fields["object_subtype"][: self.n][lines] = new_sub
        self.image = np.ascontiguousarray(_transform(self.image, rotation, flip))
        self.inst = np.ascontiguousarray(_transform(self.inst, rotation, flip))
        self.fields["object_bbox"][: self.n] = _boxes(self.inst, self.n)
        return True

    def rotate(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        for k in rng.permutation([1, 2, 3]):
            if self._dihedral(int(k), 0):
                rec["rotation"][i] = k
                return True
        return False

    def flip(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        for f in rng.permutation([1, 2, 3]):
            if self._dihedral(0, int(f)):
                rec["flip"][i] = f
                return True
        return False

    def permute_colours(self, rng: np.random.Generator, rec: dict, i: int) -> bool:
        present = np.unique(self.image[self.image > 0])
        while True:  # a bijection of 1..9 that changes a colour the image shows
            perm = np.concatenate([[0], 1 + rng.permutation(9)]).astype(np.uint8)
            if (perm[present] != present).any():
                break
        self.image = perm[self.image]
        self.fields["object_colour"][: self.n] = perm[self.fields["object_colour"][: self.n]]
        rec["permutation"][i] = perm
        return True


def intervene(
    images: np.ndarray,
    annotations: Annotations,
    kinds: Sequence[str],
    seed: int,
    config: GeneratorConfig | None = None,
) -> tuple[np.ndarray, Annotations, dict[str, np.ndarray]]:
    """Make each image's twin: the same image under one intervention drawn from ``kinds``.

    Parameters
    ----------
    images : ndarray, shape (n, G, G), uint8
        Images the generator made (or `gridstore.factors.render` did).
    annotations : Annotations
        Their annotations.
    kinds : sequence of str
        Some of `IMPLEMENTED_KINDS`.
    seed : int
        Seed of the batch's random stream (the same batch and seed, the same twins).
    config : GeneratorConfig, optional
        The images' distribution (its line weights decide which rotations apply).

    Returns
    -------
    twins : ndarray (n, G, G), uint8
    twin_annotations : Annotations
    records : dict of str to ndarray
        ``kind`` (code 1..9 in `KINDS`), ``slot``, ``old_colour``,
        ``new_colour``, ``offset``, ``rotation``, ``flip``, ``permutation``.

    Raises
    ------
    ConfigError
        An unknown kind, one not implemented yet, or a row none of the kinds applies to.
    """
    c = config or GeneratorConfig()
    rng = np.random.default_rng([check_seed(seed), 0x9A125])
    bad = [k for k in kinds if k not in IMPLEMENTED_KINDS]
    if not kinds or bad:
        what = f"unknown kind {bad[0]!r}" if bad and bad[0] not in KINDS else (
            f"kind {bad[0]!r} is not implemented yet" if bad else "no kinds given")  # fmt: skip
        raise ConfigError(f"{what}; choose from {', '.join(IMPLEMENTED_KINDS)}")
    n = len(images)
    twins = np.empty_like(images)
    out = Annotations.empty(n, c.grid_size, annotations.object_type.shape[1])
    rec = _records(n)
    order = list(dict.fromkeys(kinds))
    for i in range(n):
        row = _Row(images[i], annotations, i, c)
        first = int(rng.integers(len(order)))
        tried = [order[first]] + [order[k] for k in rng.permutation(len(order)) if k != first]
        kind = next((k for k in tried if getattr(row, k)(rng, rec, i)), None)
        if kind is None:
            msg = f"row {i}: none of the kinds {', '.join(order)} applies to it; add recolour"
            raise ConfigError(msg)
        rec["kind"][i] = KINDS.index(kind) + 1
        twins[i] = row.image
        out.instance_map[i] = row.inst
        for name, value in row.fields.items():
            if name != "instance_map":
                getattr(out, name)[i] = value
    return twins, out, rec
