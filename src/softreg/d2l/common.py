"""Small d2l-style helpers with no framework inside."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np


def fashion_mnist_splits(data_dir: str | None = None) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Fashion-MNIST's ``((train images, labels), (test images, labels))`` through the one data
    seam, :func:`softreg.data.load` (``--data fashion-mnist``), as every softreg command reads it.

    Images are read-only uint8 (N, 28, 28), labels int64 (N,).

    Raises:
        DataError: the files are missing or not Fashion-MNIST's (see :func:`softreg.data.load`).
    """
    from softreg.data import load

    ds = load("fashion-mnist", data_dir=data_dir)
    return (ds.X_train, ds.y_train), (ds.X_test, ds.y_test)


class Accumulator:
    """Running sums of ``n`` quantities (e.g. loss sum, correct count, example count)."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args: Any) -> None:
        """Add one value to each running sum (as many values as sums)."""
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator.add expects {len(self.data)} values, one per running "
                             f"sum of Accumulator({len(self.data)}), got {len(args)}: {args!r}")
        # a tensor that tracks gradients (a loss summed for the book's evaluate_loss) is
        # read without its graph
        self.data = [a + float(b.detach() if hasattr(b, "detach") else b)
                     for a, b in zip(self.data, args, strict=True)]

    def reset(self) -> None:
        """Set every running sum back to 0."""
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]


class Timer:
    """Records the durations between ``start()`` and ``stop()`` calls."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        """Start (or restart) the stopwatch."""
        self.tik = time.perf_counter()

    def stop(self) -> float:
        """Stop the stopwatch, record the lap and return its seconds."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        """The mean lap in seconds (0 before the first lap)."""
        return sum(self.times) / len(self.times) if self.times else 0.0

    def sum(self) -> float:
        """The total of all laps in seconds."""
        return sum(self.times)

    def cumsum(self) -> list[float]:
        """The running totals of the laps, in seconds."""
        return np.cumsum(self.times).tolist()


def get_fashion_mnist_labels(labels: Iterable[Any]) -> list[str]:
    """Class names for numeric labels (any iterable of ints or 0-d tensors)."""
    from softreg.data import CLASS_NAMES

    return [CLASS_NAMES[int(i)] for i in labels]


def get_dataloader_workers() -> int:
    """softreg slices whole-split tensors: no worker processes are needed."""
    return 0


def use_svg_display() -> None:
    """Ask Jupyter for SVG figures; does nothing outside a notebook."""
    from softreg.plots._mpl import in_notebook

    if in_notebook():
        from matplotlib_inline import backend_inline

        backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set matplotlib's default figure size."""
    from softreg.plots._mpl import pyplot

    pyplot().rcParams["figure.figsize"] = figsize


def check_accuracy_shapes(y_hat_shape: Any, y_shape: Any) -> None:
    """Refuse shapes ``accuracy`` cannot compare without broadcasting into nonsense.

    Expected: ``y`` of shape (n,) (labels) and ``y_hat`` of shape (n, C) with C > 1 (a score per
    class) or (n,) (class indices). An (n, 1) ``y_hat`` against (n,) labels would broadcast to
    an n x n table and count up to n * n "correct" predictions. Unknown sizes (None, as in a
    traced graph) pass.

    Raises:
        ModelShapeError: the shapes do not fit, in one line saying what is expected.
    """
    from softreg.core.errors import ModelShapeError

    if y_hat_shape is None or y_shape is None:
        return
    y_hat_shape, y_shape = tuple(y_hat_shape), tuple(y_shape)
    n, n_y = (y_hat_shape[0] if y_hat_shape else None), (y_shape[0] if y_shape else None)
    fits = (len(y_shape) == 1 and len(y_hat_shape) in (1, 2)
            and (len(y_hat_shape) == 1 or y_hat_shape[1] is None or y_hat_shape[1] > 1)
            and (n is None or n_y is None or n == n_y))
    if not fits:
        def show(shape: tuple[Any, ...]) -> str:
            return "(" + ", ".join("?" if d is None else str(d) for d in shape) + \
                ("," if len(shape) == 1 else "") + ")"
        raise ModelShapeError(
            f"accuracy: y_hat has shape {show(y_hat_shape)} and y {show(y_shape)}; expected y "
            "of shape (n,) (labels) and y_hat of shape (n, C) with C > 1 (one score per "
            "class) or (n,) (class indices)")
