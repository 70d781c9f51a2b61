"""Minibatch SGD on the same objective as the exact solver, one epoch at a time.

A batch's gradient is an unbiased estimate of the full objective's: each row of the batch is
weighed ``n / batch`` times its share of the weights, and the penalty is the full one, its
step taken implicitly (stable for any C). The
learning rate follows softreg's schedules (:meth:`softreg.core.config.TrainConfig.lr_at`).
With ``standardize=True``, ``partial_fit`` standardises by :class:`Moments`: the running
statistics of every row seen so far (``fit``'s, which records them, and each call's since).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator.objective import Problem, logits
from softreg.estimator.prepare import STATS_BLOCK, _one_thread, objective

F64 = npt.NDArray[np.float64]


def learning_rate(lr: float, schedule: str, epochs: int, epoch: int) -> float:
    """The rate of ``epoch`` (from 0) under softreg's ``schedule`` over ``epochs`` epochs: the
    rates of ``softreg train`` (:meth:`softreg.core.config.TrainConfig.lr_at`), without its
    configuration's limits, which are a run's (its files' 30,000 epochs, rates that float32
    holds) and not the estimator's: the estimator writes no files, and its step is float64's
    (its parameter constraints hold its own limits)."""
    epochs = max(epochs, 1)
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    if schedule == "step":
        frac = epoch / epochs
        return lr * (0.01 if frac >= 0.75 else 0.1 if frac >= 0.5 else 1.0)
    return lr


@dataclass(frozen=True)
class Moments:
    """Weighted column statistics of the rows seen so far, merged one part at a time (Chan,
    Golub and LeVeque's pairwise update of Welford's): what ``StandardScaler().partial_fit(X,
    sample_weight=...)`` keeps over a stream, for SGD's ``standardize=True``.

    A row counts its sample weight (a row of weight 0 is never read). Each part's mean and
    squared deviations are worked out in float64 in two passes, as
    :func:`softreg.estimator.prepare.scaling` works out a fit's, on each column divided by a
    power of two of its largest value (exact): the squared deviations of values near float64's
    limit are kept in those units, where their square would overflow.
    """

    weight: float = 0.0  # the rows' total weight
    rows: int = 0  # rows of positive weight (the constant-column test's count)
    mean: F64 | None = None  # (d,) the column means
    m2: F64 | None = None  # (d,) weighted sum of squared deviations from ``mean``, in unit**2
    unit: F64 | None = None  # (d,) each column's unit: a power of two

    def plus(self, X: Any, weights: F64) -> Moments:
        """These statistics and those of the rows of X (dense or CSR), each row weighing
        ``weights[i]``."""
        out = self
        for part in _parts(X, np.asarray(weights, dtype=np.float64)):
            out = out._merge(part)
        return out

    def _merge(self, other: Moments) -> Moments:
        if (self.mean is None or self.m2 is None or self.unit is None or not self.weight > 0
                or other.mean is None or other.m2 is None or other.unit is None):
            return other
        unit = np.maximum(self.unit, other.unit)
        total = self.weight + other.weight
        a, b = self.mean / unit, other.mean / unit  # at most 1 in size: no overflow
        share = other.weight / total
        with np.errstate(under="ignore"):  # a unit 2**512 times smaller: its part is nothing
            m2 = (self.m2 * np.square(self.unit / unit) + other.m2 * np.square(other.unit / unit)
                  + np.square(b - a) * (self.weight * share))
        return Moments(total, self.rows + other.rows, (a + (b - a) * share) * unit, m2, unit)

    def spread(self) -> tuple[F64, F64]:
        """Column means and standard deviations; 1 for a constant column, by
        scikit-learn's test (``StandardScaler``'s, as
        :func:`softreg.estimator.prepare.scaling` takes it: the variance within the rounding
        of the rows' count times the mean)."""
        if self.mean is None or self.m2 is None or self.unit is None or not self.weight > 0:
            raise ValueError("no rows of positive weight seen yet")
        var = np.maximum(self.m2 / self.weight, 0.0)  # in unit**2
        n, eps = float(self.rows), float(np.finfo(np.float64).eps)
        constant = var <= n * eps * var + (n * eps * (self.mean / self.unit)) ** 2
        return self.mean, np.where(constant, 1.0, np.sqrt(var) * self.unit)

    def scaled(self, prob: Problem) -> Problem:
        """``prob`` (made without a standardisation) standardised by these statistics."""
        mu, sd = self.spread()
        return replace(prob, mu=mu, sd=sd)


def _units(largest: F64) -> F64:
    """A power of two at least each column's largest absolute value (1 for a column of 0)."""
    return np.where(largest > 0, np.ldexp(1.0, np.frexp(largest)[1]), 1.0)


def _parts(X: Any, w: F64) -> Any:
    """The :class:`Moments` of blocks of X's rows of positive weight (BLAS on one thread for
    a large X, as :func:`softreg.estimator.prepare.scaling` keeps it: its idle workers would
    spin through the elementwise passes between the products)."""
    keep = np.flatnonzero(w > 0)
    if hasattr(X, "tocsr"):
        X = X.tocsr()
        if len(keep) < X.shape[0]:
            X = X[keep]
        elif not X.has_canonical_format:  # duplicate entries: each value is their sum
            X = X.copy()
        X.sum_duplicates()
        if len(keep):
            yield _sparse_part(X, w[keep])
        return
    n, d = X.shape
    step = max(1, STATS_BLOCK // max(d, 1))
    whole = len(keep) == n  # every row kept: slices, not copies of the rows
    with contextlib.nullcontext() if X.size < STATS_BLOCK else _one_thread():
        for a in range(0, len(keep), step):
            rows = keep[a:a + step]
            block = X[a:a + step] if whole else X[rows]
            yield _dense_part(block, w[rows])


# Squared deviations below this (relative to the rows' weight) have lost digits to float64's
# subnormal range (values below about 1e-146): such a column is worked out again in its unit.
SUBNORMAL_M2 = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)


def _dense_part(block: Any, wb: F64, unit: F64 | None = None) -> Moments:
    """The :class:`Moments` of a block of dense rows; where a column's sums overflow (values
    beyond about 1e154) or its squares lose digits to float64's subnormal range (values
    below about 1e-146), it is worked out again divided by a power of two of its largest
    value, an exact scaling (``unit``: those powers, given to that second pass)."""
    part = np.array(block, dtype=np.float64)  # a copy: worked in place
    if unit is not None:
        part /= unit
    total = float(wb.sum())
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # redone below
        mean = wb @ part / total
        dev = np.subtract(part, mean, out=part)
        lin = wb @ dev
        m2 = wb @ np.square(dev, out=dev) - lin * lin / total
    if unit is not None:
        return Moments(total, len(wb), mean * unit, m2, unit)
    unit = np.ones(len(mean))
    redo = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(m2))
                          | (np.abs(m2) <= total * SUBNORMAL_M2))
    if redo.size:
        far = block[:, redo]
        largest = np.maximum(np.max(far, axis=0), -np.min(far, axis=0)).astype(np.float64)
        nonzero = largest > 0  # a column of zeros is what it is
        if nonzero.any():
            cols = redo[nonzero]
            again = _dense_part(far[:, nonzero], wb, _units(largest[nonzero]))
            assert again.mean is not None and again.m2 is not None and again.unit is not None
            mean[cols], m2[cols], unit[cols] = again.mean, again.m2, again.unit
    return Moments(total, len(wb), mean, m2, unit)


def _sparse_part(X: Any, w: F64) -> Moments:
    """:func:`_parts` of CSR X (canonical, every row of positive weight), from its stored
    values and each column's zeros, which weigh the rows without a value there."""
    n, d = X.shape
    total = float(w.sum())
    rw = np.repeat(w, np.diff(X.indptr))
    cols, vals = X.indices, X.data.astype(np.float64)
    largest = np.zeros(d)
    np.maximum.at(largest, cols, np.abs(vals))
    unit = _units(largest)
    vals = vals / unit[cols]
    mean = np.bincount(cols, weights=rw * vals, minlength=d) / total
    count = np.bincount(cols, minlength=d)
    zeros = np.where(count == n, 0.0,
                     np.maximum(total - np.bincount(cols, weights=rw, minlength=d), 0.0))
    dev = vals - mean[cols]
    lin = np.bincount(cols, weights=rw * dev, minlength=d) - zeros * mean
    sq = np.bincount(cols, weights=rw * dev * dev, minlength=d) + zeros * mean * mean
    return Moments(total, n, mean * unit, sq - lin * lin / total, unit)


class EarlyStop:
    """Held-out accuracy (weighed by the rows' sample weights, as ``SGDClassifier``'s) after
    each epoch; done after ``patience`` epochs without a gain."""

    def __init__(self, patience: int, tol: float) -> None:
        self.patience, self.tol = patience, tol
        self.best_score, self.waited = -np.inf, 0
        self.best: F64 | None = None

    def done(self, prob: Problem, theta: F64, X: Any, codes: npt.NDArray[np.intp],
             weights: F64) -> bool:
        """Record ``theta``'s held-out accuracy, each row by its weight (a row of weight 0
        counts as dropped); True when patience has run out."""
        W, b = prob.effective(theta)
        right = np.argmax(logits(X, W[0], b[0]), axis=1) == codes
        score = float(weights @ right / weights.sum())
        if score > self.best_score + self.tol or self.best is None:
            self.best_score, self.best, self.waited = max(score, self.best_score), theta, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


def epoch(prob: Problem, theta: F64, *, lr: float, batch_size: int,
          rng: np.random.Generator, framework: str, device: str) -> tuple[F64, float]:
    """One pass over the rows in a random order; returns theta and the mean batch objective."""
    n = prob.X.shape[0]
    order = rng.permutation(n)
    zero = np.zeros(1, np.intp)
    seen = 0.0
    dc, alpha = prob.n_features * prob.n_classes, float(prob.alpha[0])
    for start in range(0, n, batch_size):
        rows = np.sort(order[start:start + batch_size])
        part = replace(prob, X=prob.X[rows], codes=prob.codes[rows],
                       weights=prob.weights[:, rows] * (n / len(rows)))
        f, g = objective(part, framework, device)(theta, zero)
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            step = theta - lr * g
            # the penalty's share of the step taken implicitly, W / (1 + lr alpha): the same
            # to first order, and stable for any C (taken explicitly, lr * alpha above 2 made
            # the weights grow by |1 - lr alpha| a step: C=1e-4 on iris ran them to 1e254)
            step[:, :dc] += lr * alpha * theta[:, :dc]
            step[:, :dc] /= 1.0 + lr * alpha
            theta = step
        seen += float(f[0]) * len(rows)
        if not np.isfinite(theta).all():
            raise FloatingPointError(
                f"SGD diverged at lr={lr}: the weights are no longer finite; lower lr, "
                "or set standardize=True")
    return theta, seen / n
