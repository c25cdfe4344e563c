"""Behaviours of the core that the other tests did not pin, found by scripts/mutation_score.py.

Each test names the behaviour it checks; docs/mutation.md lists the changes to the code
that it catches. Nothing is mocked: hand-made images checked by the compiled rules, real
stores on disk, and the moto S3 server of tests/helpers_s3.py for the lease.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_layout import write_version

from gridstore import Plan, create_version, generate_corpus
from gridstore.config import make_config
from gridstore.engines import default_workers
from gridstore.errors import (
    ConfigError,
    GridstoreError,
    StoreLockedError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
    VersionNotFoundError,
)
from gridstore.plan import SPLITS
from gridstore.read import open_store
from gridstore.read.view import select
from gridstore.storage import open_backend
from gridstore.storage.layout import TOMBSTONES, claim_key, lock_key, staged_key, tasks_key
from gridstore.storage.lease import Lease, lease_holder, lease_live, lease_matches
from gridstore.storage.local import LocalStore
from gridstore.storage.s3 import ObjectStore
from gridstore.validate.constraints import check_constraints
from gridstore.validate.version import validate_version
from tests.helpers_s3 import (  # noqa: F401 - fixtures
    bucket_fixture,
    faults_fixture,
    s3_endpoint_fixture,
    s3_fs,
    s3_objects,
)
from tests.helpers_s3proxy import FaultProxy
from tests.test_fsio import fsyncs  # noqa: F401 - fixture

# -- check_constraints with annotations: each rule, one damage at a time ----------------------

G = 16
# (type, subtype, colour, cells) of each object, in placement order. Image A has a rectangle,
# a horizontal line, a blob in the top-left corner and a diagonal line; image B a vertical
# line, an anti-diagonal, a pattern and a blob in the bottom-right corner.
Obj = tuple[int, int, int, list[tuple[int, int]]]
IMAGE_A: list[Obj] = [
    (2, 0, 5, [(r, c) for r in (3, 4) for c in (1, 2, 3)]),
    (3, 0, 2, [(6, c) for c in range(5)]),
    (1, 0, 7, [(0, 0), (0, 1), (1, 1), (1, 2)]),
    (3, 2, 3, [(12, 0), (13, 1), (14, 2)]),
]
IMAGE_B: list[Obj] = [
    (3, 1, 4, [(r, 10) for r in range(2, 8)]),
    (3, 3, 6, [(9, 4), (10, 3), (11, 2)]),
    (4, 2, 9, [(0, 5), (0, 6), (0, 7), (1, 6), (2, 6)]),
    (1, 0, 1, [(15, 15), (14, 15), (14, 14), (13, 14)]),
]


def _draw(objects: list[Obj], k_max: int = 4) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One image and its annotations, as the generator records them."""
    image = np.zeros((G, G), np.uint8)
    inst = np.zeros((G, G), np.uint8)
    ann = {
        "num_objects": np.array(len(objects), np.uint8),
        "object_type": np.zeros(k_max, np.uint8),
        "object_subtype": np.zeros(k_max, np.uint8),
        "object_colour": np.zeros(k_max, np.uint8),
        "object_size": np.zeros(k_max, np.uint16),
        "object_bbox": np.zeros((k_max, 4), np.uint8),
    }
    for k, (kind, sub, colour, cells) in enumerate(objects):
        rows, cols = np.array(cells).T
        image[rows, cols], inst[rows, cols] = colour, k + 1
        ann["object_type"][k], ann["object_subtype"][k] = kind, sub
        ann["object_colour"][k], ann["object_size"][k] = colour, len(cells)
        ann["object_bbox"][k] = rows.min(), cols.min(), rows.max(), cols.max()
    return image, {**ann, "instance_map": inst}


def _batch() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images A, B, A, B: the damage goes to image 1 or 2."""
    drawn = [_draw(IMAGE_A), _draw(IMAGE_B)] * 2
    images = np.stack([d[0] for d in drawn])
    ann = {name: np.stack([d[1][name] for d in drawn]) for name in drawn[0][1]}
    return images, ann


Damage = Callable[[np.ndarray, dict[str, np.ndarray]], None]


def _set(field: str, index: tuple[int, ...], value: int) -> Damage:
    def damage(images: np.ndarray, ann: dict[str, np.ndarray]) -> None:
        (images if field == "images" else ann[field])[index] = value

    return damage


def _both(*damages: Damage) -> Damage:
    def damage(images: np.ndarray, ann: dict[str, np.ndarray]) -> None:
        for one in damages:
            one(images, ann)

    return damage


def _erase(image: int, k: int) -> Damage:
    """Remove object k's cells from the pixels and the instance map (its record stays)."""

    def damage(images: np.ndarray, ann: dict[str, np.ndarray]) -> None:
        cells = ann["instance_map"][image] == k + 1
        images[image][cells], ann["instance_map"][image][cells] = 0, 0

    return damage


def _forget(image: int, k: int) -> Damage:
    """Remove object k whole (cells and record) from an image whose last object it is."""
    fields = ("object_type", "object_subtype", "object_colour", "object_size", "object_bbox")
    return _both(_erase(image, k), *(_set(f, (image, k), 0) for f in fields),
                 _set("num_objects", (image,), k))  # fmt: skip


def _retype(image: int, k: int, kind: int, sub: int) -> Damage:
    return _both(_set("object_type", (image, k), kind), _set("object_subtype", (image, k), sub))


def _unpaint(image: int, cell: tuple[int, int]) -> Damage:
    """Move one cell of a blob off its object, to the background."""
    return _both(_set("images", (image, *cell), 0), _set("instance_map", (image, *cell), 0))


def _drop_last(image: int) -> Damage:
    """Remove the last of the image's four objects whole: cells, record and count."""

    def damage(images: np.ndarray, ann: dict[str, np.ndarray]) -> None:
        _erase(image, 3)(images, ann)
        for field in ("object_type", "object_subtype", "object_colour", "object_size"):
            ann[field][image, 3] = 0
        ann["object_bbox"][image, 3] = 0
        ann["num_objects"][image] = 3

    return damage


ALL = -1  # a config change that every image breaks
# (damage to image 1 (B) or 2 (A), config overrides, the image, the rules it breaks)
DAMAGES: list[tuple[str, Damage, dict[str, object], int, set[str]]] = [
    ("nothing", _both(), {}, 1, set()),
    ("sizes at their limits", _both(), {"min_size": 3, "max_size": 6}, 1, set()),
    ("a pixel of 10", _set("images", (2, 3, 1), 10), {}, 2,
     {"value_range", "image_matches_instances"}),
    ("a background pixel painted", _set("images", (2, 10, 10), 4), {}, 2,
     {"image_matches_instances"}),
    ("an object pixel of another colour", _set("images", (2, 6, 0), 8), {}, 2,
     {"image_matches_instances"}),
    ("no objects recorded", _set("num_objects", (1,), 0), {}, 1,
     {"object_count", "instance_labels", "object_type"}),
    ("more objects than max_objects", _both(), {"max_objects": 3}, ALL, {"object_count"}),
    ("more objects than slots", _set("num_objects", (1,), 5), {}, 1, {"object_count"}),
    ("a label past num_objects", _set("num_objects", (1,), 3), {}, 1,
     {"instance_labels", "object_type"}),
    ("an object without cells", _erase(1, 1), {}, 1, {"instance_labels"}),
    ("an object without cells, and the next one's size wrong",
     _both(_erase(1, 1), _set("object_size", (1, 2), 4)), {}, 1,
     {"instance_labels", "object_size"}),
    # between two rows of an object: the cells after it still count, so only the label is wrong
    ("a background cell labelled past num_objects", _set("instance_map", (2, 3, 4), 5), {}, 2,
     {"instance_labels"}),
    # a bad type does not end the image's check: the next object's size is still read
    ("no type, and the next object's size wrong", _both(_set("object_type", (2, 0), 0),
     _set("object_size", (2, 1), 6)), {}, 2, {"object_type", "object_size"}),
    # two objects forgotten, and a colour left in the second empty slot, not the first
    ("a stray record in the last empty slot", _both(_forget(2, 3), _forget(2, 2),
     _set("object_colour", (2, 3), 5)), {}, 2, {"object_type"}),
    ("a size recorded one too many", _set("object_size", (2, 0), 7), {}, 2, {"object_size"}),
    ("a size under min_size", _both(), {"min_size": 4}, ALL, {"object_size"}),
    ("a size over max_size", _both(), {"max_size": 5}, ALL, {"object_size"}),
    ("colour 0", _both(_set("object_colour", (2, 3), 0), _set("images", (2, 12, 0), 0),
                       _set("images", (2, 13, 1), 0), _set("images", (2, 14, 2), 0)),
     {}, 2, {"object_colour"}),
    ("colour 10", _both(_set("object_colour", (2, 3), 10), _set("images", (2, 12, 0), 10),
                        _set("images", (2, 13, 1), 10), _set("images", (2, 14, 2), 10)),
     {}, 2, {"object_colour", "value_range"}),
    *(
        (f"bbox {name} off by one", _set("object_bbox", (2, 0, j), value), {}, 2, {"object_bbox"})
        for j, (name, value) in enumerate(
            [("row_min", 4), ("col_min", 2), ("row_max", 3), ("col_max", 2)]
        )
    ),
    ("type 0 on an object", _set("object_type", (2, 0), 0), {}, 2, {"object_type"}),
    ("type 5", _set("object_type", (2, 0), 5), {}, 2, {"object_type"}),
    ("a blob where blobs weigh 0", _both(), {"type_weights": (0.0, 0.4, 0.3, 0.3)}, ALL,
     {"object_type"}),
    *(
        (f"an empty slot's {field}", _both(_drop_last(2), _set(field, (2, 3), 1)), {}, 2,
         {"object_type"})
        for field in ("object_type", "object_subtype", "object_colour", "object_size")
    ),
    ("the last object dropped whole", _drop_last(2), {}, 2, set()),
    ("a blob recorded as a rectangle", _retype(2, 2, 2, 0), {}, 2, {"object_shape"}),
    ("a rectangle short of a cell", _both(_unpaint(2, (4, 3)), _set("object_size", (2, 0), 5)),
     {}, 2, {"object_shape"}),
    ("a blob in two pieces", _both(_unpaint(1, (14, 15)), _set("object_size", (1, 3), 3)), {}, 1,
     {"object_shape"}),
    ("a horizontal line recorded vertical", _retype(2, 1, 3, 1), {}, 2, {"object_shape"}),
    ("a vertical line recorded horizontal", _retype(1, 0, 3, 0), {}, 1, {"object_shape"}),
    ("a diagonal recorded anti-diagonal", _retype(2, 3, 3, 3), {}, 2, {"object_shape"}),
    ("an anti-diagonal recorded diagonal", _retype(1, 1, 3, 2), {}, 1, {"object_shape"}),
    ("a line of subtype 4", _retype(2, 1, 3, 4), {}, 2, {"object_shape"}),
    ("a pattern of family 5", _retype(1, 2, 4, 5), {}, 1, {"object_shape"}),
    ("a pattern of family 4", _retype(1, 2, 4, 4), {}, 1, set()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "overrides", "image", "rules"),
    [d[1:] for d in DAMAGES],
    ids=[d[0] for d in DAMAGES],
)
def test_each_annotation_rule_flags_exactly_the_image_that_breaks_it(
    damage: Damage, overrides: dict[str, object], image: int, rules: set[str]
) -> None:
    images, ann = _batch()
    damage(images, ann)
    report = check_constraints(images, ann, make_config("atomic", **overrides))
    flagged = [0, 1, 2, 3] if image == ALL else [image]
    assert {rule: idx.tolist() for rule, idx in report.violations.items()} == {
        rule: flagged for rule in rules
    }
    assert report.ok == (not rules)


def test_a_blob_in_two_pieces_is_not_joined_through_a_cell_it_does_not_have() -> None:
    """Pieces {(0, 2), (0, 3)} and {(1, 0), (2, 0)}: the search starts at (0, 2) and must not
    also start at (0, 0), which borders the second piece (a fresh stack holds 0 there)."""
    image, ann = _draw([(1, 0, 5, [(0, 2), (0, 3), (1, 0), (2, 0)])])
    report = check_constraints(image[None], {k: v[None] for k, v in ann.items()})
    assert {rule: idx.tolist() for rule, idx in report.violations.items()} == {"object_shape": [0]}


# -- the object-storage lease: who holds it, and when it is dead --------------------------------


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


LEASES = [
    # (record, live): on this host a lease lives with its process, elsewhere while renewed
    (None, False),
    ([1, 2], False),
    ({"host": socket.gethostname(), "pid": os.getpid()}, True),
    ({"host": socket.gethostname(), "pid": 1}, True),  # init: alive whoever owns it
    ({"host": socket.gethostname(), "pid": 0}, False),  # kill(0, 0) would be our own group
    ({"host": socket.gethostname(), "pid": -1}, False),
    ({"host": socket.gethostname()}, False),
    ({"host": "elsewhere", "pid": os.getpid(), "renewed": 0}, True),
    ({"host": "elsewhere", "pid": os.getpid(), "renewed": 290}, True),
    ({"host": "elsewhere", "pid": os.getpid(), "renewed": 310}, False),
    ({"host": "elsewhere", "pid": os.getpid()}, False),
]  # "renewed": seconds ago, made a time when the test runs (collection may be minutes before)


@pytest.mark.parametrize(
    ("record", "live"),
    LEASES,
    ids=["none", "a list", "own pid", "pid 1", "pid 0", "pid -1", "no pid", "other host, now",
         "other host, 290 s", "other host, 310 s", "other host, never renewed"],
)  # fmt: skip
def test_a_lease_lives_with_its_process_here_and_while_renewed_elsewhere(
    record: object, live: bool
) -> None:
    if isinstance(record, dict) and "renewed" in record:
        record = {**record, "renewed": time.time() - record["renewed"]}
    assert lease_live(record, stale_seconds=300) is live  # type: ignore[arg-type]


def test_a_dead_process_on_this_host_holds_no_lease() -> None:
    record = {"host": socket.gethostname(), "pid": _dead_pid(), "renewed": time.time()}
    assert lease_live(record, stale_seconds=300) is False


def _as_user(uid: int, call: Callable[[], str]) -> str:
    """What ``call()`` returns when run in a forked child that drops root for ``uid``."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # the child makes one call and exits: it takes no lock
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.setuid(uid)
            os.write(write, call().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read().decode()
    assert os.waitpid(child, 0)[1] == 0
    return said


def test_a_live_process_of_another_user_holds_its_lease() -> None:
    """On a shared host, ``kill(pid, 0)`` on another user's process fails with EPERM:
    that writer is alive, and its lease must not be taken over. Checked in a child that
    drops root for one user, against a process of another (root is never refused)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the check as one user against a process of another")
    holder = subprocess.Popen(["sleep", "60"], user=65534)
    record = {"host": socket.gethostname(), "pid": holder.pid, "renewed": 0.0}
    try:
        said = _as_user(65533, lambda: "live" if lease_live(record, stale_seconds=300) else "dead")
        assert said == "live"
    finally:
        holder.kill()
        holder.wait()


def test_a_store_another_user_cannot_write_is_refused_as_permission_denied() -> None:
    """Not a read-only file system: the directory's permissions. Checked in a child that drops
    root (root may write anywhere)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to drop to a user the directory refuses")
    top = Path(tempfile.mkdtemp(dir="/tmp"))

    def claim() -> str:
        try:
            return open_backend(top / "store").claim_version()
        except StoreNotFoundError as err:
            return str(err)

    try:
        top.chmod(0o755)  # others may enter and read, not write
        open_backend(top / "store", create=True)
        refused = _as_user(65533, claim)
        assert refused.endswith("is not writable (permission denied); it can only be read")
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize(
    ("raw", "holder"),
    [
        (None, None),
        (b"{not json", None),
        (b"[1]", None),
        (b'"x"', None),
        (b'{"pid": 3}', {"pid": 3}),
    ],
    ids=["none", "not json", "a list", "a string", "a record"],
)
def test_a_lease_holder_is_a_record_or_none(raw: bytes | None, holder: object) -> None:
    assert lease_holder(raw) == holder


@pytest.mark.parametrize(
    ("raw", "generation", "matches"),
    [
        (b'{"token": "t", "generation": 2}', None, True),
        (b'{"token": "t", "generation": 2}', 2, True),
        (b'{"token": "t", "generation": 2}', 3, False),
        (b'{"token": "u", "generation": 2}', 2, False),
        (b'{"token": "u", "generation": 2}', None, False),
        (b"garbage", None, False),
        (None, None, False),
    ],
    ids=["token", "token and generation", "a later generation", "another token",
         "another token, any generation", "garbage", "none"],
)  # fmt: skip
def test_a_lease_matches_its_token_and_generation(
    raw: bytes | None, generation: int | None, matches: bool
) -> None:
    assert lease_matches(raw, "t", generation) is matches


# -- a view's selection and batches: every row, a parent's empty chunks, the chunks it keeps -----

SEL_VERSION, SEL_N, SEL_CHUNK = "2026-01-01-v1", 600, 32  # 19 chunks, the last of 24 rows


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images, ann = generate_corpus(SEL_N, seed=5, show_progress=False)
    path = tmp_path_factory.mktemp("selection") / "store"
    write_version(path, SEL_VERSION, {"train": {"images": images, **ann.as_dict()}},
                  {"train": SEL_CHUNK})  # fmt: skip
    return path


def _train(store: Path) -> Any:
    return open_store(store).version(SEL_VERSION)["train"]


def test_a_view_without_conditions_holds_every_row_of_a_short_last_chunk(
    small_store: Path,
) -> None:
    every = select(_train(small_store), [])
    assert every.chunk_counts().tolist() == [SEL_CHUNK] * 18 + [24]
    assert len(every) == SEL_N
    np.testing.assert_array_equal(every.indices[:], np.arange(SEL_N))


def _one_row_of_chunk_1_none_of_chunk_2(a: Any) -> np.ndarray:
    rows = np.arange(len(a["num_objects"]))  # reads the field, as a real condition does
    if a.index == 1:
        return rows == 5
    return np.full(a.rows, a.index != 2)


def test_a_narrowed_view_skips_its_parents_empty_chunks_and_keeps_its_single_rows(
    small_store: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(small_store, tmp_path / "store"))
    parent = _train(copy).where(_one_row_of_chunk_1_none_of_chunk_2)
    assert parent.chunk_counts()[:3].tolist() == [SEL_CHUNK, 1, 0]
    os.remove(copy / SEL_VERSION / "train" / "num_objects" / "c" / "2")  # 1-D: c/<i>
    child = parent.where(num_objects=range(1, 10))  # every row: never reads chunk 2
    assert child.chunk_counts().tolist() == parent.chunk_counts().tolist()
    np.testing.assert_array_equal(child.indices[:], parent.indices[:])


def test_later_conditions_are_not_evaluated_where_earlier_ones_kept_no_row(
    small_store: Path,
) -> None:
    seen: list[int] = []

    def record(a: Any) -> np.ndarray:
        seen.append(a.index)
        return np.ones(a.rows, bool)

    view = _train(small_store).where(lambda a: np.full(a.rows, a.index < 3)).where(record)
    assert len(view) == 3 * SEL_CHUNK
    assert sorted(seen) == [0, 1, 2]


def test_a_selection_keeps_the_rows_of_its_16_most_recently_used_chunks(
    small_store: Path,
) -> None:
    selected: list[int] = []

    def record(a: Any) -> np.ndarray:
        selected.append(a.index)
        return np.ones(a.rows, bool)

    view = _train(small_store).where(record)
    for chunk in [*range(16), 0, 16, 0, 16, 1]:
        view.chunk_rows(chunk)
    # 0 was used again before 16 came in: 1, the least recently used, made room
    assert selected == [*range(17), 1]


def test_the_image_only_check_names_images_past_its_first_block() -> None:
    images = np.zeros((65_540, G, G), np.uint8)  # 65,536 images per block: two blocks
    images[:, 0, :5] = 3  # a line of 5 cells: possible
    images[[2, 65_537], 0, :5] = 0  # empty: no object
    report = check_constraints(images, None)
    assert {rule: idx.tolist() for rule, idx in report.violations.items()} == {
        "object_count": [2, 65_537]
    }


def test_an_unreadable_lease_is_taken_over_at_generation_1(bucket: str) -> None:
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    fs, key = s3_fs(), store._full(lock_key(name))
    fs.pipe_file(key, b"\x00 not a lease")  # a torn or foreign object: nobody's record
    with store.version_lock(name):
        taken = json.loads(fs.cat_file(key))
        assert (taken["pid"], taken["generation"]) == (os.getpid(), 1)
    assert not fs.exists(key)  # released: removed


def _take_over(store: ObjectStore, name: str) -> dict[str, Any]:
    """Write over ``name``'s lease the record of a live writer on another host (one that
    took the version over); return that record."""
    record = {"host": "elsewhere", "pid": 1, "token": "theirs", "generation": 2,
              "renewed": time.time()}  # fmt: skip
    s3_fs().pipe_file(store._full(lock_key(name)), json.dumps(record).encode())
    return record


def test_a_dead_writers_lease_is_taken_over_at_its_next_generation(bucket: str) -> None:
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    fs, key = s3_fs(), store._full(lock_key(name))
    dead = {"host": "elsewhere", "pid": 1, "token": "theirs", "generation": 3, "renewed": 0.0}
    fs.pipe_file(key, json.dumps(dead).encode())  # not renewed for 56 years: stale
    with store.version_lock(name):
        taken = json.loads(fs.cat_file(key))
        assert (taken["pid"], taken["generation"]) == (os.getpid(), 4)


def test_a_prefix_whose_zarr_json_is_not_a_gridstore_root_is_refused(bucket: str) -> None:
    s3_fs().pipe_file(f"{bucket}/other/zarr.json", b'{"zarr_format": 3, "node_type": "group"}')
    with pytest.raises(StoreNotFoundError, match="not a gridstore store's root"):
        ObjectStore.open(f"s3://{bucket}/other")


def test_a_released_lease_that_another_process_took_over_is_left_to_it(bucket: str) -> None:
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    fs, key = s3_fs(), store._full(lock_key(name))
    with store.version_lock(name):
        other = _take_over(store, name)
    assert json.loads(fs.cat_file(key)) == other


def test_a_live_writer_keeps_renewing_its_lease(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDSTORE_S3_LEASE_SECONDS", "0.5")  # renewed every 0.05 s
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    fs, key = s3_fs(), store._full(lock_key(name))
    with store.version_lock(name):
        seen = []
        for _ in range(3):
            time.sleep(0.25)
            seen.append(json.loads(fs.cat_file(key)))
    assert seen[0]["renewed"] < seen[1]["renewed"] < seen[2]["renewed"]
    assert {(s["pid"], s["generation"]) for s in seen} == {(os.getpid(), 1)}


def test_a_lease_whose_renewal_fails_outright_is_given_up(s3_endpoint: str) -> None:
    fs = s3_fs()
    bucket = f"gone-{os.getpid()}-{time.monotonic_ns()}"
    fs.mkdir(bucket)
    lease = Lease(fs, f"{bucket}/locks/v", "v", renew_seconds=0.05, stale_seconds=1)
    lease.acquire()
    fs.rm(bucket, recursive=True)  # the bucket gone: a renewal fails, and no retry helps
    assert lease._thread is not None
    lease._thread.join(timeout=3)
    assert not lease._thread.is_alive()  # it stopped renewing
    assert lease.lost is True
    with pytest.raises(StoreLockedError):
        lease.verify()
    lease.release()


def test_a_writer_whose_lease_was_taken_over_stops_at_check_held(bucket: str) -> None:
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    with store.version_lock(name):
        store.check_held(name)  # still its own: nothing raised
        _take_over(store, name)
        with pytest.raises(StoreLockedError, match="taken over"):
            store.check_held(name)


def test_an_object_store_names_its_url_and_has_only_its_objects(bucket: str) -> None:
    url = f"s3://{bucket}/datasets"
    store = ObjectStore.open(url, create=True)
    assert repr(store) == f"ObjectStore('{url}')"
    assert (store.has("zarr.json"), store.has("missing.json")) == (True, False)


def test_opening_a_missing_object_store_creates_nothing_unless_asked(bucket: str) -> None:
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        ObjectStore.open(f"s3://{bucket}/missing")
    assert s3_fs().ls(bucket) == []


def test_a_task_of_a_writer_whose_lease_was_taken_over_records_nothing(bucket: str) -> None:
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    fs = s3_fs()
    theirs = store._full(f"{staged_key(name)}/train/images/c.0.0.0")  # the taker's work
    with store.version_lock(name):
        fence = store.fence(name)
        assert fence is not None
        _take_over(store, name)
        fs.pipe_file(theirs, b"written by the writer that took the version over")
        with pytest.raises(StoreLockedError, match="taken over"):
            store.record_task(name, 0, {"images": 1}, {}, fence=fence)
        assert store.task_results(name) == {}
    # the taker has not published yet: its staged chunks are left alone
    assert fs.cat_file(theirs) == b"written by the writer that took the version over"


def test_a_writer_fenced_out_after_the_taker_published_clears_its_late_writes(
    bucket: str, faults: FaultProxy
) -> None:
    """A stalled writer's chunk uploads may still be in flight when it finds its lease taken
    over and the version published by the taker: it waits for them, then clears the staging
    area, so that none lands there afterwards. The proxy holds the chunk PUT for 2 s."""
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    name = store.claim_version()
    fs = s3_fs()
    shapes = {"train": {"images": ((20, 16, 16), (20, 16, 16), "uint8")}}
    with store.version_lock(name):
        fence = store.fence(name)
        assert fence is not None
        store.create_arrays(name, {"plan": {"compression": "default"}}, shapes)
        faults.set_mode("delay", delay=2.0, matching=r"^PUT /[^?]*/c\.\d")
        finished_before = faults.done
        store.write_chunk(name, "train", "images", 0, np.zeros((20, 16, 16), np.uint8))
        # meanwhile the taker holds the lease and has published the version
        _take_over(store, name)
        done = {"zarr_format": 3, "node_type": "group", "attributes": {"state": "complete"}}
        fs.pipe_file(store._full(f"{name}/zarr.json"), json.dumps(done).encode())
        with pytest.raises(StoreLockedError, match="taken over"):
            store.record_task(name, 0, {"images": 20}, {}, fence=fence)
    assert faults.injected["delay"] == 1
    # every request since the mode was set has been answered, the held chunk PUT too
    assert faults.wait_until(lambda: faults.done - finished_before >= faults.requests, 30)
    assert s3_objects(store._full(staged_key(name))) == []


# -- a version's metadata: its bytes, chunks and rate add up ------------------------------------


def test_a_quiet_run_draws_no_bar_and_its_metadata_adds_up_bytes_chunks_and_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = Plan(num_images=6_000, seed=3, compression="max")  # both kinds of codec
    began = time.perf_counter()
    meta = create_version(tmp_path / "store", plan, engine="serial", show_progress=False)
    took = time.perf_counter() - began
    assert capsys.readouterr().err == ""  # no progress bar asked for, none drawn
    root = tmp_path / "store" / meta["version"]
    g, k = plan.config.grid_size, plan.config.max_objects
    # images and instance map G*G bytes each, num_objects 1, per object 1+1+1+2+4
    raw = plan.num_images * (2 * g * g + 1 + 9 * k)
    files = [p for p in root.rglob("*") if p.is_file()]
    on_disk = sum(p.stat().st_size for p in files) - (root / "zarr.json").stat().st_size
    storage = meta["storage"]
    assert (storage["raw_bytes"], storage["bytes_on_disk"]) == (raw, on_disk)
    assert storage["compression_ratio"] == pytest.approx(raw / on_disk)
    assert storage["image_bytes_per_image"] == pytest.approx(
        storage["image_bytes_on_disk"] / plan.num_images
    )
    assert 0 < storage["image_bytes_on_disk"] < on_disk
    run = meta["generation"]
    assert run["images_per_second"] == pytest.approx(plan.num_images / run["wall_seconds"])
    assert 0 < run["wall_seconds"] < took  # the tasks' time, within the call's
    # the phases timed before the metadata was written: the tasks, then the merge
    assert list(run["phase_seconds"]) == ["tasks", "merging"]
    assert run["phase_seconds"]["tasks"] == run["wall_seconds"]
    assert 0 < sum(run["phase_seconds"].values()) < took
    assert run["workers"] == default_workers()
    chunks = {s: len(list((root / s / "images").glob("c.*"))) for s in SPLITS}
    assert meta["file_format"]["chunks"] == chunks
    assert (
        meta["file_format"]["zarr_format"]
        == json.loads((root / "zarr.json").read_bytes())["zarr_format"]
    )
    described = dict(part.split(": ") for part in meta["file_format"]["compression"].split(", "))
    arrays = [p for p in (root / "train").iterdir() if p.is_dir() and p.name != "bbox"]
    assert len(arrays) == 8  # images, instance_map and the six per-object arrays
    for array in arrays:  # "*" names the codec of the arrays not named
        text = described.get(array.name, described.get("*"))
        codecs = json.loads((array / "zarr.json").read_bytes())["codecs"]
        assert text in [_describe_codec(c) for c in codecs], (array.name, text, codecs)


def _describe_codec(codec: dict[str, Any]) -> str:
    """A zarr.json codec as the metadata's ``compression`` names it."""
    config = codec.get("configuration", {})
    if codec["name"] == "zstd":
        return f"zstd level {config['level']}"
    return f"{codec['name']} {config.get('cname')} level {config.get('clevel')} {config.get('shuffle')}"


# -- discarding: only what is being written --------------------------------------------------


def test_discard_refuses_a_complete_version_and_delete_leaves_nothing_of_it(
    tmp_path: Path,
) -> None:
    meta = create_version(tmp_path / "store", Plan(num_images=2_000, seed=1), engine="serial",
                          show_progress=False)  # fmt: skip
    name, root = meta["version"], tmp_path / "store"
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    store = open_backend(root)
    with pytest.raises(VersionNotFoundError):
        store.discard(name)
    assert store.versions() == [name]
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    store.delete(name)
    assert store.versions() == []
    # files, records, claim: only its tombstone stays, so that its name is never reused
    assert [p for p in root.rglob("*") if name in str(p)] == [root / TOMBSTONES / name]


def test_discarding_an_interrupted_version_leaves_nothing_of_it(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_backend(root, create=True)
    plan = Plan(num_images=2_000, seed=1)
    name = store.claim_version()
    store.create_arrays(name, {"plan": plan.to_dict()}, plan.array_shapes())
    assert [p for p in root.rglob("*") if p.is_file() and name in str(p.parent)]  # staged
    staged = store.staged()
    assert [s.name for s in staged] == [name]
    with pytest.raises(dataclasses.FrozenInstanceError):  # a record, not a handle to change
        staged[0].writing = True  # type: ignore[misc]
    store.discard(name)
    assert store.staged() == []
    assert [p for p in root.rglob("*") if name in str(p)] == []  # arrays, plan, claim, lock


# -- the local backend's primitives --------------------------------------------------------------


def test_a_local_store_names_its_path_and_has_only_its_files(tmp_path: Path) -> None:
    path = tmp_path / "s"
    store = LocalStore.open(path, create=True)
    assert repr(store) == f"LocalStore('{path}')"
    assert (store.has("zarr.json"), store.has("missing.json")) == (True, False)


def test_opening_a_missing_local_store_creates_nothing_unless_asked(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        LocalStore.open(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_an_exclusive_create_keeps_the_first_writers_bytes(tmp_path: Path) -> None:
    store = LocalStore.open(tmp_path / "s", create=True)
    assert store._create("claim", b"first") is True
    assert store._create("claim", b"second") is False
    assert (tmp_path / "s" / "claim").read_bytes() == b"first"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["claim", "zarr.json"]


def test_a_copy_that_cannot_land_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = LocalStore.open(tmp_path / "s", create=True)
    (tmp_path / "s" / "src").write_bytes(b"chunk")
    (tmp_path / "s" / "dst" / "inside").mkdir(parents=True)  # a directory: replace fails
    with pytest.raises(IsADirectoryError):
        store._copy([("src", "dst")])
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["dst", "src", "zarr.json"]


def test_a_store_not_yet_created_has_the_free_bytes_of_its_disk(tmp_path: Path) -> None:
    free = LocalStore(tmp_path / "a" / "b").free_bytes()
    assert isinstance(free, int)
    assert abs(free - shutil.disk_usage(tmp_path).free) < 1 << 30  # others write meanwhile


def _documented_order(
    n: int, chunk: int, *, seed: int, epoch: int, rank: int, world: int, window: int
) -> np.ndarray:
    """The rows of one rank's shuffled epoch, as SplitReader.batches documents them: chunks
    permuted by ``(seed, epoch)``, ``order[rank::world]``, ``window`` chunks at a time, each
    window's rows permuted by ``(seed, epoch, rank, world, 1, w)``."""
    order = np.random.default_rng([seed, epoch, 0]).permutation(-(-n // chunk))[rank::world]
    rows = []
    for w, i in enumerate(range(0, len(order), window)):
        held = [np.arange(c * chunk, min(c * chunk + chunk, n)) for c in order[i : i + window]]
        idx = np.concatenate(held)
        rows.append(
            idx[np.random.default_rng([seed, epoch, rank, world, 1, w]).permutation(len(idx))]
        )
    return np.concatenate(rows)


@pytest.mark.parametrize(("rank", "world"), [(0, 1), (1, 2)])
def test_a_shuffled_epoch_is_the_documented_order(small_store: Path, rank: int, world: int) -> None:
    split = _train(small_store)
    got = list(split.batches(48, seed=3, epoch=2, window_chunks=3, rank=rank, world_size=world))
    expected = _documented_order(SEL_N, SEL_CHUNK, seed=3, epoch=2, rank=rank, world=world,
                                 window=3)  # fmt: skip
    assert [len(b) for b in got[:-1]] == [48] * (len(got) - 1)
    np.testing.assert_array_equal(np.concatenate(got), split.images[:][expected])


def test_a_version_without_a_lock_file_is_deleted_whole(small_store: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(small_store, tmp_path / "store"))  # written by hand: no lock
    store = open_backend(copy)
    assert not (copy / lock_key(SEL_VERSION)).exists()
    store.delete(SEL_VERSION)
    assert store.versions() == []
    # only its tombstone stays, so that its name is never reused
    assert [p for p in copy.rglob("*") if SEL_VERSION in str(p)] == [
        copy / TOMBSTONES / SEL_VERSION
    ]


def test_a_commit_short_of_chunks_names_three_and_counts_the_rest(tmp_path: Path) -> None:
    store = open_backend(tmp_path / "store", create=True)
    plan = Plan(num_images=2_000, seed=1)  # one chunk per array
    shapes = plan.array_shapes()
    name = store.claim_version()
    store.create_arrays(name, {"plan": plan.to_dict()}, shapes)
    three = {"train": {a: shapes["train"][a] for a in ("images", "instance_map", "num_objects")}}
    chunks = ["train/images/c.0.0.0", "train/instance_map/c.0.0.0", "train/num_objects/c.0"]
    with pytest.raises(
        VersionIncompleteError, match=re.escape(f"3 chunk(s) ({', '.join(chunks)});")
    ):
        store.commit(name, {}, three)
    four = {"train": {**three["train"], "object_type": shapes["train"]["object_type"]}}
    with pytest.raises(
        VersionIncompleteError, match=re.escape(f"({', '.join(chunks)} and 1 more)")
    ):
        store.commit(name, {}, four)
    every = sum(len(arrays) for arrays in shapes.values())
    with pytest.raises(VersionIncompleteError) as err:
        store.commit(name, {}, shapes)
    assert re.search(rf"missing {every} chunk\(s\) \([^,]+, [^,]+, [^,]+ and {every - 3} more\)",
                     str(err.value))  # fmt: skip
    assert store.versions() == []


def test_arrays_staged_again_under_a_name_are_written_with_their_new_codecs(
    tmp_path: Path,
) -> None:
    """`create_arrays` replaces what was staged under the name: a store object that wrote
    chunks before writes the new arrays' chunks with the new arrays' codecs (images: blosc by
    default, plain zstd at "max")."""
    import zarr

    store = open_backend(tmp_path / "store", create=True)
    name = store.claim_version()
    shapes = {"train": {"images": ((20, 16, 16), (20, 16, 16), "uint8")}}
    data = (np.arange(20 * 16 * 16) % 10).astype(np.uint8).reshape(20, 16, 16)
    for compression in ("default", "max"):
        store.create_arrays(name, {"plan": {"compression": compression}}, shapes)
        # nothing of the arrays staged before: no chunk, no task record
        assert not [k for k in store.staged_sizes(name) if not k.endswith("zarr.json")]
        assert not store.task_indices(name)
        store.write_chunk(name, "train", "images", 0, data)
        store.record_task(name, 0, {"done": True}, {})
        path = tmp_path / "store" / staged_key(name) / "train" / "images"
        np.testing.assert_array_equal(zarr.open_array(path, mode="r")[:], data)


def test_arrays_staged_again_under_a_name_are_written_in_their_new_chunk_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for codecs: a store object that looked at arrays with "/" keys (a version staged
    by a gridstore before issue 26) looks for and writes the chunks of the arrays staged
    again under the name in their "." keys, where zarr reads them."""
    import zarr

    from gridstore.storage import layout

    store = open_backend(tmp_path / "store", create=True)
    name = store.claim_version()
    shapes = {"train": {"images": ((20, 16, 16), (20, 16, 16), "uint8")}}
    data = (np.arange(20 * 16 * 16) % 10).astype(np.uint8).reshape(20, 16, 16)
    path = tmp_path / "store" / staged_key(name) / "train" / "images"
    for separator in ("/", "."):
        with monkeypatch.context() as m:
            m.setattr(layout, "CHUNK_KEY_SEPARATOR", separator)
            store.create_arrays(name, {"plan": {"compression": "default"}}, shapes)
        key = separator.join(["c", "0", "0", "0"])
        assert store.missing_keys(name, shapes) == [f"train/images/{key}"]
        store.write_chunk(name, "train", "images", 0, data)
        assert (path / key).is_file()
        np.testing.assert_array_equal(zarr.open_array(path, mode="r")[:], data)


def test_a_claimed_name_without_arrays_yet_is_unfinished_not_missing(tmp_path: Path) -> None:
    store = open_backend(tmp_path / "store", create=True)
    name = store.claim_version()  # a writer between its claim and its arrays
    with pytest.raises(VersionIncompleteError, match=f"version '{name}' .* is unfinished; resume"):
        store.metadata(name)


def test_a_badly_formed_name_is_refused_before_anything_is_claimed(tmp_path: Path) -> None:
    store = open_backend(tmp_path / "s", create=True)
    with pytest.raises(ConfigError, match=r"must look like YYYY-MM-DD-vN.*'2026-1-1-v1'"):
        store.claim_version("2026-1-1-v1")
    assert not (tmp_path / "s" / claim_key("2026-1-1-v1")).exists()


def test_a_commit_removes_its_task_records_and_keeps_its_claim(tmp_path: Path) -> None:
    plan = Plan(num_images=2_000, seed=1)
    name = create_version(tmp_path / "s", plan, engine="serial", show_progress=False)["version"]
    assert not (tmp_path / "s" / tasks_key(name)).exists()
    assert (tmp_path / "s" / claim_key(name)).is_file()  # the name stays taken


def test_a_commit_on_object_storage_copies_every_object_by_default(bucket: str) -> None:
    """`commit` without ``copied`` (nothing was copied before it) publishes the chunks too."""
    store = ObjectStore.open(f"s3://{bucket}/datasets", create=True)
    shapes = {"train": {"images": ((20, 16, 16), (20, 16, 16), "uint8")}}
    name = store.claim_version()
    store.create_arrays(name, {"plan": {}}, shapes)
    data = np.arange(20 * 16 * 16, dtype=np.uint8).reshape(20, 16, 16)
    store.write_chunk(name, "train", "images", 0, data)
    with store.version_lock(name):
        store.commit(name, {"version": name}, shapes)
    assert store.versions() == [name]
    assert store.chunk_sizes(name, "train", "images").keys() == {0}  # the chunk was published


def test_a_name_another_writer_claimed_meanwhile_is_not_given_out(tmp_path: Path) -> None:
    """Two writers that both saw a name free: the claim is exclusive, so only the first gets
    it, and `claim_version` hands the second the next name."""
    first = open_backend(tmp_path / "store", create=True)
    second = open_backend(tmp_path / "store")
    assert first._claim("2026-01-01-v1") is True
    assert second._claim("2026-01-01-v1") is False  # the other writer's claim stands
    record = json.loads((tmp_path / "store" / claim_key("2026-01-01-v1")).read_bytes())
    assert record["writer"] == first.token
    day = dt.date(2026, 1, 1)
    assert second.claim_version(today=day) == "2026-01-01-v2"


def test_a_name_claimed_between_the_listing_and_the_create_gives_the_next_one(
    tmp_path: Path,
) -> None:
    """The race itself: this writer listed the claims, then another claimed v1 before this
    one's exclusive create. The create fails and the writer takes v2, the next name (not
    v3: names are consecutive). Its listing is the one thing made stale here."""

    class ListedTooEarly(LocalStore):
        def _claims(self) -> list[str]:
            return []  # listed before the other writer's claim landed

    first = open_backend(tmp_path / "store", create=True)
    assert first._claim("2026-01-01-v1") is True
    second = ListedTooEarly.open(tmp_path / "store")
    assert second.claim_version(today=dt.date(2026, 1, 1)) == "2026-01-01-v2"


def test_a_version_staged_with_slash_keys_is_checked_in_its_own_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version staged by a gridstore before issue 26 ("/" chunk keys) and committed by
    today's: the chunks it lacks are named, and looked for, in its own encoding."""
    from gridstore.storage import layout

    plan = Plan(num_images=2_000, seed=1)  # one chunk per array
    shapes = plan.array_shapes()
    store = open_backend(tmp_path / "store", create=True)
    with monkeypatch.context() as m:
        m.setattr(layout, "CHUNK_KEY_SEPARATOR", "/")  # what gridstore wrote before
        name = store.claim_version()
        store.create_arrays(name, {"plan": plan.to_dict()}, shapes)
    missing = open_backend(tmp_path / "store").missing_keys(name, shapes)
    every = sum(len(arrays) for arrays in shapes.values())
    assert len(missing) == every
    assert "train/images/c/0/0/0" in missing and "train/num_objects/c/0" in missing
    assert not [k for k in missing if "/c." in k]


def test_a_chunk_copied_into_a_version_staged_with_slash_keys_lands_at_its_own_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grow staged by a gridstore before issue 26 ("/" keys, whose chunk files sit in
    directories of their own) and resumed by today's copies its source's chunks there."""
    from gridstore.storage import layout

    plan = Plan(num_images=2_000, seed=1)
    source = create_version(tmp_path / "store", plan, engine="serial", show_progress=False)
    store = open_backend(tmp_path / "store")
    with monkeypatch.context() as m:
        m.setattr(layout, "CHUNK_KEY_SEPARATOR", "/")
        name = store.claim_version()
        store.create_arrays(name, {"plan": plan.to_dict()}, plan.array_shapes())
    open_backend(tmp_path / "store").copy_chunk(source["version"], name, "train", 0)
    staged = tmp_path / "store" / staged_key(name) / "train"
    assert (staged / "images" / "c" / "0" / "0" / "0").is_file()
    assert (staged / "num_objects" / "c" / "0").is_file()


def test_a_views_batches_keep_a_chunk_holding_a_single_row(small_store: Path) -> None:
    view = _train(small_store).where(_one_row_of_chunk_1_none_of_chunk_2)
    rows = [b["num_objects"] for b in view.batches(40, fields=("num_objects",))]
    assert len(view) == SEL_CHUNK + 1 + 15 * SEL_CHUNK + 24  # chunks 0, 1, 3..17 and 18
    assert sum(len(r) for r in rows) == len(view)


# -- validate: each damage to a version's metadata is named ------------------------------------


@pytest.fixture(scope="module")
def one_version(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("validate") / "store"
    meta = create_version(root, Plan(num_images=2_000, seed=4), engine="serial",
                          show_progress=False)  # fmt: skip
    return root, meta["version"]


def _attrs(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def damage(version: Path) -> None:
        doc = json.loads((version / "zarr.json").read_bytes())
        edit(doc["attributes"])
        (version / "zarr.json").write_text(json.dumps(doc))

    return damage


def _array(split: str, field: str, edit: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def damage(version: Path) -> None:
        path = version / split / field / "zarr.json"
        edited = edit(json.loads(path.read_bytes()))
        path.write_text(json.dumps(edited) if edited is not None else "{")  # None: torn

    return damage


def _both_damages(*damages: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(version: Path) -> None:
        for one in damages:
            one(version)

    return damage


def _drop_crc(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "codecs": [c for c in doc["codecs"] if c["name"] != "crc32c"]}


METADATA_DAMAGES = [
    ("another version's name", _attrs(lambda a: a.update(version="2000-01-01-v9")), "metadata",
     "field version '2000-01-01-v9' is not"),
    ("a plan that cannot be rebuilt", _attrs(lambda a: a["generation_params"].update(seed="x")),
     "structure", "cannot rebuild the plan"),
    ("chunk_images changed", _attrs(lambda a: a["file_format"]["chunk_images"].update(train=7)),
     "structure", "file_format.chunk_images is not"),
    ("no train count", _attrs(lambda a: a["dataset_info"].pop("train_count")), "structure",
     "train: metadata lacks what its arrays should be"),
    ("an unreadable array", _array("val", "images", lambda d: None), "structure",
     "val/images unreadable"),
    ("no crc32c codec", _array("train", "num_objects", _drop_crc), "structure",
     "train/num_objects: no crc32c codec"),
    ("two unreadable arrays of a split",
     _both_damages(_array("val", "images", lambda d: None), _array("val", "object_bbox", lambda d: None)),
     "structure", "val/object_bbox unreadable"),
    ("no train count and an unreadable array after it",
     _both_damages(_attrs(lambda a: a["dataset_info"].pop("train_count")),
                   _array("train", "object_bbox", lambda d: None)),
     "structure", "train/object_bbox unreadable"),
    ("cross-split repeats claimed", _attrs(lambda a: a["duplicates"].update(cross_split=5)),
     "duplicates", "metadata duplicates.cross_split is 5, expected 0"),
    ("a train count the plan does not give",
     _attrs(lambda a: a["dataset_info"].update(train_count=a["dataset_info"]["train_count"] + 1)),
     "split_counts", "dataset_info counts ["),
    ("repeats within a split miscounted", _attrs(lambda a: a["duplicates"].update(val_within=2)),
     "duplicates", "differ from the metadata's"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "check", "note"), [d[1:] for d in METADATA_DAMAGES],
                         ids=[d[0] for d in METADATA_DAMAGES])  # fmt: skip
def test_validate_names_each_damage_to_a_versions_metadata(
    one_version: tuple[Path, str], tmp_path: Path, damage: Callable[[Path], None], check: str,
    note: str,
) -> None:  # fmt: skip
    root, name = one_version
    copy = Path(shutil.copytree(root, tmp_path / "store"))
    damage(copy / name)
    report = validate_version(copy, name, engine="serial")
    assert not report.check(check).ok
    assert note in report.check(check).detail, report.check(check).detail
    if "plan" in note:  # nothing that needs the plan is claimed as checked
        for other in ("constraints", "instance_maps", "regeneration", "duplicates"):
            assert "not checked: cannot rebuild the plan" in report.check(other).detail


def test_a_views_chunks_without_rows_are_dealt_to_no_rank_and_never_read(
    small_store: Path, tmp_path: Path
) -> None:
    """Chunks 1, 4, 7, ... hold no row of the view; their files are gone, and two ranks still
    read the whole view between them."""
    copy = Path(shutil.copytree(small_store, tmp_path / "store"))
    view = _train(copy).where(lambda a: np.full(a.rows, a.index % 3 != 1))
    empty = np.flatnonzero(view.chunk_counts() == 0)
    assert empty.tolist() == list(range(1, 19, 3))
    for c in empty:
        os.remove(copy / SEL_VERSION / "train" / "images" / "c" / str(c) / "0" / "0")
    seen = [
        np.concatenate(list(view.batches(7, rank=r, world_size=2, window_chunks=2))) for r in (0, 1)
    ]
    assert sum(map(len, seen)) == len(view)


def test_a_worker_reads_only_the_windows_of_its_own_steps(
    small_store: Path, tmp_path: Path
) -> None:
    """A chunk per batch and per window, in order: the worker of the even steps never reads
    chunk 1 (its file is gone)."""
    copy = Path(shutil.copytree(small_store, tmp_path / "store"))
    os.remove(copy / SEL_VERSION / "train" / "images" / "c" / "1" / "0" / "0")
    split = _train(copy)
    even = list(split.batches(SEL_CHUNK, shuffle=False, window_chunks=1, step_stride=2))
    assert [len(b) for b in even] == [SEL_CHUNK] * 9 + [SEL_N % SEL_CHUNK]  # steps 0, 2, ..., 18


@pytest.mark.parametrize("kwargs", [{}, {"seed": 2}], ids=["defaults", "seed-2"])
def test_num_batches_counts_what_batches_yields_for_each_rank(
    small_store: Path, kwargs: dict[str, int]
) -> None:
    """The short last chunk goes to one rank of two, as the seed and the epoch (their defaults,
    or seed 2) deal it: each rank's count is what it yields."""
    split = _train(small_store)
    counts = [split.num_batches(8, rank=r, world_size=2, **kwargs) for r in (0, 1)]
    yielded = [len(list(split.batches(8, rank=r, world_size=2, **kwargs))) for r in (0, 1)]
    assert counts == yielded
    assert sorted(counts) in ([35, 40], [36, 39])  # 280 + 320 rows, or 312 + 288


def test_fields_chunked_differently_are_refused_in_one_line(
    small_store: Path, tmp_path: Path
) -> None:
    import zarr

    copy = Path(shutil.copytree(small_store, tmp_path / "store"))
    path = copy / SEL_VERSION / "train" / "num_objects"
    data = zarr.open_array(str(path), mode="r")[:]
    shutil.rmtree(path)
    zarr.create_array(str(path), data=data, chunks=(SEL_CHUNK // 2,))
    with pytest.raises(GridstoreError, match="are chunked differently"):
        list(_train(copy).batches(8, fields=("images", "num_objects")))


def test_a_unique_candidate_task_of_a_writer_fenced_out_stores_nothing(bucket: str) -> None:
    from gridstore.write.unique import CANDIDATES, candidate_task, schedule

    url = f"s3://{bucket}/datasets"
    store = ObjectStore.open(url, create=True)
    name = store.claim_version()
    plan = Plan(num_images=100, unique=True)
    with store.version_lock(name):
        fence = store.fence(name)
        assert fence is not None
        _take_over(store, name)
        with pytest.raises(StoreLockedError, match="taken over"):
            candidate_task(url, name, json.dumps(plan.to_dict()), fence, schedule(plan), {}, 0)
        assert list(store.task_indices(name, CANDIDATES)) == []


def test_publishing_and_deleting_sync_the_directories_of_their_renames(
    tmp_path: Path,
    fsyncs: list[str],  # noqa: F811 - the fixture
) -> None:
    """A rename survives a power cut once the directories it changed are synced: publishing
    (staging area -> store) syncs both, then a delete (store -> trash) syncs the store, after
    its tombstone (written durably: no commit flushes it later)."""
    synced = fsyncs
    store = tmp_path / "s"
    name = create_version(store, Plan(num_images=100), engine="serial", show_progress=False)[
        "version"
    ]
    assert synced[-2:] == [str(store), str((store / staged_key(name)).parent)]
    synced.clear()
    open_backend(store).delete(name)
    assert not (store / name).exists() and synced[-1] == str(store)
    # before it, the tombstone that keeps the name from being given again: file and directory
    assert [path.startswith(str(store / TOMBSTONES)) for path in synced] == [True, True, False]


def test_tails_give_one_entry_per_key_and_none_for_a_missing_one(tmp_path: Path) -> None:
    store = open_backend(tmp_path / "s", create=True)
    (tmp_path / "s" / "a").write_bytes(b"123456")
    (tmp_path / "s" / "b").write_bytes(b"xy")  # shorter than the tail: all of it
    assert store.tails(["a", "gone", "b"]) == [b"3456", None, b"xy"]
    ranges = [("a", 1, 2), ("gone", 0, 1), ("b", 0, 1)]
    opened = len(os.listdir("/proc/self/fd"))
    assert store._get_ranges(ranges) == [b"23", None, b"x"]  # type: ignore[attr-defined]
    store.tails(["a", "b"])
    assert len(os.listdir("/proc/self/fd")) == opened  # every file it opened is closed


def test_a_local_version_being_written_is_listed_as_writing(tmp_path: Path) -> None:
    store = open_backend(tmp_path / "s", create=True)
    name = store.claim_version()
    with store.version_lock(name):
        assert [(v.name, v.writing) for v in store.staged()] == [(name, True)]
    assert [(v.name, v.writing) for v in store.staged()] == [(name, False)]


def test_a_delete_takes_the_version_out_of_the_store_before_removing_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rename takes each version out first: a delete killed part-way never leaves a
    half-removed version in the store (two versions, two deletes: the trash is reused)."""
    store = tmp_path / "s"
    names = [
        create_version(store, Plan(num_images=100, seed=s), engine="serial",
                       show_progress=False)["version"]
        for s in (1, 2)
    ]  # fmt: skip
    seen: list[bool] = []  # at each removal: is the version being deleted still in the store?
    real = shutil.rmtree

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        seen.append((store / deleting[0]).exists())
        real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    for name in names:
        seen.clear()
        deleting = [name]
        open_backend(store).delete(name)
        assert seen and not any(seen) and not (store / name).exists()


def test_a_version_published_meanwhile_under_its_name_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer's version appears between the check and the rename: the rename fails,
    and so does the commit, in one line, leaving the other version as it is."""
    store, name = tmp_path / "s", "2026-01-01-v1"
    real = os.rename

    def rename(src: Any, dst: Any) -> None:
        if Path(dst) == store / name:
            (store / name / "theirs").mkdir(parents=True)  # published just now
        real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(VersionExistsError, match=r"already exists .*; not overwritten"):
        create_version(store, Plan(num_images=100), name=name, engine="serial",
                       show_progress=False)  # fmt: skip
    assert [p.name for p in (store / name).iterdir()] == ["theirs"]


def test_a_store_that_cannot_be_created_is_one_line_naming_why(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreNotFoundError, match=r"^cannot create store '.*': Not a directory"):
        open_backend(tmp_path / "a-file" / "store", create=True)
