"""The overfitting study's figure: accuracy curves per variant, the gap, validation loss."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from softreg.epochs.history import History
from softreg.plots._mpl import pyplot, save_figure
from softreg.plots.curves import curve_limits

_SPLITS = (("train_acc", "train", "-"), ("val_acc", "validation", "--"),
           ("test_acc", "test", ":"))


def plot_overfit(runs: Sequence[tuple[str, History, int]],
                 path: str | os.PathLike[str]) -> Path:
    """Write the study figure for ``runs`` = (label, history, epoch of the kept model).

    One panel per run with its train / validation / test accuracy (same y-scale in all), one
    with the generalisation gap (train minus test accuracy) of every run, and one with every
    run's validation loss, the quantity early stopping watches.
    """
    plt = pyplot()
    ncols = 3
    nrows = math.ceil((len(runs) + 2) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    flat = list(axes.ravel())
    everything = [v for _, h, _ in runs for key, _, _ in _SPLITS for v in h.column(key)]
    limits = curve_limits([v for v in everything if v > 0.5] or everything)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    last_epoch = max((len(h) for _, h, _ in runs), default=1)
    for ax, (label, history, kept) in zip(flat, runs, strict=False):
        epochs = [r.epoch for r in history.records]
        for (key, name, style), color in zip(_SPLITS, colors, strict=False):
            ax.plot(epochs, history.column(key), style, color=color, label=name, linewidth=1.2)
        if kept < len(history):
            ax.axvline(kept, color="grey", linewidth=0.8, label=f"kept: epoch {kept}")
        ax.set_ylim(*limits)
        ax.set_xlim(0, last_epoch + 1)
        ax.set_title(label, fontsize=9)
        ax.legend(loc="lower right", fontsize=7)
    gap_ax, loss_ax = flat[len(runs)], flat[len(runs) + 1]
    styles = ("-", "--", "-.", ":")  # identical curves (e.g. before early stopping) stay visible
    for i, ((label, history, _), color) in enumerate(zip(runs, colors, strict=False)):
        epochs = [r.epoch for r in history.records]
        gap = [r.train_acc - r.test_acc for r in history.records]
        style = styles[i % len(styles)]
        gap_ax.plot(epochs, gap, style, color=color, label=label, linewidth=1.2)
        loss_ax.plot(epochs, history.column("val_loss"), style, color=color, label=label,
                     linewidth=1.2)
    gap_ax.set_title("generalisation gap: train minus test accuracy", fontsize=9)
    loss_ax.set_title("validation loss (early stopping watches this)", fontsize=9)
    gap_ax.legend(fontsize=7)
    for ax in flat[: len(runs) + 2]:
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    for ax in flat[len(runs) + 2:]:
        ax.set_visible(False)
    fig.tight_layout()
    return save_figure(fig, path)
