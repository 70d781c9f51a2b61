"""Classification metrics on NumPy arrays: confusion matrix, per-class accuracy, precision,
recall and F1, text tables.

A run may have up to 37,449 classes (:data:`softreg.data.dataset.MAX_DATA_CLASSES`), whose
confusion matrix would take 11 GB. :class:`Confusion` keeps the counts in memory of the
examples' and classes' size instead, and makes the matrix only up to :data:`MATRIX_CLASSES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def confusion_matrix(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, num_classes: int = 10
) -> npt.NDArray[np.int64]:
    """Counts ``cm[true, predicted]`` as a (num_classes, num_classes) int64 array."""
    return _matrix(*class_indices(y_true, y_pred, num_classes), num_classes)


def _matrix(t: npt.NDArray[np.int64], p: npt.NDArray[np.int64],
            num_classes: int) -> npt.NDArray[np.int64]:
    flat = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)  # (true, predicted)


# The most classes whose (C, C) int64 confusion matrix is made: 8 MB. Beyond, a Confusion's
# counts come from the labels (bincounts and the distinct mistakes) and there is no matrix to
# print or draw.
MATRIX_CLASSES = 1024
# The most classes whose matrix is printed as a text table (report.md, softreg evaluate): 64
# columns already make rows of some 400 characters.
TEXT_CLASSES = 64


@dataclass(frozen=True)
class Confusion:
    """A classifier's counts on a labelled set, in O(N + C) memory whatever the classes.

    Attributes:
        support: (C,) examples of each class. predicted: (C,) predictions of each class.
        correct: (C,) examples of each class predicted as it.
        mistakes: (M, 3) int64 rows ``(true, predicted, count)``, the distinct mistakes.
        matrix: ``cm[true, predicted]`` (C, C) up to :data:`MATRIX_CLASSES` classes, else None.
    """

    support: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.int64]
    correct: npt.NDArray[np.int64]
    mistakes: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.int64] | None

    @classmethod
    def of(cls, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, num_classes: int) -> Confusion:
        """The counts of the predictions ``y_pred`` of labels ``y_true`` (class indices)."""
        t, p = class_indices(y_true, y_pred, num_classes)
        right = t == p
        wrong = np.unique(t[~right] * num_classes + p[~right], return_counts=True)
        mistakes = np.stack([wrong[0] // num_classes, wrong[0] % num_classes, wrong[1]],
                            axis=1).astype(np.int64)
        return cls(np.bincount(t, minlength=num_classes), np.bincount(p, minlength=num_classes),
                   np.bincount(t[right], minlength=num_classes), mistakes,
                   _matrix(t, p, num_classes) if num_classes <= MATRIX_CLASSES else None)

    @classmethod
    def of_matrix(cls, cm: npt.NDArray[np.int64]) -> Confusion:
        """The counts of a confusion matrix ``cm[true, predicted]``."""
        cm = np.asarray(cm, dtype=np.int64)
        off = cm.copy()
        np.fill_diagonal(off, 0)
        t, p = np.nonzero(off)
        return cls(cm.sum(axis=1), cm.sum(axis=0), np.diag(cm).copy(),
                   np.stack([t, p, off[t, p]], axis=1).astype(np.int64),
                   cm if len(cm) <= MATRIX_CLASSES else None)

    @property
    def classes(self) -> int:
        return len(self.support)

    @property
    def accuracy(self) -> float:
        """The share of examples predicted right (0 for none)."""
        return float(self.correct.sum()) / max(int(self.support.sum()), 1)

    def per_class_accuracy(self) -> npt.NDArray[np.float64]:
        """Recall of each class (NaN for a class with no example), as :func:`per_class_accuracy`."""
        return _recall(self.correct, self.support)

    def report(self) -> ClassReport:
        """Precision, recall and F1 of each class (:func:`class_report`)."""
        return _class_report(self.correct, self.predicted, self.support)

    def text(self, names: Sequence[str]) -> str:
        """The matrix as :func:`format_confusion` prints it, up to :data:`TEXT_CLASSES`
        classes; beyond, a sentence saying so."""
        if self.matrix is None or self.classes > TEXT_CLASSES:
            return (f"(not printed for {self.classes:,} classes, more than {TEXT_CLASSES}: "
                    "the per-class table above and `softreg explain`'s most-confused pairs "
                    "summarise it)")
        return format_confusion(self.matrix, names)


def class_indices(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                  num_classes: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The labels and predictions as int64 class indices, checked: of one shape, whole
    numbers, in 0..num_classes-1 (a label beyond them was counted in another cell).

    Raises:
        ValueError: any of these broken.
    """
    out = []
    for name, v in (("y_true", np.asarray(y_true)), ("y_pred", np.asarray(y_pred))):
        whole = (np.issubdtype(v.dtype, np.integer) or v.dtype == bool
                 or (np.issubdtype(v.dtype, np.floating) and bool(np.all(v == np.round(v)))))
        if v.size and not whole:
            raise ValueError(f"{name} must be whole class indices, got dtype {v.dtype}")
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} must be class indices 0..{num_classes - 1}, got "
                             f"{v.min()}..{v.max()}")
        out.append(v.astype(np.int64))
    t, p = out
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    return t, p


def per_class_accuracy(cm: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Recall of each class: correct / examples of that class (NaN for an absent class)."""
    return _recall(np.diag(cm), cm.sum(axis=1))


def _recall(correct: npt.NDArray[np.int64],
            support: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, correct / np.maximum(support, 1), np.nan)


def format_confusion(cm: npt.NDArray[np.int64], names: Sequence[str]) -> str:
    """The confusion matrix as an aligned text table (rows: true class, columns: predicted)."""
    col = max(max(len(n) for n in names), len(str(int(cm.max())))) + 1
    row_head = max(len(n) for n in names) + 2
    lines = [" " * row_head + "".join(f"{n:>{col}}" for n in names)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:<{row_head}}" + "".join(f"{int(v):>{col}}" for v in row))
    return "\n".join(lines)


def format_per_class(acc: npt.NDArray[np.float64], names: Sequence[str]) -> str:
    """Per-class accuracy as ``name  0.9120`` lines; a class with no example (NaN: data of
    some of the model's classes) as ``name  -  (no examples)``."""
    return "\n".join(f"  {name:<12} {a:.4f}" if not np.isnan(a)
                     else f"  {name:<12} {'-':>6}  (no examples)"
                     for name, a in zip(names, acc, strict=True))


@dataclass(frozen=True)
class ClassReport:
    """Precision, recall and F1 of each class, their averages, and the accuracy.

    scikit-learn's convention with ``zero_division=0``: a class never predicted has precision
    0, a class with no example recall 0, and F1 = 2TP / (2TP + FP + FN) is 0 whenever TP = 0
    (so also when precision and recall are both 0). Per-class arrays are (C,) float64; a class
    neither in the test set nor predicted has nothing to measure and is NaN in all three.
    Every average runs over the same classes, those in the test set or the predictions
    (scikit-learn's default labels): the macro average is their plain mean, the weighted one
    weights each by its ``support`` (number of true examples).
    """

    precision: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]
    support: npt.NDArray[np.int64]
    accuracy: float

    def macro(self) -> tuple[float, float, float]:
        """(precision, recall, F1), each the unweighted mean over the measured classes."""
        return _mean(self.precision), _mean(self.recall), _mean(self.f1)

    def weighted(self) -> tuple[float, float, float]:
        """(precision, recall, F1), each weighted by class support over the measured classes."""
        return (_mean(self.precision, self.support), _mean(self.recall, self.support),
                _mean(self.f1, self.support))


def class_report(cm: npt.NDArray[np.int64]) -> ClassReport:
    """Precision, recall and F1 per class from a confusion matrix ``cm[true, predicted]``."""
    # the diagonal (TP), column sums (TP + FP) and row sums (TP + FN)
    return _class_report(np.diag(cm), cm.sum(axis=0), cm.sum(axis=1))


def _class_report(correct: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64],
                  support: npt.NDArray[np.int64]) -> ClassReport:
    """:func:`class_report` from each class's TP, predictions (TP + FP) and examples (TP + FN)."""
    tp = correct.astype(np.float64)  # (C,)
    support = support.astype(np.int64)
    seen = (predicted + support) > 0  # 2TP + FP + FN > 0: the class was measured
    precision = tp / np.maximum(predicted, 1)  # 0 for a class never predicted
    recall = tp / np.maximum(support, 1)  # 0 for a class with no example
    # 2TP / (2TP + FP + FN), not 2PR / (P + R): 0 whenever TP = 0, even with P or R 0/0
    f1 = 2 * tp / np.maximum(predicted + support, 1)
    precision, recall, f1 = (np.where(seen, v, np.nan) for v in (precision, recall, f1))
    accuracy = float(tp.sum()) / max(int(support.sum()), 1)
    return ClassReport(precision, recall, f1, support, accuracy)


def format_class_report(rep: ClassReport, names: Sequence[str]) -> str:
    """The report as an aligned text table: one row per class, then the averages."""
    width = max(12, *(len(n) for n in names))
    head = f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'F1':>9} {'support':>8}"
    lines = [head]
    for i, name in enumerate(names):
        lines.append(f"  {name:<{width}} {rep.precision[i]:>9.4f} {rep.recall[i]:>9.4f} "
                     f"{rep.f1[i]:>9.4f} {int(rep.support[i]):>8d}")
    total = int(rep.support.sum())
    for label, (p, r, f) in (("macro avg", rep.macro()), ("weighted avg", rep.weighted())):
        lines.append(f"  {label:<{width}} {p:>9.4f} {r:>9.4f} {f:>9.4f} {total:>8d}")
    lines.append(f"  {'accuracy':<{width}} {'':>9} {'':>9} {rep.accuracy:>9.4f} {total:>8d}")
    return "\n".join(lines)


def _mean(values: npt.NDArray[np.float64],
          weights: npt.NDArray[np.int64] | None = None) -> float:
    """The (weighted) mean over the measured classes, those not NaN; NaN when none is, or
    when their weights sum to 0 (no test example at all)."""
    ok = ~np.isnan(values)  # the same classes for precision, recall and F1 (see class_report)
    if not ok.any():
        return float("nan")
    w = np.ones_like(values) if weights is None else weights.astype(np.float64)
    if w[ok].sum() == 0:
        return float("nan")
    return float(np.average(values[ok], weights=w[ok]))
