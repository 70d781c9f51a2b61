"""Classification metrics on NumPy arrays: confusion matrix, per-class accuracy, text tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def confusion_matrix(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, num_classes: int = 10
) -> npt.NDArray[np.int64]:
    """Counts ``cm[true, predicted]`` as a (num_classes, num_classes) int64 array."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    flat = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)  # (true, predicted)


def per_class_accuracy(cm: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Recall of each class: correct / examples of that class (NaN for an absent class)."""
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)


def format_confusion(cm: npt.NDArray[np.int64], names: Sequence[str]) -> str:
    """The confusion matrix as an aligned text table (rows: true class, columns: predicted)."""
    col = max(max(len(n) for n in names), len(str(int(cm.max())))) + 1
    row_head = max(len(n) for n in names) + 2
    lines = [" " * row_head + "".join(f"{n:>{col}}" for n in names)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:<{row_head}}" + "".join(f"{int(v):>{col}}" for v in row))
    return "\n".join(lines)


def format_per_class(acc: npt.NDArray[np.float64], names: Sequence[str]) -> str:
    """Per-class accuracy as ``name  0.9120`` lines."""
    return "\n".join(f"  {name:<12} {a:.4f}" for name, a in zip(names, acc, strict=True))
