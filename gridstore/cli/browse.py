"""``gridstore browse``: a read-only local web page to look at a store."""

from __future__ import annotations

from pathlib import Path

import click

from gridstore.cli.common import errors, store_option


@click.command()
@store_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (other than loopback: anyone who can reach it can read the store).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: a free one).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@errors
def browse(store: Path | str, host: str, port: int, open_browser: bool) -> None:
    """Serve a read-only web page of the store: versions, statistics, images, filters, diffs.

    Prints the URL and serves until Ctrl-C. Nothing is written to the store.

    \b
    Examples:
      gridstore browse
      gridstore browse --store s3://bucket/datasets --port 9000 --open
    """
    from gridstore.browse import serve

    serve(str(store), host=host, port=port, open_browser=open_browser)
