"""The README's "Selecting data" examples run as written, in an empty directory, and
print what the README says they print."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
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


def _commands(lang: str, code: str) -> list[tuple[str, list[str]]]:
    """What to run for a block: a python block whole, a bash block line by line (so that each
    command's output is its own), each as (the text in the README, argv)."""
    if lang == "python":
        return [(code, [sys.executable, "-c", code])]
    lines = [line for line in code.splitlines() if line.strip()]
    return [(line, ["bash", "-euo", "pipefail", "-c", line]) for line in lines]


def _printed_ints(out: str) -> list[int]:
    return [int(x) for x in out.split()]


def _views(out: str, err: str) -> None:
    """print(len(train), len(single), len(blob3), len(probe)): 80% of 20,000 in train;
    chaining is AND, so the probe (one object, a blob) is within the one-object view."""
    train, single, blob3, probe = _printed_ints(out)
    assert train == 16_000
    assert 0 < probe < single < train and 0 < blob3 < train


def _xarray_dims(out: str, err: str) -> None:
    """The comment: image,row,col; image,object,bbox (and the bbox labels)."""
    first = out.splitlines()[0]
    assert first.startswith("('image', 'row', 'col') ('image', 'object', 'bbox') "), first
    assert "'row_min' 'col_min' 'row_max' 'col_max'" in first, first
    count = int(out.splitlines()[1].split()[0])  # train images holding a blob of colour 3
    assert 0 < count < 1600


def _unique_validates(out: str, err: str) -> None:
    """# PASS duplicates: unique: no image twice among all ..."""
    (line,) = [x for x in out.splitlines() if x.startswith("PASS duplicates:")]
    assert line.startswith("PASS duplicates: unique: no image twice among all 50000 images"), line
    assert not [x for x in out.splitlines() if x.startswith(("FAIL", "WARN"))], out


def _forecast(out: str, err: str) -> None:
    """The prose: `duplicates (est.): 10.3% of images (205,000)`."""
    assert "\nduplicates (est.): 10.3% of images (205,000)\n" in err, err


def _unique_forecast(out: str, err: str) -> None:
    """The prose: `unique: +12.0% generation`."""
    assert re.search(r"\nunique: +\+12\.0% generation \(", err), err


def _diff_seed(out: str, err: str) -> None:
    """# "changed: seed", nothing flagged"""
    lines = out.splitlines()
    assert "changed: seed" in lines, out
    assert "parameters: 1 differs" in lines and "DIFFERS" not in out, out


def _diff_weight(out: str, err: str) -> None:
    """# flags object_types, names the weight"""
    d = json.loads(out)
    assert "object_types" in [s["name"] for s in d["statistics"] if s["significant"]]
    params = {p["name"]: (p["a"], p["b"]) for p in d["parameters"]}
    assert params["generator.type_weights.blob"] == (0.4, 0.6)
    assert "object_types" in d["changed"]


# What the README says a command prints: a unique part of the command -> its check.
CLAIMS: dict[str, Callable[[str, str], None]] = {
    "print(len(train), len(single), len(blob3), len(probe))": _views,
    "print(ds.images.dims, ds.object_bbox.dims, ds.bbox.values)": _xarray_dims,
    "gridstore validate --full --store unique-demo": _unique_validates,
    "gridstore generate --num-images 2000000 --dry-run": _forecast,
    "gridstore generate --num-images 2000000 --unique --dry-run": _unique_forecast,
    "diff --store diff-demo 2026-11-30-v1 2026-11-30-v2": _diff_seed,
    "diff --store diff-demo 2026-11-30-v1 2026-11-30-v3 --json": _diff_weight,
}


@pytest.mark.slow
def test_the_selecting_data_examples_run_and_print_what_the_readme_says(tmp_path: Path) -> None:
    blocks = _blocks(_section("Selecting data"))
    assert [lang for lang, _ in blocks].count("python") >= 2 and len(blocks) >= 6
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    checked = set()
    for lang, code in blocks:
        for text, cmd in _commands(lang, code):
            run = subprocess.run(
                cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
            )
            assert run.returncode == 0, (
                f"{lang} example failed:\n{text}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
            )
            for part, check in CLAIMS.items():
                if part in text:
                    check(run.stdout, run.stderr)
                    checked.add(part)
            if lang == "bash" and "#" in text:  # a comment in a command says what it prints
                assert any(part in text for part in CLAIMS), f"no check for the claim: {text}"
    assert checked == set(CLAIMS)  # every claim was met by its command
    assert (tmp_path / "probe" / "train.npz").exists() and (tmp_path / "diagonal.png").exists()
