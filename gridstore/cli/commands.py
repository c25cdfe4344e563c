"""The ``gridstore`` command line: thin wrappers that parse, call the library and print.

Progress and prompts go to stderr; results (and ``--json``) to stdout. Every
GridstoreError becomes one ``Error: ...`` line and exit code 1 (``--debug``
shows the traceback); click's own usage errors exit with 2.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gridstore._version import __version__
from gridstore.errors import ConfigError, GridstoreError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STORE = "datasets"


def _store_arg(ctx: click.Context, param: click.Parameter, value: str) -> Path | str:
    """A local path, or an s3:// URL kept as written (a Path would collapse its '//')."""
    return value if "://" in value else Path(value)


_STORE_OPTION = click.option(
    "--store",
    default=DEFAULT_STORE,
    show_default=True,
    callback=_store_arg,
    help="Store directory (a Zarr v3 group), or s3://bucket/prefix.",
)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: unwind, release locks, leave a resumable version."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


_SPLIT_OPTION = click.option(
    "--split", type=click.Choice(["train", "val", "test"]), default="train", show_default=True
)


def _png_option(kind: str) -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"PNG file [default: {kind}-VERSION-SPLIT.png].",
    )


def _errors(fn: F) -> F:
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
            signame = "SIGTERM" if isinstance(err, _Terminated) else "SIGINT"
            click.echo(
                f"Error: interrupted by {signame}; an unfinished version can be resumed with "
                "'gridstore generate --resume' or removed with 'gridstore delete'",
                err=True,
            )
            sys.exit(143 if isinstance(err, _Terminated) else 130)

    return wrapper  # type: ignore[return-value]


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A warning as the command line's other messages: one line, no source location."""
    return f"Warning: {message}\n"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gridstore")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:  # read back through the context in _errors
    """Generate, version, check and look at synthetic ARC-like grid image corpora.

    \b
    Examples:
      gridstore generate --num-images 100000 --yes
      gridstore versions
      gridstore validate --full
      gridstore preview 2026-11-25-v1 -o preview.png
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    if not debug:
        warnings.formatwarning = _warning_line


def _parse_weights(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            msg = f"weights must look like name=weight,name=weight, got {text!r}"
            raise ConfigError(msg)
    return out


def _load_settings(config_file: Path | None) -> dict[str, Any]:
    from gridstore.config import load_config_file

    return load_config_file(config_file) if config_file else {}


_DATASET_KEYS = {"num_images", "seed", "splits", "split_mode", "preset", "blocks_per_chunk"}


def _plan_from_options(opts: dict[str, Any]) -> Any:
    """Merge config file < command line into a validated Plan."""
    from dataclasses import fields

    from gridstore.config import GeneratorConfig, make_config
    from gridstore.plan import DEFAULT_FRACTIONS, Plan

    config_file = opts.pop("config_file")
    settings = _load_settings(config_file)
    known = _DATASET_KEYS | {f.name for f in fields(GeneratorConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        msg = f"unknown key {unknown[0]!r} in config file '{config_file}'; known keys: {', '.join(sorted(known))}"
        raise ConfigError(msg)
    generator = {k: v for k, v in settings.items() if k not in _DATASET_KEYS}
    for key in ("type_weights", "line_weights", "pattern_weights"):
        opts[key] = _parse_weights(opts[key])
    generator.update({k: v for k, v in opts.items() if k not in _DATASET_KEYS and v is not None})
    pick = {k: opts[k] if opts.get(k) is not None else settings.get(k) for k in _DATASET_KEYS}
    config = make_config(pick["preset"] or "atomic", **generator)
    if pick["num_images"] is None:
        msg = "--num-images is required (on the command line or in the config file)"
        raise ConfigError(msg)
    return Plan(
        config=config,
        num_images=pick["num_images"],
        seed=42 if pick["seed"] is None else pick["seed"],
        fractions=pick["splits"] or DEFAULT_FRACTIONS,
        split_mode=pick["split_mode"] or "disjoint",
        blocks_per_chunk=pick["blocks_per_chunk"] or 4,
    )


def _print_plan(
    plan: Any, store: Path, name: str, workers: int, engine: str, done_tasks: int = 0
) -> Any:
    from gridstore._jit import kernel_cache_is_warm
    from gridstore.estimate import estimate_run
    from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
    from gridstore.plan import SPLITS

    if not kernel_cache_is_warm():
        click.echo("compiling the generator for this CPU (once, a few seconds) ...", err=True)
    est = estimate_run(plan, workers, engine, done_tasks=done_tasks)
    counts = ", ".join(f"{s} {plan.split_counts[s]:,}" for s in SPLITS)
    lines = [
        f"plan for {name} in store '{store}':",
        f"images:           {plan.num_images:,} ({counts}; {plan.split_mode} splits)",
        f"generator:        preset {plan.config.preset}, grid {plan.config.grid_size}, seed {plan.seed}",
        *est.lines(),
        f"engine:           {engine}, {workers} worker{'s' if workers > 1 else ''}, "
        f"{len(plan.tasks):,} tasks of {plan.blocks_per_chunk * ROUTING_BLOCK_IMAGES:,} images",
    ]
    click.echo("\n".join(lines), err=True)
    return est


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        msg = f"{question.rstrip('?')}: no terminal to ask; pass --yes to proceed"
        raise ConfigError(msg)
    if not click.confirm(question, default=False, err=True):
        raise click.Abort


@main.command()
@click.option("--num-images", type=click.IntRange(1, 10**12), help="Images over all splits.")
@_STORE_OPTION
@click.option(
    "--version",
    "version",
    metavar="NAME",
    help="Version name YYYY-MM-DD-vN [default: next of today].",
)
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), help="Random seed [default: 42].")
@click.option(
    "--preset", type=click.Choice(["atomic", "shapes"]), help="Generator preset [default: atomic]."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML or JSON file of parameters (command-line options win).",
)
@click.option("--splits", help="train,val,test fractions [default: 0.8,0.1,0.1].")
@click.option(
    "--split-mode",
    type=click.Choice(["disjoint", "independent"]),
    help="disjoint: no image in two splits (default); independent: plain iid split.",
)
@click.option("--grid-size", type=int, help="Side of the square grid [16].")
@click.option("--min-objects", type=int, help="Fewest objects drawn per image [1].")
@click.option("--max-objects", type=int, help="Most objects drawn per image [4].")
@click.option("--min-size", type=int, help="Fewest cells per object [2].")
@click.option("--max-size", type=int, help="Most cells per object [15].")
@click.option("--type-weights", help="e.g. blob=0.4,rectangle=0.2,line=0.2,pattern=0.2")
@click.option(
    "--line-weights", help="e.g. horizontal=0.3,vertical=0.3,diagonal=0.2,anti_diagonal=0.2"
)
@click.option("--pattern-weights", help="e.g. checkerboard=1,L=1,T=1,plus=1,zigzag=1")
@click.option(
    "--blob-compactness", type=float, help="Weight of frontier cells with 2+ blob neighbours [3]."
)
@click.option("--max-tries", type=int, help="Shapes drawn per object before it is skipped [10].")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes [default: all cores]."
)
@click.option(
    "--engine",
    type=click.Choice(["processes", "serial", "dask"]),
    default="processes",
    show_default=True,
    help="Where tasks run.",
)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address (engine dask).")
@click.option(
    "--resume", "resume", is_flag=True, help="Finish an interrupted version (--version names it)."
)
@click.option("--grow-from", metavar="VERSION", help="New version = VERSION's images plus more.")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_errors
def generate(**opts: Any) -> None:
    """Generate a new dataset version into the store.

    Prints the plan (images per split, raw and on-disk size, peak memory,
    time), checks free disk space, asks to proceed, then streams the images
    into the store with a progress bar and prints a summary.

    \b
    Examples:
      gridstore generate --num-images 100000 --yes
      gridstore generate --num-images 1000000 --preset shapes --splits 0.9,0.05,0.05
      gridstore generate --num-images 2000000 --grow-from 2026-11-25-v1 --yes
      gridstore generate --resume --version 2026-11-25-v3 --yes
    """
    from gridstore.build.versions import create_version, grow_version, resume_version
    from gridstore.engines import default_workers
    from gridstore.estimate import check_free_space
    from gridstore.plan import Plan
    from gridstore.storage import backend, check_store_target, open_backend, parse_version_name

    store_path: Path = opts.pop("store")
    name, yes, quiet, dry_run = (
        opts.pop("version"),
        opts.pop("yes"),
        opts.pop("quiet"),
        opts.pop("dry_run"),
    )
    resume, grow_from = opts.pop("resume"), opts.pop("grow_from")
    engine, scheduler = opts.pop("engine"), opts.pop("scheduler")
    workers = opts.pop("workers") or default_workers()
    run = {"engine": engine, "workers": workers, "scheduler": scheduler, "show_progress": not quiet}
    if name is not None:
        parse_version_name(name)
    done_tasks = 0
    if resume:
        store = open_backend(store_path)
        if name is None:
            staged = [s.name for s in store.staged() if not s.writing and s.plan is not None]
            if len(staged) != 1:
                msg = f"--resume needs --version NAME; unfinished versions: {', '.join(staged) or 'none'}"
                raise ConfigError(msg)
            name = staged[0]
        plan = Plan.from_dict(store.staged_plan(name)["plan"])
        done_tasks = len(store.task_results(name))
    elif grow_from is not None:
        source = Plan.from_dict(open_backend(store_path).metadata(grow_from)["generation_params"])
        if opts["num_images"] is None:
            msg = "--grow-from needs --num-images (the new total)"
            raise ConfigError(msg)
        plan = Plan(
            source.config,
            opts["num_images"],
            source.seed,
            source.fractions,
            source.split_mode,
            source.blocks_per_chunk,
        )
    else:
        plan = _plan_from_options(opts)
        check_store_target(store_path)  # refuse a path that is not a store before any work
    est = _print_plan(plan, store_path, name or "the next version", workers, engine, done_tasks)
    if dry_run:
        return
    check_free_space(backend(store_path), est.disk_bytes, resuming=resume)
    _confirm("Proceed?", yes)
    if resume:
        meta = resume_version(store_path, name, **run)
    elif grow_from is not None:
        meta = grow_version(store_path, grow_from, plan.num_images, name=name, **run)
    else:
        meta = create_version(store_path, plan, name=name, **run)
    _print_summary(meta)


def _print_summary(meta: dict[str, Any]) -> None:
    from gridstore.plan import format_bytes

    info, storage, gen = meta["dataset_info"], meta["storage"], meta["generation"]
    click.echo(
        f"{meta['version']}: {info['total_count']:,} images (train {info['train_count']:,}, "
        f"val {info['val_count']:,}, test {info['test_count']:,}); "
        f"{format_bytes(storage['bytes_on_disk'])} on disk, compression {storage['compression_ratio']:.1f}x, "
        f"{storage['image_bytes_per_image']:.1f} B/image; {gen['wall_seconds']:.1f} s "
        f"({gen['images_per_second']:,.0f} images/s)"
    )


@main.command()
@_STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def versions(store: Path, as_json: bool) -> None:
    """List versions with state, counts, size and creation time."""
    from gridstore.plan import format_bytes
    from gridstore.storage import open_backend

    s = open_backend(store)
    rows = []
    for name in s.versions():
        m = s.metadata(name)
        info = m.get("dataset_info", {})
        rows.append(
            {
                "version": name,
                "state": m.get("state"),
                "created": m.get("timestamp"),
                **{k: info.get(f"{k}_count") for k in ("train", "val", "test", "total")},
                "bytes_on_disk": m.get("storage", {}).get("bytes_on_disk"),
            }
        )
    for staged in s.staged():
        plan = (staged.plan or {}).get("plan", {})
        rows.append(
            {
                "version": staged.name,
                "state": "writing" if staged.writing else "interrupted",
                "created": (staged.plan or {}).get("created"),
                "total": plan.get("num_images"),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no versions in '{s.path}'")
        return
    click.echo(
        f"{'version':<16} {'state':<12} {'train':>12} {'val':>10} {'test':>10} {'size':>10}  created"
    )
    for r in rows:
        size = format_bytes(r["bytes_on_disk"]) if r.get("bytes_on_disk") else "-"
        counts = [f"{r[k]:,}" if r.get(k) is not None else "-" for k in ("train", "val", "test")]
        click.echo(
            f"{r['version']:<16} {r['state']:<12} {counts[0]:>12} {counts[1]:>10} {counts[2]:>10} "
            f"{size:>10}  {r.get('created') or '-'}"
        )


def _resolve(store: Path, version: str | None) -> tuple[Any, str]:
    from gridstore.storage import open_backend

    s = open_backend(store)
    if version is None:
        names = s.versions()
        if not names:
            msg = f"store '{s.path}' has no complete version yet; run 'gridstore generate'"
            raise ConfigError(msg)
        version = names[-1]
    s.metadata(version)  # raises a clear error for unknown or unfinished names
    return s, version


@main.command()
@click.argument("version", required=False)
@_STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@_errors
def info(version: str | None, store: Path, as_json: bool) -> None:
    """Show a version's metadata (default: the latest version)."""
    s, version = _resolve(store, version)
    meta = s.metadata(version)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    params = meta["generation_params"]
    click.echo(f"version:     {version} ({meta['state']}, created {meta['timestamp']})")
    click.echo(f"gridstore:   {meta['gridstore_version']}; rng {meta['rng']['scheme']}")
    click.echo(
        f"generator:   preset {params['preset']}, seed {params['seed']}, grid {params['grid_size']}, "
        f"{params['split_mode']} splits {params['splits']}"
    )
    click.echo(f"parameters:  {json.dumps(params['generator'])}")
    _print_summary(meta)
    for split, st in meta["statistics"].items():
        if st["images"]:
            click.echo(
                f"{split:<6} pixels mean {st['pixel_mean']:.3f} std {st['pixel_std']:.3f} "
                f"min {st['pixel_min']} max {st['pixel_max']}; objects {st['object_types']}"
            )
    click.echo(f"duplicates:  {meta['duplicates']}")


@main.command()
@click.argument("version", required=False)
@_STORE_OPTION
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Chunks checked per split.",
)
@click.option("--full", is_flag=True, help="Check every chunk.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Sampling seed."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_errors
def validate(
    version: str | None, store: Path, sample: int, full: bool, seed: int, as_json: bool, quiet: bool
) -> None:
    """Check a version: structure, values, generator rules, checksums, regeneration.

    Exits 0 only when every check passes.
    """
    from gridstore.validate.version import validate_version

    s, version = _resolve(store, version)
    report = validate_version(
        s.path, version, sample=sample, full=full, seed=seed, progress=not quiet
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("\n".join(report.summary_lines()))
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("version", required=False)
@_STORE_OPTION
@_SPLIT_OPTION
@_png_option("preview")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which samples."
)
@_errors
def preview(version: str | None, store: Path, split: str, output: Path | None, seed: int) -> None:
    """Draw 100 random samples in a 10x10 grid with metadata and pixel statistics."""
    import numpy as np

    from gridstore.read import open_store
    from gridstore.viz import render_preview

    s, version = _resolve(store, version)
    data = open_store(s.path).version(version)[split]
    if len(data) == 0:
        msg = f"split '{split}' of version '{version}' is empty; choose another --split"
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(data), size=min(100, len(data)), replace=False))
    meta = s.metadata(version)
    params = meta["generation_params"]
    output = output or Path(f"preview-{version}-{split}.png")
    render_preview(
        data.images[indices],
        indices,
        output,
        title=f"{version} ({split}) - created {meta['timestamp']}",
        subtitle=f"preset {params['preset']}, seed {params['seed']}, {len(data):,} images, "
        f"samples drawn with seed {seed}",
    )
    click.echo(str(output))


@main.command()
@click.argument("version", required=False)
@_STORE_OPTION
@_SPLIT_OPTION
@_png_option("stats")
@click.option(
    "--max-images",
    type=click.IntRange(min=1),
    default=500_000,
    show_default=True,
    help="Read annotations of at most this many images (whole chunks, chosen at random).",
)
@_errors
def stats(
    version: str | None, store: Path, split: str, output: Path | None, max_images: int
) -> None:
    """Plot objects per image, types against their weights, sizes and colours."""
    import numpy as np

    from gridstore.generate.vocab import OBJECT_TYPES
    from gridstore.read import open_store
    from gridstore.viz import render_stats

    s, version = _resolve(store, version)
    data = open_store(s.path).version(version)[split]
    meta = s.metadata(version)
    gen = meta["generation_params"]["generator"]
    chunk = data.images.chunk_images
    n_chunks = -(-len(data) // chunk)
    take = np.sort(np.random.default_rng(0).permutation(n_chunks)[: max(1, max_images // chunk)])
    fields = ("num_objects", "object_type", "object_subtype", "object_colour", "object_size")
    ann = {f: np.concatenate([data.annotation(f).chunk(int(c)) for c in take]) for f in fields}
    output = output or Path(f"stats-{version}-{split}.png")
    weights = gen["type_weights"]
    total = sum(weights.values())
    render_stats(
        ann,
        output,
        title=f"{version} ({split}): {len(ann['num_objects']):,} images",
        expected_type_weights={t: weights[t] / total for t in OBJECT_TYPES},
        max_objects=gen["max_objects"],
    )
    click.echo(str(output))


@main.command()
@click.argument("version", required=False)
@_STORE_OPTION
@click.option("--format", "fmt", type=click.Choice(["npz"]), default="npz", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for train.npz, val.npz, test.npz and metadata.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output directory.")
@_errors
def export(version: str | None, store: Path, fmt: str, output: Path, overwrite: bool) -> None:
    """Export a version to the seed's npz layout (for older tooling)."""
    from gridstore.formats.legacy import export_version

    s, version = _resolve(store, version)
    click.echo(str(export_version(s.path, version, output, overwrite=overwrite)))


@main.command()
@click.argument("version")
@_STORE_OPTION
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_errors
def delete(version: str, store: Path, yes: bool) -> None:
    """Delete a version (or discard an unfinished one); asks first."""
    from gridstore.plan import format_bytes
    from gridstore.storage import open_backend

    s = open_backend(store)
    if version in {st.name for st in s.staged()}:
        _confirm(f"Discard unfinished version {version}?", yes)
        s.discard(version)
        click.echo(f"discarded unfinished {version}")
        return
    meta = s.metadata(version)
    size = format_bytes(meta.get("storage", {}).get("bytes_on_disk", 0))
    _confirm(
        f"Delete version {version} ({meta['dataset_info']['total_count']:,} images, {size})?", yes
    )
    s.delete(version)
    click.echo(f"deleted {version}")


@main.command()
@click.option("--num-images", type=click.IntRange(1, 10**12), required=True)
@click.option("--grid-size", type=click.IntRange(2, 255), default=16, show_default=True)
@_errors
def estimate(num_images: int, grid_size: int) -> None:
    """Print the raw memory of NUM_IMAGES images (the seed's estimate_memory)."""
    from gridstore.plan import estimate_memory

    click.echo(json.dumps(estimate_memory(num_images, grid_size), indent=2))


if __name__ == "__main__":
    main()
