"""The coordinates L-BFGS works in: centred features, the same objective exactly.

L-BFGS is not invariant to a linear change of variables. On raw features the intercept is
coupled to every weight through the columns' means (pixels in [0, 1] have means near 0.3), and
the optimiser spends hundreds of evaluations learning that coupling. The intercept is not
penalised, so ``b = b' - m @ W`` is an exact reparametrisation: the objective, its optimum and
the penalty (still on the model's own ``W``) are unchanged, and with ``m`` the columns'
(weighted) means the intercept's direction is orthogonal to the weights' in the data term. X
itself is never centred (a sparse X stays sparse): the shift acts on the parameters only, at a
cost of ``O(d c)`` per evaluation, and finding ``m`` is one product ``weights @ X``.

Measured to scikit-learn's objective (Fashion-MNIST, C=1; ``benchmarks/bench_sklearn.py --only
passes``): centring alone cuts the evaluations by more than half (699 to 326 at 10 pairs). A
diagonal scaling of the weights by ``1 / sqrt(0.1 var_j + alpha)`` on top of it needed more
evaluations than centring alone on Fashion-MNIST and on digits; a full whitening (the
covariance's eigenbasis) 11% fewer on Fashion-MNIST but more on digits, for a ``d x d`` pass
over X and no use on wide sparse data. Neither is used (docs/sklearn.md has the figures).

For model ``k`` of a pack, with ``theta = (W, b)`` the model's parameters (the objective's
coordinates) and ``phi = (W, b')`` the optimiser's::

    b = b' - m_k @ W          dF/dW|phi = dF/dW - m_k (dF/db)^T          dF/db' = dF/db

Badly scaled features are scaled too (:func:`feature_scale`): a column whose spread is over
:data:`SPREAD` times the median column's (a price in dollars beside measurements near 1) gives
the objective a curvature that many times larger along its weights, and L-BFGS's line search
then shortens every step about that much: iris with one column times 3e5 stopped at max_iter
with accuracy 0.67 (scikit-learn's lbfgs: 0.97). The optimiser's weights of such a column are
the model's times ``s``, the square root of the curvature along them over a median column's,
``W' = W * s``, so that ``dF/dW' = dF/dW / s``; the objective and its optimum are the same
(the penalty stays on the model's own ``W``), and data whose columns are of like spread keeps
its coordinates as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator.objective import Problem
from softreg.estimator.rows import absmax, sub_outer

F64 = npt.NDArray[np.float64]
Objective = Any


# A column whose spread (standard deviation) is more than this many times the median column's
# gets its weights scaled in the optimiser's coordinates (feature_scale).
SPREAD = 100.0
# The rows feature_scale measures the spreads on, evenly spaced: an estimate is enough for a
# change of coordinates, and it costs no pass over a large X.
SCALE_ROWS = 1024
# The objective's curvature along a feature's weights is about this times the feature's variance
# (a softmax's p (1 - p), at most 1/4), plus the penalty's alpha.
CURV = 0.1


@dataclass(frozen=True)
class Metric:
    """Per-model shift ``m`` (K, d) of the optimiser's coordinates (zeros: the model's own),
    and the ``scale`` of each model's weights of each feature (:func:`feature_scale`; None:
    1, the model's own)."""

    shift: F64
    n_classes: int
    scale: F64 | None = None  # (K, d), or (d,) for every model

    def _parts(self, v: F64) -> tuple[F64, F64]:
        d, c = self.shift.shape[1], self.n_classes
        return v[:, : d * c].reshape(len(v), d, c), v[:, d * c:]

    def _offset(self, W: F64, idx: npt.NDArray[np.intp]) -> F64:
        """``m_k @ W_k`` (k, c): how far the intercepts of the two coordinates differ."""
        return np.einsum("kd,kdc->kc", self.shift[idx], W)  # type: ignore[no-any-return]

    def to_model(self, phi: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The models' parameters (k, p) at the optimiser's ``phi`` (k, p), a copy."""
        out = phi.copy()
        W, b = self._parts(out)
        if self.scale is not None:
            W /= self._scale(idx)
        b -= self._offset(W, idx)
        return out

    def to_phi(self, theta: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The optimiser's coordinates of the models' parameters ``theta`` (k, p), a copy."""
        out = theta.copy()
        W, b = self._parts(out)
        b += self._offset(W, idx)
        if self.scale is not None:
            W *= self._scale(idx)
        return out

    def pull(self, grad: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The gradient in the model's coordinates (k, p) -> in the optimiser's, in place."""
        gW, gb = self._parts(grad)  # views of grad
        sub_outer(gW, self.shift[idx], gb)  # gW -= shift (x) gb, each model
        if self.scale is not None:
            gW /= self._scale(idx)
        return grad

    def subset(self, models: npt.NDArray[np.intp]) -> Metric:
        """The coordinates of the models ``models`` alone, in that order."""
        scale = (self.scale if self.scale is None or self.scale.ndim == 1
                 else self.scale[models])
        return Metric(self.shift[models], self.n_classes, scale)

    def _scale(self, idx: npt.NDArray[np.intp]) -> F64:
        """The models' scales, (k, d, 1) or (1, d, 1) for one shared by every model."""
        assert self.scale is not None
        sc = self.scale if self.scale.ndim == 1 else self.scale[idx]
        return sc.reshape(-1, sc.shape[-1], 1)

    def wrap(self, fun: Objective) -> Objective:
        """``fun`` (model coordinates, returning the objective and gradient) as a function of
        the optimiser's coordinates returning the objective, the gradient and the gradient's
        largest entry in the model's coordinates: scikit-learn's stopping test, on the
        model's own terms (:data:`softreg.estimator.lbfgs.Objective`)."""
        def wrapped(phi: F64, idx: npt.NDArray[np.intp],
                    out: F64 | None = None) -> tuple[F64, F64, F64]:
            if self.scale is not None:  # the weights differ too: the model's are a copy
                theta = self.to_model(phi, idx)
                f, g = fun(theta, idx) if out is None else fun(theta, idx, out)
                gmax = absmax(g)
                return f, self.pull(g, idx), gmax
            # The model's parameters differ from phi in the intercepts only: phi becomes them
            # for this call (no copy of the weights, millions of values for a wide model) and
            # gets its own intercepts back, bit for bit, before it is returned.
            W, b = self._parts(phi)
            kept = b.copy()
            b -= self._offset(W, idx)  # b = b' - m @ W, as to_model's
            try:
                f, g = fun(phi, idx) if out is None else fun(phi, idx, out)
            finally:
                b[...] = kept
            gmax = absmax(g)  # before the gradient is pulled, in place
            return f, self.pull(g, idx), gmax

        return wrapped


def identity(prob: Problem) -> Metric:
    """The model's own coordinates (no centring)."""
    return Metric(np.zeros((prob.weights.shape[0], prob.n_features)), prob.n_classes)


def centred(prob: Problem) -> Metric:
    """Each model's weighted column means (K, d) of the objective's features
    ``(X - mu) / sd``: one product ``weights @ X``, X never copied or densified; and the
    features' :func:`feature_scale`."""
    X, w = prob.X, prob.weights  # w: (K, n), rows summing to 1
    if hasattr(X, "tocsr"):
        mean = np.asarray(X.T @ w.T).T  # (K, d)
    else:
        mean = np.asarray(w.astype(X.dtype) @ X, dtype=np.float64)  # (K, d), X's dtype
    return Metric((mean - prob.mu) / prob.sd, prob.n_classes, feature_scale(prob))


def feature_scale(prob: Problem) -> F64 | None:
    """The scales (K, d) of each model's weights, where some feature's spread is over
    :data:`SPREAD` times the median feature's; else None (no scaling).

    The spreads are the standard deviations of the objective's features ``(X - mu) / sd`` on
    :data:`SCALE_ROWS` evenly spaced rows. Model k's weights of feature j are scaled by
    ``sqrt((CURV var_j + alpha_k) / (CURV var_median + alpha_k))``: the square root of the
    objective's curvature along them over a median feature's, so that in the optimiser's
    coordinates every feature's is about alike. A feature of no spread keeps scale 1 (its
    weights only see the penalty). Measured on raw wine, raw breast cancer and single
    columns scaled by 1e4 to 1e6: fewer iterations than scaling by the spreads alone
    (breast cancer 94 against 152) or none (wine 36 against 225; iris with a column times 3e5
    60 against 1,000 that never got there). Where the unscaled fit met ``tol`` early, far from
    the optimum (most columns tiny, their gradients too), the scaled one takes longer to get
    there (docs/sklearn.md)."""
    X, n = prob.X, prob.X.shape[0]
    if n < 2 or X.shape[1] == 0:
        return None
    part = X[np.unique(np.linspace(0, n - 1, min(n, SCALE_ROWS)).astype(np.intp))]
    # values beyond 1e154 square to inf (X near float64's limit): a spread that is not finite
    # counts as none just below (scale 1), without NumPy's warnings
    with np.errstate(over="ignore", invalid="ignore"):
        if hasattr(part, "tocsr"):
            part = part.astype(np.float64)
            mean = np.asarray(part.mean(axis=0)).ravel()
            square = np.asarray(part.multiply(part).mean(axis=0)).ravel()
        else:
            part = np.asarray(part, dtype=np.float64)
            mean, square = part.mean(axis=0), np.square(part).mean(axis=0)
        spread = np.sqrt(np.maximum(square - mean * mean, 0.0)) / prob.sd
    present = spread[np.isfinite(spread) & (spread > 0)]
    if present.size == 0:
        return None
    spread = np.where(np.isfinite(spread), spread, 0.0)
    median = np.median(present)
    if not spread.max() > SPREAD * median:
        return None
    alpha = prob.alpha[:, None]  # (K, 1)
    scale = np.sqrt((CURV * spread**2 + alpha) / (CURV * median**2 + alpha))
    return np.where(spread > 0, scale, 1.0)
