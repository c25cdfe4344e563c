"""The validator's pair checks: `pair_problems` finds every pair that is not what its record
says, and ``gridstore validate --full`` reports twins that are damaged or lie."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.digest import recompute
from gridstore.pairs.verify import pair_problems
from gridstore.storage import FIELDS, open_backend
from gridstore.validate import validate_version
from tests.pairs.conftest import VERSION
from tests.pairs.twin_checks import KINDS

RECORDS = ("kind", "slot", "old_colour", "new_colour", "offset", "rotation", "flip", "permutation")


@pytest.fixture(scope="module")
def stored(paired):  # type: ignore[no-untyped-def]
    group = zarr.open_group(paired[0], mode="r", path=f"{VERSION}/train")
    base = {f: group[f][:] for f in FIELDS}
    twin = {f: group[f"pair/{f}"][:] for f in FIELDS}
    rec = {f: group[f"intervention/{f}"][:] for f in RECORDS}
    return base.pop("images"), base, twin.pop("images"), twin, rec


def _tamper(kind: str, ann: dict, tann: dict, rec: dict, i: int) -> None:
    """One lie per kind in row ``i``: the record, the twin or its annotations no longer agree."""
    if kind == "recolour":
        rec["new_colour"][i] = rec["old_colour"][i]
    elif kind in ("move", "translate"):
        rec["offset"][i, 1] += 1
    elif kind == "remove":
        tann["num_objects"][i] += 1
    elif kind == "add":
        tann["object_size"][i, rec["slot"][i]] += 1
    elif kind == "reshape":
        rec["slot"][i] = (rec["slot"][i] + 1) % max(1, tann["num_objects"][i])
        rec["slot"][i] = -1 if tann["num_objects"][i] == 1 else rec["slot"][i]
    elif kind == "rotate":
        rec["rotation"][i] = 4 - rec["rotation"][i] if rec["rotation"][i] != 2 else 1
    elif kind == "flip":
        rec["flip"][i] = rec["flip"][i] % 3 + 1
    else:  # permute_colours: swapped with another, a colour the image shows (others show nothing)
        c = int(ann["object_colour"][i, 0])
        d = c % 9 + 1
        rec["permutation"][i, [c, d]] = rec["permutation"][i, [d, c]]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_lie_is_found_in_its_row(stored, kind: str) -> None:
    base, ann, twin, tann, rec = stored
    assert pair_problems(base, ann, twin, tann, rec) == {}  # the writer's pairs are all true
    i = int(np.flatnonzero(rec["kind"] == KINDS.index(kind) + 1)[0])
    twin, tann, rec = (
        twin.copy(),
        {k: v.copy() for k, v in tann.items()},
        {k: v.copy() for k, v in rec.items()},
    )
    _tamper(kind, ann, tann, rec, i)
    found = pair_problems(base, ann, twin, tann, rec)
    assert found, kind
    assert {int(r) for rows in found.values() for r in rows} == {i}, found


def test_a_twin_equal_to_its_base_and_an_unknown_kind_are_found(stored) -> None:
    base, ann, twin, tann, rec = stored
    twin = twin.copy()
    twin[3] = base[3]
    kinds = rec["kind"].copy()
    kinds[7] = 10
    found = pair_problems(base, ann, twin, tann, {**rec, "kind": kinds})
    assert found["a twin equal to its base"].tolist() == [3]
    assert found["kind not in 1..9"].tolist() == [7]


def test_validate_full_reports_a_lying_record_and_a_damaged_twin_chunk(
    paired, tmp_path: Path
) -> None:
    store = tmp_path / "s"
    shutil.copytree(paired[0], store)
    group = zarr.open_group(store, mode="r+", path=f"{VERSION}/val")
    kinds = group["intervention/kind"][:]
    kinds[5] = 1 if kinds[5] != 1 else 2  # a record that lies (stored with a good checksum)
    group["intervention/kind"][:] = kinds
    chunk = store / VERSION / "test" / "pair" / "images" / "c.0.0.0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte: fails its crc32c
    chunk.write_bytes(bytes(raw))
    result = CliRunner().invoke(main, ["validate", VERSION, "--store", str(store), "--full",
                                       "--engine", "serial", "--quiet"])  # fmt: skip
    assert result.exit_code == 1
    lines = {line.split(":")[0]: line for line in result.output.splitlines()}
    assert (
        "val chunk 0: pairs: " in lines["FAIL constraints"] and "val:5" in lines["FAIL constraints"]
    )
    assert "val chunk 0: intervention/kind differ" in lines["FAIL regeneration"]
    assert "test/pair/images/c.0.0.0 fails its crc32c check" in lines["FAIL checksums"]


def test_the_digest_covers_the_twins_and_names_a_damaged_twin_chunk(paired, tmp_path: Path) -> None:
    """A paired version's digest is over every chunk it holds: a twin's byte changes it."""
    store = tmp_path / "s"
    shutil.copytree(paired[0], store)
    recorded = paired[1]["digest"]
    assert recompute(open_backend(store), VERSION) == (recorded, [])  # as committed
    key = f"{VERSION}/train/pair/instance_map/c.1.0.0"
    chunk = store / key
    os.chmod(chunk, 0o644)
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x10  # in the body: the stored crc32c no longer matches it
    chunk.write_bytes(bytes(raw))
    report = validate_version(store, VERSION, full=True, engine="serial")
    digest = report.check("digest")
    assert not digest.ok and f"differs from the recorded {recorded}" in digest.detail
    assert digest.where == [key]
    assert report.digest is not None and report.digest != recorded


def test_validate_full_recounts_the_twins_repeats_and_leaks(paired, tmp_path: Path) -> None:
    store = tmp_path / "s"
    shutil.copytree(paired[0], store)
    report = validate_version(store, VERSION, full=True, engine="serial")
    detail = {c.name: c for c in report.checks}["duplicates"].detail
    assert report.ok and "the twins' repeats and leaks recounted, as recorded" in detail
    doc_path = store / VERSION / "zarr.json"
    doc = json.loads(doc_path.read_text())
    doc["attributes"]["pairs"]["duplicates"]["test_leaks"] += 1  # a count that lies
    doc_path.write_text(json.dumps(doc))
    report = validate_version(store, VERSION, full=True, engine="serial")
    check = {c.name: c for c in report.checks}["duplicates"]
    assert not check.ok and check.detail.startswith("the twins' recounted {'train_within': ")
