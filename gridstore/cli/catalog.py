"""The commands that name and describe versions: versions, info, tag, untag, describe.

A version can be named by its name, a tag, or ``latest`` wherever a command
takes one (`gridstore.storage.registry.resolve`). Tags and descriptions live
outside the versions, so a version's bytes never change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gridstore.cli.common import errors, print_summary, store_option


def resolve(store: Path | str, ref: str | None) -> tuple[Any, str]:
    """The store and the complete version ``ref`` names (a name, a tag, ``latest`` or None)."""
    from gridstore.storage import open_backend
    from gridstore.storage.registry import resolve as resolve_name

    s = open_backend(store)
    version = resolve_name(s, ref)
    s.metadata(version)  # raises a clear error for unknown or unfinished names
    return s, version


def _by_version(tags: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tag, version in sorted(tags.items()):
        out.setdefault(version, []).append(tag)
    return out


def _row(s: Any, name: str, tagged: dict[str, list[str]]) -> dict[str, Any]:
    from gridstore.storage.registry import description, recorded_digest

    m = s.metadata(name)
    info, params = m.get("dataset_info", {}), m.get("generation_params", {})
    return {
        "version": name,
        "state": m.get("state"),
        "created": m.get("timestamp"),
        "preset": params.get("preset"),
        "seed": params.get("seed"),
        **{k: info.get(f"{k}_count") for k in ("train", "val", "test", "total")},
        **({"heldout": info["heldout_count"]} if "heldout_count" in info else {}),
        "bytes_on_disk": m.get("storage", {}).get("bytes_on_disk"),
        "digest": m.get("digest") or recorded_digest(s, name),
        "tags": tagged.get(name, []),
        "description": description(s, name),
    }


@click.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@errors
def versions(store: Path, as_json: bool) -> None:
    """List versions: state, preset, seed, counts, size, digest (short), tags, creation time.

    The newest complete version is also tagged 'latest'.
    """
    from gridstore.digest import short_digest
    from gridstore.holdout.spec import ALL_SPLITS, HELDOUT
    from gridstore.plan import SPLITS, format_bytes
    from gridstore.storage import open_backend
    from gridstore.storage.registry import LATEST, tags

    s = open_backend(store)
    names = s.versions()
    tagged = _by_version(tags(s))
    if names:
        tagged.setdefault(names[-1], []).insert(0, LATEST)
    rows = [_row(s, name, tagged) for name in names]
    for staged in s.staged():
        plan = (staged.plan or {}).get("plan", {})
        rows.append(
            {
                "version": staged.name,
                "state": "writing" if staged.writing else "interrupted",
                "created": (staged.plan or {}).get("created"),
                "preset": plan.get("preset"),
                "seed": plan.get("seed"),
                "total": plan.get("num_images"),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no versions in '{s.path}'")
        return
    held = any(HELDOUT in r for r in rows)  # a column only for a store with hold-out versions
    splits = ALL_SPLITS if held else SPLITS
    click.echo(
        f"{'version':<16} {'state':<11} {'preset':<7} {'seed':>6} {'train':>12} {'val':>10} "
        f"{'test':>10}{f' {HELDOUT:>10}' if held else ''} {'size':>10}  {'digest':<12}  "
        f"{'created':<25}  tags"
    )
    for r in rows:
        size = format_bytes(r["bytes_on_disk"]) if r.get("bytes_on_disk") else "-"
        counts = [f"{r[k]:,}" if r.get(k) is not None else "-" for k in splits]
        seed = "-" if r.get("seed") is None else str(r["seed"])
        click.echo(
            f"{r['version']:<16} {r['state']:<11} {r.get('preset') or '-':<7} {seed:>6} "
            f"{counts[0]:>12} {counts[1]:>10} {counts[2]:>10}"
            f"{f' {counts[3]:>10}' if held else ''} {size:>10}  "
            f"{short_digest(r.get('digest')):<12}  {r.get('created') or '-':<25}  "
            f"{', '.join(r.get('tags', [])) or '-'}"
        )


@click.command()
@click.argument("version", required=False)
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@errors
def info(version: str | None, store: Path, as_json: bool) -> None:
    """Show a version's metadata (VERSION: a name, a tag or latest, the default).

    --json prints the version's own metadata (what --config and --like read
    back); the text adds its tags and description, kept outside the version.
    """
    from gridstore.storage.registry import description, recorded_digest, tags

    s, version = resolve(store, version)
    meta = s.metadata(version)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    params = meta["generation_params"]
    digest = meta.get("digest")
    if digest is None:
        later = recorded_digest(s, version)
        digest = (
            f"{later} (recorded by validate --record)"
            if later
            else "none recorded (see validate --full --record)"
        )
    tagged = sorted(t for t, v in tags(s).items() if v == version)
    if s.versions()[-1] == version:
        tagged.insert(0, "latest")
    click.echo(f"version:     {version} ({meta['state']}, created {meta['timestamp']})")
    click.echo(f"digest:      {digest}")
    click.echo(f"tags:        {', '.join(tagged) or '-'}")
    click.echo(f"description: {description(s, version) or '-'}")
    click.echo(f"gridstore:   {meta['gridstore_version']}; rng {meta['rng']['scheme']}")
    grown = (meta.get("generation") or {}).get("grown_from")
    click.echo(
        f"generator:   preset {params['preset']}, seed {params['seed']}, grid {params['grid_size']}, "
        f"{params['split_mode']} splits {params['splits']}"
        + (f"; grown from {grown}" if grown else "")
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
    if held := meta.get("hold_out"):  # a hold-out version: its conditions and what they cost
        share = held.get("removed_share")
        click.echo(
            f"hold-out:    {'; '.join(held['conditions'])}; {held['heldout_images']:,} heldout "
            f"images; {'-' if share is None else f'{share:.2%}'} of draws removed "
            f"(forecast {held.get('forecast_share', 0):.2%})"
        )


@click.command()
@click.argument("version")
@click.argument("tag")
@store_option
@click.option("--move", is_flag=True, help="Point an existing tag at VERSION.")
@errors
def tag(version: str, tag: str, store: Path, move: bool) -> None:
    """Tag a version: TAG then names it wherever a version is taken.

    VERSION is a name, a tag or latest (tagging latest fixes the version that
    is newest now). A tag is moved only with --move; 'latest' is built in.

    \b
    Example:
      gridstore tag 2026-12-06-v2 paper-2026
    """
    from gridstore.storage import open_backend
    from gridstore.storage.registry import resolve as resolve_name
    from gridstore.storage.registry import set_tag

    s = open_backend(store)
    before = set_tag(s, version, tag, move=move)
    now = resolve_name(s, tag)
    moved = f" (moved from {before})" if before and before != now else ""
    click.echo(f"{tag} -> {now}{moved}")


@click.command()
@click.argument("tag")
@store_option
@errors
def untag(tag: str, store: Path) -> None:
    """Remove a tag (the version stays)."""
    from gridstore.storage import open_backend
    from gridstore.storage.registry import remove_tag

    version = remove_tag(open_backend(store), tag)
    click.echo(f"removed tag {tag} (was {version})")


@click.command()
@click.argument("version")
@click.argument("text")
@store_option
@errors
def describe(version: str, text: str, store: Path) -> None:
    """Set a version's description (replacing any; kept outside the version's bytes)."""
    from gridstore.storage import open_backend
    from gridstore.storage.registry import set_description

    name = set_description(open_backend(store), version, text)
    click.echo(f"described {name}")
