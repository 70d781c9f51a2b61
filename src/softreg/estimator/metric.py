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


@dataclass(frozen=True)
class Metric:
    """Per-model shift ``m`` (K, d) of the optimiser's coordinates (zeros: the model's own)."""

    shift: F64
    n_classes: int

    def _parts(self, v: F64) -> tuple[F64, F64]:
        d, c = self.shift.shape[1], self.n_classes
        return v[:, : d * c].reshape(len(v), d, c), v[:, d * c:]

    def _offset(self, W: F64, idx: npt.NDArray[np.intp]) -> F64:
        """``m_k @ W_k`` (k, c): how far the intercepts of the two coordinates differ."""
        return np.einsum("kd,kdc->kc", self.shift[idx], W)  # type: ignore[no-any-return]

    def _moved(self, v: F64, idx: npt.NDArray[np.intp], sign: float) -> F64:
        """A copy of ``v`` (k, p) with ``sign * m_k @ W`` added to its intercepts."""
        W, b = self._parts(v)
        out = v.copy()
        out[:, W.shape[1] * self.n_classes:] = b + sign * self._offset(W, idx)
        return out

    def to_model(self, phi: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The models' parameters (k, p) at the optimiser's ``phi`` (k, p)."""
        return self._moved(phi, idx, -1.0)

    def to_phi(self, theta: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The optimiser's coordinates of the models' parameters ``theta`` (k, p)."""
        return self._moved(theta, idx, 1.0)

    def pull(self, grad: F64, idx: npt.NDArray[np.intp]) -> F64:
        """The gradient in the model's coordinates (k, p) -> in the optimiser's, in place."""
        gW, gb = self._parts(grad)  # views of grad
        sub_outer(gW, self.shift[idx], gb)  # gW -= shift (x) gb, each model
        return grad

    def wrap(self, fun: Objective) -> Objective:
        """``fun`` (model coordinates, returning the objective and gradient) as a function of
        the optimiser's coordinates returning the objective, the gradient and the gradient's
        largest entry in the model's coordinates: scikit-learn's stopping test, on the
        model's own terms (:data:`softreg.estimator.lbfgs.Objective`)."""
        def wrapped(phi: F64, idx: npt.NDArray[np.intp],
                    out: F64 | None = None) -> tuple[F64, F64, F64]:
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
    ``(X - mu) / sd``: one product ``weights @ X``, X never copied or densified."""
    X, w = prob.X, prob.weights  # w: (K, n), rows summing to 1
    if hasattr(X, "tocsr"):
        mean = np.asarray(X.T @ w.T).T  # (K, d)
    else:
        mean = np.asarray(w.astype(X.dtype) @ X, dtype=np.float64)  # (K, d), X's dtype
    return Metric((mean - prob.mu) / prob.sd, prob.n_classes)
