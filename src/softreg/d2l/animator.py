"""Animator: curves that grow point by point; live in Jupyter, a PNG file elsewhere."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from softreg.plots._mpl import in_notebook, new_figure, save_figure, save_new_figure, show_inline
from softreg.plots.curves import curve_limits


class Animator:
    """Plot data incrementally with ``add(x, ys)``.

    In Jupyter the figure is shown once, at the first ``add``, and that same output is replaced
    by the redrawn figure after every later ``add`` (a display id, not ``clear_output``, so
    nothing else the cell printed is wiped and no second copy appears when the cell ends).
    Elsewhere, with ``autosave`` (the default), every ``add`` rewrites one PNG (atomically)
    whose path is printed once, so a chapter's own training loop run as a script leaves its
    curves behind; :meth:`save` writes the figure on demand. Without ``ylim`` the y-axis fits
    the data.

    As in d2l, ``fig`` and ``axes`` exist from construction on (a pyplot-free figure: nothing
    opens a window or is shown twice) and every drawing reuses them, so what a reader set
    up there before ``add`` stays; ``config_axes()`` applies the labels, limits, scales and
    legend to ``axes[0]``, and ``add`` calls whatever ``config_axes`` is set to.
    """

    def __init__(self, xlabel: str | None = None, ylabel: str | None = None,
                 legend: Sequence[str] | None = None, xlim: tuple[float, float] | None = None,
                 ylim: tuple[float, float] | None = None, xscale: str = "linear",
                 yscale: str = "linear", fmts: Sequence[str] = ("-", "m--", "g-.", "r:"),
                 nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (3.5, 2.5),
                 autosave: bool = True):
        self.xlabel, self.ylabel = xlabel, ylabel
        self.legend = list(legend) if legend else []
        self.xlim, self.ylim = xlim, ylim
        self.xscale, self.yscale = xscale, yscale
        self.fmts = list(fmts)
        self.shape, self.figsize = (nrows, ncols), figsize
        self.X: list[list[float]] = []
        self.Y: list[list[float]] = []
        self.live = in_notebook()
        self.autosave = autosave and not self.live
        self.path: Path | None = None  # the PNG that autosave keeps rewriting
        self.fig: Any = new_figure(figsize)
        axes = self.fig.subplots(nrows, ncols)
        self.axes: Any = axes if self.shape != (1, 1) else [axes]
        self._handle: Any = None  # the notebook output this Animator keeps replacing

    def add(self, x: Any, y: Any) -> None:
        """Append one point to each curve (y a number or one per curve) and redraw."""
        # as d2l's: anything with a length is one value a curve (a NumPy array or a tensor
        # too), anything else one value
        ys = list(y) if hasattr(y, "__len__") else [y]
        xs = list(x) if hasattr(x, "__len__") else [x] * len(ys)
        while len(self.X) < len(ys):
            self.X.append([])
            self.Y.append([])
        for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        if self.live:
            self._show()
        elif self.autosave:
            first = self.path is None
            self.path = self.save(self.path)
            if first:
                print(f"Animator: figure written to {self.path} (redrawn after every add)")

    def _show(self) -> None:
        # A pyplot-free figure rendered by show_inline: the inline backend does not show it a
        # second time when the cell ends, and the output is a PNG whatever the backend.
        self._draw()
        points = max((len(xs) for xs in self.X), default=0)
        curves = f"{len(self.Y)} curve{'s' if len(self.Y) != 1 else ''}"
        text = f"<Animator figure: {curves}, {points} points>"
        self._handle = show_inline(self.fig, text, self._handle)

    def _draw(self) -> None:
        ax = self.axes[0]
        ax.cla()
        for i, (xs, ys) in enumerate(zip(self.X, self.Y, strict=True)):
            ax.plot(xs, ys, self.fmts[i % len(self.fmts)])
        self.config_axes()

    def config_axes(self) -> None:
        """Apply the labels, limits, scales and legend to ``axes[0]`` (``add`` calls it)."""
        ax = self.axes[0]
        ax.set_xlabel(self.xlabel or "")
        ax.set_ylabel(self.ylabel or "")
        ax.set_xscale(self.xscale)
        ax.set_yscale(self.yscale)
        if self.xlim:
            ax.set_xlim(*self.xlim)
        if self.ylim:
            ax.set_ylim(*self.ylim)
        elif self.yscale == "linear":  # a log axis fits its (positive) data by itself
            ax.set_ylim(*curve_limits([v for ys in self.Y for v in ys if math.isfinite(v)]))
        if self.legend and self.Y:  # no curve yet: nothing to label
            ax.legend(self.legend[: len(self.Y)])
        ax.grid(True, alpha=0.3)

    def save(self, path: str | Path | None = None, stem: str = "animator") -> Path:
        """Draw and write the figure as PNG (a fresh ``softreg-figures/`` path by default)."""
        self._draw()
        if path is None:
            return save_new_figure(self.fig, stem)
        return save_figure(self.fig, Path(path))
