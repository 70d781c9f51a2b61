"""Sweep figures: the sweep's criterion over learning rate x batch size, and learning curves."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softreg.history import SELECTABLE, Status
from softreg.plots._mpl import pyplot, save_figure
from softreg.plots.curves import curve_limits


def heatmap_grid(rows: Sequence[dict[str, Any]], select: str = "val_acc"
                 ) -> tuple[list[float], list[int], Any, Any]:
    """The best value of criterion ``select`` per (lr, batch size) cell, over all other
    settings (a setting's value is the mean over its seeds: :mod:`softreg.selection`).

    Returns:
        (learning rates, batch sizes, values (n_lr, n_batch) with NaN where no configuration
        can be chosen, diverged (n_lr, n_batch) bool: every configuration of the cell diverged).
    """
    from softreg.selection import criterion, row_score, setting_scores

    crit = criterion(select)
    scores = setting_scores(rows, select)
    lrs = sorted({float(r["lr"]) for r in rows})
    batches = sorted({int(r["batch_size"]) for r in rows})
    values = np.full((len(lrs), len(batches)), np.nan)  # (n_lr, n_batch)
    diverged = np.zeros(values.shape, dtype=bool)
    seen = np.zeros(values.shape, dtype=bool)
    for r in rows:
        i, j = lrs.index(float(r["lr"])), batches.index(int(r["batch_size"]))
        if r["status"] == Status.DIVERGED and not seen[i, j]:
            diverged[i, j] = True
        if r["status"] in SELECTABLE:
            seen[i, j], diverged[i, j] = True, False
        value = row_score(r, scores)  # NaN: a seed of its setting diverged
        if r["status"] in SELECTABLE and math.isfinite(value):
            old = values[i, j]
            if math.isnan(old) or (value < old if crit.lower else value > old):
                values[i, j] = value
    return lrs, batches, values, diverged


def plot_heatmap(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str],
                 best: dict[str, Any] | None = None, select: str = "val_acc") -> Path:
    """Write the heatmap of criterion ``select`` (rows: learning rate, columns: batch size)."""
    from softreg.selection import criterion

    crit = criterion(select)
    plt = pyplot()
    lrs, batches, values, diverged = heatmap_grid(rows, select)
    fig, ax = plt.subplots(figsize=(1.1 * len(batches) + 2.6, 0.55 * len(lrs) + 1.8))
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    # a cell without a finished configuration is light grey; the better end is yellow
    cmap = pyplot().get_cmap("viridis_r" if crit.lower else "viridis").with_extremes(bad="0.85")
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
            dark = bool(values[i, j] > (lo + hi) / 2 if crit.lower
                        else values[i, j] < (lo + hi) / 2)  # NaN (grey cell) -> False
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="red" if is_best else "white" if dark else "black",
                    fontweight="bold" if is_best else "normal")
    fig.colorbar(im, ax=ax, label=crit.label)
    ax.set_title(f"{crit.label}, the sweep's criterion ({'lowest' if crit.lower else 'highest'} "
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
