"""One model explained on one test set: every number the explain tables and figures show."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from softreg.core.metrics import ClassReport, Confusion
from softreg.core.shape import ModelShape
from softreg.explain.calibration import T_RANGE, Calibration, Reliability, at_bound, calibrate
from softreg.explain.mistakes import ConfusedPair, Scored, confused_pairs, highest_loss, score

Labelled = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]  # X (N, D), y (N,)

TOP_PAIRS = 5  # confused pairs in the tables
HARDEST = 12  # highest-loss test images in the table and figure


@dataclass
class Explanation:
    """What :func:`analyse` finds.

    Attributes:
        names: class names.
        W: (C, D) raw-input weights (the templates); b: (C,) biases, both float32.
        images: (N, D) test examples' raw inputs (pixels in [0, 1] for images).
        confusion: the test set's counts (its matrix up to ``MATRIX_CLASSES`` classes).
        report: per-class precision, recall, F1 and the accuracy.
        scored: per-image predictions, probabilities and losses.
        pairs: the most-confused class pairs.
        hardest: indices of the highest-loss test images, highest first.
        calibration: NLL, ECE and (with a validation set) the temperature.
        before: test reliability bins; after: the same with the temperature (or None).
        notes: sentences about what could not be computed and why.
        shape: the model's shape (its image shape, None for a table), which the text about
            the templates follows; None when the caller did not give it.
    """

    names: list[str]
    W: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]
    images: npt.NDArray[np.float32]
    confusion: Confusion
    report: ClassReport
    scored: Scored
    pairs: list[ConfusedPair]
    hardest: npt.NDArray[np.int64]
    calibration: Calibration
    before: Reliability
    after: Reliability | None
    notes: list[str] = field(default_factory=list)
    shape: ModelShape | None = None


def linear_logits(W: npt.ArrayLike, b: npt.ArrayLike,
                  X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``X @ W.T + b`` in float64, (N, C), in chunks (no float64 copy of all of X)."""
    W64 = np.asarray(W, dtype=np.float64)  # (C, D)
    b64 = np.asarray(b, dtype=np.float64)  # (C,)
    out = np.empty((len(X), W64.shape[0]), dtype=np.float64)
    for start in range(0, len(X), 8192):
        chunk = np.asarray(X[start : start + 8192], dtype=np.float64)  # (n, D)
        out[start : start + len(chunk)] = chunk @ W64.T + b64  # (n, C)
    return out


def analyse(W: npt.ArrayLike, b: npt.ArrayLike, test: Labelled, val: Labelled | None,
            names: list[str], notes: list[str] | None = None,
            shape: ModelShape | None = None) -> Explanation:
    """Explain the linear model ``(W, b)`` on ``test``; fit a temperature on ``val`` if given.

    Args:
        W: (C, D) weights and b: (C,) biases for raw inputs (pixels in [0, 1]).
        test: the test examples' raw inputs (N, D) and labels.
        val: validation images and labels, or None (no temperature).
        names: the C class names.
        notes: sentences to carry along (e.g. why there is no validation set).
        shape: the model's shape, for the report's words about its templates (a table has
            none; images of its height, width and channels).
    """
    X, y = test
    logits = linear_logits(W, b, X)
    scored = score(logits, y)
    counts = Confusion.of(y, scored.pred, len(names))
    val_logits = None if val is None else (linear_logits(W, b, val[0]), val[1])
    cal, before, after = calibrate(logits, y, val_logits)
    notes = list(notes or [])
    bound = at_bound(cal.temperature)
    if bound is not None:  # (it was reported as the minimum of the validation NLL)
        notes.append(f"The temperature stopped at the bound {bound:g} of the range searched "
                     f"({T_RANGE[0]:g} to {T_RANGE[1]:g}): the validation NLL still falls "
                     "beyond it, so it is the best temperature in that range, not the NLL's "
                     "minimum.")
    return Explanation(list(names), np.asarray(W, dtype=np.float32),
                       np.asarray(b, dtype=np.float32), X, counts, counts.report(),
                       scored, confused_pairs(counts, TOP_PAIRS), highest_loss(scored, HARDEST),
                       cal, before, after, notes, shape)
