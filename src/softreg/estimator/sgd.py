"""Minibatch SGD on the same objective as the exact solver, one epoch at a time.

A batch's gradient is an unbiased estimate of the full objective's: each row of the batch is
weighed ``n / batch`` times its share of the weights, and the penalty is the full one, its
step taken implicitly (stable for any C). The
learning rate follows softreg's schedules (:meth:`softreg.core.config.TrainConfig.lr_at`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.config import TrainConfig
from softreg.estimator.objective import Problem, logits
from softreg.estimator.prepare import objective

F64 = npt.NDArray[np.float64]


def learning_rate(lr: float, schedule: str, epochs: int, epoch: int) -> float:
    """The rate of ``epoch`` (from 0) under softreg's ``schedule`` over ``epochs`` epochs."""
    return TrainConfig(lr=lr, epochs=max(epochs, 1), lr_schedule=schedule).lr_at(epoch)


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
