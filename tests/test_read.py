"""gridstore.read.store against real zarr stores built in the layout of docs/internals.md."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from helpers_layout import make_split, write_version
from torch.utils.data import DataLoader

from gridstore.errors import (
    ChunkChecksumError,
    ConfigError,
    CorruptChunkError,
    StoreNotFoundError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.read import open_store
from gridstore.read.batching import _windows
from gridstore.read.source import read_chunk
from gridstore.storage import LocalStore

LATEST = "2026-01-02-v10"
CHUNKS = {"train": 96, "val": 48, "test": 30}  # none divides its split's size
COUNTS = {"train": 1000, "val": 130, "test": 77}
COMPLETE = ["2026-01-01-v1", "2026-01-02-v2", LATEST]


@pytest.fixture(scope="module")
def source() -> dict[str, dict[str, np.ndarray]]:
    splits = {s: make_split(n, seed=i + 7) for i, (s, n) in enumerate(COUNTS.items())}
    for data in splits.values():  # stamp each row's id (base 9, colours 1..9) to identify it
        ids = np.arange(len(data["images"]))
        for digit in range(4):
            data["images"][:, 15, digit] = ids // 9**digit % 9 + 1
    return splits


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory, source: dict) -> Path:
    path = tmp_path_factory.mktemp("read") / "store"
    tiny = {"train": make_split(10, seed=1)}
    write_version(path, "2026-01-02-v2", tiny, {"train": 4})
    write_version(path, LATEST, source, CHUNKS)
    write_version(path, "2026-01-01-v1", tiny, {"train": 4})
    write_version(path, "2026-01-03-v1", tiny, {"train": 4}, state="in_progress")
    zarr.open_group(os.fspath(path), mode="a").create_group("scratch")  # not a version name
    LocalStore(path).claim_version("2026-01-04-v1")  # a version being written
    return path


@pytest.fixture
def copy_path(store_path: Path, tmp_path: Path) -> Path:
    """A private copy of the store, free to damage."""
    return Path(shutil.copytree(store_path, tmp_path / "store"))


def row_ids(images: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Index in `source` of each image of `images` (all must be found)."""
    lookup = {row.tobytes(): i for i, row in enumerate(source)}
    return np.array([lookup[row.tobytes()] for row in images], dtype=np.int64)


def test_versions_lists_complete_versions_sorted_by_date_and_n(store_path: Path) -> None:
    store = open_store(store_path)
    assert store.versions == COMPLETE
    version = store.version()
    assert version.name == LATEST
    assert version.metadata["state"] == "complete"
    assert version.metadata["counts"] == COUNTS
    assert version.splits == ["train", "val", "test"]
    assert store.version("2026-01-01-v1").name == "2026-01-01-v1"


def test_split_exposes_lazy_arrays(store_path: Path, source: dict) -> None:
    split = open_store(store_path).version()["train"]
    assert len(split) == 1000
    assert split.images.shape == (1000, 16, 16)
    assert split.images.dtype == np.uint8
    assert split.images.chunk_images == 96
    assert split.fields == ["images", *split.annotations]
    assert split.annotations.num_objects is split.annotation("num_objects")
    assert split.annotations["object_size"].dtype == np.uint16
    bbox = source["train"]["object_bbox"]
    np.testing.assert_array_equal(split.annotations.object_bbox[-3:], bbox[-3:])


def _errors(path: Path) -> list[tuple[object, type[Exception], str]]:
    s = str(path)
    create = "create one with 'gridstore generate --store {}'"
    return [
        # the messages of Store.open, which open_store reuses for local paths
        (
            lambda: open_store(path / "nope"),
            StoreNotFoundError,
            f"store '{s}/nope' does not exist; " + create.format(f"{s}/nope"),
        ),
        (
            lambda: open_store(path / "zarr.json"),
            StoreNotFoundError,
            f"store path '{s}/zarr.json' is a file, not a directory; choose another --store",
        ),
        (
            lambda: open_store(path / "2026-01-02-v2"),
            StoreNotFoundError,
            f"'{s}/2026-01-02-v2/zarr.json' is not a gridstore store's root (unreadable or no "
            "gridstore attributes)",
        ),
        (
            lambda: open_store(path / "2026-01-02-v2" / "train" / "images" / "c"),
            StoreNotFoundError,
            f"'{s}/2026-01-02-v2/train/images/c' is not a gridstore store (no zarr.json) and not "
            "empty; use a new or empty directory",
        ),
        (
            lambda: open_store(path).version("2026-01-01-v9"),
            VersionNotFoundError,
            f"version '2026-01-01-v9' not found in store '{s}'; available: "
            "2026-01-01-v1, 2026-01-02-v2, 2026-01-02-v10",
        ),
        (
            lambda: open_store(path).version("scratch"),
            VersionNotFoundError,
            f"version 'scratch' not found in store '{s}'; available: "
            "2026-01-01-v1, 2026-01-02-v2, 2026-01-02-v10",
        ),
        (
            lambda: open_store(path).version("2026-01-03-v1"),
            VersionIncompleteError,
            f"version '2026-01-03-v1' in store '{s}' is unfinished; resume it with "
            f"'gridstore generate --store {s} --resume --version 2026-01-03-v1' or remove it "
            f"with 'gridstore delete --store {s} 2026-01-03-v1'",
        ),
        (
            lambda: open_store(path).version("2026-01-04-v1"),
            VersionIncompleteError,
            f"version '2026-01-04-v1' in store '{s}' is unfinished; resume it with "
            f"'gridstore generate --store {s} --resume --version 2026-01-04-v1' or remove it "
            f"with 'gridstore delete --store {s} 2026-01-04-v1'",
        ),
        (
            lambda: open_store(path).version("2026-01-02-v2")["val"],
            VersionNotFoundError,
            f"split 'val' not found in version '2026-01-02-v2' of store '{s}'; available: train",
        ),
        (
            lambda: open_store(path).version()["train"].annotation("colour"),
            VersionNotFoundError,
            f"field 'colour' not found in split 'train' of version '{LATEST}'; available: images, "
            "num_objects, object_type, object_subtype, object_colour, object_size, object_bbox, "
            "instance_map",
        ),
        (
            lambda: open_store(path).version()["val"].batches(0),
            ConfigError,
            "batch_size must be an integer >= 1, got 0",
        ),
        (
            lambda: open_store(path).version()["val"].batches(8, rank=2, world_size=2),
            ConfigError,
            "rank must be < world_size=2, got 2",
        ),
        (
            lambda: open_store(path).version()["val"].batches(8, fields=["images", "x"]),
            ConfigError,
            "unknown field 'x' in split 'val'; available: images, num_objects, "
            "object_type, object_subtype, object_colour, object_size, object_bbox, instance_map",
        ),
        (
            lambda: open_store(path).version()["val"].torch_iterable(8, seed=-1),
            ConfigError,
            "seed must be an integer >= 0, got -1",
        ),
        (
            lambda: open_store(path).version()["val"].batches(8, fields=[]),
            ConfigError,
            "fields must name at least one array, got none",
        ),
        (
            lambda: open_store(path).version()["val"].num_batches(0),
            ConfigError,
            "batch_size must be an integer >= 1, got 0",
        ),
        (
            lambda: open_store(path).version()["val"].num_batches(8, rank=2, world_size=2),
            ConfigError,
            "rank must be < world_size=2, got 2",
        ),
    ]


@pytest.mark.parametrize(
    "case",
    range(17),
    ids=[
        "missing",
        "file",
        "not-gridstore",
        "plain-dir",
        "unknown-version",
        "not-a-version-name",
        "incomplete",
        "staged",
        "unknown-split",
        "unknown-field",
        "batch-size",
        "rank",
        "field",
        "seed",
        "no-fields",
        "num-batches-batch-size",
        "num-batches-rank",
    ],
)
def test_errors_are_one_exact_line(store_path: Path, case: int) -> None:
    call, kind, message = _errors(store_path)[case]
    with pytest.raises(kind) as info:
        call()
    assert str(info.value) == message
    assert "\n" not in message


def test_store_without_versions_and_unknown_layout(tmp_path: Path) -> None:
    root = zarr.open_group(os.fspath(tmp_path / "empty"), mode="w")
    root.attrs["gridstore"] = {"layout": 1}
    with pytest.raises(VersionNotFoundError) as info:
        open_store(tmp_path / "empty").version()
    assert str(info.value) == (
        f"store '{tmp_path}/empty' has no complete version; create one "
        f"with 'gridstore generate --store {tmp_path}/empty'"
    )
    root.attrs["gridstore"] = {"layout": 2}
    with pytest.raises(StoreNotFoundError, match="has layout 2; this gridstore reads layout 1"):
        open_store(tmp_path / "empty")


INDEXES = [
    0,
    95,
    96,
    -1,
    -1000,
    np.int64(517),
    slice(None),
    slice(90, 200),
    slice(-50, None),
    slice(None, None, 7),
    slice(500, 3, -11),
    slice(10, 10),
    [999, 0, 96, 95, 0, -1, 500, 500],
    np.array([], dtype=np.int64),
    np.array([[3, 200], [-5, 96]]),
    np.arange(1000) % 3 == 0,
    (5, slice(3, 7)),
    (np.array([9, 1, 9]), 0),
    (slice(100, 300, 2), Ellipsis, 4),
]


@pytest.mark.parametrize("key", INDEXES, ids=[repr(k)[:40] for k in INDEXES])
def test_getitem_equals_numpy(store_path: Path, source: dict, key: object) -> None:
    split = open_store(store_path).version()["train"]
    for field in split.fields:
        try:
            want = source["train"][field][key]
        except IndexError:  # e.g. two indices into a 1-d array: numpy's error, and ours
            with pytest.raises(IndexError):
                split.annotation(field)[key]
            continue
        got = split.annotation(field)[key]
        np.testing.assert_array_equal(got, want, err_msg=field)
        assert np.shape(got) == np.shape(want)


def test_getitem_bounds(store_path: Path) -> None:
    images = open_store(store_path).version()["test"].images
    for key in (77, -78, [0, 77]):
        with pytest.raises(IndexError, match="out of bounds for axis 0 with size 77"):
            images[key]


def epoch_rows(split, source: np.ndarray, **kwargs: object) -> list[np.ndarray]:
    """Source indices of each batch's rows, checking that all fields stay aligned."""
    fields = tuple(kwargs.pop("fields", split.fields))
    out = []
    for batch in split.batches(kwargs.pop("batch_size", 64), fields=fields, **kwargs):
        if fields == ("images",):
            batch = {"images": batch}
        ids = row_ids(batch["images"], source["images"])
        for field in fields:
            np.testing.assert_array_equal(batch[field], source[field][ids], err_msg=field)
        out.append(ids)
    return out


@pytest.mark.parametrize(
    ("split_name", "batch_size", "window"),
    [
        ("train", 64, 4),
        ("train", 100, 3),
        ("train", 1, 20),
        ("val", 7, 1),
        ("test", 500, 2),
    ],
)
def test_batches_cover_each_row_once_per_epoch(
    store_path: Path, source: dict, split_name: str, batch_size: int, window: int
) -> None:
    split = open_store(store_path).version()[split_name]
    n = COUNTS[split_name]
    ids = epoch_rows(split, source[split_name], batch_size=batch_size, window_chunks=window)
    assert [len(b) for b in ids[:-1]] == [batch_size] * (len(ids) - 1)
    assert 0 < len(ids[-1]) <= batch_size
    assert sorted(np.concatenate(ids).tolist()) == list(range(n))
    assert len(ids) == split.num_batches(batch_size) == -(-n // batch_size)
    dropped = list(split.batches(batch_size, drop_last=True, window_chunks=window))
    assert [len(b) for b in dropped] == [batch_size] * (n // batch_size)


def test_batch_order_depends_on_seed_and_epoch_only(store_path: Path, source: dict) -> None:
    split = open_store(store_path).version()["train"]
    src = source["train"]
    order = {
        (s, e): np.concatenate(epoch_rows(split, src, seed=s, epoch=e, fields=("images",)))
        for s, e in [(0, 0), (0, 1), (1, 0)]
    }
    assert not np.array_equal(order[0, 0], order[0, 1])
    assert not np.array_equal(order[0, 0], order[1, 0])
    again = open_store(store_path).version()["train"]
    np.testing.assert_array_equal(
        np.concatenate(epoch_rows(again, src, seed=0, epoch=0, fields=("images",))), order[0, 0]
    )
    plain = np.concatenate(list(split.numpy_batches(64, shuffle=False)))
    np.testing.assert_array_equal(plain, src["images"])


@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_from_start_step_equals_tail_of_full_run(store_path: Path, drop_last: bool) -> None:
    split = open_store(store_path).version()["train"]
    kwargs = {
        "seed": 5,
        "epoch": 2,
        "window_chunks": 3,
        "drop_last": drop_last,
        "fields": ("images", "object_size"),
    }
    full = list(split.batches(100, **kwargs))
    for start in (0, 1, 2, 3, 5, 6, len(full) - 1, len(full), len(full) + 4):
        tail = list(split.batches(100, start_step=start, **kwargs))
        assert len(tail) == max(0, len(full) - start)
        for got, want in zip(tail, full[start:], strict=True):
            for field in kwargs["fields"]:
                np.testing.assert_array_equal(got[field], want[field])


def test_resume_skips_windows_without_reading_them(copy_path: Path) -> None:
    split = open_store(copy_path).version()["train"]
    full = list(split.batches(96, seed=3, window_chunks=2))
    first_window = _windows(split._source, True, 3, 0, 0, 1, 2)[0]
    for c in first_window:
        os.remove(copy_path / LATEST / "train" / "images" / "c" / str(c) / "0" / "0")
    tail = list(split.batches(96, seed=3, window_chunks=2, start_step=3))
    assert len(tail) == len(full) - 3
    np.testing.assert_array_equal(np.concatenate(tail), np.concatenate(full[3:]))


@pytest.mark.parametrize("world_size", [2, 3, 13])
def test_rank_shards_are_disjoint_and_complete(
    store_path: Path, source: dict, world_size: int
) -> None:
    split = open_store(store_path).version()["train"]
    shards = []
    for rank in range(world_size):
        ids = epoch_rows(
            split,
            source["train"],
            fields=("images",),
            batch_size=50,
            rank=rank,
            world_size=world_size,
            epoch=4,
        )
        assert len(ids) == split.num_batches(50, rank=rank, world_size=world_size, epoch=4)
        shards.append(np.concatenate(ids) if ids else np.array([], dtype=np.int64))
    every = np.concatenate(shards)
    assert sorted(every.tolist()) == list(range(1000))


NDIM = {"num_objects": 1, "images": 3, "instance_map": 3, "object_bbox": 3}


def chunk_file(path: Path, split: str, field: str, chunk: int) -> Path:
    zeros = "/".join(["0"] * (NDIM.get(field, 2) - 1))
    return path / LATEST / split / field / "c" / str(chunk) / zeros


def test_missing_chunk_raises_corrupt_chunk_error(copy_path: Path, source: dict) -> None:
    os.remove(chunk_file(copy_path, "train", "images", 3))
    split = open_store(copy_path).version()["train"]
    message = (
        f"chunk '{LATEST}/train/images/c/3/0/0' of store '{copy_path}' is missing "
        "(read as zeros); run 'gridstore validate --full'"
    )
    np.testing.assert_array_equal(split.images[:288], source["train"]["images"][:288])
    np.testing.assert_array_equal(
        split.images[[0, 999, 400]], source["train"]["images"][[0, 999, 400]]
    )
    for read in (
        lambda: split.images[300],
        lambda: split.images[[0, 290]],
        lambda: list(split.batches(64)),
    ):
        with pytest.raises(CorruptChunkError) as info:
            read()
        assert str(info.value) == message


def test_missing_chunk_of_all_zero_annotation_is_detected(copy_path: Path) -> None:
    os.remove(chunk_file(copy_path, "val", "object_subtype", 1))
    split = open_store(copy_path).version()["val"]
    assert not split.annotations.object_subtype[:48].any()  # all zero, yet present: fine
    with pytest.raises(CorruptChunkError, match=r"object_subtype/c/1/0' .* is missing"):
        split.annotations.object_subtype[50]


@pytest.mark.parametrize("offset", [0, 40, -1, -4])
def test_flipped_byte_raises_corrupt_chunk_error(copy_path: Path, offset: int) -> None:
    path = chunk_file(copy_path, "train", "instance_map", 10)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    split = open_store(copy_path).version()["train"]
    message = (
        f"chunk '{LATEST}/train/instance_map/c/10/0/0' of store '{copy_path}' failed its "
        f"crc32c check; run 'gridstore validate --full' and regenerate {LATEST}"
    )
    for read in (
        lambda: split.annotations.instance_map[-1],
        lambda: list(split.batches(64, fields=["images", "instance_map"])),
    ):
        with pytest.raises(CorruptChunkError) as info:
            read()
        assert str(info.value) == message
        assert isinstance(info.value, ChunkChecksumError)  # typed, not told by its text


def reading_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("gridstore-read")}


def test_batches_stop_their_reading_threads_when_closed_or_dropped(store_path: Path) -> None:
    split = open_store(store_path).version()["train"]
    before = reading_threads()
    batches = split.batches(64, window_chunks=2)
    next(batches)
    assert reading_threads() - before  # the next window is being read ahead
    batches.close()
    assert reading_threads() == before
    batches = split.batches(64, window_chunks=2)
    next(batches)
    del batches  # dropped mid-epoch: its finaliser stops the threads
    assert reading_threads() == before


def test_read_error_in_a_later_window_comes_after_the_batches_before_it(copy_path: Path) -> None:
    os.remove(chunk_file(copy_path, "train", "images", 3))
    split = open_store(copy_path).version()["train"]
    windows = _windows(split._source, True, 4, 0, 0, 1, 2)
    where = next(w for w, chunks in enumerate(windows) if 3 in chunks)
    before = sum(split._source.rows(w) for w in windows[:where])
    threads, batches = reading_threads(), split.batches(96, seed=4, window_chunks=2)
    for _ in range(before // 96):  # the batches before that window come first, whole
        assert len(next(batches)) == 96
    with pytest.raises(CorruptChunkError, match=r"images/c/3/0/0' .* is missing"):
        next(batches)  # read by a thread, raised here when its window is reached
    assert reading_threads() == threads  # the error ended the iterator and its threads


def test_read_chunk_of_another_encoding_goes_through_zarr(tmp_path: Path) -> None:
    arr = zarr.create_array(  # zarr's default codecs (zstd), not gridstore's blosc
        os.fspath(tmp_path / "a"), shape=(10, 3), chunks=(4, 3), dtype="uint16", fill_value=0
    )
    arr[:] = np.arange(1, 31, dtype=np.uint16).reshape(10, 3)
    out = np.zeros((5, 3), np.uint16)
    last = read_chunk(arr, 2, field="object_size", store=os.fspath(tmp_path), out=out)
    np.testing.assert_array_equal(last, arr[8:])
    assert np.shares_memory(last, out)
    np.testing.assert_array_equal(read_chunk(arr, 1, field="object_size", store="s"), arr[4:8])


def test_all_zero_image_in_a_present_chunk_is_an_error(tmp_path: Path) -> None:
    data = make_split(20, seed=3)
    data["images"][13] = 0
    write_version(tmp_path / "s", "2026-02-01-v1", {"train": data}, {"train": 8})
    split = open_store(tmp_path / "s").version()["train"]
    np.testing.assert_array_equal(split.images[:8], data["images"][:8])
    with pytest.raises(CorruptChunkError) as info:
        split.images[12]
    assert str(info.value) == (
        f"chunk '2026-02-01-v1/train/images/c/1/0/0' of store '{tmp_path / 's'}' has an "
        "all-zero row at offset 5, which a valid version never has; run 'gridstore validate "
        "--full'"
    )


def sorted_rows(arrays: dict[str, np.ndarray]) -> list[bytes]:
    """Each row's bytes over all arrays, sorted: equal lists mean equal multisets of rows."""
    n = len(arrays["images"])
    flat = [a.reshape(n, -1).view(np.uint8) for a in arrays.values()]
    return sorted(r.tobytes() for r in np.concatenate(flat, axis=1))


def test_reads_a_version_written_by_gridstore_generate(tmp_path: Path) -> None:
    from gridstore.cli import main

    path = tmp_path / "datasets"
    main(
        [
            "generate",
            "--store",
            str(path),
            "--num-images",
            "3000",
            "--engine",
            "serial",
            "--yes",
            "--quiet",
        ],
        standalone_mode=False,
    )
    version = open_store(path).version()
    assert version.metadata["state"] == "complete"
    for name in version.splits:
        split = version[name]
        group = zarr.open_group(os.fspath(path / version.name / name), mode="r")
        want = {f: group[f][:] for f in split.fields}
        got = list(split.batches(128, seed=2, fields=split.fields, window_chunks=1))

        merged = {f: np.concatenate([b[f] for b in got]) for f in split.fields}
        assert sorted_rows(merged) == sorted_rows(want), name
        np.testing.assert_array_equal(split.images[::-3], want["images"][::-3])


def test_torch_iterable_set_epoch_changes_the_order(store_path: Path) -> None:
    dataset = open_store(store_path).version()["test"].torch_iterable(10, seed=1)
    first = torch.cat(list(dataset))
    dataset.set_epoch(1)
    second = torch.cat(list(dataset))
    assert not torch.equal(first, second)
    assert sorted(first.reshape(77, -1).tolist()) == sorted(second.reshape(77, -1).tolist())


def test_readers_pickle_without_open_zarr_objects(store_path: Path, source: dict) -> None:
    split = open_store(store_path).version()["val"]
    split.images[3]
    clone = pickle.loads(pickle.dumps(split))
    assert clone._source._handles is None
    np.testing.assert_array_equal(clone.images[[5, 1]], source["val"]["images"][[5, 1]])
    lazy = pickle.loads(pickle.dumps(split.annotations.num_objects))
    assert lazy[7] == source["val"]["num_objects"][7]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_torch_iterable_with_two_workers_reads_every_row_once(
    store_path: Path, source: dict, context: str
) -> None:
    split = open_store(store_path).version()["train"]
    dataset = split.torch_iterable(64, seed=1, epoch=3, fields=("images", "num_objects"))
    loader = DataLoader(
        dataset, batch_size=None, num_workers=2, timeout=60, multiprocessing_context=context
    )
    batches = list(loader)
    images = torch.cat([b["images"] for b in batches]).numpy()
    ids = row_ids(images, source["train"]["images"])
    assert sorted(ids.tolist()) == list(range(1000))
    np.testing.assert_array_equal(
        torch.cat([b["num_objects"] for b in batches]).numpy(), source["train"]["num_objects"][ids]
    )


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_torch_dataset_with_two_workers_reads_every_row_once(
    store_path: Path, source: dict, context: str
) -> None:
    split = open_store(store_path).version()["val"]
    dataset = split.torch_dataset()
    assert len(dataset) == 130
    torch.testing.assert_close(dataset[-1], torch.from_numpy(source["val"]["images"][-1]))
    loader = DataLoader(
        dataset,
        batch_size=32,
        shuffle=True,
        num_workers=2,
        timeout=60,
        multiprocessing_context=context,
    )
    images = torch.cat(list(loader)).numpy()
    assert sorted(row_ids(images, source["val"]["images"]).tolist()) == list(range(130))
    items = split.torch_dataset(fields=["images", "object_bbox"])
    item = items[77]
    torch.testing.assert_close(
        item["object_bbox"], torch.from_numpy(source["val"]["object_bbox"][77])
    )
