"""Versions one can cite: names never reused, content digests, tags, descriptions (local and S3)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.digest import recompute, short_digest
from gridstore.errors import ConfigError, VersionExistsError, VersionNotFoundError
from gridstore.plan import Plan
from gridstore.read import open_store
from gridstore.storage import open_backend
from gridstore.storage.layout import TOMBSTONES, claim_key, task_key
from gridstore.storage.registry import (
    remove_tag,
    resolve,
    set_description,
    set_tag,
    tags,
)
from gridstore.validate.version import validate_version
from gridstore.write import versions
from gridstore.write.versions import create_version, grow_version, resume_version
from tests.helpers_s3 import (  # noqa: F401 - fixtures
    bucket_fixture,
    faults_fixture,
    s3_endpoint_fixture,
)
from tests.helpers_s3proxy import FaultProxy

SMALL = Plan(num_images=3000, seed=5)
RUN: dict[str, Any] = {"engine": "serial", "show_progress": False}


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store location, a directory or an s3:// prefix on the moto server."""
    if request.param == "local":
        return str(tmp_path / "datasets")
    request.getfixturevalue("s3_endpoint")
    return f"s3://{request.getfixturevalue('bucket')}/datasets"


def test_a_deleted_versions_name_is_never_given_again(store: str) -> None:
    """Delete, generate: another name; the deleted one is refused, and tags work on either medium."""
    first = create_version(store, SMALL, **RUN)["version"]
    s = open_backend(store)
    assert set_tag(s, first, "paper-2026") is None
    assert resolve(s, "paper-2026") == first == resolve(s, "latest")
    s.delete(first)
    second = create_version(store, Plan(num_images=3000, seed=9), **RUN)["version"]
    assert second != first
    assert s.versions() == [second]
    digest = s.metadata(second)["digest"]
    assert recompute(s, second) == recompute(s, second, suspects=set()) == (digest, [])
    with pytest.raises(VersionExistsError, match=r"deleted .* never reused"):
        create_version(store, SMALL, name=first, **RUN)
    with pytest.raises(VersionNotFoundError, match=f"version '{first}' was deleted"):
        resolve(s, first)
    with pytest.raises(VersionNotFoundError, match=f"points to version '{first}', which was"):
        resolve(s, "paper-2026")
    buried = json.loads(s.get(f"{TOMBSTONES}/{first}") or b"{}")
    assert buried["seed"] == 5 and buried["digest"].startswith("sha256:")
    with pytest.raises(VersionExistsError, match="pass --move"):
        set_tag(s, second, "paper-2026")
    assert set_tag(s, second, "paper-2026", move=True) == first
    assert open_store(store).version("paper-2026").name == second  # from Python
    assert tags(s) == {"paper-2026": second}
    assert remove_tag(s, "paper-2026") == second and tags(s) == {}


def test_a_claim_that_races_a_delete_gives_the_name_back(tmp_path: Path) -> None:
    """A writer that listed names before a delete's tombstone, and claims after its claim went."""
    s = open_backend(tmp_path / "datasets", create=True)
    name = s.claim_version()
    s._put_record(f"{TOMBSTONES}/{name}", b"{}")  # the delete's first step...
    s._remove(claim_key(name))  # ...and its last: the name looks free to a stale listing
    assert not s._claim(name)
    assert s.get(claim_key(name)) is None  # and no claim is left behind
    assert s.claim_version() != name


def test_digest_is_the_content_and_only_the_content(tmp_path: Path) -> None:
    a = create_version(tmp_path / "a", SMALL, **RUN)
    b = create_version(tmp_path / "b", SMALL, engine="processes", workers=2, show_progress=False)
    other = create_version(tmp_path / "a", Plan(num_images=3000, seed=6), **RUN)
    assert a["digest"] == b["digest"] != other["digest"]
    assert a["digest"].startswith("sha256:") and len(a["digest"]) == 7 + 64
    assert recompute(open_backend(tmp_path / "a"), a["version"]) == (a["digest"], [])
    assert a["digest"] == _digest_as_first_defined(tmp_path / "a", a["version"])
    # a grown version copies whole chunks of its source, and has the digest of a fresh one
    big = Plan(num_images=12_000, seed=5, blocks_per_chunk=1)  # tasks of 5,000 images
    src = create_version(tmp_path / "g", replace(big, num_images=8000), **RUN)["version"]
    grown = grow_version(tmp_path / "g", src, big.num_images, **RUN)
    assert grown["digest"] == create_version(tmp_path / "f", big, **RUN)["digest"]


def _digest_as_first_defined(root: Path, version: str) -> str:
    """Scheme 1 over a local version's files, written apart from gridstore.digest (issue 28):
    what a version without pairs has had since, so that its recorded digest still validates."""
    h = hashlib.sha256(b"gridstore-digest-1")
    arrays = ("images", "num_objects", "object_type", "object_subtype", "object_colour",
              "object_size", "object_bbox", "instance_map")  # fmt: skip
    for split in ("train", "val", "test"):
        for array in arrays:
            where = root / version / split / array
            meta = json.loads((where / "zarr.json").read_text())
            shape, chunks = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
            h.update(f"\n{split}/{array} {shape} {chunks} {meta['data_type']}\n".encode())
            for c in range(-(-shape[0] // chunks[0])):
                key = ".".join(["c", str(c), *["0"] * (len(shape) - 1)])
                h.update((where / key).read_bytes()[-4:])  # the crc32c zarr stored
    return f"sha256:{h.hexdigest()}"


class _Stop(Exception):
    pass


def test_records_of_an_older_gridstore_give_the_same_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed version whose first task was recorded without crc32c (an older gridstore):
    the records job reads that task's chunks' crc32c from the store, and the digest is the
    one of a clean run."""
    plan = Plan(num_images=8000, seed=5, blocks_per_chunk=1)  # two tasks
    clean = create_version(tmp_path / "clean", plan, **RUN)["digest"]

    def stop(point: str) -> None:
        if point == "before-commit":
            raise _Stop

    monkeypatch.setattr(versions, "crash_point", stop)
    store = tmp_path / "store"
    with pytest.raises(_Stop):
        create_version(store, plan, **RUN)
    (name,) = [v.name for v in open_backend(store).staged()]
    record = store / task_key(name, 0, "json")
    doc = json.loads(record.read_text())
    assert len(doc.pop("crc32c")["train"]) == 8  # one crc32c per array
    record.write_text(json.dumps(doc))
    monkeypatch.undo()
    assert resume_version(store, name, **RUN)["digest"] == clean


def test_on_object_storage_the_digest_reads_each_chunk_whole_and_checks_it(
    bucket: str, faults: FaultProxy
) -> None:
    """Bytes flipped on the way (the proxy's garble) are caught by the response checksum
    and read again: the digest is the recorded one. A byte flipped at rest fails it,
    naming the chunk, even where a local store would read only the chunks' tails."""
    store = f"s3://{bucket}/datasets"
    meta = create_version(store, SMALL, **RUN)
    s, name = open_backend(store), meta["version"]
    faults.set_mode("garble", every=3)
    assert recompute(s, name, suspects=set()) == (meta["digest"], [])
    assert faults.injected["garbled"] > 0
    key = f"{name}/val/object_size/c.0.0"
    raw = bytearray(s.get(key) or b"")
    raw[10] ^= 0x10
    faults.set_mode("off")
    s._put(key, bytes(raw))
    faults.set_mode("garble", every=3)
    digest, damaged = recompute(s, name, suspects=set())
    assert digest != meta["digest"] and damaged == [key]
    assert faults.injected["garbled"] > 0


def _flip(path: Path, offset: int = 40) -> None:
    os.chmod(path, 0o644)  # chunks are read-only (shared with grown versions)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_validate_full_reports_the_digest_mismatch_and_the_chunk(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    version = create_version(store, Plan(num_images=8000, blocks_per_chunk=1), **RUN)["version"]
    assert validate_version(store, version, full=True, workers=1).check("digest").ok
    chunk = store / version / "val" / "object_size" / "c.0.0"
    _flip(chunk)
    report = validate_version(store, version, full=True, workers=1)
    digest = report.check("digest")
    assert not digest.ok and "differs from the recorded" in digest.detail
    assert digest.where == [f"{version}/val/object_size/c.0.0"]  # 2 tasks: the other is fine
    assert not report.check("checksums").ok
    assert report.digest != open_backend(store).metadata(version)["digest"]
    sampled = validate_version(store, version, sample=1, workers=1).check("digest")
    assert sampled.ok and "recomputed by --full only" in sampled.detail


def test_validate_full_record_gives_an_old_version_its_digest(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    meta = create_version(store, SMALL, **RUN)
    version, digest = meta["version"], meta["digest"]
    doc_path = store / version / "zarr.json"
    doc = json.loads(doc_path.read_text())
    del doc["attributes"]["digest"]  # as a version committed before digests
    doc_path.write_text(json.dumps(doc))
    assert "none recorded" in cli("info", version, "--store", store).output
    bad = cli("validate", version, "--store", store, "--record")
    assert bad.exit_code == 2 and "--record needs --full" in bad.output
    ok = cli("validate", version, "--store", store, "--full", "--record", "-q", "--workers", "1")
    assert ok.exit_code == 0, ok.output
    assert f"recorded digest {digest}" in ok.output
    assert f"{digest} (recorded by validate --record)" in cli("info", "--store", store).output
    row = json.loads(cli("versions", "--store", store, "--json").output)[0]
    assert row["digest"] == digest
    assert "as recorded" in validate_version(store, full=True, workers=1).check("digest").detail


def test_tags_name_versions_everywhere(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    v1 = create_version(store, SMALL, **RUN)["version"]
    v2 = create_version(store, Plan(num_images=3000, seed=6), **RUN)["version"]
    s = open_backend(store)
    assert set_tag(s, v1, "paper-2026") is None
    assert resolve(s, "latest") == v2 and open_store(store).version("latest").name == v2
    info = cli("info", "paper-2026", "--store", store, "--json")  # from the CLI
    assert json.loads(info.output)["version"] == v1
    refused = cli("tag", "latest", "paper-2026", "--store", store)
    assert refused.exit_code == 1 and "pass --move" in refused.output
    moved = cli("tag", "latest", "paper-2026", "--move", "--store", store)
    assert moved.exit_code == 0 and f"paper-2026 -> {v2} (moved from {v1})" in moved.output
    for bad in ("latest", "2026-01-01-v1", "9lives", "a b", "x" * 65):
        with pytest.raises(ConfigError):
            set_tag(s, v1, bad)
    assert cli("untag", "paper-2026", "--store", store).exit_code == 0
    gone = cli("info", "paper-2026", "--store", store)
    assert gone.exit_code == 1
    assert (
        f"Error: version 'paper-2026' not found in store '{s.path}'; available: {v1}, {v2}"
        in gone.output
    )


def test_a_tag_of_a_deleted_version_says_so(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    v1 = create_version(store, SMALL, **RUN)["version"]
    cli("tag", v1, "baseline", "--store", store)
    out = cli("delete", "baseline", "--store", store, "--yes")
    assert out.exit_code == 0 and f"deleted {v1}" in out.output
    assert "tags still naming the deleted" in out.output
    err = cli("count", "baseline", "--store", store)
    assert err.exit_code == 1
    assert f"tag 'baseline' points to version '{v1}', which was deleted" in err.output


def test_descriptions_and_the_versions_listing(tmp_path: Path) -> None:
    store = tmp_path / "datasets"
    made = cli("generate", "--num-images", "3000", "--seed", "5", "--store", store, "--yes",
               "-q", "--engine", "serial", "--description", "first try")  # fmt: skip
    assert made.exit_code == 0, made.output
    s = open_backend(store)
    (v1,) = s.versions()
    zarr_json = (store / v1 / "zarr.json").read_bytes()
    assert set_description(s, "latest", "  the baseline of the paper ") == v1
    assert (store / v1 / "zarr.json").read_bytes() == zarr_json  # the version never changes
    cli("tag", v1, "paper", "--store", store)
    row = json.loads(cli("versions", "--store", store, "--json").output)[0]
    assert row["description"] == "the baseline of the paper"
    assert (row["preset"], row["seed"], row["tags"]) == ("atomic", 5, ["latest", "paper"])
    text = cli("versions", "--store", store).output.splitlines()
    assert text[0].split() == ["version", "state", "preset", "seed", "train", "val", "test",
                               "size", "digest", "created", "tags"]  # fmt: skip
    assert short_digest(row["digest"]) in text[1] and text[1].endswith("latest, paper")
    assert "description: the baseline of the paper" in cli("info", "--store", store).output
    with pytest.raises(ConfigError, match="1 to 10,000 characters"):
        set_description(s, v1, "   ")
