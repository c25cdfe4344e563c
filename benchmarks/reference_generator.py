"""Reference (baseline) generator: GENERATOR.md written the straightforward way.

This is the baseline only. It is the code a researcher would write first: one
image at a time, Python's ``random.Random``, sets of ``(row, col)`` cells and
plain loops; numpy is used only to build the final uint8 arrays. It exists so
``bench_generate.py`` can report how much faster ``gridstore.generate`` is.
It does not reproduce gridstore's bytes (different random streams), and
where GENERATOR.md leaves a detail open (how strongly rectangles favour
aspect ratios below 3:1, the pattern families' parameters) it makes its own
choice, documented below. Only the atomic preset is implemented.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

__all__ = ["ImageAnnotation", "ObjectAnnotation", "generate_reference"]

MIN_OBJECTS, MAX_OBJECTS = 1, 4
MIN_SIZE, MAX_SIZE = 2, 15
MAX_TRIES = 10
TYPES = ("blob", "rectangle", "line", "pattern")
TYPE_WEIGHTS = (0.4, 0.2, 0.2, 0.2)
LINE_KINDS = ("horizontal", "vertical", "diagonal", "anti-diagonal")
LINE_WEIGHTS = (0.3, 0.3, 0.2, 0.2)
PATTERN_KINDS = ("checkerboard", "L", "T", "plus", "zigzag")
COMPACT_WEIGHT = 3  # frontier cell with >= 2 blob neighbours
SQUAT_WEIGHT = 3  # rectangle with aspect ratio < 3 vs 1 for elongated ones (as gridstore)

Cell = tuple[int, int]


@dataclass(frozen=True)
class ObjectAnnotation:
    """One placed object: type, colour, cell count, inclusive bbox (r0, c0, r1, c1)."""

    kind: str
    colour: int
    size: int
    bbox: tuple[int, int, int, int]


@dataclass(frozen=True)
class ImageAnnotation:
    """Ground truth of one image: its objects in placement order and instance map."""

    objects: list[ObjectAnnotation]
    instance_map: np.ndarray  # (G, G) uint8, 0 background, k = k-th object

    @property
    def num_objects(self) -> int:
        """Return the number of objects placed."""
        return len(self.objects)


def _neighbours(cell: Cell, grid_size: int) -> list[Cell]:
    r, c = cell
    out = []
    for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
        if 0 <= nr < grid_size and 0 <= nc < grid_size:
            out.append((nr, nc))
    return out


def _grow_blob(rng: random.Random, occupied: set[Cell], grid_size: int) -> set[Cell] | None:
    """Grow a blob in place from a random free cell; None if it ends below MIN_SIZE."""
    target = rng.randint(MIN_SIZE, MAX_SIZE)
    free = [(r, c) for r in range(grid_size) for c in range(grid_size) if (r, c) not in occupied]
    if not free:
        return None
    blob = {rng.choice(free)}
    while len(blob) < target:
        frontier = {
            n
            for cell in blob
            for n in _neighbours(cell, grid_size)
            if n not in blob and n not in occupied
        }
        if not frontier:
            break
        cells = list(frontier)  # int-tuple hashes are fixed, so this order is reproducible
        weights = []
        for cell in cells:
            inside = sum(1 for n in _neighbours(cell, grid_size) if n in blob)
            weights.append(COMPACT_WEIGHT if inside >= 2 else 1)
        blob.add(rng.choices(cells, weights)[0])
    return blob if len(blob) >= MIN_SIZE else None


def _rectangle(rng: random.Random, grid_size: int) -> set[Cell]:
    target = rng.randint(MIN_SIZE, MAX_SIZE)
    shapes, weights = [], []
    for h in range(1, grid_size + 1):
        for w in range(1, grid_size + 1):
            if abs(h * w - target) <= 1 and MIN_SIZE <= h * w <= MAX_SIZE:
                shapes.append((h, w))
                weights.append(SQUAT_WEIGHT if max(h, w) < 3 * min(h, w) else 1)
    h, w = rng.choices(shapes, weights)[0]
    return {(r, c) for r in range(h) for c in range(w)}


def _line(rng: random.Random) -> set[Cell]:
    length = rng.randint(MIN_SIZE, MAX_SIZE)
    kind = rng.choices(LINE_KINDS, LINE_WEIGHTS)[0]
    if kind == "horizontal":
        return {(0, i) for i in range(length)}
    if kind == "vertical":
        return {(i, 0) for i in range(length)}
    if kind == "diagonal":
        return {(i, i) for i in range(length)}
    return {(i, length - 1 - i) for i in range(length)}


def _pattern_template(rng: random.Random, kind: str) -> set[Cell]:
    if kind == "checkerboard":  # k x k, cells where row + col is even: 2, 5, 8 cells
        k = rng.randint(2, 4)
        return {(r, c) for r in range(k) for c in range(k) if (r + c) % 2 == 0}
    if kind == "L":  # vertical arm a, horizontal arm b, sharing the corner
        a, b = rng.randint(2, 8), rng.randint(2, 8)
        return {(i, 0) for i in range(a)} | {(a - 1, j) for j in range(b)}
    if kind == "T":  # bar of width w, stem of length s below its middle
        w, s = rng.randint(3, 9), rng.randint(1, 7)
        return {(0, j) for j in range(w)} | {(i, w // 2) for i in range(1, s + 1)}
    if kind == "plus":  # four arms of length a around a centre: 5, 9, 13 cells
        a = rng.randint(1, 3)
        return (
            {(a, a)}
            | {(a + d * i, a) for d in (-1, 1) for i in range(1, a + 1)}
            | {(a, a + d * i) for d in (-1, 1) for i in range(1, a + 1)}
        )
    steps, run = rng.randint(2, 7), rng.randint(2, 4)  # zigzag staircase
    return {(s, s * (run - 1) + j) for s in range(steps) for j in range(run)}


def _pattern(rng: random.Random, grid_size: int) -> set[Cell]:
    while True:  # redraw until the size and extent constraints hold
        cells = _pattern_template(rng, rng.choice(PATTERN_KINDS))
        if rng.random() < 0.5:
            cells = {(c, r) for r, c in cells}
        if rng.random() < 0.5:
            cells = {(-r, c) for r, c in cells}
        if rng.random() < 0.5:
            cells = {(r, -c) for r, c in cells}
        r0, c0 = min(r for r, _ in cells), min(c for _, c in cells)
        cells = {(r - r0, c - c0) for r, c in cells}
        extent = max(max(r for r, _ in cells), max(c for _, c in cells)) + 1
        if MIN_SIZE <= len(cells) <= MAX_SIZE and extent <= grid_size:
            return cells


def _place(
    rng: random.Random, shape: set[Cell], occupied: set[Cell], grid_size: int
) -> set[Cell] | None:
    """Translate shape to a uniformly drawn fitting position; None if none fits."""
    height = max(r for r, _ in shape) + 1
    width = max(c for _, c in shape) + 1
    positions = [
        (r0, c0)
        for r0 in range(grid_size - height + 1)
        for c0 in range(grid_size - width + 1)
        if not any((r0 + r, c0 + c) in occupied for r, c in shape)
    ]
    if not positions:
        return None
    r0, c0 = rng.choice(positions)
    return {(r0 + r, c0 + c) for r, c in shape}


def _draw_object(
    rng: random.Random, kind: str, occupied: set[Cell], grid_size: int
) -> set[Cell] | None:
    for _ in range(MAX_TRIES):
        if kind == "blob":
            cells = _grow_blob(rng, occupied, grid_size)
        elif kind == "rectangle":
            cells = _place(rng, _rectangle(rng, grid_size), occupied, grid_size)
        elif kind == "line":
            cells = _place(rng, _line(rng), occupied, grid_size)
        else:
            cells = _place(rng, _pattern(rng, grid_size), occupied, grid_size)
        if cells is not None:
            return cells
    return None


def _generate_image(
    rng: random.Random, image: np.ndarray, instance_map: np.ndarray
) -> list[ObjectAnnotation]:
    grid_size = image.shape[0]
    occupied: set[Cell] = set()
    objects: list[ObjectAnnotation] = []
    for _ in range(rng.randint(MIN_OBJECTS, MAX_OBJECTS)):
        colour = rng.randint(1, 9)
        kind = rng.choices(TYPES, TYPE_WEIGHTS)[0]
        cells = _draw_object(rng, kind, occupied, grid_size)
        if cells is None:
            continue  # crowded grid: skip this object
        occupied |= cells
        for r, c in cells:
            image[r, c] = colour
            instance_map[r, c] = len(objects) + 1
        rows = [r for r, _ in cells]
        cols = [c for _, c in cells]
        bbox = (min(rows), min(cols), max(rows), max(cols))
        objects.append(ObjectAnnotation(kind, colour, len(cells), bbox))
    return objects


def generate_reference(
    num_images: int, seed: int = 0, grid_size: int = 16
) -> tuple[np.ndarray, list[ImageAnnotation]]:
    """Generate atomic-preset images one by one in pure Python (the baseline).

    Parameters
    ----------
    num_images : int
        Number of images to generate (>= 0).
    seed : int, optional
        Seed of the single ``random.Random`` stream all images are drawn from.
    grid_size : int, optional
        Side of the square grid; at least ``MAX_SIZE + 1`` so every shape fits.

    Returns
    -------
    images : numpy.ndarray
        ``(num_images, grid_size, grid_size)`` uint8, values 0..9.
    annotations : list of ImageAnnotation
        Per image: objects in placement order (type, colour, size, bbox) and
        the instance map.

    Raises
    ------
    ValueError
        If ``num_images`` is negative or ``grid_size`` is too small.

    Examples
    --------
    >>> images, annotations = generate_reference(2, seed=1)
    >>> images.shape, images.dtype.name, annotations[0].num_objects >= 1
    ((2, 16, 16), 'uint8', True)
    """
    if num_images < 0:
        msg = f"num_images must be >= 0, got {num_images}"
        raise ValueError(msg)
    if grid_size <= MAX_SIZE:
        msg = f"grid_size must be >= {MAX_SIZE + 1} so every shape fits, got {grid_size}"
        raise ValueError(msg)
    rng = random.Random(seed)
    images = np.zeros((num_images, grid_size, grid_size), dtype=np.uint8)
    annotations = []
    for i in range(num_images):
        instance_map = np.zeros((grid_size, grid_size), dtype=np.uint8)
        objects = _generate_image(rng, images[i], instance_map)
        annotations.append(ImageAnnotation(objects, instance_map))
    return images, annotations
