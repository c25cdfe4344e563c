"""64-bit content hashes of images: the disjoint-split route key and duplicate counts."""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel
from gridstore.generate.rng import rotl, splitmix64

__all__ = ["content_hash", "content_hashes", "route_splits"]

_K1 = np.uint64(0x9E3779B185EBCA87)  # multiply-rotate constants of xxHash64
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)


@kernel
def content_hash(image: np.ndarray) -> np.uint64:
    """64-bit hash of an image's bytes, eight at a time (little-endian words)."""
    n = image.shape[0]
    words = n // 8
    h = np.uint64(n) * _K1
    for i in range(words):
        word = np.uint64(0)  # assembled byte by byte (LLVM makes it one load); no .view compile
        for b in range(8):
            word |= np.uint64(image[8 * i + b]) << np.uint64(8 * b)
        h = rotl(h ^ (word * _K2), 31) * _K1
    tail = np.uint64(0)
    for i in range(words * 8, n):
        tail = (tail << np.uint64(8)) | np.uint64(image[i])
    return splitmix64(rotl(h ^ (tail * _K2), 31) * _K1)


@kernel
def _hash_rows(flat, out):
    for i in range(flat.shape[0]):
        out[i] = content_hash(flat[i])


def content_hashes(images: np.ndarray) -> np.ndarray:
    """Return the 64-bit content hash of each image (the disjoint-split route key).

    Examples
    --------
    >>> import numpy as np
    >>> h = content_hashes(np.zeros((2, 16, 16), np.uint8))
    >>> h.dtype, bool(h[0] == h[1])
    (dtype('uint64'), True)
    """
    n = len(images)
    flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(n, int(np.prod(images.shape[1:])))
    out = np.empty(n, np.uint64)
    _hash_rows(flat, out)
    return out


def route_splits(hashes: np.ndarray, fractions: tuple[float, float, float]) -> np.ndarray:
    """The split (0, 1, 2) each content hash routes to in a disjoint version, as the kernel does.

    Examples
    --------
    >>> route_splits(np.array([0, 2**64 - 1], np.uint64), (0.8, 0.1, 0.1)).tolist()
    [0, 2]
    """
    u = (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.cumsum(fractions)[:2].searchsorted(u, side="right").astype(np.int8)
