"""The commands that look at a store: validate, preview, stats, count, delete, estimate.

Each takes a version as a name, a tag or ``latest`` (the default).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gridstore.cli.common import (
    SPLIT_CHOICE,
    Where,
    confirm,
    engine_options,
    errors,
    png_option,
    split_option,
    store_option,
    where_conditions,
    where_option,
    where_text,
)
from gridstore.errors import ConfigError


def _resolve(store: Path, version: str | None) -> tuple[Any, str]:
    from gridstore.cli.catalog import resolve

    return resolve(store, version)


@click.command()
@click.argument("version", required=False)
@store_option
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
@click.option(
    "--record",
    is_flag=True,
    help="With --full: record the recomputed digest of a version committed without one.",
)
@engine_options("the chunk checks")
@errors
def validate(
    version: str | None, store: Path, as_json: bool, quiet: bool, record: bool, **options: Any
) -> None:
    """Check a version: structure, values, generator rules, checksums, regeneration, digest.

    The chunk checks run as tasks on the engine generate uses (--workers,
    --engine, --scheduler); the report is the same whatever runs them.
    --full also recomputes the content digest from every chunk. Exits 0 only
    when every check passes.
    """
    from gridstore.validate.version import validate_version

    if record and not options["full"]:
        raise click.UsageError("--record needs --full (the digest covers every chunk)")
    s, version = _resolve(store, version)
    report = validate_version(s.path, version, progress=not quiet, **options)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("\n".join(report.summary_lines()))
    if not report.ok:
        sys.exit(1)
    if record:
        from gridstore.storage.registry import set_recorded_digest

        if s.metadata(version).get("digest"):
            click.echo(f"{version} records its digest in its metadata: nothing to record", err=True)
        elif report.digest is not None:
            set_recorded_digest(s, version, report.digest)
            click.echo(f"recorded digest {report.digest} for {version}", err=True)


@click.command()
@click.argument("version", required=False)
@store_option
@split_option
@png_option("preview")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which samples."
)
@where_option
@click.option("--pairs", is_flag=True, help="Draw images beside their twins (paired versions).")
@click.option(
    "--samples", type=click.IntRange(1, 100), help="Images drawn [100], pairs with --pairs [50]."
)
@errors
def preview(
    version: str | None,
    store: Path,
    split: str,
    output: Path | None,
    seed: int,
    where: Where,
    pairs: bool,
    samples: int | None,
) -> None:
    """Draw 100 random samples in a 10x10 grid with metadata and pixel statistics.

    With --where, the samples are drawn from the matching images; each is
    labelled with its index in the split. With --pairs, 50 of them beside
    their twins, each pair named by its intervention (--samples: how many).
    """
    import numpy as np

    s, version = _resolve(store, version)
    view = _view(s.path, version, split, where)
    rng = np.random.default_rng(seed)
    shown = samples or (50 if pairs else 100)
    picks = np.sort(rng.choice(len(view), size=min(shown, len(view)), replace=False))
    meta = s.metadata(version)
    params = meta["generation_params"]
    output = output or Path(f"preview-{version}-{split}.png")
    matching = f"; where {where_text(where)}: {len(view):,} match" if where else ""
    from gridstore.viz import render_preview

    if pairs:
        from gridstore.cli.pairs import preview_pairs

        title = f"{version} ({split}) - image | twin"
        subtitle = (
            f"preset {params['preset']}, seed {params['seed']}{matching}, samples seed {seed}"
        )
        click.echo(str(preview_pairs(view, picks, output, title, subtitle)))
        return
    render_preview(
        view.images[picks],
        view.indices[picks],
        output,
        title=f"{version} ({split}) - created {meta['timestamp']}",
        subtitle=f"preset {params['preset']}, seed {params['seed']}, {len(view.split):,} images"
        f"{matching}, samples drawn with seed {seed}",
    )
    click.echo(str(output))


def _view(store: str, version: str, split: str, where: Where) -> Any:
    """The images of ``split`` that match --where (all without it); an error if none."""
    from gridstore.read import open_store
    from gridstore.read.view import select

    view = select(open_store(store).version(version)[split], where_conditions(where))
    if len(view) == 0 and where:
        msg = (
            f"no image of split '{split}' of version '{version}' matches --where "
            f"{where_text(where)}; loosen it, or count matches with 'gridstore count'"
        )
        raise ConfigError(msg)
    if len(view) == 0:
        msg = f"split '{split}' of version '{version}' is empty; choose another --split"
        raise ConfigError(msg)
    return view


@click.command()
@click.argument("version", required=False)
@store_option
@split_option
@png_option("stats")
@click.option(
    "--max-images",
    type=click.IntRange(min=1),
    default=500_000,
    show_default=True,
    help="Read annotations of at most this many images (whole chunks, chosen at random).",
)
@where_option
@click.option("--pairs", is_flag=True, help="Plot the twins instead (paired versions).")
@errors
def stats(
    version: str | None,
    store: Path,
    split: str,
    output: Path | None,
    max_images: int,
    where: Where,
    pairs: bool,
) -> None:
    """Plot objects per image, types against their weights, sizes and colours.

    With --where, of the matching images only (read chunk by chunk from the
    chunks that hold one, at most --max-images of them). A paired version
    adds its interventions by kind; --pairs plots the twins' objects.
    """
    import numpy as np

    from gridstore.generate.vocab import OBJECT_TYPES
    from gridstore.pairs.layout import KINDS, PAIR
    from gridstore.viz import render_stats

    s, version = _resolve(store, version)
    view = _view(s.path, version, split, where)
    meta = s.metadata(version)
    gen = meta["generation_params"]["generator"]
    counts = view.chunk_counts()
    order = np.random.default_rng(0).permutation(len(counts))
    order = order[counts[order] > 0]  # chunks without a match are not read
    take = np.sort(order[: max(1, np.searchsorted(np.cumsum(counts[order]), max_images, "right"))])
    paired = bool(view.split.pair_fields)
    if pairs and not paired:
        raise ConfigError(f"version '{version}' has no pairs: --pairs needs a paired version")

    def sample(name: str) -> np.ndarray:
        column = view.split.annotation(name)
        return np.concatenate([column.chunk(int(c))[view.chunk_rows(int(c))] for c in take])

    fields = ("num_objects", "object_type", "object_subtype", "object_colour", "object_size")
    ann = {f: sample(f"{PAIR}/{f}" if pairs else f) for f in fields}
    kinds = None
    if paired:
        drawn = np.bincount(sample("intervention/kind"), minlength=len(KINDS) + 1)[1:]
        listed = meta.get("pairs", {}).get("kinds", KINDS)  # kinds never drawn show as 0
        kinds = {k: int(c) for k, c in zip(KINDS, drawn, strict=True) if k in listed}
    output = output or Path(f"stats-{version}-{split}{'-pairs' if pairs else ''}.png")
    weights = gen["type_weights"]
    # a selection is not the generator's draw, and a twin is an intervention's result
    expected = not (where or pairs)
    expected_types = {t: weights[t] / sum(weights.values()) for t in OBJECT_TYPES}
    shown = len(ann["num_objects"])
    # a sample (whole chunks at random, up to --max-images) says so, and of how many
    of = (f" sampled of {len(view):,}{' matching' if where else ''}" if shown < len(view)
          else "")  # fmt: skip
    matching = f" where {where_text(where)}" if where else ""
    held = meta.get("hold_out")  # a hold-out version: its draws were conditioned
    free = (
        None
        if where or pairs or not held
        else held.get("unconditioned", {}).get("statistics", {}).get(split)
    )
    render_stats(
        ann,
        output,
        title=f"{version} ({split}){matching}: {shown:,}{of} {'twins' if pairs else 'images'}",
        expected_type_weights=expected_types if expected and not held else None,
        max_objects=gen["max_objects"] if expected and not held else None,
        interventions=kinds,
        unconditioned=free,
    )
    click.echo(str(output))


@click.command()
@click.argument("version", required=False)
@store_option
@click.option(
    "--split",
    type=SPLIT_CHOICE,
    help="Count in this split only [default: every split].",
)
@where_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@errors
def count(version: str | None, store: Path, split: str | None, where: Where, as_json: bool) -> None:
    """Count the images that match --where, per split (default: the latest version).

    Reads, chunk by chunk, only the annotation arrays the conditions need.

    \b
    Examples:
      gridstore count --where num_objects=1
      gridstore count --split train --where 'object_type=blob object_colour=3'
      gridstore count --where object_size=12..15 --where object_type=line,rectangle
    """
    from gridstore.cli.pairs import intervention_counts
    from gridstore.read import open_store
    from gridstore.read.view import select

    s, version = _resolve(store, version)
    reader = open_store(s.path).version(version)
    counts: dict[str, dict[str, Any]] = {}
    for name in [split] if split else reader.splits:
        view = select(reader[name], where_conditions(where))
        counts[name] = {"count": len(view), "images": len(view.split)}
        if (kinds := intervention_counts(view)) is not None:  # a paired version's
            counts[name]["interventions"] = kinds
    if as_json:
        texts = [text for text, _ in where]
        click.echo(json.dumps({"version": version, "where": texts, "splits": counts}, indent=2))
        return
    click.echo(f"{version}: images where {where_text(where) or 'anything'}")
    wide = max(6, *map(len, counts))  # a hold-out version's "heldout"
    for name, c in counts.items():
        share = f" ({c['count'] / c['images']:.1%})" if c["images"] else ""
        click.echo(f"{name:<{wide}} {c['count']:>14,} of {c['images']:,}{share}")
        if "interventions" in c:
            drawn = [f"{k} {v:,}" for k, v in c["interventions"].items() if v]
            click.echo(f"       interventions: {', '.join(drawn) or 'none'}")


@click.command()
@click.argument("version")
@store_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@errors
def delete(version: str, store: Path, yes: bool) -> None:
    """Delete a version (or discard an unfinished one); asks first.

    A deleted version leaves a tombstone: its name is never given to another
    version, so a citation of it can never point at other data.
    """
    from gridstore.plan import format_bytes
    from gridstore.storage import open_backend
    from gridstore.storage.registry import resolve, tags

    s = open_backend(store)
    if version in {st.name for st in s.staged()}:
        confirm(f"Discard unfinished version {version}?", yes)
        s.discard(version)
        click.echo(f"discarded unfinished {version}")
        return
    given, version = version, resolve(s, version)
    meta = s.metadata(version)
    size = format_bytes(meta.get("storage", {}).get("bytes_on_disk", 0))
    via = f" (tag {given})" if given != version else ""
    confirm(
        f"Delete version {version}{via} ({meta['dataset_info']['total_count']:,} images, {size})?",
        yes,
    )
    s.delete(version)
    click.echo(f"deleted {version}; its name is never given to another version")
    left = sorted(t for t, v in tags(s).items() if v == version)
    if left:
        click.echo(f"tags still naming the deleted {version} (they now fail with a clear error; "
                   f"'gridstore untag' removes them): {', '.join(left)}", err=True)  # fmt: skip


@click.command()
@click.option("--num-images", type=click.IntRange(1, 10**12), required=True)
@click.option("--grid-size", type=click.IntRange(2, 255), default=16, show_default=True)
@errors
def estimate(num_images: int, grid_size: int) -> None:
    """Print the raw memory of NUM_IMAGES images (the seed's estimate_memory)."""
    from gridstore.plan import estimate_memory

    click.echo(json.dumps(estimate_memory(num_images, grid_size), indent=2))
