"""Two versions side by side: the content of ``gridstore diff`` (parameters, counts, tests).

Everything comes from `gridstore.diff.diff_versions` (metadata only: fast at
any size). Each histogram is drawn twice, A and B, with A's shares as dashes on
B's chart, so a shift is seen as well as tested.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gridstore.browse.app import Browser, Problem, check_params
from gridstore.browse.html import bar_chart, esc, href, table
from gridstore.browse.pages import Rendered
from gridstore.errors import ConfigError
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.plan import SPLITS

__all__ = ["diff_page"]


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = [v for v in params.get(name, []) if v]
    if len(values) > 1:
        raise Problem(400, f"parameter '{name}' is given {len(values)} times; give it once")
    return values[0] if values else None


def _value(v: Any) -> str:
    if v is None:
        return "(not recorded)"
    return f"{v:.6g}" if isinstance(v, float) else json.dumps(v)


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.3f}" if p >= 0.001 else (f"{p:.1e}" if p > 0 else "<1e-300")


def diff_page(app: Browser, params: Mapping[str, list[str]]) -> Rendered:
    """The diff of versions ``a`` and ``b`` (query parameters), of one split or all."""
    from gridstore.diff import diff_versions

    check_params(params, ["a", "b", "split"])
    a, b, split = _one(params, "a"), _one(params, "b"), _one(params, "split")
    if a is None or b is None:
        raise Problem(400, "the diff page needs two versions: /diff?a=VERSION&b=VERSION")
    if split is not None and split not in ALL_SPLITS:
        raise Problem(400, f"split must be one of {', '.join(ALL_SPLITS)}, got {split!r}")
    for name in (a, b):
        app.metadata(name)  # 404 for a bad or missing name, as every page
    try:
        d = diff_versions(app.backend, a, b, split=split)
    except ConfigError as err:
        raise Problem(400, str(err)) from err
    scope = f"split {split}" if split else "all splits"
    splits = " ".join(
        f'<a href="{href("/diff", [("a", a), ("b", b), ("split", s)])}">{esc(s or "all splits")}</a>'
        for s in (
            None,
            *SPLITS,
            *[h for h in ALL_SPLITS[3:] if d.split_counts.get(h, (0, 0)) != (0, 0)],
        )
    )
    body = (
        f"<h1>{esc(a)} &rarr; {esc(b)}</h1><p>{esc(scope)}; alpha {d.alpha:g}; compare: {splits}</p>"
        f'<p class="verdict" id="verdict">'
    )
    if d.identical:
        body += "identical: " + (
            "the same version" if a == b else "same parameters, split counts and statistics"
        )
    else:
        body += "changed: " + esc(", ".join(d.changed) or "nothing significant")
    body += "</p><h2>Parameters</h2>"
    if d.parameters:
        body += table(
            ["parameter", a, b],
            [[p.name, _value(p.a), _value(p.b)] for p in d.parameters],
            "params",
        )
    else:
        body += "<p>same parameters</p>"
    counts = [
        [s, f"{x:,}", f"{y:,}", f"{y - x:+,}" if y != x else ""]
        for s, (x, y) in d.split_counts.items()
    ]
    body += "<h2>Images</h2>" + table(["split", a, b, "difference"], counts, "counts")
    rows, charts = [], []
    for s in d.statistics:
        if s.value_a is not None and s.value_b is not None:
            col_a, col_b = f"{s.value_a:.4f}", f"{s.value_b:.4f}"
            diff = f"{s.difference or 0:+.4f}"
        else:
            col_a, col_b = f"{s.n_a:,} {s.unit}s", f"{s.n_b:,} {s.unit}s"
            diff = (
                f"{s.largest_category} {100 * (s.difference or 0):+.1f} pp, V {s.effect or 0:.3f}"
            )
        if s.test == "none":
            diff = s.note
        flag = '<strong class="differs">DIFFERS</strong>' if s.significant else ""
        rows.append([esc(s.name), esc(col_a), esc(col_b), esc(diff), esc(_p(s.p_value)), flag])
        if len(s.categories) > 1:
            keys = [str(c["category"]) for c in s.categories]
            ta, tb = (max(1, sum(c[k] for c in s.categories)) for k in ("a", "b"))
            sa, sb = [c["a"] / ta for c in s.categories], [c["b"] / tb for c in s.categories]
            mark = " - differs" if s.significant else ""
            charts.append(
                f'<div class="pair">{bar_chart(f"{s.name}: {a}", keys, sa)}'
                f"{bar_chart(f'{s.name}: {b}{mark}', keys, sb, expected=sa, note=f'dashes: {a}')}</div>"
            )
    body += "<h2>Statistics</h2>" + table(
        ["statistic", a, b, "difference", "p-value", "flag"], rows, "stats", raw=True
    )
    body += "".join(f'<p class="note">note: {esc(n)}</p>' for n in d.notes)
    body += "<h2>Side by side</h2>" + "".join(charts)
    crumbs: list[tuple[str, str | None]] = [(f"diff {a} {b}", None)]
    return Rendered(f"diff {a} {b}", body, d.to_dict(), crumbs)
