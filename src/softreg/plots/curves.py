"""Training curves: train loss, train accuracy, validation and test accuracy per epoch."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from softreg.history import History
from softreg.plots._mpl import pyplot, save_figure
from softreg.plots.labels import FigureText


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
    styles = {"train_loss": "-", "train_acc": "--", "val_acc": "-.", "test_acc": ":"}
    shown: list[float] = []
    for key, style in styles.items():
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
    words = text or FigureText()
    with words.fonts():
        fig, ax = pyplot().subplots(figsize=(5.5, 3.8))
        draw_curves(ax, history, words)
        if title:
            ax.set_title(title)
        return save_figure(fig, path)
