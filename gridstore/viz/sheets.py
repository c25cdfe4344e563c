"""The ARC palette, preview sheets of samples and pairs, and what every sheet shares; lazy matplotlib."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gridstore.errors import ConfigError
from gridstore.storage.fsio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ARC_PALETTE", "colorize", "render_pair_preview", "render_preview"]

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
