"""gridstore.corpus: in-memory generation (same bytes as the kernel stream) and splits."""

from __future__ import annotations

import numpy as np
import pytest

import gridstore.corpus as corpus_mod
from gridstore.config import make_config
from gridstore.corpus import generate_corpus, split_corpus, split_counts, split_indices
from gridstore.errors import ConfigError
from gridstore.generate.batch import generate_images
from gridstore.generate.hashing import content_hashes
from gridstore.generate.vocab import Annotations
from gridstore.plan import SPLITS

# A tiny distribution with few distinct images: one 2-cell rectangle or line on a
# 4x4 grid (blobs and patterns off), so a 2000-image corpus is full of duplicates.
DUPLICATE_HEAVY = {
    "grid_size": 4,
    "max_objects": 1,
    "min_size": 2,
    "max_size": 2,
    "type_weights": {"blob": 0, "rectangle": 1, "line": 1, "pattern": 0},
}


def assert_annotations_equal(a: Annotations, b: Annotations) -> None:
    for name in Annotations.names():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.fixture(scope="module")
def duplicates() -> tuple[np.ndarray, Annotations]:
    return generate_corpus(2000, seed=3, show_progress=False, **DUPLICATE_HEAVY)


# -- generate_corpus -------------------------------------------------------------


def test_generate_corpus_shape_dtype_and_values() -> None:
    images, ann = generate_corpus(300, seed=0, show_progress=False)
    assert images.shape == (300, 16, 16)
    assert images.dtype == np.uint8
    assert len(ann) == 300
    assert ann.instance_map.shape == (300, 16, 16)
    assert ann.object_type.shape == (300, 4)
    assert images.max() <= 9
    assert (ann.num_objects >= 1).all()
    np.testing.assert_array_equal(images > 0, ann.instance_map > 0)


def test_generate_corpus_is_the_kernel_stream_and_deterministic() -> None:
    a_images, a_ann = generate_corpus(500, seed=7, show_progress=False)
    b_images, b_ann = generate_corpus(500, seed=7, show_progress=False)
    assert a_images.tobytes() == b_images.tobytes()
    assert_annotations_equal(a_ann, b_ann)
    ref_images, ref_ann = generate_images(make_config(), 7, 0, 500)
    assert a_images.tobytes() == ref_images.tobytes()
    assert_annotations_equal(a_ann, ref_ann)
    other, _ = generate_corpus(500, seed=8, show_progress=False)
    assert other.tobytes() != a_images.tobytes()


def test_generate_corpus_batches_do_not_change_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    whole, whole_ann = generate_corpus(100, seed=5, show_progress=False)
    monkeypatch.setattr(corpus_mod, "BATCH_IMAGES", 7)  # 15 batches, the last one partial
    cut, cut_ann = generate_corpus(100, seed=5, show_progress=False)
    assert whole.tobytes() == cut.tobytes()
    assert_annotations_equal(whole_ann, cut_ann)


def test_generate_corpus_prefix_of_a_longer_corpus() -> None:
    short, _ = generate_corpus(50, seed=11, show_progress=False)
    long, _ = generate_corpus(120, seed=11, show_progress=False)
    assert short.tobytes() == long[:50].tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, "int64", np.uint8], ids=str)
def test_generate_corpus_other_dtypes_hold_the_same_values(dtype: object) -> None:
    ref, _ = generate_corpus(40, seed=2, show_progress=False)
    images, _ = generate_corpus(40, seed=2, dtype=dtype, show_progress=False)
    assert images.dtype == np.dtype(dtype)  # type: ignore[call-overload]
    np.testing.assert_array_equal(images, ref)


def test_generate_corpus_preset_and_overrides() -> None:
    images, _ = generate_corpus(30, seed=1, show_progress=False, grid_size=8, max_size=8)
    assert images.shape == (30, 8, 8)
    _, shapes_ann = generate_corpus(30, seed=1, show_progress=False, preset="shapes")
    assert shapes_ann.object_type.shape == (30, 6)
    assert not (shapes_ann.object_type == 1).any()  # the shapes preset has no blobs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_images": 0}, "num_images must be an integer >= 1, got 0"),
        ({"num_images": -5}, "num_images must be an integer >= 1, got -5"),
        ({"num_images": 2.5}, "num_images must be an integer >= 1, got 2.5"),
        ({"num_images": True}, "num_images must be an integer >= 1, got True"),
        ({"num_images": 3, "seed": -1}, "seed must be an integer in [0, 2**64), got -1"),
        (
            {"num_images": 3, "dtype": "U5"},
            "dtype must be an integer or float numpy dtype (default uint8), got 'U5'",
        ),
        (
            {"num_images": 3, "dtype": bool},
            "dtype must be an integer or float numpy dtype (default uint8), got <class 'bool'>",
        ),
        (
            {"num_images": 3, "dtype": "not-a-dtype"},
            "dtype must be an integer or float numpy dtype (default uint8), got 'not-a-dtype'",
        ),
        (
            {"num_images": 3, "preset": "nope"},
            "unknown preset 'nope'; choose one of atomic, shapes",
        ),
    ],
    ids=[
        "zero",
        "negative",
        "float",
        "bool",
        "seed",
        "str-dtype",
        "bool-dtype",
        "bad-dtype",
        "preset",
    ],
)
def test_generate_corpus_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        generate_corpus(show_progress=False, **kwargs)
    assert str(info.value) == message


def test_generate_corpus_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    generate_corpus(20, seed=0, show_progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "generate" in err
    generate_corpus(20, seed=0, show_progress=False)
    assert capsys.readouterr() == ("", "")


# -- split_counts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "fractions", "expected"),
    [
        (1000, (0.8, 0.1, 0.1), (800, 100, 100)),
        (10, (0.8, 0.1, 0.1), (8, 1, 1)),
        (7, (0.5, 0.25, 0.25), (3, 2, 2)),
        (1, (0.8, 0.1, 0.1), (1, 0, 0)),
        (5, (1.0, 0.0, 0.0), (5, 0, 0)),
        (3, (0.0, 0.0, 1.0), (0, 0, 3)),
        (0, (0.8, 0.1, 0.1), (0, 0, 0)),
        (101, "0.7,0.2,0.1", (71, 20, 10)),
    ],
)
def test_split_counts_are_exact_and_sum_to_n(n: int, fractions: object, expected: tuple) -> None:
    assert split_counts(n, fractions) == expected  # type: ignore[arg-type]
    assert sum(expected) == n


# -- split_corpus ------------------------------------------------------------------


def test_split_corpus_default_counts_and_alignment() -> None:
    images, ann = generate_corpus(1000, seed=4, show_progress=False)
    assert len(np.unique(content_hashes(images))) == 1000  # no duplicates: counts are exact
    parts = split_corpus(images, ann)
    assert list(parts) == list(SPLITS)
    assert [len(parts[s][0]) for s in SPLITS] == [800, 100, 100]
    for split_images, split_ann in parts.values():
        assert split_ann is not None
        assert len(split_ann) == len(split_images)
        np.testing.assert_array_equal(split_images > 0, split_ann.instance_map > 0)


def test_split_indices_partition_in_corpus_order() -> None:
    images, _ = generate_corpus(500, seed=4, show_progress=False)
    for mode in ("disjoint", "independent"):
        idx = split_indices(images, seed=9, mode=mode)  # type: ignore[arg-type]
        everything = np.concatenate([idx[s] for s in SPLITS])
        np.testing.assert_array_equal(np.sort(everything), np.arange(500))
        for s in SPLITS:
            assert (np.diff(idx[s]) > 0).all()
        parts = split_corpus(images, seed=9, mode=mode)  # type: ignore[arg-type]
        for s in SPLITS:
            np.testing.assert_array_equal(parts[s][0], images[idx[s]])
            assert parts[s][1] is None


def test_split_disjoint_mode_keeps_duplicates_in_one_split(
    duplicates: tuple[np.ndarray, Annotations],
) -> None:
    images, ann = duplicates
    hashes = content_hashes(images)
    _, group_sizes = np.unique(hashes, return_counts=True)
    assert group_sizes.max() > 5  # the corpus really is duplicate-heavy
    parts = split_corpus(images, ann, seed=1)
    seen = [{img.tobytes() for img in parts[s][0]} for s in SPLITS]
    assert not seen[0] & seen[1]
    assert not seen[0] & seen[2]
    assert not seen[1] & seen[2]
    counts = [len(parts[s][0]) for s in SPLITS]
    assert sum(counts) == 2000
    for got, exact in zip(counts, split_counts(2000), strict=True):
        assert abs(got - exact) < group_sizes.max()
    for split_images, split_ann in parts.values():
        assert split_ann is not None
        np.testing.assert_array_equal(split_images > 0, split_ann.instance_map > 0)


def test_split_independent_mode_has_exact_counts_and_shares_duplicates(
    duplicates: tuple[np.ndarray, Annotations],
) -> None:
    images, ann = duplicates
    parts = split_corpus(images, ann, (0.7, 0.2, 0.1), seed=1, mode="independent")
    assert [len(parts[s][0]) for s in SPLITS] == [1400, 400, 200]
    train = {img.tobytes() for img in parts["train"][0]}
    val = {img.tobytes() for img in parts["val"][0]}
    assert train & val  # iid splits of a duplicate-heavy corpus share contents


def test_split_is_seeded(duplicates: tuple[np.ndarray, Annotations]) -> None:
    images, _ = duplicates
    for mode in ("disjoint", "independent"):
        a = split_indices(images, seed=1, mode=mode)  # type: ignore[arg-type]
        b = split_indices(images, seed=1, mode=mode)  # type: ignore[arg-type]
        c = split_indices(images, seed=2, mode=mode)  # type: ignore[arg-type]
        for s in SPLITS:
            np.testing.assert_array_equal(a[s], b[s])
        assert not np.array_equal(a["val"], c["val"])


def test_split_disjoint_group_straddling_a_cut_goes_to_the_earlier_split() -> None:
    # Ten copies of one image and nothing else: a single group, so it is all train.
    images = np.ones((10, 4, 4), np.uint8)
    parts = split_corpus(images, seed=0)
    assert [len(parts[s][0]) for s in SPLITS] == [10, 0, 0]


def test_split_disjoint_works_on_float_images() -> None:
    images, _ = generate_corpus(200, seed=6, show_progress=False, **DUPLICATE_HEAVY)
    idx = split_indices(images.astype(np.float32), seed=3)
    seen = [{images[i].tobytes() for i in idx[s]} for s in SPLITS]
    assert not seen[0] & seen[1]
    assert not seen[0] & seen[2]
    assert not seen[1] & seen[2]
    assert sum(len(idx[s]) for s in SPLITS) == 200


def test_split_empty_corpus() -> None:
    parts = split_corpus(np.zeros((0, 16, 16), np.uint8))
    assert [len(parts[s][0]) for s in SPLITS] == [0, 0, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"fractions": (0.8, 0.1)},
            "splits must be three numbers train,val,test like 0.8,0.1,0.1, got '0.8,0.1'",
        ),
        (
            {"fractions": (0.5, 0.1, 0.1)},
            "splits must be >= 0 and sum to 1, got '0.5,0.1,0.1' (sum 0.7)",
        ),
        ({"mode": "random"}, "mode must be 'disjoint' or 'independent', got 'random'"),
        ({"seed": -3}, "seed must be an integer in [0, 2**64), got -3"),
        (
            {"annotations": "short"},
            "annotations have 5 rows but images 10; pass the annotations of these images",
        ),
    ],
    ids=["two-fractions", "bad-sum", "mode", "seed", "annotations"],
)
def test_split_corpus_rejects_bad_input(kwargs: dict, message: str) -> None:
    images, ann = generate_corpus(10, seed=0, show_progress=False)
    if kwargs.get("annotations") == "short":
        kwargs = {"annotations": ann[slice(0, 5)]}
    with pytest.raises(ConfigError) as info:
        split_corpus(images, **kwargs)
    assert str(info.value) == message


def test_split_indices_disjoint_needs_images() -> None:
    with pytest.raises(ConfigError, match="needs the images"):
        split_indices(100)
    assert [len(i) for i in split_indices(100, mode="independent").values()] == [80, 10, 10]
