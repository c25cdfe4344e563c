"""The process's cache of decoded chunks (gridstore.read.cache): bounded, read-only, never stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_layout import make_split, write_version

from gridstore.errors import CorruptChunkError
from gridstore.read import cache, open_store

VERSION = "2026-01-01-v1"
ROWS, CHUNK = 600, 50  # 12 chunks of 50 images (12,800 bytes each)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = make_split(ROWS, seed=3)
    write_version(tmp_path / "store", VERSION, {"train": data}, {"train": CHUNK})
    return tmp_path / "store", data["images"]


def chunk_file(store: Path, chunk: int) -> Path:
    return store / VERSION / "train" / "images" / "c" / str(chunk) / "0" / "0"


def test_random_reads_decode_a_chunk_once_while_it_is_cached(store) -> None:
    path, images = store
    split = open_store(path).version(VERSION)["train"]
    np.testing.assert_array_equal(split.images[[7, 3]], images[[7, 3]])  # chunk 0 cached
    chunk_file(path, 0).unlink()
    np.testing.assert_array_equal(split.images[12], images[12])  # from the cache
    np.testing.assert_array_equal(split.images[[40, 2, 49]], images[[40, 2, 49]])
    fresh = open_store(path).version(VERSION)["train"]  # a new opening reads the store
    with pytest.raises(CorruptChunkError, match=r"chunk '.*train/images/c/0/0/0'.* is missing"):
        fresh.images[12]


def test_the_cache_is_bounded_in_bytes(store, monkeypatch: pytest.MonkeyPatch) -> None:
    path, images = store
    chunk_bytes = CHUNK * images[0].nbytes
    monkeypatch.setattr(cache, "CACHE_BYTES", 3 * chunk_bytes)
    monkeypatch.setattr(cache, "_chunks", type(cache._chunks)())
    monkeypatch.setattr(cache, "_used", [0])
    split = open_store(path).version(VERSION)["train"]
    for i in np.random.default_rng(0).permutation(ROWS):  # every chunk, many times
        np.testing.assert_array_equal(split.images[int(i)], images[i])
        assert cache._used[0] <= 3 * chunk_bytes and len(cache._chunks) <= 3
    for chunk in (0, 1, 2, 0, 3):  # 0 is used again before 3 comes: 1 is the one to go
        split.images[chunk * CHUNK]
    assert cache._used[0] == sum(c.nbytes for c in cache._chunks.values()) == 3 * chunk_bytes
    assert sorted(key[2] for key in cache._chunks) == [0, 2, 3]


def test_cached_chunks_are_read_only_and_reads_are_the_callers(store) -> None:
    path, images = store
    split = open_store(path).version(VERSION)["train"]
    assert not split.images.chunk(1).flags.writeable
    row, rows = split.images[60], split.images[[60, 61]]
    row[0, 0] = rows[0, 0, 0] = 99  # the caller's own copies
    np.testing.assert_array_equal(split.images[60], images[60])


def test_a_cache_of_zero_bytes_keeps_nothing(store, monkeypatch: pytest.MonkeyPatch) -> None:
    path, images = store
    monkeypatch.setattr(cache, "CACHE_BYTES", 0)
    split = open_store(path).version(VERSION)["train"]
    np.testing.assert_array_equal(split.images[5], images[5])
    shutil.copy(chunk_file(path, 1), chunk_file(path, 0))  # chunk 0 now holds chunk 1's bytes
    np.testing.assert_array_equal(split.images[5], images[CHUNK + 5])  # read again, not cached
