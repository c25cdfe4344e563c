"""Reading pairs back: ``split.pairs`` row by row, (base, twin, intervention) batches shuffled,
resumable and sharded like the split's, torch loaders, and ``where(intervention=...)``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from gridstore.errors import ConfigError, VersionNotFoundError
from gridstore.plan import Plan
from gridstore.read import open_store
from gridstore.storage import FIELDS
from gridstore.write.versions import create_version
from tests.pairs.conftest import VERSION
from tests.pairs.twin_checks import KINDS, check_twins

STREAM = {"seed": 4, "epoch": 1, "window_chunks": 1}


@pytest.fixture(scope="module")
def train(paired: tuple[Path, dict, dict]):  # type: ignore[no-untyped-def]
    return open_store(paired[0]).version(VERSION)["train"]


def test_split_pairs_are_the_stored_twins_row_by_row(paired, train) -> None:
    store = paired[0]
    group = zarr.open_group(store, mode="r", path=f"{VERSION}/train")
    pairs = train.pairs
    assert len(pairs) == len(train) == 4800
    idx = np.array([4799, 3, 4000, 3999, 17])  # across the two chunks, in any order
    np.testing.assert_array_equal(pairs.images[idx], group["pair/images"][:][idx])
    np.testing.assert_array_equal(pairs.annotations.object_bbox[idx],
                                  group["pair/object_bbox"][:][idx])  # fmt: skip
    np.testing.assert_array_equal(pairs.interventions["offset"][idx],
                                  group["intervention/offset"][:][idx])  # fmt: skip
    codes = pairs.interventions.kind[:5]
    assert pairs.kind_names(codes) == [KINDS[c - 1] for c in codes]
    assert train.fields == list(FIELDS)  # the split's own arrays, as before pairs


def test_pair_batches_are_the_splits_batches_cut_in_three(train) -> None:
    fields = list(FIELDS)
    stream = list(train.pairs.batches(500, fields=fields, **STREAM))
    bases = list(train.batches(500, fields=fields, **STREAM))
    assert len(stream) == len(bases) == 10
    for (base, twin, rec), own in zip(stream, bases, strict=True):
        assert all((base[f] == own[f]).all() for f in fields)  # shuffled as the split's
        ann = {f: base[f] for f in fields if f != "images"}
        tann = {f: twin[f] for f in fields if f != "images"}
        check_twins(base["images"], ann, twin["images"], tann, rec)  # each row one pair
    # resumed from step 6: the same batches; two ranks: disjoint shares of every pair
    tail = list(train.pairs.batches(500, start_step=6, **STREAM))
    assert len(tail) == 4
    for (_, twin, rec), (_, whole_twin, whole_rec) in zip(tail, stream[6:], strict=True):
        assert (twin == whole_twin["images"]).all() and (rec["kind"] == whole_rec["kind"]).all()
    ranks = [list(train.pairs.batches(700, rank=r, world_size=2, **STREAM)) for r in (0, 1)]
    kinds = [np.concatenate([b[2]["kind"] for b in share]) for share in ranks]
    assert sum(map(len, kinds)) == 4800
    together = np.concatenate(kinds)
    assert (
        np.bincount(together, minlength=10)[1:].tolist()
        == np.bincount(train.pairs.interventions.kind[:], minlength=10)[1:].tolist()
    )


def test_torch_loader_of_pairs_resumes_exactly(train) -> None:
    pytest.importorskip("torch")
    stream = list(train.pairs.batches(400, **STREAM))
    loader = train.pairs.torch_loader(400, num_workers=2, timeout=60, **STREAM)
    it = iter(loader)
    head = [next(it) for _ in range(5)]
    state = json.loads(json.dumps(loader.state_dict()))
    del it
    again = train.pairs.torch_loader(400, num_workers=0, **STREAM)
    again.load_state_dict(state)
    got = head + list(again)
    assert len(got) == len(stream) == 12
    for (b, t, r), (wb, wt, wr) in zip(got, stream, strict=True):
        assert (b.numpy() == wb).all() and (t.numpy() == wt).all()
        assert all((r[k].numpy() == wr[k]).all() for k in wr)


def test_torch_dataset_of_pairs_gives_base_twin_and_record_per_row(paired, train) -> None:
    torch = pytest.importorskip("torch")
    group = zarr.open_group(paired[0] / VERSION / "train", mode="r")
    view = train.where(intervention="recolour")
    rows = view.indices[:]
    loader = torch.utils.data.DataLoader(view.pairs.torch_dataset(), batch_size=50, num_workers=2,
                                         timeout=60)  # fmt: skip
    base, twin, rec = (torch.cat(side) if i < 2 else side for i, side in
                       enumerate(zip(*list(loader), strict=True)))  # fmt: skip
    np.testing.assert_array_equal(base.numpy(), group["images"][:][rows])
    np.testing.assert_array_equal(twin.numpy(), group["pair/images"][:][rows])
    kinds = torch.cat([r["kind"] for r in rec]).numpy()
    assert set(kinds.tolist()) == {KINDS.index("recolour") + 1}
    assert len(kinds) == len(view)
    b, t, r = train.pairs.torch_dataset(
        fields=["images", "object_colour"], interventions=["old_colour", "new_colour"]
    )[7]
    np.testing.assert_array_equal(t["object_colour"].numpy(), group["pair/object_colour"][7])
    assert sorted(b) == sorted(t) == ["images", "object_colour"] and sorted(r) == [
        "new_colour",
        "old_colour",
    ]
    assert int(r["new_colour"]) == group["intervention/new_colour"][7]
    with pytest.raises(ConfigError, match="unknown pair field 'warp'"):
        train.pairs.torch_dataset(interventions=["warp"])


def test_where_intervention_selects_the_recorded_kind(paired, train) -> None:
    meta = paired[1]
    counts = meta["pairs"]["interventions"]["train"]
    for kind in ("move", "add"):
        view = train.where(intervention=kind)
        assert len(view) == counts[kind]
        assert set(view.pairs.interventions.kind[:].tolist()) == {KINDS.index(kind) + 1}
        twins = next(iter(view.pairs.batches(64, shuffle=False)))[1]
        np.testing.assert_array_equal(twins, view.pairs.images[:64])
    both = train.where(intervention=["rotate", 7], num_objects=1)
    assert len(both) == int(
        np.isin(train.pairs.interventions.kind[:], [6, 7]).astype(int)
        @ (train.annotations.num_objects[:] == 1)
    )
    with pytest.raises(ConfigError, match=r"^bad where\(\) value intervention='warp'; .* 1..9"):
        train.where(intervention="warp")


def test_a_version_without_pairs_says_so(tmp_path: Path) -> None:
    meta = create_version(tmp_path / "s", Plan(num_images=600, seed=1), engine="serial",
                          show_progress=False)  # fmt: skip
    split = open_store(tmp_path / "s").version(meta["version"])["train"]
    with pytest.raises(VersionNotFoundError, match="has no pairs"):
        split.pairs  # noqa: B018
    with pytest.raises(ConfigError, match=r"^where\(\) intervention=...: version .* has no pairs"):
        split.where(intervention="move")
