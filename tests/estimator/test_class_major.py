"""The class-major pack objective and SoftmaxRegressionCV's float32 first phase: the same
objective as the reference, the same folds' fits within float32's reach, the float64 check and
hand-over, and a refit that is the lone fit at C_."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import need

need("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from softreg.estimator import SoftmaxRegressionCV, lbfgs, prepare  # noqa: E402
from softreg.estimator.folds import grouped  # noqa: E402
from softreg.estimator.objective import NumpyObjective  # noqa: E402
from softreg.estimator.pack import ClassMajorObjective  # noqa: E402


def _data(n=240, d=5, c=3, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * scale
    y = np.argmax(X @ rng.normal(size=(d, c)) / scale * 2 + rng.normal(size=(n, c)), axis=1)
    return X, y


def _cv_problem(X, y, Cs, folds=3, standardize=False):
    """A CV pack's problem as SoftmaxRegressionCV makes it: rows sorted by fold."""
    splits = list(StratifiedKFold(folds).split(X, y))
    masks = np.zeros((folds * len(Cs), len(y)))
    for f, (train, _) in enumerate(splits):
        masks[f * len(Cs):(f + 1) * len(Cs), train] = 1.0
    order = grouped(masks)
    return prepare.problem(X[order], y[order].astype(np.intp), masks[:, order],
                           np.tile(Cs, folds), int(y.max()) + 1, standardize)


@pytest.mark.parametrize("n_classes", [2, 3, 40])
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("blocks", ["split", "merged"])
def test_class_major_objective_equals_the_reference(monkeypatch, n_classes, standardize,
                                                    blocks):
    """Every model, some of them, and one: float64 to rounding, float32 to float32's; the
    rows in one block a fold, or in one block of every row."""
    from softreg.estimator import pack

    monkeypatch.setattr(pack, "BLOCK_COST", 0 if blocks == "split" else 10**15)
    X, y = _data(n=400, d=7, c=n_classes, seed=n_classes)
    X += 3.0  # far from zero: the intercepts' column of ones matters
    prob = _cv_problem(X, y, np.array([0.01, 1.0, 100.0]), standardize=standardize)
    reference = NumpyObjective(prob)
    theta = np.random.default_rng(1).normal(0, 0.5, (len(prob.weights), prob.size))
    K = len(prob.weights)
    for active in (np.arange(K), np.array([1, 4, 8]), np.array([5])):
        f0, g0 = reference(theta[active], active)
        for dtype, rel, grad in ((np.float64, 1e-12, 1e-12), (np.float32, 1e-5, 1e-5)):
            fun = ClassMajorObjective(prob, dtype)
            out = np.empty_like(g0)
            f1, g1 = fun(theta[active], active, out)
            assert g1 is out
            assert np.allclose(f1, f0, rtol=rel, atol=0)
            assert np.abs(g1 - g0).max() <= grad * max(1.0, np.abs(g0).max())
    assert len(ClassMajorObjective(prob).plan(np.arange(K))) == (3 if blocks == "split" else 1)


def test_class_major_objective_keeps_each_row_loss_from_its_own_logits():
    """Logits of 1e5 in float32: each row's loss is taken from its own shifted logits, so the
    objective stays at least 0 and equals float64's to float32's rounding of a row's loss."""
    X, y = _data(n=120, d=4, c=3)
    prob = _cv_problem(X, y, np.array([1.0, 10.0]))
    theta = np.random.default_rng(2).normal(0, 3e4, (len(prob.weights), prob.size))
    every = np.arange(len(prob.weights))
    f64, _ = NumpyObjective(prob)(theta, every)
    f32, g32 = ClassMajorObjective(prob, np.float32)(theta, every)
    penalty = 0.5 * prob.alpha * np.sum(theta[:, :-3] ** 2, axis=1)
    assert np.all(f32 - penalty >= 0)
    assert np.all(np.isfinite(g32))
    assert np.allclose(f32 - penalty, f64 - penalty, rtol=1e-3)


def _objectives(cv_est, X, y, folds, final=False):
    """Each fold's fitted objective at each C, (folds, Cs), in float64: scikit-learn's mean
    cross-entropy of the fold's training rows plus ||W||^2 / (2 C n); ``final``: the final
    model's at C_ instead, (1, 1)."""
    paths = cv_est.coefs_paths_[:, 0]
    Cs = cv_est.Cs_
    if final:
        paths = np.concatenate([cv_est.coef_, cv_est.intercept_[:, None]], axis=1)[None, None]
        Cs = [cv_est.C_]
    out = np.zeros(paths.shape[:2])
    for f, (train, _) in enumerate(folds):
        for j, C in enumerate(Cs):
            W, b = paths[f, j, :, :-1], paths[f, j, :, -1]
            Z = X[train] @ W.T + b
            Z -= Z.max(axis=1, keepdims=True)
            lse = np.log(np.exp(Z).sum(axis=1))
            ce = np.mean(lse - Z[np.arange(len(train)), y[train]])
            out[f, j] = ce + 0.5 * np.sum(W**2) / (C * len(train))
    return out


def test_rough_cv_fits_match_the_float64_fits(monkeypatch):
    """The folds' fits with a float32 first phase and without: the same scores and C, the same
    objectives to within what tol leaves, and final models within what tol leaves (the refit
    starts from zero after a first phase, from the folds' mean without one)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16.0, y[:600]
    kinds = []
    made = prepare.objective
    monkeypatch.setattr(prepare, "objective",
                        lambda *a, **kw: kinds.append(kw.get("rough", False)) or made(*a, **kw))
    rough = SoftmaxRegressionCV(Cs=6, cv=3, tol=1e-5, max_iter=500).fit(X, y)
    assert kinds[0] is True  # the first phase ran
    kinds.clear()
    monkeypatch.setattr(prepare, "rough_pays", lambda prob, framework, tol: False)
    exact = SoftmaxRegressionCV(Cs=6, cv=3, tol=1e-5, max_iter=500).fit(X, y)
    assert True not in kinds
    assert rough.C_ == exact.C_
    assert np.array_equal(rough.scores_, exact.scores_)
    folds = list(StratifiedKFold(3).split(X, y))
    f_rough, f_exact = _objectives(rough, X, y, folds), _objectives(exact, X, y, folds)
    assert np.abs(f_rough - f_exact).max() <= 1e-7  # tol=1e-5 leaves about this much
    small = rough.Cs_ <= 1.0  # well conditioned: the coefficients agree too
    assert np.abs(rough.coefs_paths_[:, :, small] - exact.coefs_paths_[:, :, small]).max() \
        <= 1e-4
    every = [(np.arange(len(y)), None)]  # the final models' objective on all the rows
    f_final = [_objectives(m, X, y, every, final=True)[0, 0] for m in (rough, exact)]
    assert abs(f_final[0] - f_final[1]) <= 1e-6  # two starts, each stopped at tol
    assert np.abs(rough.predict_proba(X) - exact.predict_proba(X)).max() <= 1e-3


def test_a_tol_below_float32s_reach_fits_in_float64_from_the_start():
    X, y = _data(n=300, d=6, c=3, seed=3)
    X += 2.0
    prob = _cv_problem(X, y, np.array([0.1, 1.0, 10.0]))
    K = len(prob.weights)
    assert prepare.rough_pays(prob, "numpy", 1e-4)
    assert not prepare.rough_pays(prob, "numpy", 1e-6)
    fits = [prepare.minimize(prob, np.zeros((K, prob.size)), "numpy", "cpu", tol=1e-6,
                             max_iter=1000, rough=rough) for rough in (True, False)]
    assert np.array_equal(fits[0].theta, fits[1].theta)
    assert np.array_equal(fits[0].n_iter, fits[1].n_iter)


def test_fits_the_float64_check_finds_above_tol_go_on_in_float64(monkeypatch):
    """A first phase that ends at the wrong point (its gradient off by 1e-3 in one entry):
    the float64 check finds every fit above tol, and they go on in float64 to the optimum;
    both phases' iterations are counted, within max_iter."""
    from softreg.estimator import pack

    X, y = _data(n=300, d=6, c=3, seed=3)
    prob = _cv_problem(X, y, np.array([0.1, 1.0, 10.0]))
    K = len(prob.weights)

    class Off(pack.ClassMajorObjective):
        def __call__(self, theta, active, out=None):
            f, g = super().__call__(theta, active, out)
            g[:, 0] += 1e-3
            return f, g

    made = prepare.objective
    monkeypatch.setattr(prepare, "objective", lambda prob, fw, dev, rough=False, true=None:
                        Off(prob, np.float32, true) if rough else made(prob, fw, dev))
    runs, minimize = [], lbfgs.minimize

    def counted(*a, **kw):
        out = minimize(*a, **kw)
        runs.append((kw["pairs"], out.n_iter.copy()))  # as it came back (updated later)
        return out

    monkeypatch.setattr(lbfgs, "minimize", counted)
    res = prepare.minimize(prob, np.zeros((K, prob.size)), "numpy", "cpu", tol=1e-5,
                           max_iter=1000, rough=True)
    # the first phase, then every fit on in float64; each fit's iterations are both phases'
    assert [kind for kind, _ in runs] == [np.float32, np.float64]
    assert np.array_equal(res.n_iter, runs[0][1] + runs[1][1])
    assert res.converged.all() and not res.lost.any()
    monkeypatch.setattr(lbfgs, "minimize", minimize)
    # at the optimum, as a float64 fit is: both within 1e-7 of it (tol 1e-5 allows some 2e-6
    # here: max|g|^2 p / (2 alpha), alpha = 1 / (C n) at C = 10; measured about 7e-9)
    optimum = prepare.minimize(prob, np.zeros((K, prob.size)), "numpy", "cpu", tol=1e-10,
                               max_iter=1000).f
    alone = prepare.minimize(prob, np.zeros((K, prob.size)), "numpy", "cpu", tol=1e-5,
                             max_iter=1000)
    assert np.all(res.f - optimum <= 1e-7) and np.all(alone.f - optimum <= 1e-7)


def test_the_hand_over_keeps_to_max_iter_and_warns(monkeypatch):
    """A fit that spends its iterations in the first phase has none left for float64: it stops,
    not converged, and SoftmaxRegressionCV warns once."""
    X, y = _data(n=300, d=6, c=3, seed=4)
    phases = []
    minimize = lbfgs.minimize
    monkeypatch.setattr(lbfgs, "minimize", lambda *a, **kw: phases.append(kw["pairs"])
                        or minimize(*a, **kw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cv_est = SoftmaxRegressionCV(Cs=3, cv=3, max_iter=4).fit(X, y)
    assert phases == [np.float32, np.float64]  # the folds' first phase, then the refit
    assert cv_est.n_iter_.max() == 4
    assert sum(issubclass(w.category, ConvergenceWarning) for w in caught) == 1


def test_rough_phase_only_where_it_pays():
    from scipy import sparse

    X, y = _data()
    codes = y.astype(np.intp)
    pack = prepare.problem(X, codes, np.ones((3, len(y))), np.ones(3), 3, False)
    assert prepare.rough_pays(pack, "numpy", 1e-4)
    assert not prepare.rough_pays(pack, "torch", 1e-4)  # torch keeps its own dtype
    lone = prepare.problem(X, codes, np.ones((1, len(y))), np.ones(1), 3, False)
    assert not prepare.rough_pays(lone, "numpy", 1e-4)  # a lone fit is the exact one
    for other in (X.astype(np.float32), sparse.csr_matrix(X), X * 1e3, X * 1e300):
        prob = prepare.problem(other, codes, np.ones((3, len(y))), np.ones(3), 3, False)
        assert not prepare.rough_pays(prob, "numpy", 1e-4)
    # beyond float32's range, or all denormal there, even where standardising scales it
    for other, standardize in ((X * 1e35, True), (X * 1e-42, True), (X * 1e-42, False)):
        prob = prepare.problem(other, codes, np.ones((3, len(y))), np.ones(3), 3, standardize)
        assert not prepare.rough_pays(prob, "numpy", 1e-4)
    # far from zero for its spread: standardising scales the rounding up by 1 / sd
    far = prepare.problem(X * 0.01 + 1.0, codes, np.ones((3, len(y))), np.ones(3), 3, True)
    assert far.offset is None  # 100 spreads from zero: folded, not shifted
    assert not prepare.rough_pays(far, "numpy", 1e-4)
    assert prepare.rough_pays(prepare.problem(X * 0.01 + 10.0, codes, np.ones((3, len(y))),
                                              np.ones(3), 3, False), "numpy", 1e-4)
    # 1,000 spreads from zero: fitted shifted (prepare.shifted), its float32 copy as near zero
    shifted = prepare.problem(X * 0.01 + 10.0, codes, np.ones((3, len(y))), np.ones(3), 3, True)
    assert shifted.offset is not None and prepare.rough_pays(shifted, "numpy", 1e-4)


def test_pairs_are_float32_for_packs_on_float32_data():
    x32, x64 = np.zeros((1, 1), np.float32), np.zeros((1, 1))
    assert prepare.pair_dtype(x32, 7850, 50) == np.float32  # a CV pack
    assert prepare.pair_dtype(x32, 7850, 1) == np.float64  # a lone model
    assert prepare.pair_dtype(x64, 7850, 50) == np.float64


def test_max_iter_may_differ_by_model():
    X, y = _data(n=200, d=4, c=3, seed=6)
    prob = prepare.problem(X, y.astype(np.intp), np.ones((3, len(y))),
                           np.array([1.0, 1.0, 1.0]), 3, False)
    fun = prepare.objective(prob, "numpy", "cpu")

    def evaluate(theta, idx, out=None):
        f, g = fun(theta, idx) if out is None else fun(theta, idx, out)
        return f, g, np.abs(g).max(axis=1)

    res = lbfgs.minimize(evaluate, np.zeros((3, prob.size)), tol=1e-8,
                         max_iter=np.array([2, 5, 1000]))
    assert res.n_iter.tolist()[:2] == [2, 5]
    assert not res.converged[:2].any() and res.converged[2]


def test_integer_weights_equal_repeated_rows_after_a_first_phase():
    """The float32 phase's rounding differs between weighted and repeated rows: the chosen C
    and the scores are the same, and the final models agree to what tol leaves (the refit
    starts from the folds' mean, which carries that rounding)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:500] / 16.0, y[:500]
    sw = np.random.default_rng(7).integers(0, 4, len(y))
    fold = np.arange(len(y)) % 3
    rows = np.repeat(np.arange(len(y)), sw)

    def splits(of):
        return [(np.flatnonzero(of != f), np.flatnonzero(of == f)) for f in range(3)]

    kinds = []
    made = prepare.objective
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prepare, "objective", lambda *a, **kw: kinds.append(kw.get("rough", False))
                   or made(*a, **kw))
        weighted = SoftmaxRegressionCV(Cs=5, cv=splits(fold)).fit(X, y, sample_weight=sw)
        repeated = SoftmaxRegressionCV(Cs=5, cv=splits(fold[rows])).fit(X[rows], y[rows])
    assert kinds.count(True) == 2  # both took the first phase
    assert weighted.C_ == repeated.C_
    assert np.allclose(weighted.scores_, repeated.scores_, rtol=0, atol=1e-12)
    assert np.abs(weighted.predict_proba(X) - repeated.predict_proba(X)).max() <= 1e-3


def test_numpy_on_a_gpu_is_refused_before_anything_is_fitted():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError,
                       match="framework='numpy' runs on device='cpu' \\(or 'auto'\\) only"):
        SoftmaxRegressionCV(Cs=3, cv=3, device="cuda", refit=False).fit(X / 16.0, y)


def test_blocks_beyond_the_index_size_take_the_true_logits_along_the_class_axis(monkeypatch):
    from softreg.estimator import pack

    X, y = _data(n=400, d=7, c=5, seed=9)
    prob = _cv_problem(X, y, np.array([0.01, 1.0, 100.0]))
    theta = np.random.default_rng(3).normal(0, 0.5, (len(prob.weights), prob.size))
    every = np.arange(len(prob.weights))
    kept = ClassMajorObjective(prob, np.float32)(theta, every)
    monkeypatch.setattr(pack, "INDEX_SIZE", 1)
    fun = ClassMajorObjective(prob, np.float32)
    taken = fun(theta, every)
    assert not fun._index  # no index kept
    assert np.array_equal(kept[0], taken[0]) and np.array_equal(kept[1], taken[1])

