"""ARC palette and PNG sheets: samples, pairs (`sheets`) and annotation statistics (`stats`).

matplotlib is imported on first use only, and never pyplot.
"""

from gridstore.viz.sheets import ARC_PALETTE, colorize, render_pair_preview, render_preview
from gridstore.viz.stats import render_stats

__all__ = ["ARC_PALETTE", "colorize", "render_pair_preview", "render_preview", "render_stats"]
