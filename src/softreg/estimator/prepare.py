"""From the user's X, y and weights to a :class:`Problem` and its objective on a backend."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.utils.class_weight import compute_class_weight

from softreg.core.optional import require
from softreg.estimator import kernels, lbfgs, metric, rows
from softreg.estimator.objective import NumpyObjective, Problem, TorchObjective, true_class_sums
from softreg.estimator.pack import ClassMajorObjective

FRAMEWORKS = ("numpy", "torch")


def row_weights(sample_weight: npt.NDArray[np.float64], class_weight: Any,
                classes: npt.NDArray[Any], y: Any,
                codes: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Sample weights times class weights (``"balanced"`` counts the sample weights, as sklearn).

    Raises:
        ValueError: a class_weight key that is no class of y; under ``"balanced"``, a class of
            y whose rows all have sample_weight 0; a class weight that is negative, NaN or
            infinite; a product that overflows.
    """
    if class_weight is None:
        return sample_weight
    if isinstance(class_weight, dict):  # a missing class weighs 1; an unknown key is a mistake
        known = set(classes.tolist())
        unknown = [key for key in class_weight if key not in known]
        if unknown:
            raise ValueError(f"class_weight has keys that are not classes of y: {unknown}; its "
                             f"keys must be among the classes {classes.tolist()}")
    if isinstance(class_weight, str):  # "balanced": each class weighs total / (c * its total)
        totals = np.bincount(codes, weights=sample_weight, minlength=len(classes))
        empty = (np.bincount(codes, minlength=len(classes)) > 0) & (totals == 0)
        if empty.any():
            # LogisticRegression takes this class's weight as inf, its rows' as inf * 0 = NaN,
            # and returns uniform probabilities with only a ConvergenceWarning: refused here.
            label = classes[empty].tolist()[0]
            raise ValueError(
                f"class_weight='balanced' divides by each class's total sample_weight, and class "
                f"{label!r} has no weight (its rows all have sample_weight 0); drop those rows, "
                "give them a positive sample_weight, or pass class_weight as a dict")
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # refused just below
        cw = np.asarray(compute_class_weight(class_weight, classes=classes, y=y,
                                             sample_weight=sample_weight), dtype=np.float64)
        weighted = sample_weight * cw[codes]
    bad = ~np.isfinite(cw) | (cw < 0)
    if bad.any():
        label, value = classes[bad].tolist()[0], cw[bad][0]
        if isinstance(class_weight, str):
            raise ValueError(
                f"class_weight='balanced' gives class {label!r} the weight {value}: sample_weight "
                "is beyond float64's range; scale sample_weight by a common factor s and C by "
                "1/s (the same fit)")
        # LogisticRegression runs a negative class weight to diverging coefficients and a NaN
        # or infinite one to uniform probabilities, with a ConvergenceWarning each: refused
        # here, as a negative sample_weight is.
        raise ValueError(
            f"class_weight must be finite and non-negative, got {value} for class {label!r}; "
            "give each class a weight >= 0 (a class of weight 0 is ignored)")
    if not np.isfinite(weighted).all():
        raise ValueError("sample_weight times class_weight overflows float64; scale "
                         "sample_weight or class_weight by a common factor s and C by 1/s (the "
                         "same fit)")
    return weighted


def penalty(Cs: npt.NDArray[np.float64], weight_sums: npt.NDArray[np.float64],
            n_classes: int) -> npt.NDArray[np.float64]:
    """alpha of each model: 1/(C * sum of weights), doubled for two classes.

    With two classes the optimum has W_0 = -W_1, so ||W||^2 = ||W_1 - W_0||^2 / 2; doubling
    alpha makes the fit equal to LogisticRegression's binary fit at the same C.
    """
    return (2.0 if n_classes == 2 else 1.0) / (Cs * weight_sums)


# Values of X read at a time by :func:`scaling` (float64 copies of a block of rows: 8 MiB).
STATS_BLOCK = 1 << 20


def scaling(X: Any, standardize: bool, weights: npt.NDArray[np.float64] | None = None
            ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Column means and standard deviations (ones where a column is constant), or none.

    Row i counts ``weights[i]`` times (None: once), as in ``StandardScaler().fit(X,
    sample_weight=weights)``: a row of weight 0 is left out (its values are never read into
    the sums), an integer weight counts as that many copies of the row, and the variance is the
    weighted mean of the squared deviations. Both are worked out in float64 from blocks of
    rows, in two passes: the mean, then the deviations from it, with the first pass's rounding
    corrected by their weighted sum (the corrected two-pass algorithm). E[x^2] - mean^2 loses
    every digit of a column far from zero (an offset of 1e8 in float64); this keeps them.
    Sparse X is not centred: the deviations of its stored values are summed as they are, and
    each column's zeros add their weight times mean^2 (a share of the variance, not a
    difference: nothing cancels; the weight is exactly 0 where every row has a value).

    A column is constant by StandardScaler's test, relative to the column's own magnitude:
    its variance is within the two-pass algorithm's rounding, ``var <= n eps var + (n eps
    mean)^2`` (``n`` the rows of positive weight: StandardScaler counts their weights' sum,
    which would make the test depend on the weights' unit). A column of values near 1e-20 is
    no more constant than one near 1 (an absolute floor of 1e-12 left such a column unscaled,
    its weights at 0), and one of spread 3.3 around 1e13 is scaled, not left as it is.

    A column whose variance (or whose weighted sum) overflows float64, values beyond about
    1e154, is worked out again divided by a power of two (exactly): its deviation is then
    the column's true one, as float64 holds it, where StandardScaler's is NaN.
    """
    d = X.shape[1]
    if not standardize:
        return np.zeros(d), np.ones(d)
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    # BLAS on one thread, from a block's size (below it the limit's 1 ms is the larger cost):
    # its idle workers would spin through the elementwise passes that follow each product
    # (Fashion-MNIST's 60,000 x 784: 1.04 s with two threads, 0.16 s with one)
    with (contextlib.nullcontext() if X.shape[0] * d < STATS_BLOCK else _one_thread(),
          np.errstate(over="ignore", invalid="ignore")):  # an overflow is worked out again
        mu, var = _moments(X, w, total)
        out = ~(np.isfinite(mu) & np.isfinite(var))
        unit = np.ones(d)
        if out.any():  # values near float64's limit: those columns divided by a power of two
            part = (X.tocsr() if hasattr(X, "tocsr") else X)[:, np.flatnonzero(out)]
            largest = abs(part).max(axis=0)
            largest = np.asarray(largest.toarray() if hasattr(largest, "toarray") else largest,
                                 dtype=np.float64).ravel()
            unit[out] = np.ldexp(1.0, np.frexp(largest)[1])  # |x| / unit <= 1
            if hasattr(part, "tocsr"):
                part = part.tocsr().astype(np.float64)
                part.data /= unit[out][part.indices]
            else:
                part = np.asarray(part, dtype=np.float64) / unit[out]
            mu[out], var[out] = _moments(part, w, total)
    n = float(np.count_nonzero(w > 0))
    eps = float(np.finfo(np.float64).eps)
    constant = var <= n * eps * var + (n * eps * mu) ** 2  # in the units of var and mu
    return mu * unit, np.where(constant, 1.0, np.sqrt(var) * unit)


def _moments(X: Any, w: npt.NDArray[np.float64], total: float) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Weighted column means and variances of X (dense or sparse), in float64."""
    if hasattr(X, "tocsr"):
        mu, lin, sq = _sparse_moments(X.tocsr(), w, total)
    else:
        mu, lin, sq = _dense_moments(X, w, total)
    return mu, np.maximum((sq - lin * lin / total) / total, 0.0)


def _dense_moments(X: Any, w: npt.NDArray[np.float64], total: float) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Weighted column means, sums of deviations and of squared deviations of dense X."""
    n, d = X.shape
    step = max(1, STATS_BLOCK // max(d, 1))

    def blocks() -> Any:  # (weights, float64 rows) of each block's rows of positive weight
        for a in range(0, n, step):
            wb, keep = w[a:a + step], np.flatnonzero(w[a:a + step] > 0)
            part = X[a:a + step] if len(keep) == len(wb) else X[a + keep]
            yield wb[keep], np.asarray(part, dtype=np.float64)

    s = np.zeros(d)
    for wb, part in blocks():
        s += wb @ part
    mu = s / total
    lin, sq = np.zeros(d), np.zeros(d)
    for wb, part in blocks():
        dev = part - mu
        lin += wb @ dev
        sq += wb @ np.square(dev, out=dev)
    return mu, lin, sq


def _sparse_moments(X: Any, w: npt.NDArray[np.float64], total: float) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """:func:`_dense_moments` of CSR X, from its stored values and each column's zeros."""
    if not X.has_canonical_format:  # duplicate entries: each value is their sum
        X = X.copy()
        X.sum_duplicates()
    n, d = X.shape
    step = max(1, STATS_BLOCK * n // max(X.nnz, 1))
    unit = bool(np.all(w == 1.0))

    def blocks() -> Any:  # (columns, row weights or None for ones, float64 values)
        for a in range(0, n, step):
            lo, hi = X.indptr[a], X.indptr[min(a + step, n)]
            cols, vals = X.indices[lo:hi], X.data[lo:hi].astype(np.float64)
            if unit:
                yield cols, None, vals
                continue
            rw = np.repeat(w[a:a + step], np.diff(X.indptr[a:a + step + 1]))
            keep = rw > 0
            yield (cols, rw, vals) if keep.all() else (cols[keep], rw[keep], vals[keep])

    s, stored, count = np.zeros(d), np.zeros(d), np.zeros(d, np.int64)
    for cols, rw, vals in blocks():
        s += np.bincount(cols, weights=vals if rw is None else rw * vals, minlength=d)
        count += np.bincount(cols, minlength=d)
        if rw is not None:
            stored += np.bincount(cols, weights=rw, minlength=d)
    mu = s / total
    if unit:
        stored = count.astype(np.float64)
    # the weight of each column's zeros; none where every counted row has a value there (not
    # total - stored, whose rounding times mean^2 would swamp a column far from zero)
    zeros = np.where(count == np.count_nonzero(w > 0), 0.0, np.maximum(total - stored, 0.0))
    lin, sq = -zeros * mu, zeros * mu * mu
    for cols, rw, vals in blocks():
        dev = vals - mu[cols]
        lin += np.bincount(cols, weights=dev if rw is None else rw * dev, minlength=d)
        dev *= dev
        sq += np.bincount(cols, weights=dev if rw is None else rw * dev, minlength=d)
    return mu, lin, sq


def problem(X: Any, codes: npt.NDArray[np.intp], masks: npt.NDArray[np.float64],
            Cs: npt.NDArray[np.float64], n_classes: int, standardize: bool,
            scale_weights: npt.NDArray[np.float64] | None = None) -> Problem:
    """One pack: model k weighs row i by ``masks[k, i]`` and is penalised by ``Cs[k]``.

    With ``standardize``, the pack shares one standardisation (:func:`scaling`), each row
    weighted by ``scale_weights`` (None: once). The estimators give their plain sample weights,
    over every row: the statistics of ``StandardScaler().fit(X, sample_weight=...)`` in a
    pipeline, class weights and SGD's held-out rows aside; a CV pack and its refit so share
    one standardisation, and the refit's start keeps its meaning.

    Raises:
        ValueError: a model's weights sum to 0 or beyond float64's range, or its penalty
            1/(C * sum) overflows.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        sums = masks.sum(axis=1)
    if np.any(sums <= 0):
        raise ValueError("the sample weights (times the class weights) sum to zero; give some "
                         "rows a positive weight")
    out = ~np.isfinite(sums) | (sums < np.finfo(np.float64).tiny)
    if out.any():
        raise ValueError(f"the sample weights (times the class weights) sum to "
                         f"{sums[out][0]:.3g}, outside float64's normal range; scale "
                         "sample_weight by a common factor s and C by 1/s (the same fit)")
    with np.errstate(over="ignore", divide="ignore"):
        alpha = penalty(Cs, sums, n_classes)
    over = ~np.isfinite(alpha)
    if over.any():
        raise ValueError(f"C={Cs[over][0]:.3g} is too small for weights summing to "
                         f"{sums[over][0]:.3g}: the penalty 1/(C * sum) overflows float64; raise "
                         "C (or the sample weights)")
    mu, sd = scaling(X, standardize, scale_weights)
    X, mu, offset = shifted(X, mu, sd)
    return Problem(X, codes, masks / sums[:, None], alpha, n_classes, mu, sd, offset)


# A standardised column is fitted shifted (:func:`shifted`) where its mean is more than this
# many spreads from zero, and more than FOLD_FLOOR / eps of X's dtype spreads (float64: 256).
FOLD_ULPS = 16.0
FOLD_FLOOR = 2.0**-44


def shifted(X: Any, mu: npt.NDArray[np.float64], sd: npt.NDArray[np.float64]) -> tuple[
        Any, npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """X with its columns far from zero for their spread shifted, in a copy: ``(X - offset,
    mu - offset, offset)``; X itself, ``mu`` and None where no column is.

    The standardisation is folded into the weights (:meth:`Problem.folded`): a logit's term
    ``x w / sd`` less the intercept's ``mu w / sd``. Where ``|mu| / sd`` is large the two
    cancel, and the products' rounding, ``eps |x| |w| / sd``, is that many times what it is on
    the standardised feature itself: for 1e13 + 4x (iris, spread 3.3) about 1e-3 of every
    logit in float64, beyond what the line search could see past (the fit stopped far from the
    optimum, 0.1 off the StandardScaler pipeline's probabilities). A column whose mean is more
    than :data:`FOLD_ULPS` spreads from zero, and more than :data:`FOLD_FLOOR` over eps of X's
    dtype (float64: 256 spreads; float32: 16) is therefore shifted by its mean rounded to X's
    dtype: ``x - offset`` is exact (two numbers within a factor of two of each other), so the
    copy holds every digit X holds, and the fold's rounding is the standardised feature's own.
    Below that the fold keeps the data as they were, X uncopied: in float64 it costs the fit
    little (breast cancer 300 spreads from zero, tol=1e-10: probabilities 1.2e-6 from the
    pipeline's unshifted, 5e-7 shifted; 1e5 spreads: 1.7e-5 unshifted).

    float32 X is shifted in float32 (the copy is X's size, not a float64 one), and from 16
    spreads: the float32 products would lose 16 ulps of each feature there (1e-4 of it at a
    mean of 1,000 spreads). What float32 cannot give back is what it never held: a value is
    stored to 24 bits of its magnitude, so a column of spread 3.3 around 1e13 is the same
    float32 number on every row (constant, as StandardScaler finds it too), and one of spread
    1 around 1e6 holds its spread to 6e-2. Sparse X is not shifted (that would densify it):
    its fold loses ``eps |mu| / sd`` as before, which matters only for a column whose stored
    values are all far from zero (a dense column, kept sparse).
    """
    if hasattr(X, "tocsr") or X.dtype.kind != "f" or not np.any(mu):
        return X, mu, None
    eps = float(np.finfo(X.dtype).eps)
    with np.errstate(over="ignore"):  # a tiny spread: inf, far
        far = np.abs(mu) / sd > max(FOLD_ULPS, FOLD_FLOOR / eps)
    if not far.any():
        return X, mu, None
    offset = np.where(far, mu, 0.0).astype(X.dtype)  # each value exact in X's dtype
    X = np.subtract(X, offset, dtype=X.dtype)
    offset64 = offset.astype(np.float64)
    return X, mu - offset64, offset64


def noise(prob: Problem) -> float:
    """Relative rounding error of an evaluated objective: a few dozen ulps of X's dtype."""
    return 32.0 * float(np.finfo(prob.X.dtype).eps)


def class_major(prob: Problem) -> bool:
    """Whether a NumPy objective lays its logits out class-major
    (:class:`softreg.estimator.pack.ClassMajorObjective`): a pack of several models on dense
    float32 X, whose per-row shifts and scalings are most of its element-wise work. float64
    keeps :class:`NumpyObjective`, whose one shift for a block (``LOGIT_SPAN``) skips them
    (but for the CV's float64 check: :func:`class_major_check`)."""
    return (len(prob.weights) > 1 and not hasattr(prob.X, "tocsr")
            and prob.X.dtype == np.float32)


# The largest float64 copy of X (with its column of ones) that the CV's float64 check makes
# (:func:`class_major_check`): 64 MiB. Larger X is checked by NumpyObjective, which reads X as
# it is; there the products, not the element-wise work, are most of an evaluation.
FLOAT64_COPY = 64 << 20


def class_major_check(prob: Problem) -> bool:
    """Whether the float64 check of a pack's float32 first phase (:func:`_rough_first`) lays
    its logits out class-major in float64 (:class:`ClassMajorObjective`, with numba's compiled
    pass where :func:`softreg.estimator.kernels.pays`): X's float64 copy with a column of ones
    at most :data:`FLOAT64_COPY`, and an evaluation of at least ``kernels.LOGITS`` logits.
    Decided by the problem's shape alone, so that numba changes the check's arithmetic, not
    its formulation (digits' 50-model CV pack: 3.3 ms compiled, 5.1 ms in NumPy, against
    NumpyObjective's 5.8 ms). Fits themselves keep NumpyObjective in float64."""
    X = prob.X
    return (not hasattr(X, "tocsr") and X.dtype == np.float64
            and X.shape[0] * (X.shape[1] + 1) * 8 <= FLOAT64_COPY
            and X.shape[0] * len(prob.weights) * prob.n_classes >= kernels.LOGITS)


def objective(prob: Problem, framework: str, device: str, rough: bool = False,
              true: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
              ) -> Any:
    """The loss-and-gradient callable of ``prob`` on ``framework``; ``rough``: the float32
    class-major one of a pack's first phase (:func:`rough_pays`), given the problem's
    ``true_class_sums`` when they are made already."""
    if framework == "numpy" and device not in ("cpu", "auto"):
        raise ValueError(f"framework='numpy' runs on device='cpu' (or 'auto') only, got "
                         f"{device!r}; use framework='torch' for a GPU")
    if rough:
        return ClassMajorObjective(prob, np.float32, true)
    if framework == "numpy":
        if class_major(prob):
            return ClassMajorObjective(prob)
        return NumpyObjective(prob)
    if hasattr(prob.X, "tocsr"):
        raise ValueError("framework='torch' takes dense X; fit sparse X with framework='numpy' "
                         "(scipy.sparse products)")
    torch = require("torch")
    device = torch_device(torch, device)
    _check_torch_device(torch, device)
    return TorchObjective(prob, torch, device)


def torch_device(torch: Any, device: str) -> str:
    """``device`` itself, or for ``"auto"`` the GPU where torch finds one (``"cuda"``), else
    ``"cpu"``: what ``softreg train --device auto`` picks."""
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=16)  # an SGD fit makes an objective for each batch
def _check_torch_device(torch: Any, device: str) -> None:
    """Refuse a torch device the fit cannot run on: anything but the CPU and a CUDA GPU
    torch finds (torch itself fails later, deep in the first product, with an
    AssertionError, a RuntimeError or a NotImplementedError)."""
    try:
        where = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        where = None
    if where is not None and where.type == "cpu":
        return  # CUDA is not asked about (a broken CUDA set-up warns when it is)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if where is not None and where.type == "cuda" and (where.index or 0) < gpus:
        return
    if not gpus:
        usable = "device='cpu' or 'auto' (torch finds no CUDA GPU)"
    else:
        usable = "device='cpu', 'cuda', " + (
            "'cuda:0'" if gpus == 1 else f"'cuda:0' to 'cuda:{gpus - 1}'") + " or 'auto'"
    raise ValueError(f"framework='torch' cannot fit on device={device!r} here; use {usable}")


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


def pair_dtype(X: Any, size: int, n_models: int = 1) -> type[np.floating[Any]]:
    """The dtype of L-BFGS's pairs for ``n_models`` models of ``size`` parameters on X:
    float32 on float32 X for a wide model, and for a pack, whose pairs are read for every
    model at every iteration (SoftmaxRegressionCV on 2,000 Fashion-MNIST rows: 2.6 s with
    float32 pairs against 3.4 s)."""
    return (np.float32 if X.dtype == np.float32 and (size >= WIDE or n_models > 1)
            else np.float64)


# A dense fit keeps BLAS to one thread when its models have many parameters for its rows, so
# that its products are short and L-BFGS's vector operations long: from this many parameters a
# row, or from rows.LONG_ROWS parameters a model (L-BFGS's axpy then calls BLAS, one threaded
# call per model) with no more rows than parameters (more rows were not measured, and keep the
# threads). Fit times on the 2-core machine, idle, BLAS's two threads against one (medians of
# 4; rows x features x classes, 100 iterations at most; parameters a row in brackets):
# - kept to one: 30 x 50,000 x 3 (5,000) 2.51 s against 0.25 s, the same with torch's
#   products 3.05 s against 0.38 s; 150 x 20,000 x 10 (1,333) 22.8 against 1.6;
#   2,000 x 50,000 x 3 (75; 150,003 a model) 24.3 against 12.9; 8,000 x 7,000 x 10 (8.8;
#   70,010 a model) 37.9 against 12.4; 300 x 5,000 x 10 (167) 0.66 against 0.45;
#   SoftmaxRegressionCV (10 Cs, 5 folds) on 100 x 5,000 x 3 (150) 1.01 against 0.91, on
#   300 x 20,000 x 3 (200) 5.1 against 4.9;
# - left threaded: 500 x 5,000 x 10 (100) 0.42 against 0.52 with one thread;
#   1,000 x 5,000 x 10 (50) 0.72 against 1.03; 10,000 x 2,000 x 10 (2) 3.35 against 5.24;
#   Fashion-MNIST (60,000 x 784 float32, 0.13) 5.35 against 7.87; its first 10,000 rows 1.28
#   against 2.08; digits (1,797 x 64, 0.36) 0.014 against 0.016 to 0.022, and its
#   SoftmaxRegressionCV 0.194 against 0.193.
PARAMS_PER_ROW = 128


def few_rows(prob: Problem) -> bool:
    """Whether a dense fit's models have so many parameters for its rows that BLAS's threads
    cost it more than they give (:data:`PARAMS_PER_ROW`)."""
    n, p = prob.X.shape[0], prob.size
    return p >= PARAMS_PER_ROW * n or (p >= rows.LONG_ROWS and p >= n)


# The BLAS limit is the process's, not a thread's: fits running side by side in threads share
# one limit, set by the first that needs it and lifted when the last of them ends (one fit
# lifting it under another slowed that one tenfold, and the other's end then left the whole
# process on one thread).
_LIMIT_LOCK = threading.Lock()
_limit: list[Any] = []  # the threadpoolctl limit in force, while some fit holds it
_holders = 0


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    global _holders
    from threadpoolctl import threadpool_limits

    with _LIMIT_LOCK:
        if _holders == 0:
            _let_go()
            _limit.append(threadpool_limits(limits=1, user_api="blas"))
            _let_go()
        _holders += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _holders -= 1
            if _holders == 0:
                _let_go()
                limit = _limit.pop()
                if _blas_threads() == {1}:  # still softreg's: not lifted by another's limit
                    limit.restore_original_limits()  # ending meanwhile (it would be left on 1)
                _let_go()


def _blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"}


def _after_fork_in_child() -> None:
    """A process forked while a fit held the limit has no fit to lift it: lift it here."""
    global _holders
    if _holders:
        _holders = 0
        with contextlib.suppress(Exception):
            _let_go()
            _limit.pop().restore_original_limits()
            _let_go()
        _limit.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _let_go() -> None:
    """Let any thread set OpenBLAS's pool size next. threadpoolctl (3.8) lets only the first
    thread that set a process-wide pool set it again, until that thread lets go: a limit set
    in one thread and lifted in another was not lifted (the process stayed on one thread),
    and a fit in another thread after one in the main thread got no limit at all."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # pragma: no cover - an older threadpoolctl: any thread sets it
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def one_blas_thread(prob: Problem) -> Any:
    """BLAS kept to one thread for a sparse fit, or a dense one with few rows for its
    parameters (:func:`few_rows`); else left as it is.

    The sparse products run on threads of their own (:mod:`softreg.estimator.sparse`, not
    BLAS); BLAS is then called only for L-BFGS's long vector operations, which are bound by
    memory, not arithmetic. OpenBLAS's idle workers spin
    after each threaded call, and on a 2-core machine they slow the main thread's next vector
    operations about tenfold: the 20,000 x 65,536 sparse fit of ``benchmarks/bench_sklearn.py
    --quick`` took 21.4 s with the default threads and 7.2 s with one. A dense fit's products
    are BLAS's own; its threads pay for them unless the rows are few, when the products are
    short and the vector operations that follow each of them long (the 30 x 50,000 fit of
    three classes: 2.5 s with two threads, 0.25 s with one).
    """
    if not (hasattr(prob.X, "tocsr") or few_rows(prob)):
        return contextlib.nullcontext()
    return _one_thread()


# A pack's float32 first phase aims at tol only where float32 can show it: where tol is at
# least this many of float32's relative rounding times X's largest value over its scaling
# (a gradient entry is a sum of row terms of that size, rounded relative to them; the column
# of ones counts 1). Below it, the fits run in float64 from the start.
ROUGH_FLOOR = 16.0
# ... and only where every feature's largest absolute value lies within [this, 1 / this]:
# float32's normal numbers span 1.2e-38 to 3.4e38, and a product's terms must stay in them.
ROUGH_RANGE = 1e-30


def rough_pays(prob: Problem, framework: str, tol: float) -> bool:
    """Whether a pack's fits take a float32 first phase (:func:`minimize`'s ``rough``): a pack
    of several models on dense float64 X, with NumPy, whose ``tol`` float32's products can
    meet (:data:`ROUGH_FLOOR`), and whose features' values are
    within float32's normal range (:data:`ROUGH_RANGE`): none beyond it, and no feature all of
    whose values would be denormal numbers there (which slow float32's products many times)."""
    X = prob.X
    if not (framework == "numpy" and len(prob.weights) > 1 and not hasattr(X, "tocsr")
            and X.dtype == np.float64 and X.size > 0):
        return False
    # each feature's largest absolute value (two reductions: no |X| temporary)
    largest = np.maximum(X.max(axis=0), -X.min(axis=0))
    present = largest[largest > 0]
    if not (np.all(np.isfinite(largest)) and np.all(largest <= 1 / ROUGH_RANGE)
            and np.all(present >= ROUGH_RANGE)):
        return False
    scale = max(1.0, float(np.max(largest / prob.sd)))  # as fitted, the ones' column 1
    return bool(np.isfinite(scale)
                and tol >= ROUGH_FLOOR * float(np.finfo(np.float32).eps) * scale)


def minimize(prob: Problem, theta0: npt.NDArray[np.float64], framework: str, device: str, *,
             tol: float, max_iter: int, verbose: int = 0, centre: bool = True,
             memory: int | None = None, start: float | None = None,
             rough: bool = False) -> lbfgs.Result:
    """Fit every model of ``prob`` from ``theta0`` (K, p) by L-BFGS, in centred coordinates
    (:mod:`softreg.estimator.metric`; ``centre=False``: the model's own) with ``memory`` pairs
    (default :func:`memory_pairs`); the two options are there for the benchmark's comparison.
    ``start``: the clock the trace counts from (:func:`softreg.estimator.lbfgs.minimize`).

    ``rough``: where :func:`rough_pays`, the fits run first with float32 products
    (:class:`softreg.estimator.pack.ClassMajorObjective`), then every model's gradient is
    evaluated in X's own float64, and the models whose gradient there is above ``tol`` go on
    in float64 from where they are, within their iterations left (:func:`_rough_first`).

    Returns:
        The result, its parameters in the model's coordinates.
    """
    coords = metric.centred(prob) if centre else metric.identity(prob)
    every = np.arange(len(theta0))
    phi = coords.to_phi(theta0, every)
    memory = memory or memory_pairs(*theta0.shape)
    with one_blas_thread(prob):
        if rough and rough_pays(prob, framework, tol):
            res = _rough_first(prob, phi, coords, framework, device, tol=tol, max_iter=max_iter,
                               verbose=verbose, start=start, memory=memory)
        else:
            res = lbfgs.minimize(coords.wrap(objective(prob, framework, device)), phi, tol=tol,
                                 max_iter=max_iter, ftol=FTOL, noise=noise(prob),
                                 verbose=verbose, start=start, memory=memory,
                                 pairs=pair_dtype(prob.X, *theta0.shape[::-1]), own=True)
    res.theta = coords.to_model(res.theta, every)
    return res


def _rough_first(prob: Problem, phi: npt.NDArray[np.float64], coords: metric.Metric,
                 framework: str, device: str, *, tol: float, max_iter: int, verbose: int,
                 start: float | None, memory: int) -> lbfgs.Result:
    """:func:`minimize`'s ``rough`` fit, in the optimiser's coordinates ``coords``.

    The float32 phase keeps float32 L-BFGS pairs (its gradients are float32's). Then one
    evaluation in float64 decides: a model converged when its float64 gradient's largest entry
    is at most ``tol``, whatever the float32 phase said (float32's rounding of a gradient is
    relative to the features' scale, about 1e-7 of it, so on most data the two agree); the
    others go on in float64 with a fresh L-BFGS memory, each within the iterations it has left.
    """
    true = true_class_sums(prob)  # the float64 check's too
    rough = objective(prob, framework, device, rough=True, true=true)
    res = lbfgs.minimize(coords.wrap(rough), phi, tol=tol, max_iter=max_iter, ftol=FTOL,
                         noise=32.0 * float(np.finfo(np.float32).eps), verbose=verbose,
                         start=start, memory=memory, pairs=np.float32, own=True)
    del rough  # its float32 copy of X and its working arrays, before float64's
    every = np.arange(len(phi))
    # X itself (no float64 copy with ones), unless the copy is small (class_major_check)
    exact = (ClassMajorObjective(prob, np.float64, true) if class_major_check(prob)
             else NumpyObjective(prob, true))
    res.f, _, gmax = coords.wrap(exact)(res.theta, every)
    res.n_evals += 1
    res.converged = gmax <= tol
    res.lost = np.zeros(len(phi), bool)
    left = np.flatnonzero(~res.converged & (res.n_iter < max_iter))
    if left.size:
        sub = dataclasses.replace(prob, weights=prob.weights[left], alpha=prob.alpha[left])
        more = lbfgs.minimize(
            coords.subset(left).wrap(
                objective(sub, framework, device)),
            res.theta[left], tol=tol, max_iter=max_iter - res.n_iter[left], ftol=FTOL,
            noise=noise(prob), verbose=verbose, start=start, memory=memory,
            pairs=pair_dtype(prob.X, phi.shape[1], left.size), own=True)
        res.theta[left], res.f[left], res.n_iter[left] = more.theta, more.f, \
            res.n_iter[left] + more.n_iter
        res.converged[left], res.lost[left] = more.converged, more.lost
        res.n_evals += more.n_evals
    return res
