"""What prepare makes of the user's weights, device and standardisation: clear refusals of
weights that would fit to NaN, column statistics that respect the weights and keep their
digits far from zero, and BLAS's threads on wide dense fits."""

from __future__ import annotations

import warnings
from unittest import mock

import numpy as np
import pytest

from conftest import need

need("sklearn")

import scipy.sparse as sp  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV, prepare  # noqa: E402


def _data(n=150, d=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(0.5, 2, d)
    y = np.argmax(X @ rng.normal(size=(d, c)) + rng.normal(size=(n, c)), axis=1)
    return X, y


def _refused(est, X, y, match, sample_weight=None):
    """``est.fit`` raises a ValueError matching ``match`` before any numpy warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match) as err:
            est.fit(X, y, sample_weight=sample_weight)
    assert "\n" not in str(err.value)
    return str(err.value)


# --- D01, D08: row weights that would fit to NaN or diverge -----------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_balanced_refuses_a_class_whose_sample_weights_are_all_zero(solver):
    X, y = _data()
    sw = np.where(y == 2, 0.0, 1.0)
    msg = _refused(SoftmaxRegression(class_weight="balanced", solver=solver), X, y,
                   r"class_weight='balanced'.*class 2 has no weight", sw)
    assert "sample_weight" in msg and "dict" in msg
    _refused(SoftmaxRegressionCV(Cs=2, class_weight="balanced"), X, y, "class 2 has no weight",
             sw)


def test_balanced_still_fits_a_zero_weight_row_of_a_weighted_class():
    X, y = _data()
    sw = np.ones(len(y))
    sw[np.flatnonzero(y == 2)[0]] = 0.0  # one row of class 2, not all of them
    m = SoftmaxRegression(class_weight="balanced").fit(X, y, sample_weight=sw)
    assert np.isfinite(m.intercept_).all() and m.score(X, y) > 0.8


@pytest.mark.parametrize("value", [np.nan, np.inf, -1.0])
@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_a_nan_infinite_or_negative_class_weight_is_refused(value, framework):
    if framework == "torch":
        need("torch")
    X, y = _data()
    cw = {0: value, 1: 1.0, 2: 1.0}
    _refused(SoftmaxRegression(class_weight=cw, framework=framework), X, y,
             r"class_weight must be finite and non-negative, got .* for class 0; give each class")
    _refused(SoftmaxRegression(class_weight=cw, solver="sgd"), X, y, "class_weight must be")
    _refused(SoftmaxRegressionCV(Cs=2, class_weight=cw), X, y, "class_weight must be")


def test_a_class_weight_of_zero_still_drops_the_class_rows():
    X, y = _data()
    a = SoftmaxRegression(class_weight={0: 0.0, 1: 1.0, 2: 1.0}, tol=1e-10).fit(X, y)
    b = SoftmaxRegression(tol=1e-10).fit(X, y, sample_weight=(y != 0).astype(float))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)


def test_sample_weight_times_class_weight_that_overflows_is_refused():
    X, y = _data()
    _refused(SoftmaxRegression(class_weight={0: 1e10, 1: 1.0, 2: 1.0}), X, y,
             "sample_weight times class_weight overflows float64", np.full(len(y), 1e300))


# --- D11: weight sums out of float64's range ----------------------------------------------------

@pytest.mark.parametrize("weight", [1e307, 1e-320])
def test_weights_whose_sum_leaves_float64_are_refused(weight):
    X, y = _data()
    msg = _refused(SoftmaxRegression(), X, y, "sum to .*, outside float64's normal range",
                   np.full(len(y), weight))
    assert "scale sample_weight by a common factor s and C by 1/s" in msg


def test_a_c_whose_penalty_overflows_is_refused():
    X, y = _data()
    _refused(SoftmaxRegression(C=1e-320), X, y, r"C=1e-320 is too small .* raise C")
    prob = prepare.problem(X, y, np.ones((1, len(y))), np.array([1e-300]), 3, False)
    assert np.isfinite(prob.alpha).all()  # still in range (the zero model, as before)


# --- D06: the column statistics weigh the rows as the fit does ----------------------------------

def test_standardize_weighs_the_statistics_as_standard_scaler_with_sample_weight():
    X, y = _data()
    w = np.random.default_rng(1).integers(0, 4, len(y)).astype(float)
    ref = StandardScaler().fit(X, sample_weight=w)
    for data in (X, X.astype(np.float32), sp.csr_matrix(X)):
        mu, sd = prepare.scaling(data, True, w)
        np.testing.assert_allclose(mu, ref.mean_, rtol=1e-6)
        np.testing.assert_allclose(sd, ref.scale_, rtol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_standardize_a_zero_weight_row_equals_dropping_it(sparse):
    X, y = _data()
    Xo = np.r_[X, [[1000.0] * X.shape[1]]]
    sw = np.r_[np.ones(len(y)), 0.0]
    wrap = sp.csr_matrix if sparse else np.asarray
    a = SoftmaxRegression(standardize=True, tol=1e-10).fit(wrap(Xo), np.r_[y, 0],
                                                           sample_weight=sw)
    b = SoftmaxRegression(standardize=True, tol=1e-10).fit(wrap(X), y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-6)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_standardize_integer_weights_equal_repeated_rows(sparse):
    X, y = _data()
    iw = np.random.default_rng(0).integers(0, 4, len(y))
    wrap = sp.csr_matrix if sparse else np.asarray
    a = SoftmaxRegression(standardize=True, tol=1e-10).fit(wrap(X), y, sample_weight=iw)
    b = SoftmaxRegression(standardize=True, tol=1e-10).fit(wrap(np.repeat(X, iw, 0)),
                                                           np.repeat(y, iw))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-6)


def test_a_pack_and_its_refit_standardise_by_the_sample_weights():
    X, y = _data()
    X = np.r_[X, [[1000.0] * X.shape[1]]]  # a row every model weighs 0
    y = np.r_[y, 0]
    sw = np.r_[np.random.default_rng(2).uniform(0.5, 2.0, len(y) - 1), 0.0]
    folds = np.arange(len(y)) % 3
    masks = np.repeat(np.where(folds[None] != np.arange(3)[:, None], sw, 0.0), 2, axis=0)
    pack = prepare.problem(X, y, masks, np.tile([0.1, 10.0], 3), 3, True, scale_weights=sw)
    refit = prepare.problem(X, y, sw[None], np.array([1.0]), 3, True, scale_weights=sw)
    ref = StandardScaler().fit(X[:-1], sample_weight=sw[:-1])
    for prob in (pack, refit):  # one standardisation, the refit's: its start keeps its meaning
        np.testing.assert_allclose(prob.mu, ref.mean_, rtol=1e-12)
        np.testing.assert_allclose(prob.sd, ref.scale_, rtol=1e-12)


# --- D07: the variance far from zero ---------------------------------------------------------

def _far(offset, dtype):
    X, y = _data()
    return (X + offset).astype(dtype), y


@pytest.mark.parametrize(("offset", "dtype", "sparse"), [
    (1e8, np.float64, False), (1e8, np.float64, True), (1e3, np.float32, True),
    (1e3, np.float32, False)])
def test_standardize_statistics_far_from_zero_match_standard_scaler(offset, dtype, sparse):
    X, _ = _far(offset, dtype)
    ref = StandardScaler().fit(X.astype(np.float64))
    mu, sd = prepare.scaling(sp.csr_matrix(X) if sparse else X, True)
    np.testing.assert_allclose(mu, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(sd, ref.scale_, rtol=1e-9)


def test_sparse_statistics_with_zeros_far_from_zero():
    X, _ = _data()
    X = X + 1e6
    X[::3, 1] = 0.0  # a column with real zeros, far from its other values
    X[:, 2] = 0.0
    X[5, 2] = 1e6  # a nearly empty column
    w = np.random.default_rng(3).uniform(0.0, 3.0, len(X))
    ref = StandardScaler().fit(X, sample_weight=w)
    mu, sd = prepare.scaling(sp.csr_matrix(X), True, w)
    np.testing.assert_allclose(mu, ref.mean_, rtol=1e-10)
    np.testing.assert_allclose(sd, ref.scale_, rtol=1e-8)


def test_sparse_statistics_sum_duplicate_entries():
    X, _ = _data(n=20)
    coo = sp.coo_matrix(X + 1e3)
    doubled = sp.csr_matrix((np.r_[coo.data, coo.data] / 2, (np.r_[coo.row, coo.row],
                                                             np.r_[coo.col, coo.col])),
                            shape=X.shape)
    doubled.has_canonical_format = False
    ref = StandardScaler().fit(X + 1e3)
    mu, sd = prepare.scaling(doubled, True)
    np.testing.assert_allclose(mu, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(sd, ref.scale_, rtol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_standardize_far_from_zero_is_the_standard_scaler_pipeline(sparse):
    X, y = _far(1e8, np.float64)  # (float32 far from zero: the float32 products' rounding)
    Xd = X
    pipe = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=10000))
    pipe.fit(Xd, y)
    m = SoftmaxRegression(standardize=True, tol=1e-8).fit(sp.csr_matrix(X) if sparse else X, y)
    np.testing.assert_allclose(m.predict_proba(Xd), pipe.predict_proba(Xd), atol=1e-4)


# --- hunt2 1: a constant column is StandardScaler's (relative to the column's magnitude) -------

def _iris_column(case):
    """Iris with column 0 times 1e-20 (a quantity in SI units) or as 1e13 + 4x (a spread of
    3.3 around 1e13, exact but for float64's rounding of 4x), and the plain iris rows."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    Xs = X.copy()
    Xs[:, 0] = X[:, 0] * 1e-20 if case == "tiny" else 1e13 + 4 * X[:, 0]
    return Xs, X, y


@pytest.mark.parametrize("case", ["tiny", "offset"])
def test_standardize_scales_a_column_of_any_magnitude_as_standard_scaler(case):
    Xs, X, y = _iris_column(case)
    scaler = StandardScaler().fit(Xs)
    mu, sd = prepare.scaling(Xs, True)
    np.testing.assert_allclose(mu, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(sd, scaler.scale_, rtol=1e-9)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=10000))
    pipe.fit(Xs, y)
    plain = SoftmaxRegression(standardize=True, tol=1e-10).fit(X, y)  # column 0 as it was
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: the fit reaches tol
        m = SoftmaxRegression(standardize=True, tol=1e-10).fit(Xs, y)
    # the model on Xs's own scale is the pipeline's (its weights divided by the scales)
    np.testing.assert_allclose(m.coef_ * pipe[0].scale_, pipe[-1].coef_, atol=1e-5)
    P = m.predict_proba(Xs)
    if case == "tiny":  # the pipeline is the plain fit to 1e-7: so is softreg
        np.testing.assert_allclose(P, pipe.predict_proba(Xs), atol=1e-5)
        np.testing.assert_allclose(P, plain.predict_proba(X), atol=1e-5)
        np.testing.assert_allclose(m.coef_[:, 0] * 1e-20, plain.coef_[:, 0], rtol=1e-5)
    else:  # coef_ and intercept_ on raw X: each logit is rounded by about 1e-16 * 1e13 * coef
        np.testing.assert_allclose(P, pipe.predict_proba(Xs), atol=3e-4)
        np.testing.assert_allclose(P, plain.predict_proba(X), atol=3e-4)


@pytest.mark.parametrize("case", ["tiny", "offset"])
def test_standardize_cv_chooses_the_c_of_the_unscaled_column(case):
    Xs, X, y = _iris_column(case)
    # tol 1e-5: at the default 1e-4 each refit stops about 2.5e-3 (in probability) from the
    # optimum, and two of them agreed more closely than that only by chance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cv = SoftmaxRegressionCV(standardize=True, tol=1e-5).fit(Xs, y)
    plain = SoftmaxRegressionCV(standardize=True, tol=1e-5).fit(X, y)
    assert cv.C_ == plain.C_ == pytest.approx(21.5443469)  # LogisticRegressionCV's too
    np.testing.assert_allclose(cv.scores_, plain.scores_)
    if case == "tiny":  # the same problem to float64's rounding: the same fit
        np.testing.assert_allclose(cv.predict_proba(Xs), plain.predict_proba(X), atol=1e-5)
    else:  # each logit on raw X rounded by about 1e-16 * 1e13 * coef: each as near the optimum
        # as the plain fit is (both measured 2.4e-4 and 2.9e-4 from it)
        best = SoftmaxRegression(C=cv.C_, standardize=True, tol=1e-10, max_iter=10000).fit(X, y)
        P = best.predict_proba(X)
        np.testing.assert_allclose(cv.predict_proba(Xs), P, atol=5e-4)
        np.testing.assert_allclose(plain.predict_proba(X), P, atol=5e-4)


@pytest.mark.parametrize("sparse", [False, True])
def test_standardize_leaves_a_constant_column_unscaled_as_standard_scaler(sparse):
    X, _ = _data()
    X[:, 1] = 1e13  # constant, far from zero
    X[:, 2] = 1e13 + np.where(np.arange(len(X)) % 2, 1.0, 0.0) * 2.0**-9  # spread of an ulp
    X[:, 3] = 3e-30  # constant, near zero
    scaler = StandardScaler().fit(X)
    mu, sd = prepare.scaling(sp.csr_matrix(X) if sparse else X, True)
    np.testing.assert_array_equal(sd[1:], scaler.scale_[1:])
    np.testing.assert_array_equal(sd[1:], 1.0)
    np.testing.assert_allclose(mu, scaler.mean_, rtol=1e-13)


# --- D13: torch devices -------------------------------------------------------------------------

def _bad_devices():
    torch = need("torch")
    bad = ["bogus", "meta", "CPU", "cuda:99"]
    return bad if torch.cuda.is_available() else [*bad, "cuda", "cuda:0"]


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_torch_refuses_a_device_it_cannot_fit_on_in_one_line(solver):
    torch = need("torch")
    X, y = _data()
    for device in _bad_devices():
        msg = _refused(SoftmaxRegression(framework="torch", device=device, solver=solver), X, y,
                       f"framework='torch' cannot fit on device='{device}' here; use "
                       "device='cpu'")
        assert ("'cpu', 'cuda'" in msg) == torch.cuda.is_available()
    _refused(SoftmaxRegressionCV(Cs=2, framework="torch", device="bogus"), X, y,
             "cannot fit on device='bogus'")


def test_auto_is_the_gpu_torch_finds_else_the_cpu(monkeypatch):
    torch = need("torch")
    from softreg.estimator import prepare

    X, y = _data()
    for framework in ("numpy", "torch"):  # no GPU here (or none asked for): the CPU's fit
        cpu = SoftmaxRegression(framework=framework).fit(X, y)
        if framework == "torch" and torch.cuda.is_available():
            continue
        auto = SoftmaxRegression(framework=framework, device="auto").fit(X, y)
        np.testing.assert_array_equal(auto.coef_, cpu.coef_)
    cv = SoftmaxRegressionCV(Cs=2, cv=2, device="auto").fit(X, y)
    np.testing.assert_array_equal(cv.coef_, SoftmaxRegressionCV(Cs=2, cv=2).fit(X, y).coef_)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert prepare.torch_device(torch, "auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert prepare.torch_device(torch, "auto") == "cpu"
    assert prepare.torch_device(torch, "cuda:1") == "cuda:1"  # anything else as it is


def test_torch_fits_on_cpu_devices():
    need("torch")
    X, y = _data()
    a = SoftmaxRegression(framework="torch", device="cpu:0").fit(X, y)
    b = SoftmaxRegression(framework="numpy").fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-5)


# --- D17: BLAS's threads on a wide dense fit ------------------------------------------------------

def _blas_threads():
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


class _SeenError(Exception):
    pass


def _threads_while_fitting(X, y, c):
    """BLAS's thread counts when L-BFGS would start on X, y (BLAS allowed two threads)."""
    def spy(*args, **kwargs):
        raise _SeenError(_blas_threads())

    prob = prepare.problem(X, y, np.ones((1, len(y))), np.array([1.0]), c, False)
    with threadpool_limits(limits=2, user_api="blas"), \
            mock.patch.object(prepare.lbfgs, "minimize", spy), pytest.raises(_SeenError) as seen:
        prepare.minimize(prob, np.zeros((1, prob.size)), "numpy", "cpu", tol=1e-4, max_iter=3)
    return seen.value.args[0]


# (n, d, c): 200 parameters a row; 110 a row but 66,010 a model (L-BFGS's axpy on BLAS)
@pytest.mark.parametrize(("n", "d", "c"), [(30, 2000, 3), (600, 6600, 10)])
def test_a_dense_fit_with_many_parameters_a_row_keeps_blas_to_one_thread(n, d, c):
    rng = np.random.default_rng(0)
    assert _threads_while_fitting(rng.normal(size=(n, d)), rng.integers(0, c, n), c) == {1}


def test_fits_side_by_side_in_threads_share_one_blas_limit():
    """The limit is the process's: one fit lifting it under another running in a thread
    slowed that one tenfold, whose end then left the process on one BLAS thread for good."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas() -> set[int]:
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    from concurrent.futures import ThreadPoolExecutor

    with threadpool_limits(limits=2, user_api="blas"), ThreadPoolExecutor(1) as pool:
        first, second = prepare._one_thread(), prepare._one_thread()
        pool.submit(first.__enter__).result()  # a fit in a worker thread
        second.__enter__()  # a second fit, in this thread, while the first runs
        pool.submit(first.__exit__, None, None, None).result()  # the first ends first:
        assert blas() == {1}  # the second still runs on one thread
        second.__exit__(None, None, None)
        assert blas() == {2}  # the last to end lifts it, whichever thread set it
        with prepare._one_thread():  # a fit here, then one in the worker thread
            assert blas() == {1}
        assert blas() == {2}

        def in_worker() -> set[int]:
            with prepare._one_thread():
                return blas()

        assert pool.submit(in_worker).result() == {1} and blas() == {2}
        # another's limit lifted while a fit runs: the fit's end leaves it lifted
        user = threadpool_limits(limits=1, user_api="blas")
        fit = prepare._one_thread()
        pool.submit(fit.__enter__).result()
        user.restore_original_limits()  # the user's block ends first (back to 2)
        pool.submit(fit.__exit__, None, None, None).result()
        assert blas() == {2}  # it was left on the 1 the fit found when it began


@pytest.mark.slow
def test_a_child_forked_during_a_limited_fit_gets_its_threads_back():
    import os
    import subprocess
    import sys

    script = (
        "import os, threading\n"
        "from threadpoolctl import threadpool_info, threadpool_limits\n"
        "from softreg.estimator import prepare\n"
        "threadpool_limits(limits=2, user_api='blas')\n"
        "held = prepare._one_thread(); held.__enter__()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    n = {p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}\n"
        "    os._exit(0 if n == {2} and prepare._holders == 0 else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "held.__exit__(None, None, None)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("n", "d", "c"), [(300, 50, 3), (2000, 1000, 10)])
def test_a_dense_fit_with_enough_rows_leaves_blas_threaded(n, d, c):
    rng = np.random.default_rng(0)
    assert _threads_while_fitting(rng.normal(size=(n, d)), rng.integers(0, c, n), c) == {2}
