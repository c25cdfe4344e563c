"""``gridstore generate``: merge options into a plan, print it with its estimate, run it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from gridstore.cli.common import confirm, engine_options, errors, print_summary, store_option
from gridstore.errors import ConfigError


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
    """A config file's settings; a version's metadata file gives that version's recipe."""
    from dataclasses import fields

    from gridstore.config import GeneratorConfig, load_config_file
    from gridstore.recipe import DATASET_KEYS, metadata_params, settings_of

    if config_file is None:
        return {}
    settings = load_config_file(config_file)
    params = metadata_params(settings)
    if params is not None:  # info --json, an export's metadata.json, a version's zarr.json
        return settings_of(params)
    known = set(DATASET_KEYS) | {f.name for f in fields(GeneratorConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        msg = f"unknown key {unknown[0]!r} in config file '{config_file}'; known keys: {', '.join(sorted(known))}"
        raise ConfigError(msg)
    return settings


def _plan_from_options(opts: dict[str, Any], base: dict[str, Any] | None = None) -> Any:
    """Merge ``base`` (a version's recipe, for --like) < config file < command line into a Plan.

    A partial weight mapping completes the weights below it; a --preset that
    changes the base's starts from that preset's generator parameters.
    """
    from gridstore.config import make_config
    from gridstore.plan import Plan
    from gridstore.recipe import DATASET_KEYS, merge_settings

    for key in ("type_weights", "line_weights", "pattern_weights"):
        opts[key] = _parse_weights(opts[key])
    opts["hold_out"] = tuple(opts.get("hold_out") or ()) or None  # none given: the base's
    settings = merge_settings(base or {}, _load_settings(opts.pop("config_file")))
    preset = opts.get("preset")
    if base and preset is not None and preset != base.get("preset"):
        settings = {k: v for k, v in settings.items() if k in DATASET_KEYS}
    merged = merge_settings(settings, opts)
    generator = {k: v for k, v in merged.items() if k not in DATASET_KEYS}
    config = make_config(merged.get("preset") or "atomic", **generator)
    if merged.get("num_images") is None:
        msg = "--num-images is required (on the command line or in the config file)"
        raise ConfigError(msg)
    pick = {k: merged.get(k) for k in DATASET_KEYS if k != "preset"}
    pick["fractions"] = pick.pop("splits")
    return Plan(config=config, **{k: v for k, v in pick.items() if v is not None})


def _print_plan(
    plan: Any,
    store: Path,
    name: str,
    workers: int,
    engine: str,
    done_tasks: int = 0,
    grown: str | None = None,
) -> Any:
    from gridstore._jit import kernel_cache_is_warm
    from gridstore.estimate import estimate_run
    from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
    from gridstore.holdout_forecast import check_feasible, hold_out_lines
    from gridstore.recipe import preset_differences

    if not kernel_cache_is_warm():
        click.echo("compiling the generator for this CPU (once, a few seconds) ...", err=True)
    if plan.hold_out:  # conditions that leave a split nothing to draw: refused before the sample
        check_feasible(plan)
    est = estimate_run(plan, workers, engine, done_tasks=done_tasks)
    counts = ", ".join(f"{s} {plan.split_counts[s]:,}" for s in plan.splits)
    lines = [
        f"plan for {name} in store '{store}':",
        f"images:           {plan.num_images:,} ({counts}; {plan.split_mode} splits"
        + ("; unique)" if plan.unique else ")"),
        f"generator:        preset {plan.config.preset}, grid {plan.config.grid_size}, seed {plan.seed}",
        f"parameters:       {'; '.join(preset_differences(plan.config)) or 'those of the preset'}",
        *([grown] if grown else []),
        f"compression:      {plan.compression}",
        *(
            [f"pairs:            a twin per image; kinds {', '.join(plan.pairs)}"]
            if plan.pairs
            else []
        ),
        *est.lines(),
        *hold_out_lines(plan, est),
        f"engine:           {engine}, {workers} worker{'s' if workers > 1 else ''}, "
        f"{len(plan.tasks):,} tasks of {plan.blocks_per_chunk * ROUTING_BLOCK_IMAGES:,} images",
    ]
    click.echo("\n".join(lines), err=True)
    return est


@click.command()
@click.option("--num-images", type=click.IntRange(1, 10**12), help="Images over all splits.")
@store_option
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
    help="TOML or JSON file of parameters, or a version's metadata (info --json, an "
    "export's metadata.json): its recipe (command-line options win).",
)
@click.option("--splits", help="train,val,test fractions [default: 0.8,0.1,0.1].")
@click.option(
    "--split-mode",
    type=click.Choice(["disjoint", "independent"]),
    help="disjoint: no image in two splits (default); independent: plain iid split.",
)
@click.option(
    "--compression",
    type=click.Choice(["default", "max"]),
    help="max: images in 0.78x the npz's bytes, written about 30x slower [default].",
)
@click.option(
    "--unique",
    is_flag=True,
    default=None,
    help="No image twice in the version (draws that repeat one are passed over).",
)
@click.option(
    "--pairs",
    metavar="KINDS",
    help="A twin per image under one intervention of KINDS (comma-separated, or all): "
    "recolour, move, remove, add, reshape, rotate, flip, permute_colours, translate.",
)
@click.option(
    "--hold-out",
    "hold_out",
    metavar="CONDITION",
    multiple=True,
    help="No train/val/test image matches CONDITION (--where's syntax, e.g. 'object_type=blob "
    "object_colour=3'); a heldout split holds only matching ones. Repeatable: any of them.",
)
@click.option(
    "--heldout-images",
    metavar="N",
    help="Images of the heldout split: a count, or a fraction of --num-images like 0.05 "
    "[default: as many as test].",
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
@engine_options("tasks")
@click.option(
    "--resume",
    "resume",
    is_flag=True,
    help="Converge on --version: create it, finish it, or find it complete (a job to repeat).",
)
@click.option(
    "--grow-from",
    metavar="VERSION",
    help="New version = VERSION's images plus more (its parameters: an option that "
    "contradicts them is refused).",
)
@click.option(
    "--like",
    metavar="VERSION",
    help="Start from VERSION's exact parameters (a name, tag or latest); options override them.",
)
@click.option("--description", metavar="TEXT", help="Describe the new version (see describe).")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@errors
def generate(**opts: Any) -> None:
    """Generate a new dataset version into the store.

    Prints the plan (images per split, raw and on-disk size, peak memory,
    time), checks free disk space, asks to proceed, then streams the images
    into the store with a progress bar and prints a summary.

    \b
    Examples:
      gridstore generate --num-images 100000 --yes
      gridstore generate --num-images 1000000 --preset shapes --splits 0.9,0.05,0.05
      gridstore generate --num-images 1000000 --unique --yes
      gridstore generate --num-images 100000 --pairs recolour,move,rotate --yes
      gridstore generate --num-images 100000 --hold-out 'object_type=blob object_colour=3' --yes
      gridstore generate --num-images 2000000 --grow-from 2026-11-25-v1 --yes
      gridstore generate --like paper-2026 --seed 7 --yes
      gridstore generate --config info-2026-11-25-v1.json --yes
      gridstore generate --resume --version 2026-11-25-v3 --yes
      gridstore generate --num-images 10000000 --seed 7 --version 2026-11-25-v4 --resume --yes
    """
    began = time.perf_counter()  # the summary's time is the whole command's
    from gridstore.engines import default_workers, runs_here
    from gridstore.estimate import check_free_space
    from gridstore.plan import Plan
    from gridstore.storage import backend, check_store_target, open_backend, parse_version_name
    from gridstore.storage.registry import check_description, set_description
    from gridstore.workers import start_early
    from gridstore.write.ensure import ensure_version, version_state
    from gridstore.write.versions import create_version, grow_version

    store_path: Path = opts.pop("store")
    name, yes, quiet, dry_run = (
        opts.pop("version"),
        opts.pop("yes"),
        opts.pop("quiet"),
        opts.pop("dry_run"),
    )
    resume, grow_from = opts.pop("resume"), opts.pop("grow_from")
    like, description = opts.pop("like"), opts.pop("description")
    engine, scheduler = opts.pop("engine"), opts.pop("scheduler")
    workers = opts.pop("workers") or default_workers()
    run = {"engine": engine, "workers": workers, "scheduler": scheduler, "show_progress": not quiet}
    if name is not None:
        parse_version_name(name)
    plan = None  # what this command asks for; with --resume alone, what the version recorded
    grown = None  # the plan's line about the source of a grow
    if like is not None and (grow_from is not None or opts["config_file"] is not None):
        other = "--grow-from" if grow_from is not None else "--config"
        raise click.UsageError(f"--like and {other} both give the parameters; choose one")
    if grow_from is not None:
        grow_from, plan, grown = _grow_plan(store_path, grow_from, opts)
    elif like is not None:
        plan = _plan_from_options(opts, _like(store_path, like))
    elif not resume or opts["num_images"] is not None or opts["config_file"] is not None:
        plan = _plan_from_options(opts)
    if description is not None:
        check_description(description)
    check_store_target(store_path)  # refuse a path that is not a store before any work
    done_tasks = 0
    if resume:  # converge on the version from whatever state a stopped run left
        store = backend(store_path)
        name = name or _only_unfinished(store, plan)
        state = version_state(store, name, plan)
        if state == "complete":
            same = " with this plan" if plan is not None else ""
            click.echo(f"{name} is already complete{same}: nothing to do", err=True)
            print_summary(store.metadata(name))
            return
        if plan is None:  # --resume alone: the recorded plan (an error if none)
            plan = Plan.from_dict(store.staged_plan(name)["plan"])
        if state == "unfinished":
            done_tasks = len(store.task_indices(name))
    assert plan is not None  # given, or the one recorded (else staged_plan raised)
    if not dry_run and scheduler is None and not runs_here(engine, workers, len(plan.tasks)):
        start_early(dask=engine == "dask")  # the workers' server loads while the plan is measured
    est = _print_plan(
        plan, store_path, name or "the next version", workers, engine, done_tasks, grown
    )
    if dry_run:
        return
    check_free_space(backend(store_path), est.needed_bytes, resuming=resume)
    asked = time.perf_counter()
    confirm("Proceed?", yes)
    began += time.perf_counter() - asked  # not the time a person took to answer
    if resume:
        meta, _ = ensure_version(store_path, plan, name, grow_from=grow_from, **run)
    elif grow_from is not None:
        meta = grow_version(store_path, grow_from, plan.num_images, name=name, **run)
    else:
        meta = create_version(store_path, plan, name=name, **run)
    if description is not None:  # outside the version: its bytes never change
        set_description(open_backend(store_path), meta["version"], description)
    print_summary(meta, time.perf_counter() - began)


def _like(store_path: Path, ref: str) -> dict[str, Any]:
    """The settings of the version ``ref`` names (a name, a tag or latest): --like's base."""
    from gridstore.recipe import settings_of
    from gridstore.storage import open_backend
    from gridstore.storage.registry import resolve

    s = open_backend(store_path)
    return settings_of(s.metadata(resolve(s, ref))["generation_params"])


def _grow_plan(store_path: Path, ref: str, opts: dict[str, Any]) -> tuple[str, Any, str]:
    """The source's name, the grown plan and the plan's line about it.

    Refuses, in one line, any option that contradicts the source: a grown
    version's first images are the source's, so it keeps every parameter.
    """
    from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES
    from gridstore.plan import Plan
    from gridstore.recipe import contradictions, settings_of
    from gridstore.storage import open_backend
    from gridstore.storage.registry import resolve

    s = open_backend(store_path)
    source_name = resolve(s, ref)
    params = s.metadata(source_name)["generation_params"]
    source = Plan.from_dict(params)
    if opts["num_images"] is None:
        msg = "--grow-from needs --num-images (the new total)"
        raise ConfigError(msg)
    plan = source.grown(opts["num_images"], source_name)
    bad = contradictions(plan, _plan_from_options(opts, settings_of(params)))
    if bad:
        msg = (f"--grow-from {source_name} keeps its source's parameters, and "
               f"{', '.join(bad)} {'contradicts' if len(bad) == 1 else 'contradict'} them; "
               f"drop {'it' if len(bad) == 1 else 'them'}, or generate a new version "
               "instead (--like starts one from the source's parameters)")  # fmt: skip
        raise ConfigError(msg)
    task = plan.blocks_per_chunk * ROUTING_BLOCK_IMAGES
    copied = source.num_images // task * task
    grown = (f"grown from:       {source_name}: {source.num_images:,} images shared "
             f"({copied:,} in whole chunks copied, {source.num_images - copied:,} regenerated "
             f"to the same bytes), {plan.num_images - source.num_images:,} new")  # fmt: skip
    return source_name, plan, grown


def _only_unfinished(store: Any, plan: Any) -> str:
    """The one unfinished version that ``--resume`` without ``--version`` means."""
    staged = [s.name for s in store.staged() if not s.writing and s.plan is not None]
    if plan is not None or len(staged) != 1:
        msg = f"--resume needs --version NAME; unfinished versions: {', '.join(staged) or 'none'}"
        raise ConfigError(msg)
    return staged[0]
