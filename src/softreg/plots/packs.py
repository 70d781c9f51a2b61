"""Figures of packed runs: seed spread bands and the learning-rate range test."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from softreg.epochs.history import History, Status
from softreg.plots._mpl import pyplot, save_figure

_CURVES = (("train_loss", "train loss", "-"), ("train_acc", "train acc", "--"),
           ("val_acc", "val acc", "-."), ("test_acc", "test acc", ":"))


def plot_seed_band(histories: Sequence[History], path: str | os.PathLike[str]) -> Path:
    """Mean curve of each metric across seeds with a ±1 sd band (epochs all seeds reached)."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = min((len(h) for h in histories if len(h)), default=0)
    x = np.arange(1, epochs + 1)
    for key, label, style in _CURVES:
        values = np.array([h.column(key)[:epochs] for h in histories if len(h) >= epochs],
                          dtype=float)  # (seeds, epochs)
        if not values.size or not np.isfinite(values).any():
            continue
        ax = ax_loss if key.endswith("loss") else ax_acc
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
        line = ax.plot(x, mean, style, label=f"{label} (mean)")[0]
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2,
                        label=f"{label} ±1 sd")
    for ax, title in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(f"{title} over {len(histories)} seeds")
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_lr_find(lrs: Sequence[float], losses: Sequence[float], loss_name: str,
                 suggested: float | None, path: str | os.PathLike[str]) -> Path:
    """Loss against learning rate (log scale); diverged rates as crosses at the top."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ok = [(lr, v) for lr, v in zip(lrs, losses, strict=True) if math.isfinite(v)]
    if ok:
        ax.plot(*zip(*ok, strict=True), "o-", label=loss_name.replace("_", " "))
    bad = [lr for lr, v in zip(lrs, losses, strict=True) if not math.isfinite(v)]
    if bad:
        top = max((v for _, v in ok), default=1.0)
        ax.plot(bad, [top] * len(bad), "x", color="red", markersize=9, label=Status.DIVERGED)
    if suggested is not None:
        ax.axvline(suggested, color="green", linestyle="--",
                   label=f"suggested lr {suggested:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")  # losses of too-large rates grow by orders of magnitude
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"{loss_name.replace('_', ' ')} (log scale)")
    ax.set_title("learning-rate range test (one pack of rates)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
