"""Figures of ``softreg explain``: weight templates, mistakes, confused pairs, reliability."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
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
    """Each row of W as an ``image_shape`` image on a diverging map centred at 0, one scale
    for all (colour images: the weights averaged over the channels, see :func:`templates`).

    Red pixels raise the class's score when bright, blue ones lower it. The figure has one
    panel per class (at most ``ncols`` a row), each sized from the image's height and width,
    and a shared colour bar; the limit is :func:`symmetric_scale`'s.

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
    ncols = max(1, min(ncols, len(imgs)))  # three classes: three columns, not five
    nrows = math.ceil(len(imgs) / ncols)
    if path is not None:
        return _write_templates(imgs, names, limit, ncols, Path(path))
    plt = pyplot()
    # Each panel's longer side is PANEL_INCHES whatever the image size, the other in
    # proportion; the colour bar (and its label, two lines along it) needs a height of its own
    # when the panels are short.
    height, width = imgs.shape[1:3]
    pw, ph = (PANEL_INCHES * side / max(height, width) for side in (width, height))
    cell_w, cell_h = max(pw, 1.0) + 0.3, ph + 0.5  # 1 inch at least for the class name
    fig = plt.figure(figsize=(max(ncols * cell_w + 1.4, FIGURE_INCHES[0]),
                              max(nrows * cell_h + 0.7, FIGURE_INCHES[1])),
                     layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    shown = None
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < len(imgs):
            shown = ax.imshow(imgs[i], cmap="RdBu_r", vmin=-limit, vmax=limit,
                              interpolation="nearest")
            ax.set_title(names[i], fontsize=9)
    fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.05, extend="both",
                 label=TEMPLATE_BAR)
    fig.suptitle(TEMPLATE_TITLE)
    return _done(fig, path)


TEMPLATE_TITLE = "weight templates: what each class looks for"
TEMPLATE_BAR = f"weight per raw pixel\n(limit: {SCALE_PERCENTILE:g}th percentile of |W|)"
PANEL_INCHES = 1.6  # the longer side of a template in the Figure
# The Figure's least size: the title is about 4 inches wide, the colour bar's label (along
# the bar) about 2.4 inches long.
FIGURE_INCHES = (4.8, 3.2)
PANEL_SIDE = 140  # the longer side of a template in templates.png, in pixels (28 x 5)
Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class TemplateLayout:
    """Where templates.png puts each part, in the big canvas's pixels (``k`` times the final
    size, see :class:`softreg.plots.raster.Canvas`); boxes are (left, top, right, bottom).

    Attributes:
        k, zoom: the canvas's scale, and the big pixels one image pixel takes (a multiple of
            ``k``, so the reduced panels stay sharp).
        width, height: the canvas.
        panels, titles: the box of each class's image and of its name above it.
        bar: the colour ramp (its pointed ends above and below it); bar_label: the box of
            the rotated label on its right.
    """

    k: int
    zoom: int
    width: int
    height: int
    panels: list[Box]
    titles: list[Box]
    bar: Box
    bar_label: Box


def template_layout(image_hw: tuple[int, int], names: Sequence[str], ncols: int,
                    tick_labels: Sequence[str]) -> TemplateLayout:
    """The layout of templates.png for ``(height, width)`` images: panels sized from the image
    (the longer side about :data:`PANEL_SIDE` pixels, never under one pixel a pixel), cells as
    wide as the widest class name, and a colour bar at least as long as its label."""
    from softreg.plots import raster

    k, gap = 2, 24  # lines drawn twice as big, then reduced
    height, width = image_hw
    zoom = k * max(1, PANEL_SIDE // max(height, width))
    pw, ph = width * zoom, height * zoom
    fnt = {size: raster.font(size) for size in (13, 14, 17)}
    name_w = [raster.text_size(fnt[13], n)[0] * k for n in names]
    head = raster.text_size(fnt[13], "Ag")[1] * k + 8 * k
    top = raster.text_size(fnt[17], TEMPLATE_TITLE)[1] * k + 16 * k
    inner = max(pw, *name_w)  # a cell's width less the gap
    nrows = math.ceil(len(names) / ncols)
    cell_w, cell_h = inner + gap, head + ph + gap
    panels, titles = [], []
    for i, w in enumerate(name_w):
        x, y = gap + (i % ncols) * cell_w, top + (i // ncols) * cell_h
        left = x + (inner - pw) // (2 * k) * k  # on a whole final pixel: no blended edge
        panels.append((left, y + head, left + pw, y + head + ph))
        titles.append((x + (inner - w) // 2, y, x + (inner + w) // 2, y + head - 8 * k))
    label_w, label_len = (v * k for v in raster.text_size(fnt[14], TEMPLATE_BAR)[::-1])
    bar_left, bar_top = gap + ncols * cell_w + 8 * k, top + 16 * k
    bar_w = 20 * k
    bar_h = max(nrows * cell_h - gap - 2 * 16 * k, label_len + 8 * k)
    tick_w = max(raster.text_size(fnt[13], t)[0] for t in tick_labels) * k
    title_w = raster.text_size(fnt[17], TEMPLATE_TITLE)[0] * k
    label_left = bar_left + bar_w + 10 * k + tick_w + 12 * k
    canvas_w = max(label_left + label_w + 12 * k, title_w + 2 * gap)
    canvas_h = max(top + nrows * cell_h, bar_top + bar_h + 16 * k + gap)
    mid = bar_top + bar_h // 2
    label = (label_left, mid - label_len // 2, label_left + label_w, mid + label_len // 2)
    return TemplateLayout(k, zoom, canvas_w, canvas_h, panels, titles,
                          (bar_left, bar_top, bar_left + bar_w, bar_top + bar_h), label)


def _write_templates(imgs: npt.NDArray[np.float64], names: Sequence[str], limit: float,
                     ncols: int, path: Path) -> Path:
    """templates.png with Pillow: the panels, a shared colour bar (pointed ends: values beyond
    the limit) and the title, placed by :func:`template_layout`."""
    from PIL import Image

    from softreg.plots import raster

    ticks = raster.nice_ticks(-limit, limit, most=7)
    labels = [raster.tick_label(v, ticks) for v in ticks]
    lay = template_layout(imgs.shape[1:3], names, ncols, labels)
    k = lay.k
    fnt = {size: raster.font(size) for size in (13, 14, 17)}
    canvas = raster.Canvas(-(-lay.width // k), -(-lay.height // k), k)
    lut = raster.colormap("RdBu_r")
    draw = canvas.draw
    for img, name, panel, title in zip(imgs, names, lay.panels, lay.titles, strict=True):
        levels = raster.to_levels(img, -limit, limit)  # (H, W)
        canvas.big.paste(Image.fromarray(raster.enlarge(lut[levels], lay.zoom)), panel[:2])
        canvas.text(((title[0] + title[2]) / 2, title[1]), name, fnt[13], "ma")
    bar_left, bar_top, bar_right, bottom = lay.bar
    bar_w, bar_h = bar_right - bar_left, bottom - bar_top
    ramp = np.linspace(limit, -limit, bar_h)[:, None].repeat(bar_w, axis=1)  # (bar_h, bar_w)
    canvas.big.paste(Image.fromarray(lut[raster.to_levels(ramp, -limit, limit)]),
                     (bar_left, bar_top))
    draw.polygon([(bar_left, bar_top), (bar_left + bar_w / 2, bar_top - 16 * k),
                  (bar_right, bar_top)], fill=tuple(int(c) for c in lut[255]))
    draw.polygon([(bar_left, bottom), (bar_left + bar_w / 2, bottom + 16 * k),
                  (bar_right, bottom)], fill=tuple(int(c) for c in lut[0]))
    for v, text in zip(ticks, labels, strict=True):
        at = bottom - (v + limit) / (2 * limit) * bar_h
        draw.line([(bar_right, at), (bar_right + 4 * k, at)], fill=raster.BLACK, width=k)
        canvas.text((bar_right + 7 * k, at), text, fnt[13], "lm")
    label = lay.bar_label
    canvas.text((label[2], (label[1] + label[3]) / 2), TEMPLATE_BAR, fnt[14], "rm", angle=90)
    canvas.text((lay.width / 2, 8 * k), TEMPLATE_TITLE, fnt[17], "ma")
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
