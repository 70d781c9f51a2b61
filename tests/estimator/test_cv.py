"""SoftmaxRegressionCV's folds, scores and messages against LogisticRegressionCV's behaviour:
sample weights in the held-out scores, repeated rows, scorers' labels, groups, odd splits."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from conftest import need

need("sklearn")

import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegressionCV  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    brier_score_loss,
    get_scorer,
    log_loss,
    precision_score,
)
from sklearn.model_selection import GroupKFold, StratifiedKFold  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV, prepare  # noqa: E402


def _data(n=240, d=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ rng.normal(size=(d, c)) * 2 + rng.normal(size=(n, c)), axis=1)
    return X, y


def _fold_models(cv_est, X):
    """Each fold's fitted model at each C, from coefs_paths_: {(fold, j): SoftmaxRegression}."""
    paths = cv_est.coefs_paths_[:, 0]  # (folds, Cs, rows, d + 1)
    models = {}
    for f in range(paths.shape[0]):
        for j in range(paths.shape[1]):
            P = paths[f, j]
            W, b = P[:, :-1].T, P[:, -1]
            if len(cv_est.classes_) == 2:  # one row: the second class's margin
                W, b = np.c_[np.zeros(X.shape[1]), W[:, 0]], np.r_[0.0, b[0]]
            m = SoftmaxRegression()
            m.classes_, m.n_features_in_ = cv_est.classes_, X.shape[1]
            m._set_model(W, b)
            models[f, j] = m
    return models


def _no_fit(*args, **kwargs):
    raise AssertionError("fitted before the input was checked")


def _lrcv(**kw):
    """LogisticRegressionCV as SoftmaxRegressionCV is (L2, scikit-learn 1.10's attributes)."""
    return LogisticRegressionCV(l1_ratios=(0.0,), use_legacy_attributes=False, **kw)


# 1. sample_weight in the held-out scores

def test_accuracy_of_each_fold_weighs_its_test_rows_by_sample_weight():
    X, y = _data()
    sw = np.random.default_rng(1).choice([0.1, 1.0, 10.0], size=len(y))
    cv_est = SoftmaxRegressionCV(Cs=4, cv=3, tol=1e-6, max_iter=500).fit(X, y, sample_weight=sw)
    folds = list(StratifiedKFold(3).split(X, y))
    models = _fold_models(cv_est, X)
    for (f, j), m in models.items():
        test = folds[f][1]
        expected = accuracy_score(y[test], m.predict(X[test]), sample_weight=sw[test])
        assert cv_est.scores_[f, 0, j] == pytest.approx(expected)


def test_scorer_of_each_fold_gets_the_test_rows_sample_weight_but_not_the_class_weight():
    X, y = _data()
    sw = np.random.default_rng(1).choice([0.1, 1.0, 10.0], size=len(y))
    cv_est = SoftmaxRegressionCV(Cs=3, cv=3, scoring="neg_log_loss", tol=1e-6, max_iter=500,
                                 class_weight="balanced").fit(X, y, sample_weight=sw)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(cv_est, X).items():
        test = folds[f][1]
        expected = -log_loss(y[test], m.predict_proba(X[test]), sample_weight=sw[test])
        assert cv_est.scores_[f, 0, j] == pytest.approx(expected, rel=1e-6)


def test_class_weight_alone_leaves_the_held_out_accuracy_unweighted():
    X, y = _data()
    cv_est = SoftmaxRegressionCV(Cs=3, cv=3, class_weight={0: 10.0}).fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(cv_est, X).items():
        test = folds[f][1]
        assert cv_est.scores_[f, 0, j] == pytest.approx(np.mean(m.predict(X[test]) == y[test]))


def test_weighted_fold_scores_choose_the_c_logistic_regression_cv_chooses():
    X, y = _data(n=300, seed=3)
    sw = np.random.RandomState(2).choice([0.1, 1.0, 10.0], size=len(y))
    kw = {"Cs": [1e-3, 1e-2, 1e-1, 1.0], "cv": 3, "tol": 1e-7, "max_iter": 1000,
          "scoring": "neg_log_loss"}
    ours = SoftmaxRegressionCV(**kw).fit(X, y, sample_weight=sw)
    theirs = _lrcv(**kw).fit(X, y, sample_weight=sw)
    assert np.allclose(ours.scores_, theirs.scores_, atol=1e-5)
    assert ours.C_ == theirs.C_


def test_a_scoring_callable_without_sample_weight_is_refused_before_fitting(monkeypatch):
    X, y = _data()

    def plain(est, X, y):
        return accuracy_score(y, est.predict(X))

    def weighted(est, X, y, sample_weight=None):
        seen.append(sample_weight)
        return accuracy_score(y, est.predict(X), sample_weight=sample_weight)

    seen: list = []
    sw = np.linspace(0.5, 2.0, len(y))
    SoftmaxRegressionCV(Cs=2, cv=3, scoring=weighted).fit(X, y, sample_weight=sw)
    test = next(iter(StratifiedKFold(3).split(X, y)))[1]
    assert np.array_equal(seen[0], sw[test])
    SoftmaxRegressionCV(Cs=2, cv=3, scoring=plain).fit(X, y)  # no weights: nothing to give it
    monkeypatch.setattr(prepare, "minimize", _no_fit)
    with pytest.raises(ValueError, match=r"scoring=<function .*plain.*> takes no sample_weight, "
                       "and the held-out rows are scored with their sample_weight"):
        SoftmaxRegressionCV(Cs=2, cv=3, scoring=plain).fit(X, y, sample_weight=sw)


def test_a_test_fold_whose_weights_are_all_zero_is_refused():
    X, y = _data()
    sw = np.ones(len(y))
    sw[200:] = 0.0
    cv = [(np.arange(200), np.arange(200, 240))]
    with pytest.raises(ValueError, match="split 0's test rows all have sample_weight 0: "
                       "there is nothing to score"):
        SoftmaxRegressionCV(Cs=2, cv=cv).fit(X, y, sample_weight=sw)


# 2. repeated rows in a split

def test_a_training_row_listed_twice_weighs_twice_as_in_the_fit_on_x_train():
    X, y = _data()
    n = len(y)
    train = np.r_[0:n, 0:80, 0:80]  # rows 0..79 three times
    sw = np.linspace(0.5, 2.0, n)
    cv_est = SoftmaxRegressionCV(Cs=[1.0], cv=[(train, np.arange(n))], tol=1e-8,
                                 max_iter=1000).fit(X, y, sample_weight=sw)
    alone = SoftmaxRegression(C=1.0, tol=1e-8, max_iter=1000).fit(X[train], y[train], sw[train])
    P = cv_est.coefs_paths_[0, 0, 0]
    assert np.abs(P[:, :-1] - alone.coef_).max() < 1e-5
    assert np.abs(P[:, -1] - alone.intercept_).max() < 1e-5


def test_a_test_row_listed_twice_counts_twice_with_its_weight():
    X, y = _data()
    test = np.r_[160:240, 160:200]
    sw = np.linspace(0.5, 2.0, len(y))
    cv_est = SoftmaxRegressionCV(Cs=[0.01, 1.0], cv=[(np.arange(160), test)]).fit(
        X, y, sample_weight=sw)
    for (_, j), m in _fold_models(cv_est, X).items():
        expected = accuracy_score(y[test], m.predict(X[test]), sample_weight=sw[test])
        assert cv_est.scores_[0, 0, j] == pytest.approx(expected)


# 3. and 6. scorers' labels and positive class

@pytest.mark.parametrize("labels", [(1, 2), ("benign", "malignant")])
def test_binary_precision_scores_the_last_class_as_logistic_regression_cv(labels):
    X, y01 = _data(c=2, seed=4)
    y = np.where(y01 == 1, labels[1], labels[0])
    kw = {"Cs": [1e-3, 1e-2, 1e-1, 1.0], "cv": 3, "tol": 1e-8, "max_iter": 1000,
          "scoring": "precision"}
    cv_est = SoftmaxRegressionCV(**kw).fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(cv_est, X).items():
        test = folds[f][1]
        expected = precision_score(y[test], m.predict(X[test]), pos_label=labels[1])
        assert cv_est.scores_[f, 0, j] == pytest.approx(expected)
    theirs = _lrcv(**kw).fit(X, y)
    assert np.allclose(cv_est.scores_, theirs.scores_, atol=1e-9)


def test_average_precision_of_string_labels_ranks_the_last_class():
    # LogisticRegressionCV gives pos_label only to score functions that also take labels, and
    # fails here ("pos_label=1 is not a valid label")
    from sklearn.metrics import average_precision_score

    X, y01 = _data(c=2, seed=4)
    y = np.where(y01 == 1, "malignant", "benign")
    cv_est = SoftmaxRegressionCV(Cs=3, cv=3, scoring="average_precision").fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(cv_est, X).items():
        test = folds[f][1]
        expected = average_precision_score(y[test], m.decision_function(X[test]),
                                           pos_label="malignant")
        assert cv_est.scores_[f, 0, j] == pytest.approx(expected)


def test_a_scorers_own_pos_label_is_kept():
    from sklearn.metrics import make_scorer

    X, y = _data(c=2, seed=4)
    y = y + 1
    scorer = make_scorer(precision_score, pos_label=1, zero_division=0.0)
    cv_est = SoftmaxRegressionCV(Cs=2, cv=3, scoring=scorer).fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(cv_est, X).items():
        test = folds[f][1]
        expected = precision_score(y[test], m.predict(X[test]), pos_label=1, zero_division=0.0)
        assert cv_est.scores_[f, 0, j] == pytest.approx(expected)


@pytest.mark.parametrize("scoring", ["neg_log_loss", "neg_brier_score"])
def test_probability_scores_of_a_fold_without_a_class_use_every_class(scoring):
    X, y = _data(n=150)
    rare = np.flatnonzero(y == 2)[:3]  # class 2 has 3 members for 5 folds
    keep = np.r_[np.flatnonzero(y != 2), rare]
    X, y = X[keep], y[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the least populated class ..."
        cv_est = SoftmaxRegressionCV(Cs=3, cv=5, scoring=scoring).fit(X, y)
        folds = list(StratifiedKFold(5).split(X, y))
    assert any(2 not in y[test] for _, test in folds)
    metric = log_loss if scoring == "neg_log_loss" else brier_score_loss
    for (f, j), m in _fold_models(cv_est, X).items():
        test = folds[f][1]
        expected = -metric(y[test], m.predict_proba(X[test]), labels=cv_est.classes_)
        assert cv_est.scores_[f, 0, j] == pytest.approx(expected, rel=1e-9)


# 4. Cs

@pytest.mark.parametrize("Cs", [[np.nan], [np.nan, 1.0], [1.0, -2.0], [0.0], []])
def test_cs_that_are_not_positive_are_refused(Cs):
    X, y = _data()
    with pytest.raises(ValueError, match="Cs must be positive values or a count of them"):
        SoftmaxRegressionCV(Cs=Cs).fit(X, y)


def test_an_infinite_c_is_an_unpenalised_fit_as_in_logistic_regression_cv():
    X, y = _data()
    cv_est = SoftmaxRegressionCV(Cs=[np.inf, 1.0], cv=3).fit(X, y)
    assert np.isinf(cv_est.Cs_[0]) and np.all(np.isfinite(cv_est.coefs_paths_))


# 5. and 11. bad splits

@pytest.mark.parametrize("cv, message", [
    ([(np.arange(240), np.array([], int))] * 2, "cv gave split 0 no test rows; every split "
     "needs rows to score its fits on"),
    ([(np.array([], int), np.arange(240))], "cv gave split 0 no training rows; every split "
     "needs rows to fit on"),
    (iter([]), r"cv=<list_iterator object .*> gave no splits; give a number of folds, a "
     "splitter such as StratifiedKFold, or a list of \\(train, test\\) index pairs \\(a "
     "generator is used up by one fit\\)"),
])
def test_splits_without_rows_are_refused_before_fitting(monkeypatch, cv, message):
    X, y = _data()
    monkeypatch.setattr(prepare, "minimize", _no_fit)
    with pytest.raises(ValueError, match=message):
        SoftmaxRegressionCV(Cs=3, cv=cv).fit(X, y)


def test_a_training_fold_of_zero_weights_names_the_split():
    X, y = _data()
    sw = np.ones(len(y))
    sw[:100] = 0.0
    cv = [(np.arange(100, 240), np.arange(120)), (np.arange(100), np.arange(100, 240))]
    with pytest.raises(ValueError, match=r"split 1's training rows all weigh 0 \(sample_weight "
                       r"times class_weight\); give some of them a positive weight"):
        SoftmaxRegressionCV(Cs=2, cv=cv).fit(X, y, sample_weight=sw)


def test_a_class_weight_key_that_is_no_class_is_named():
    X, y = _data()
    with pytest.raises(ValueError, match=r"class_weight has keys that are not classes of y: "
                       r"\[99\]; its keys must be among the classes \[0, 1, 2\]"):
        SoftmaxRegressionCV(Cs=2, class_weight={0: 2.0, 99: 3.0}).fit(X, y)
    with pytest.raises(ValueError, match=r"class_weight has keys that are not classes of y: "
                       r"\[99\]; its keys must be among the classes \[0, 1, 2\]"):
        SoftmaxRegression(class_weight={0: 2.0, 99: 3.0}).fit(X, y)  # the same check


# 7. groups

def test_groups_reach_a_group_splitter():
    X, y = _data()
    groups = np.arange(len(y)) % 7
    listed = list(GroupKFold(3).split(X, y, groups))
    ours = SoftmaxRegressionCV(Cs=3, cv=GroupKFold(3)).fit(X, y, groups=groups)
    same = SoftmaxRegressionCV(Cs=3, cv=listed).fit(X, y)
    assert np.array_equal(ours.scores_, same.scores_) and ours.C_ == same.C_
    with sklearn.config_context(enable_metadata_routing=True):
        routed = SoftmaxRegressionCV(Cs=3, cv=GroupKFold(3)).fit(X, y, groups=groups)
        theirs = _lrcv(Cs=3, cv=GroupKFold(3), scoring="accuracy").fit(X, y, groups=groups)
    assert np.array_equal(routed.scores_, same.scores_)
    assert np.allclose(routed.scores_, theirs.scores_, atol=0.02)


def test_groups_for_a_splitter_that_ignores_them_or_other_params_are_refused():
    X, y = _data()
    groups = np.arange(len(y)) % 7
    with pytest.raises(ValueError, match=r"groups is given but cv=3 does not split by groups; "
                       r"use a group splitter \(GroupKFold, LeaveOneGroupOut, ...\) or leave "
                       "groups out"):
        SoftmaxRegressionCV(Cs=2, cv=3).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match=r"SoftmaxRegressionCV.fit takes groups \(for a group "
                       r"splitter\) and no other keyword argument, got \['foo'\]; to route "
                       "others to cv and scoring, enable metadata routing"):
        SoftmaxRegressionCV(Cs=2, cv=3).fit(X, y, foo=groups)
    with (sklearn.config_context(enable_metadata_routing=True),
          pytest.raises(TypeError, match=r"unexpected argument\(s\) \{'foo'\}")):
        SoftmaxRegressionCV(Cs=2, cv=3).fit(X, y, foo=groups)


def test_routed_sample_weight_weighs_accuracy_and_a_scorer_that_requests_it():
    X, y = _data()
    sw = np.random.default_rng(1).choice([0.1, 1.0, 10.0], size=len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("accuracy").set_score_request(sample_weight=True)
        routed = SoftmaxRegressionCV(Cs=3, cv=3).fit(X, y, sample_weight=sw)
        requested = SoftmaxRegressionCV(Cs=3, cv=3, scoring=scorer).fit(X, y, sample_weight=sw)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(routed, X).items():
        test = folds[f][1]
        expected = accuracy_score(y[test], m.predict(X[test]), sample_weight=sw[test])
        assert routed.scores_[f, 0, j] == pytest.approx(expected)
        assert requested.scores_[f, 0, j] == pytest.approx(expected)


def test_routing_gives_the_scorer_the_weights_it_requests_under_its_own_name():
    X, y = _data()
    sw = np.random.default_rng(1).choice([0.1, 1.0, 10.0], size=len(y))
    other = np.random.default_rng(2).choice([0.1, 1.0, 10.0], size=len(y))
    by_other = SoftmaxRegressionCV(Cs=3, cv=3).fit(X, y, sample_weight=other)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("accuracy").set_score_request(sample_weight="score_weight")
        routed = SoftmaxRegressionCV(Cs=3, cv=3, scoring=scorer).fit(
            X, y, sample_weight=sw, score_weight=other)
    folds = list(StratifiedKFold(3).split(X, y))
    for (f, j), m in _fold_models(routed, X).items():  # fitted with sw, scored with other
        test = folds[f][1]
        expected = accuracy_score(y[test], m.predict(X[test]), sample_weight=other[test])
        assert routed.scores_[f, 0, j] == pytest.approx(expected)
    assert not np.allclose(routed.coefs_paths_, by_other.coefs_paths_)


def test_routing_without_sample_weight_leaves_a_scoring_name_unweighted():
    X, y = _data()
    plain = SoftmaxRegressionCV(Cs=3, cv=3, scoring="neg_log_loss").fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = SoftmaxRegressionCV(Cs=3, cv=3, scoring="neg_log_loss").fit(X, y)
    assert np.array_equal(routed.scores_, plain.scores_)


# 8. boolean masks

@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_boolean_mask_splits_equal_index_splits(scoring):
    X, y = _data()
    even = np.arange(len(y)) % 2 == 0
    masks = SoftmaxRegressionCV(Cs=3, cv=[(even, ~even), (~even, even)],
                                scoring=scoring).fit(X, y)
    idx = [(np.flatnonzero(even), np.flatnonzero(~even)),
           (np.flatnonzero(~even), np.flatnonzero(even))]
    indices = SoftmaxRegressionCV(Cs=3, cv=idx, scoring=scoring).fit(X, y)
    assert np.array_equal(masks.scores_, indices.scores_)
    assert np.array_equal(masks.coef_, indices.coef_)


# 9. scoring names

def test_a_misspelled_scoring_is_refused_before_fitting(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(prepare, "minimize", _no_fit)
    with pytest.raises(InvalidParameterError, match="The 'scoring' parameter of "
                       "SoftmaxRegressionCV must be a str among"):
        SoftmaxRegressionCV(scoring="acuracy").fit(X, y)


# 10. one ConvergenceWarning

def test_max_iter_warns_once_for_the_folds_and_the_refit():
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SoftmaxRegressionCV(Cs=4, cv=5, max_iter=2).fit(X, y)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert re.match(r"SoftmaxRegressionCV: 20 of 20 cross-validation fits and the refit at "
                    r"C=\S+ stopped before the gradient fell to tol=0.0001 \(at max_iter=2, ",
                    str(conv[0].message))
    assert conv[0].filename == __file__  # points at the caller's fit


@pytest.mark.parametrize("scoring", ["f1", "precision", "recall", "jaccard",
                                     "average_precision"])
def test_score_takes_the_scorer_the_folds_were_scored_with(scoring):
    """Two string classes: fit scored the folds with the last class as the positive one, and
    score asked get_scorer's pos_label=1 of labels 'no' and 'yes' (a ValueError)."""
    from sklearn.datasets import load_iris
    from sklearn.metrics import get_scorer, make_scorer

    X, y = load_iris(return_X_y=True)
    ys = np.where(y == 2, "yes", "no")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an ill-defined precision of a fold at a tiny C
        m = SoftmaxRegressionCV(Cs=3, scoring=scoring).fit(X, ys)
    scorer = get_scorer(scoring)
    by_hand = make_scorer(scorer._score_func, response_method=scorer._response_method,
                          pos_label="yes")
    assert m.score(X, ys) == pytest.approx(by_hand(m, X, ys))


def test_fits_that_reach_the_floating_point_floor_are_not_told_to_raise_max_iter():
    """Wine, standardize=True, tol=1e-8: four folds' fits ended where no step lowered the
    objective (the gradient 1-5 times tol, at 22-45 of 5000 iterations), and the warning said
    "raise max_iter" (as much at max_iter=50000)."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = SoftmaxRegressionCV(standardize=True, tol=1e-8, max_iter=5000).fit(X, y)
    assert m.n_iter_.max() < 5000
    conv = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) <= 1
    assert not any("max_iter" in message for message in conv)


def _ending(monkeypatch, lost_every=0, stuck_every=0):
    """prepare.minimize, with every ``lost_every``-th model ended where no step lowered its
    objective, and every ``stuck_every``-th at max_iter (of the folds' pack and the refit)."""
    real = prepare.minimize

    def minimize(prob, theta0, *args, **kwargs):
        res = real(prob, theta0, *args, **kwargs)
        res.lost = np.zeros(len(theta0), bool) if res.lost is None else res.lost
        if lost_every:
            res.lost[::lost_every] = True
            res.converged[::lost_every] = False
        if stuck_every:
            res.converged[1::stuck_every] = False
            res.lost[1::stuck_every] = False
            res.n_iter[1::stuck_every] = kwargs["max_iter"]
        return res

    monkeypatch.setattr(prepare, "minimize", minimize)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_fit_at_the_floor_is_warned_of_as_the_lone_fit_words_it(monkeypatch, dtype):
    X, y = _data()
    _ending(monkeypatch, lost_every=2)
    with pytest.warns(ConvergenceWarning) as caught:
        SoftmaxRegressionCV(Cs=2, cv=3, standardize=True).fit(X.astype(dtype), y)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert re.match(r"SoftmaxRegressionCV: 3 of 6 cross-validation fits and the refit at "
                    r"C=\S+ ended where no step lowered the objective any further", message)
    assert "raise tol" in message and "max_iter" not in message
    assert ("fit float64 X" in message) == (dtype == np.float32)
    with pytest.warns(ConvergenceWarning, match="could not lower the objective any further") \
            as lone:
        SoftmaxRegression(standardize=True).fit(X.astype(dtype), y)
    assert "raise tol" in str(lone[0].message)
    assert ("fit float64 X" in str(lone[0].message)) == (dtype == np.float32)


def test_fits_at_max_iter_and_at_the_floor_are_told_apart_in_one_warning(monkeypatch):
    X, y = _data()
    _ending(monkeypatch, lost_every=3, stuck_every=3)
    with pytest.warns(ConvergenceWarning) as caught:
        SoftmaxRegressionCV(Cs=2, cv=3, max_iter=50).fit(X, y)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert re.match(r"SoftmaxRegressionCV: 2 of 6 cross-validation fits stopped before the "
                    r"gradient fell to tol=0.0001 \(at max_iter=50, .*\); raise max_iter .*; "
                    r"2 of 6 cross-validation fits and the refit at C=\S+ ended where no step "
                    r"lowered the objective any further", message)
