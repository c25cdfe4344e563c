"""What every command shares: the store option, --where, one-line errors, confirmation, warnings."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gridstore.errors import ConfigError, GridstoreError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STORE = "datasets"


def _store_arg(ctx: click.Context, param: click.Parameter, value: str) -> Path | str:
    """A local path, or an s3:// URL kept as written (a Path would collapse its '//')."""
    return value if "://" in value else Path(value)


store_option = click.option(
    "--store",
    default=DEFAULT_STORE,
    show_default=True,
    callback=_store_arg,
    help="Store directory (a Zarr v3 group), or s3://bucket/prefix.",
)


def engine_options(what: str) -> Callable[[F], F]:
    """``--workers``, ``--engine`` and ``--scheduler``: where `what` runs (generate, validate)."""

    def add(f: F) -> F:
        f = click.option(
            "--scheduler", metavar="ADDRESS", help="Dask scheduler address (engine dask)."
        )(f)
        f = click.option(
            "--engine",
            type=click.Choice(["processes", "serial", "dask"]),
            default="processes",
            show_default=True,
            help=f"Where {what} run.",
        )(f)
        return click.option(
            "--workers", type=click.IntRange(min=1), help="Worker processes [default: all cores]."
        )(f)

    return add


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: unwind, release locks, leave a resumable version."""


def on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


SPLIT_CHOICE = click.Choice(["train", "val", "test", "heldout"])  # heldout: a hold-out version's
split_option = click.option("--split", type=SPLIT_CHOICE, default="train", show_default=True)


def parse_where(text: str) -> dict[str, Any]:
    """The keyword conditions of one --where (`gridstore.read.conditions.parse_where`).

    Raises click.BadParameter (exit 2) for text that is not of that form; the
    fields and values are checked by the library (`View.where`).
    """
    from gridstore.read.conditions import parse_where as parse

    try:
        return parse(text)
    except ConfigError as err:
        raise click.BadParameter(str(err)) from None


Where = tuple[tuple[str, dict[str, Any]], ...]  # each --where: its text and its keywords


def _where_arg(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Where:
    return tuple((text, parse_where(text)) for text in values)


where_option = click.option(
    "--where",
    multiple=True,
    callback=_where_arg,
    metavar="'FIELD=VALUE[,VALUE...]'",
    help="Only images that match: FIELD is num_objects, object_type, object_subtype, "
    "object_colour or object_size; VALUEs are any-of, as ints, names (blob, line, diagonal, "
    "...) or inclusive ranges 12..15. Space-separated FIELD=VALUE in one --where hold for "
    "the same object; repeat --where to require each.",
)


def where_conditions(where: Where) -> list[dict[str, Any]]:
    """The keywords of each --where, for `gridstore.read.view.select`."""
    return [conditions for _, conditions in where]


def where_text(where: Where) -> str:
    """The --where options as the user wrote them, for titles and messages."""
    return " and ".join(text for text, _ in where)


def png_option(kind: str) -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"PNG file [default: {kind}-VERSION-SPLIT.png].",
    )


def errors(fn: F) -> F:
    """Turn a GridstoreError into one 'Error: ...' line and exit 1, unless --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GridstoreError as err:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            raise click.ClickException(
                str(err).splitlines()[0] if str(err) else type(err).__name__
            ) from err
        except KeyboardInterrupt as err:
            signame = "SIGTERM" if isinstance(err, Terminated) else "SIGINT"
            click.echo(
                f"Error: interrupted by {signame}; an unfinished version can be resumed with "
                "'gridstore generate --resume' or removed with 'gridstore delete'",
                err=True,
            )
            sys.exit(143 if isinstance(err, Terminated) else 130)

    return wrapper  # type: ignore[return-value]


def warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A warning as the command line's other messages: one line, no source location."""
    return f"Warning: {message}\n"


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        msg = f"{question.rstrip('?')}: no terminal to ask; pass --yes to proceed"
        raise ConfigError(msg)
    if not click.confirm(question, default=False, err=True):
        raise click.Abort


def print_summary(meta: dict[str, Any], seconds: float | None = None) -> None:
    """Print a version's one-line summary; `seconds`: the whole command's time, if it made it."""
    from gridstore.plan import format_bytes

    info, storage, gen = meta["dataset_info"], meta["storage"], meta["generation"]
    n = info["total_count"]
    if seconds is None:  # a version made earlier: its recorded time of the tasks
        took = f"{gen['wall_seconds']:.1f} s ({gen['images_per_second']:,.0f} images/s)"
    else:
        took = f"{seconds:.1f} s ({n / seconds:,.0f} images/s; tasks {gen['wall_seconds']:.1f} s)"
    click.echo(
        f"{meta['version']}: {n:,} images (train {info['train_count']:,}, "
        f"val {info['val_count']:,}, test {info['test_count']:,}"
        + (f"; heldout {info['heldout_count']:,} more" if "heldout_count" in info else "")
        + "); "
        f"{format_bytes(storage['bytes_on_disk'])} on disk with annotations "
        f"({storage['bytes_on_disk'] / n:.1f} B/image), images alone "
        f"{format_bytes(storage['image_bytes_per_image'] * n)} ({storage['image_bytes_per_image']:.1f} "
        f"B/image), compression {storage['compression_ratio']:.1f}x; {took}"
    )
