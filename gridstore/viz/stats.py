"""The statistics sheet of a split's annotations (`gridstore stats`); lazy matplotlib."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gridstore.errors import ConfigError
from gridstore.generate.vocab import OBJECT_TYPES
from gridstore.viz.sheets import (
    _BAR,
    _EXPECT,
    _TAGS,
    _TYPE_COLOURS,
    _colour_bars,
    _finish,
    _save,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["render_stats"]


def render_stats(
    annotations: Mapping[str, npt.ArrayLike] | Any,
    path: str | os.PathLike[str],
    *,
    title: str,
    expected_type_weights: Mapping[str, float] | None = None,
    max_objects: int | None = None,
    interventions: Mapping[str, int] | None = None,
    unconditioned: Mapping[str, Any] | None = None,
) -> Path:
    """Plot objects per image, object types, sizes and colours in one PNG.

    Parameters
    ----------
    annotations : mapping or object with attributes
        ``num_objects``, ``object_type``, ``object_colour``, ``object_size`` as in
        docs/internals.md: a dict, a zarr split group or ``generate.Annotations``.
    path : str or os.PathLike
        Where to write the PNG; parent directories are created.
    title : str
        Figure title, e.g. version and split.
    expected_type_weights : mapping of str to float, optional
        E.g. ``config.to_dict()["type_weights"]``; normalised, missing types count 0.
    max_objects : int, optional
        Draw the uniform expectation over ``1..max_objects`` on the objects panel.
    interventions : mapping of str to int, optional
        A paired version's interventions by kind: drawn in a fifth panel.
    unconditioned : mapping, optional
        Statistics as the metadata records them (``objects_per_image``,
        ``object_types``, ``object_colours``): a hold-out version's split as the
        unconditioned generator would have made it, drawn as markers against
        the kept images' bars.

    Returns
    -------
    pathlib.Path
        The written file (``path``).

    Raises
    ------
    ConfigError
        A field missing or malformed, no images, or an unknown type name.
    """
    num = _field(annotations, "num_objects", 255).reshape(-1)
    otype, colour = _field(annotations, "object_type", 4), _field(annotations, "object_colour", 9)
    size = _field(annotations, "object_size", 2**16 - 1)
    shapes = sorted({otype.shape, colour.shape, size.shape})
    if num.size == 0 or len(shapes) > 1 or otype.ndim != 2 or otype.shape[0] != num.size:
        msg = f"annotations need n >= 1 and (n, K) object fields, got {num.shape} and {shapes}"
        raise ConfigError(msg)
    expected = None
    if expected_type_weights is not None:
        if unknown := sorted(set(expected_type_weights) - set(OBJECT_TYPES)):
            msg = f"unknown object type {unknown[0]!r}; use {', '.join(OBJECT_TYPES)}"
            raise ConfigError(msg)
        weights = np.array([float(expected_type_weights.get(t, 0.0)) for t in OBJECT_TYPES])
        expected = weights / weights.sum() if weights.sum() > 0 else None
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    paired = interventions is not None
    fig = Figure(figsize=(19 if paired else 13, 9), dpi=100, layout="constrained")
    fig.suptitle(title, fontsize=15, weight="bold")
    axes = fig.subplot_mosaic("nti;sci" if paired else "nt;sc")
    ax_n, ax_t, ax_s, ax_c = (axes[k] for k in "ntsc")
    if interventions is not None:
        _intervention_bars(axes["i"], interventions)
    held = [int(k) for k, v in (unconditioned or {}).get("objects_per_image", {}).items() if v]
    k_max = max(int(num.max()), max_objects or 0, 1, *held)
    share = np.bincount(num, minlength=k_max + 1)[1 : k_max + 1] / num.size
    bars = ax_n.bar(range(1, k_max + 1), share, color="#7A8CA5", **_BAR)
    if k_max <= 12:
        ax_n.bar_label(bars, [f"{v:.1%}" if v else "" for v in share], **_TAGS)
    if max_objects:
        ax_n.hlines(1 / max_objects, 0.5, max_objects + 0.5, _EXPECT, "--", label="uniform draw")
    ax_n.xaxis.set_major_locator(MaxNLocator(integer=True))
    title_n = f"Objects per image ({num.size:,} images, mean {num.mean():.2f})"
    _finish(ax_n, title_n, "objects placed", np.append(share, 1 / (max_objects or k_max)))
    n_obj = int(np.count_nonzero(otype))
    t_share = np.bincount(otype[otype > 0], minlength=5)[1:5] / max(n_obj, 1)
    exp = [""] * 4 if expected is None else [f"\nexp. {e:.0%}" for e in expected]
    tags = [f"{v:.1%}{e}" if v else "" for v, e in zip(t_share, exp, strict=True)]
    x = np.arange(4)
    ax_t.bar_label(ax_t.bar(x, t_share, 0.6, color=_TYPE_COLOURS, **_BAR), tags, **_TAGS)
    if expected is not None:
        ax_t.hlines(expected, x - 0.4, x + 0.4, _EXPECT, "--", label="expected (type weights)")
    ax_t.set_xticks(x, OBJECT_TYPES)
    top = t_share if expected is None else np.maximum(t_share, expected)
    _finish(ax_t, f"Object types ({n_obj:,} objects)", "", top)
    sizes, hi = size[size > 0], int(size.max())
    stack = np.zeros(hi + 1)
    for t, name in enumerate(OBJECT_TYPES, start=1):
        part = np.bincount(size[otype == t], minlength=hi + 1) / max(sizes.size, 1)
        if part.any():
            ax_s.bar(range(hi + 1), part, 0.85, stack, color=_TYPE_COLOURS[t - 1], label=name)
        stack += part
    ax_s.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_s.set_xlim(sizes.min(initial=hi) - 0.8, hi + 0.8)
    mean = f", mean {sizes.mean():.1f} cells" if sizes.size else ""
    _finish(ax_s, f"Object sizes ({sizes.size:,} objects{mean})", "cells per object", stack)
    c_counts = np.bincount(colour[colour > 0], minlength=10)[1:10]
    _colour_bars(ax_c, c_counts, "Object colours ({:,} objects)", "colour value")
    if unconditioned is not None:  # the distribution the hold-out conditions were cut from
        for ax, key, at in ((ax_n, "objects_per_image", range(1, k_max + 1)),
                            (ax_t, "object_types", OBJECT_TYPES), (ax_c, "object_colours", range(1, 10))):  # fmt: skip
            _reference(ax, unconditioned[key], list(at))
    return _save(fig, path, title=title)


def _intervention_bars(ax: Axes, counts: Mapping[str, int]) -> None:
    """Horizontal bars: each intervention kind's share of the pairs, labelled with its count."""
    names = list(counts)
    total = max(sum(counts.values()), 1)
    share = np.array([counts[k] for k in names]) / total
    y = np.arange(len(names))[::-1]  # the first kind on top
    bars = ax.barh(y, share, 0.6, color="#7A8CA5", **_BAR)
    ax.bar_label(
        bars, [f"{counts[k]:,}" if counts[k] else "" for k in names], padding=3, fontsize=9
    )
    ax.set_yticks(y, names)
    ax.set_xlim(0, max(float(share.max(initial=0.0)) * 1.3, 0.05))
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.4g}%")
    ax.set_title(f"Interventions ({sum(counts.values()):,} pairs)", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)


def _reference(ax: Axes, counts: Mapping[Any, int], keys: list[Any]) -> None:
    """Shares of ``counts`` at ``keys`` (JSON keys are strings) as markers, legend refreshed."""
    values = np.array([float(counts.get(k, counts.get(str(k), 0))) for k in keys])
    share = values / max(float(sum(counts.values())), 1.0)
    ax.plot(np.arange(len(keys)) if isinstance(keys[0], str) else keys, share, "D", color="black",
            markersize=6, label="unconditioned generator")  # fmt: skip
    ax.set_ylim(0, max(ax.get_ylim()[1], float(share.max()) * 1.35))
    ax.legend(fontsize=8.5, loc="upper right", frameon=False)


def _field(annotations: Any, name: str, hi: int) -> npt.NDArray[np.int64]:
    """Read one annotation array (integers in 0..hi) from a mapping, group or attribute."""
    try:
        use_key = isinstance(annotations, Mapping) or not hasattr(annotations, name)
        arr = np.asarray(annotations[name] if use_key else getattr(annotations, name))
    except (KeyError, TypeError, IndexError):
        msg = f"annotations have no field {name!r}; pass the fields of docs/internals.md"
        raise ConfigError(msg) from None
    ok = np.issubdtype(arr.dtype, np.integer) and arr.min(initial=0) >= 0
    if not ok or arr.max(initial=0) > hi:
        msg = f"annotation {name!r} must hold integers in 0..{hi}; pass generator output"
        raise ConfigError(msg)
    return arr.astype(np.int64)
