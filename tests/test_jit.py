"""The compiled kernels' cache: outside the package, keyed by every kernel source, silent on import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gridstore
from gridstore._jit import KERNEL_SOURCES, kernel, sources_key

PACKAGE = Path(gridstore.__file__).parent


def _run(code: str, cache: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )


def _package_files() -> set[Path]:
    return {
        p
        for p in PACKAGE.rglob("*")
        if "__pycache__" not in p.parts or p.suffix in (".nbi", ".nbc")
    }


def test_import_writes_nothing_and_a_compile_writes_only_the_user_cache(tmp_path: Path) -> None:
    """Importing creates no file; compiling writes into ~/.cache/gridstore, never the package."""
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    before = _package_files()
    _run("import gridstore, gridstore.generate, gridstore.validate.constraints", cache, home)
    assert not cache.exists() and list(home.iterdir()) == []
    _run(
        "import gridstore.generate as g; g.generate_images(g.GeneratorConfig(), 0, 0, 3)",
        cache,
        home,
    )
    compiled = list((cache / "gridstore" / "numba").glob("*/batch._fill-*.nbi"))
    assert len(compiled) == 1 and compiled[0].parent.name == sources_key()
    assert _package_files() == before  # no .nbi/.nbc (or anything else) beside the sources


@pytest.mark.parametrize("source", KERNEL_SOURCES, ids=lambda p: p.name)
def test_every_kernel_source_is_in_the_key(tmp_path: Path, source: Path) -> None:
    """Editing any kernel module (not only the caller's own file) gives a fresh cache directory."""
    copies = tuple(
        Path(shutil.copy(p, tmp_path / f"{i}-{p.name}")) for i, p in enumerate(KERNEL_SOURCES)
    )
    assert sources_key(copies) == sources_key()
    edited = copies[KERNEL_SOURCES.index(source)]
    edited.write_text(edited.read_text() + "\n# edited\n")
    assert sources_key(copies) != sources_key()


def test_a_kernel_outside_the_keyed_sources_is_refused() -> None:
    """A kernel in a module the key does not cover would load stale code: refused at once."""
    with pytest.raises(RuntimeError, match=r"not in gridstore\._jit\.KERNEL_SOURCES"):
        kernel(lambda x: x)


def test_generate_announces_a_cold_compile_once(tmp_path: Path) -> None:
    """A cold cache: one line before compiling and the compile time in the plan; warm: neither.

    The cache goes under NUMBA_CACHE_DIR (numba's own setting) when it is set.
    """
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--num-images", "1000",
           "--store", str(tmp_path / "s"), "--dry-run"]  # fmt: skip
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    cold = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    warm = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    assert cold.startswith("compiling the generator for this CPU (once")
    assert "compiled:" in cold and "time (est.):" in cold
    assert "compiling" not in warm and "compiled:" not in warm
    assert list((tmp_path / "numba" / "gridstore").glob("*/batch._fill-*.nbi"))
