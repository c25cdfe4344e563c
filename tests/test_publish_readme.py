"""The README's "Sharing and loading elsewhere" examples run as written, in an empty
directory, offline, and print what the README says they print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import _blocks, _commands, _section


@pytest.mark.slow
# mlcroissant's own use of rdflib and pandas deprecations, not ours
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_sharing_examples_run_and_print_what_the_readme_says(tmp_path: Path) -> None:
    blocks = _blocks(_section("Sharing and loading elsewhere"))
    assert [lang for lang, _ in blocks] == ["bash", "python"]
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "HF_HOME": str(tmp_path / ".hf"),  # datasets' caches, not the user's
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    for lang, code in blocks:
        for text, cmd in _commands(lang, code):
            run = subprocess.run(
                cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
            )
            assert run.returncode == 0, f"{text}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    printed = run.stdout.strip().splitlines()[-1]
    said = code.strip().splitlines()[-1].removeprefix("# ")
    assert printed == said
    assert (tmp_path / "card" / "README.md").is_file() and (
        tmp_path / "card" / "preview.png"
    ).is_file()
    assert len(list((tmp_path / "hub" / "data").glob("*.parquet"))) == 3
