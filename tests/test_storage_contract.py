"""The storage contract: every promise a store makes, proved on every backend.

One class, run for three setups: ``local`` (a directory), ``mount`` (a store
directory that is itself a tmpfs mount point) and ``s3`` (``s3://<bucket>/datasets``
on a moto server process). Nothing is mocked: writers are the real CLI, in
subprocesses killed at gridstore's crash points or racing each other; bytes are
looked at (and damaged) with fsspec, beside the backend.

Sizes stay small: a version of 25,000 images is two tasks (20,000 + 5,000), and one
clean run per setup is the reference every other version is compared with.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import zarr
from click.testing import CliRunner, Result

from gridstore.cli import main
from gridstore.errors import (
    CorruptChunkError,
    StoreLockedError,
    StoreNotFoundError,
    VersionExistsError,
    VersionIncompleteError,
)
from gridstore.read import open_store
from gridstore.storage import backend, is_url, open_backend
from gridstore.storage.layout import BOOKKEEPING, staged_key, tasks_key
from tests.helpers_s3 import (  # noqa: F401 - a fixture
    new_bucket,
    s3_endpoint_fixture,
    s3_fs,
    the_proxy,
)

N = 25_000  # two tasks: 20,000 images, then 5,000
SMALL = 20_000  # one task: a grow from it to N copies task 0 and generates task 1
SOURCE = "2026-01-01-v1"  # the name of a grow's source version
CRASH_POINTS = (
    "task-1-written",  # in a pool worker (2 workers): the parent loses it
    "grow-copied-0",  # a grow copied task 0's chunks, not yet recorded
    "before-commit",
    "commit-before-sync",
    "commit-before-publish",
    "commit-after-publish",  # the version is complete: nothing to resume
)
# Metadata that differs between runs of the same plan (names, times, engine, draws).
VOLATILE = {"version", "timestamp", "committed", "generation"}
CLI = [sys.executable, "-m", "gridstore.cli"]
# Spawned writers' lease on object storage: another host may take it over after 1 s.
LEASE_SECONDS = 1.0
# The fault proxy in front of the S3 server (tests/helpers_s3proxy.py), every mode at
# once: 412s alternate between AWS's and MinIO's forms, each conditional PUT meets a
# conflict, a lost response and throttling before it lands, 1 in 40 plain requests is
# throttled, 1 in 40 GETs has its body damaged (the response checksum catches it), all
# are delayed. The setup must meet every kind it names. (A clean server
# is a subset of this one: 39 of 40 plain requests pass untouched. Running the whole
# contract a second time without faults cost 90 s of a suite that must stay under 10
# minutes; tests/test_storage_s3.py runs the clean server, mode "off".)
S3_MODES: dict[str, tuple[str, set[str]]] = {
    "s3-faults": (
        "aws412+minio412+conflict409+lost500+slowdown503+garble+delay",
        {"412-aws", "412-minio", "409", "lost-500", "503", "garbled", "delay"},
    ),
}


# -- stores on each backend ------------------------------------------------------------


class Setup:
    """One backend setup: makes fresh, empty store locations, starts processes, cleans up."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root = kind, root
        self._mounts: list[Path] = []
        self._procs: list[subprocess.Popen[str]] = []
        self._made = 0

    def new_store(self) -> str:
        """A location for a new store: a path (not yet made), a tmpfs mount point, a URL."""
        if self.is_s3:
            return f"s3://{new_bucket()}/datasets"
        self._made += 1
        path = self.root / f"store-{self._made}"
        if self.kind == "mount":
            path.mkdir()
            cmd = ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(path)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.fail(f"cannot mount a tmpfs at {path}: {done.stderr.strip()}")
            self._mounts.append(path)
            assert os.path.ismount(path)
        return str(path)

    def start(self, cmd: list[str], **popen: Any) -> subprocess.Popen[str]:
        """Start a process (text pipes as asked); close() reaps it if a failed test did not."""
        proc = subprocess.Popen(cmd, text=True, **popen)
        self._procs.append(proc)
        return proc

    @property
    def is_s3(self) -> bool:
        return self.kind.startswith("s3")

    def spawn(
        self,
        args: list[str],
        crash_at: str | None = None,
        *,
        stall_at: str | None = None,
        host: str | None = None,
    ) -> subprocess.Popen[str]:
        """The CLI in a subprocess (killing itself at ``crash_at``, stopping itself at
        ``stall_at``), on another host name if ``host`` (its own UTS namespace)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDSTORE_")}
        env["GRIDSTORE_S3_LEASE_SECONDS"] = str(LEASE_SECONDS)
        for key, point in (("GRIDSTORE_CRASH_AT", crash_at), ("GRIDSTORE_STALL_AT", stall_at)):
            if point is not None:
                env[key] = point
        cmd = [*CLI, *args]
        if host is not None:
            cmd = ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *cmd]
        return self.start(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> None:
        """Kill what a failed test left running, then unmount every tmpfs this setup mounted."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        failed = []
        for path in self._mounts:
            done = subprocess.run(["umount", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                failed.append(f"{path}: {done.stderr.strip()}")
        assert not failed, f"cannot unmount: {failed}"


@dataclass(frozen=True)
class Version:
    """A complete version and its bytes: every object under it but its own zarr.json."""

    store: str
    name: str
    files: dict[str, bytes]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Killed:
    """A writer killed at a crash point: its store, exit code and stderr."""

    store: str
    returncode: int
    stderr: str


def _fs(store: str) -> tuple[Any, str]:
    """The fsspec filesystem of a store and the store's root on it."""
    if is_url(store):
        return s3_fs(), store.removeprefix("s3://")
    return fsspec.filesystem("file"), store


def objects(store: str, prefix: str) -> dict[str, dict[str, Any]]:
    """Every object under ``prefix`` of a store, by key relative to the prefix, with its info."""
    fs, root = _fs(store)
    base = f"{root}/{prefix}".rstrip("/")
    try:
        found = fs.find(base, detail=True)
    except FileNotFoundError:
        return {}
    return {p[len(base) + 1 :]: info for p, info in found.items()}


def version_files(store: str, name: str) -> dict[str, bytes]:
    """The bytes of a version: chunks and array metadata, all but its own (timestamped) zarr.json."""
    fs, root = _fs(store)
    keys = sorted(k for k in objects(store, name) if k != "zarr.json")
    return {k: bytes(fs.cat_file(f"{root}/{name}/{k}")) for k in keys}


def stamps(store: str, name: str) -> dict[str, tuple[Any, ...]]:
    """What changes when an object is rewritten: inode and mtime, or ETag and LastModified."""
    if is_url(store):
        return {k: (i["ETag"], i["LastModified"]) for k, i in objects(store, name).items()}
    return {k: (i["ino"], os.stat(i["name"]).st_mtime_ns) for k, i in objects(store, name).items()}


def stable(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata without what differs between two runs of one plan (names, times, engine).

    Everything else is compared, ``storage.bytes_on_disk`` and ``compression_ratio``
    included: they must not count the staged zarr.json, which after a kill at
    ``commit-before-sync`` is the killed run's final metadata (~8 kB larger than a clean
    run's in-progress document; the commit's byte count leaves it out).
    """
    return {k: v for k, v in metadata.items() if k not in VOLATILE}


def cli(*args: str) -> Result:
    """The real command line, in this process."""
    return CliRunner().invoke(main, list(args))


def error_lines(output: str) -> list[str]:
    """The ``Error: ...`` lines of a command's output."""
    return [line for line in output.splitlines() if line.startswith("Error")]


def generate_args(store: str, num_images: int, *extra: str) -> list[str]:
    """``gridstore generate`` of ``num_images`` into ``store``, without questions or progress."""
    return [
        "generate",
        "--store",
        store,
        "--num-images",
        str(num_images),
        "--yes",
        "--quiet",
        *extra,
    ]


def generate(store: str, num_images: int = N, *extra: str) -> str:
    """Generate a version with the CLI, serially, in this process; returns its name."""
    result = cli(*generate_args(store, num_images, "--engine", "serial", *extra))
    assert result.exit_code == 0, result.output
    return result.stdout.split(":", 1)[0]


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a process: its exit code (-9: killed), stdout and stderr."""
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def wait_stopped(proc: subprocess.Popen[str]) -> None:
    """Wait until a process has stopped itself (``GRIDSTORE_STALL_AT``)."""
    deadline = time.monotonic() + 120
    while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert proc.poll() is None and time.monotonic() < deadline, "the writer never stalled"
        time.sleep(0.05)


def listed_by_zarr(store: str) -> set[str]:
    """Versions a plain zarr listing shows (local stores), with zarr's warnings as errors.

    Bookkeeping shows as ``.gridstore`` and its empty array ``.gridstore/work``, never
    what is below it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        members = [k for k, _ in zarr.open_group(store, mode="r").members(max_depth=None)]
    assert {k for k in members if k.startswith(".")} <= {".gridstore", ".gridstore/work"}
    return {k.split("/")[0] for k in members if not k.startswith(".")}


def assert_only_complete(store: str, complete: list[str]) -> None:
    """Every reader lists exactly the complete versions ``complete``: nothing unfinished."""
    assert backend(store).versions() == complete
    assert open_store(store).versions == complete
    if not is_url(store):
        assert listed_by_zarr(store) == set(complete)


# -- fixtures: one setup per parameter, one clean run and one round of kills per setup --


@pytest.fixture(scope="module", params=["local", "mount", *S3_MODES])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    """Where stores go for this parameter (on S3, through the proxy in this parameter's mode)."""
    made = Setup(request.param, tmp_path_factory.mktemp(request.param))
    if made.is_s3:
        request.getfixturevalue("s3_endpoint")
        the_proxy().set_mode(S3_MODES[request.param][0], every=40, delay=0.002)
    try:
        yield made
    finally:
        made.close()
        if made.is_s3:
            the_proxy().set_mode("off")


@pytest.fixture(scope="module")
def clean(setup: Setup) -> Version:
    """The reference: N images generated once, uninterrupted (seed 42, the CLI's default)."""
    store = setup.new_store()
    name = generate(store)
    return Version(store, name, version_files(store, name), open_backend(store).metadata(name))


@pytest.fixture(scope="session")
def local_clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The bytes of the clean run in a local store: what every backend must write."""
    store = str(tmp_path_factory.mktemp("reference") / "store")
    return version_files(store, generate(store))


@pytest.fixture(scope="module")
def killed(setup: Setup) -> dict[str, Killed]:
    """A CLI writer killed at each crash point, each in its own store, all run at once.

    Also ``lost-chunk``: killed before its commit, for a test that then damages a
    recorded task's chunk.
    """
    stores = {p: setup.new_store() for p in (*CRASH_POINTS, "lost-chunk")}
    procs = {}
    for point, store in stores.items():
        if point == "task-1-written":
            args = generate_args(store, N, "--engine", "processes", "--workers", "2")
        elif point != "grow-copied-0":
            args = generate_args(store, N, "--engine", "serial")
        else:
            continue
        procs[point] = setup.spawn(args, "before-commit" if point == "lost-chunk" else point)
    generate(stores["grow-copied-0"], SMALL, "--version", SOURCE)  # meanwhile, the grow's source
    grow = generate_args(stores["grow-copied-0"], N, "--engine", "serial", "--grow-from", SOURCE)
    procs["grow-copied-0"] = setup.spawn(grow, "grow-copied-0")
    return {p: Killed(stores[p], *finish(proc)[::2]) for p, proc in procs.items()}


# A stalled writer's last task (not yet recorded), its commit, its publishing PUT.
STALL_POINTS = ("task-1-written", "before-commit", "commit-before-publish")


@dataclass(frozen=True)
class Stalled:
    """A writer stopped at a point, another process's attempt to take it over, its waking."""

    store: str
    name: str
    taker: tuple[int, str, str]  # exit code, stdout, stderr of the taker (on another host)
    taken: tuple[dict[str, bytes], dict[str, Any]]  # the version's bytes and stamps after it
    woken: tuple[int, str, str]  # the stalled writer's, once continued


@pytest.fixture(scope="module")
def stalled(setup: Setup) -> dict[str, Stalled]:
    """A writer stopped at each of STALL_POINTS, all at once; once its lease has expired, a
    resume from another host name; then the stalled writer continued."""
    stores = {p: setup.new_store() for p in STALL_POINTS}
    writers = {
        p: setup.spawn(generate_args(s, N, "--engine", "serial"), stall_at=p)
        for p, s in stores.items()
    }
    try:
        for proc in writers.values():
            wait_stopped(proc)
        names = {p: open_backend(s).staged()[0].name for p, s in stores.items()}
        time.sleep(LEASE_SECONDS * 1.5)  # the leases, no longer renewed, expire
        takers = {
            p: setup.spawn(
                ["generate", "--store", s, "--resume", "--version", names[p], "--yes", "--quiet"],
                host="gridstore-other",
            )
            for p, s in stores.items()
        }
        took = {p: finish(proc) for p, proc in takers.items()}
        taken = {
            p: (version_files(s, names[p]), stamps(s, names[p]))
            for p, s in stores.items()
            if took[p][0] == 0
        }
    finally:
        for proc in writers.values():
            proc.send_signal(signal.SIGCONT)
    woken = {p: finish(proc) for p, proc in writers.items()}
    return {
        p: Stalled(s, names[p], took[p], taken.get(p, ({}, {})), woken[p])
        for p, s in stores.items()
    }


@dataclass(frozen=True)
class Race:
    """Two CLI writers started at once into a new store, and what readers saw meanwhile."""

    store: str
    writers: list[tuple[int, str, str]]  # exit code, stdout, stderr
    polls: int
    polls_while_writing: int  # polls that found a live writer
    seen: set[str]  # versions any reader listed
    whole: set[str]  # those of them complete and byte-identical to the clean run when listed


@pytest.fixture(scope="module")
def race(setup: Setup, clean: Version) -> Race:
    """Two writers at once; readers poll the store until both exit, and read every version they list.

    Until the store and a first claim exist, a plain zarr listing is not made: the
    claim writes the bookkeeping's zarr.json files first (a known window: see the report).
    The first writer stops itself before its commit and is continued only once a poll
    has seen a live writer, so readers overlap a write however fast the writers run.
    """
    store = setup.new_store()
    args = generate_args(store, N, "--engine", "serial")
    stalled = setup.spawn(args, stall_at="before-commit")
    procs = [stalled, setup.spawn(args)]
    seen: set[str] = set()
    whole: set[str] = set()
    polls = polls_while_writing = 0
    writing, deadline = True, time.monotonic() + 300
    while writing:  # and one last poll after both exited
        assert time.monotonic() < deadline, "the writers did not finish"
        writing = any(p.poll() is None for p in procs)
        time.sleep(0.02)  # leave the writers the cores (and the S3 server some quiet)
        try:
            s = open_backend(store)
        except StoreNotFoundError:  # not made yet
            continue
        staged, listed = s.staged(), set(s.versions()) | set(open_store(store).versions)
        if not is_url(store) and (staged or listed):
            listed |= listed_by_zarr(store)
        for name in sorted(listed - seen):
            seen.add(name)
            if (
                s.metadata(name)["state"] == "complete"
                and version_files(store, name) == clean.files
            ):
                whole.add(name)
        polls += 1
        live = any(st.writing for st in staged)
        polls_while_writing += live
        if live and stalled.poll() is None:
            os.kill(stalled.pid, signal.SIGCONT)  # seen writing: it may commit now
    return Race(store, [finish(p) for p in procs], polls, polls_while_writing, seen, whole)


# -- the contract ------------------------------------------------------------------------


class TestStorageContract:
    """Every promise of a store, on every backend."""

    def test_names_are_claimed_exclusively(self, setup: Setup) -> None:
        """Promise: processes claiming names at once never share one (a claim is exclusive),
        whatever form the server's answers take (each fault of the proxy's mode is met)."""
        injected = dict(the_proxy().injected) if setup.is_s3 else {}
        store = setup.new_store()
        open_backend(store, create=True)
        code = (
            "import datetime as dt, json, sys\n"
            "from gridstore.errors import VersionExistsError\n"
            "from gridstore.storage import backend\n"
            "store = backend(sys.argv[1])\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            "names = [store.claim_version(today=dt.date(2026, 1, 1)) for _ in range(8)]\n"
            "try:\n"
            "    names.append(store.claim_version('2026-06-01-v1'))\n"
            "except VersionExistsError:\n"
            "    pass\n"
            "print(json.dumps(names), flush=True)\n"
        )
        procs = [
            setup.start(
                [sys.executable, "-c", code, store], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            for _ in range(3)
        ]
        for p in procs:  # all started and imported: then release them together
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        got = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0
            got.append(json.loads(out))
        names = [n for names in got for n in names]
        assert len(names) == len(set(names)) == 25
        assert sorted(n for n in names if n.startswith("2026-01-01")) == sorted(
            f"2026-01-01-v{i}" for i in range(1, 25)
        )
        assert sum("2026-06-01-v1" in names for names in got) == 1  # one of three got it
        s = open_backend(store)
        assert sorted(st.name for st in s.staged()) == sorted(names)
        assert not s._claim("2026-01-01-v3")  # the exclusive create itself refuses
        with pytest.raises(VersionExistsError, match="'2026-01-01-v3' already exists"):
            s.claim_version("2026-01-01-v3")
        if setup.is_s3:  # the proxy's faults were met, not just set
            met = {k for k, n in the_proxy().injected.items() if n > injected[k]}
            assert met == S3_MODES[setup.kind][1], the_proxy().injected

    def test_nothing_unfinished_is_visible(self, clean: Version) -> None:
        """Promise: a version being written (lock held, a task done) is listed by no reader,
        cannot be discarded under its writer, and once discarded leaves no trace."""
        store, s = clean.store, open_backend(clean.store)
        name = s.claim_version()
        shapes = {"train": {"images": ((30, 16, 16), (20, 16, 16), "uint8")}}
        try:
            with s.version_lock(name):
                s.create_arrays(name, {"plan": {"num_images": 30}}, shapes)
                s.write_chunk(name, "train", "images", 0, np.ones((20, 16, 16), np.uint8))
                s.record_task(name, 0, {"counts": {}, "draws": 20}, {"train": np.zeros(20, "u8")})
                assert_only_complete(store, [clean.name])
                assert [(st.name, st.writing) for st in s.staged()] == [(name, True)]
                with pytest.raises(VersionIncompleteError, match=f"version '{name}' .*unfinished"):
                    s.metadata(name)
                with pytest.raises(VersionIncompleteError, match=f"version '{name}' .*unfinished"):
                    open_store(store).version(name)
                rows = json.loads(cli("versions", "--store", store, "--json").stdout)
                assert [(r["version"], r["state"]) for r in rows] == [
                    (clean.name, "complete"),
                    (name, "writing"),
                ]
                with pytest.raises(StoreLockedError, match=f"version '{name}' is locked"):
                    s.discard(name)
            assert [(st.name, st.writing) for st in s.staged()] == [(name, False)]
            assert_only_complete(store, [clean.name])
        finally:
            s.discard(name)
        assert s.staged() == []
        assert [k for k in objects(store, BOOKKEEPING) if name in k] == []

    @pytest.mark.parametrize("point", CRASH_POINTS)
    def test_kill_9_at_a_crash_point_then_resume_gives_the_clean_bytes(
        self, killed: dict[str, Killed], clean: Version, point: str
    ) -> None:
        """Promise: a writer killed anywhere leaves nothing visible, and resuming gives a clean run's bytes."""
        run = killed[point]
        store, before = run.store, [SOURCE] if point.startswith("grow") else []
        assert "Traceback" not in run.stderr
        if point == "task-1-written":  # a pool worker died: the parent says so, in one line
            assert run.returncode == 1, run.stderr
            (line,) = error_lines(run.stderr)
            assert line.startswith("Error: a worker process died"), line
        else:
            assert run.returncode == -9, run.stderr
        s = open_backend(store)
        if point == "commit-after-publish":  # published: complete, and nothing to resume
            (name,) = s.versions()
            assert_only_complete(store, [name])
            assert s.staged() == []
            assert version_files(store, name) == clean.files
            assert stable(s.metadata(name)) == stable(clean.metadata)
            before = stamps(store, name)
            result = cli("generate", "--store", store, "--resume", "--version", name, "--yes")
            assert result.exit_code == 0, result.output  # a job to repeat: nothing to do
            assert f"{name} is already complete: nothing to do" in result.output
            assert (version_files(store, name), stamps(store, name)) == (clean.files, before)
            return
        assert_only_complete(store, before)
        (staged,) = s.staged()
        assert not staged.writing
        resume = ["--resume", "--version", staged.name, "--engine", "serial", "--yes", "--quiet"]
        result = cli("generate", "--store", store, *resume)
        assert result.exit_code == 0, result.output
        assert_only_complete(store, [*before, staged.name])
        assert s.staged() == []
        assert version_files(store, staged.name) == clean.files
        assert stable(s.metadata(staged.name)) == stable(clean.metadata)

    def test_resume_redoes_a_recorded_task_whose_chunks_were_lost(
        self, killed: dict[str, Killed], clean: Version
    ) -> None:
        """Promise: resume re-checks recorded tasks; one whose chunk is gone or damaged is redone."""
        run = killed["lost-chunk"]
        assert run.returncode == -9, run.stderr
        (staged,) = open_backend(run.store).staged()
        fs, root = _fs(run.store)
        base = f"{root}/{staged_key(staged.name)}"
        fs.rm_file(f"{base}/train/images/c.0.0.0")  # task 0: what a power cut can lose
        damaged = bytearray(fs.cat_file(f"{base}/val/object_type/c.1.0"))  # task 1
        damaged[len(damaged) // 2] ^= 0x40
        fs.pipe_file(f"{base}/val/object_type/c.1.0", bytes(damaged))
        resume = ["--resume", "--version", staged.name, "--engine", "serial", "--yes", "--quiet"]
        result = cli("generate", "--store", run.store, *resume)
        assert result.exit_code == 0, result.output
        assert version_files(run.store, staged.name) == clean.files
        assert stable(open_backend(run.store).metadata(staged.name)) == stable(clean.metadata)

    def test_two_writers_at_once_get_two_valid_distinct_versions(
        self, race: Race, clean: Version
    ) -> None:
        """Promise: concurrent writers (into a store neither has made yet) get two whole versions."""
        for code, _, err in race.writers:
            assert code == 0, err
        printed = sorted(out.split(":", 1)[0] for _, out, _ in race.writers)
        assert len(set(printed)) == 2
        assert_only_complete(race.store, printed)
        assert open_backend(race.store).staged() == []
        for name in printed:
            assert version_files(race.store, name) == clean.files

    def test_readers_during_a_write_see_nothing_unfinished(self, race: Race) -> None:
        """Promise: while versions are written, readers list only complete versions, whole."""
        assert race.polls_while_writing > 0, f"no poll of {race.polls} overlapped a write"
        assert race.seen == race.whole  # every version a reader listed was complete and whole
        assert len(race.seen) == 2

    def test_a_clean_run_writes_the_local_bytes(
        self, setup: Setup, clean: Version, local_clean: dict[str, bytes]
    ) -> None:
        """Promise: a version has the same bytes on every backend, whatever its server answers.

        Not run for ``local``: the reference is a local run, so there the test would compare
        the local code path with itself. Local bytes are pinned by the golden fixture
        (tests/test_golden.py) and compared with killed-and-resumed runs above.
        """
        if setup.kind == "local":
            pytest.skip("local is the reference these bytes are compared with")
        assert clean.files == local_clean

    @pytest.mark.parametrize("point", STALL_POINTS)
    def test_a_stalled_local_writer_keeps_its_lock_and_finishes_after_waking(
        self, setup: Setup, stalled: dict[str, Stalled], clean: Version, point: str
    ) -> None:
        """Promise: a local writer that stalls (SIGSTOP: a frozen VM) is never taken over: the
        kernel holds its lock while it lives, so a resume from another host is refused in one
        line; woken, it finishes the clean run's bytes. (Local stores have no lease.)"""
        if setup.is_s3:
            pytest.skip("object storage has leases: see the test below")
        run = stalled[point]
        code, out, err = run.taker
        assert code == 1 and out == "", err
        (line,) = error_lines(err)
        assert f"version '{run.name}' is locked by" in line, line
        assert run.taken == ({}, {})  # nothing was read after a refused take-over
        assert run.woken[0] == 0, run.woken
        assert run.woken[1].split(":", 1)[0] == run.name, run.woken
        assert_only_complete(run.store, [run.name])
        assert version_files(run.store, run.name) == clean.files

    @pytest.mark.parametrize("point", STALL_POINTS)
    def test_a_writer_stalled_past_its_lease_never_records_or_publishes(
        self, setup: Setup, stalled: dict[str, Stalled], clean: Version, point: str
    ) -> None:
        """Promise: on object storage a writer that stalls (SIGSTOP: a frozen VM) is taken over
        once its lease has expired, and after it wakes it records, publishes and rewrites
        nothing: it stops with one line."""
        if not setup.is_s3:
            pytest.skip("local stores have no lease: see the test above")
        run = stalled[point]
        assert run.taker[0] == 0, run.taker
        assert run.taken[0] == clean.files
        code, out, err = run.woken
        assert code == 1 and out == "", err
        assert len(error_lines(err)) == 1, err
        assert "taken over by another process" in error_lines(err)[0], err
        assert (version_files(run.store, run.name), stamps(run.store, run.name)) == run.taken
        assert objects(run.store, staged_key(run.name)) == {}  # nothing staged again
        assert objects(run.store, tasks_key(run.name)) == {}  # nor recorded
        assert_only_complete(run.store, [run.name])
        assert open_backend(run.store).staged() == []

    def test_a_commit_missing_a_chunk_publishes_nothing_and_resume_completes_it(
        self, setup: Setup, clean: Version
    ) -> None:
        """Promise: a version missing a chunk at its commit (its task recorded: lost by the
        storage) is never published; the one-line error names the chunk; resume writes it."""
        store = setup.new_store()
        writer = setup.spawn(
            generate_args(store, N, "--engine", "serial"), stall_at="before-commit"
        )
        wait_stopped(writer)
        (staged,) = open_backend(store).staged()
        fs, root = _fs(store)
        lost = "val/object_bbox/c.1.0.0"
        fs.rm_file(f"{root}/{staged_key(staged.name)}/{lost}")
        writer.send_signal(signal.SIGCONT)
        code, out, err = finish(writer)
        assert code == 1 and out == "", err
        (line,) = error_lines(err)
        assert (
            f"version '{staged.name}' is missing 1 chunk(s) ({lost}); nothing was published" in line
        )
        assert "--resume" in line
        assert_only_complete(store, [])
        resume = ["--resume", "--version", staged.name, "--engine", "serial", "--yes", "--quiet"]
        result = cli("generate", "--store", store, *resume)
        assert result.exit_code == 0, result.output
        assert_only_complete(store, [staged.name])
        assert version_files(store, staged.name) == clean.files

    def test_a_grow_whose_source_was_deleted_resumes_by_generating(
        self, setup: Setup, clean: Version
    ) -> None:
        """Promise: a grow interrupted after copying, whose source is then deleted, resumes by
        generating what it would have copied: the same bytes as a clean run."""
        store = setup.new_store()
        generate(store, SMALL, "--version", SOURCE)
        grow = generate_args(store, N, "--engine", "serial", "--grow-from", SOURCE)
        code, _, err = finish(setup.spawn(grow, "grow-copied-0"))
        assert code == -9, err
        deleted = cli("delete", SOURCE, "--store", store, "--yes")
        assert deleted.exit_code == 0, deleted.output
        (staged,) = open_backend(store).staged()
        resume = ["--resume", "--version", staged.name, "--engine", "serial", "--yes", "--quiet"]
        result = cli("generate", "--store", store, *resume)
        assert result.exit_code == 0, result.output
        assert_only_complete(store, [staged.name])
        assert version_files(store, staged.name) == clean.files

    def test_damaged_missing_and_truncated_chunks_are_named(self, clean: Version) -> None:
        """Promise: gridstore validate and the reader name each bad chunk: flipped, missing, truncated.

        The reference version is damaged for the test and put back after it.
        """
        store, name = clean.store, clean.name
        fs, root = _fs(store)
        flipped, missing, truncated = (
            "val/instance_map/c.0.0.0",
            "train/images/c.1.0.0",
            "test/object_size/c.0.0",
        )
        try:
            raw = bytearray(clean.files[flipped])
            raw[len(raw) // 2] ^= 0x10
            fs.pipe_file(f"{root}/{name}/{flipped}", bytes(raw))
            fs.rm_file(f"{root}/{name}/{missing}")
            fs.pipe_file(f"{root}/{name}/{truncated}", clean.files[truncated][:-20])

            result = cli("validate", name, "--store", store, "--full", "--json", "--quiet")
            assert result.exit_code == 1, result.output
            where = {c["name"]: set(c["where"]) for c in json.loads(result.stdout)["checks"]}
            assert f"{name}/{missing}" in where["chunks_present"]
            assert {f"{name}/{flipped}", f"{name}/{truncated}"} <= where["checksums"]
            named = {w for ws in where.values() for w in ws if re.search(r"/c[./]", w)}
            assert named == {f"{name}/{k}" for k in (flipped, missing, truncated)}  # no good one

            version = open_store(store).version(name)
            bad_bytes = "(failed its crc32c check|could not be decoded)"
            for key, why in ((flipped, bad_bytes), (missing, "is missing"), (truncated, bad_bytes)):
                split, field, _, chunk = re.split(r"[./]", key)[:4]
                with pytest.raises(
                    CorruptChunkError, match=re.escape(f"'{name}/{key}'") + f".* {why}"
                ):
                    version[split].annotation(field).chunk(int(chunk))
        finally:
            for key in (flipped, missing, truncated):
                fs.pipe_file(f"{root}/{name}/{key}", clean.files[key])
        assert version_files(store, name) == clean.files

    def test_delete_frees_a_name_and_finished_versions_are_never_rewritten(
        self, setup: Setup, clean: Version
    ) -> None:
        """Promise: delete removes a version (its name is never given again: a tombstone
        keeps it); no later generate, grow, delete or commit under its name rewrites a
        finished version (bytes, mtimes or ETags)."""
        store = setup.new_store()
        first = generate(store, SMALL)
        before = (version_files(store, first), stamps(store, first))
        second = generate(store, 1000, "--seed", "3")
        second_files = version_files(store, second)
        grown = generate(store, N, "--grow-from", first)  # copies task 0 of first
        refused = cli(*generate_args(store, 1000, "--engine", "serial", "--version", first))
        assert refused.exit_code == 1
        assert error_lines(refused.output) == [
            f"Error: version '{first}' already exists in store '{open_backend(store).path}'; "
            "choose another --version or omit it"
        ]
        s = open_backend(store)  # and past the claim, the commit itself refuses
        shapes = {"train": {"images": ((20, 16, 16), (20, 16, 16), "uint8")}}
        s.create_arrays(first, {"plan": {"num_images": 20}}, shapes)
        s.write_chunk(first, "train", "images", 0, np.ones((20, 16, 16), np.uint8))
        with s.version_lock(first), pytest.raises(VersionExistsError, match="not overwritten"):
            s.commit(first, {"version": first}, shapes)

        deleted = cli("delete", second, "--store", store, "--yes")
        assert deleted.exit_code == 0, deleted.output
        assert_only_complete(store, [first, grown])
        assert objects(store, second) == {}
        assert open_backend(store).staged() == []
        again = cli(*generate_args(store, 1000, "--engine", "serial", "--seed", "3",
                                   "--version", second))  # fmt: skip
        assert again.exit_code == 1 and "was deleted from store" in again.output
        third = generate(store, 1000, "--seed", "3")  # the same bytes, under a new name
        assert third not in (first, second, grown)

        assert_only_complete(store, [first, grown, third])
        assert version_files(store, third) == second_files
        assert (version_files(store, first), stamps(store, first)) == before
        assert version_files(store, grown) == clean.files  # a grow is a clean run, too
