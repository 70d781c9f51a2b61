"""The coordinates L-BFGS works in: centred and scaled weights, the same objective exactly.

L-BFGS is not invariant to a linear change of variables: on pixels in [0, 1] with the intercept
coupled to every weight through the columns' means, and columns whose spreads differ by orders
of magnitude, its curvature model starts far from the problem's and needs hundreds of
evaluations to learn it. Two changes of variables remove most of that without changing the
objective (the penalty is still on the model's own weights, so the optimum is the same point):

* **centring**: the intercept is not penalised, so ``b = b' - m @ W`` is an exact
  reparametrisation; with ``m`` the columns' (weighted) means the intercept's direction is
  orthogonal to the weights' in the data term. X itself is never centred (a sparse X stays
  sparse): the shift acts on the parameters only.
* **scaling**: ``W = P W'`` with ``P = diag(1 / sqrt(kappa * var_j + alpha))``, an estimate of
  the inverse square root of the Hessian's diagonal (``kappa`` stands for the softmax's
  ``p (1 - p)``, the penalty adds ``alpha``): a diagonal preconditioner, seen by L-BFGS as a
  change of metric.

For model ``k`` of a pack, with ``theta = (W, b)`` the model's parameters (the objective's
coordinates) and ``phi = (W', b')`` the optimiser's::

    W = p_k[:, None] * W'          b = b' - m_k @ W
    dF/dW' = p_k * (dF/dW - m_k dF/db)     dF/db' = dF/db
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator.objective import Problem

F64 = npt.NDArray[np.float64]
# kappa: the softmax's curvature p (1 - p) per unit of a column's variance, typical of a fitted
# model (measured on Fashion-MNIST and digits: 0.1 needs the fewest evaluations of the values
# 0.01 to 1; benchmarks/bench_sklearn.py --only passes).
KAPPA = 0.1
ROWS = 8192  # rows per block of the moments' pass over a dense X (no (n, d) temporary)


@dataclass(frozen=True)
class Metric:
    """Per-model shift ``m`` (K, d) and scale ``p`` (K, d) of the optimiser's coordinates."""

    shift: F64
    scale: F64
    n_classes: int

    def _parts(self, v: F64, idx: npt.NDArray[np.intp]) -> tuple[F64, F64]:
        d, c = self.shift.shape[1], self.n_classes
        return v[:, : d * c].reshape(len(idx), d, c), v[:, d * c:]

    def to_model(self, phi: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The models' parameters (k, p) at the optimiser's ``phi`` (k, p)."""
        Wp, bp = self._parts(phi, idx)
        W = self.scale[idx][:, :, None] * Wp  # (k, d, c)
        b = bp - np.einsum("kd,kdc->kc", self.shift[idx], W)
        return np.concatenate([W.reshape(len(idx), -1), b], axis=1)

    def to_phi(self, theta: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The optimiser's coordinates of the models' parameters ``theta`` (k, p)."""
        W, b = self._parts(theta, idx)
        bp = b + np.einsum("kd,kdc->kc", self.shift[idx], W)
        Wp = W / self.scale[idx][:, :, None]
        return np.concatenate([Wp.reshape(len(idx), -1), bp], axis=1)

    def pull(self, grad: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The gradient in the model's coordinates (k, p) -> in the optimiser's."""
        gW, gb = self._parts(grad, idx)
        gWp = self.scale[idx][:, :, None] * (gW - self.shift[idx][:, :, None] * gb[:, None, :])
        return np.concatenate([gWp.reshape(len(idx), -1), gb], axis=1)

    def grad_max(self, gphi: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The largest entry (k,) of the model-coordinate gradient, from the optimiser's
        gradient ``gphi`` (k, p): scikit-learn's stopping test, on the model's own terms."""
        gWp, gb = self._parts(gphi, idx)
        gW = gWp / self.scale[idx][:, :, None] + self.shift[idx][:, :, None] * gb[:, None, :]
        return np.maximum(np.abs(gW).max(axis=(1, 2)), np.abs(gb).max(axis=1))

    def wrap(self, fun: Any) -> Any:
        """``fun`` (model coordinates) as a function of the optimiser's coordinates."""
        def wrapped(phi: F64, idx: npt.NDArray[np.intp]) -> tuple[F64, F64]:
            f, g = fun(self.to_model(phi, idx), idx)
            return f, self.pull(g, idx)

        return wrapped


def identity(K: int, d: int, n_classes: int) -> Metric:
    """The model's own coordinates (no centring, no scaling)."""
    return Metric(np.zeros((K, d)), np.ones((K, d)), n_classes)


def moments(prob: Problem) -> tuple[F64, F64]:
    """Each model's weighted column means and variances (K, d) of the objective's features
    ``(X - mu) / sd``, in one pass over X (blocks of rows for a dense X)."""
    X, w = prob.X, prob.weights  # w: (K, n), rows summing to 1
    if hasattr(X, "tocsr"):
        mean = np.asarray(X.T @ w.T).T  # (K, d)
        sq = np.asarray(X.multiply(X).T @ w.T).T
    else:
        K, d = w.shape[0], X.shape[1]
        mean, sq = np.zeros((K, d)), np.zeros((K, d))
        for s in range(0, X.shape[0], ROWS):
            block = np.asarray(X[s:s + ROWS], dtype=np.float64)  # (rows, d)
            mean += w[:, s:s + ROWS] @ block
            sq += w[:, s:s + ROWS] @ np.square(block)
    var = np.maximum(sq - mean * mean, 0.0)
    return (mean - prob.mu) / prob.sd, var / (prob.sd * prob.sd)


def preconditioned(prob: Problem, centre: bool = True, scale: bool = True,
                   kappa: float = KAPPA) -> Metric:
    """The centred and scaled coordinates of ``prob``'s models (see the module's docstring)."""
    K, d = prob.weights.shape[0], prob.n_features
    if not (centre or scale):
        return identity(K, d, prob.n_classes)
    mean, var = moments(prob)
    p = 1.0 / np.sqrt(kappa * var + prob.alpha[:, None]) if scale else np.ones((K, d))
    return Metric(mean if centre else np.zeros((K, d)), p, prob.n_classes)


def prior_start(prob: Problem) -> F64:
    """Zero weights and each model's log class frequencies (under its row weights) as the
    intercepts: the optimum of the intercepts alone, a start close to a centred model's."""
    K, c = prob.weights.shape[0], prob.n_classes
    freq = np.zeros((K, c))
    for k in range(c):  # (K,) weight of each class
        freq[:, k] = prob.weights[:, prob.codes == k].sum(axis=1)
    logp = np.log(np.maximum(freq, 1e-12))
    logp -= logp.mean(axis=1, keepdims=True)
    theta = np.zeros((K, prob.size))
    theta[:, prob.n_features * c:] = logp
    return theta
