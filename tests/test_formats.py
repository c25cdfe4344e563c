"""gridstore.formats: the seed's metadata.json and npz files, and export of a real version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gridstore.corpus import generate_corpus
from gridstore.errors import (
    ConfigError,
    CorruptChunkError,
    GridstoreError,
    StoreNotFoundError,
    VersionNotFoundError,
)
from gridstore.formats import (
    create_metadata,
    export_version,
    load_corpus,
    save_corpus,
    save_metadata,
)
from gridstore.generate.vocab import Annotations
from gridstore.metadata import SEED_KEYS
from gridstore.plan import SPLITS, Plan
from gridstore.read import open_store
from gridstore.write.versions import create_version

EXPORT_FILES = ["metadata.json", "test.npz", "train.npz", "val.npz"]


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, Annotations]:
    return generate_corpus(64, seed=0, show_progress=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("legacy") / "store"
    meta = create_version(path, Plan(num_images=3000, seed=1), workers=1, show_progress=False)
    return path, meta["version"]


def assert_annotations_equal(a: Annotations | None, b: Annotations | None) -> None:
    assert a is not None
    assert b is not None
    for name in Annotations.names():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# -- metadata ----------------------------------------------------------------------


def test_create_metadata_has_the_seed_fields_in_order() -> None:
    meta = create_metadata(
        "2026-11-24-v1",
        {"train": 800, "val": 100, "test": 100},
        seed=42,
        timestamp="2026-11-24T10:00:00+00:00",
        extra={"note": "x"},
    )
    assert list(meta) == [*SEED_KEYS, "note"]
    assert meta["version"] == "2026-11-24-v1"
    assert meta["timestamp"] == "2026-11-24T10:00:00+00:00"
    assert meta["generation_params"] == {
        "num_images": 1000,
        "seed": 42,
        "grid_size": 16,
        "splits": {"train": 0.8, "val": 0.1, "test": 0.1},
    }
    assert meta["dataset_info"] == {
        "train_count": 800,
        "val_count": 100,
        "test_count": 100,
        "total_count": 1000,
    }
    assert meta["memory_info"]["bytes"] == 256_000
    assert meta["file_format"] == {"dtype": "uint8", "compression": "npz (zlib)"}


def test_create_metadata_takes_arrays_and_a_default_timestamp(corpus: tuple) -> None:
    images, _ = corpus
    meta = create_metadata("v1", {"train": images, "val": images[:4]}, seed=0, grid_size=16)
    assert meta["dataset_info"] == {
        "train_count": 64,
        "val_count": 4,
        "test_count": 0,
        "total_count": 68,
    }
    assert meta["timestamp"].startswith("20")
    assert "T" in meta["timestamp"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"split_sizes": {"training": 5}},
            "unknown split 'training' in split_sizes; expected train, val and test",
        ),
        (
            {"split_sizes": {"train": -1}},
            "size of split 'train' must be an integer >= 0 or an array, got -1",
        ),
        (
            {"splits": (0.5, 0.5, 0.5)},
            "splits must be >= 0 and sum to 1, got '0.5,0.5,0.5' (sum 1.5)",
        ),
        (
            {"extra": {"version": "v9"}},
            "extra key 'version' would replace a seed field; pass it as an argument instead",
        ),
    ],
    ids=["split-name", "negative", "fractions", "clash"],
)
def test_create_metadata_rejects_bad_input(kwargs: dict, message: str) -> None:
    args = {"split_sizes": {"train": 8}} | kwargs
    with pytest.raises(ConfigError) as info:
        create_metadata("v1", seed=0, **args)
    assert str(info.value) == message


def test_save_metadata_writes_ordered_json_atomically(tmp_path: Path) -> None:
    meta = create_metadata("v1", {"train": np.int64(8)}, seed=np.int64(3), extra={"n": np.int32(2)})
    path = save_metadata(meta, tmp_path / "new" / "dir")
    assert path == tmp_path / "new" / "dir" / "metadata.json"
    text = path.read_text()
    assert list(json.loads(text)) == [*SEED_KEYS, "n"]
    assert json.loads(text)["generation_params"]["seed"] == 3
    assert siblings(path) == ["metadata.json"]  # no temp file left


# -- save_corpus / load_corpus ---------------------------------------------------


def test_save_load_round_trip_with_annotations(tmp_path: Path, corpus: tuple) -> None:
    images, ann = corpus
    path = save_corpus(tmp_path / "sub" / "train.npz", images, ann)
    assert path == tmp_path / "sub" / "train.npz"
    assert siblings(path) == ["train.npz"]
    loaded, loaded_ann = load_corpus(path)
    assert loaded.dtype == np.uint8
    assert loaded.tobytes() == images.tobytes()
    assert_annotations_equal(loaded_ann, ann)
    with np.load(path) as npz:  # a plain npz that older tools read
        assert sorted(npz.files) == sorted(["images", *Annotations.names()])


def test_save_load_round_trip_without_annotations(tmp_path: Path, corpus: tuple) -> None:
    images, _ = corpus
    path = save_corpus(tmp_path / "val", images)
    assert path.name == "val.npz"  # the suffix is added, as numpy does
    loaded, loaded_ann = load_corpus(path)
    assert loaded.tobytes() == images.tobytes()
    assert loaded_ann is None


def test_save_corpus_stores_other_dtypes_as_uint8(tmp_path: Path, corpus: tuple) -> None:
    images, _ = corpus
    path = save_corpus(tmp_path / "f.npz", images.astype(np.float32))
    loaded, _ = load_corpus(path)
    assert loaded.dtype == np.uint8
    assert loaded.tobytes() == images.tobytes()


def test_save_corpus_replaces_a_file_whole(tmp_path: Path, corpus: tuple) -> None:
    images, ann = corpus
    path = save_corpus(tmp_path / "c.npz", images, ann)
    save_corpus(path, images[:3])
    loaded, loaded_ann = load_corpus(path)
    assert len(loaded) == 3
    assert loaded_ann is None


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.full((2, 4, 4), 2.5), "pixel values must be whole numbers 0..9, found 2.5"),
        (np.full((2, 4, 4), 12, np.int64), "pixel values must be whole numbers 0..9, found 12"),
        (np.full((2, 4, 4), 10, np.uint8), "pixel values must be 0..9, found 10"),
        (np.zeros((2, 4, 5), np.uint8), "images must have shape (n, G, G), got (2, 4, 5)"),
    ],
    ids=["fraction", "int-too-big", "uint8-too-big", "not-square"],
)
def test_save_corpus_rejects_bad_images(tmp_path: Path, images: np.ndarray, message: str) -> None:
    path = tmp_path / "bad.npz"
    with pytest.raises(ConfigError) as info:
        save_corpus(path, images)
    assert str(info.value) == f"cannot save '{path}': {message}"
    assert list(tmp_path.iterdir()) == []


def test_save_corpus_rejects_annotations_of_another_length(tmp_path: Path, corpus: tuple) -> None:
    images, ann = corpus
    with pytest.raises(ConfigError, match="annotations have 64 rows but images 10"):
        save_corpus(tmp_path / "x.npz", images[:10], ann)


def test_load_corpus_reads_a_single_unnamed_array(tmp_path: Path, corpus: tuple) -> None:
    images, _ = corpus
    np.savez_compressed(tmp_path / "old.npz", images)  # stored as 'arr_0'
    loaded, ann = load_corpus(tmp_path / "old.npz")
    assert loaded.tobytes() == images.tobytes()
    assert ann is None


def _bad_files(corpus: tuple) -> dict[str, tuple[dict[str, np.ndarray] | bytes, str]]:
    images, ann = corpus
    partial = {"images": images, "num_objects": ann.num_objects}
    short = {"images": images, **ann.as_dict()} | {"object_size": ann.object_size[:3]}
    return {
        "not-npz": (b"this is not a zip file", "is not a readable .npz file"),
        "shape": (
            {"images": images[:, :, :15]},
            "images must have shape (n, G, G), got (64, 16, 15)",
        ),
        "dtype": ({"images": images.astype(np.int64)}, "images must be uint8, got int64"),
        "values": ({"images": images + 10}, "pixel values must be 0..9, found 19"),
        "no-images": ({"a": images, "b": images}, "has no 'images' array (arrays: a, b)"),
        "partial-annotations": (partial, "has annotations but not object_type, object_subtype"),
        "short-annotation": (short, "annotation 'object_size' has shape (3, 4), expected 64 rows"),
    }


@pytest.mark.parametrize(
    "case",
    ["not-npz", "shape", "dtype", "values", "no-images", "partial-annotations", "short-annotation"],
)
def test_load_corpus_rejects_bad_files(tmp_path: Path, corpus: tuple, case: str) -> None:
    content, message = _bad_files(corpus)[case]
    path = tmp_path / f"{case}.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.savez(path, **content)
    with pytest.raises(ConfigError) as info:
        load_corpus(path)
    text = str(info.value)
    assert f"corpus file '{path}'" in text
    assert message in text
    assert "\n" not in text


def test_load_corpus_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError) as info:
        load_corpus(tmp_path / "nope.npz")
    assert (
        str(info.value) == f"corpus file '{tmp_path / 'nope.npz'}' does not exist; check the path"
    )
    with pytest.raises(StoreNotFoundError, match="is a directory"):
        load_corpus(tmp_path)


# -- export_version ----------------------------------------------------------------


def test_export_round_trips_pixel_identical(store: tuple[Path, str], tmp_path: Path) -> None:
    path, name = store
    out = export_version(path, name, tmp_path / "export")
    assert out == tmp_path / "export"
    assert sorted(p.name for p in out.iterdir()) == EXPORT_FILES
    assert siblings(out) == ["export"]  # no temp directory left beside it
    version = open_store(path).version(name)
    for s in SPLITS:
        split = version[s]
        images, ann = load_corpus(out / f"{s}.npz")
        assert len(images) == len(split) > 0
        assert images.tobytes() == split.images[:].tobytes()
        assert ann is not None
        for field in Annotations.names():
            stored = split.annotation(field)[:]
            got = getattr(ann, field)
            assert got.dtype == stored.dtype, field
            assert got.tobytes() == stored.tobytes(), field


def test_export_metadata_has_the_seed_fields(store: tuple[Path, str], tmp_path: Path) -> None:
    path, name = store
    out = export_version(path, None, tmp_path / "latest")  # None: the latest version
    meta = json.loads((out / "metadata.json").read_text())
    assert list(meta)[: len(SEED_KEYS) + 1] == [*SEED_KEYS, "source"]
    stored = open_store(path).version(name).metadata
    assert meta["version"] == name
    assert meta["timestamp"] == stored["timestamp"]
    params = meta["generation_params"]
    assert {k: params[k] for k in ("num_images", "seed", "grid_size")} == {
        "num_images": 3000,
        "seed": 1,
        "grid_size": 16,
    }
    assert params["splits"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert meta["dataset_info"] == {
        "train_count": 2400,
        "val_count": 300,
        "test_count": 300,
        "total_count": 3000,
    }
    assert meta["memory_info"]["bytes"] == 3000 * 256
    assert meta["file_format"]["dtype"] == "uint8"
    assert meta["file_format"]["compression"] == "npz (zlib)"
    assert meta["file_format"]["files"]["val.npz"]["images"] == 300
    assert meta["source"]["store"] == str(path)
    assert meta["source"]["version"] == name
    assert meta["source"]["gridstore_version"] == stored["gridstore_version"]
    assert meta["source"]["file_format"]["format"] == "zarr"
    assert "state" not in meta
    assert meta["statistics"] == stored["statistics"]


def test_export_refuses_a_non_empty_directory(store: tuple[Path, str], tmp_path: Path) -> None:
    path, name = store
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(GridstoreError) as info:
        export_version(path, name, out)
    assert str(info.value) == (
        f"export directory '{out}' is not empty; "
        "choose another, or pass overwrite=True (--overwrite) to replace it"
    )
    with pytest.raises(GridstoreError) as info:  # overwrite never removes foreign files
        export_version(path, name, out, overwrite=True)
    assert str(info.value) == (
        f"export directory '{out}' is not a gridstore export ('notes.txt'); "
        "not replacing it, choose another directory"
    )
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert siblings(out) == ["out"]


def test_export_into_an_empty_directory_and_overwrite(
    store: tuple[Path, str], tmp_path: Path
) -> None:
    path, name = store
    out = tmp_path / "out"
    out.mkdir()
    export_version(path, name, out)  # an empty directory is fine
    (out / "val.npz").write_bytes(b"damaged")
    with pytest.raises(GridstoreError, match="is not empty"):
        export_version(path, name, out)
    export_version(path, name, out, overwrite=True)
    images, _ = load_corpus(out / "val.npz")
    assert len(images) == 300
    assert siblings(out) == ["out"]


def test_export_errors_leave_nothing_behind(store: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = store
    with pytest.raises(VersionNotFoundError, match="version '2000-01-01-v1' not found"):
        export_version(path, "2000-01-01-v1", tmp_path / "out")
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        export_version(tmp_path / "no-store", None, tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GridstoreError, match="is a file; choose a directory"):
        export_version(path, None, tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_export_of_a_corrupt_chunk_fails_whole(store: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    path, name = store
    damaged = Path(shutil.copytree(path, tmp_path / "store"))
    chunk = damaged / name / "val" / "images" / "c.0.0.0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(CorruptChunkError):
        export_version(damaged, name, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
