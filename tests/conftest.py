"""Shared fixtures: real stores on disk, built with the real writer."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from gridstore.plan import Plan
from gridstore.write.versions import create_version
from tests.helpers_signals import SENT

TINY = Plan(num_images=23_456, seed=7)  # 2 tasks: the second with a partial block


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (and its sidecar) by relative path: to compare stores byte for byte."""
    out = {}
    for base in (root, root.parent / f".{root.name}.gridstore"):
        if base.exists():
            for f in sorted(base.rglob("*")):
                if f.is_file():
                    out[str(f.relative_to(root.parent))] = f.read_bytes()
    return out


def version_chunks(store: Path, version: str) -> dict[str, bytes]:
    """Chunk files of a version by key (metadata excluded): its data, byte for byte.

    Keys of both layouts: ``<array>/c.<i>.0.0`` and, before issue 26, ``<array>/c/<i>/0/0``.
    """
    root = store / version
    chunks = {
        str(f.relative_to(root)): f.read_bytes()
        for f in sorted(root.rglob("*"))
        if f.is_file() and (f.name.startswith("c.") or "c" in f.relative_to(root).parts[:-1])
    }
    assert chunks, f"no chunk files in {root}"  # never an empty comparison that passes
    return chunks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Put SIGINT/SIGTERM back as each test found them, fixtures of every scope included.

    The CLI's ``main`` installs its SIGTERM handler in whatever process runs it: under
    CliRunner, this one. Left in place, a later SIGTERM to pytest (a CI timeout) would
    be raised as a KeyboardInterrupt inside some unrelated test.
    """
    saved = {sig: signal.getsignal(sig) for sig in SENT}
    try:
        return (yield)
    finally:
        for sig, handler in saved.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


@pytest.fixture
def tmp_store(tmp_path: Path) -> Path:
    """A path for a store that does not exist yet."""
    return tmp_path / "datasets"


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store holding one complete version of TINY (session-wide; copy before damaging)."""
    store = tmp_path_factory.mktemp("built") / "datasets"
    meta = create_version(store, TINY, workers=1, show_progress=False)
    return store, meta["version"]


@pytest.fixture
def store_copy(built_store: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of ``built_store`` that a test may change."""
    src, version = built_store
    dst = tmp_path / "datasets"
    shutil.copytree(src, dst)
    return dst, version


@pytest.fixture
def environ_restored() -> Iterator[None]:
    """A LocalCluster's nannies write OMP_NUM_THREADS, MALLOC_TRIM_THRESHOLD_ etc. into
    os.environ (and never undo it): put it back, so that no other test sees them."""
    saved = os.environ.copy()
    yield
    os.environ.clear()
    os.environ.update(saved)
