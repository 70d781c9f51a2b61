"""The exact solver against scipy.optimize.minimize, and the objective's exactness properties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import need

need("sklearn")

from scipy.optimize import minimize  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV  # noqa: E402


def _data(n=150, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(0.5, 3, d)
    y = np.argmax(X @ rng.normal(size=(d, c)) + rng.normal(size=(n, c)), axis=1)
    return X, y


def _reference(X, y, C, sw):
    """The objective written out independently, minimised by scipy in float64."""
    n, d = X.shape
    c = int(y.max()) + 1
    s = sw / sw.sum()
    alpha = 1.0 / (C * sw.sum())

    def fun(theta):
        W, b = theta[: d * c].reshape(d, c), theta[d * c:]
        Z = X @ W + b
        lse = logsumexp(Z, axis=1)
        f = s @ (lse - Z[np.arange(n), y]) + 0.5 * alpha * np.sum(W * W)
        G = np.exp(Z - lse[:, None])
        G[np.arange(n), y] -= 1
        G *= s[:, None]
        return f, np.concatenate([(X.T @ G + alpha * W).ravel(), G.sum(0)])

    res = minimize(fun, np.zeros((d + 1) * c), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10000})
    return res.fun, res.x[: d * c].reshape(d, c), fun


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_reaches_scipy_optimum(framework, dtype):
    if framework == "torch":
        need("torch")
    X, y = _data()
    sw = np.random.default_rng(1).uniform(0.2, 2.0, len(y))
    f_ref, W_ref, fun = _reference(X, y, 0.7, sw)
    m = SoftmaxRegression(C=0.7, tol=1e-7 if dtype == np.float64 else 1e-6,
                          framework=framework).fit(X.astype(dtype), y, sample_weight=sw)
    W = m._W - m._W.mean(axis=1, keepdims=True)  # softmax weights are defined up to a shift
    f = fun(np.concatenate([m._W.ravel(), m._b]))[0]
    assert abs(f - f_ref) <= 1e-6 * f_ref
    assert np.abs(W - (W_ref - W_ref.mean(axis=1, keepdims=True))).max() <= 1e-4


def test_binary_equals_logistic_regression():
    X, y = _data(c=2)
    sk = LogisticRegression(C=0.3, tol=1e-10, max_iter=10000).fit(X, y)
    m = SoftmaxRegression(C=0.3, tol=1e-9).fit(X, y)
    assert m.coef_.shape == (1, X.shape[1]) and m.decision_function(X).shape == (len(y),)
    assert np.abs(m.coef_ - sk.coef_).max() < 1e-5
    assert np.abs(m.intercept_ - sk.intercept_).max() < 1e-5
    assert np.allclose(m.predict_proba(X), sk.predict_proba(X), atol=1e-6)


def _kernels(monkeypatch, kernels, framework="numpy"):
    """The NumPy objective and L-BFGS as they are ("numpy": the objective's blocks and shifts
    checked too), or numba's kernels (softreg.estimator.kernels, here for problems of any size:
    a pack's L-BFGS direction and update, and :func:`_objective`'s float64 class-major
    objective, the CV's float64 check's); returns whether the kernels run."""
    if kernels == "numba":
        if framework != "numpy":
            pytest.skip("numba's kernels are NumPy's objective's")
        need("numba")
        from softreg.estimator import kernels as compiled

        monkeypatch.setattr(compiled, "LOGITS", 0)  # these problems are small
        monkeypatch.setattr(compiled, "PAIRS", 0)
    monkeypatch.setenv("SOFTREG_NUMBA", "1" if kernels == "numba" else "0")
    return kernels == "numba"


def _objective(prob, framework, compiled):
    """The objective under test: NumPy's (or torch's) as ``prepare.objective`` makes it, or,
    with the kernels, the float64 class-major one of the CV's float64 check."""
    from softreg.estimator import prepare
    from softreg.estimator.pack import ClassMajorObjective

    if compiled:
        fun = ClassMajorObjective(prob, np.float64)
        assert fun.fast
        return fun
    return prepare.objective(prob, framework, "cpu")


def _fit(X, y, **kw):
    return SoftmaxRegression(C=0.5, tol=1e-9, **kw)


def test_zero_weight_is_dropping_and_integer_weight_is_repeating():
    X, y = _data()
    w = np.ones(len(y))
    w[:20] = 0
    w[20:40] = 3
    a = _fit(X, y).fit(X, y, sample_weight=w)
    rows = np.concatenate([np.repeat(np.arange(20, 40), 3), np.arange(40, len(y))])
    b = _fit(X, y).fit(X[rows], y[rows])
    assert np.abs(a.coef_ - b.coef_).max() < 1e-6
    assert np.abs(a.intercept_ - b.intercept_).max() < 1e-6


def test_balanced_class_weight_equals_its_sample_weights():
    X, y = _data()
    counts = np.bincount(y)
    sw = (len(y) / (len(counts) * counts))[y]
    a = _fit(X, y, class_weight="balanced").fit(X, y)
    b = _fit(X, y).fit(X, y, sample_weight=sw)
    assert np.abs(a.coef_ - b.coef_).max() < 1e-6


def test_standardize_equals_a_scaler_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data()
    X = X + 5.0
    a = _fit(X, y, standardize=True).fit(X, y)
    p = make_pipeline(StandardScaler(), _fit(X, y)).fit(X, y)
    assert np.allclose(a.predict_proba(X), p.predict_proba(X), atol=1e-7)
    assert a.n_iter_[0] < _fit(X, y).fit(X, y).n_iter_[0]
    # class weights weigh the fit, not the scaler's statistics (a pipeline's scaler never
    # sees them); they had moved the probabilities by up to 0.016 on breast cancer
    a = _fit(X, y, standardize=True, class_weight="balanced").fit(X[10:], y[10:])
    p = make_pipeline(StandardScaler(), _fit(X, y, class_weight="balanced")).fit(X[10:], y[10:])
    assert np.allclose(a.predict_proba(X), p.predict_proba(X), atol=1e-6)


def test_sparse_input_equals_dense():
    import scipy.sparse as sp

    X, y = _data()
    X[np.abs(X) < 1.5] = 0
    a = _fit(X, y).fit(sp.csr_matrix(X), y)
    b = _fit(X, y).fit(X, y)
    assert np.abs(a.coef_ - b.coef_).max() < 1e-6
    assert np.allclose(a.predict_proba(sp.csr_matrix(X)), b.predict_proba(X))


def test_max_iter_warns_once_saying_what_to_do():
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SoftmaxRegression(max_iter=3).fit(X, y)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "raise max_iter, or scale X (standardize=True" in str(conv[0].message)


@pytest.mark.parametrize("cv", [False, True])
def test_max_iter_warning_of_a_standardised_fit_does_not_advise_scaling(cv):
    X, y = _data()
    est = (SoftmaxRegressionCV(Cs=3, cv=3, max_iter=3, standardize=True) if cv
           else SoftmaxRegression(max_iter=3, standardize=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    conv = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1 and "raise max_iter" in conv[0]
    assert "scale X" not in conv[0] and "standardize=True" not in conv[0]


def test_float32_fit_makes_no_copy_of_x():
    import tracemalloc

    X, y = _data(n=20000, d=100, c=10)
    X = X.astype(np.float32)
    m = SoftmaxRegression(max_iter=5)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * X.nbytes, (peak, X.nbytes)
    # a float64 model (the weights are kept in float64) predicts in float64, as
    # scikit-learn's float64 model does
    assert m.predict_proba(X).dtype == np.float64


def _float32_exact(n=400):
    """One feature around 4e6 in quarter steps (exact in float32), and its labels."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    signal = (y * 2 - 1) + 0.5 * rng.normal(size=n)
    return (4e6 + np.round(signal * 4) / 4).astype(np.float32)[:, None], y


@pytest.mark.parametrize("standardize", [True, False])
def test_a_float64_model_predicts_float32_x_in_float64(standardize):
    import scipy.sparse as sp

    X32, y = _float32_exact()
    X64 = X32.astype(np.float64)  # the very same numbers
    m = SoftmaxRegression(standardize=standardize, max_iter=5000).fit(X64, y)
    for X in (X32, sp.csr_matrix(X32)):
        for method in ("predict_proba", "predict_log_proba", "decision_function"):
            got, want = getattr(m, method)(X), getattr(m, method)(X64)
            assert got.dtype == np.float64, method
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(m.predict(X), m.predict(X64))
        assert m.score(X, y) == m.score(X64, y)


def test_cv_scores_float32_x_as_predict_does():
    from sklearn.model_selection import StratifiedKFold

    X32, y = _float32_exact()
    folds = list(StratifiedKFold(4).split(X32, y))
    cv = SoftmaxRegressionCV(Cs=[1e-2, 1.0, 1e2], cv=folds, standardize=True).fit(X32, y)
    scored = SoftmaxRegressionCV(Cs=[1e-2, 1.0, 1e2], cv=folds, standardize=True,
                                 scoring="accuracy").fit(X32, y)
    np.testing.assert_array_equal(cv.scores_, scored.scores_)  # the scorer's path: predict
    for f, (_, test) in enumerate(folds):  # each fold's model on its rows, in float64
        for j in range(3):
            path = cv.coefs_paths_[f, 0, j, 0]  # two classes: the margin's row
            margin = X32[test].astype(np.float64) @ path[:-1] + path[-1]
            assert cv.scores_[f, 0, j] == np.mean((margin > 0) == y[test])
    assert cv.predict_proba(X32).dtype == np.float64


@pytest.mark.parametrize("kind", ["lbfgs", "standardize", "cv", "sgd", "torch"])
def test_values_near_float64s_limit_give_one_warning_and_no_numpy_noise(kind):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 3))
    X, y = Z * 2.0**1017, np.array([0, 1] * 20)  # about 1e306
    if kind == "torch":
        need("torch")
    est = {"lbfgs": SoftmaxRegression(), "standardize": SoftmaxRegression(standardize=True),
           "cv": SoftmaxRegressionCV(Cs=3, cv=3), "sgd": SoftmaxRegression(solver="sgd"),
           "torch": SoftmaxRegression(framework="torch")}[kind]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "sgd":  # the one refusal
            with pytest.raises(FloatingPointError, match="SGD diverged"):
                est.fit(X, y)
        else:
            est.fit(X, y)
    kinds = [w.category.__name__ for w in caught]
    if kind == "standardize":  # the statistics of values near the limit: the scaled fit's
        assert kinds == []
        small = SoftmaxRegression(standardize=True).fit(Z, y)
        np.testing.assert_allclose(est.predict_proba(X), small.predict_proba(Z), atol=1e-12)
        np.testing.assert_allclose(est.coef_ * 2.0**1017, small.coef_, rtol=1e-12)
    elif kind == "sgd":
        assert kinds == []
    else:
        assert kinds == ["ConvergenceWarning"]


def test_torch_and_numpy_agree():
    need("torch")
    X, y = _data()
    a = _fit(X, y).fit(X, y)
    b = _fit(X, y, framework="torch").fit(X, y)
    assert abs(a.objective_ - b.objective_) < 1e-9 * a.objective_
    assert np.abs(a.coef_ - b.coef_).max() < 1e-5


@pytest.mark.cuda
def test_cuda_agrees_with_numpy():
    torch = need("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    X, y = _data()
    a = _fit(X, y).fit(X.astype(np.float32), y)
    b = _fit(X, y, framework="torch", device="cuda").fit(X.astype(np.float32), y)
    assert abs(a.objective_ - b.objective_) < 1e-6 * a.objective_
    assert np.abs(a.coef_ - b.coef_).max() < 1e-4


@pytest.mark.parametrize("spread", [1.0, 1e5], ids=["like columns", "one column x 1e5"])
def test_centred_coordinates_are_an_exact_change_of_variables(spread):
    from softreg.estimator import metric, prepare

    X, y = _data()
    X = X + 3.0  # columns far from zero mean
    X[:, 1] *= spread  # a column in other units: its weights are scaled too
    prob = prepare.problem(X, y, np.ones((2, len(y))), np.array([0.5, 2.0]), 3, False)
    coords = metric.centred(prob)
    assert np.allclose(coords.shift, X.mean(axis=0))
    if spread == 1.0:
        assert coords.scale is None
    else:  # (models, features): that column's weights, by its curvature over the others'
        assert coords.scale.shape == (2, X.shape[1])
        assert np.all(coords.scale[:, 1] > 1e4) and np.all(coords.scale[:, [0, 2]] < 10)
    fun, idx = prepare.objective(prob, "numpy", "cpu"), np.arange(2)
    rng = np.random.default_rng(2)
    phi = rng.normal(size=(2, prob.size))
    theta = coords.to_model(phi, idx)
    assert np.allclose(coords.to_phi(theta, idx), phi)
    f, g = fun(theta, idx)
    fp, gp, gmax = coords.wrap(fun)(phi, idx)
    assert np.array_equal(f, fp)  # the same objective at the same model
    assert np.array_equal(gmax, np.abs(g).max(axis=1))  # tol is on the model's gradient
    step = 1e-6 * rng.normal(size=phi.shape)  # the pulled-back gradient is phi's gradient
    f2, _, _ = coords.wrap(fun)(phi + step, idx)
    assert np.allclose(f2 - fp, np.einsum("kp,kp->k", gp, step), rtol=1e-4, atol=1e-12)


def test_a_column_in_large_units_reaches_the_optimum():
    """A price in dollars beside measurements near 1: the objective's curvature along that
    column's weights is 1e11 times the others', and L-BFGS stopped at max_iter with accuracy
    0.67 (scikit-learn's lbfgs: 0.97); in scaled coordinates (metric.feature_scale) it reaches
    the optimum that scipy finds when told the scale."""
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    X, y = load_iris(return_X_y=True)
    X[:, 2] *= 3e5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m = SoftmaxRegression(tol=1e-8, max_iter=2000).fit(X, y)
        cv = SoftmaxRegressionCV(Cs=4, cv=3, max_iter=1000).fit(X, y)
    _, _, fun = _reference(X, y, 1.0, np.ones(len(y)))
    d, c = X.shape[1], 3
    scale = np.ones((d + 1, c))  # scipy's own coordinates, told the column's scale
    scale[2] = 3e5

    def scaled(phi):
        f, g = fun(phi / scale.ravel())
        return f, g / scale.ravel()

    ref = minimize(scaled, np.zeros((d + 1) * c), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10000})
    f = fun(np.concatenate([m._W.ravel(), m._b]))[0]
    assert abs(f - ref.fun) <= 1e-7 * ref.fun
    # (the weights themselves are not compared: along that column the objective is almost
    # flat, nearly unpenalised, and two points within 1e-7 of its optimum differ by 6% there)
    assert m.score(X, y) >= 0.96 and cv.score(X, y) >= 0.95


def test_centring_needs_fewer_evaluations_to_the_same_optimum():
    from softreg.estimator import prepare

    X, y = _data(n=400, d=8)
    X = X + 4.0
    prob = prepare.problem(X, y, np.ones((1, len(y))), np.array([1.0]), 3, False)
    runs = {c: prepare.minimize(prob, np.zeros((1, prob.size)), "numpy", "cpu", tol=1e-8,
                                max_iter=5000, centre=c) for c in (False, True)}
    assert abs(runs[True].f[0] - runs[False].f[0]) <= 1e-9 * runs[False].f[0]
    assert runs[True].n_evals < runs[False].n_evals


def test_row_blocks_group_runs_and_skip_unweighted_rows():
    from softreg.estimator.objective import row_blocks

    w = np.array([[1, 1, 0, 0, 0, 2, 2],
                  [0, 0, 3, 3, 0, 1, 1]], dtype=float)
    got = [(s, e, list(m)) for s, e, m in row_blocks(w)]
    assert got == [(0, 2, [0]), (2, 4, [1]), (5, 7, [0, 1])]  # row 4 is nobody's
    alternating = np.tile([[1.0, 0.0], [0.0, 1.0]], 40)  # 80 runs: one block of everything
    [(s, e, m)] = row_blocks(alternating, max_blocks=64)
    assert (s, e, list(m)) == (0, 80, [0, 1])


@pytest.mark.parametrize("layout", ["split", "merged"])
@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_cross_validation_pack_objective_equals_each_model_alone(monkeypatch, framework, layout,
                                                                 kernels):
    """The CV pack's rows grouped by fold (each block multiplied by its own models only), or
    as one block of every row and model (split_pays: a small problem), give every model the
    objective and gradient written out independently for its training rows."""
    if framework == "torch":
        need("torch")
    from sklearn.model_selection import KFold

    from softreg.estimator import objective, prepare
    from softreg.estimator.folds import grouped

    monkeypatch.setattr(objective, "BLOCK_COST", 0 if layout == "split" else 1 << 60)
    compiled = _kernels(monkeypatch, kernels, framework)

    X, y = _data(n=120)
    Cs = np.array([0.1, 1.0, 10.0])
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    masks = np.zeros((len(folds) * len(Cs), len(y)))
    for f, (train, _) in enumerate(folds):
        masks[f * len(Cs):(f + 1) * len(Cs), train] = 1.0
    order = grouped(masks)
    assert order is not None
    prob = prepare.problem(X[order], y[order], masks[:, order], np.tile(Cs, len(folds)), 3,
                           False)
    fun = _objective(prob, framework, compiled)
    if not compiled:  # one block a fold, each of the other folds' models; or one of everything
        assert len(fun.blocks) == (len(folds) if layout == "split" else 1)
    theta = np.random.default_rng(3).normal(size=(len(masks), prob.size))
    some = np.array([0, 4, 5, 11])  # a subset, as when models have left the pack
    f, g = fun(theta[some], some)
    for i, k in enumerate(some):
        f_ref, g_ref = _reference(X, y, np.tile(Cs, len(folds))[k], masks[k])[2](theta[k])
        assert np.isclose(f[i], f_ref, rtol=1e-12)
        assert np.allclose(g[i], g_ref, rtol=1e-10, atol=1e-12)


def test_row_blocks_are_split_only_where_the_work_saved_pays_for_the_blocks():
    """5-fold CV packs of 10 Cs: five blocks for digits' shape (1797 x 64, 10 classes), whose
    held-out rows' logits are more work than four more blocks; one for breast cancer's
    (569 x 30, 2 classes) and iris' (150 x 4, 3 classes)."""
    from softreg.estimator.objective import row_blocks, split_pays

    for n, d, c, split in ((1797, 64, 10, True), (569, 30, 2, False), (150, 4, 3, False)):
        fold = np.arange(n) * 5 // n
        masks = np.repeat([(fold != f).astype(float) for f in range(5)], 10, axis=0)
        runs = row_blocks(masks)
        assert len(runs) == 5
        assert split_pays(runs, n, len(masks), d, c) == split


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_pack_members_end_where_each_model_alone_ends(monkeypatch, kernels):
    """Models leave the pack at different iterations (the state is compacted as they do);
    each ends where its own fit alone ends."""
    from softreg.estimator import prepare

    _kernels(monkeypatch, kernels)
    X, y = _data(n=200)
    Cs = np.array([0.01, 0.1, 1.0, 100.0, 0.03])
    prob = prepare.problem(X, y, np.ones((len(Cs), len(y))), Cs, 3, False)
    pack = prepare.minimize(prob, np.zeros((len(Cs), prob.size)), "numpy", "cpu", tol=1e-9,
                            max_iter=500)
    assert len(set(pack.n_iter)) > 2  # they finished at different times
    for k, C in enumerate(Cs):
        one = prepare.problem(X, y, np.ones((1, len(y))), np.array([C]), 3, False)
        alone = prepare.minimize(one, np.zeros((1, one.size)), "numpy", "cpu", tol=1e-9,
                                 max_iter=500, memory=10)
        assert abs(pack.f[k] - alone.f[0]) <= 1e-10 * alone.f[0]
        assert np.allclose(pack.theta[k], alone.theta[0], atol=1e-5)


def test_memory_pairs_follow_the_model_and_the_pack():
    from softreg.estimator.prepare import memory_pairs

    assert memory_pairs(1, 7850) == 30  # a lone Fashion-MNIST model: as many as help
    assert memory_pairs(50, 7850) == 10  # a CV pack: the pairs would cost more than they save
    assert memory_pairs(1, (2**18 + 1) * 20) == 5  # a wide sparse model: the fewest


def test_pairs_are_float32_for_wide_models_and_packs_on_float32_data_only():
    from softreg.estimator.prepare import WIDE, pair_dtype

    x32, x64 = np.zeros((1, 1), np.float32), np.zeros((1, 1))
    assert pair_dtype(x32, WIDE) == np.float32  # a wide sparse text model
    assert pair_dtype(x32, 7850) == np.float64  # Fashion-MNIST: the pairs are small anyway
    assert pair_dtype(x32, 7850, 50) == np.float32  # a CV pack: read for every model
    assert pair_dtype(x64, WIDE) == np.float64  # float64 data keeps float64 throughout
    assert pair_dtype(x64, 7850, 50) == np.float64


def test_float32_pairs_reach_the_optimum_of_float64_pairs(monkeypatch):
    """A pack on float32 data, its pairs float32 (a pack's are); models finish at different
    iterations, so the pairs are also stored for some models only."""
    from softreg.estimator import lbfgs, prepare

    X, y = _data(n=300)
    X = X.astype(np.float32)
    Cs = np.array([0.05, 1.0, 30.0])
    prob = prepare.problem(X, y, np.ones((len(Cs), len(y))), Cs, 3, False)
    kinds, run = [], lbfgs.minimize
    monkeypatch.setattr(lbfgs, "minimize", lambda *a, **kw: (kinds.append(kw["pairs"]),
                                                             run(*a, **kw))[1])
    fits = {}
    fits[np.float32] = prepare.minimize(prob, np.zeros((len(Cs), prob.size)), "numpy", "cpu",
                                        tol=1e-6, max_iter=1000)
    monkeypatch.setattr(prepare, "pair_dtype", lambda *a: np.float64)
    fits[np.float64] = prepare.minimize(prob, np.zeros((len(Cs), prob.size)), "numpy", "cpu",
                                        tol=1e-6, max_iter=1000)
    assert kinds == [np.float32, np.float64]
    assert len(set(fits[np.float32].n_iter)) > 1  # the pack thinned out on the way
    assert np.all(np.abs(fits[np.float32].f - fits[np.float64].f) <= 1e-6 * fits[np.float64].f)
    assert np.abs(fits[np.float32].theta - fits[np.float64].theta).max() <= 1e-3


@pytest.mark.parametrize("shift", ["block", "row"])
@pytest.mark.parametrize("n_classes", [2, 3, 40])
@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_pack_objective_equals_the_reference_with_few_and_many_classes(monkeypatch, n_classes,
                                                                      shift, kernels):
    """float64 logits shifted by one bound for the block (LOGIT_SPAN), or by each row's max
    (a loop over the classes up to CLASS_LOOP of them, NumPy's reduction beyond), and scaled
    by the rows' weights a class at a time (up to SCALE_LOOP classes) or broadcast: each way
    gives each model of a pack the objective and gradient written out independently."""
    from softreg.estimator import objective, prepare

    assert (n_classes > objective.CLASS_LOOP) == (n_classes == 40)
    compiled = _kernels(monkeypatch, kernels)
    if shift == "row":
        monkeypatch.setattr(objective, "LOGIT_SPAN", -1.0)
    tops, top = [], objective._top
    monkeypatch.setattr(objective, "_top", lambda G, b: (tops.append(top(G, b)), tops[-1])[1])
    X, y = _data(n=300, c=n_classes)
    y = np.arange(len(y)) % n_classes  # every class present
    sw = np.random.default_rng(4).uniform(0.5, 2.0, (2, len(y)))
    Cs = np.array([0.3, 3.0])
    prob = prepare.problem(X, y, sw, Cs, n_classes, False)
    theta = np.random.default_rng(5).normal(size=(2, prob.size))
    f, g = _objective(prob, "numpy", compiled)(theta, np.arange(2))
    assert compiled or (tops and all((t is None) == (shift == "row") for t in tops))
    for k in range(2):  # two classes: the penalty doubled (prepare.penalty), C halved
        f_ref, g_ref = _reference(X, y, Cs[k] / (2 if n_classes == 2 else 1), sw[k])[2](theta[k])
        assert np.isclose(f[k], f_ref, rtol=1e-12)
        assert np.allclose(g[k], g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("offset", ["all classes +700", "one class -1000"])
@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_large_logits_neither_overflow_nor_lose_the_objective(monkeypatch, offset, framework,
                                                              kernels):
    """Logits near 700 (exp overflows float64 beyond 709) span little: numpy's one shift for
    the block keeps them finite. A class 1000 below the others spans more than LOGIT_SPAN:
    each row's own max shifts them (torch shifts each row by its max always, before its one
    ``exp``). Both give the objective and gradient written out with scipy's logsumexp."""
    from softreg.estimator import objective, prepare

    if framework == "torch":
        need("torch")
    compiled = _kernels(monkeypatch, kernels, framework)
    tops, top = [], objective._top
    monkeypatch.setattr(objective, "_top", lambda G, b: (tops.append(top(G, b)), tops[-1])[1])
    X, y = _data(n=200)
    prob = prepare.problem(X, y, np.ones((1, len(y))), np.array([1.0]), 3, False)
    theta = np.random.default_rng(6).normal(size=(1, prob.size))
    if offset == "all classes +700":
        theta[0, -3:] += 700.0
    else:
        theta[0, -1] -= 1000.0
    f, g = _objective(prob, framework, compiled)(theta, np.array([0]))
    if framework == "numpy" and not compiled:
        assert [t is None for t in tops] == [offset == "one class -1000"]
    f_ref, g_ref = _reference(X, y, 1.0, np.ones(len(y)))[2](theta[0])
    assert np.isfinite(f[0]) and np.isclose(f[0], f_ref, rtol=1e-12)
    assert np.allclose(g[0], g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("floor", ["kept", "removed"])
def test_the_gradient_product_meets_no_denormal_numbers(monkeypatch, floor, framework):
    """A confident float32 model's wrong classes have probabilities far below float32's
    smallest normal number; the logits are floored (LOGIT_FLOOR) so that the logits' gradient
    that X.T @ G multiplies holds none (a product meeting them runs several times slower), and
    the objective is the reference's to float32 rounding. Without the floor it holds some.
    numpy: a CSR X (its own product); torch: dense."""
    import scipy.sparse as sp

    from softreg.estimator import objective, prepare

    if framework == "torch":
        need("torch")
    if floor == "removed":
        monkeypatch.setattr(objective, "LOGIT_FLOOR", -np.inf)
    X, y = _data(n=200)
    theta = np.zeros((1, (X.shape[1] + 1) * 3))
    theta[0, : X.shape[1] * 3] = 40.0 * _reference(X, y, 1.0, np.ones(len(y)))[1].ravel()
    seen = []
    if framework == "numpy":
        def product(X, B, out, transpose=False, *args, **kwargs):
            if transpose:
                seen.append(B.copy())
            return objective.sparse.product(X, B, out, transpose, *args, **kwargs)

        monkeypatch.setattr(objective, "sparse_product", product)
        data = sp.csr_matrix(X.astype(np.float32))
    else:
        gradient_product = objective._gradient_product
        monkeypatch.setattr(objective, "_gradient_product", lambda t, G, X: (
            seen.append(G.numpy().copy()), gradient_product(t, G, X))[1])
        data = X.astype(np.float32)
    prob = prepare.problem(data, y, np.ones((1, len(y))), np.array([1.0]), 3, False)
    f, _ = prepare.objective(prob, framework, "cpu")(theta, np.array([0]))
    [G] = seen
    tiny = (G != 0) & (np.abs(G) < np.finfo(np.float32).tiny)
    assert tiny.any() == (floor == "removed")
    assert np.isclose(f[0], _reference(X, y, 1.0, np.ones(len(y)))[2](theta[0])[0], rtol=1e-5)


def _class_sums_case():
    X, y = _data(n=120, c=4)
    y = np.arange(len(y)) % 4
    sw = np.random.default_rng(8).uniform(0.5, 2.0, (3, len(y)))
    sw[1, y == 2] = 0.0  # model 1 sees no row of class 2 (a fold without it)
    s = sw / sw.sum(axis=1, keepdims=True)
    onehot = np.eye(4)[y]  # (n, c)
    return X, y, sw, np.einsum("kn,nd,nc->kdc", s, X, onehot), s @ onehot


@pytest.mark.parametrize("kind", ["float64", "float32", "csr", "torch"])
def test_true_class_sums_are_each_models_weighted_rows_of_each_class(monkeypatch, kind):
    """The true classes' share of the objective (linear in the parameters, subtracted once a
    call) is each model's weighted rows of X summed over each class, on dense float64 and
    float32 X, CSR X and torch, summed over chunks of rows; a class a model weighs no row of
    sums to zero."""
    import scipy.sparse as sp

    from softreg.estimator import objective, prepare

    monkeypatch.setattr(objective, "CLASS_SUM_ROWS", 50)  # 120 rows: three chunks

    X, y, sw, want_M, want_m = _class_sums_case()
    data = {"float32": X.astype(np.float32), "csr": sp.csr_matrix(X)}.get(kind, X)
    prob = prepare.problem(data, y, sw, np.array([0.5, 1.0, 2.0]), 4, False)
    if kind == "torch":
        need("torch")
        fun = prepare.objective(prob, "torch", "cpu")
        M, m = fun.true_rows, fun.true_weights
    else:
        M, m = objective.true_class_sums(prob)
    rtol = 1e-5 if kind == "float32" else 1e-12
    assert np.allclose(M, want_M, rtol=rtol, atol=1e-6) and np.allclose(m, want_m)
    assert not M[1, :, 2].any() and m[1, 2] == 0.0


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_objective_of_a_model_without_a_class_equals_the_reference(framework):
    """A model that weighs no row of one class (a fold without it) gets the objective and
    gradient written out independently, as the others of its pack do."""
    from softreg.estimator import prepare

    if framework == "torch":
        need("torch")
    X, y, sw, _, _ = _class_sums_case()
    Cs = np.array([0.5, 1.0, 2.0])
    prob = prepare.problem(X, y, sw, Cs, 4, False)
    theta = np.random.default_rng(9).normal(size=(3, prob.size))
    f, g = prepare.objective(prob, framework, "cpu")(theta, np.arange(3))
    for k in range(3):
        f_ref, g_ref = _reference(X, y, Cs[k], sw[k])[2](theta[k])
        assert np.isclose(f[k], f_ref, rtol=1e-12)
        assert np.allclose(g[k], g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_every_call_evaluates_every_running_model_of_a_pack(monkeypatch, kernels):
    """A model that backtracks costs the pack no evaluation of its own: each evaluation takes
    one trial of every model still running (a new line search's or a backtracking one's), so
    each model is in an unbroken run of calls from the first until it ends. Here model 1's
    first trials overshoot (it backtracks) while model 0's are taken at once."""
    from softreg.estimator import lbfgs

    _kernels(monkeypatch, kernels)
    scale = np.array([1.0, 400.0])
    seen = []

    def fun(theta, idx, out=None):  # f_k = scale_k / 2 * ||theta||^2 + sum(theta)
        seen.append(idx.copy())
        a = scale[idx][:, None]
        g = a * theta + 1.0
        f = 0.5 * a[:, 0] * np.sum(theta * theta, axis=1) + theta.sum(axis=1)
        if out is not None:
            out[...] = g
            g = out
        return f, g, np.abs(g).max(axis=1)

    res = lbfgs.minimize(fun, np.zeros((2, 3)), tol=1e-10, max_iter=100)
    assert res.converged.all()
    assert np.allclose(res.theta, -1.0 / scale[:, None])
    calls = [set(idx.tolist()) for idx in seen]
    for k in range(2):
        present = [k in c for c in calls]
        last = max(i for i, p in enumerate(present) if p)
        assert all(present[: last + 1])  # never left out while it runs
    counts = [sum(k in c for c in calls) for k in range(2)]
    assert counts[1] > 1 + res.n_iter[1]  # model 1 backtracked...
    assert res.n_evals == len(seen) == max(counts)  # ...in calls model 0 shared


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_fits_stopped_by_max_iter_return_their_last_point(monkeypatch, kernels):
    """Pack members reach max_iter at different evaluations (their line searches backtrack
    differently) and the state is compacted as they stop: each returns the point its
    objective was reported at, not an earlier one."""
    from softreg.estimator import prepare

    _kernels(monkeypatch, kernels)
    X, y = _data(n=300, d=8, c=4)
    X = X * np.linspace(1, 10, 8)  # badly scaled: slow fits, unequal backtracking
    Cs = np.logspace(-2, 4, 8)
    prob = prepare.problem(X, y, np.ones((len(Cs), len(y))), Cs, 4, False)
    res = prepare.minimize(prob, np.zeros((len(Cs), prob.size)), "numpy", "cpu", tol=1e-6,
                           max_iter=25)
    assert not res.converged.any() and (res.n_iter == 25).all()
    f, _ = prepare.objective(prob, "numpy", "cpu")(res.theta, np.arange(len(Cs)))
    assert np.allclose(f, res.f, rtol=1e-12)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_float32_separable_data_keeps_a_true_objective(framework):
    # two far-apart clouds, C large, tol tight: the logits grow large, and float32 rounds them
    # by more than a row's loss; the objective must stay a sum of losses (>= 0) that the fit
    # minimises, not the rounding (it came out negative and the weights ran to 1e5)
    if framework == "torch":
        need("torch")
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(50, 2) - 5, rng.randn(50, 2) + 5]
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    m = SoftmaxRegression(C=1e10, tol=1e-8, framework=framework).fit(X.astype(np.float32), y)
    z = X @ m._W + m._b
    true = (logsumexp(z, axis=1) - z[np.arange(100), y]).mean()
    assert 0.0 <= m.objective_ <= 1e-6 and true <= 1e-6
    assert np.abs(m.coef_).max() < 100


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_a_fit_that_cannot_descend_warns_instead_of_claiming_convergence(framework):
    # iris x 1e15: the first step is 1e15 times too long, and 40 halvings did not reach a
    # decrease: the zero model came back as converged. iris x 1e4 in float32: the objective
    # stalls in float32's rounding with the gradient far above tol: it was called converged
    # (x 1000 stalled too until the intercepts' gradient lost its rounding along the common
    # shift of all intercepts, see test_float32_intercepts_do_not_drift: it converges now)
    if framework == "torch":
        need("torch")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning):  # max_iter now (the problem is that badly scaled)
        m = SoftmaxRegression(framework=framework, max_iter=30).fit(X * 1e15, y)
    assert m.n_iter_[0] == 30 and m.score(X * 1e15, y) > 0.5
    if framework == "numpy":
        with pytest.warns(ConvergenceWarning, match="could not lower the objective any "
                          r"further .* scale X \(standardize=True or a StandardScaler\), or fit "
                          "float64 X"):
            SoftmaxRegression(framework=framework).fit((X * 1e4).astype(np.float32), y)
    # a well-scaled float32 fit still converges without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SoftmaxRegression(framework=framework).fit(((X - X.mean(0)) / X.std(0))
                                                   .astype(np.float32), y)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_float32_intercepts_do_not_drift(framework):
    # Adding a number to every intercept, or a vector to every class's weights, changes no
    # probability: the objective is flat (or has only the penalty's curvature) along those
    # directions, and float32's rounding of each row's probabilities (which sum to 1 only
    # within it) gave the gradient a small part along them. L-BFGS followed it: to intercepts
    # of -2051 (numpy), whose logits lost 1e-4 each to float32, the fit stopping at a reported
    # objective 2e-5 below the true optimum, its coefficients 1.5e-3 from it; on features far
    # from zero, through the centred coordinates (b = b' - m @ W), to intercepts 4-8 from the
    # optimum's; and on iris x 1000 (numpy) to a stall at an objective of 0.284 (0.0397).
    if framework == "torch":
        need("torch")
    X, y = _data()
    exact = _fit(X, y).fit(X, y)
    m = _fit(X, y, framework=framework).fit(X.astype(np.float32), y)
    assert np.abs(m.intercept_ - exact.intercept_).max() < 1e-4
    assert np.abs(m.coef_ - exact.coef_).max() < 1e-4
    assert abs(m.objective_ - exact.objective_) < 1e-6 * exact.objective_
    X = X + 20.0  # the weights' common direction, seen through the centring
    exact = SoftmaxRegression(C=1e3, tol=1e-9, max_iter=5000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # float32 cannot show tol=1e-9
        m = SoftmaxRegression(C=1e3, tol=1e-9, framework=framework).fit(X.astype(np.float32), y)
    # float32 weights within 1e-4, times features of 20: intercepts within about 1e-2
    assert np.abs(m.intercept_ - exact.intercept_).max() < 0.05
    assert abs(m.objective_ - exact.objective_) < 1e-5 * exact.objective_
    from sklearn.datasets import load_iris

    Xi, yi = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m = SoftmaxRegression(framework=framework).fit((Xi * 1000).astype(np.float32), yi)
    assert m.objective_ < 0.0398  # scikit-learn's optimum: 0.039665


def test_torch_fits_a_read_only_array_without_a_warning():
    # a pandas 3 frame's values, a memmap: torch warned that writes would be undefined (X is
    # only read), which fails a suite that turns warnings into errors
    need("torch")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SoftmaxRegression(framework="torch").fit(X, y)


def test_every_column_in_large_units_keeps_its_curvature_pairs():
    """Iris times 3e5: s.y against 1e-10 y.y (the inverse curvature, about 1e-10 here) kept
    every pair out of L-BFGS's memory; it ran steepest descent to max_iter at accuracy 0.847
    (scikit-learn 0.967). The angle test keeps them, at any scale of the data."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (it may still warn: float64's rounding at 3e5)
        m = SoftmaxRegression(max_iter=1000).fit(X * 3e5, y)
    optimum = SoftmaxRegression(C=9e10).fit(X, y).objective_  # the same problem, unscaled
    assert m.n_iter_[0] < 1000 and m.objective_ <= 1.25 * optimum
    assert m.score(X * 3e5, y) >= 0.96
