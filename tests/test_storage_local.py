"""The local store's promises, proven on real file systems (these tests run as root).

1. Publishing is durable: a real syscall trace shows every file and directory
   of a version flushed (one syncfs, or an fsync each) before the one rename
   that publishes it, and the store directory fsynced after that rename.
2. A store that is its own mount point, or a symlink to another disk, works
   end to end: no rename ever crosses file systems.
3. A disk that fills up mid-run gives one ``Error: no space left ...`` line,
   publishes nothing, leaves no temp file, and the version resumes to the
   same bytes once space is freed; every write path says so the same way.
4. A killed writer's temp file is never published.

Nothing is mocked or skipped: without strace or tmpfs mounts these tests fail
with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gridstore.config import make_config
from gridstore.errors import InsufficientSpaceError, no_space
from gridstore.estimate import SAFETY, estimate_run
from gridstore.plan import Plan
from gridstore.storage import LocalStore
from gridstore.storage.layout import chunk_encoder
from gridstore.write.versions import create_version
from tests.conftest import version_chunks

CLI = [sys.executable, "-m", "gridstore.cli"]
STAGING = Path(".gridstore/work/staging")
TEMP_NAME = re.compile(r"^\..+\.(tmp|create)$")  # atomic writes' and exclusive creates' temp files
# The one message of a full disk, with the path it names left open.
NO_SPACE = re.compile(re.escape(str(no_space("WHERE"))).replace("WHERE", "(?P<where>[^']+)"))
PAGE = 4096


def _plan(num_images: int) -> Plan:
    """What ``gridstore generate --num-images N`` plans with every other option at its default."""
    return Plan(config=make_config("atomic"), num_images=num_images, seed=42)


def gridstore(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process (no terminal, no standard input)."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=180,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``done``, after checking it exited 0 without a traceback or a cross-device rename."""
    tail = done.stderr.strip().splitlines()[-3:]  # the error, after the plan printout
    assert done.returncode == 0, tail
    for bad in ("Traceback", "EXDEV", "cross-device"):
        assert bad not in done.stderr, done.stderr
    return done


def assert_same_chunks(store: Path, name: str, reference: tuple[Path, str]) -> None:
    """Version ``name`` holds, byte for byte, the chunks of ``reference`` (a store and a version)."""
    ours, theirs = version_chunks(store, name), version_chunks(*reference)
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    same_data = [
        k
        for k in differ
        if k in ours
        and k in theirs
        and _decoded(store / name, k) == _decoded(reference[0] / reference[1], k)
    ]
    assert not differ, (
        f"{len(differ)} chunks differ from a clean run: {differ}; of which the same data "
        f"encoded differently: {same_data}"
    )


def _decoded(version: Path, key: str) -> bytes:
    array = version / re.split(r"/c[./]", key)[0]
    _, decode, _ = chunk_encoder(json.loads((array / "zarr.json").read_bytes()), str(array))
    return decode((version / key).read_bytes()).tobytes()


def states(store: Path) -> dict[str, str]:
    """``gridstore versions``: the state of each version, complete or not."""
    rows = json.loads(ok(gridstore("versions", "--store", str(store), "--json")).stdout)
    return {r["version"]: r["state"] for r in rows}


def temp_files(root: Path, *, outside: Path | None = None) -> list[Path]:
    """Temp files under ``root`` (not under ``outside``, if given)."""
    return [
        p
        for p in root.rglob(".*")
        if p.is_file()
        and TEMP_NAME.match(p.name)
        and (outside is None or not p.is_relative_to(outside))
    ]


def fill(directory: Path) -> Path:
    """Write a filler file in ``directory`` until its file system has not one free page left."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for block in (b"\0" * (1 << 20), b"\0" * PAGE, b"\0"):
            with contextlib.suppress(OSError):  # ENOSPC: the next, smaller block
                while True:
                    os.write(fd, block)
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def mount_tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """``mount(where, size)`` mounts a fresh tmpfs at ``where``; all are unmounted afterwards."""
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(
                f"cannot mount a tmpfs ({' '.join(cmd)}; these tests need root): {done.stderr.strip()}"
            )
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture(scope="module")
def clean_60k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An uninterrupted run of 60,000 images (3 tasks) on an ordinary directory."""
    store = tmp_path_factory.mktemp("clean") / "s"
    return store, create_version(store, _plan(60_000), workers=1, show_progress=False)["version"]


# -- 1. durable publishing, read from a real syscall trace ---------------------------------------

# Every call that changes a path, flushes one, or syncs a file system; '?' tolerates an
# architecture without one of them (aarch64 has no rename, only renameat2).
TRACED = (
    "openat,open,creat,rename,renameat,renameat2,link,linkat,mkdir,mkdirat,unlink,unlinkat,"
    "rmdir,write,pwrite64,writev,pwritev,pwritev2,ftruncate,fallocate,sendfile,"
    "copy_file_range,close,fsync,fdatasync,syncfs"
)
_ENTRY = re.compile(r"^(\d+)\s+\d+\.\d+\s+(.*)$")
_RESUMED = re.compile(r"^<\.\.\. \w+ resumed>(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(\S+)")
_WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate", "fallocate"}
_FLUSHES = {"fsync", "fdatasync"}


@dataclass(frozen=True)
class Syscall:
    """One call of a trace. ``start`` and ``end`` are the trace lines of its entry and return.

    strace -f writes events in the order it handles them, and a traced process
    stopped at a call's entry runs it only after strace has written that entry:
    so ``a.end < b.start`` proves that ``a`` returned before ``b`` began, even
    across processes. (Timestamps of different processes prove nothing of the kind.)
    """

    pid: int
    start: int
    end: int
    name: str
    args: list[str]
    ret: str

    @property
    def ok(self) -> bool:
        return self.ret != "?" and not self.ret.startswith("-")


def parse_strace(text: str) -> list[Syscall]:
    """The calls of an ``strace -f -ttt -y -s 0`` log, with interrupted lines joined."""
    calls, pending = [], {}
    for i, line in enumerate(text.splitlines()):
        m = _ENTRY.match(line)
        if m is None:
            continue
        pid, rest = m[1], m[2]
        if rest.endswith(" <unfinished ...>"):
            pending[pid] = (i, rest.removesuffix(" <unfinished ...>"))
            continue
        start = i
        if (r := _RESUMED.match(rest)) is not None:
            if pid not in pending:
                continue
            start, head = pending.pop(pid)
            rest = head + r[1]
        if (c := _CALL.match(rest)) is not None:
            calls.append(Syscall(int(pid), start, i, c[1], c[2].split(", "), c[3]))
    return calls


def _fd_path(arg: str) -> str | None:
    """The path strace -y prints for a descriptor (``7</a/b>``), or None."""
    m = re.fullmatch(r"-?\w+<(.*)>", arg)
    return m[1].removesuffix(" (deleted)") if m else None


def _at(dirfd: str, path: str) -> str:
    """A path argument, made absolute against its directory descriptor."""
    path = path.strip('"')
    return os.path.normpath(
        path if path.startswith("/") else os.path.join(_fd_path(dirfd) or "/", path)
    )


def _renamed(call: Syscall) -> tuple[str, str] | None:
    """``(source, destination)`` of a rename, else None."""
    if call.name == "rename":
        return _at("", call.args[0]), _at("", call.args[1])
    if call.name in ("renameat", "renameat2"):
        return _at(call.args[0], call.args[1]), _at(call.args[2], call.args[3])
    return None


def _changed(call: Syscall, open_for_write: dict[str, int]) -> list[str]:
    """The paths (files, and directories whose entries change) that a successful call modifies."""
    a, name = call.args, call.name
    if name in ("openat", "open", "creat"):
        path = _at(a[0], a[1]) if name == "openat" else _at("", a[0])
        flags = "O_WRONLY|O_CREAT|O_TRUNC" if name == "creat" else a[2 if name == "openat" else 1]
        if not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", flags):
            return []
        open_for_write[path] = open_for_write.get(path, 0) + 1
        return [path, os.path.dirname(path)] if "O_CREAT" in flags else [path]
    if name in _WRITES or name == "sendfile":
        return [p] if (p := _fd_path(a[0])) else []
    if name == "copy_file_range":
        return [p] if (p := _fd_path(a[2])) else []
    if name == "close":
        path = _fd_path(a[0])
        if path is None or open_for_write.get(path, 0) == 0:
            return []  # a descriptor opened only to read
        open_for_write[path] -= 1
        return [path]
    if name in ("rename", "link"):
        src, dst = _at("", a[0]), _at("", a[1])
    elif name in ("renameat", "renameat2", "linkat"):
        src, dst = _at(a[0], a[1]), _at(a[2], a[3])
    elif name in ("mkdir", "unlink", "rmdir"):
        path = _at("", a[0])
        return [path, os.path.dirname(path)]
    elif name in ("mkdirat", "unlinkat"):
        path = _at(a[0], a[1])
        return [path, os.path.dirname(path)]
    else:
        return []
    if name.startswith("rename") and src in open_for_write:
        open_for_write[dst] = open_for_write.pop(src)
    moved = [src, os.path.dirname(src)] if name.startswith("rename") else []
    return [*moved, dst, os.path.dirname(dst)]


def _publishing_rename(calls: list[Syscall], store: Path, name: str) -> Syscall | None:
    """The (last) rename of ``.gridstore/work/staging/<name>`` to ``<store>/<name>``."""
    root = os.path.realpath(store)
    publish = (os.path.join(root, STAGING, name), os.path.join(root, name))
    return next((c for c in reversed(calls) if c.ok and _renamed(c) == publish), None)


def publish_violations(trace: str, store: Path, name: str) -> list[str]:
    """What is wrong with the publishing of version ``name`` in a trace (``[]``: nothing).

    The version's files and directories are read from the store (after the
    run). Each must have been changed in the trace, by any process, and then
    flushed (a ``syncfs`` of the store's file system, or an ``fsync`` of that
    very file or directory) after its last change and before the rename of
    ``.gridstore/work/staging/<name>`` to ``<store>/<name>``; the store
    directory must be fsynced after that rename.
    """
    root = os.path.realpath(store)
    staged, final = os.path.join(root, STAGING, name), os.path.join(root, name)
    calls = parse_strace(trace)
    publish = _publishing_rename(calls, store, name)
    if publish is None:
        return [f"no rename of '{staged}' to '{final}' in the trace"]

    last_change: dict[str, int] = {}
    open_for_write: dict[str, int] = {}
    for call in sorted((c for c in calls if c.ok and c.start < publish.start), key=lambda c: c.end):
        for path in _changed(call, open_for_write):
            if path == staged or path.startswith(staged + "/"):
                last_change[path] = call.end
    syncs: list[int] = []  # where a syncfs of the store's file system began
    fsyncs: dict[str, list[int]] = {}  # where an fsync of each path began
    for c in calls:
        path = _fd_path(c.args[0]) if c.args else None
        if not c.ok or path is None or c.end >= publish.start:
            continue
        if c.name == "syncfs" and (path == root or path.startswith(root + "/")):
            syncs.append(c.start)
        elif c.name in _FLUSHES:
            fsyncs.setdefault(path, []).append(c.start)

    problems = []
    for dirpath, _, files in os.walk(final):
        for path in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            rel = os.path.relpath(path, final)
            was = os.path.normpath(os.path.join(staged, rel))
            if was not in last_change:
                problems.append(f"'{rel}': never written in the trace (was every process traced?)")
                continue
            flushed = [t for t in syncs + fsyncs.get(was, []) if t > last_change[was]]
            if not flushed:
                problems.append(
                    f"'{rel}': last changed at trace line {last_change[was] + 1}, not flushed "
                    f"before the publishing rename at line {publish.start + 1}"
                )
    if not any(
        c.ok and c.name in _FLUSHES and c.start > publish.end and _fd_path(c.args[0]) == root
        for c in calls
    ):
        problems.append(f"the store directory '{root}' is not fsynced after the publishing rename")
    return problems


def _strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.fail(
            "strace is missing: install it with 'apt-get install -y strace' (as .ci/run does)"
        )
    return path


def _traced_generate(tmp_path: Path, sync: str) -> tuple[str, Path, str]:
    """Run a real 60,000-image, 2-worker generate under strace; its trace, store and version."""
    store, log = tmp_path / "s", tmp_path / "trace.txt"
    strace = [_strace(), "--seccomp-bpf", "-f", "-qq", "-ttt", "-y", "-s", "0", "-o", str(log)]
    strace += ["-e", "trace=" + ",".join(f"?{c}" for c in TRACED.split(","))]
    generate = ["generate", "--num-images", "60000", "--workers", "2", "--store", str(store)]
    done = subprocess.run(
        [*strace, *CLI, *generate, "--yes", "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "GRIDSTORE_SYNC": sync},
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    ok(done)
    (name,) = LocalStore.open(store).versions()
    return log.read_text(), store, name


@pytest.mark.parametrize("sync", ["syncfs", "fsync"])
def test_publish_flushes_every_file_before_the_one_rename(tmp_path: Path, sync: str) -> None:
    """Promise 1: in a real trace (2 worker processes), every file and directory of the version
    is flushed (GRIDSTORE_SYNC=syncfs: one syncfs; fsync: one fsync each) before the rename
    that publishes it, and the store directory is fsynced after it."""
    trace, store, name = _traced_generate(tmp_path, sync)
    assert publish_violations(trace, store, name) == []
    calls = parse_strace(trace)
    publisher = _publishing_rename(calls, store, name)
    assert publisher is not None
    writers = {c.pid for c in calls if (r := _renamed(c)) and "/train/images/c." in r[1]}
    assert writers and publisher.pid not in writers  # the workers' chunk writes were traced
    assert sum(c.name == "syncfs" for c in calls) == (sync == "syncfs")


def test_publish_check_catches_a_version_published_unflushed(tmp_path: Path) -> None:
    """Promise 1 can fail: with GRIDSTORE_SYNC=none the same check reports every unflushed file."""
    trace, store, name = _traced_generate(tmp_path, "none")
    problems = publish_violations(trace, store, name)
    assert any(p.startswith("'train/images/c.0.0.0': last changed at") for p in problems), problems
    assert any(p.startswith("'zarr.json': last changed at") for p in problems), problems


# -- 2. a store on its own file system ----------------------------------------------------------


def _store_on_tmpfs(
    kind: str, tmp_path: Path, mount: Callable[[Path, str], Path], size: str
) -> Path:
    """A store path that is a tmpfs mount point, or a symlink to a directory on a tmpfs."""
    if kind == "mount point":
        return mount(tmp_path / "store", size)
    target = mount(tmp_path / "disk", size) / "real"
    target.mkdir()
    (tmp_path / "store").symlink_to(target, target_is_directory=True)
    return tmp_path / "store"


@pytest.mark.parametrize("kind", ["mount point", "symlink"])
def test_store_on_its_own_file_system_works_end_to_end(
    tmp_path: Path,
    kind: str,
    mount_tmpfs: Callable[[Path, str], Path],
    clean_60k: tuple[Path, str],
) -> None:
    """Promise 2: on a store that is a tmpfs mount point (or a symlink to a tmpfs), kill -9,
    resume, grow, validate --full and delete all succeed through the CLI, with no EXDEV, and
    the resumed version is byte-identical to a clean run."""
    store = _store_on_tmpfs(kind, tmp_path, mount_tmpfs, "48m")
    run = ["--store", str(store), "--workers", "1", "--yes", "--quiet"]
    killed = gridstore(
        "generate", "--num-images", "60000", *run, env={"GRIDSTORE_CRASH_AT": "task-1-written"}
    )
    assert killed.returncode == -9, killed.stderr
    ((name, state),) = states(store).items()
    assert state == "interrupted"

    ok(gridstore("generate", "--resume", "--version", name, *run))
    assert_same_chunks(store, name, clean_60k)
    ok(gridstore("generate", "--grow-from", name, "--num-images", "80000", *run))
    (grown,) = set(states(store)) - {name}
    ok(gridstore("validate", grown, "--full", "--quiet", "--store", str(store)))  # exit 0: all pass
    ok(gridstore("delete", name, "--yes", "--store", str(store)))
    assert states(store) == {grown: "complete"}
    assert os.listdir(store / STAGING) == []


@pytest.mark.parametrize("kind", ["mount point", "symlink"])
def test_preflight_refuses_a_run_bigger_than_the_store_file_system(
    tmp_path: Path, kind: str, mount_tmpfs: Callable[[Path, str], Path]
) -> None:
    """Promise 2: the free-space pre-flight looks at the store's own (small) file system and
    names the store; nothing is written."""
    store = _store_on_tmpfs(kind, tmp_path, mount_tmpfs, "8m")
    done = gridstore(
        "generate", "--num-images", "2000000", "--store", str(store), "--yes", "--quiet"
    )
    assert done.returncode == 1, done.stderr[-2000:]
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("Error")]
    assert line.startswith(
        f"Error: not enough disk space for store '{store}': the run needs about"
    ), line
    assert list(store.iterdir()) == []


# -- 3. a full disk -----------------------------------------------------------------------------


def test_disk_filling_up_mid_run_is_one_line_and_resumes_to_the_same_bytes(
    tmp_path: Path, mount_tmpfs: Callable[[Path, str], Path]
) -> None:
    """Promise 3: a tmpfs store that another process fills mid-run: exit 1, one 'no space' line,
    no complete version, no temp file outside staging; once the filler is gone, --resume (whose
    pre-flight counts only what remains: the whole run would no longer pass) gives the bytes of
    a clean run."""
    num_images = 200_000  # 10 tasks: still running well after the first record appears
    need = estimate_run(_plan(num_images), 1).needed_bytes * SAFETY
    # Just enough for the pre-flight of the whole run: after a task or more it would refuse.
    store = mount_tmpfs(tmp_path / "store", str(int(need) + 512 * 1024))
    run = ["--store", str(store), "--workers", "1", "--yes", "--quiet"]
    proc = subprocess.Popen(
        [*CLI, "generate", "--num-images", str(num_images), *run],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(store.glob(".gridstore/work/tasks/*/0.json")):  # the pre-flight passed
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no task finished in time"
            time.sleep(0.005)
        filler = fill(store)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    (line,) = [x for x in err.splitlines() if x.startswith("Error")]
    m = NO_SPACE.fullmatch(line.removeprefix("Error: "))
    assert m is not None and m["where"].startswith(f"{store}/"), line
    ((name, state),) = states(store).items()
    assert state == "interrupted"
    assert temp_files(store, outside=store / STAGING) == []

    filler.unlink()
    assert shutil.disk_usage(store).free < need  # the whole run would not pass the pre-flight
    ok(gridstore("generate", "--resume", "--version", name, *run))
    assert states(store) == {name: "complete"}
    assert temp_files(store) == []
    clean = tmp_path / "clean"
    meta = create_version(clean, _plan(num_images), workers=1, show_progress=False)
    assert_same_chunks(store, name, (clean, meta["version"]))


NAME = "2026-01-02-v1"
SHAPES = {"train": {"images": ((8, 16, 16), (8, 16, 16), "uint8")}}
HASHES = {"train": np.arange(8, dtype=np.uint64)}


def _lock(store: LocalStore) -> None:
    with store.version_lock(NAME):
        pass


# Each write path of LocalStore, and how far a store is set up before the disk fills.
WRITES: dict[str, tuple[str, Callable[[LocalStore], object]]] = {
    "claim_version": ("open", lambda s: s.claim_version(NAME)),
    "create_arrays": ("claimed", lambda s: s.create_arrays(NAME, {"plan": {}}, SHAPES)),
    "write_chunk": (
        "staged",
        lambda s: s.write_chunk(NAME, "train", "images", 0, np.ones((8, 16, 16), np.uint8)),
    ),
    "record_task hashes": ("staged", lambda s: s.record_task(NAME, 0, {"n": 8}, HASHES)),
    "record_task record": ("staged", lambda s: s.record_task(NAME, 0, {"n": 8}, HASHES)),
    "commit metadata": ("staged", lambda s: s.commit(NAME, {"note": "x" * 100}, SHAPES)),
    "version_lock": ("claimed", _lock),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_each_write_path_on_a_full_disk_raises_one_line_and_leaves_no_temp_file(
    tmp_path: Path, write: str, mount_tmpfs: Callable[[Path, str], Path]
) -> None:
    """Promise 3, write path by write path through the LocalStore API on a full tmpfs:
    InsufficientSpaceError with the one-line no-space message naming a path in the store,
    and no temp file left behind."""
    stage, call = WRITES[write]
    store = LocalStore.open(mount_tmpfs(tmp_path / "store", "1m"), create=True)
    if stage != "open":
        store.claim_version(NAME)
    if stage == "staged":
        store.create_arrays(NAME, {"plan": {}}, SHAPES)
        if write == "commit metadata":  # a complete staged version: only its commit is left
            store.write_chunk(NAME, "train", "images", 0, np.ones((8, 16, 16), np.uint8))
    filler = fill(store.path)
    if write == "record_task record":  # room for the hashes (one page), none for the record
        os.truncate(filler, filler.stat().st_size - PAGE)
    assert os.statvfs(store.path).f_bavail == (write == "record_task record")
    with pytest.raises(InsufficientSpaceError) as caught:
        call(store)
    m = NO_SPACE.fullmatch(str(caught.value))
    assert m is not None and m["where"].startswith(f"{store.path}/"), caught.value
    assert temp_files(store.path) == []
    tasks = store.path / ".gridstore/work/tasks" / NAME
    if write.startswith("record_task"):
        assert (tasks / "0.h0").exists() == (write == "record_task record")
        assert not (tasks / "0.json").exists()  # a task is never marked done without its hashes
    assert store.versions() == []


# -- 4. stray temp files ------------------------------------------------------------------------


def test_a_killed_writers_temp_file_is_never_published(
    tmp_path: Path, clean_60k: tuple[Path, str]
) -> None:
    """Promise 4: temp files a killed writer left in staged chunk directories are not part of
    the version that a resume publishes; it validates and has a clean run's bytes."""
    store = tmp_path / "s"
    run = ["--store", str(store), "--workers", "1", "--yes", "--quiet"]
    killed = gridstore(
        "generate", "--num-images", "60000", *run, env={"GRIDSTORE_CRASH_AT": "task-1-written"}
    )
    assert killed.returncode == -9, killed.stderr
    ((name, _),) = states(store).items()
    staged = store / STAGING / name
    strays = [staged / "train/images/.c.0.0.0.4242.tmp", staged / "val/num_objects/.c.1.4242.tmp"]
    for stray in strays:
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"half a chunk")

    ok(gridstore("generate", "--resume", "--version", name, *run))
    assert temp_files(store) == []
    assert_same_chunks(store, name, clean_60k)
    ok(gridstore("validate", name, "--full", "--quiet", "--store", str(store)))
