"""Build small stores in the on-disk layout of docs/internals.md with zarr directly.

Used by tests (and benchmarks/bench_read.py) before/independently of the real writer:
the reader must accept any store that follows the layout contract, whoever wrote it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

from gridstore.storage import FIELDS

__all__ = ["ANNOTATION_FIELDS", "make_split", "write_version"]

ANNOTATION_FIELDS = FIELDS[1:]  # the layout's order: images, then the annotations


def make_split(n: int, *, seed: int, grid: int = 16, max_objects: int = 4) -> dict[str, np.ndarray]:
    """Return sparse, realistic-looking images and annotations: 1..K random rectangles."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, max_objects + 1, size=n)
    images = np.zeros((n, grid, grid), np.uint8)
    inst = np.zeros((n, grid, grid), np.uint8)
    otype = np.zeros((n, max_objects), np.uint8)
    ocol = np.zeros((n, max_objects), np.uint8)
    osize = np.zeros((n, max_objects), np.uint16)
    obbox = np.zeros((n, max_objects, 4), np.uint8)
    rows = np.arange(grid)[None, :, None]
    cols = np.arange(grid)[None, None, :]
    for j in range(max_objects):
        on = k > j
        h = rng.integers(1, 5, size=n)
        w = rng.integers(1, 5, size=n)
        r0 = rng.integers(0, grid - h + 1)
        c0 = rng.integers(0, grid - w + 1)
        colour = rng.integers(1, 10, size=n).astype(np.uint8)
        mask = (
            on[:, None, None]
            & (rows >= r0[:, None, None])
            & (rows < (r0 + h)[:, None, None])
            & (cols >= c0[:, None, None])
            & (cols < (c0 + w)[:, None, None])
        )
        images = np.where(mask, colour[:, None, None], images)
        inst = np.where(mask, np.uint8(j + 1), inst)
        otype[on, j] = 2
        ocol[on, j] = colour[on]
        osize[on, j] = (h * w)[on]
        obbox[on, j] = np.stack([r0, c0, r0 + h - 1, c0 + w - 1], axis=1)[on]
    return {
        "images": images,
        "num_objects": k.astype(np.uint8),
        "object_type": otype,
        "object_subtype": np.zeros((n, max_objects), np.uint8),
        "object_colour": ocol,
        "object_size": osize,
        "object_bbox": obbox,
        "instance_map": inst,
    }


def _compressors(clevel: int, shuffle: str) -> list[object]:
    # A plain string: zarr 3.1 parses it into its BloscShuffle enum, and zarr 3.4 deprecates
    # that class (no longer callable) in favour of the literal.
    return [
        BloscCodec(cname="zstd", clevel=clevel, shuffle=shuffle),
        Crc32cCodec(),
    ]


def write_version(
    store: str | os.PathLike[str],
    version: str,
    splits: Mapping[str, Mapping[str, np.ndarray]],
    chunk_images: Mapping[str, int],
    *,
    state: str = "complete",
    clevel: int = 3,
    shuffle: str = "bitshuffle",
) -> None:
    """Write one version (creating the store root if needed) in the gridstore layout."""
    root = zarr.open_group(os.fspath(store), mode="a")
    root.attrs["gridstore"] = {"layout": 1}
    vgroup = root.create_group(version)
    for split, arrays in splits.items():
        sgroup = vgroup.create_group(split)
        for name, data in arrays.items():
            cs = chunk_images[split]
            arr = sgroup.create_array(
                name,
                shape=data.shape,
                dtype=data.dtype,
                chunks=(cs, *data.shape[1:]),
                compressors=_compressors(clevel, shuffle),
                fill_value=0,
                config={"write_empty_chunks": True},
            )
            for c0 in range(0, data.shape[0], cs):
                arr[c0 : c0 + cs] = data[c0 : c0 + cs]
    vgroup.attrs.update(
        {
            "state": state,
            "counts": {s: int(a["images"].shape[0]) for s, a in splits.items()},
            "chunk_images": dict(chunk_images),
        }
    )
