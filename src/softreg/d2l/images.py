"""Image grids for the d2l facades: ``show_images`` and ``predict_ch3``'s figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softreg.plots._mpl import in_notebook, new_figure, save_new_figure, show_inline


def show_images(imgs: Any, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5, stem: str = "show_images") -> Any:
    """Show a grid of grayscale images; returns the axes (like d2l).

    In Jupyter the figure is displayed inline; elsewhere it is written to a PNG whose path is
    printed. ``imgs`` is anything ``np.asarray`` turns into (n, H, W), (n, 1, H, W) or
    (n, H, W, 1).
    """
    arr = np.asarray(imgs, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr.reshape(arr.shape[0], *[d for d in arr.shape[1:] if d != 1][:2])  # (n, H, W)
    fig = new_figure((num_cols * scale, num_rows * scale))
    axes = fig.subplots(num_rows, num_cols, squeeze=False)
    flat = axes.ravel()
    for i, ax in enumerate(flat):
        ax.axis("off")
        if i < len(arr):
            ax.imshow(arr[i], cmap="gray")
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=8)
    if in_notebook():
        show_inline(fig, f"<{stem}: {min(len(arr), flat.size)} images>")
    else:
        path: Path = save_new_figure(fig, stem)
        print(f"{stem}: figure written to {path}")
    return flat


def show_predictions(images: Any, true: Sequence[int], pred: Sequence[int]) -> None:
    """``predict_ch3``'s figure: one row of images titled with true and predicted class."""
    n = len(true)
    show_images(images, 1, n, titles=prediction_titles(true, pred), stem="predict_ch3")


def prediction_titles(true: Sequence[int], pred: Sequence[int]) -> list[str]:
    """Titles "true\\npredicted" with class names."""
    from softreg.d2l.common import get_fashion_mnist_labels

    return [f"{t}\npred: {p}" for t, p in zip(get_fashion_mnist_labels(true),
                                          get_fashion_mnist_labels(pred), strict=True)]
