"""Where a classifier goes wrong: the most-confused class pairs and the highest-loss images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softreg.core.metrics import Confusion
from softreg.core.numerics import cross_entropy, softmax


@dataclass(frozen=True)
class ConfusedPair:
    """Two classes ``a < b`` and how often each is taken for the other.

    ``a_as_b`` counts images of class ``a`` predicted as ``b``; ``a_rate`` is that count over
    the images of class ``a`` (NaN when there are none); likewise ``b_as_a`` and ``b_rate``.
    """

    a: int
    b: int
    a_as_b: int
    b_as_a: int
    a_rate: float
    b_rate: float

    @property
    def total(self) -> int:
        """Mistakes between the two classes, both directions."""
        return self.a_as_b + self.b_as_a


def confused_pairs(cm: npt.NDArray[np.int64] | Confusion, k: int = 5) -> list[ConfusedPair]:
    """The ``k`` class pairs with the most mistakes between them, both directions counted.

    Ties are broken by the class indices (lowest first); pairs with no mistake are left out.
    Worked from the distinct mistakes (:class:`~softreg.core.metrics.Confusion`), not from
    every pair of classes.

    Args:
        cm: confusion matrix ``cm[true, predicted]``, (C, C), or a run's Confusion.
        k: how many pairs at most.
    """
    conf = cm if isinstance(cm, Confusion) else Confusion.of_matrix(cm)
    t, p, count = conf.mistakes.T
    lo, hi = np.minimum(t, p), np.maximum(t, p)
    n = conf.classes
    pair, where = np.unique(lo * n + hi, return_inverse=True)
    forward = np.bincount(where, weights=np.where(t == lo, count, 0), minlength=len(pair))
    backward = np.bincount(where, weights=np.where(t == lo, 0, count), minlength=len(pair))
    a, b = pair // n, pair % n
    top = np.lexsort((b, a, -(forward + backward)))[:k]  # most mistakes, then lowest a, b
    support = conf.support
    return [ConfusedPair(int(a[i]), int(b[i]), int(forward[i]), int(backward[i]),
                         _rate(int(forward[i]), int(support[a[i]])),
                         _rate(int(backward[i]), int(support[b[i]]))) for i in top]


def _rate(count: int, total: int) -> float:
    return count / total if total else float("nan")


@dataclass(frozen=True)
class Scored:
    """Per-image results of a model on a labelled set, all (N,) arrays.

    Attributes:
        true: labels. pred: predicted classes (first maximum). p_pred: probability of the
        predicted class. p_true: probability of the true class. loss: cross-entropy,
        ``-log p_true``, computed from the logits.
    """

    true: npt.NDArray[np.int64]
    pred: npt.NDArray[np.int64]
    p_pred: npt.NDArray[np.float64]
    p_true: npt.NDArray[np.float64]
    loss: npt.NDArray[np.float64]


def score(logits: npt.ArrayLike, labels: npt.ArrayLike) -> Scored:
    """Predictions, probabilities and losses of ``logits`` (N, C) for ``labels`` (N,)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(softmax(z, axis=-1), dtype=np.float64)  # (N, C)
    pred = z.argmax(axis=1)  # (N,)
    rows = np.arange(len(y))
    loss = np.asarray(cross_entropy(z, y, reduction="none"), dtype=np.float64)
    return Scored(y, pred, probs[rows, pred], probs[rows, y], loss)


def highest_loss(scored: Scored, k: int = 12) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` images with the highest loss, highest first (ties: lowest index)."""
    order = np.lexsort((np.arange(len(scored.loss)), -scored.loss))
    return order[:k].astype(np.int64)


def examples(scored: Scored, true: int, predicted: int, k: int = 6) -> npt.NDArray[np.int64]:
    """Indices of up to ``k`` images of class ``true`` predicted as ``predicted``, the most
    confident mistakes (highest loss) first."""
    idx = np.flatnonzero((scored.true == true) & (scored.pred == predicted))
    order = np.lexsort((idx, -scored.loss[idx]))
    return idx[order][:k].astype(np.int64)
