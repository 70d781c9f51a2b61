"""Confusion-matrix figure."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.plots._mpl import pyplot, save_figure
from softreg.plots.labels import FigureText


def plot_confusion(
    cm: npt.NDArray[np.int64], names: Sequence[str], path: str | os.PathLike[str], title: str = "",
    text: FigureText | None = None,
) -> Path:
    """Write a row-normalised confusion matrix (counts printed in the cells) to ``path``."""
    words = text or FigureText()
    with words.fonts():
        return save_figure(confusion_figure(cm, names, title, words), path)


def confusion_figure(cm: npt.NDArray[np.int64], names: Sequence[str], title: str = "",
                     text: FigureText | None = None) -> Any:
    """The confusion-matrix figure: class ``names`` on both axes, other words from ``text``.

    Create and save it inside ``text.fonts()`` for the font to apply.
    """
    words = text or FigureText()
    plt = pyplot()
    rows = cm.sum(axis=1, keepdims=True)
    frac = cm / np.maximum(rows, 1)  # (10, 10) share of each true class
    fig, ax = plt.subplots(figsize=(6.5, 5.8))
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=list(names), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(names))
    ax.set_xlabel(words.predicted_class)
    ax.set_ylabel(words.true_class)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if frac[i, j] > 0.5 else "black"
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=words.share)
    if title:
        ax.set_title(title)
    return fig
