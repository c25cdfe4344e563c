"""Check images against every rule of GENERATOR.md, using their annotations.

:func:`check_constraints` names each violated rule with the offending image
indices. Tests use it on fresh batches; the validator uses it on stored chunks.
Without annotations it checks the weaker rules the pixels alone imply
(:data:`IMAGE_RULES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridstore._jit import kernel
from gridstore.config import GeneratorConfig

__all__ = ["IMAGE_RULES", "RULES", "ConstraintReport", "check_constraints"]

RULES = (
    "value_range",  # pixels in 0..9
    "object_count",  # num_objects in [1, max_objects] (crowded grids may place fewer than drawn)
    "instance_labels",  # instance map labels are exactly 1..num_objects
    "image_matches_instances",  # a pixel is its object's colour, background is 0
    "object_size",  # recorded size = cells, within [min_size, max_size]
    "object_colour",  # colours in 1..9
    "object_bbox",  # recorded bounding box = the cells' box
    "object_type",  # a type with positive weight; empty slots all zero
    "object_shape",  # rectangle filled, line straight, blob 4-connected, pattern subtype known
)
# What the pixels alone imply (objects are single-coloured, never overlap, may touch and share
# a colour; each has min_size..max_size cells; 1..max_objects per image): a colour's cells
# are a union of k whole objects, k*min_size <= cells <= k*max_size, and the k add up to at
# most max_objects. Nothing finer holds: touching same-colour objects merge, and diagonal
# lines and checkerboards are not 4-connected, so component sizes are not bounded.
IMAGE_RULES = (
    "value_range",  # pixels in 0..9
    "object_count",  # some non-background cell, and the colours need at most max_objects objects
    "object_size",  # each colour's cell count splits into objects of min_size..max_size cells
)
_IMAGE_BLOCK = 65_536  # images per block of the image-only check (about 16 MiB of masks)


@dataclass
class ConstraintReport:
    """Violations found: rule name -> indices of the images breaking it.

    ``rules`` are the rules that were checked: :data:`RULES`, or
    :data:`IMAGE_RULES` for images without annotations.
    """

    checked: int
    violations: dict[str, np.ndarray] = field(default_factory=dict)
    rules: tuple[str, ...] = RULES

    @property
    def ok(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    def summary(self, limit: int = 5) -> str:
        """One line per broken rule with the first offending indices."""
        if self.ok:
            scope = "" if self.rules == RULES else " (images only, no annotations)"
            return f"all {len(self.rules)} rules hold for {self.checked} images{scope}"
        return "; ".join(
            f"{rule}: {len(idx)} images (e.g. {', '.join(map(str, idx[:limit]))})"
            for rule, idx in self.violations.items()
        )


def _get(annotations: Any, name: str) -> np.ndarray:
    if isinstance(annotations, Mapping):
        return np.asarray(annotations[name])
    return np.asarray(getattr(annotations, name))


def check_constraints(
    images: np.ndarray, annotations: Any, config: GeneratorConfig | None = None
) -> ConstraintReport:
    """Check every generator rule on a batch of images.

    Parameters
    ----------
    images : ndarray, shape (n, G, G)
        The images.
    annotations : Annotations or mapping or None
        Their annotation arrays (see docs/internals.md). None checks only
        what the pixels imply (:data:`IMAGE_RULES`): values 0..9; at least
        one non-background cell; each colour's cells can be split into
        objects of ``min_size..max_size`` cells, using at most
        ``max_objects`` objects over all colours. That is far weaker: two
        touching objects of one colour look like one, so shapes and per-object
        sizes cannot be checked, and a stray pixel of a colour already
        present goes unseen. It never flags an image the generator made.
    config : GeneratorConfig, optional
        The distribution they claim to follow (default: the atomic preset).

    Returns
    -------
    ConstraintReport
        ``report.ok`` is True when everything holds; otherwise
        ``report.violations[rule]`` lists the offending image indices.
        ``report.rules`` are the rules checked.

    Raises
    ------
    ValueError
        ``images`` are not uint8 of shape (n, G, G).

    Examples
    --------
    >>> from gridstore.generate import generate_images
    >>> images, ann = generate_images(GeneratorConfig(), 0, 0, 100)
    >>> check_constraints(images, ann).ok
    True
    >>> images[0, 0, 0] = 10  # no annotations: the rules the pixels alone imply
    >>> check_constraints(images, None).summary()
    'value_range: 1 images (e.g. 0)'
    """
    config = config or GeneratorConfig()
    images = np.ascontiguousarray(images)
    n = len(images)
    g = config.grid_size
    bad = np.zeros((n, len(RULES)), np.bool_)
    if images.ndim != 3 or images.shape[1:] != (g, g) or images.dtype != np.uint8:
        msg = f"images must be uint8 of shape (n, {g}, {g}), got {images.dtype} {images.shape}"
        raise ValueError(msg)
    if annotations is None:
        return _check_images_only(images, config)
    inst = np.ascontiguousarray(_get(annotations, "instance_map")).reshape(n, g * g)
    type_on = np.array([0.0, *config.type_weights]) > 0
    _check(
        images.reshape(n, g * g),
        inst,
        _get(annotations, "num_objects"),
        _get(annotations, "object_type"),
        _get(annotations, "object_subtype"),
        _get(annotations, "object_colour"),
        _get(annotations, "object_size"),
        _get(annotations, "object_bbox"),
        g,
        config.min_objects,
        config.max_objects,
        config.min_size,
        config.max_size,
        type_on,
        bad,
    )
    report = ConstraintReport(checked=n)
    for k, rule in enumerate(RULES):
        idx = np.flatnonzero(bad[:, k])
        if len(idx):
            report.violations[rule] = idx
    return report


def _check_images_only(images: np.ndarray, config: GeneratorConfig) -> ConstraintReport:
    """Check IMAGE_RULES, block by block so the masks stay small."""
    bad: dict[str, list[np.ndarray]] = {rule: [] for rule in IMAGE_RULES}
    for start in range(0, len(images), _IMAGE_BLOCK):
        block = images[start : start + _IMAGE_BLOCK]
        cells = np.stack([(block == c).sum(axis=(1, 2)) for c in range(1, 10)], axis=1)
        # Fewest objects each colour needs; more objects of one colour only need more cells.
        need = -(-cells // config.max_size)
        too_small = (cells > 0) & (need * config.min_size > cells)
        for rule, rows in (
            ("value_range", (block > 9).any(axis=(1, 2))),
            ("object_count", (cells.sum(axis=1) == 0) | (need.sum(axis=1) > config.max_objects)),
            ("object_size", too_small.any(axis=1)),
        ):
            bad[rule].append(np.flatnonzero(rows) + start)
    report = ConstraintReport(checked=len(images), rules=IMAGE_RULES)
    for rule, parts in bad.items():
        if parts and len(idx := np.concatenate(parts)):
            report.violations[rule] = idx
    return report


@kernel
def _connected(cells, count, g, seen, stack):
    """True when the count flat cells (marked in seen) form one 4-connected piece."""
    top, reached = 1, 1
    stack[0] = cells[0]
    seen[cells[0]] = 2
    while top:
        top -= 1
        x = stack[top]
        r, c = x // g, x % g
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < g and 0 <= cc < g and seen[rr * g + cc] == 1:
                seen[rr * g + cc] = 2
                stack[top] = rr * g + cc
                top += 1
                reached += 1
    return reached == count


@kernel
def _check(
    img, inst, nobj, otype, osub, ocol, osize, obbox, g, nmin, nmax, smin, smax, type_on, bad
):
    k_max = otype.shape[1]
    cells = np.zeros((k_max + 1, g * g), np.int64)
    count = np.zeros(k_max + 1, np.int64)
    seen = np.zeros(g * g, np.uint8)
    stack = np.zeros(g * g, np.int64)
    for i in range(img.shape[0]):
        n = int(nobj[i])
        if n < 1 or n > nmax or n > k_max:
            bad[i, 1] = True
            n = min(n, k_max)
        count[:] = 0
        for x in range(g * g):
            v, lab = img[i, x], inst[i, x]
            if v > 9:
                bad[i, 0] = True
            if lab > n:
                bad[i, 2] = True
                continue
            if (lab == 0 and v != 0) or (lab > 0 and v != ocol[i, lab - 1]):
                bad[i, 3] = True
            cells[lab, count[lab]] = x
            count[lab] += 1
        for k in range(k_max):
            if k >= n:
                if otype[i, k] or ocol[i, k] or osize[i, k] or osub[i, k]:
                    bad[i, 7] = True
                continue
            m = count[k + 1]
            if m == 0:
                bad[i, 2] = True
                continue
            if m != osize[i, k] or m < smin or m > smax:
                bad[i, 4] = True
            if ocol[i, k] < 1 or ocol[i, k] > 9:
                bad[i, 5] = True
            r0, c0, r1, c1 = g, g, -1, -1
            for j in range(m):
                r, c = cells[k + 1, j] // g, cells[k + 1, j] % g
                r0, c0, r1, c1 = min(r0, r), min(c0, c), max(r1, r), max(c1, c)
            if (
                r0 != obbox[i, k, 0]
                or c0 != obbox[i, k, 1]
                or r1 != obbox[i, k, 2]
                or c1 != obbox[i, k, 3]
            ):
                bad[i, 6] = True
            t = otype[i, k]
            if t < 1 or t > 4 or not type_on[t]:
                bad[i, 7] = True
                continue
            h, w = r1 - r0 + 1, c1 - c0 + 1
            if t == 1:  # blob: 4-connected
                for j in range(m):
                    seen[cells[k + 1, j]] = 1
                if not _connected(cells[k + 1], m, g, seen, stack):
                    bad[i, 8] = True
                for j in range(m):
                    seen[cells[k + 1, j]] = 0
            elif t == 2:  # rectangle: fills its box
                if h * w != m:
                    bad[i, 8] = True
            elif t == 3:  # line: one cell per step along its orientation
                s = osub[i, k]
                straight = (s == 0 and h == 1 and w == m) or (s == 1 and w == 1 and h == m)
                if s >= 2 and h == m and w == m:
                    straight = True
                    for j in range(m):
                        r, c = cells[k + 1, j] // g - r0, cells[k + 1, j] % g - c0
                        if (s == 2 and r != c) or (s == 3 and r + c != m - 1):
                            straight = False
                if not straight:
                    bad[i, 8] = True
            elif osub[i, k] > 4:  # pattern: a known family
                bad[i, 8] = True
