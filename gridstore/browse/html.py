"""HTML of the pages: the layout every page shares, tables and SVG bar charts.

Plain strings; every value that comes from a store or a request goes through
`esc`. Charts are inline SVG drawn here (no script, no plotting library), so a
page is complete in one response and works offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["bar_chart", "esc", "href", "page", "table", "url"]


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML (and inside a quoted attribute)."""
    return escape(str(value), quote=True)


def url(path: str, params: Iterable[tuple[str, Any]] = ()) -> str:
    """A link to ``path`` with query ``params`` (pairs; None and empty values dropped)."""
    query = urlencode([(k, v) for k, v in params if v is not None and v != ""])
    return quote(path) + (f"?{query}" if query else "")


def href(path: str, params: Iterable[tuple[str, Any]] = ()) -> str:
    """`url`, escaped for an HTML attribute."""
    return esc(url(path, params))


def page(title: str, body: str, crumbs: Sequence[tuple[str, str | None]] = ()) -> str:
    """A whole HTML document: the title, a breadcrumb bar of (text, link or None), the body."""
    trail = " / ".join(
        f'<a href="{esc(link)}">{esc(text)}</a>' if link else f"<span>{esc(text)}</span>"
        for text, link in crumbs
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} - gridstore browse</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        '<script src="/static/browse.js" defer></script></head>'
        f'<body><nav class="crumbs"><a href="/">gridstore</a>{" / " if trail else ""}{trail}</nav>'
        f"<main>{body}</main></body></html>\n"
    )


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "", raw: bool = False
) -> str:
    """A table; cells are escaped unless ``raw`` (then they are HTML already)."""
    cell = (lambda v: str(v)) if raw else esc
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def bar_chart(
    title: str,
    labels: Sequence[str],
    shares: Sequence[float],
    *,
    expected: Sequence[float | None] | None = None,
    colours: Sequence[str] | None = None,
    note: str = "",
) -> str:
    """An SVG bar chart of shares (0..1) with optional expected shares drawn as red dashes.

    Parameters
    ----------
    title : str
        Shown above the chart.
    labels : sequence of str
        One per bar, under it (long sequences show every k-th).
    shares : sequence of float
        Bar heights as fractions of the total.
    expected : sequence of float or None, optional
        What the parameters lead one to expect for each bar (None: nothing).
    colours : sequence of str, optional
        CSS colour of each bar (default one blue-grey).
    note : str
        A line under the title (e.g. what the expectation is).

    Returns
    -------
    str
        A ``<figure>`` holding the SVG, its title and each bar's value as a tooltip.
    """
    n = max(len(shares), 1)
    width, height, left, bottom, top = 460, 210, 42, 28, 12
    slot = (width - left - 8) / n
    peak = max([*shares, *(e for e in (expected or []) if e is not None), 0.01]) * 1.12
    scale = (height - bottom - top) / peak
    parts = []
    for frac in (0.0, 0.5, 1.0):  # three gridlines with their percentages
        y = height - bottom - frac * peak * scale
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{100 * frac * peak:.3g}%</text>"
        )
    step = max(1, -(-n // 24))  # at most about 24 labels under the bars
    for i, share in enumerate(shares):
        x, h = left + i * slot, share * scale
        fill = esc(colours[i % len(colours)]) if colours else "#7a8ca5"
        label = esc(labels[i])
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{height - bottom - h:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{fill}" class="bar"><title>{label}: {100 * share:.2f}%'
            f"</title></rect>"
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 14}" class="axis" '
                f'text-anchor="middle">{label}</text>'
            )
        want = expected[i] if expected is not None and i < len(expected) else None
        if want is not None:
            y = height - bottom - want * scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x + slot:.1f}" y1="{y:.1f}" y2="{y:.1f}" class="expect">'
                f"<title>expected {100 * want:.2f}%</title></line>"
            )
    svg = (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}">{"".join(parts)}</svg>'
    )
    sub = f'<div class="note">{esc(note)}</div>' if note else ""
    return f'<figure class="chart"><figcaption>{esc(title)}{sub}</figcaption>{svg}</figure>'
