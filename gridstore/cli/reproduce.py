"""``gridstore reproduce``: regenerate a version from its recipe and prove the digest is equal."""

from __future__ import annotations

from pathlib import Path

import click

from gridstore.cli.common import _store_arg, engine_options, errors, store_option
from gridstore.errors import GridstoreError


@click.command()
@click.argument("version", required=False)
@store_option
@click.option(
    "--to",
    callback=lambda ctx, param, value: None if value is None else _store_arg(ctx, param, value),
    help="Store to write the reproduction into (a path or s3:// URL) [default: a scratch "
    "directory, removed after].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@engine_options("tasks")
@errors
def reproduce(version: str | None, store: Path, to: Path | str | None, quiet: bool,
              engine: str, workers: int | None, scheduler: str | None) -> None:  # fmt: skip
    """Regenerate VERSION (a name, tag or latest) from its recipe; check its digest is equal.

    Writes the reproduction into --to (kept there) or a scratch directory
    (removed), then compares its content digest with the version's. Exits 0
    when they are equal, 1 when they differ.

    \b
    Examples:
      gridstore reproduce 2026-12-06-v2
      gridstore reproduce paper-2026 --store s3://bucket/datasets --to /tmp/check
    """
    from gridstore.write.reproduce import reproduce_version

    got = reproduce_version(store, version, to=to, engine=engine,  # type: ignore[arg-type]
                            workers=workers, scheduler=scheduler, show_progress=not quiet)  # fmt: skip
    where = f"into '{got.store}' as {got.name}" if got.store else "in a scratch directory (removed)"
    source = "recorded" if got.recorded else "recomputed from its chunks (none recorded)"
    click.echo(f"{got.version}: regenerated {where}")
    click.echo(f"original digest ({source}): {got.digest}")
    click.echo(f"reproduced digest:           {got.reproduced}")
    if not got.equal:
        msg = f"the reproduction of {got.version} differs from it: not the same bytes"
        raise GridstoreError(msg)
    click.echo(f"equal: {got.version} is reproduced byte for byte from its recipe")
