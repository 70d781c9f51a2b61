"""From the user's X, y and weights to a :class:`Problem` and its objective on a backend."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.utils.class_weight import compute_class_weight

from softreg.core.optional import require
from softreg.estimator import lbfgs, metric
from softreg.estimator.objective import NumpyObjective, Problem, TorchObjective

FRAMEWORKS = ("numpy", "torch")


def row_weights(sample_weight: npt.NDArray[np.float64], class_weight: Any,
                classes: npt.NDArray[Any], y: Any,
                codes: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Sample weights times class weights (``"balanced"`` counts the sample weights, as sklearn)."""
    if class_weight is None:
        return sample_weight
    cw = compute_class_weight(class_weight, classes=classes, y=y, sample_weight=sample_weight)
    return sample_weight * cw[codes]


def penalty(Cs: npt.NDArray[np.float64], weight_sums: npt.NDArray[np.float64],
            n_classes: int) -> npt.NDArray[np.float64]:
    """alpha of each model: 1/(C * sum of weights), doubled for two classes.

    With two classes the optimum has W_0 = -W_1, so ||W||^2 = ||W_1 - W_0||^2 / 2; doubling
    alpha makes the fit equal to LogisticRegression's binary fit at the same C.
    """
    return (2.0 if n_classes == 2 else 1.0) / (Cs * weight_sums)


def scaling(X: Any, standardize: bool) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Column means and standard deviations (ones where a column is constant), or none."""
    d = X.shape[1]
    if not standardize:
        return np.zeros(d), np.ones(d)
    mu = np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
    sq = X.multiply(X) if hasattr(X, "multiply") else np.square(X, dtype=np.float64)
    var = np.asarray(sq.mean(axis=0, dtype=np.float64)).ravel() - mu * mu
    sd = np.sqrt(np.maximum(var, 0.0))
    return mu, np.where(sd > 1e-12 * np.maximum(np.abs(mu), 1.0), sd, 1.0)


def problem(X: Any, codes: npt.NDArray[np.intp], masks: npt.NDArray[np.float64],
            Cs: npt.NDArray[np.float64], n_classes: int, standardize: bool) -> Problem:
    """One pack: model k weighs row i by ``masks[k, i]`` and is penalised by ``Cs[k]``."""
    sums = masks.sum(axis=1)
    if np.any(sums <= 0):
        raise ValueError("the sample weights (times the class weights) sum to zero; give some "
                         "rows a positive weight")
    mu, sd = scaling(X, standardize)
    return Problem(X, codes, masks / sums[:, None], penalty(Cs, sums, n_classes), n_classes,
                   mu, sd)


def noise(prob: Problem) -> float:
    """Relative rounding error of an evaluated objective: a few dozen ulps of X's dtype."""
    return 32.0 * float(np.finfo(prob.X.dtype).eps)


def objective(prob: Problem, framework: str, device: str) -> Any:
    """The loss-and-gradient callable of ``prob`` on ``framework``."""
    if framework == "numpy":
        if device != "cpu":
            raise ValueError(f"framework='numpy' runs on device='cpu' only, got {device!r}; "
                             "use framework='torch' for a GPU")
        return NumpyObjective(prob)
    if hasattr(prob.X, "tocsr"):
        raise ValueError("framework='torch' takes dense X; fit sparse X with framework='numpy' "
                         "(scipy.sparse products)")
    return TorchObjective(prob, require("torch"), device)


FTOL = 64 * np.finfo(np.float64).eps  # a relative decrease below this ends a model's fit
# L-BFGS memory. Each pair costs every model four passes over its p values an iteration (the
# two-loop recursion reads s and y twice), against the evaluation's products:
# - a lone dense model keeps up to 30: on Fashion-MNIST (C=1, centred) 30 pairs reach
#   scikit-learn's objective in 236 evaluations where 10 need 326;
# - a wide model keeps fewer, within MEMORY_BUDGET values of pairs, and at least 5: on the
#   100,000 x 262,144 text-like set of bench_sklearn.py (p = 5.2M) 5 pairs took 59 iterations
#   as 10 did and reached scikit-learn's objective in 13.0 s against 19.0 s (3 pairs: 64
#   iterations, 15.9 s; 7: 62, 16.7 s);
# - a pack keeps 10, as a pack's evaluation costs each model less than a lone fit's (wider
#   products): SoftmaxRegressionCV on 10,000 Fashion-MNIST rows (50 models) took 12.1 s with
#   10 pairs, 14.7 s with 21 and 15.1 s with 30, for 4396, 4259 and 4126 evaluations of a model.
MEMORY = (5, 30)
PACK_MEMORY = 10
MEMORY_BUDGET = 1 << 24  # float64 values of the pairs (128 MiB)


def memory_pairs(n_models: int, size: int) -> int:
    """How many (s, y) pairs each model's L-BFGS keeps: 10 in a pack, else 5-30 by budget."""
    if n_models > 1:
        return PACK_MEMORY
    return int(np.clip(MEMORY_BUDGET // (2 * n_models * size), *MEMORY))


# From this many parameters a model, L-BFGS keeps float32 pairs when X is float32: on the
# 100,000 x 262,144 text-like set (5.2M parameters) they halve the pairs' 420 MB (fresh memory
# costs this VM several ms a MB on first touch) and the recursion's time (one thread: a dot
# product 1.1 ms against 2.5 ms, an axpy 1.5 against 2.8). Smaller models keep float64 pairs.
WIDE = 1 << 16


def pair_dtype(X: Any, size: int) -> type[np.floating[Any]]:
    """The dtype of L-BFGS's pairs for models of ``size`` parameters on X."""
    return np.float32 if X.dtype == np.float32 and size >= WIDE else np.float64


def one_blas_thread(sparse: bool) -> Any:
    """BLAS kept to one thread for a sparse fit, else left as it is.

    The sparse products run on threads of their own (:mod:`softreg.estimator.sparse`, not
    BLAS); BLAS is then called only for L-BFGS's long vector operations, which are bound by
    memory, not arithmetic. OpenBLAS's idle workers spin
    after each threaded call, and on a 2-core machine they slow the main thread's next vector
    operations about tenfold: the 20,000 x 65,536 sparse fit of ``benchmarks/bench_sklearn.py
    --quick`` took 21.4 s with the default threads and 7.2 s with one.
    """
    if not sparse:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def minimize(prob: Problem, theta0: npt.NDArray[np.float64], framework: str, device: str, *,
             tol: float, max_iter: int, verbose: int = 0, centre: bool = True,
             memory: int | None = None, start: float | None = None) -> lbfgs.Result:
    """Fit every model of ``prob`` from ``theta0`` (K, p) by L-BFGS, in centred coordinates
    (:mod:`softreg.estimator.metric`; ``centre=False``: the model's own) with ``memory`` pairs
    (default :func:`memory_pairs`); the two options are there for the benchmark's comparison.
    ``start``: the clock the trace counts from (:func:`softreg.estimator.lbfgs.minimize`).

    Returns:
        The result, its parameters in the model's coordinates.
    """
    fun = objective(prob, framework, device)
    coords = metric.centred(prob) if centre else metric.identity(prob)
    every = np.arange(len(theta0))
    with one_blas_thread(hasattr(prob.X, "tocsr")):
        res = lbfgs.minimize(coords.wrap(fun), coords.to_phi(theta0, every), tol=tol,
                             max_iter=max_iter, ftol=FTOL, noise=noise(prob), verbose=verbose,
                             start=start,
                             memory=memory or memory_pairs(*theta0.shape),
                             pairs=pair_dtype(prob.X, theta0.shape[1]), own=True)
    res.theta = coords.to_model(res.theta, every)
    return res
