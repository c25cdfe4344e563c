"""The split page (a paged grid of images, filtered by ``where``, optionally shuffled) and its count.

The filter, the seed and the page live in the query string, so a view is
shared by its URL: ``/v/VERSION/SPLIT?where=object_type%3Dblob&seed=3&page=2``.
A bad filter is shown on the page with the command line's message (HTTP 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridstore.browse.app import Browser, Problem, check_params, int_param
from gridstore.browse.html import esc, href, url
from gridstore.browse.pages import Rendered
from gridstore.browse.png import data_uri, grid_pngs
from gridstore.errors import GridstoreError

__all__ = ["PAGE_IMAGES", "count_data", "split_page"]

PAGE_IMAGES = 100  # images per page: a 10 x 10 grid, as `gridstore preview`
_MAX_SEED = 2**63 - 1
_EXAMPLE = "object_type=blob object_colour=3"


def _where(params: Mapping[str, list[str]]) -> list[str]:
    """The non-empty ``where`` texts of a request, in order."""
    return [w.strip() for w in params.get("where", []) if w.strip()]


def count_data(
    app: Browser, version: str, split: str, params: Mapping[str, list[str]]
) -> dict[str, Any]:
    """The count of a filter so far (JSON): matches, chunks scanned, done, error."""
    check_params(params, ["where"])
    return {"where": _where(params), **app.matching(version, split, _where(params)).status()}


def _form(version: str, split: str, where: list[str], seed: int | None) -> str:
    inputs = "".join(
        f'<input type="text" name="where" value="{esc(w)}" size="40" spellcheck="false">'
        for w in [*where, ""]
    )
    return (
        f'<form class="filter" method="get" action="{href(f"/v/{version}/{split}")}">'
        f'<label>where <span class="hint">(FIELD=VALUE[,VALUE...]; each box is one --where, e.g. '
        f'<code>{esc(_EXAMPLE)}</code>)</span></label><div class="wheres">{inputs}</div>'
        f'<label>seed <input type="number" name="seed" min="0" value="{"" if seed is None else seed}" '
        'placeholder="stored order"></label> <button type="submit">apply</button> '
        '<button type="button" id="shuffle">shuffle</button> '
        f'<a href="{href(f"/v/{version}/{split}")}">clear</a></form>'
    )


def _count_html(status: dict[str, Any], url: str) -> str:
    """The count line: final, or what the background count found so far (the script polls ``url``)."""
    if status["done"]:
        text = f"{status['matches']:,}"
    else:
        text = f"counting: {status['matches']:,} so far ({status['chunks_scanned']:,} of {status['chunks']:,} chunks)"
    state = "done" if status["done"] else "running"
    return (
        f'<p class="count"><span id="count" data-url="{esc(url)}" data-state="{state}">{esc(text)}</span>'
        f" of {status['images']:,} images match</p>"
    )


def split_page(app: Browser, version: str, split: str, params: Mapping[str, list[str]]) -> Rendered:
    """A page of the split's images that match its filter, in stored or shuffled order."""
    check_params(params, ["where", "seed", "page"])
    where = _where(params)
    seed = int_param(params, "seed", None, 0, _MAX_SEED)
    number = int_param(params, "page", 1, 1, 10**12)
    assert number is not None
    crumbs: list[tuple[str, str | None]] = [(version, f"/v/{version}"), (split, None)]
    title = f"{version} {split}"
    head = f"<h1>{esc(version)} / {esc(split)}</h1>" + _form(version, split, where, seed)
    try:
        matches = app.matching(version, split, where)
    except Problem as err:
        if err.status != 400:
            raise
        body = head + f'<p class="error" id="error">Error: {esc(err)}</p>'
        return Rendered(title, body, {"error": str(err)}, crumbs, status=400)
    try:
        shown = matches.page((number - 1) * PAGE_IMAGES, PAGE_IMAGES, seed)
        images = matches.view.split.annotation("images")[shown.rows]
    except GridstoreError as err:
        raise app.gone(version, err) from err
    status = matches.status()
    query = [("where", w) for w in where] + [("seed", seed)]
    count_url = url(f"/v/{version}/{split}/count", [("where", w) for w in where])
    cells = "".join(
        f'<a class="cell" href="{href(f"/v/{version}/{split}/{int(i)}")}" title="image {int(i)}">'
        f'<img src="{data_uri(png)}" alt="image {int(i)}" width="64" height="64">'
        f"<span>#{int(i)}</span></a>"
        for i, png in zip(shown.rows, grid_pngs(images), strict=True)
    )
    pages = -(-status["matches"] // PAGE_IMAGES) if status["done"] else None
    pager = []
    if number > 1:
        pager.append(
            f'<a id="prev" href="{href(f"/v/{version}/{split}", [*query, ("page", number - 1)])}">previous</a>'
        )
    pager.append(f"page {number:,}" + (f" of {pages:,}" if pages else ""))
    if not shown.last:
        pager.append(
            f'<a id="next" href="{href(f"/v/{version}/{split}", [*query, ("page", number + 1)])}">next</a>'
        )
    order = "stored order" if seed is None else f"shuffled with seed {seed}"
    notice = ""
    if not shown.complete:
        notice = '<p class="notice" id="searching">Still looking for matches: the page fills in as the count goes on.</p>'
    elif not len(shown.rows):
        notice = '<p class="notice">No image on this page: no match here.</p>'
    body = (
        head
        + _count_html(status, count_url)
        + f'<p class="pager">{" | ".join(pager)} <span class="hint">({order})</span></p>'
        + notice
        + f'<div class="grid" id="grid" data-incomplete="{0 if shown.complete else 1}">{cells}</div>'
    )
    data = {
        "version": version,
        "split": split,
        "where": where,
        "seed": seed,
        "page": number,
        "rows": [int(i) for i in shown.rows],
        "complete": shown.complete,
        "last": shown.last,
        "count": status,
    }
    return Rendered(title, body, data, crumbs)
