"""A line plot's axes drawn with Pillow: frame, ticks, grid, labels, title, lines and a legend.

Enough of matplotlib's look for softreg's curves (same colours, line styles, markers and
"best" legend placement), at a few milliseconds a figure. Lines are drawn at :attr:`Axes.K`
times the final size and reduced, words at the final size (:class:`softreg.plots.raster.Canvas`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from PIL import Image

from softreg.plots import raster

# matplotlib's dash patterns, in line widths: "--", "-.", ":" (and "-" solid).
DASHES = {"-": (), "--": (3.7, 1.6), "-.": (6.4, 1.6, 1.0, 1.6), ":": (1.0, 1.65)}
LINE_W = 2.0  # pixels, final size
# matplotlib's order of the "best" legend locations; fewest data points under the box wins.
LEGEND_PLACES = ("upper right", "upper left", "lower left", "lower right", "center right",
                 "center left", "lower center", "upper center", "center")


class Axes:
    """One plot area of a figure ``size`` pixels big, with data limits ``xlim``/``ylim``."""

    K = 2  # drawn this many times bigger, then reduced

    def __init__(self, size: tuple[int, int], xlim: tuple[float, float],
                 ylim: tuple[float, float], *, font_file: str | None = None, title: str = "",
                 xlabel: str = "", integer_x: bool = False) -> None:
        k = self.K
        self.canvas = raster.Canvas(*size, k)
        self.draw = self.canvas.draw
        self.tick_font = raster.font(13, font_file)
        self.legend_font = raster.font(12, font_file)
        label_font, title_font = raster.font(14, font_file), raster.font(16, font_file)
        self.xlim, self.ylim = xlim, ylim
        xt = raster.nice_ticks(*xlim, integer=integer_x)
        yt = raster.nice_ticks(*ylim)
        ylabels = [raster.tick_label(v, yt) for v in yt]
        tick_h = self.canvas.size(self.tick_font, "0")[1]
        left = max(self.canvas.size(self.tick_font, t)[0] for t in ylabels) + 14 * k
        top = self.canvas.size(title_font, title)[1] + 14 * k if title else 12 * k
        bottom = tick_h + 12 * k + (self.canvas.size(label_font, xlabel)[1] + 8 * k
                                    if xlabel else 0)
        width, height = self.canvas.big.size
        self.box = (left, top, width - 16 * k, height - bottom)
        x0, y0, x1, y1 = self.box
        for v, text in zip(yt, ylabels, strict=True):
            y = self.y(v)
            self.draw.line([(x0, y), (x1, y)], fill=raster.GRID, width=k)
            self.draw.line([(x0 - 4 * k, y), (x0, y)], fill=raster.BLACK, width=k)
            self.canvas.text((x0 - 7 * k, y), text, self.tick_font, "rm")
        for v in xt:
            x = self.x(v)
            self.draw.line([(x, y0), (x, y1)], fill=raster.GRID, width=k)
            self.draw.line([(x, y1), (x, y1 + 4 * k)], fill=raster.BLACK, width=k)
            self.canvas.text((x, y1 + 6 * k), raster.tick_label(v, xt), self.tick_font, "ma")
        if xlabel:
            self.canvas.text(((x0 + x1) / 2, height - 6 * k), xlabel, label_font, "md")
        if title:
            self.canvas.text(((x0 + x1) / 2, 6 * k), title, title_font, "ma")
        self.points: list[tuple[float, float]] = []  # drawn data, for the legend's place
        self.entries: list[tuple[str, str, Any]] = []

    def x(self, v: float) -> float:
        """Canvas x of data ``v``."""
        x0, _, x1, _ = self.box
        return x0 + (v - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (x1 - x0)

    def y(self, v: float) -> float:
        """Canvas y of data ``v`` (up is larger)."""
        _, y0, _, y1 = self.box
        return y1 - (v - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (y1 - y0)

    def plot(self, xs: Sequence[float], ys: Sequence[float], style: str, color: Any,
             label: str) -> None:
        """A line with round markers; a non-finite value breaks it, as in matplotlib."""
        k, width = self.K, round(LINE_W * self.K)
        dashes = tuple(d * LINE_W * k for d in DASHES[style])
        run: list[tuple[float, float]] = []
        for xv, yv in [*zip(xs, ys, strict=True), (math.nan, math.nan)]:
            if math.isfinite(xv) and math.isfinite(yv):
                run.append((self.x(xv), self.y(yv)))
                continue
            if len(run) > 1:
                raster.polyline(self.draw, run, color, width, dashes)
            for px, py in run:
                r = 2.5 * k
                self.draw.ellipse([px - r, py - r, px + r, py + r], fill=color)
            self.points += _along(run)
            run = []
        self.entries.append((label, style, color))

    def legend(self) -> None:
        """The entries in a box where it covers the fewest drawn points."""
        k = self.K
        sample, pad = 28 * k, 6 * k
        row_h = self.canvas.size(self.legend_font, "Ag")[1] + 6 * k
        width = sample + 3 * pad + max(self.canvas.size(self.legend_font, e[0])[0]
                                       for e in self.entries)
        height = row_h * len(self.entries) + pad
        left, top = min((self._place(name, width, height) for name in LEGEND_PLACES),
                        key=lambda xy: self._covered(xy, width, height))
        self.draw.rounded_rectangle([left, top, left + width, top + height], radius=3 * k,
                                    fill=raster.WHITE, outline=(204, 204, 204), width=k)
        for i, (label, style, color) in enumerate(self.entries):
            y = top + pad + i * row_h + row_h / 2 - 2 * k
            raster.polyline(self.draw, [(left + pad, y), (left + pad + sample, y)], color,
                            round(LINE_W * k), tuple(d * LINE_W * k for d in DASHES[style]))
            mid, r = left + pad + sample / 2, 2.5 * k
            self.draw.ellipse([mid - r, y - r, mid + r, y + r], fill=color)
            self.canvas.text((left + 2 * pad + sample, y), label, self.legend_font, "lm")

    def centre_text(self, text: str) -> None:
        """``text`` in the middle of the plot area."""
        x0, y0, x1, y1 = self.box
        self.canvas.text(((x0 + x1) / 2, (y0 + y1) / 2), text, self.tick_font, "mm")

    def image(self) -> Image.Image:
        """The finished figure at its final size."""
        self.draw.rectangle(self.box, outline=raster.BLACK, width=self.K)
        return self.canvas.finish()

    def _place(self, name: str, width: float, height: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        m = 8 * self.K
        vertical, _, horizontal = name.partition(" ")
        if name == "center":
            vertical = horizontal = "center"
        left = {"left": x0 + m, "right": x1 - m - width,
                "center": (x0 + x1 - width) / 2}[horizontal]
        top = {"upper": y0 + m, "lower": y1 - m - height, "center": (y0 + y1 - height) / 2}[
            vertical]
        return left, top

    def _covered(self, xy: tuple[float, float], width: float, height: float) -> int:
        left, top = xy
        return sum(left <= px <= left + width and top <= py <= top + height
                   for px, py in self.points)


def _along(run: list[tuple[float, float]], per_segment: int = 12) -> list[tuple[float, float]]:
    """Points along a polyline (its vertices and evenly between them)."""
    out = list(run)
    for (xa, ya), (xb, yb) in itertools.pairwise(run):
        out += [(xa + (xb - xa) * t / per_segment, ya + (yb - ya) * t / per_segment)
                for t in range(1, per_segment)]
    return out
