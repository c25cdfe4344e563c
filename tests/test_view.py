"""gridstore.read.view: lazy filtered views of a split, against brute force on whole arrays.

The store holds real generator output (all four types, their subtypes, 1..4 objects)
in small chunks that do not divide the split, so views span chunks, skip chunks and
end on a short one. Each image is stamped with its row index to identify it in batches.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers_layout import write_version
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from gridstore import generate_corpus
from gridstore.errors import ConfigError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.read import open_store
from gridstore.read.conditions import Bitmap, Predicate
from gridstore.read.selection import _CACHE_CHUNKS
from gridstore.read.view import View, select

VERSION = "2026-01-01-v1"
N, CHUNK = 3000, 128  # 24 chunks, the last of 56 rows
Arrays = dict[str, np.ndarray]


def stamp(images: np.ndarray) -> np.ndarray:
    """The row index stamped into each image (cells (15, 0..3), base 9, colours 1..9)."""
    return sum((images[:, 15, d].astype(np.int64) - 1) * 9**d for d in range(4))


@pytest.fixture(scope="module")
def data() -> Arrays:
    images, ann = generate_corpus(N, seed=11, show_progress=False)
    ids = np.arange(N)
    for d in range(4):
        images[:, 15, d] = ids // 9**d % 9 + 1
    return {"images": images, **ann.as_dict()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, data: Arrays) -> Path:
    path = tmp_path_factory.mktemp("view") / "store"
    write_version(path, VERSION, {"train": data}, {"train": CHUNK})
    return path


@pytest.fixture
def train(store: Path) -> Any:
    return open_store(store).version()["train"]


def slots(a: Mapping[str, np.ndarray], test: np.ndarray) -> np.ndarray:
    """Images where one slot holding an object passes ``test``."""
    return (test & (a["object_type"] > 0)).any(axis=1)


def big(a: Mapping[str, np.ndarray]) -> np.ndarray:
    """A module-level predicate: it pickles by reference."""
    return np.asarray(a["object_size"].max(axis=1) >= 12)


def everything(a: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.ones(len(a["num_objects"]), bool)


# (id, where keywords, brute-force selection on whole arrays)
FORMS: list[tuple[str, dict[str, Any], Callable[[Arrays], np.ndarray]]] = [
    ("image-level", {"num_objects": 1}, lambda a: a["num_objects"] == 1),
    (
        "same-object",
        {"object_type": "blob", "object_colour": 3},
        lambda a: slots(a, (a["object_type"] == 1) & (a["object_colour"] == 3)),
    ),
    (
        "any-of-names",
        {"object_type": ["line", "rectangle"]},
        lambda a: slots(a, np.isin(a["object_type"], [2, 3])),
    ),
    (
        "range",
        {"object_size": range(12, 16)},
        lambda a: slots(a, (a["object_size"] >= 12) & (a["object_size"] <= 15)),
    ),
    ("type-code", {"object_type": 4}, lambda a: slots(a, a["object_type"] == 4)),
    (
        "subtype-name-fixes-type",
        {"object_subtype": "diagonal"},
        lambda a: slots(a, (a["object_type"] == 3) & (a["object_subtype"] == 2)),
    ),
    (
        "pattern-family",
        {"object_subtype": ["L", "zigzag"]},
        lambda a: slots(a, (a["object_type"] == 4) & np.isin(a["object_subtype"], [1, 4])),
    ),
    (
        "subtype-code-of-a-line-or-pattern",
        {"object_subtype": [0, 1]},
        lambda a: slots(a, np.isin(a["object_type"], [3, 4]) & (a["object_subtype"] <= 1)),
    ),
    (
        "stepped-range",
        {"object_size": range(2, 20, 5)},
        lambda a: slots(a, np.isin(a["object_size"], [2, 7, 12, 17])),
    ),
    (
        "list-of-ranges-and-ints",
        {"object_size": [range(1, 3), 30], "object_colour": np.array([1, 9])},
        lambda a: slots(
            a,
            ((a["object_size"] <= 2) | (a["object_size"] == 30))
            & np.isin(a["object_colour"], [1, 9]),
        ),
    ),
    (
        "image-and-object",
        {"num_objects": range(2, 4), "object_type": "pattern"},
        lambda a: np.isin(a["num_objects"], [2, 3]) & slots(a, a["object_type"] == 4),
    ),
    (
        "range-clipped-to-the-grid",
        {"object_size": range(14, 10**9)},
        lambda a: slots(a, a["object_size"] >= 14),
    ),
]


def check_view(view: View, sel: np.ndarray, data: Arrays) -> None:
    """Every way of reading ``view`` agrees with split rows ``sel``."""
    assert len(view) == len(sel) == int(view.chunk_counts().sum())
    np.testing.assert_array_equal(view.indices[:], sel)
    np.testing.assert_array_equal(view.images[:8], data["images"][sel[:8]])
    np.testing.assert_array_equal(view.annotations["object_size"][:8], data["object_size"][sel[:8]])
    if len(sel):
        rng = np.random.default_rng(len(sel))
        pick = rng.integers(-len(sel), len(sel), 50)
        np.testing.assert_array_equal(view.images[pick], data["images"][sel[pick]])
        np.testing.assert_array_equal(view.indices[pick], sel[pick])
        np.testing.assert_array_equal(
            view.annotations.object_bbox[-1, :, 2], data["object_bbox"][sel[-1], :, 2]
        )
        mask = rng.random(len(sel)) < 0.3
        np.testing.assert_array_equal(
            view.annotation("num_objects")[mask], data["num_objects"][sel[mask]]
        )
        assert view.indices[len(sel) // 2] == sel[len(sel) // 2]
        np.testing.assert_array_equal(
            view.annotations["instance_map"][::7], data["instance_map"][sel[::7]]
        )


@pytest.mark.parametrize(("kwargs", "brute"), [f[1:] for f in FORMS], ids=[f[0] for f in FORMS])
def test_where_keywords_select_what_brute_force_selects(
    train: Any, data: Arrays, kwargs: dict[str, Any], brute: Callable[[Arrays], np.ndarray]
) -> None:
    sel = np.flatnonzero(brute(data))
    assert 0 < len(sel) < N  # each form selects something, and not everything
    check_view(train.where(**kwargs), sel, data)


def test_where_predicate_gets_one_chunk_and_selects_its_mask(train: Any, data: Arrays) -> None:
    seen = []

    def pred(a: Mapping[str, np.ndarray]) -> np.ndarray:
        seen.append(len(a["object_size"]))
        return np.asarray(a["object_size"].max(axis=1) >= 12)

    view = train.where(pred)
    check_view(view, np.flatnonzero(data["object_size"].max(axis=1) >= 12), data)
    assert seen[:24] == [CHUNK] * 23 + [N - 23 * CHUNK]  # the counting pass, chunk by chunk


def test_chained_where_is_and_each_call_its_own_condition(train: Any, data: Arrays) -> None:
    sel = np.flatnonzero((data["num_objects"] == 1) & slots(data, data["object_type"] == 1))
    check_view(train.where(num_objects=1).where(object_type="blob"), sel, data)
    has_blob, has_3 = slots(data, data["object_type"] == 1), slots(data, data["object_colour"] == 3)
    chained = train.where(object_type="blob").where(object_colour=3)
    check_view(chained, np.flatnonzero(has_blob & has_3), data)
    same = train.where(object_type="blob", object_colour=3)
    assert len(same) < len(chained)  # a blob and a colour-3 object is not a colour-3 blob
    both = train.where(big, num_objects=2).where(object_colour=[1, 2])
    sel = (big(data) & (data["num_objects"] == 2)) & slots(
        data, np.isin(data["object_colour"], [1, 2])
    )
    check_view(both, np.flatnonzero(sel), data)
    counted = train.where(lambda a: stamp(a["images"]) < 300)
    assert len(counted) == 300  # counted before the child is made (see the test below)
    sel = np.flatnonzero((np.arange(N) < 300) & (data["num_objects"] == 1))
    check_view(counted.where(num_objects=1), sel, data)
    with pytest.raises(ConfigError) as err:
        select(train, {"num_objects": 1})  # type: ignore[arg-type]
    assert str(err.value) == (
        "where takes mappings of field=value conditions, one per where() call, got 'num_objects'"
    )
    check_view(
        select(train, [{"num_objects": 1}, {"object_type": "blob"}]),
        np.flatnonzero((data["num_objects"] == 1) & has_blob),
        data,
    )


def test_a_chained_where_never_reads_the_chunks_its_parent_counted_empty(
    store: Path, tmp_path: Path, data: Arrays
) -> None:
    """The child of a counted view skips the chunks the parent found empty: their files
    are deleted, and the child still counts, indexes and reads its rows."""
    copy = Path(shutil.copytree(store, tmp_path / "store"))
    parent = open_store(copy).version()["train"].where(lambda a: stamp(a["images"]) < 300)
    assert len(parent) == 300  # counted: chunks 0..2 hold the rows
    for c in range(3, 24):
        os.remove(copy / VERSION / "train" / "images" / "c" / str(c) / "0" / "0")
        os.remove(copy / VERSION / "train" / "num_objects" / "c" / str(c))
    child = parent.where(num_objects=1)
    sel = np.flatnonzero((np.arange(N) < 300) & (data["num_objects"] == 1))
    assert 0 < len(child) == len(sel)
    np.testing.assert_array_equal(child.chunk_counts()[3:], 0)
    np.testing.assert_array_equal(child.indices[:], sel)
    np.testing.assert_array_equal(child.images[:], data["images"][sel])


# (id, where keywords, the exact one-line message)
BAD = [
    (
        "unknown-field",
        {"colour": 3},
        "unknown where() field 'colour'; choose from num_objects, object_type, object_subtype, object_colour, object_size, intervention",
    ),
    (
        "colour-12",
        {"object_colour": 12},
        "bad where() value object_colour=12; object_colour takes 1..9 (one value, a range or a list of them)",
    ),
    (
        "unknown-type-name",
        {"object_type": ["blob", "circle"]},
        "bad where() value object_type='circle'; object_type takes 1..4 or a name: blob, rectangle, line, pattern (one value, a range or a list of them)",
    ),
    (
        "unknown-subtype-name",
        {"object_subtype": "Diagonal"},
        "bad where() value object_subtype='Diagonal'; object_subtype takes 0..4 or a name: horizontal, vertical, diagonal, anti_diagonal, checkerboard, L, T, plus, zigzag (one value, a range or a list of them)",
    ),
    (
        "more-objects-than-slots",
        {"num_objects": 5},
        "bad where() value num_objects=5; num_objects takes 1..4 (one value, a range or a list of them)",
    ),
    (
        "bigger-than-the-grid",
        {"object_size": 257},
        "bad where() value object_size=257; object_size takes 1..256 (one value, a range or a list of them)",
    ),
    (
        "range-outside",
        {"object_size": range(300, 400)},
        "bad where() value object_size=range(300, 400); object_size takes 1..256 (one value, a range or a list of them)",
    ),
    (
        "name-of-another-field",
        {"num_objects": "blob"},
        "bad where() value num_objects='blob'; num_objects takes 1..4 (one value, a range or a list of them)",
    ),
    (
        "bool",
        {"object_colour": True},
        "bad where() value object_colour=True; object_colour takes 1..9 (one value, a range or a list of them)",
    ),
    (
        "float",
        {"object_colour": 2.0},
        "bad where() value object_colour=2.0; object_colour takes 1..9 (one value, a range or a list of them)",
    ),
    (
        "empty-list",
        {"object_colour": []},
        "where() object_colour=[] is empty; give at least one value",
    ),
    ("nothing", {}, "where() needs field=value keywords or a predicate, e.g. where(num_objects=1)"),
]


@pytest.mark.parametrize(("kwargs", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_where_is_one_exact_line(train: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        train.where(**kwargs)
    assert str(err.value) == message
    with pytest.raises(ConfigError) as again:  # a view's where checks the same way
        train.where(num_objects=1).where(**kwargs)
    assert str(again.value) == message


def test_bad_predicates_are_one_line_errors(train: Any) -> None:
    with pytest.raises(ConfigError) as err:
        train.where(5)
    assert (
        str(err.value)
        == "where() takes a function of a chunk's arrays or field=value keywords, got int"
    )
    wrong = train.where(lambda a: a["object_size"].max(axis=1))
    with pytest.raises(ConfigError) as err:
        len(wrong)
    name = "test_bad_predicates_are_one_line_errors.<locals>.<lambda>"
    assert str(err.value) == (
        f"where() predicate {name} must return a boolean array of shape (128,) for chunk 0, got uint16 (128,)"
    )
    unknown = train.where(lambda a: a["size"] > 3)
    with pytest.raises(ConfigError) as err:
        unknown.indices[:3]
    assert str(err.value) == (
        "unknown field 'size' in split 'train'; available: images, num_objects, object_type, "
        "object_subtype, object_colour, object_size, object_bbox, instance_map"
    )


def test_empty_view_has_length_zero_and_yields_no_batches(train: Any) -> None:
    empty = train.where(num_objects=1).where(num_objects=2)
    assert len(empty) == 0
    assert list(empty.batches(16)) == []
    assert list(empty.batches(16, shuffle=False, rank=1, world_size=2)) == []
    assert empty.num_batches(16) == 0
    assert empty.indices[:].shape == (0,)
    assert empty.images[:].shape == (0, 16, 16)
    assert len(empty.torch_dataset()) == 0
    assert list(empty.torch_iterable(8)) == []
    with pytest.raises(IndexError):
        empty.images[0]


def epoch(view: Any, **kwargs: Any) -> list[np.ndarray]:
    """The split row of every row of every batch of one epoch, batch by batch."""
    fields = ("images", "num_objects")
    out = []
    for b in view.batches(kwargs.pop("batch_size", 50), fields=fields, **kwargs):
        ids = stamp(b["images"])
        out.append(ids)
    return out


@pytest.mark.parametrize(
    ("batch_size", "window", "shuffle"),
    [(50, 4, True), (7, 1, True), (256, 3, False), (1000, 30, True)],
)
def test_batches_of_an_epoch_hold_each_row_of_the_view_once(
    train: Any, data: Arrays, batch_size: int, window: int, shuffle: bool
) -> None:
    view = train.where(object_type="line").where(num_objects=[1, 2])
    sel = np.flatnonzero(slots(data, data["object_type"] == 3) & (data["num_objects"] <= 2))
    ids = epoch(view, batch_size=batch_size, window_chunks=window, shuffle=shuffle, seed=4)
    assert [len(b) for b in ids[:-1]] == [batch_size] * (len(ids) - 1)
    assert (
        len(ids)
        == view.num_batches(batch_size, shuffle=shuffle, seed=4)
        == -(-len(sel) // batch_size)
    )
    got = np.concatenate(ids)
    if shuffle:
        assert not np.array_equal(got, sel)
        got = np.sort(got)
    np.testing.assert_array_equal(got, sel)
    batch = next(
        view.batches(batch_size, fields=("images", "num_objects"), seed=4, window_chunks=window)
    )
    np.testing.assert_array_equal(batch["num_objects"], data["num_objects"][stamp(batch["images"])])


def test_a_view_of_every_row_batches_exactly_as_the_split(train: Any) -> None:
    kwargs = {"seed": 3, "epoch": 2, "window_chunks": 3, "rank": 1, "world_size": 2}
    for got, want in zip(
        train.where(everything).batches(40, **kwargs), train.batches(40, **kwargs), strict=True
    ):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_from_start_step_equals_the_tail(train: Any, drop_last: bool) -> None:
    view = train.where(object_colour=range(1, 4), num_objects=[2, 3])
    kwargs = {"seed": 5, "epoch": 1, "window_chunks": 2, "drop_last": drop_last}
    full = epoch(view, batch_size=30, **kwargs)
    for start in (1, 2, 7, len(full) - 1, len(full), len(full) + 3):
        tail = epoch(view, batch_size=30, start_step=start, **kwargs)
        assert len(tail) == max(0, len(full) - start)
        for got, want in zip(tail, full[start:], strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("world_size", [2, 3, 7])
def test_ranks_are_disjoint_and_cover_the_view(train: Any, data: Arrays, world_size: int) -> None:
    view = train.where(big)
    shards = []
    for rank in range(world_size):
        ids = epoch(view, rank=rank, world_size=world_size, epoch=3)
        assert len(ids) == view.num_batches(50, rank=rank, world_size=world_size, epoch=3)
        shards.append(np.concatenate([np.empty(0, np.int64), *ids]))
    every = np.concatenate(shards)
    assert len(every) == len(set(every.tolist()))
    np.testing.assert_array_equal(np.sort(every), np.flatnonzero(big(data)))


def test_chunks_without_a_row_of_the_view_are_never_read(
    store: Path, tmp_path: Path, data: Arrays
) -> None:
    copy = Path(shutil.copytree(store, tmp_path / "store"))
    view = open_store(copy).version()["train"].where(lambda a: stamp(a["images"]) < 200)
    assert len(view) == 200  # counted: chunks 0 and 1 hold the rows
    for c in range(2, 24):
        for field in ("images", "object_size"):
            zeros = "0/0" if field == "images" else "0"
            os.remove(copy / VERSION / "train" / field / "c" / str(c) / zeros)
    ids = epoch(view, batch_size=64, window_chunks=1)
    assert sorted(np.concatenate(ids).tolist()) == list(range(200))
    np.testing.assert_array_equal(view.annotations["object_size"][:], data["object_size"][:200])


def test_a_view_holds_one_count_per_chunk_and_a_few_chunks_of_rows(train: Any) -> None:
    view = train.where(object_size=range(1, 257))  # nearly every row: the worst case
    assert len(view) > N - 10
    view.indices[:]
    view.images[::-1]
    assert 0 < len(view._selection._recent) <= _CACHE_CHUNKS < 24
    arrays = [v for v in vars(view._selection).values() if isinstance(v, np.ndarray)]
    assert arrays and max(a.size for a in arrays) <= 25  # counts and starts: chunks + 1
    assert len(pickle.dumps(view)) < 2_000


def test_views_pickle_small_with_or_without_a_picklable_predicate(train: Any, data: Arrays) -> None:
    kw = train.where(num_objects=1)
    clone = pickle.loads(pickle.dumps(kw))
    np.testing.assert_array_equal(clone.indices[:], np.flatnonzero(data["num_objects"] == 1))
    module_level = pickle.loads(pickle.dumps(train.where(big)))
    assert isinstance(module_level.conditions[0], Predicate)  # pickled by reference
    view = train.where(lambda a: a["object_size"].max(axis=1) >= 12, num_objects=[2, 3])
    blob = pickle.dumps(view)
    assert len(blob) < 2_000 + N // 8
    clone = pickle.loads(blob)
    assert [type(c) for c in clone.conditions] == [Bitmap]  # the rows, one bit each
    assert isinstance(view.conditions[1], Predicate)  # the original keeps its predicate
    sel = np.flatnonzero(big(data) & np.isin(data["num_objects"], [2, 3]))
    np.testing.assert_array_equal(clone.indices[:], sel)
    np.testing.assert_array_equal(np.concatenate(epoch(clone)), np.concatenate(epoch(view)))
    assert clone.where(object_type=1).indices[:].tolist() == [
        i for i in sel.tolist() if (data["object_type"][i] == 1).any()
    ]


def test_torch_iterable_of_a_lambda_view_under_spawn_reads_each_row_once(
    train: Any, data: Arrays
) -> None:
    view = train.where(lambda a: a["num_objects"] == 3, object_colour=5)
    dataset = view.torch_iterable(32, seed=1, fields=("images", "object_colour"))
    loader = DataLoader(
        dataset, batch_size=None, num_workers=2, timeout=60, multiprocessing_context="spawn"
    )
    batches = list(loader)
    ids = stamp(torch.cat([b["images"] for b in batches]).numpy())
    sel = (data["num_objects"] == 3) & slots(data, data["object_colour"] == 5)
    np.testing.assert_array_equal(np.sort(ids), np.flatnonzero(sel))
    colours = torch.cat([b["object_colour"] for b in batches]).numpy()
    np.testing.assert_array_equal(colours, data["object_colour"][ids])


def test_torch_dataset_of_a_view_indexes_its_rows(train: Any, data: Arrays) -> None:
    view = train.where(object_type="rectangle", object_size=range(9, 20))
    sel = np.flatnonzero(
        slots(
            data,
            (data["object_type"] == 2) & (data["object_size"] >= 9) & (data["object_size"] < 20),
        )
    )
    dataset = view.torch_dataset(fields=("images", "object_size"))
    assert len(dataset) == len(sel)
    item = dataset[-1]
    torch.testing.assert_close(item["object_size"], torch.from_numpy(data["object_size"][sel[-1]]))
    loader = DataLoader(
        dataset,
        batch_size=16,
        shuffle=True,
        num_workers=2,
        timeout=60,
        multiprocessing_context="fork",
    )
    ids = np.concatenate([stamp(b["images"].numpy()) for b in loader])
    np.testing.assert_array_equal(np.sort(ids), sel)


# -- a property: random keyword conditions against a brute-force reference --------------

SUBTYPES = {
    **{s: (3, i) for i, s in enumerate(LINE_ORIENTATIONS)},
    **{s: (4, i) for i, s in enumerate(PATTERN_FAMILIES)},
}
LIMITS = {
    "num_objects": (1, 4),
    "object_type": (1, 4),
    "object_subtype": (0, 4),
    "object_colour": (1, 9),
    "object_size": (1, 256),
}


def value(field: str) -> st.SearchStrategy[Any]:
    lo, hi = LIMITS[field]
    one: st.SearchStrategy[Any] = st.integers(lo, hi)
    if field == "object_type":
        one = one | st.sampled_from(OBJECT_TYPES)
    if field == "object_subtype":
        one = one | st.sampled_from(sorted(SUBTYPES))
    span = st.builds(
        lambda a, n, s: range(a, a + n, s),
        st.integers(lo, hi),
        st.integers(1, 20),
        st.integers(1, 3),
    )
    return one | span | st.lists(one | span, min_size=1, max_size=3)


def reference(data: Arrays, conditions: dict[str, Any]) -> np.ndarray:
    """The rows passing ``conditions``: a plain reading of the rules, slot by slot."""

    def codes(field: str, v: Any) -> list[Any]:
        items = v if isinstance(v, list) else [v]
        out: list[Any] = []
        for item in items:
            if isinstance(item, range):
                out += [x for x in item if LIMITS[field][0] <= x <= LIMITS[field][1]]
            elif field == "object_type" and isinstance(item, str):
                out.append(OBJECT_TYPES.index(item) + 1)
            else:
                out.append(SUBTYPES.get(item, item))
        return out

    keep = np.ones(N, bool)
    slot = data["object_type"] > 0
    for field, v in conditions.items():
        ok = codes(field, v)
        if field == "num_objects":
            keep &= np.isin(data[field], ok)
            continue
        hit = np.zeros_like(slot)
        for code in ok:
            if isinstance(code, tuple):  # a subtype name: its type and its code
                hit |= (data["object_type"] == code[0]) & (data["object_subtype"] == code[1])
            elif field == "object_subtype":  # a code: of a line or a pattern
                hit |= (data["object_type"] >= 3) & (data["object_subtype"] == code)
            else:
                hit |= data[field] == code
        slot = slot & hit
    return np.flatnonzero(
        keep & (slot.any(axis=1) if len(conditions.keys() - {"num_objects"}) else True)
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(st.sampled_from(sorted(LIMITS)), st.none(), min_size=1).flatmap(
        lambda keys: st.fixed_dictionaries({k: value(k) for k in keys})
    )
)
def test_property_any_keyword_conditions_match_the_reference(
    train: Any, data: Arrays, conditions: dict[str, Any]
) -> None:
    view = train.where(**conditions)
    np.testing.assert_array_equal(view.indices[:], reference(data, conditions))
