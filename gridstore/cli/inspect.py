"""The commands that look at a store: versions, info, validate, preview, stats, export, delete, estimate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gridstore.cli.common import (
    confirm,
    errors,
    png_option,
    print_summary,
    split_option,
    store_option,
)
from gridstore.errors import ConfigError


@click.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@errors
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
    from gridstore.storage import latest_version, open_backend

    s = open_backend(store)
    version = version or latest_version(s)
    s.metadata(version)  # raises a clear error for unknown or unfinished names
    return s, version


@click.command()
@click.argument("version", required=False)
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@errors
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
    print_summary(meta)
    for split, st in meta["statistics"].items():
        if st["images"]:
            click.echo(
                f"{split:<6} pixels mean {st['pixel_mean']:.3f} std {st['pixel_std']:.3f} "
                f"min {st['pixel_min']} max {st['pixel_max']}; objects {st['object_types']}"
            )
    click.echo(f"duplicates:  {meta['duplicates']}")


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
@errors
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


@click.command()
@click.argument("version", required=False)
@store_option
@split_option
@png_option("preview")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which samples."
)
@errors
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
@errors
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


@click.command()
@click.argument("version", required=False)
@store_option
@click.option("--format", "fmt", type=click.Choice(["npz"]), default="npz", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for train.npz, val.npz, test.npz and metadata.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output directory.")
@errors
def export(version: str | None, store: Path, fmt: str, output: Path, overwrite: bool) -> None:
    """Export a version to the seed's npz layout (for older tooling)."""
    from gridstore.formats import export_version

    s, version = _resolve(store, version)
    click.echo(str(export_version(s.path, version, output, overwrite=overwrite)))


@click.command()
@click.argument("version")
@store_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@errors
def delete(version: str, store: Path, yes: bool) -> None:
    """Delete a version (or discard an unfinished one); asks first."""
    from gridstore.plan import format_bytes
    from gridstore.storage import open_backend

    s = open_backend(store)
    if version in {st.name for st in s.staged()}:
        confirm(f"Discard unfinished version {version}?", yes)
        s.discard(version)
        click.echo(f"discarded unfinished {version}")
        return
    meta = s.metadata(version)
    size = format_bytes(meta.get("storage", {}).get("bytes_on_disk", 0))
    confirm(
        f"Delete version {version} ({meta['dataset_info']['total_count']:,} images, {size})?", yes
    )
    s.delete(version)
    click.echo(f"deleted {version}")


@click.command()
@click.option("--num-images", type=click.IntRange(1, 10**12), required=True)
@click.option("--grid-size", type=click.IntRange(2, 255), default=16, show_default=True)
@errors
def estimate(num_images: int, grid_size: int) -> None:
    """Print the raw memory of NUM_IMAGES images (the seed's estimate_memory)."""
    from gridstore.plan import estimate_memory

    click.echo(json.dumps(estimate_memory(num_images, grid_size), indent=2))
