"""The generator's vocabulary: object type names, routing blocks, and `Annotations`.

Plain Python and numpy only, so that configs, plans, statistics and readers can
name types and hold annotations without loading numba.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = [
    "LINE_ORIENTATIONS",
    "OBJECT_TYPES",
    "PATTERN_FAMILIES",
    "ROUTING_BLOCK_IMAGES",
    "Annotations",
]

OBJECT_TYPES = ("blob", "rectangle", "line", "pattern")  # object_type codes 1..4
LINE_ORIENTATIONS = ("horizontal", "vertical", "diagonal", "anti_diagonal")  # line subtypes
PATTERN_FAMILIES = ("checkerboard", "L", "T", "plus", "zigzag")  # pattern subtypes
ROUTING_BLOCK_IMAGES = 5000  # slots per routing block; part of the byte layout, never change


@dataclass(frozen=True)
class Annotations:
    """Ground truth of a batch of images (see docs/internals.md).

    Examples
    --------
    >>> ann = Annotations.empty(2, grid_size=16, max_objects=4)
    >>> len(ann), ann.object_bbox.shape
    (2, (2, 4, 4))
    """

    num_objects: np.ndarray
    object_type: np.ndarray
    object_subtype: np.ndarray
    object_colour: np.ndarray
    object_size: np.ndarray
    object_bbox: np.ndarray
    instance_map: np.ndarray

    @classmethod
    def empty(cls, n: int, grid_size: int, max_objects: int) -> Annotations:
        """Zeroed arrays for ``n`` images."""
        k = max_objects
        return cls(
            num_objects=np.zeros(n, np.uint8),
            object_type=np.zeros((n, k), np.uint8),
            object_subtype=np.zeros((n, k), np.uint8),
            object_colour=np.zeros((n, k), np.uint8),
            object_size=np.zeros((n, k), np.uint16),
            object_bbox=np.zeros((n, k, 4), np.uint8),
            instance_map=np.zeros((n, grid_size, grid_size), np.uint8),
        )

    @staticmethod
    def names() -> tuple[str, ...]:
        """Field names, in storage order."""
        return tuple(f.name for f in fields(Annotations))

    def as_dict(self) -> dict[str, np.ndarray]:
        """The arrays by field name."""
        return {name: getattr(self, name) for name in self.names()}

    @classmethod
    def concatenate(cls, parts: list[Annotations]) -> Annotations:
        """One batch of the rows of ``parts``, in order."""
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.names()})

    def __len__(self) -> int:
        return len(self.num_objects)

    def __getitem__(self, index: slice | np.ndarray) -> Annotations:
        return Annotations(**{k: v[index] for k, v in self.as_dict().items()})
