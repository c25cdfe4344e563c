"""One image shown large, with toggles for its instance map and bounding boxes, and its annotations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gridstore.browse.app import Browser, Problem, check_params
from gridstore.browse.html import esc, href, table
from gridstore.browse.pages import Rendered
from gridstore.browse.png import INSTANCE_PALETTE, data_uri, grid_png, instance_png
from gridstore.browse.splitpage import PAGE_IMAGES
from gridstore.errors import GridstoreError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.viz import ARC_PALETTE

__all__ = ["image_page"]

_PER_OBJECT = ("object_type", "object_subtype", "object_colour", "object_size", "object_bbox")


def _subtype(kind: str, code: int) -> str:
    names = {"line": LINE_ORIENTATIONS, "pattern": PATTERN_FAMILIES}.get(kind)
    return names[code] if names and 0 <= code < len(names) else "-"


def _read(app: Browser, version: str, split: str, index: int) -> dict[str, np.ndarray]:
    """Row ``index`` of every array of the split (each from its cached chunk)."""
    reader = app.split(version, split)
    if not 0 <= index < len(reader):
        raise Problem(
            404,
            f"image {index} is not in split '{split}' of version '{version}' (0..{len(reader) - 1})",
        )
    try:
        return {f: reader.annotation(f)[index] for f in reader.fields}
    except GridstoreError as err:
        raise app.gone(version, err) from err


def image_page(
    app: Browser, version: str, split: str, index_text: str, params: Mapping[str, list[str]]
) -> Rendered:
    """Image ``index_text`` of a split: large, with overlays and its annotations table."""
    check_params(params, [])
    if not (index_text.isascii() and index_text.isdigit()) or len(index_text) > 15:
        raise Problem(404, f"'{index_text}' is not an image index (a non-negative integer)")
    index = int(index_text)
    row = _read(app, version, split, index)
    image = row["images"]
    g = image.shape[0]
    objects: list[dict[str, Any]] = []
    k = int(row.get("num_objects", 0))
    for slot in range(int(row["object_type"].shape[0]) if "object_type" in row else 0):
        code = int(row["object_type"][slot])
        if code == 0:
            continue
        kind = OBJECT_TYPES[code - 1]
        box = [int(v) for v in row["object_bbox"][slot]] if "object_bbox" in row else None
        objects.append({
            "instance": slot + 1,
            "type": kind,
            "subtype": _subtype(kind, int(row["object_subtype"][slot])) if "object_subtype" in row else "-",
            "colour": int(row["object_colour"][slot]) if "object_colour" in row else None,
            "size": int(row["object_size"][slot]) if "object_size" in row else None,
            "bbox": box,
        })  # fmt: skip
    boxes = "".join(
        f'<rect x="{o["bbox"][1]}" y="{o["bbox"][0]}" width="{o["bbox"][3] - o["bbox"][1] + 1}" '
        f'height="{o["bbox"][2] - o["bbox"][0] + 1}" class="box" '
        f'stroke="{_hex(INSTANCE_PALETTE[(o["instance"] - 1) % len(INSTANCE_PALETTE)])}">'
        f"<title>object {o['instance']}: {esc(o['type'])}</title></rect>"
        for o in objects
        if o["bbox"]
    )
    layers = f'<img class="cells" src="{data_uri(grid_png(image))}" alt="image {index}">'
    toggles = []
    if "instance_map" in row:
        layers += f'<img class="layer" id="instances" src="{data_uri(instance_png(row["instance_map"]))}" alt="instance map" hidden>'
        toggles.append(
            '<label><input type="checkbox" data-layer="instances" id="toggle-instances"> instance map</label>'
        )
    if boxes:
        layers += f'<svg class="layer" id="boxes" viewBox="0 0 {g} {g}" preserveAspectRatio="none" hidden>{boxes}</svg>'
        toggles.append(
            '<label><input type="checkbox" data-layer="boxes" id="toggle-boxes"> bounding boxes</label>'
        )
    rows = [
        [
            o["instance"],
            _swatch(_hex(INSTANCE_PALETTE[(o["instance"] - 1) % len(INSTANCE_PALETTE)])),
            esc(o["type"]),
            esc(o["subtype"]),
            f'{_swatch(ARC_PALETTE[o["colour"]])} {o["colour"]}' if o["colour"] is not None else "-",
            o["size"] if o["size"] is not None else "-",
            esc(" ".join(map(str, o["bbox"]))) if o["bbox"] else "-",
        ]
        for o in objects
    ]  # fmt: skip
    images = len(app.split(version, split))
    nav = []
    if index > 0:
        nav.append(f'<a id="prev" href="{href(f"/v/{version}/{split}/{index - 1}")}">previous</a>')
    nav.append(
        f'<a href="{href(f"/v/{version}/{split}", [("page", index // PAGE_IMAGES + 1)])}">grid</a>'
    )
    if index + 1 < images:
        nav.append(f'<a id="next" href="{href(f"/v/{version}/{split}/{index + 1}")}">next</a>')
    body = (
        f"<h1>{esc(version)} / {esc(split)} / image {index:,}</h1>"
        f'<p class="pager">{" | ".join(nav)}</p>'
        f'<div class="image"><div class="stage" id="stage">{layers}</div>'
        f'<div class="side"><p class="toggles">{" ".join(toggles)}</p>'
        f"<p>{k} object{'s' if k != 1 else ''}; {int(np.count_nonzero(image))} coloured cells of {g * g}</p>"
        + table(
            ["instance", "", "type", "subtype", "colour", "size", "bbox (r0 c0 r1 c1)"],
            rows,
            "objects",
            raw=True,
        )
        + "</div></div>"
    )
    data = {
        "version": version,
        "split": split,
        "index": index,
        "image": image.tolist(),
        "instance_map": row["instance_map"].tolist() if "instance_map" in row else None,
        "num_objects": k,
        "objects": objects,
    }
    crumbs: list[tuple[str, str | None]] = [
        (version, f"/v/{version}"),
        (split, f"/v/{version}/{split}"),
        (str(index), None),
    ]
    return Rendered(f"{version} {split} {index}", body, data, crumbs)


def _hex(rgb: np.ndarray) -> str:
    return "#" + bytes(int(v) for v in rgb[:3]).hex()


def _swatch(colour: str) -> str:
    """A small square of ``colour`` (SVG: the page allows no inline style)."""
    return f'<svg width="12" height="12" class="swatch"><rect width="12" height="12" fill="{colour}"/></svg>'
