"""Building versions: determinism, resume after kill -9, growth, metadata, plain-Zarr readability."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zarr

from gridstore.errors import ConfigError, StoreLockedError, VersionNotFoundError
from gridstore.generate import Annotations, generate_block
from gridstore.plan import SPLITS, Plan
from gridstore.storage import layout, open_backend
from gridstore.validate import validate_version
from gridstore.write import tasks
from gridstore.write.versions import create_version, grow_version, resume_version
from tests.conftest import TINY, version_chunks

SEED_FIELDS = {
    "version": str,
    "timestamp": str,
    "generation_params": dict,
    "dataset_info": dict,
    "memory_info": dict,
    "file_format": dict,
}


def _arrays(store: Path, version: str) -> dict[str, np.ndarray]:
    root = zarr.open_group(store / version, mode="r")
    return {f"{s}/{a}": root[s][a][:] for s in SPLITS for a in ["images", *Annotations.names()]}


def test_version_has_seed_metadata_and_counts(built_store: tuple[Path, str]) -> None:
    store, version = built_store
    meta = open_backend(store).metadata(version)
    for key, kind in SEED_FIELDS.items():
        assert isinstance(meta[key], kind), key
    assert meta["state"] == "complete"
    params = meta["generation_params"]
    assert (params["num_images"], params["seed"], params["grid_size"]) == (TINY.num_images, 7, 16)
    assert params["splits"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    info = meta["dataset_info"]
    assert info == {
        "train_count": 18765,
        "val_count": 2346,
        "test_count": 2345,
        "total_count": 23456,
    }
    assert meta["memory_info"]["bytes"] == 23456 * 256
    assert meta["file_format"]["dtype"] == "uint8"
    assert meta["duplicates"]["cross_split"] == 0
    stats = meta["statistics"]["train"]
    assert stats["images"] == 18765 and stats["pixel_min"] == 0 and stats["pixel_max"] <= 9
    assert sum(stats["objects_per_image"].values()) == 18765
    assert meta["storage"]["compression_ratio"] > 5


def test_stored_data_is_the_generators_output(built_store: tuple[Path, str]) -> None:
    """Chunk t of every split holds exactly the blocks of task t."""
    store, version = built_store
    arrays = _arrays(store, version)
    plan = TINY
    for task in plan.tasks:
        rows = plan.task_rows(task)
        blocks = [
            generate_block(plan.config, plan.seed, b, plan.block_quotas(b), plan.fractions)
            for b in range(task.first_block, task.stop_block)
        ]
        for k, split in enumerate(SPLITS):
            start, stop = rows[split]
            expected = np.concatenate([b.images[k] for b in blocks])
            np.testing.assert_array_equal(arrays[f"{split}/images"][start:stop], expected)
            sizes = np.concatenate([b.annotations[k].object_size for b in blocks])
            np.testing.assert_array_equal(arrays[f"{split}/object_size"][start:stop], sizes)


def test_plain_zarr_reader_sees_only_finished_versions(tmp_store: Path) -> None:
    create_version(tmp_store, Plan(num_images=3000, seed=1), workers=1, show_progress=False)
    s = open_backend(tmp_store)
    staged = s.claim_version()  # an unfinished version beside it
    s.create_arrays(
        staged, {"plan": {}}, {"train": {"images": ((10, 16, 16), (5, 16, 16), "uint8")}}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root = zarr.open_group(tmp_store, mode="r")
        everything = [name for name, _ in root.members(max_depth=None)]  # no warning either
        names = [name for name, _ in root.groups()]
        # the bookkeeping is one inert group (an empty array inside): never a version
        assert sorted(names) == [".gridstore", *s.versions()] and staged not in str(everything)
        assert [n for n in everything if n.startswith(".gridstore")] == [
            ".gridstore",
            ".gridstore/work",
        ]
        assert root[".gridstore/work"].shape == (0,)
        for name in s.versions():
            for _, split in root[name].groups():
                for _, arr in split.arrays():
                    arr[:]


def test_same_bytes_with_one_or_two_workers_and_serial(tmp_path: Path) -> None:
    plan = Plan(num_images=45_000, seed=11)
    one = create_version(tmp_path / "a", plan, workers=1, show_progress=False)["version"]
    two = create_version(tmp_path / "b", plan, workers=2, show_progress=False)["version"]
    assert version_chunks(tmp_path / "a", one) == version_chunks(tmp_path / "b", two)


def test_a_new_version_draws_its_bar_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = create_version(tmp_path / "s", Plan(num_images=2000, seed=1), engine="serial")
    err = capsys.readouterr().err
    assert f"{meta['version']}: 100%" in err
    assert f"{meta['version']} commit: done" in err


def test_chunking_does_not_change_the_data(tmp_path: Path) -> None:
    def arrays(where: str, blocks_per_chunk: int) -> dict[str, np.ndarray]:
        plan = Plan(num_images=12_000, seed=5, blocks_per_chunk=blocks_per_chunk)
        made = create_version(tmp_path / where, plan, workers=1, show_progress=False)
        return _arrays(tmp_path / where, made["version"])

    left, right = arrays("a", 1), arrays("b", 3)
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def test_grow_equals_generating_the_larger_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    small = create_version(store, Plan(num_images=43_000, seed=9), workers=1, show_progress=False)
    grown = grow_version(store, small["version"], 61_000, workers=1)  # a bar by default
    err = capsys.readouterr().err
    assert f"{grown['version']}: 100%" in err
    for phase in ("checking chunks", "flushing and publishing", "cleaning up"):  # the commit's line
        assert f"{grown['version']} commit: {phase}" in err
    assert f"{grown['version']} commit: merging 1/" in err  # the merge's jobs counted
    scratch = create_version(
        tmp_path / "t", Plan(num_images=61_000, seed=9), workers=1, show_progress=False
    )
    assert grown["generation"]["grown_from"] == small["version"]
    assert version_chunks(store, grown["version"]) == version_chunks(
        tmp_path / "t", scratch["version"]
    )
    # the old version is untouched and still its own size
    assert open_backend(store).metadata(small["version"])["dataset_info"]["total_count"] == 43_000
    with pytest.raises(ConfigError, match=r"grow needs num_images > 43000"):
        grow_version(store, small["version"], 43_000, workers=1, show_progress=False)


def _chunk_files(root: Path) -> dict[str, os.stat_result]:
    return {str(f.relative_to(root)): f.stat() for f in root.rglob("c.*") if f.is_file()}


def test_a_grown_version_shares_the_sources_chunk_files(tmp_path: Path) -> None:
    """Copied tasks are hard links to the source's files, and every finished chunk is read-only."""
    store = tmp_path / "s"
    small = create_version(store, Plan(num_images=43_000, seed=9), workers=1, show_progress=False)
    grown = grow_version(store, small["version"], 61_000, workers=1, show_progress=False)
    source, target = _chunk_files(store / small["version"]), _chunk_files(store / grown["version"])
    shared = {k for k, st in target.items() if k in source and st.st_ino == source[k].st_ino}
    # tasks 0 and 1 (20,000 images each) lie within the source's 43,000: 8 arrays x 3 splits each
    assert shared == {k for k in target if re.split(r"[./]", k)[3] in ("0", "1")}
    assert len(shared) == 2 * 3 * 8
    assert all(source[k].st_nlink == 2 for k in shared)
    for st in (*source.values(), *target.values()):
        assert st.st_mode & 0o222 == 0, oct(st.st_mode)  # nobody may write a finished chunk
    new_bytes = sum(st.st_size for k, st in target.items() if k not in shared)
    assert new_bytes < 0.5 * sum(st.st_size for st in target.values())
    # deleting the source leaves the grown version whole
    open_backend(store).delete(small["version"])
    chunks = [f for f in (store / grown["version"]).rglob("c.*") if f.is_file()]
    assert chunks
    assert all(f.read_bytes() for f in chunks)
    assert validate_version(store, grown["version"], full=True).ok


def test_a_grow_from_a_version_encoded_otherwise_regenerates_its_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source written with other codecs (an older gridstore) is not shared: same bytes as fresh."""
    store = tmp_path / "s"
    older = {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "blocksize": 0}
    with monkeypatch.context() as m:
        m.setitem(layout.ARRAY_CODECS, "*", older)
        small = create_version(
            store, Plan(num_images=43_000, seed=9), workers=1, show_progress=False
        )
    grown = grow_version(store, small["version"], 61_000, workers=1, show_progress=False)
    scratch = create_version(
        tmp_path / "t", Plan(num_images=61_000, seed=9), workers=1, show_progress=False
    )
    assert version_chunks(store, grown["version"]) == version_chunks(
        tmp_path / "t", scratch["version"]
    )
    source = {st.st_ino for st in _chunk_files(store / small["version"]).values()}
    assert not source & {st.st_ino for st in _chunk_files(store / grown["version"]).values()}


def test_a_write_in_place_to_a_finished_chunk_fails(tmp_path: Path) -> None:
    """A tool of the store's owner cannot change a finished chunk in place (mode 0444).

    The store is handed to user nobody, who then appends to one of its chunks
    (as root the mode would not matter).
    """
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root (CI runs as root)")
    top = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is private to root
    try:
        top.chmod(0o777)
        store = top / "s"
        meta = create_version(
            store, Plan(num_images=1000, seed=2), engine="serial", show_progress=False
        )
        chunk = store / meta["version"] / "train" / "images" / "c.0.0.0"
        before = chunk.read_bytes()
        subprocess.run(["chown", "-R", "65534:65534", str(store)], check=True)  # nobody's store
        write = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            'printf x >> "$1"',
            "sh",
            str(chunk),
        ]
        done = subprocess.run(write, capture_output=True, text=True, check=False)
        assert done.returncode != 0 and "Permission denied" in done.stderr, done
        assert chunk.read_bytes() == before
    finally:
        shutil.rmtree(top)


def test_a_grow_generates_what_it_cannot_copy_from_a_damaged_source(tmp_path: Path) -> None:
    """A source chunk that is missing or damaged is not copied (nor trusted): its task is
    generated instead, with a warning naming it, and the grown version is still a clean run."""
    store = tmp_path / "s"
    small = create_version(store, Plan(num_images=43_000, seed=9), workers=1, show_progress=False)
    chunk = store / small["version"] / "train/object_size/c.1.0"
    chunk.write_bytes(chunk.read_bytes()[:-9])  # truncated: fails its checksum
    with pytest.warns(
        RuntimeWarning, match=r"chunk '.*/train/object_size/c.1.0'.*generating it instead"
    ):
        grown = grow_version(store, small["version"], 61_000, workers=1, show_progress=False)
    scratch = create_version(
        tmp_path / "t", Plan(num_images=61_000, seed=9), workers=1, show_progress=False
    )
    assert version_chunks(store, grown["version"]) == version_chunks(
        tmp_path / "t", scratch["version"]
    )


def test_the_cli_says_in_one_line_what_a_grow_could_not_copy(tmp_path: Path) -> None:
    store = tmp_path / "s"
    small = create_version(store, Plan(num_images=43_000), workers=1, show_progress=False)
    chunk = store / small["version"] / "val/images/c.0.0.0"
    chunk.unlink()
    grow = ["generate", "--store", str(store), "--grow-from", small["version"]]
    args = [*grow, "--num-images", "61000", "--engine", "serial", "--yes", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "gridstore.cli", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (line,) = [w for w in done.stderr.splitlines() if "generating it instead" in w]
    assert line.startswith(f"Warning: chunk 0 of '{small['version']}/val' is missing"), line
    assert "Warning" not in done.stderr.replace(line, "")


def _run_killed(store: Path, num_images: int, crash_at: str) -> subprocess.CompletedProcess[str]:
    code = (
        "from gridstore.write.versions import create_version; from gridstore.plan import Plan; "
        f"create_version({str(store)!r}, Plan(num_images={num_images}, seed=3), workers=1, show_progress=False)"
    )
    env = {**os.environ, "GRIDSTORE_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("crash_at", ["task-1-written", "before-commit"])
def test_kill_9_then_resume_gives_the_uninterrupted_bytes(
    tmp_path: Path, crash_at: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    create_version(
        store, Plan(num_images=2000, seed=1), workers=1, show_progress=False
    )  # an earlier version
    before = version_chunks(store, open_backend(store).versions()[0])
    proc = _run_killed(store, 50_000, crash_at)
    assert proc.returncode == -9, proc.stderr
    s = open_backend(store)
    assert len(s.versions()) == 1  # the killed one is not listed
    (staged,) = s.staged()
    assert not staged.writing
    assert version_chunks(store, s.versions()[0]) == before
    meta = resume_version(store, staged.name, workers=1)  # a bar by default
    # the bar starts at the images the recorded tasks hold and ends at the total
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    bars = [line for line in lines if line.startswith(f"{staged.name}: ")]
    assert bars, "no bar drawn"
    assert "100%" in bars[-1] and "50.0k/50.0k" in bars[-1], bars[-1]
    clean = create_version(
        tmp_path / "clean", Plan(num_images=50_000, seed=3), workers=1, show_progress=False
    )
    assert version_chunks(store, meta["version"]) == version_chunks(
        tmp_path / "clean", clean["version"]
    )
    assert s.staged() == []


def test_resume_errors(tmp_store: Path) -> None:
    create_version(tmp_store, Plan(num_images=1000, seed=1), workers=1, show_progress=False)
    with pytest.raises(VersionNotFoundError, match=r"no unfinished version '2026-01-01-v1'"):
        resume_version(tmp_store, "2026-01-01-v1", show_progress=False)
    name = open_backend(tmp_store).claim_version()
    open_backend(tmp_store).create_arrays(name, {"plan": Plan(num_images=1000).to_dict()}, {})
    with (
        open_backend(tmp_store).version_lock(name),
        pytest.raises(StoreLockedError, match=r"locked by pid"),
    ):
        resume_version(tmp_store, name, show_progress=False)


def _assert_zarr_writes_the_same(store: Path, version: str, tmp_path: Path) -> None:
    for split in SPLITS:
        for name in ["images", *Annotations.names()]:
            src = zarr.open_array(store / version / split / name, mode="r")
            copy = zarr.create_array(
                tmp_path / split / name,
                shape=src.shape,
                chunks=src.chunks,
                dtype=src.dtype,
                fill_value=0,
                compressors=src.compressors,
                chunk_key_encoding=src.metadata.chunk_key_encoding,
                config={"write_empty_chunks": True},
            )
            copy[:] = src[:]
            ours = {
                p.name: p.read_bytes()
                for p in (store / version / split / name).iterdir()
                if p.is_file() and p.name != "zarr.json"
            }
            theirs = {
                p.name: p.read_bytes()
                for p in (tmp_path / split / name).iterdir()
                if p.is_file() and p.name != "zarr.json"
            }
            assert ours, f"{split}/{name} has no chunk files"
            assert ours == theirs, f"{split}/{name}"


def test_chunks_are_byte_identical_to_what_zarr_writes(
    built_store: tuple[Path, str], tmp_path: Path
) -> None:
    """gridstore encodes chunks itself; zarr, given the same data and metadata, writes the same files."""
    _assert_zarr_writes_the_same(*built_store, tmp_path)


def test_compression_max_stores_the_same_values_in_fewer_bytes(tmp_path: Path) -> None:
    """``compression="max"``: zarr's zstd codec on images, same values, smaller, kept by a grow."""
    plan = Plan(num_images=6000, seed=5)
    usual = create_version(tmp_path / "d", plan, workers=1, show_progress=False)
    plan = replace(plan, compression="max")
    small = create_version(tmp_path / "m", plan, workers=1, show_progress=False)
    assert small["generation_params"]["compression"] == "max"
    codecs = zarr.open_array(tmp_path / "m" / small["version"] / "train" / "images").compressors
    assert [type(c).__name__ for c in codecs] == ["ZstdCodec", "Crc32cCodec"]
    assert codecs[0].level == 19
    want, got = _arrays(tmp_path / "d", usual["version"]), _arrays(tmp_path / "m", small["version"])
    assert want.keys() == got.keys() and all(np.array_equal(want[k], got[k]) for k in want)
    per_image = [m["storage"]["image_bytes_per_image"] for m in (usual, small)]
    assert per_image[1] < 0.85 * per_image[0], per_image
    assert small["storage"]["bytes_on_disk"] < usual["storage"]["bytes_on_disk"]
    _assert_zarr_writes_the_same(tmp_path / "m", small["version"], tmp_path / "zarr")
    grown = grow_version(tmp_path / "m", small["version"], 7000, workers=1, show_progress=False)
    assert grown["generation_params"]["compression"] == "max"
    assert validate_version(tmp_path / "m", grown["version"], full=True).ok


def test_compression_must_be_known() -> None:
    with pytest.raises(ConfigError, match="compression must be 'default' or 'max', got 'best'"):
        Plan(compression="best")  # type: ignore[arg-type]
    older = Plan().to_dict()
    del older["compression"]  # versions written before the choice existed
    assert Plan.from_dict(older).compression == "default"


def test_a_writers_tasks_share_a_backend_within_a_run_until_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread's tasks of one run reuse one backend (its arrays' codecs read once). A
    task that fails drops it (its chunk writes may still be in flight), and another run
    never inherits it (it may find the version's arrays made anew)."""
    made: list[str] = []

    def counted(path: str) -> object:
        made.append(path)
        return open_backend(path)

    store = tmp_path / "datasets"
    plan = Plan(num_images=12_000, blocks_per_chunk=1)  # 3 tasks
    real = tasks.generate_task

    def failing(plan: Plan, index: int, **kw: object) -> object:
        if index == 1:
            raise RuntimeError("task 1 fails")
        return real(plan, index, **kw)

    monkeypatch.setattr(tasks, "backend", counted)
    monkeypatch.setattr(tasks, "generate_task", failing)
    with pytest.raises(RuntimeError, match="task 1 fails"):
        create_version(store, plan, engine="serial", workers=1, show_progress=False)
    assert len(made) == 1  # tasks 0 and 1 shared it
    (staged,) = open_backend(store).staged()
    args = (str(store), staged.name, json.dumps(plan.to_dict(), sort_keys=True), None)
    tasks.run_task(*args, 0, run="a")
    tasks.run_task(*args, 2, run="a")
    assert len(made) == 2  # one for run "a"
    with pytest.raises(RuntimeError, match="task 1 fails"):
        tasks.run_task(*args, 1, run="a")
    tasks.run_task(*args, 2, run="a")
    assert len(made) == 3  # task 1 failed: the next task made its own
    tasks.run_task(*args, 0, run="b")
    assert len(made) == 4  # another run: its own
    monkeypatch.setattr(tasks, "generate_task", real)
    meta = resume_version(store, staged.name, engine="serial", workers=1, show_progress=False)
    assert meta["version"] == staged.name and validate_version(store, staged.name, full=True).ok
