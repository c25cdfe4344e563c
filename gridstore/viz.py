"""ARC palette and PNG sheets (sample preview, annotation statistics); lazy matplotlib."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gridstore.errors import ConfigError
from gridstore.generate.vocab import OBJECT_TYPES
from gridstore.storage.fsio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ARC_PALETTE", "colorize", "render_pair_preview", "render_preview", "render_stats"]

#: The ten ARC colours; index = cell value (0 is the black background).
ARC_PALETTE: tuple[str, ...] = (
    "#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
    "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25",
)  # fmt: skip
_RGB = np.frombuffer(bytes.fromhex("".join(c[1:] for c in ARC_PALETTE)), np.uint8).reshape(10, 3)
_TYPE_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#8172B3")  # blob, rectangle, line, pattern
_EXPECT = "#D62728"  # expectation lines
_BAR: dict[str, Any] = {"edgecolor": "#333333", "linewidth": 0.6}
_BOX = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.85}
_TAGS: dict[str, Any] = {"label_type": "center", "fontsize": 9, "bbox": _BOX}
_IMG, _GAP, _LABEL, _MARGIN, _HEAD, _PANEL = 1.0, 0.16, 0.24, 0.35, 0.95, 3.3  # preview, inches


def colorize(images: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Map cell values 0..9 to RGB through :data:`ARC_PALETTE`.

    Parameters
    ----------
    images : array_like of int, shape (G, G) or (n, G, G)
        Cell values in 0..9.

    Returns
    -------
    numpy.ndarray of uint8, shape ``images.shape + (3,)``

    Raises
    ------
    ConfigError
        Not a 2-D or 3-D integer array, or a value outside 0..9.

    Examples
    --------
    >>> colorize(np.array([[0, 2]], dtype=np.uint8))[0, 1].tolist()
    [255, 65, 54]
    """
    arr = np.asarray(images)
    if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.integer):
        msg = f"images must be an integer array (G, G) or (n, G, G), got {arr.dtype} {arr.shape}"
        raise ConfigError(msg)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 9):
        msg = f"cell values must be in 0..9, got {arr.min()}..{arr.max()}; pass generator output"
        raise ConfigError(msg)
    return np.take(_RGB, arr, axis=0)


def render_preview(
    images: npt.ArrayLike,
    indices: Sequence[int] | npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str,
    subtitle: str = "",
    grid: tuple[int, int] = (10, 10),
) -> Path:
    """Save a PNG sheet of sample images with their indices and pixel statistics.

    Parameters
    ----------
    images : array_like of int, shape (n, G, G)
        The samples to show, ``1 <= n <= rows * cols``, values 0..9.
    indices : sequence of int, length n
        Sample index of each image, written under it.
    path : str or os.PathLike
        Where to write the PNG; parent directories are created.
    title, subtitle : str
        Header lines, e.g. version and timestamp; preset, seed and split.
    grid : (int, int)
        Rows and columns; fewer images fill only the rows they need.

    Returns
    -------
    pathlib.Path
        The written file (``path``), about 0.2 MB for 100 images of 16 x 16.

    Raises
    ------
    ConfigError
        Bad shape or values, ``indices`` of the wrong length, or too many images.
    """
    arr, idx = np.asarray(images), np.asarray(indices).reshape(-1)
    rgb = colorize(arr)
    rows, cols = (int(v) for v in grid)
    n = arr.shape[0] if arr.ndim == 3 and arr.shape[1] == arr.shape[2] else 0
    if not 1 <= n <= rows * cols or idx.shape[0] != n:
        msg = f"need 1..{rows * cols} images (n, G, G) and n indices, got {arr.shape}, {idx.size}"
        raise ConfigError(msg)
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    g, cols = arr.shape[1], min(cols, n)
    mosaic_w, mosaic_h = cols * (_IMG + _GAP) - _GAP, math.ceil(n / cols) * (_IMG + _LABEL)
    width, height = 3 * _MARGIN + mosaic_w + _PANEL, max(_HEAD + mosaic_h + _MARGIN, 8.6)
    fig = Figure(figsize=(width, height), dpi=110 if g <= 20 else 150)
    fig.text(_MARGIN / width, 1 - 0.3 / height, title, fontsize=16, weight="bold", va="top")
    fig.text(_MARGIN / width, 1 - 0.62 / height, subtitle, fontsize=11, color="#444", va="top")
    bottom = 1 - (_HEAD + mosaic_h) / height
    ax = fig.add_axes((_MARGIN / width, bottom, mosaic_w / width, mosaic_h / height))
    ax.set(xlim=(-0.02, mosaic_w + 0.02), ylim=(mosaic_h, -0.02))
    ax.set_axis_off()
    ticks, segments = np.linspace(0.0, _IMG, g + 1), []
    for k in range(n):
        x0, y0 = (k % cols) * (_IMG + _GAP), (k // cols) * (_IMG + _LABEL)
        ax.imshow(rgb[k], extent=(x0, x0 + _IMG, y0 + _IMG, y0), interpolation="nearest")
        segments += [((x0 + t, y0), (x0 + t, y0 + _IMG)) for t in ticks]
        segments += [((x0, y0 + t), (x0 + _IMG, y0 + t)) for t in ticks]
        ax.text(x0 + _IMG / 2, y0 + _IMG + 0.03, f"#{idx[k]}", ha="center", va="top", fontsize=8)
    line_pt = min(0.6, 0.12 * _IMG * 72 / g)  # about an eighth of a cell
    if line_pt >= 0.15:  # at very large G, lines would hide the cells
        ax.add_collection(LineCollection(segments, colors="#5A5A5A", linewidths=line_pt))
    _preview_panel(fig, arr, left=2 * _MARGIN + mosaic_w)
    return _save(fig, path, title=title, description=subtitle)


def render_pair_preview(
    bases: npt.ArrayLike,
    twins: npt.ArrayLike,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str,
    subtitle: str = "",
    columns: int = 5,
) -> Path:
    """Save a PNG sheet of pairs: each image beside its twin, labelled (e.g. with the intervention).

    Parameters
    ----------
    bases, twins : array_like of int, shape (n, G, G)
        The images and their twins, ``1 <= n <= 100``, values 0..9.
    labels : sequence of str, length n
        Written under each pair, e.g. ``"#12 rotate 1"``.
    path : str or os.PathLike
        Where to write the PNG; parent directories are created.
    title, subtitle : str
        Header lines.
    columns : int
        Pairs per row.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigError
        Bad shapes or values, or labels of the wrong length.
    """
    a, b = np.asarray(bases), np.asarray(twins)
    n = a.shape[0] if a.ndim == 3 and a.shape == b.shape and a.shape[1] == a.shape[2] else 0
    if not 1 <= n <= 100 or len(labels) != n:
        msg = f"need 1..100 pairs (n, G, G) twice and n labels, got {a.shape}, {b.shape}, {len(labels)}"
        raise ConfigError(msg)
    from matplotlib.figure import Figure

    left, right = colorize(a), colorize(b)
    cols = min(columns, n)
    cell_w, cell_h = 2 * _IMG + _GAP + 0.45, _IMG + _LABEL + 0.1
    width = 2 * _MARGIN + cols * cell_w
    height = _HEAD + math.ceil(n / cols) * cell_h + _MARGIN
    fig = Figure(figsize=(width, height), dpi=110)
    fig.text(_MARGIN / width, 1 - 0.3 / height, title, fontsize=15, weight="bold", va="top")
    fig.text(_MARGIN / width, 1 - 0.62 / height, subtitle, fontsize=10, color="#444", va="top")
    for k in range(n):
        x0 = _MARGIN + (k % cols) * cell_w
        y0 = height - _HEAD - (k // cols) * cell_h - _IMG
        for j, rgb in enumerate((left[k], right[k])):
            ax = fig.add_axes(((x0 + j * (_IMG + _GAP)) / width, y0 / height, _IMG / width,
                               _IMG / height))  # fmt: skip
            ax.imshow(rgb, interpolation="nearest")
            ax.set(xticks=[], yticks=[])
        fig.text((x0 + _IMG + _GAP / 2) / width, (y0 - 0.05) / height, labels[k], ha="center",
                 va="top", fontsize=8)  # fmt: skip
    return _save(fig, path, title=title, description=subtitle)


def _preview_panel(fig: Figure, arr: npt.NDArray[Any], *, left: float) -> None:
    """Draw the statistics text, the all-cells bar and the colour histogram."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    counts = np.bincount(arr.reshape(-1), minlength=10)
    share, per_image = counts / counts.sum(), np.count_nonzero(arr, axis=(1, 2))
    text = (
        f"images       {arr.shape[0]}  ({arr.shape[1]} x {arr.shape[2]})\n"
        f"mean         {arr.mean():.3f}\nstd          {arr.std():.3f}\n"
        f"min / max    {arr.min()} / {arr.max()}\nbackground   {share[0]:.1%} of cells\n"
        f"coloured     {per_image.mean():.1f} cells/image ({per_image.min()}..{per_image.max()})"
    )
    x, y = left / width, 1 - _HEAD / height
    fig.text(x, y, "Shown samples", fontsize=12.5, weight="bold", va="top")
    fig.text(x, y - 0.4 / height, text, family="monospace", fontsize=10, va="top", linespacing=1.5)
    strip = fig.add_axes((x, y - 2.6 / height, _PANEL / width, 0.3 / height))
    strip.barh(0, share, left=np.cumsum(share) - share, height=1, color=ARC_PALETTE, linewidth=0)
    strip.set_title(f"All cells by value (0 = background: {share[0]:.1%})", fontsize=10.5)
    strip.set(xlim=(0, 1), xticks=[], yticks=[], frame_on=False)
    hist = fig.add_axes((x + 0.3 / width, y - 6.45 / height, (_PANEL - 0.3) / width, 3.2 / height))
    _colour_bars(hist, counts[1:], "Colours 1..9 ({:,} coloured cells)", "cell value", 10.5)


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


def _colour_bars(ax: Axes, counts: Any, title: str, xlabel: str, size: float = 11) -> None:
    """Bar colours 1..9 in the palette against the uniform 1/9; ``title`` gets the total."""
    share = counts / max(int(counts.sum()), 1)
    ax.bar(range(1, 10), share, color=ARC_PALETTE[1:], **_BAR)
    ax.axhline(1 / 9, color=_EXPECT, linestyle="--", linewidth=1, label="uniform 1/9")
    ax.set_xticks(range(1, 10))
    _finish(ax, title.format(int(counts.sum())), xlabel, np.append(share, 1 / 9), size)


def _finish(ax: Axes, title: str, xlabel: str, shares: Any, size: float = 11) -> None:
    """Title, percent y axis with headroom for labels and legend, light spines."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_title(title, fontsize=size)
    ax.set_xlabel(xlabel, fontsize=size - 1.5)
    ax.set_ylim(0, max(float(np.max(shares, initial=0.0)) * 1.35, 0.05))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))
    ax.tick_params(labelsize=size - 2)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=size - 2.5, loc="upper right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)


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


def _save(fig: Figure, path: str | os.PathLike[str], *, title: str, description: str = "") -> Path:
    """Render ``fig`` to PNG with the Agg canvas; write it atomically (parents created).

    The title and description go into the PNG's text chunks too, for tools (and tests).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out, buf = Path(path), io.BytesIO()
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Title": title, **({"Description": description} if description else {})}
    FigureCanvasAgg(fig).print_figure(buf, fig.dpi, format="png", metadata=meta)
    atomic_write_bytes(out, buf.getvalue())
    return out
