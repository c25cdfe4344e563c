"""The store page (versions table) and the version page (metadata and per-split statistics).

Both read only metadata (one ``zarr.json`` per version): fast on any store.
Each returns a `View`: its HTML and the same content as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gridstore.browse.app import Browser
from gridstore.browse.html import bar_chart, esc, href, table
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.holdout.spec import ALL_SPLITS, HELDOUT
from gridstore.plan import SPLITS, format_bytes
from gridstore.viz import ARC_PALETTE

__all__ = ["Rendered", "store_page", "version_page"]

_TYPE_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#8172B3")  # as gridstore.viz's stats sheet


@dataclass
class Rendered:
    """A page: its title, breadcrumbs, HTML body and the same content as JSON."""

    title: str
    body: str
    data: dict[str, Any]
    crumbs: list[tuple[str, str | None]] = field(default_factory=list)
    status: int = 200


def _summary(meta: dict[str, Any]) -> str:
    """The parameters in one line: preset, seed, grid, objects, sizes."""
    p, g = meta.get("generation_params", {}), meta.get("generation_params", {}).get("generator", {})
    return (
        f"preset {p.get('preset')}, seed {p.get('seed')}, grid {p.get('grid_size')}, "
        f"{g.get('min_objects')}..{g.get('max_objects')} objects of "
        f"{g.get('min_size')}..{g.get('max_size')} cells" + (", unique" if p.get("unique") else "")
    )


def store_page(app: Browser) -> Rendered:
    """The versions of the store: state, counts, size, created, parameters; then a diff form."""
    rows, data = [], []
    metas = {name: app.backend.metadata(name) for name in app.backend.versions()}
    # a heldout column only for a store with hold-out versions (as `gridstore versions`)
    held = any(f"{HELDOUT}_count" in m.get("dataset_info", {}) for m in metas.values())
    counted = (*(ALL_SPLITS if held else SPLITS), "total")
    for name, meta in metas.items():
        info = meta.get("dataset_info", {})
        size = meta.get("storage", {}).get("bytes_on_disk")
        item = {
            "version": name,
            "state": meta.get("state"),
            "created": meta.get("timestamp"),
            **{s: info.get(f"{s}_count") for s in counted},
            "bytes_on_disk": size,
            "parameters": _summary(meta),
        }
        data.append(item)
        counts = [f"{item[s]:,}" if item[s] is not None else "-" for s in counted]
        link = f'<a href="{href(f"/v/{name}")}">{esc(name)}</a>'
        rows.append(
            [link, esc(item["state"]), *counts, esc(format_bytes(size) if size else "-"),
             esc(item["created"] or "-"), esc(item["parameters"])]
        )  # fmt: skip
    for staged in app.backend.staged():
        state = "writing" if staged.writing else "interrupted"
        data.append({"version": staged.name, "state": state})
        dashes = ["-"] * (len(counted) + 2)  # the counts, size and created
        rows.append([esc(staged.name), esc(state), *dashes, "not browsable until complete"])
    header = ["version", "state", *counted, "size", "created", "parameters"]
    body = f"<h1>Store <code>{esc(app.path)}</code></h1>"
    if rows:
        body += table(header, rows, "versions", raw=True)
    else:
        body += f"<p>No versions yet: make one with <code>gridstore generate --store {esc(app.path)}</code>.</p>"
    names = [d["version"] for d in data if d["state"] == "complete"]
    if len(names) >= 2:

        def options(chosen: str) -> str:
            return "".join(
                f"<option{' selected' if n == chosen else ''}>{esc(n)}</option>" for n in names
            )

        body += (
            '<h2>Compare two versions</h2><form action="/diff" method="get" class="diffform">'
            f'<select name="a">{options(names[-2])}</select> against '
            f'<select name="b">{options(names[-1])}</select> <button type="submit">diff</button></form>'
        )
    return Rendered("store", body, {"store": app.path, "versions": data})


def _shares(hist: dict[str, int], keys: list[str]) -> list[float]:
    total = sum(hist.get(k, 0) for k in keys) or 1
    return [hist.get(k, 0) / total for k in keys]


def _weights(weights: dict[str, float], names: tuple[str, ...]) -> list[float | None]:
    total = sum(weights.get(n, 0.0) for n in names)
    return [weights.get(n, 0.0) / total if total else None for n in names]


def split_charts(stats: dict[str, Any], gen: dict[str, Any]) -> str:
    """The charts of one split's recorded statistics against what the parameters imply."""
    lo, hi = int(gen.get("min_objects", 1)), int(gen.get("max_objects", 1))
    per = stats.get("objects_per_image", {})
    ks = [str(k) for k in range(0, max([hi, *map(int, per or [0])]) + 1) if k or per.get("0")]
    uniform = [1 / (hi - lo + 1) if lo <= int(k) <= hi else 0.0 for k in ks]
    charts = [
        bar_chart(f"Objects per image ({stats['images']:,} images)", ks, _shares(per, ks),
                  expected=uniform, note=f"expected: uniform over {lo}..{hi} (the draw; a crowded grid places fewer)"),
        bar_chart(f"Object types ({sum(stats.get('object_types', {}).values()):,} objects)",
                  list(OBJECT_TYPES), _shares(stats.get("object_types", {}), list(OBJECT_TYPES)),
                  expected=_weights(gen.get("type_weights", {}), OBJECT_TYPES),
                  colours=_TYPE_COLOURS, note="expected: type_weights"),
        bar_chart("Object colours", [str(c) for c in range(1, 10)],
                  _shares(stats.get("object_colours", {}), [str(c) for c in range(1, 10)]),
                  expected=[1 / 9] * 9, colours=ARC_PALETTE[1:], note="expected: uniform 1/9"),
    ]  # fmt: skip
    sizes = stats.get("object_sizes", {})
    if sizes:
        keys = [str(k) for k in range(min(map(int, sizes)), max(map(int, sizes)) + 1)]
        note = f"parameters allow {gen.get('min_size')}..{gen.get('max_size')} cells; the share of each size depends on the type"
        charts.append(bar_chart("Object sizes (cells)", keys, _shares(sizes, keys), note=note))
    for name, vocab, key in (("Line orientations", LINE_ORIENTATIONS, "line_weights"),
                             ("Pattern families", PATTERN_FAMILIES, "pattern_weights")):  # fmt: skip
        hist = stats.get(name.lower().replace(" ", "_"), {})
        if sum(hist.values()):
            charts.append(bar_chart(f"{name} ({sum(hist.values()):,})", list(vocab),
                                    _shares(hist, list(vocab)), expected=_weights(gen.get(key, {}), vocab),
                                    note=f"expected: {key}"))  # fmt: skip
    cells = [str(c) for c in range(10)]
    pixels = _shares(stats.get("colour_histogram", {}), cells)
    note = (f"pixel mean {stats.get('pixel_mean', 0):.3f}, std {stats.get('pixel_std', 0):.3f}; "
            f"background {100 * pixels[0]:.1f}% of cells")  # fmt: skip
    charts.append(
        bar_chart(
            "Pixel histogram (all cells)",
            cells,
            pixels,
            colours=["#dddddd", *ARC_PALETTE[1:]],
            note=note,
        )
    )
    return '<div class="charts">' + "".join(charts) + "</div>"


def version_page(app: Browser, version: str) -> Rendered:
    """A version's metadata, links to its splits, and each split's statistics as charts."""
    meta = app.metadata(version)
    info, params = meta.get("dataset_info", {}), meta.get("generation_params", {})
    gen = params.get("generator", {})
    size = meta.get("storage", {}).get("bytes_on_disk")
    facts = [
        ("state", meta.get("state")),
        ("created", meta.get("timestamp")),
        ("gridstore", meta.get("gridstore_version")),
        ("parameters", _summary(meta)),
        ("images", f"{info.get('total_count', 0):,}"),
        ("on disk", format_bytes(size) if size else "-"),
        ("duplicates", json.dumps(meta.get("duplicates"))),
    ]
    splits = [s for s in ALL_SPLITS if info.get(f"{s}_count")]  # a hold-out version's heldout too
    links = " ".join(
        f'<a class="button" href="{href(f"/v/{version}/{s}")}">{esc(s)}: {info[f"{s}_count"]:,} images</a>'
        for s in splits
    )
    body = (
        f"<h1>Version {esc(version)}</h1><p class='splits'>{links}</p>"
        + table(["", ""], [[k, v] for k, v in facts], "facts")
        + f"<details><summary>generator parameters</summary><pre>{esc(json.dumps(gen, indent=2))}</pre></details>"
    )
    for s in splits:
        stats = meta.get("statistics", {}).get(s)
        if stats and stats.get("images"):
            body += f'<h2 id="{esc(s)}">{esc(s)}</h2>' + split_charts(stats, gen)
    crumbs: list[tuple[str, str | None]] = [(version, None)]
    return Rendered(version, body, meta, crumbs)
