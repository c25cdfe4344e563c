"""The seed's Python API, as its users call it: ``import gridstore`` and nothing else.

The seed's workflow (estimate, generate with dtype and progress, split, save,
metadata, validate) end to end; ``validate_dataset`` on every kind of bad
input and source; ``check_constraints`` without annotations.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gridstore

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, Any]:
    return gridstore.generate_corpus(1000, seed=42, show_progress=False)


# -- the seed's workflow -------------------------------------------------------------


def test_seed_workflow_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memory = gridstore.estimate_memory(1000)
    assert memory["bytes"] == 1000 * 16 * 16
    assert memory["bytes_per_image"] == 256
    assert memory["num_images"] == 1000

    images, annotations = gridstore.generate_corpus(
        1000, seed=42, dtype=np.uint8, show_progress=True
    )
    assert "generate" in capsys.readouterr().err  # the tqdm bar, on stderr
    assert images.shape == (1000, 16, 16)
    assert images.dtype == np.uint8
    assert images.nbytes == memory["bytes"]

    splits = gridstore.split_corpus(images, annotations)
    assert list(splits) == list(SPLITS)
    assert sum(len(x) for x, _ in splits.values()) == 1000
    seen = [{x.tobytes() for x in part} for part, _ in splits.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])  # no leaks

    out = tmp_path / "datasets" / "2025-10-22-v1"
    for split, (part, ann) in splits.items():
        path = gridstore.save_corpus(out / split, part, ann)
        assert path == out / f"{split}.npz"
        loaded, loaded_ann = gridstore.load_corpus(path)
        np.testing.assert_array_equal(loaded, part)
        assert loaded.dtype == np.uint8
        assert loaded_ann is not None
        np.testing.assert_array_equal(loaded_ann.num_objects, ann.num_objects)
        assert gridstore.validate_dataset(part).ok
        is_valid, message = gridstore.validate_dataset(path)  # the seed's call and tuple
        assert is_valid, message
        assert "valid" in message

    sizes = {s: part for s, (part, _) in splits.items()}
    meta = gridstore.create_metadata("2025-10-22-v1", sizes, seed=42)
    meta_path = gridstore.save_metadata(meta, out)
    assert meta_path == out / "metadata.json"
    saved = json.loads(meta_path.read_text())
    assert list(saved)[:6] == [
        "version",
        "timestamp",
        "generation_params",
        "dataset_info",
        "memory_info",
        "file_format",
    ]
    assert saved["version"] == "2025-10-22-v1"
    dt.datetime.fromisoformat(saved["timestamp"])
    assert saved["generation_params"] == {
        "num_images": 1000,
        "seed": 42,
        "grid_size": 16,
        "splits": {"train": 0.8, "val": 0.1, "test": 0.1},
    }
    counts = {f"{s}_count": len(sizes[s]) for s in SPLITS}
    assert saved["dataset_info"] == counts | {"total_count": 1000}
    assert saved["memory_info"]["bytes"] == memory["bytes"]
    assert saved["memory_info"]["bytes_per_image"] == 256
    assert saved["memory_info"]["readable"] == memory["readable"]
    assert saved["file_format"]["dtype"] == "uint8"
    assert "npz" in saved["file_format"]["compression"]
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json",
        "test.npz",
        "train.npz",
        "val.npz",
    ]

    assert gridstore.check_constraints(images, annotations).ok
    assert gridstore.check_constraints(images, None).ok


def test_generate_corpus_dtype_and_quiet_progress(
    corpus: tuple[np.ndarray, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    images, _ = corpus
    wide, _ = gridstore.generate_corpus(50, seed=42, dtype=np.int64, show_progress=False)
    assert capsys.readouterr().err == ""
    assert wide.dtype == np.int64
    np.testing.assert_array_equal(wide, images[:50])  # same colours, another type
    report = gridstore.validate_dataset(wide)
    assert set(report.problems) == {"dtype"}  # gridstore's datasets are uint8
    assert gridstore.validate_dataset(wide, dtype=None).ok  # the seed only recommended it


def test_public_api_lists_the_seed_names() -> None:
    for name in ("validate_dataset", "DatasetReport", "check_constraints", "estimate_memory"):
        assert name in gridstore.__all__
        assert name in dir(gridstore)
        assert callable(getattr(gridstore, name))


# -- validate_dataset: each kind of bad input --------------------------------------


def _valid(n: int = 4) -> np.ndarray:
    images = np.zeros((n, 16, 16), np.uint8)
    images[:, 3, 4:8] = 5
    return images


def _with(value: Any, dtype: Any, at: int = 2) -> np.ndarray:
    images = _valid().astype(dtype)
    images[at, 0, 0] = value
    return images


BAD_INPUTS = [
    # (images, options, problems expected, images with bad values)
    (_valid()[:, :8, :8], {}, {"shape"}, []),
    (_valid()[0], {}, {"shape"}, []),
    (_valid()[..., None], {}, {"shape"}, []),
    (_valid(), {"grid_size": 8}, {"shape"}, []),
    (_valid().astype(np.int64), {}, {"dtype"}, []),
    (_valid().astype(np.float32), {}, {"dtype"}, []),
    (_valid().astype(bool), {"dtype": None}, {"dtype"}, []),
    (_with(10, np.uint8), {}, {"values"}, [2]),
    (_with(255, np.uint8, at=0), {}, {"values"}, [0]),
    (_with(-1, np.int16), {"dtype": None}, {"values"}, [2]),
    (_with(2.5, np.float64), {"dtype": None}, {"values"}, [2]),
    (_with(np.nan, np.float32), {"dtype": None}, {"values"}, [2]),
    (_with(np.inf, np.float32), {"dtype": None}, {"values"}, [2]),
    (_with(12, np.int64), {}, {"dtype", "values"}, [2]),
    (_valid()[:, :8, :8].astype(np.int32) + 10, {}, {"shape", "dtype", "values"}, [0, 1, 2, 3]),
    ([[1, 2], [3]], {}, {"shape"}, []),
]
BAD_IDS = [
    "8x8 grids",
    "one image without N",
    "4-d",
    "grid_size 8",
    "int64",
    "float32",
    "bool",
    "value 10",
    "value 255",
    "negative",
    "fraction",
    "NaN",
    "inf",
    "int64 and 12",
    "everything wrong",
    "ragged list",
]


@pytest.mark.parametrize(("images", "options", "problems", "bad"), BAD_INPUTS, ids=BAD_IDS)
def test_validate_dataset_names_each_problem(
    images: Any, options: dict[str, Any], problems: set[str], bad: list[int]
) -> None:
    report = gridstore.validate_dataset(images, **options)
    assert not report.ok
    assert set(report.problems) == problems
    assert report.bad_images.tolist() == bad
    assert report.num_bad_images == len(bad)
    text = str(report)
    assert text.startswith("dataset invalid")
    assert "\n" not in text
    for check in problems:
        assert f"{check}: " in text
    is_valid, message = report  # the seed's (is_valid, message)
    assert (is_valid, message) == (False, text)


def test_validate_dataset_accepts_valid_data(corpus: tuple[np.ndarray, Any]) -> None:
    images, _ = corpus
    report = gridstore.validate_dataset(images)
    assert report.ok, report
    assert report.problems == {}
    assert (report.checked, report.shape, report.dtype) == (1000, (1000, 16, 16), "uint8")
    assert (report.value_min, report.value_max) == (int(images.min()), int(images.max()))
    assert str(report) == "dataset valid: 1000 images, shape (1000, 16, 16), uint8, values 0..9"
    assert gridstore.validate_dataset(np.zeros((0, 16, 16), np.uint8)).ok  # an empty split
    assert gridstore.validate_dataset(images[:3].tolist(), dtype=None).ok  # nested lists
    small, _ = gridstore.generate_corpus(5, seed=0, show_progress=False, grid_size=8, max_size=8)
    assert gridstore.validate_dataset(small, grid_size=8).ok


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"grid_size": 0}, "grid_size must be an integer >= 1, got 0"),
        ({"dtype": "no-such-type"}, "dtype must be a numpy dtype"),
    ],
    ids=["grid_size 0", "bad dtype"],
)
def test_validate_dataset_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(gridstore.ConfigError, match=message):
        gridstore.validate_dataset(_valid(), **options)


def test_validate_dataset_caps_the_indices_it_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gridstore.validate.dataset.MAX_BAD_INDICES", 10)
    images = np.full((25, 16, 16), 10, np.uint8)
    report = gridstore.validate_dataset(images)
    assert report.num_bad_images == 25
    assert report.bad_images.tolist() == list(range(10))
    assert "25 images have pixels outside 0..9" in report.problems["values"]


# -- validate_dataset: large and lazy sources, in bounded memory -------------------


class _SpyArray:
    """An array that records the rows of every read, as a memmap or a lazy array is read."""

    def __init__(self, array: np.ndarray, chunk_images: int | None = None) -> None:
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        if chunk_images:
            self.chunk_images = chunk_images
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(len(self.array))
        self.reads.append((start, stop))
        return self.array[key]


@pytest.mark.parametrize("chunk_images", [None, 30], ids=["numpy", "chunked"])
def test_validate_dataset_reads_in_bounded_blocks(
    monkeypatch: pytest.MonkeyPatch, chunk_images: int | None
) -> None:
    monkeypatch.setattr("gridstore.validate.dataset.BLOCK_BYTES", 64 * 256)  # 64 images a block
    images = _valid(1000)
    images[[17, 999], 5, 5] = 10
    spy = _SpyArray(images, chunk_images)
    report = gridstore.validate_dataset(spy)
    assert report.bad_images.tolist() == [17, 999]
    assert report.checked == 1000
    rows = [stop - start for start, stop in spy.reads]
    assert max(rows) == (60 if chunk_images else 64)  # whole chunks when chunked
    assert sum(rows) == 1000  # every image read once
    assert [start for start, _ in spy.reads] == list(np.cumsum([0, *rows[:-1]]))


def test_validate_dataset_on_a_memmap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gridstore.validate.dataset.BLOCK_BYTES", 1000 * 256)
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(20_000, 16, 16))
    mm[:, 0, :2] = 3
    mm[19_999, 15, 15] = 11
    mm.flush()
    del mm
    report = gridstore.validate_dataset(np.load(path, mmap_mode="r"))
    assert set(report.problems) == {"values"}
    assert report.bad_images.tolist() == [19_999]
    assert (report.value_min, report.value_max) == (0, 11)
    again = gridstore.validate_dataset(path)  # the .npy file itself, streamed
    assert again.problems == report.problems


def test_validate_dataset_on_a_lazy_store_array(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    meta = gridstore.create_version(
        store, gridstore.Plan(num_images=3000, seed=1), workers=1, show_progress=False
    )
    version = gridstore.open_store(store).version(meta["version"])
    for split in SPLITS:
        report = gridstore.validate_dataset(version[split].images)
        assert report.ok, report
        assert report.checked == len(version[split])

    chunk = next(p for p in sorted((store / meta["version"] / "train" / "images").rglob("*"))
                 if p.is_file() and p.name != "zarr.json")  # fmt: skip
    chunk.write_bytes(b"\x00" * 64)  # damaged: the checksum fails
    report = gridstore.validate_dataset(gridstore.open_store(store).version()["train"].images)
    assert set(report.problems) == {"readable"}
    assert "could not be read" in report.problems["readable"]


def test_validate_dataset_on_files(tmp_path: Path, corpus: tuple[np.ndarray, Any]) -> None:
    images, _ = corpus
    bad = images.copy()
    bad[7, 1, 1] = 10
    np.savez_compressed(tmp_path / "bad.npz", images=bad, num_objects=np.ones(1000))
    report = gridstore.validate_dataset(tmp_path / "bad.npz")
    assert set(report.problems) == {"values"}
    assert report.bad_images.tolist() == [7]

    np.savez_compressed(tmp_path / "one.npz", grids=images)  # one array: read as the images
    assert gridstore.validate_dataset(str(tmp_path / "one.npz")).ok

    np.savez_compressed(tmp_path / "two.npz", a=images, b=images)
    report = gridstore.validate_dataset(tmp_path / "two.npz")
    assert set(report.problems) == {"readable"}
    assert "no 'images' array (arrays: a, b)" in report.problems["readable"]

    (tmp_path / "junk.npz").write_bytes(b"not an array at all")
    assert set(gridstore.validate_dataset(tmp_path / "junk.npz").problems) == {"readable"}

    gridstore.save_corpus(tmp_path / "good.npz", images)
    good = (tmp_path / "good.npz").read_bytes()
    for at, says in ((100, "not a readable"), (len(good) // 2, "could not be read")):
        data = bytearray(good)
        data[at : at + 60] = bytes(60)  # the .npy header, then the pixels: zlib or CRC fails
        (tmp_path / "damaged.npz").write_bytes(bytes(data))
        report = gridstore.validate_dataset(tmp_path / "damaged.npz")
        assert set(report.problems) == {"readable"}, report
        assert says in report.problems["readable"]

    with pytest.raises(gridstore.StoreNotFoundError, match="does not exist"):
        gridstore.validate_dataset(tmp_path / "missing.npz")


# -- check_constraints without annotations -----------------------------------------


@pytest.mark.parametrize("preset", ["atomic", "shapes"])
def test_check_constraints_without_annotations_passes_generated_images(preset: str) -> None:
    images, _ = gridstore.generate_corpus(20_000, seed=3, show_progress=False, preset=preset)
    report = gridstore.check_constraints(images, None, gridstore.make_config(preset))
    assert report.ok, report.summary()
    assert report.rules == ("value_range", "object_count", "object_size")
    assert report.summary() == "all 3 rules hold for 20000 images (images only, no annotations)"


def _image(*cells: tuple[int, int, int, int, int]) -> np.ndarray:
    """One 16x16 image with a filled box (colour, row, col, height, width) per argument."""
    image = np.zeros((16, 16), np.uint8)
    for colour, r, c, h, w in cells:
        image[r : r + h, c : c + w] = colour
    return image


IMAGES_ALONE = [
    # (image, config overrides, rules broken: empty when the image is possible)
    (_image((3, 0, 0, 1, 5)), {}, set()),
    (_image((3, 0, 0, 2, 15)), {}, set()),  # two touching objects of one colour: 30 cells
    (_image((3, 0, 0, 4, 15)), {}, set()),  # four of them: 60 cells
    (_image((1, 0, 0, 1, 15), (2, 2, 0, 1, 15), (3, 4, 0, 1, 15), (4, 6, 0, 1, 15)), {}, set()),
    (np.eye(16, dtype=np.uint8)[:, ::-1] * 7, {}, set()),  # an anti-diagonal: not 4-connected
    (_image((3, 0, 0, 3, 3)), {"min_size": 7, "max_size": 9}, set()),
    (_image((3, 0, 0, 2, 8)), {"min_size": 7, "max_size": 9}, set()),  # 16 = 7 + 9
    (_image(), {}, {"object_count"}),
    (_image((3, 0, 0, 1, 5), (9, 8, 8, 1, 1)), {}, {"object_size"}),  # a stray pixel
    (_image((3, 0, 0, 1, 5), (10, 8, 8, 1, 1)), {}, {"value_range"}),
    (_image((3, 0, 0, 4, 15), (3, 4, 0, 1, 1)), {}, {"object_count"}),  # 61 cells: 5 objects
    (_image(*((c, 2 * c, 0, 1, 2) for c in range(1, 6))), {}, {"object_count"}),  # 5 colours
    (_image((3, 0, 0, 1, 11)), {"min_size": 7, "max_size": 9}, {"object_size"}),  # 9 < 11 < 14
    (_image((3, 0, 0, 1, 1)), {"min_size": 2}, {"object_size"}),
]
IMAGES_ALONE_IDS = [
    "one line",
    "two touching same-colour objects",
    "four same-colour objects",
    "four colours of max size",
    "anti-diagonal line",
    "9 cells, sizes 7..9",
    "16 cells, sizes 7..9",
    "empty",
    "stray pixel of a new colour",
    "value 10",
    "61 cells of one colour",
    "five colours",
    "11 cells, sizes 7..9",
    "one cell",
]


@pytest.mark.parametrize(("image", "overrides", "rules"), IMAGES_ALONE, ids=IMAGES_ALONE_IDS)
def test_check_constraints_without_annotations_rules(
    image: np.ndarray, overrides: dict[str, int], rules: set[str]
) -> None:
    # Between two images of 8 cells, possible under every config here.
    images = np.stack([_image((2, 5, 5, 2, 4)), image, _image((4, 9, 0, 1, 8))])
    config = gridstore.make_config("atomic", **overrides)
    report = gridstore.check_constraints(images, None, config)
    assert set(report.violations) == rules
    for idx in report.violations.values():
        assert idx.tolist() == [1]
    assert report.ok == (not rules)


def test_check_constraints_without_annotations_finds_a_damaged_image(
    corpus: tuple[np.ndarray, Any],
) -> None:
    images = corpus[0].copy()
    missing = sorted(set(range(1, 10)) - set(np.unique(images[7]).tolist()))[0]
    row, col = np.argwhere(images[7] == 0)[0]
    images[7, row, col] = missing  # one pixel of a colour the image does not have
    images[300:307] = 0  # seven empty images: the summary names the first five
    report = gridstore.check_constraints(images, None)
    assert {k: v.tolist() for k, v in report.violations.items()} == {
        "object_count": list(range(300, 307)),
        "object_size": [7],
    }
    assert report.summary() == (
        "object_count: 7 images (e.g. 300, 301, 302, 303, 304); object_size: 1 images (e.g. 7)"
    )


def test_check_constraints_without_annotations_still_checks_the_shape() -> None:
    with pytest.raises(ValueError, match=r"images must be uint8 of shape \(n, 16, 16\)"):
        gridstore.check_constraints(np.zeros((2, 8, 8), np.uint8), None)
