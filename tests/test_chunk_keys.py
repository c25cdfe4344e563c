"""Chunk keys without a directory per chunk (issue 26), and versions of the layout before.

New versions key their chunks ``<array>/c.<i>.0.0`` (zarr v3's default encoding,
"." separator): a task writes files into its arrays' directories and creates
none. Versions written before (``<array>/c/<i>/0/0``) keep reading, validating
and growing, to the bytes a fresh version has, on local disk and on S3.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import zarr

from gridstore.plan import SPLITS, Plan
from gridstore.read import open_store
from gridstore.storage import FIELDS, layout
from gridstore.validate.version import validate_version
from gridstore.write.versions import create_version, grow_version
from tests.conftest import version_chunks
from tests.helpers_s3 import bucket_fixture, s3_endpoint_fixture, s3_fs  # noqa: F401

SMALL, GROWN = 7000, 12_000  # 2 tasks, then 3 (one routing block per chunk)
RUN = {"engine": "serial", "show_progress": False}


def _plan(n: int) -> Plan:
    return Plan(num_images=n, seed=5, blocks_per_chunk=1)


def _flat(chunks: dict[str, bytes]) -> dict[str, bytes]:
    """Chunks by key in the new form: ``images/c/3/0/0`` -> ``images/c.3.0.0``."""
    return {re.sub(r"/c/(.*)$", lambda m: "/c." + m[1].replace("/", "."), k): v
            for k, v in chunks.items()}  # fmt: skip


def _directories(root: Path) -> int:
    return sum(len(dirs) for _, dirs, _ in os.walk(root))


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """An old-layout version (written with "/" keys), and fresh versions of both sizes."""
    top = tmp_path_factory.mktemp("keys")
    out = {}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(layout, "CHUNK_KEY_SEPARATOR", "/")  # what gridstore wrote before issue 26
        out["old"] = (top / "old", create_version(top / "old", _plan(SMALL), **RUN)["version"])
    for n in (SMALL, GROWN):
        out[n] = (top / str(n), create_version(top / str(n), _plan(n), **RUN)["version"])
    return out


def test_new_versions_key_chunks_with_dots_and_create_no_directory_per_task(
    stores: dict,
) -> None:
    (small, small_name), (grown, grown_name) = stores[SMALL], stores[GROWN]
    meta = json.loads((small / small_name / "train" / "images" / "zarr.json").read_bytes())
    assert meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "."}}
    assert sorted(p.name for p in (grown / grown_name / "train" / "images").iterdir()) == [
        "c.0.0.0", "c.1.0.0", "c.2.0.0", "zarr.json",
    ]  # fmt: skip
    # the version, its splits, their arrays and bbox labels: however many tasks wrote it
    fixed = len(SPLITS) * (1 + len(FIELDS) + 1)
    assert _directories(small / small_name) == _directories(grown / grown_name) == fixed
    # zarr reads the dotted keys as gridstore wrote them
    arr = zarr.open_array(grown / grown_name / "train" / "images", mode="r")
    split = open_store(grown).version(grown_name)["train"]
    np.testing.assert_array_equal(arr[:], split.images[:])


def test_a_version_of_the_layout_before_reads_validates_and_grows_to_fresh_bytes(
    stores: dict,
) -> None:
    store, old = stores["old"]
    assert (store / old / "train" / "images" / "c" / "1" / "0" / "0").is_file()  # the old keys
    fresh_small, fresh_name = stores[SMALL]
    want = open_store(fresh_small).version(fresh_name)
    got = open_store(store).version(old)
    for split in SPLITS:
        np.testing.assert_array_equal(got[split].images[:], want[split].images[:])
    assert validate_version(store, old, full=True).ok
    assert _flat(version_chunks(store, old)) == version_chunks(fresh_small, fresh_name)

    grown = grow_version(store, old, GROWN, **RUN)["version"]
    fresh, fresh_grown = stores[GROWN]
    assert version_chunks(store, grown) == version_chunks(fresh, fresh_grown)  # new keys
    # the source's chunk files are shared under their new names, not rewritten
    source = store / old / "train" / "images" / "c" / "0" / "0" / "0"
    assert source.stat().st_ino == (store / grown / "train" / "images" / "c.0.0.0").stat().st_ino
    assert validate_version(store, grown, full=True).ok


def _s3_chunks(url: str, version: str) -> dict[str, str]:
    """Each chunk object's ETag (the MD5 of its bytes) by key, from one listing."""
    fs, prefix = s3_fs(), f"{url.removeprefix('s3://')}/{version}/"
    found = fs.find(prefix, detail=True)
    return {p[len(prefix) :]: info["ETag"] for p, info in found.items() if re.search(r"/c[./]", p)}


def test_on_s3_an_old_layout_version_validates_and_grows_to_fresh_bytes(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_url, new_url = f"s3://{bucket}/old", f"s3://{bucket}/new"
    with monkeypatch.context() as m:
        m.setattr(layout, "CHUNK_KEY_SEPARATOR", "/")
        old = create_version(old_url, _plan(SMALL), **RUN)["version"]
    assert "train/images/c/1/0/0" in _s3_chunks(old_url, old)
    assert validate_version(old_url, old, full=True).ok
    grown = grow_version(old_url, old, GROWN, **RUN)["version"]
    fresh = create_version(new_url, _plan(GROWN), **RUN)["version"]
    want = _s3_chunks(new_url, fresh)
    assert "train/images/c.2.0.0" in want
    assert _s3_chunks(old_url, grown) == want
    assert validate_version(old_url, grown, full=True).ok
