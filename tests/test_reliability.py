"""Faults injected for real: signals, kill -9, a full disk, concurrent writers and readers, read-only stores."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridstore.plan import Plan
from gridstore.storage import open_backend
from gridstore.write.versions import create_version, resume_version
from tests.conftest import version_chunks
from tests.helpers_signals import default_signals

CLI = [sys.executable, "-m", "gridstore.cli"]


def _generate(store: Path, num_images: int, *extra: str, **popen: object) -> subprocess.Popen[str]:
    cmd = [
        *CLI,
        "generate",
        "--num-images",
        str(num_images),
        "--store",
        str(store),
        "--yes",
        "--quiet",
        "--seed",
        "5",
        *extra,
    ]
    # SIGINT/SIGTERM at their defaults even when this suite runs as a background job
    # (SIGINT ignored, and inherited): the tests signal the CLI as a terminal would.
    return subprocess.Popen(  # type: ignore[call-overload]
        default_signals(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def _wait_for_tasks(
    store: Path, count: int, proc: subprocess.Popen[str], timeout: float = 120
) -> None:
    tasks = store / ".gridstore" / "work" / "tasks"
    deadline = time.monotonic() + timeout
    while len(list(tasks.glob("*/[0-9]*.json"))) < count:  # task records, not plan.json
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no task finished in time"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_signal_is_one_line_and_resumes_to_the_same_bytes(
    tmp_path: Path, sig: signal.Signals, code: int, name: str, workers: str
) -> None:
    store = tmp_path / "s"
    proc = _generate(store, 300_000, "--workers", workers)  # 15 tasks: still running when signalled
    _wait_for_tasks(store, 1, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("Error")]
    assert lines == [
        f"Error: interrupted by {name}; an unfinished version can be resumed with "
        "'gridstore generate --resume' or removed with 'gridstore delete'"
    ]
    (staged,) = open_backend(store).staged()
    resumed = resume_version(store, staged.name, workers=1, show_progress=False)
    clean = create_version(
        tmp_path / "c", Plan(num_images=300_000, seed=5), workers=2, show_progress=False
    )
    assert version_chunks(store, resumed["version"]) == version_chunks(
        tmp_path / "c", clean["version"]
    )


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))


def test_disk_full_is_one_line_and_nothing_half_visible(tmp_path: Path) -> None:
    store = tmp_path / "s"
    first = create_version(store, Plan(num_images=2000, seed=1), workers=1, show_progress=False)[
        "version"
    ]
    before = version_chunks(store, first)
    proc = _generate(store, 100_000, "--workers", "1", preexec_fn=_limit_file_size)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    (line,) = [x for x in err.splitlines() if x.startswith("Error")]
    assert line.startswith(
        f"Error: no space left on the file system of '{store}/.gridstore/work/staging/"
    ) and line.endswith(
        "free disk space, then resume the version ('gridstore generate --resume --version NAME')"
    )
    s = open_backend(store)
    assert s.versions() == [first]
    assert version_chunks(store, first) == before
    assert not list(store.rglob(".*.tmp"))  # temp files live in the store: none left behind


def test_preflight_refuses_runs_larger_than_the_free_space(tmp_path: Path) -> None:
    proc = _generate(tmp_path / "s", 10**12, "--workers", "1")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.splitlines()[-1].startswith(
        f"Error: not enough disk space for store '{tmp_path / 's'}': the run needs about"
    )
    assert not (tmp_path / "s").exists()


def test_two_writers_at_once_make_two_valid_versions(tmp_path: Path) -> None:
    store = tmp_path / "s"
    procs = [_generate(store, 45_000, "--workers", "1") for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    s = open_backend(store)
    names = s.versions()
    assert len(names) == 2
    assert version_chunks(store, names[0]) == version_chunks(
        store, names[1]
    )  # same plan, same bytes


def test_corrupt_metadata_is_one_line_naming_the_file(store_copy: tuple[Path, str]) -> None:
    store, version = store_copy
    (store / version / "zarr.json").write_text("{ truncated")
    out = subprocess.run(
        [*CLI, "info", version, "--store", str(store)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"Error: metadata file '{store / version / 'zarr.json'}' is corrupt (JSONDecodeError); "
        "the version cannot be trusted"
    ]
    (store / "zarr.json").write_text("[]")
    out = subprocess.run(
        [*CLI, "versions", "--store", str(store)], capture_output=True, text=True, timeout=60
    )
    assert out.stderr.strip().splitlines() == [
        f"Error: '{store / 'zarr.json'}' is not a gridstore store's root (unreadable or no gridstore attributes)"
    ]


@pytest.fixture
def read_only_copy(built_store: tuple[Path, str], tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the built store on a read-only bind mount (needs root, as CI runs)."""
    store, version = built_store
    shutil.copytree(store, tmp_path / "src" / "datasets")
    (tmp_path / "ro").mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path / "src"), str(tmp_path / "ro")], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(tmp_path / "ro")], check=True)
        yield tmp_path / "ro" / "datasets", version
    finally:
        subprocess.run(["umount", str(tmp_path / "ro")], check=True)


def test_read_only_store_reads_and_refuses_writes_in_one_line(
    read_only_copy: tuple[Path, str],
) -> None:
    ro, version = read_only_copy
    read = subprocess.run(
        [*CLI, "info", version, "--store", str(ro), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["version"] == version
    listing = subprocess.run(
        [*CLI, "versions", "--store", str(ro)], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0 and version in listing.stdout
    write = subprocess.run(
        [
            *CLI,
            "generate",
            "--num-images",
            "100",
            "--store",
            str(ro),
            "--yes",
            "--quiet",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert write.returncode == 1
    assert write.stderr.strip().splitlines()[-1] == (
        f"Error: store '{ro}' is not writable (read-only file system); it can only be read"
    )


def test_readers_during_a_write_never_see_it_unfinished(
    built_store: tuple[Path, str], tmp_path: Path
) -> None:
    from gridstore.read import open_store

    store = tmp_path / "datasets"
    shutil.copytree(built_store[0], store)
    proc = _generate(store, 150_000, "--workers", "2")
    reads = 0
    while proc.poll() is None or not reads:
        reader = open_store(store)  # a fresh reader each time, as a new training job would
        for name in reader.versions:
            version = reader.version(name)
            for split in version.splits:
                data = version[split]
                last = data.images[len(data) - 64 :]  # the end of the version: written last
                assert last.reshape(len(last), -1).max(axis=1).min() > 0  # no zero-filled rows
            reads += 1
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(open_store(store).versions) == 2
    assert reads > 2


def test_finished_versions_are_never_rewritten(
    store_copy: tuple[Path, str], tmp_path: Path
) -> None:
    """Handles opened on v1 stay valid and no later operation touches a byte of it."""
    import zarr

    from gridstore.read import open_store
    from gridstore.write.versions import grow_version

    store, v1 = store_copy
    before = {p: p.read_bytes() for p in sorted((store / v1).rglob("*")) if p.is_file()}
    zarr_handle = zarr.open_group(store / v1, mode="r")  # a user's plain handle
    reader = open_store(store).version(v1)["train"]  # and a gridstore reader
    first = reader.images[:10]
    v2 = create_version(store, Plan(num_images=3000, seed=2), workers=1, show_progress=False)
    v3 = grow_version(store, v1, 30_000, workers=1, show_progress=False)
    open_backend(store).delete(v2["version"])
    after = {p: p.read_bytes() for p in sorted((store / v1).rglob("*")) if p.is_file()}
    assert after == before
    assert (reader.images[:10] == first).all()
    recorded = json.loads(before[store / v1 / "train" / "images" / "zarr.json"])["shape"]
    assert zarr_handle["train/images"].shape == tuple(recorded)
    assert open_backend(store).versions() == [v1, v3["version"]]


def test_corrupt_array_metadata_is_one_line(store_copy: tuple[Path, str], tmp_path: Path) -> None:
    store, version = store_copy
    (store / version / "train" / "images" / "zarr.json").write_text("{ truncated")
    out = subprocess.run(
        [*CLI, "preview", version, "--store", str(store), "-o", str(tmp_path / "p.png")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(
        f"Error: the metadata of '{version}/train/images' in store '{store}' is corrupt "
        "(JSONDecodeError: "
    )


def test_ctrl_c_to_the_whole_process_group_is_still_one_line(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches every pool worker too: they leave it to the parent."""
    store = tmp_path / "s"
    proc = _generate(store, 300_000, "--workers", "2", start_new_session=True)
    _wait_for_tasks(store, 1, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("Error")] == [
        "Error: interrupted by SIGINT; an unfinished version can be resumed with "
        "'gridstore generate --resume' or removed with 'gridstore delete'"
    ]
    (staged,) = open_backend(store).staged()
    assert not staged.writing
