"""The numba kernels (softreg.estimator.kernels) against the NumPy code they replace: the same
values within float32's (or float64's) rounding, the same non-finite answers to an overflowing
trial, and the switch that turns them off."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import need

need("sklearn")
need("numba")

from test_class_major import _cv_problem, _data  # noqa: E402

from softreg.estimator import SoftmaxRegressionCV, kernels, lbfgs  # noqa: E402
from softreg.estimator.pack import ClassMajorObjective  # noqa: E402


@pytest.fixture
def numba_on(monkeypatch):
    monkeypatch.delenv("SOFTREG_NUMBA", raising=False)
    assert kernels.enabled()


def _both(monkeypatch, evaluate):
    """``evaluate()`` with the kernels off, then on (for problems of any size: these are
    small)."""
    monkeypatch.setattr(kernels, "LOGITS", 0)
    monkeypatch.setattr(kernels, "PAIRS", 0)
    monkeypatch.setenv("SOFTREG_NUMBA", "0")
    assert not kernels.enabled()
    off = evaluate()
    monkeypatch.setenv("SOFTREG_NUMBA", "1")
    assert kernels.enabled()
    return off, evaluate()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("standardize", [False, True])  # True: NumPy's _finish after the pass
@pytest.mark.parametrize("models", ["all", "some"])  # some: the pack's models less a few
@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: rows whose logits span past the floor
def test_class_major_objective_is_numpys_within_its_rounding(monkeypatch, scale, models,
                                                             standardize, dtype):
    X, y = _data(n=300, d=6, c=4, scale=1.0)
    prob = _cv_problem(X.astype(dtype) * 3 + 1, y, np.logspace(-2, 2, 4),
                       standardize=standardize)
    assert prob.scaled == standardize
    K = len(prob.weights)
    active = np.arange(K) if models == "all" else np.array([0, 2, 3, 7, 11])
    theta = np.random.default_rng(1).normal(0, scale, (len(active), prob.size))

    def evaluate():
        f, g = ClassMajorObjective(prob, dtype)(theta, active)
        return f.copy(), g.copy()

    (f0, g0), (f1, g1) = _both(monkeypatch, evaluate)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(f1, f0, rtol=rtol)
    assert np.abs(g1 - g0).max() <= rtol * np.abs(g0).max()
    if scale > 1:  # some rows' classes lie more than 50 below their max: floored alike
        assert (f0 > 10).all()


def _block(Z, codes, S):
    """The kernel on one block; returns its objective shares (k,)."""
    k, _, n = Z.shape
    work = {"total": np.empty((k, n), Z.dtype), "true": np.empty((k, n), Z.dtype),
            "bits": np.empty((k, n), kernels.bits(Z.dtype)), "f": np.empty(k)}
    return kernels.class_major_softmax(Z, codes, S, work).copy()


# float32: within its rounding (NumPy's own exp is within 2e-7); float64: within 1e-15
RTOL = {np.float32: 1e-6, np.float64: 1e-14}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_and_log_are_within_rounding_over_the_floor_range(numba_on, dtype):
    # two classes, the second x below the first: its probability is exp(x) / (1 + exp(x)),
    # and the first's loss log(1 + exp(x)); one model a row (S one-hot), so f is each row's
    x = -np.concatenate([np.linspace(0, 50, 1001), [1e-7, 0.3465736, 49.999, 60.0, 1e4]])
    x = x.astype(dtype).astype(np.float64)  # as the kernel sees it
    n = len(x)
    Z = np.broadcast_to(np.stack([np.zeros_like(x), x]).astype(dtype),
                        (n, 2, n)).copy()  # (models, classes, rows)
    f = _block(Z, np.zeros(n, np.intp), np.eye(n, dtype=dtype))
    e = np.exp(np.maximum(x, -50.0))
    rows, rtol = np.arange(n), RTOL[dtype]
    np.testing.assert_allclose(Z[rows, 1, rows], e / (1 + e), rtol=rtol)
    np.testing.assert_allclose(Z[rows, 0, rows], 1 / (1 + e), rtol=rtol)
    np.testing.assert_allclose(f, np.log1p(e), rtol=rtol, atol=rtol / 10)
    # the second class true: its loss is log(1 + exp(x)) - x
    Z = np.broadcast_to(np.stack([np.zeros_like(x), x]).astype(dtype), (n, 2, n)).copy()
    f = _block(Z, np.ones(n, np.intp), np.eye(n, dtype=dtype))
    np.testing.assert_allclose(f, np.log1p(e) - x, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_nan_logit_of_another_class_makes_the_loss_nan(numba_on, dtype):
    # inf - inf in a product: a NaN logit, here in a class that is not the row's true one; the
    # row's loss is NaN (NumPy's maximum propagates it), never a finite number with NaN
    # probabilities beside it
    Z = np.array([[[0.0, 1.0], [np.nan, 2.0], [3.0, 0.5]]], dtype)  # (1 model, 3 classes, 2)
    f = _block(Z, np.array([0, 1]), np.array([[1.0, 0.0]], dtype))  # row 1 weighs nothing
    assert np.isnan(f[0]) and np.isnan(Z[0, :, 0]).all()
    Z = np.array([[[np.nan, 1.0], [0.0, 2.0], [3.0, 0.5]]], dtype)  # the NaN in class 0 now
    f = _block(Z, np.array([2, 1]), np.array([[1.0, 0.0]], dtype))
    assert np.isnan(f[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_loss_of_many_classes_is_the_log_sum_exp(numba_on, dtype):
    # sums of exps from 1 to 1000 (1000 classes at one logit): the log over its whole range
    rng = np.random.default_rng(3)
    c, n = 1000, 64
    Z = (rng.normal(0, 1, (1, c, n)) * np.linspace(0, 8, n)).astype(dtype)
    codes = rng.integers(0, c, n)
    S = rng.uniform(0.5, 2, (1, n)).astype(dtype)
    Z64 = Z[0].astype(np.float64)
    top = Z64.max(axis=0)
    loss = np.log(np.exp(Z64 - top).sum(axis=0)) - (Z64[codes, np.arange(n)] - top)
    f = _block(Z, codes, S)
    np.testing.assert_allclose(f[0], S[0].astype(np.float64) @ loss, rtol=RTOL[dtype])


def test_an_overflowing_model_is_non_finite_and_the_others_are_not(monkeypatch):
    X, y = _data(n=120, d=4, c=3)
    prob = _cv_problem(X.astype(np.float32), y, np.array([0.1, 1.0]))
    theta = np.random.default_rng(2).normal(0, 0.5, (len(prob.weights), prob.size))
    every = np.arange(len(theta))
    bad = theta.copy()
    bad[1, :3] = [1e38, -1e38, np.inf]  # model 1's logits overflow to inf and NaN

    def evaluate():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning from either path
            f, g = ClassMajorObjective(prob)(bad, every)
        return f.copy(), g.copy()

    (f0, g0), (f1, g1) = _both(monkeypatch, evaluate)
    assert not np.isfinite(f0[1]) and not np.isfinite(f1[1])
    # NaN kept as NaN, not floored to a probability: the same entries non-finite
    np.testing.assert_array_equal(np.isfinite(g1), np.isfinite(g0))
    keep = np.arange(len(theta)) != 1
    np.testing.assert_allclose(f1[keep], f0[keep], rtol=2e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("it", [0, 3, 10, 23])
def test_two_loop_is_numpys_recursion(monkeypatch, dtype, it):
    rng = np.random.default_rng(it)
    k, p, memory = 7, 41, 10
    g = rng.normal(size=(k, p))
    S = rng.normal(size=(memory, k, p)).astype(dtype)
    Y = (S + 0.2 * rng.normal(size=(memory, k, p))).astype(dtype)
    sy = np.einsum("mkp,mkp->mk", S, Y, dtype=np.float64)
    rho = np.where(sy > 0, 1 / sy, 0.0)
    rho[(it - 1) % memory, 2] = 0.0  # model 2's newest pair kept out: scaled by the one before
    rho[:, 4] = 0.0  # model 4 has none: steepest descent
    yy = np.einsum("mkp,mkp->mk", Y, Y, dtype=np.float64)

    def direction():
        return lbfgs._direction(g, S, Y, rho, yy, it, memory, np.empty((k, p), dtype),
                                np.empty((k, p))).copy()

    off, on = _both(monkeypatch, direction)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    assert np.abs(on - off).max() <= rtol * np.abs(off).max()
    np.testing.assert_allclose(on[4], -g[4], rtol=1e-6)


def test_cv_fits_the_same_models_with_and_without_the_kernels(monkeypatch):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return SoftmaxRegressionCV(Cs=5, cv=3).fit(X, y[:600])

    off, on = _both(monkeypatch, fit)
    assert on.C_ == off.C_
    np.testing.assert_allclose(on.scores_, off.scores_, atol=1 / 200)  # a test row or so
    np.testing.assert_allclose(on.predict_proba(X), off.predict_proba(X), atol=2e-3)


def test_the_switch_is_read_at_each_call(monkeypatch):
    monkeypatch.setenv("SOFTREG_NUMBA", "0")
    assert not kernels.enabled()
    monkeypatch.setenv("SOFTREG_NUMBA", " 1 ")
    assert kernels.enabled()
    monkeypatch.delenv("SOFTREG_NUMBA")
    assert kernels.enabled()


def test_small_fits_keep_numpy_and_never_import_numba(numba_on):
    # numba's start (about 0.4 s in a new process) is not paid by fits whose NumPy passes take
    # microseconds; a digits-sized CV pack pays it
    code = ("import sys, warnings; warnings.simplefilter('ignore'); "
            "from sklearn.datasets import load_iris; "
            "from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV; "
            "X, y = load_iris(return_X_y=True); SoftmaxRegressionCV().fit(X, y); "
            "SoftmaxRegression().fit(X, y); print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "SOFTREG_NUMBA": "1"})
    assert out.stdout.split()[-1] == "False"
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    small = _cv_problem(X[:100].astype(np.float32), y[:100], np.logspace(-2, 2, 4))
    digits = _cv_problem(X.astype(np.float32), y, np.logspace(-4, 4, 10), folds=5)
    assert not ClassMajorObjective(small).fast
    assert ClassMajorObjective(digits).fast


@pytest.mark.parametrize("case", ["converge", "max_iter"])
def test_lbfgs_update_takes_numpys_steps(monkeypatch, case):
    # the compiled update (kernels.take) and direction against NumPy's: for 25 iterations step
    # for step (the same trials taken and rejected, the same evaluations, the same ends at
    # max_iter); to convergence, the same optima (the paths of ill-conditioned fits part by
    # rounding after that: the largest Cs' iteration counts differ by a few percent)
    from softreg.estimator import prepare

    X, y = _data(n=300, d=8, c=4)
    X = X * np.linspace(1, 10, 8)  # badly scaled: line searches that backtrack
    Cs = np.logspace(-2, 4, 8)
    prob = prepare.problem(X, y, np.ones((len(Cs), len(y))), Cs, 4, False)
    tol, max_iter = (1e-7, 1000) if case == "converge" else (1e-9, 25)
    seen = []
    minimize = lbfgs.minimize

    def spy(*a, **kw):
        seen.append(lbfgs.compiled(len(a[1]), a[1].shape[1], kw["memory"]))
        return minimize(*a, **kw)

    monkeypatch.setattr(lbfgs, "minimize", spy)

    def fit():
        return prepare.minimize(prob, np.zeros((len(Cs), prob.size)), "numpy", "cpu", tol=tol,
                                max_iter=max_iter, centre=False)

    off, on = _both(monkeypatch, fit)
    assert seen == [False, True]
    np.testing.assert_array_equal(on.converged, off.converged)
    np.testing.assert_array_equal(on.lost, off.lost)
    if case == "max_iter":
        assert (on.n_iter == 25).all() and not on.converged.any()
        np.testing.assert_array_equal(on.n_iter, off.n_iter)
        assert on.n_evals == off.n_evals
        np.testing.assert_allclose(on.theta, off.theta, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(on.f, off.f, rtol=1e-12)
    else:
        assert on.converged.all()
        np.testing.assert_allclose(on.f, off.f, rtol=1e-10)
        np.testing.assert_allclose(on.theta, off.theta, atol=1e-4)


def test_numba_changes_the_arithmetic_not_the_formulation(monkeypatch):
    # float64 fits keep NumpyObjective whether numba runs or not, and the CV's float64 check is
    # class-major by the problem's shape alone: with numba off a fit near float64's floor ended
    # "lost" where with numba on (a per-row shift) it did not, and a far-off lone fit reported
    # convergence with its gradient 0.24 against tol 1e-4
    from softreg.estimator import prepare
    from softreg.estimator.objective import NumpyObjective

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 5))
    y = rng.integers(0, 10, 20000)
    lone = prepare.problem(X, y, np.ones((1, len(y))), np.array([1.0]), 10, False)
    X2, y2 = X[:3000], y[:3000]
    pack = _cv_problem(X2, y2, np.logspace(-2, 2, 5), folds=5)  # 25 x 3000 x 10 logits
    for flag in ("0", "1"):
        monkeypatch.setenv("SOFTREG_NUMBA", flag)
        assert isinstance(prepare.objective(lone, "numpy", "cpu"), NumpyObjective)
        assert prepare.class_major_check(pack)  # the same with numba on or off
