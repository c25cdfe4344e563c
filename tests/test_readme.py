"""The README's "Selecting data" examples run as written, in an empty directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _blocks(section: str) -> list[tuple[str, str]]:
    """The fenced python and bash blocks of a section, in order: (language, code)."""
    return re.findall(r"```(python|bash)\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.slow
def test_the_selecting_data_examples_run(tmp_path: Path) -> None:
    blocks = _blocks(_section("Selecting data"))
    assert [lang for lang, _ in blocks].count("python") >= 2 and len(blocks) >= 6
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for lang, code in blocks:
        cmd = (
            [sys.executable, "-c", code]
            if lang == "python"
            else ["bash", "-euo", "pipefail", "-c", code]
        )
        run = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, (
            f"{lang} example failed:\n{code}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        )
    assert (tmp_path / "probe" / "train.npz").exists() and (tmp_path / "diagonal.png").exists()
