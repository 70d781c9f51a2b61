"""Confusion-matrix figure: :func:`plot_confusion` writes it with Pillow, :func:`confusion_figure`
is the same figure drawn by matplotlib (to show in a notebook)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.plots.labels import FigureText

CELL = 46  # pixels per cell of confusion.png, at most
# The matrix's side at most, in pixels: with more classes than fit at CELL the cells shrink, to
# one pixel at 1,840 classes (a run's Confusion makes a matrix up to 1,024), so that the figure's
# memory stays a few tens of MB (46 pixels a class took 24 GB at 1,000 classes).
MATRIX_PX = 1840
NAME_CELL = 14  # the smallest cell beside which its class's name is written (13-pixel text)
# confusion_figure (matplotlib, 6.5 x 5.8 inches): the most classes whose names label the axes
# and whose counts are written in the cells
FIGURE_NAMES, FIGURE_COUNTS = 40, 25


def plot_confusion(
    cm: npt.NDArray[np.int64], names: Sequence[str], path: str | os.PathLike[str], title: str = "",
    text: FigureText | None = None,
) -> Path:
    """Write a row-normalised confusion matrix (counts printed in the cells) to ``path``.

    Class ``names`` on both axes, a colour bar of the share of each true class; the other
    words and the font come from ``text``. Many classes get smaller cells (``MATRIX_PX``),
    without their counts once these no longer fit, and without the names once a cell is
    smaller than a line of text.

    Raises:
        ValueError: more than ``MATRIX_PX`` classes.
    """
    from softreg.plots import raster

    words = text or FigureText()
    k, n = 2, cm.shape[0]  # lines drawn twice as big, then reduced (raster.Canvas)
    if n > MATRIX_PX:
        raise ValueError(f"a confusion figure draws at most {MATRIX_PX:,} classes, got {n:,}")
    cell = min(CELL, MATRIX_PX // n) * k
    fnt = {size: raster.font(size, words.font_file) for size in (10, 13, 14, 16)}
    named = cell >= NAME_CELL * k
    # each cell's count where the largest fits its cell
    counted = raster.text_size(fnt[10], str(int(cm.max(initial=0))))[0] * k <= cell - 6 * k
    name_w = max(raster.text_size(fnt[13], name)[0] for name in names) * k if named else 0
    label_h = raster.text_size(fnt[14], "Ag")[1] * k
    left = 12 * k + label_h + 10 * k + name_w + 8 * k
    top = (raster.text_size(fnt[16], title)[1] * k + 14 * k) if title else 12 * k
    bottom = round(name_w * 0.72) + 14 * k + label_h + 14 * k  # 45-degree names, then the label
    bar_left = left + n * cell + 18 * k
    width = (bar_left + 30 * k + raster.text_size(fnt[13], "0.0")[0] * k + 10 * k + label_h
             + 12 * k)
    canvas = raster.Canvas(-(-width // k), -(-(top + n * cell + bottom) // k), k)
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)  # (n, n) share of each true class
    lut = raster.colormap("Blues")
    cells = lut[raster.to_levels(frac, 0.0, 1.0)]  # (n, n, 3)
    canvas.big.paste(_image(raster.enlarge(cells, cell)), (left, top))
    ramp = np.linspace(1.0, 0.0, n * cell)[:, None].repeat(22 * k, axis=1)  # (rows, 22k)
    canvas.big.paste(_image(lut[raster.to_levels(ramp, 0.0, 1.0)]), (bar_left, top))
    draw = canvas.draw
    x1, y1 = left + n * cell, top + n * cell
    for i in range(n):
        for j in range(n if counted else 0):
            color = raster.WHITE if frac[i, j] > 0.5 else raster.BLACK
            canvas.text((left + (j + 0.5) * cell, top + (i + 0.5) * cell), str(int(cm[i, j])),
                        fnt[10], "mm", color)
        if not named:
            continue
        mid = top + (i + 0.5) * cell
        draw.line([(left - 4 * k, mid), (left, mid)], fill=raster.BLACK, width=k)
        canvas.text((left - 7 * k, mid), names[i], fnt[13], "rm")
        centre = left + (i + 0.5) * cell
        draw.line([(centre, y1), (centre, y1 + 4 * k)], fill=raster.BLACK, width=k)
        canvas.text((centre + 4 * k, y1 + 6 * k), names[i], fnt[13], "ra", angle=45)
    draw.rectangle([left, top, x1, y1], outline=raster.BLACK, width=k)
    draw.rectangle([bar_left, top, bar_left + 22 * k, y1], outline=raster.BLACK, width=k)
    for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = y1 - v * (y1 - top)
        draw.line([(bar_left + 22 * k, y), (bar_left + 26 * k, y)], fill=raster.BLACK, width=k)
        canvas.text((bar_left + 29 * k, y), f"{v:.1f}", fnt[13], "lm")
    big_w, big_h = canvas.big.size
    canvas.text((big_w - 10 * k, (top + y1) / 2), words.share, fnt[14], "rm", angle=90)
    canvas.text(((left + x1) / 2, big_h - 10 * k), words.predicted_class, fnt[14], "md")
    canvas.text((12 * k, (top + y1) / 2), words.true_class, fnt[14], "lm", angle=90)
    if title:
        canvas.text(((left + x1) / 2, 6 * k), title, fnt[16], "ma")
    return raster.save_png(canvas.finish(), path)


def _image(rgb: npt.NDArray[np.uint8]) -> Any:
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(rgb))  # (H, W, 3): RGB


def confusion_figure(cm: npt.NDArray[np.int64], names: Sequence[str], title: str = "",
                     text: FigureText | None = None) -> Any:
    """The confusion-matrix figure: class ``names`` on both axes, other words from ``text``.

    Create and save it inside ``text.fonts()`` for the font to apply.
    """
    from softreg.plots._mpl import pyplot

    words = text or FigureText()
    plt = pyplot()
    rows = cm.sum(axis=1, keepdims=True)
    frac = cm / np.maximum(rows, 1)  # (n, n) share of each true class
    fig, ax = plt.subplots(figsize=(6.5, 5.8))
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    n = cm.shape[0]
    if n <= FIGURE_NAMES:  # more names than this overlap at this size: none then
        ticks = np.arange(n)
        ax.set_xticks(ticks, labels=list(names), rotation=45, ha="right")
        ax.set_yticks(ticks, labels=list(names))
    ax.set_xlabel(words.predicted_class)
    ax.set_ylabel(words.true_class)
    for i in range(n if n <= FIGURE_COUNTS else 0):  # counts only where they fit a cell
        for j in range(n):
            color = "white" if frac[i, j] > 0.5 else "black"
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=words.share)
    if title:
        ax.set_title(title)
    return fig
