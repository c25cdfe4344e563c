"""The commands that take a version elsewhere: export (npz, parquet, webdataset) and card."""

from __future__ import annotations

from pathlib import Path

import click

from gridstore.cli.common import Where, errors, store_option, where_conditions, where_option
from gridstore.cli.inspect import _resolve

_LICENSE = click.option(
    "--license",
    "license_id",
    metavar="ID",
    help="Hub licence id for the card and Croissant (cc-by-4.0, mit, ...) [default: unknown].",
)


@click.command()
@click.argument("version", required=False)
@store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npz", "parquet", "webdataset"]),
    default="npz",
    show_default=True,
    help="npz: the seed's files; parquet: the Hugging Face Hub's layout with README.md "
    "(dataset card), croissant.json and preview.png; webdataset: .tar.gz shards.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to create.",
)
@click.option("--overwrite", is_flag=True, help="Replace a previous export in the directory.")
@click.option(
    "--shard-images",
    type=click.IntRange(min=1),
    help="Most images per shard (parquet, webdataset) [default: 2000000 parquet, 100000 webdataset].",
)
@_LICENSE
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@where_option
@errors
def export(
    version: str | None,
    store: Path,
    fmt: str,
    output: Path,
    overwrite: bool,
    shard_images: int | None,
    license_id: str | None,
    quiet: bool,
    where: Where,
) -> None:
    """Export a version: npz (older tooling), parquet for the Hub, or WebDataset shards.

    Rows stream chunk by chunk (memory does not grow with the version). With
    --where, each split holds only its matching images, in order. A paired
    version's twins and intervention records are exported by npz only.

    \b
    Examples:
      gridstore export --format parquet -o hub/ --license cc-by-4.0
      python -c "import datasets; print(datasets.load_dataset('hub/'))"
      gridstore export --format webdataset -o shards/ --where num_objects=1
    """
    s, version = _resolve(store, version)
    conditions = where_conditions(where)
    if fmt == "npz":
        if shard_images is not None or license_id is not None:
            msg = "--shard-images and --license apply to --format parquet and webdataset"
            raise click.UsageError(msg)
        from gridstore.formats import export_version

        out = export_version(
            s.path, version, output, overwrite=overwrite, where=conditions, show_progress=not quiet
        )
    else:
        from gridstore.publish import publish_version

        if s.metadata(version).get("pairs"):  # the Hub's schema has no twins
            click.echo(
                f"note: {fmt} holds the images; --format npz exports the twins too", err=True
            )

        out = publish_version(
            s.path,
            version,
            output,
            fmt=fmt,
            overwrite=overwrite,
            show_progress=not quiet,
            where=conditions,
            shard_images=shard_images,
            license=license_id,
        )
    click.echo(str(out))


@click.command()
@click.argument("version", required=False)
@store_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("README.md"),
    show_default=True,
    help="The card; preview.png is written beside it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing card and preview.png.")
@_LICENSE
@errors
def card(
    version: str | None, store: Path, output: Path, overwrite: bool, license_id: str | None
) -> None:
    """Write a version's dataset card (Hub README.md) and its preview picture.

    The parquet export writes the same card (with file sizes) into its directory.
    """
    from gridstore.publish import write_card

    s, version = _resolve(store, version)
    click.echo(str(write_card(s.path, version, output, license=license_id, overwrite=overwrite)))
