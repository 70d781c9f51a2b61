"""``d2l.plot``, ``d2l.set_axes`` and ``d2l.plt`` for the book's chapters 3 and 4.

A figure drawn by :func:`plot` is shown inline in Jupyter and, anywhere else, written to a PNG
whose path is printed, the way ``train_ch3``'s curves are. Figures a program draws itself
through ``d2l.plt`` (pyplot) are shown by Jupyter's inline backend in a notebook; in a script
they are written to PNG files when the program ends (:func:`book_pyplot`).
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from typing import Any

import numpy as np

from softreg.plots._mpl import in_notebook, new_figure, save_new_figure, show_inline

_FMTS = ("-", "m--", "g-.", "r:")
_saver_registered = False


def to_numpy(x: Any) -> Any:
    """A NumPy view of a framework tensor (PyTorch, TensorFlow, MXNet) or anything array-like.

    Tensors that track gradients are detached first, as ``d2l.plot`` callers expect to pass
    ``x.detach()`` or not at all.
    """
    if hasattr(x, "asnumpy"):  # MXNet NDArray and mxnet.np.ndarray
        return x.asnumpy()
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and callable(x.numpy):  # tf.Tensor, tf.Variable
        return x.numpy()
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    return x


def _one_axis(x: Any) -> bool:
    """True for one sequence of numbers (a 1-D array or a flat list), not a list of them."""
    if hasattr(x, "ndim"):
        return int(x.ndim) == 1
    return isinstance(x, list) and (not x or not hasattr(x[0], "__len__"))


def set_axes(axes: Any, xlabel: str | None, ylabel: str | None, xlim: Any, ylim: Any,
             xscale: str, yscale: str, legend: Sequence[str] | None) -> None:
    """Label, scale and bound a matplotlib ``Axes``, and add a legend if one is given."""
    axes.set_xlabel(xlabel or "")
    axes.set_ylabel(ylabel or "")
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    if xlim is not None:
        axes.set_xlim(*xlim)
    if ylim is not None:
        axes.set_ylim(*ylim)
    if legend:
        axes.legend(list(legend))
    axes.grid(True)


def plot(X: Any, Y: Any = None, xlabel: str | None = None, ylabel: str | None = None,
         legend: Sequence[str] | None = None, xlim: Any = None, ylim: Any = None,
         xscale: str = "linear", yscale: str = "linear", fmts: Sequence[str] = _FMTS,
         figsize: tuple[float, float] = (3.5, 2.5), axes: Any = None) -> None:
    """Plot one or more curves, d2l style.

    ``X`` and ``Y`` are a sequence of numbers or a list of them (tensors of any framework
    too); with ``Y`` omitted, ``X`` holds the y-values, plotted against their index. One ``X``
    serves every curve of ``Y``. With ``axes`` the curves are drawn there and nothing else
    happens (the caller owns that figure); otherwise a new figure is shown inline in Jupyter,
    or written to a PNG whose path is printed. Returns nothing, so a notebook cell ending with
    the call shows only the figure.
    """
    X, Y = to_numpy(X), to_numpy(Y)
    if _one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif _one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    fig = None
    if axes is None:
        fig = new_figure(figsize)
        axes = fig.subplots()
    for i, (x, y) in enumerate(zip(X, Y, strict=True)):
        fmt = fmts[i % len(fmts)]
        if len(x):
            axes.plot(np.asarray(x), np.asarray(y), fmt)
        else:
            axes.plot(np.asarray(y), fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    if fig is not None:
        show_or_save(fig, "plot", f"<plot: {len(Y)} curve{'s' if len(Y) != 1 else ''}>")


def show_or_save(fig: Any, stem: str, text: str) -> None:
    """Show ``fig`` inline in Jupyter; elsewhere write it to a fresh PNG and print the path."""
    if in_notebook():
        show_inline(fig, text)
    else:
        path = save_new_figure(fig, stem)
        print(f"{stem}: figure written to {path}")


def book_pyplot() -> Any:
    """``matplotlib.pyplot`` for ``d2l.plt``; outside Jupyter its open figures are kept.

    A script that draws with ``d2l.plt`` (``plt.scatter``, ``plt.subplots``) has nothing to
    show them on: when the program ends, every figure still open is written to a PNG whose
    path is printed (see :func:`save_open_figures`).
    """
    global _saver_registered
    from softreg.plots._mpl import pyplot

    plt = pyplot()
    if not in_notebook() and not _saver_registered:
        atexit.register(save_open_figures)
        _saver_registered = True
    return plt


def save_open_figures() -> list[Any]:
    """Write each open pyplot figure to a fresh PNG (printing its path), close it; the paths."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    paths = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        if not fig.axes:
            plt.close(fig)
            continue
        path = save_new_figure(fig, "plt")
        print(f"d2l.plt: figure {num} written to {path}")
        paths.append(path)
    return paths
