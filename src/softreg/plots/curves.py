"""Training curves: train loss, train accuracy, validation and test accuracy per epoch.

:func:`plot_curves` (the run's curves.png) draws with Pillow; :func:`draw_curves` draws the same
curves onto a matplotlib axes (notebooks, d2l helpers).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from softreg.epochs.history import History
from softreg.plots.labels import FigureText

STYLES = {"train_loss": "-", "train_acc": "--", "val_acc": "-.", "test_acc": ":"}
SIZE = (560, 400)  # pixels of curves.png


def curve_limits(values: list[float]) -> tuple[float, float]:
    """y-limits that fit the data with a margin (d2l's fixed 0.3-0.9 hid curves)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    pad = max(0.02, 0.08 * (hi - lo))
    return max(0.0, lo - pad), hi + pad


def draw_curves(ax: Any, history: History, text: FigureText | None = None) -> None:
    """Draw every recorded metric that has values onto ``ax`` (words from ``text``)."""
    words = text or FigureText()
    epochs = [r.epoch for r in history.records]
    shown: list[float] = []
    for key, style in STYLES.items():
        values = history.column(key)
        if any(math.isfinite(v) for v in values):
            ax.plot(epochs, values, style, marker="o", markersize=3, label=words.metrics[key])
            shown += values
    ax.set_xlabel(words.epoch)
    ax.set_ylim(*curve_limits(shown))
    if epochs:
        ax.set_xlim(0.5, max(epochs) + 0.5)
    ax.grid(True, alpha=0.3)
    if shown:
        ax.legend(loc="best")
    else:  # no finished epoch (--epochs 0, or a run that diverged in its first epoch)
        ax.text(0.5, 0.5, words.no_epoch, ha="center", va="center", transform=ax.transAxes)


def plot_curves(history: History, path: str | os.PathLike[str], title: str = "",
                text: FigureText | None = None) -> Path:
    """Write the curves of ``history`` to a PNG at ``path`` (words and font from ``text``)."""
    from softreg.plots import raster
    from softreg.plots.axes import Axes

    words = text or FigureText()
    epochs = [r.epoch for r in history.records]
    series = [(words.metrics[key], history.column(key), style)
              for key, style in STYLES.items()
              if any(math.isfinite(v) for v in history.column(key))]
    shown = [v for _, values, _ in series for v in values]
    xlim = (0.5, max(epochs) + 0.5) if epochs else (0.0, 1.0)
    ax = Axes(SIZE, xlim, curve_limits(shown), font_file=words.font_file, title=title,
              xlabel=words.epoch, integer_x=True)
    for (label, values, style), color in zip(series, raster.CYCLE, strict=False):
        ax.plot(epochs, values, style, color, label)
    if series:
        ax.legend()
    else:  # no finished epoch (--epochs 0, or a run that diverged in its first epoch)
        ax.centre_text(words.no_epoch)
    return raster.save_png(ax.image(), path)
