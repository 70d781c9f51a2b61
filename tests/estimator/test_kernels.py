"""The numba kernels (softreg.estimator.kernels) against the NumPy code they replace: the same
values within float32's (or float64's) rounding, the same non-finite answers to an overflowing
trial, and the switch that turns them off."""

from __future__ import annotations

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
    """``evaluate()`` with the kernels off, then on."""
    monkeypatch.setenv("SOFTREG_NUMBA", "0")
    assert not kernels.enabled()
    off = evaluate()
    monkeypatch.setenv("SOFTREG_NUMBA", "1")
    assert kernels.enabled()
    return off, evaluate()


@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: rows whose logits span past the floor
def test_class_major_objective_is_numpys_within_float32(monkeypatch, scale):
    X, y = _data(n=300, d=6, c=4, scale=1.0)
    prob = _cv_problem(X.astype(np.float32), y, np.logspace(-2, 2, 4))
    theta = np.random.default_rng(1).normal(0, scale, (len(prob.weights), prob.size))
    every = np.arange(len(theta))

    def evaluate():
        f, g = ClassMajorObjective(prob)(theta, every)
        return f.copy(), g.copy()

    (f0, g0), (f1, g1) = _both(monkeypatch, evaluate)
    np.testing.assert_allclose(f1, f0, rtol=2e-6)
    assert np.abs(g1 - g0).max() <= 2e-6 * np.abs(g0).max()
    if scale > 1:  # some rows' classes lie more than 50 below their max: floored alike
        assert (f0 > 10).all()


def test_exp_is_within_float32_rounding_over_the_floor_range(numba_on):
    # two classes, the second x below the first: its probability is exp(x) / (1 + exp(x))
    x = -np.concatenate([np.linspace(0, 50, 4001), [1e-7, 0.3465736, 49.999, 60.0, 1e4]])
    Z = np.stack([np.zeros_like(x), x]).astype(np.float32)[None]  # (1 model, 2, n)
    n = Z.shape[2]
    work = {"lse": np.empty((1, n), np.float32), "true": np.empty((1, n), np.float32),
            "bits": np.empty((1, n), np.int32)}
    lse, true = kernels.class_major_softmax(Z, np.zeros(n, np.intp), np.ones((1, n), np.float32),
                                            work)
    e = np.exp(np.maximum(x.astype(np.float32).astype(np.float64), -50.0))
    np.testing.assert_allclose(Z[0, 1], e / (1 + e), rtol=1e-6)
    np.testing.assert_allclose(Z[0, 0], 1 / (1 + e), rtol=1e-6)
    np.testing.assert_allclose(lse[0], np.log1p(e), rtol=1e-6, atol=1e-7)
    assert (true == 0).all()  # the true class is each row's max


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
