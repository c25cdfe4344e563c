"""Every command follows one exit-code table: 2 usage, 1 error (one line), 130/143 interrupted.

The table is in ``gridstore --help`` and the README; this checks each
registered command for each kind of error it can meet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import gridstore.browse.app
import gridstore.plan
import gridstore.storage
import gridstore.write.reproduce
from gridstore.cli import main
from gridstore.cli.common import Terminated

COMMANDS = sorted(main.commands)
V = "2026-01-01-v1"
# Each command's arguments, with --store {store} where it takes one.
ARGS = {
    "browse": ["--store", "{store}", "--port", "0"],
    "card": ["-o", "{tmp}/README.md", "--store", "{store}"],
    "count": ["--store", "{store}"],
    "delete": [V, "--store", "{store}", "--yes"],
    "describe": [V, "a note", "--store", "{store}"],
    "diff": [V, V, "--store", "{store}"],
    "estimate": ["--num-images", "10"],
    "export": ["-o", "{tmp}/out", "--store", "{store}"],
    "generate": ["--num-images", "10", "--store", "{store}", "--yes", "-q"],
    "info": ["--store", "{store}"],
    "preview": ["--store", "{store}"],
    "reproduce": ["--store", "{store}", "-q"],
    "stats": ["--store", "{store}"],
    "tag": [V, "paper", "--store", "{store}"],
    "untag": ["paper", "--store", "{store}"],
    "validate": ["--store", "{store}", "-q"],
    "versions": ["--store", "{store}"],
}
# estimate checks all its input with click (exit 2) and touches no store: no error of kind 1.
NO_RUNTIME_ERROR = {"estimate"}


def _args(command: str, tmp: Path, store: Path) -> list[str]:
    return [command, *(a.format(tmp=tmp, store=store) for a in ARGS[command])]


def test_the_table_covers_every_command() -> None:
    assert sorted(ARGS) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_a_usage_mistake_exits_2(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--no-such-option"])
    assert result.exit_code == 2, result.output
    assert "Error: No such option '--no-such-option'." in result.output


# Commands that require an argument or option, called without it.
MISSING = {"delete": "Missing argument 'VERSION'", "describe": "Missing argument 'VERSION'",
           "diff": "Missing argument 'VERSION_A'", "tag": "Missing argument 'VERSION'",
           "untag": "Missing argument 'TAG'", "export": "Missing option '-o' / '--output'",
           "estimate": "Missing option '--num-images'"}  # fmt: skip


@pytest.mark.parametrize("command", sorted(MISSING))
def test_a_missing_argument_exits_2(command: str) -> None:
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 2, result.output
    assert f"Error: {MISSING[command]}" in result.output


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - NO_RUNTIME_ERROR))
def test_an_error_exits_1_in_one_line(command: str, tmp_path: Path) -> None:
    not_a_store = tmp_path / "file"
    not_a_store.write_text("not a store")
    result = CliRunner().invoke(main, _args(command, tmp_path, not_a_store))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines == [
        f"Error: store path '{not_a_store}' is a file, not a directory; choose another --store"
    ]


@pytest.mark.parametrize("signal", [KeyboardInterrupt, Terminated], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_interrupt_exits_130_or_143(
    command: str, signal: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wherever a command is when it is interrupted (here: as it opens the store).

    (browse, once serving, stops on Ctrl-C with 0, as the table says: tests/test_browse.py.)
    """

    def interrupted(*args: object, **kwargs: object) -> None:
        raise signal

    for module, name in [(gridstore.storage, "open_backend"), (gridstore.storage, "check_store_target"),
                         (gridstore.write.reproduce, "open_backend"), (gridstore.plan, "estimate_memory"),
                         (gridstore.browse.app, "open_backend")]:  # fmt: skip
        monkeypatch.setattr(module, name, interrupted)
    result = CliRunner().invoke(main, _args(command, tmp_path, tmp_path / "datasets"))
    assert result.exit_code == (143 if signal is Terminated else 130), result.output
    assert "Error: interrupted by SIG" in result.output


def test_an_empty_where_range_is_a_usage_mistake_that_says_why() -> None:
    result = CliRunner().invoke(main, ["count", "--where", "object_size=15..12"])
    assert result.exit_code == 2
    assert (
        "range '15..12' is empty: LO must be <= HI (both inclusive), e.g. 12..15" in result.output
    )
