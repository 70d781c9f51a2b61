"""Sweep figures: the sweep's criterion over learning rate x batch size, and learning curves."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softreg.epochs.history import Status
from softreg.plots._mpl import pyplot, save_figure
from softreg.plots.curves import curve_limits


def plot_heatmap(grid: tuple[list[float], list[int], Any, Any], path: str | os.PathLike[str],
                 best: dict[str, Any] | None = None, label: str = "validation accuracy",
                 lower: bool = False) -> Path:
    """Write the heatmap of a sweep's criterion (rows: learning rate, columns: batch size).

    Args:
        grid: :func:`softreg.sweeps.selection.heatmap_grid` of the sweep's rows.
        path: the PNG file to write.
        best: the chosen configuration's row, marked in red.
        label: the criterion's name, for the colour bar and the title.
        lower: the criterion is better lower (a loss): the colour map is reversed.
    """
    plt = pyplot()
    lrs, batches, values, diverged = grid
    fig, ax = plt.subplots(figsize=(1.1 * len(batches) + 2.6, 0.55 * len(lrs) + 1.8))
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    # a cell without a finished configuration is light grey; the better end is yellow
    cmap = pyplot().get_cmap("viridis_r" if lower else "viridis").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=lo,
                   vmax=max(hi, lo + 1e-3), aspect="auto")
    ax.set_xticks(range(len(batches)), labels=[str(b) for b in batches])
    ax.set_yticks(range(len(lrs)), labels=[f"{v:g}" for v in lrs])
    ax.set_xlabel("batch size")
    ax.set_ylabel("learning rate")
    for i in range(len(lrs)):
        for j in range(len(batches)):
            text = "diverged" if diverged[i, j] else (
                "" if math.isnan(values[i, j]) else f"{values[i, j]:.4f}")
            is_best = best is not None and float(best["lr"]) == lrs[i] and int(
                best["batch_size"]) == batches[j]
            # the darker half of the map: low values, or high ones with the reversed map
            dark = bool(values[i, j] > (lo + hi) / 2 if lower
                        else values[i, j] < (lo + hi) / 2)  # NaN (grey cell) -> False
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="red" if is_best else "white" if dark else "black",
                    fontweight="bold" if is_best else "normal")
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(f"{label}, the sweep's criterion ({'lowest' if lower else 'highest'} "
                 "over the other settings; red: chosen)", fontsize=9)
    return save_figure(fig, path)


def plot_sweep_curves(rows: Sequence[dict[str, Any]], histories: dict[str, dict[str, Any]],
                      path: str | os.PathLike[str], best: dict[str, Any] | None = None,
                      labelled: int = 6) -> Path:
    """Overlaid train-loss and validation-accuracy curves, one line per configuration.

    The chosen configuration is drawn thick and black; the ``labelled`` best by validation
    accuracy get a legend entry; diverged runs are drawn dotted up to their last good epoch.
    """
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    ranked = [r for r in rows if r["key"] in histories]
    accs: list[float] = []
    for rank, r in enumerate(ranked):
        epochs = [e["epoch"] for e in histories[r["key"]]["epochs"]]
        loss = [_f(e["train_loss"]) for e in histories[r["key"]]["epochs"]]
        acc = [_f(e["val_acc"]) for e in histories[r["key"]]["epochs"]]
        chosen = best is not None and r["key"] == best["key"]
        label = (f"lr {r['lr']:g}, batch {r['batch_size']}, wd {r['weight_decay']:g}"
                 + (" (diverged)" if r["status"] == Status.DIVERGED else "")
                 if rank < labelled or chosen else None)
        style = {"color": "black", "linewidth": 2.2, "zorder": 3} if chosen else {
            "linewidth": 1.0, "alpha": 0.75 if rank < labelled else 0.3}
        ls = ":" if r["status"] == Status.DIVERGED else "-"
        ax_loss.plot(epochs, loss, ls, **style)
        ax_acc.plot(epochs, acc, ls, label=label, **style)
        accs += acc
    ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="train loss (mean cross-entropy)")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy")
    ax_acc.set_ylim(*curve_limits([a for a in accs if a > 0.5] or accs))
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if ranked:
        ax_acc.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"{len(ranked)} configurations (black: chosen by validation accuracy)",
                 fontsize=10)
    return save_figure(fig, path)


def _f(value: Any) -> float:
    return math.nan if value is None else float(value)
