"""``gridstore diff``: two versions side by side, with what a sample that size says changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gridstore.cli.common import SPLIT_CHOICE, errors, store_option

if TYPE_CHECKING:
    from gridstore.diff import StatisticComparison, VersionDiff


@click.command()
@click.argument("version_a")
@click.argument("version_b")
@store_option
@click.option(
    "--split",
    type=SPLIT_CHOICE,
    default=None,
    help="Compare one split's statistics [default: all splits added up].",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.001,
    show_default=True,
    help="Significance level of each test.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@errors
def diff(
    version_a: str, version_b: str, store: Path, split: str | None, alpha: float, as_json: bool
) -> None:
    """Compare two versions: parameters, split counts and statistics, with significance tests.

    Each histogram (objects per image, types, colours, sizes, line orientations,
    pattern families, pixels) gets a chi-square test of homogeneity, pixel mean
    and std and the duplicate share a z-test; a row is flagged when p < ALPHA.
    A diff is information: the exit code is 0 whatever differs.
    """
    from gridstore.diff import diff_versions

    result = diff_versions(store, version_a, version_b, split=split, alpha=alpha)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo("\n".join(diff_lines(result)))


def diff_lines(d: VersionDiff) -> list[str]:
    """The comparison as a side-by-side text table."""
    a, b = d.version_a, d.version_b
    scope = f"split {d.split}" if d.split else "all splits"
    lines = [f"{a} -> {b} in '{d.store}' ({scope}; alpha {d.alpha:g})"]
    if d.identical:
        same = "the same version" if a == b else "same parameters, split counts and statistics"
        return [*lines, f"identical: {same}"]
    if d.parameters:
        n = len(d.parameters)
        lines.append(f"parameters: {n} differ{'s' if n == 1 else ''}")
        width = max(len(p.name) for p in d.parameters)
        lines += [f"  {p.name:<{width}}  {_param(p.a)} -> {_param(p.b)}" for p in d.parameters]
    else:
        lines.append("parameters: same parameters")
    rows: list[tuple[str, ...]] = [("images", a, b, "", "", "")]
    for split, (x, y) in d.split_counts.items():
        rows.append((f"  {split}", f"{x:,}", f"{y:,}", f"{y - x:+,}" if y != x else "", "", ""))
    rows.append(("statistic", a, b, "difference", "p-value", "flag"))
    for s in d.statistics:
        rows += _statistic_rows(s)
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(5)]
    for r in rows:
        lines.append(("".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[5]).rstrip())
    lines.append(f"changed: {', '.join(d.changed) or 'nothing significant'}")
    return lines + [f"note: {n}" for n in d.notes]


def _param(value: Any) -> str:
    if value is None:
        return "(not recorded)"
    return f"{value:.6g}" if isinstance(value, float) else json.dumps(value)


# How a numbered category reads (a bare "3" could be a count, a size or a colour).
CATEGORY_LABELS = {
    "objects_per_image": "{} per image",
    "object_colours": "colour {}",
    "object_sizes": "size {}",
    "colour_histogram": "colour {}",
}


def _category(statistic: str, category: str | None) -> str:
    return CATEGORY_LABELS.get(statistic, "{}").format(category)


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.3f}" if p >= 0.001 else (f"{p:.1e}" if p > 0 else "<1e-300")


def _statistic_rows(s: StatisticComparison) -> list[tuple[str, ...]]:
    """One row (name, A, B, difference, p-value, flag), and one per category if flagged."""
    if s.value_a is None or s.value_b is None:  # a histogram, or nothing to test
        col_a, col_b = f"{s.n_a:,} {s.unit}s", f"{s.n_b:,} {s.unit}s"
        where = _category(s.name, s.largest_category)
        diff = f"{where} {100 * (s.difference or 0):+.1f} pp, V {s.effect or 0:.3f}"
    elif s.name == "duplicates":
        da, db = s.categories[0]["a"], s.categories[0]["b"]
        col_a, col_b = f"{da:,} ({100 * s.value_a:.2f}%)", f"{db:,} ({100 * s.value_b:.2f}%)"
        diff = f"{100 * (s.difference or 0):+.2f} pp"
    else:
        col_a, col_b = f"{s.value_a:.4f}", f"{s.value_b:.4f}"
        rel = f" ({100 * s.effect:+.1f}%)" if s.effect is not None else ""
        diff = f"{s.difference or 0:+.4f}{rel}"
    if s.test == "none":
        diff = s.note
    rows: list[tuple[str, ...]] = [
        (s.name, col_a, col_b, diff, _p(s.p_value), "DIFFERS" if s.significant else "")
    ]
    if s.significant and len(s.categories) > 1:  # where a flagged histogram moved
        ta, tb = (sum(c[k] for c in s.categories) for k in ("a", "b"))
        for c in s.categories:
            pa, pb = 100 * c["a"] / ta, 100 * c["b"] / tb
            rows.append(
                (
                    f"  {_category(s.name, c['category'])}",
                    f"{pa:.1f}%",
                    f"{pb:.1f}%",
                    f"{pb - pa:+.1f} pp",
                    "",
                    "",
                )
            )
    return rows
