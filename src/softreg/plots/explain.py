"""Figures of ``softreg explain``: weight templates, mistakes, confused pairs, reliability."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError
from softreg.explain.calibration import Reliability
from softreg.explain.templates import SCALE_PERCENTILE, symmetric_scale, templates
from softreg.plots._mpl import pyplot, save_figure

PathLike = str | os.PathLike[str]
# One row of the confused-pairs figure: its label, images (k, 28, 28) and a title per image.
ExampleRow = tuple[str, npt.NDArray[Any], Sequence[str]]


def _done(fig: Any, path: PathLike | None) -> Any:
    """Save ``fig`` to ``path`` and return the Path, or return the figure when no path."""
    if path is None:
        return fig
    saved: Path = save_figure(fig, path)
    return saved


def plot_templates(W: npt.ArrayLike, names: Sequence[str], path: PathLike | None = None,
                   ncols: int = 5, image_shape: tuple[int, ...] = (28, 28)) -> Any:
    """Each row of W as a 28x28 image on a diverging map centred at 0, one scale for all.

    Red pixels raise the class's score when bright, blue ones lower it. The figure has one
    panel per class and a shared colour bar; the limit is :func:`symmetric_scale`'s.

    A written figure is composed with Pillow; matplotlib draws only the returned Figure.

    Returns:
        The written Path when ``path`` is given, else the Figure.

    Raises:
        ConfigError: W is not (len(names), H x W[ x 3]) for ``image_shape``.
    """
    imgs = templates(W, image_shape)  # (C, H, W)
    if len(imgs) != len(names):
        raise ConfigError(f"plot_templates needs one name per row of W: {len(imgs)} rows, "
                          f"{len(names)} names")
    limit = symmetric_scale(W)
    nrows = math.ceil(len(imgs) / ncols)
    if path is not None:
        return _write_templates(imgs, names, limit, ncols, Path(path))
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.9, nrows * 2.1), squeeze=False)
    shown = None
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < len(imgs):
            shown = ax.imshow(imgs[i], cmap="RdBu_r", vmin=-limit, vmax=limit,
                              interpolation="nearest")
            ax.set_title(names[i], fontsize=9)
    fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02, extend="both",
                 label=TEMPLATE_BAR)
    fig.suptitle(TEMPLATE_TITLE)
    return _done(fig, path)


TEMPLATE_TITLE = "weight templates: what each class looks for"
TEMPLATE_BAR = f"weight per raw pixel\n(limit: {SCALE_PERCENTILE:g}th percentile of |W|)"


def _write_templates(imgs: npt.NDArray[np.float64], names: Sequence[str], limit: float,
                     ncols: int, path: Path) -> Path:
    """templates.png with Pillow: the panels, a shared colour bar (pointed ends: values beyond
    the limit) and the title."""
    from PIL import Image

    from softreg.plots import raster

    k, zoom, gap = 2, 10, 24  # lines drawn twice as big (28 x 5 pixels a panel), then reduced
    side = 28 * zoom
    fnt = {size: raster.font(size) for size in (13, 14, 17)}
    head = raster.text_size(fnt[13], "Ag")[1] * k + 8 * k
    top = raster.text_size(fnt[17], TEMPLATE_TITLE)[1] * k + 16 * k
    nrows = math.ceil(len(imgs) / ncols)
    cell_w, cell_h = side + gap, head + side + gap
    bar_left = gap + ncols * cell_w + 8 * k
    bar_w, bar_h = 20 * k, nrows * cell_h - gap - 2 * 16 * k
    bar_top = top + 16 * k
    ticks = raster.nice_ticks(-limit, limit, most=7)
    labels = [raster.tick_label(v, ticks) for v in ticks]
    tick_w = max(raster.text_size(fnt[13], t)[0] for t in labels) * k
    label_w = raster.text_size(fnt[14], TEMPLATE_BAR)[1] * k
    width = bar_left + bar_w + 10 * k + tick_w + 12 * k + label_w + 12 * k
    canvas = raster.Canvas(-(-width // k), -(-(top + nrows * cell_h) // k), k)
    lut = raster.colormap("RdBu_r")
    draw = canvas.draw
    for i, (img, name) in enumerate(zip(imgs, names, strict=True)):
        x, y = gap + (i % ncols) * cell_w, top + (i // ncols) * cell_h
        levels = raster.to_levels(img, -limit, limit)  # (28, 28)
        canvas.big.paste(Image.fromarray(raster.enlarge(lut[levels], zoom)), (x, y + head))
        canvas.text((x + side / 2, y), name, fnt[13], "ma")
    ramp = np.linspace(limit, -limit, bar_h)[:, None].repeat(bar_w, axis=1)  # (bar_h, bar_w)
    canvas.big.paste(Image.fromarray(lut[raster.to_levels(ramp, -limit, limit)]),
                     (bar_left, bar_top))
    bottom = bar_top + bar_h
    draw.polygon([(bar_left, bar_top), (bar_left + bar_w / 2, bar_top - 16 * k),
                  (bar_left + bar_w, bar_top)], fill=tuple(int(c) for c in lut[255]))
    draw.polygon([(bar_left, bottom), (bar_left + bar_w / 2, bottom + 16 * k),
                  (bar_left + bar_w, bottom)], fill=tuple(int(c) for c in lut[0]))
    for v, text in zip(ticks, labels, strict=True):
        at = bottom - (v + limit) / (2 * limit) * bar_h
        draw.line([(bar_left + bar_w, at), (bar_left + bar_w + 4 * k, at)], fill=raster.BLACK,
                  width=k)
        canvas.text((bar_left + bar_w + 7 * k, at), text, fnt[13], "lm")
    canvas.text((width - 12 * k, bar_top + bar_h / 2), TEMPLATE_BAR, fnt[14], "rm", angle=90)
    canvas.text((width / 2, 8 * k), TEMPLATE_TITLE, fnt[17], "ma")
    return raster.save_png(canvas.finish(), path)


def plot_example_rows(rows: Sequence[ExampleRow], path: PathLike | None = None,
                      title: str = "", scale: float = 1.4) -> Any:
    """Rows of grayscale images, each row labelled on its left (e.g. one confusion direction).

    Rows with fewer images than the widest row leave blank panels; a row without images says
    "none".

    Raises:
        ConfigError: no rows, or a row whose titles do not match its images.
    """
    if not rows:
        raise ConfigError("plot_example_rows needs at least one row of images")
    for label, images, titles in rows:
        if len(images) != len(titles):
            raise ConfigError(f"row {label!r}: {len(images)} images but {len(titles)} titles")
    ncols = max(1, *(len(images) for _, images, _ in rows))
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * scale + 1.6,
                                                        len(rows) * scale * 1.25),
                             squeeze=False)
    for (label, images, titles), line in zip(rows, axes, strict=True):
        for j, ax in enumerate(line):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(images):
                ax.imshow(images[j], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_title(titles[j], fontsize=7)
        line[0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
        if len(images) == 0:
            line[0].text(0.5, 0.5, "none", ha="center", va="center",
                         transform=line[0].transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _done(fig, path)


def plot_reliability(curves: Sequence[tuple[str, Reliability]],
                     path: PathLike | None = None) -> Any:
    """Reliability diagrams, one panel per ``(label, bins)``: accuracy per confidence bin.

    Blue bars are the accuracy of each bin, red hatching the gap to the bin's mean
    confidence (above the bar: over-confident; inside it: under-confident); a calibrated
    model's bars follow the diagonal. The panel title gives the ECE.

    Raises:
        ConfigError: no curves.
    """
    if not curves:
        raise ConfigError("plot_reliability needs at least one set of reliability bins")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4.2), squeeze=False)
    for (label, rel), ax in zip(curves, axes[0], strict=True):
        width = 1.0 / len(rel.counts)
        left = rel.edges[:-1]
        filled = rel.counts > 0
        acc = np.where(filled, rel.accuracy, 0.0)
        conf = np.where(filled, rel.confidence, 0.0)
        ax.bar(left, acc, width=width, align="edge", color="tab:blue", edgecolor="black",
               linewidth=0.5, label="accuracy")
        ax.bar(left, conf - acc, bottom=acc, width=width, align="edge", fill=False,
               hatch="///", edgecolor="tab:red", linewidth=0.5, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1, label="calibrated")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("top probability (confidence)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{label}: ECE {rel.ece:.4f}", fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _done(fig, path)
