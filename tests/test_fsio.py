"""Local file operations (gridstore.storage.fsio), for real on tmp_path.

Atomic writes leave the old file or the new one and no temporary file; fsyncs
happen when durable; full or read-only disks give gridstore's one-line errors;
flush_tree honours GRIDSTORE_SYNC; flock locks name their holder and die with it.
Whether a version's files are flushed before its rename is checked with strace
in tests/test_storage_local.py.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gridstore.errors import InsufficientSpaceError, StoreLockedError, StoreNotFoundError
from gridstore.storage import fsio
from gridstore.storage.fsio import (
    atomic_write_bytes,
    atomic_write_json,
    exclusive_lock,
    flush_tree,
    fsync_dir,
    is_locked,
    os_errors,
    read_json,
)


def _names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths that os.fsync is called on (fds resolved through /proc), while still syncing."""
    calls: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "not_durable"])
def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path, durable: bool) -> None:
    path = tmp_path / "deep" / "er" / "meta.json"  # parents are created
    atomic_write_bytes(path, b"first", durable=durable)
    assert path.read_bytes() == b"first"
    atomic_write_bytes(path, b"second, longer", durable=durable)
    assert path.read_bytes() == b"second, longer"
    atomic_write_bytes(path, b"", durable=durable)
    assert path.read_bytes() == b""
    assert _names(tmp_path) == {"deep", "deep/er", "deep/er/meta.json"}


def test_durable_writes_fsync_the_file_and_its_directory(tmp_path: Path, fsyncs: list[str]) -> None:
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"x" * 10_000)
    assert len(fsyncs) == 2
    assert Path(fsyncs[0]).parent == tmp_path  # the temporary file, before its rename
    assert fsyncs[0] != str(path)
    assert fsyncs[1] == str(tmp_path)  # then the directory entry
    fsyncs.clear()
    atomic_write_bytes(path, b"y", durable=False)
    assert fsyncs == []
    fsync_dir(tmp_path)
    assert fsyncs == [str(tmp_path)]


def test_fsync_dir_of_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "nope")


def test_a_failed_write_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "meta.json"
    atomic_write_bytes(path, b"old")

    def full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(InsufficientSpaceError) as info:
        atomic_write_bytes(path, b"new")
    assert str(info.value) == (
        f"no space left on the file system of '{path}'; free disk space, then resume the "
        "version ('gridstore generate --resume --version NAME')"
    )
    assert path.read_bytes() == b"old"
    assert _names(tmp_path) == {"meta.json"}


def test_an_interrupted_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "meta.json", b"new")
    assert _names(tmp_path) == set()


def test_json_is_written_sorted_and_indented_and_read_back(tmp_path: Path) -> None:
    value = {"b": [1, 2], "a": {"z": None, "y": "é"}}
    path = tmp_path / "v.json"
    atomic_write_json(path, value, durable=False)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(value, indent=2, sort_keys=True)
    assert text.index('"a"') < text.index('"b"')
    assert read_json(path) == value


# ---------------------------------------------------------------------------
# Errors of full and read-only disks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_full_disk_errors(tmp_path: Path, code: int) -> None:
    full = r"^no space left on the file system of '"
    with pytest.raises(InsufficientSpaceError, match=full), os_errors(tmp_path / "store"):
        raise OSError(code, os.strerror(code))


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM])
def test_read_only_errors(tmp_path: Path, code: int) -> None:
    where, target = tmp_path / "store", tmp_path / "store" / "x"
    with pytest.raises(StoreNotFoundError) as info, os_errors(where):
        raise OSError(code, os.strerror(code), str(target))
    assert str(info.value) == (
        f"'{where}' is not writable ({os.strerror(code)}: '{target}'); it can only be read"
    )
    assert isinstance(info.value.__cause__, OSError)


def test_other_os_errors_pass_through(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), os_errors(tmp_path):
        (tmp_path / "missing").read_bytes()
    with os_errors(tmp_path):  # and no error is no error
        pass


# ---------------------------------------------------------------------------
# flush_tree
# ---------------------------------------------------------------------------


def _tree(root: Path) -> set[str]:
    """A small tree: the paths that an fsync per file and directory must reach."""
    for rel in ("a", "b/c", "b/d/e"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"data")
    return {str(root), *(str(p) for p in root.rglob("*"))}


def test_flush_tree_fsync_reaches_every_file_and_directory(
    tmp_path: Path, fsyncs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _tree(tmp_path)
    monkeypatch.setenv("GRIDSTORE_SYNC", "fsync")
    flush_tree(tmp_path)
    assert sorted(fsyncs) == sorted(expected)


def test_flush_tree_syncfs_and_none(
    tmp_path: Path, fsyncs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path)
    syncfs: list[Path] = []
    real = fsio._syncfs
    monkeypatch.setattr(fsio, "_syncfs", lambda p: syncfs.append(p) or real(p))
    monkeypatch.delenv("GRIDSTORE_SYNC", raising=False)
    flush_tree(tmp_path)  # the default: one syncfs (this is Linux), no fsync
    assert (syncfs, fsyncs) == ([tmp_path], [])
    monkeypatch.setenv("GRIDSTORE_SYNC", "none")
    flush_tree(tmp_path)
    assert (syncfs, fsyncs) == ([tmp_path], [])


def test_flush_tree_without_syncfs_warns_and_fsyncs_each(
    tmp_path: Path, fsyncs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _tree(tmp_path)
    monkeypatch.delenv("GRIDSTORE_SYNC", raising=False)
    monkeypatch.setattr(fsio, "_syncfs", lambda p: False)  # as on macOS
    with pytest.warns(RuntimeWarning, match="no syncfs on this platform"):
        flush_tree(tmp_path)
    assert sorted(fsyncs) == sorted(expected)


def test_syncfs_runs_here() -> None:
    assert fsio._syncfs(Path.cwd()) is (sys.platform == "linux")


# ---------------------------------------------------------------------------
# Locks
# ---------------------------------------------------------------------------


def test_lock_names_its_holder_and_is_released(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "writer.lock"  # created with its parent
    assert not is_locked(path)
    with exclusive_lock(path, "version 'v1'"):
        assert path.read_text() == str(os.getpid())
        assert is_locked(path)
        with (  # another open file of this process: flock refuses it too
            pytest.raises(StoreLockedError) as info,
            exclusive_lock(path, "version 'v1'"),
        ):
            pass
        assert str(info.value) == (
            f"version 'v1' is locked by pid {os.getpid()} ('{path}'); wait for it to finish"
        )
        assert path.read_text() == str(os.getpid())  # the refused taker did not clear it
    assert not is_locked(path)
    assert path.read_text() == ""
    with exclusive_lock(path, "version 'v1'"):  # free again
        pass


def test_lock_released_when_the_body_raises(tmp_path: Path) -> None:
    path = tmp_path / "writer.lock"
    with pytest.raises(RuntimeError), exclusive_lock(path, "store"):
        raise RuntimeError
    assert not is_locked(path)


def test_waiting_for_a_lock(tmp_path: Path) -> None:
    path = tmp_path / "writer.lock"
    order: list[str] = []
    held = threading.Event()

    def holder() -> None:
        with exclusive_lock(path, "store"):
            held.set()
            time.sleep(0.3)
            order.append("released")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with exclusive_lock(path, "store", wait=True):
        order.append("taken")
    thread.join()
    assert order == ["released", "taken"]


def test_lock_dies_with_its_owner(tmp_path: Path) -> None:
    """A SIGKILLed holder leaves no lock behind: the kernel drops the flock."""
    path = tmp_path / "writer.lock"
    code = (
        "import sys, time; from pathlib import Path; from gridstore.storage.fsio import exclusive_lock\n"
        f"with exclusive_lock(Path({str(path)!r}), 'store'):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n"
        assert is_locked(path)
        with (
            pytest.raises(StoreLockedError, match=rf"^store is locked by pid {child.pid} "),
            exclusive_lock(path, "store"),
        ):
            pass
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert not is_locked(path)
    with exclusive_lock(path, "store"):
        assert path.read_text() == str(os.getpid())


def test_is_locked_on_a_read_only_lock_file(tmp_path: Path) -> None:
    """is_locked opens the file read-only, so it works where the store cannot be written."""
    path = tmp_path / "writer.lock"
    with exclusive_lock(path, "store"):
        path.chmod(0o444)
        assert is_locked(path)
    assert not is_locked(path)
    assert not is_locked(tmp_path / "no.lock")


def test_share_file_links_and_makes_the_file_read_only(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"chunk")
    assert fsio.share_file(src, dst) == "link"
    assert dst.stat().st_ino == src.stat().st_ino and src.stat().st_nlink == 2
    assert src.stat().st_mode & 0o777 == fsio.READ_ONLY


def test_share_file_copies_where_the_file_system_has_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vfat, SMB and some FUSE file systems refuse link(2) with EPERM: the bytes are copied."""

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(fsio.os, "link", no_links)
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"chunk")
    assert fsio.share_file(src, dst) in ("reflink", "copy")  # reflink on btrfs / XFS
    assert dst.read_bytes() == b"chunk" and dst.stat().st_ino != src.stat().st_ino
    assert dst.stat().st_mode & 0o777 == fsio.READ_ONLY


def test_share_file_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsio.share_file(tmp_path / "missing", tmp_path / "b")
