"""The ``gridstore`` command line: thin wrappers that parse, call the library and print.

Progress and prompts go to stderr; results (and ``--json``) to stdout. Every
GridstoreError becomes one ``Error: ...`` line and exit code 1 (``--debug``
shows the traceback); click's own usage errors exit with 2; an interrupt
130 (SIGINT) or 143 (SIGTERM). The table is in ``main``'s help and the README.
"""

from __future__ import annotations

import signal
import threading
import warnings

import click

from gridstore._version import __version__
from gridstore.cli import browse, catalog, diff, inspect, publish, reproduce
from gridstore.cli.common import on_sigterm, warning_line
from gridstore.cli.generate import generate

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gridstore")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:  # read back through the context in errors
    """Generate, version, check and look at synthetic ARC-like grid image corpora.

    A VERSION argument is a version name, a tag (gridstore tag) or latest.

    \b
    Examples:
      gridstore generate --num-images 100000 --yes
      gridstore versions
      gridstore validate --full
      gridstore preview 2026-11-25-v1 -o preview.png

    \b
    Exit codes (every command):
      0    success
      1    an error in what was asked or found (one 'Error: ...' line): a bad
           value, a missing store or version, damaged data, a failed
           validation or reproduction
      2    a usage mistake click catches: an unknown option, a missing
           argument, a value of the wrong type or range
      130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM (browse, which
           serves until Ctrl-C, exits 0 when stopped so)
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)
    if not debug:
        warnings.formatwarning = warning_line


for command in (
    generate,
    catalog.versions,
    catalog.info,
    catalog.tag,
    catalog.untag,
    catalog.describe,
    inspect.validate,
    inspect.preview,
    inspect.stats,
    inspect.count,
    publish.export,
    publish.card,
    inspect.delete,
    inspect.estimate,
    diff.diff,
    browse.browse,
    reproduce.reproduce,
):
    main.add_command(command)
