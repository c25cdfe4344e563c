"""Content hashes (gridstore.generate.hashing): the disjoint-split route key and duplicate counts.

The hash of an image's bytes decides which split a drawn image goes to in
``disjoint`` mode, so its values are part of a dataset's bytes.
"""

from __future__ import annotations

import numpy as np

from gridstore.config import make_config
from gridstore.generate.batch import generate_images
from gridstore.generate.hashing import content_hash, content_hashes


def test_content_hashes_of_no_images() -> None:
    out = content_hashes(np.zeros((0, 16, 16), np.uint8))
    assert out.shape == (0,)
    assert out.dtype == np.uint64


def test_values_are_pinned() -> None:
    """Changing the hash reroutes every disjoint dataset: it needs a new byte layout, not a fix."""
    images = np.stack(
        [np.zeros((16, 16), np.uint8), np.arange(256, dtype=np.uint8).reshape(16, 16)]
    )
    assert [hex(h) for h in content_hashes(images).tolist()] == [
        "0x6852b2c1d6ceb85a",
        "0x57d13265c2411937",
    ]


def test_content_hashes_is_content_hash_of_each_row() -> None:
    images, _ = generate_images(make_config(), 3, 0, 50)
    hashes = content_hashes(images)
    assert hashes.shape == (50,)
    assert hashes.dtype == np.uint64
    for image, h in zip(images, hashes.tolist(), strict=True):
        assert int(content_hash(image.ravel())) == h


def test_every_single_byte_change_changes_the_hash() -> None:
    base = np.random.default_rng(0).integers(0, 10, (16, 16), dtype=np.uint8)
    variants = np.repeat(base[None], 2 * base.size, axis=0)
    for i in range(base.size):
        variants[i].flat[i] ^= 1  # the lowest bit of byte i
        variants[base.size + i].flat[i] = (base.flat[i] + 5) % 10  # another colour
    hashes = set(content_hashes(variants).tolist())
    assert len(hashes) == 2 * base.size
    assert int(content_hashes(base[None])[0]) not in hashes


def test_length_and_tail_bytes_count() -> None:
    """Zeros of every length hash apart, and so do images that differ in a byte past the last word."""
    zeros = [int(content_hashes(np.zeros((1, n), np.uint8))[0]) for n in range(40)]
    assert len(set(zeros)) == 40
    for n in (10, 13, 15, 23):  # a tail of 2 to 7 bytes after the last whole word
        a = np.zeros((1, n), np.uint8)
        b = a.copy()
        b[0, -1] = 1
        c = a.copy()
        c[0, 8 * (n // 8)] = 1  # the tail's first byte
        assert len({int(content_hashes(x)[0]) for x in (a, b, c)}) == 3, n


def test_hashes_follow_values_not_layout_or_dtype() -> None:
    """Views and float copies of images hash as their uint8 bytes (split_corpus takes any dtype)."""
    images = np.random.default_rng(1).integers(0, 10, (20, 9, 9), dtype=np.uint8)
    expected = content_hashes(images)
    np.testing.assert_array_equal(content_hashes(images.astype(np.float32)), expected)
    np.testing.assert_array_equal(content_hashes(images.astype(np.int64)), expected)
    flipped = images[:, ::-1, ::2]  # not contiguous
    np.testing.assert_array_equal(
        content_hashes(flipped), content_hashes(np.ascontiguousarray(flipped))
    )


def test_equal_hashes_mean_equal_images_in_a_sample() -> None:
    """No collisions among the distinct images of a duplicate-heavy sample and a varied one."""
    for config in (
        make_config(grid_size=4, min_objects=1, max_objects=1, min_size=2, max_size=2,
                    type_weights={"blob": 0, "pattern": 0}),
        make_config(),
    ):  # fmt: skip
        images, _ = generate_images(config, 9, 0, 20_000)
        distinct_bytes = {im.tobytes() for im in images}
        assert len(set(content_hashes(images).tolist())) == len(distinct_bytes)
