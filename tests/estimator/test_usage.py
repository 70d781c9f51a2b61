"""SoftmaxRegression where scikit-learn users put it, its save/load, SGD, CV and bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import need

need("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegressionCV  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import softreg  # noqa: E402
from softreg.core.errors import CheckpointError  # noqa: E402
from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV  # noqa: E402


def _data(n=240, d=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.argmax(X @ rng.normal(size=(d, c)) * 2 + rng.normal(size=(n, c)), axis=1)
    return X, y


def test_lazy_name_on_the_package():
    assert softreg.SoftmaxRegression is SoftmaxRegression
    assert softreg.SoftmaxRegressionCV is SoftmaxRegressionCV


def test_string_labels_and_pandas_feature_names():
    pd = need("pandas")
    X, y = _data()
    names = np.array(["ant", "bee", "cat"])[y]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    m = SoftmaxRegression().fit(df, names)
    assert list(m.classes_) == ["ant", "bee", "cat"]
    assert list(m.feature_names_in_) == list(df.columns)
    assert set(m.predict(df)) <= {"ant", "bee", "cat"} and m.score(df, names) > 0.8


def test_pipeline_grid_search_cross_val_calibration_clone_pickle():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), SoftmaxRegression())
    grid = GridSearchCV(pipe, {"softmaxregression__C": [0.01, 1.0]}, cv=3, n_jobs=2).fit(X, y)
    assert grid.best_params_["softmaxregression__C"] in (0.01, 1.0)
    assert cross_val_score(SoftmaxRegression(), X, y, cv=3).mean() > 0.8
    cal = CalibratedClassifierCV(SoftmaxRegression(), cv=3).fit(X, y)
    assert np.allclose(cal.predict_proba(X).sum(axis=1), 1.0)
    m = SoftmaxRegression(C=0.5).fit(X, y)
    assert clone(m).get_params() == m.get_params() and not hasattr(clone(m), "classes_")
    again = pickle.loads(pickle.dumps(m))
    assert np.array_equal(again.predict_proba(X), m.predict_proba(X))


@pytest.mark.parametrize("labels", [np.array([3, 7, 9]), np.array(["no", "maybe", "yes"])])
def test_save_and_load_give_the_same_probabilities(tmp_path, labels):
    X, y = _data()
    m = SoftmaxRegression(C=0.3, standardize=True).fit(X, labels[y])
    path = m.save(tmp_path / "model.safetensors")
    back = SoftmaxRegression.load(path)
    assert np.array_equal(back.predict_proba(X), m.predict_proba(X))
    assert list(back.classes_) == list(m.classes_) and back.get_params() == m.get_params()
    assert b"pickle" not in path.read_bytes()[:2000]


def test_load_refuses_another_checkpoint_in_one_line(tmp_path):
    from softreg.runfiles import checkpoint

    other = tmp_path / "chapter.safetensors"
    ck = checkpoint.Checkpoint(W=np.zeros((10, 784), np.float32), b=np.zeros(10, np.float32))
    checkpoint.save(other, ck)
    with pytest.raises(CheckpointError, match=r"is a checkpoint of 'softreg train', not a saved "
                       r"SoftmaxRegression; use it with the softreg commands, or fit an "
                       r"estimator and save\(\) it$"):
        SoftmaxRegression.load(other)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        SoftmaxRegression.load(junk)


def test_load_refuses_shapes_that_disagree_with_the_labels(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    X, y = _data()
    path = SoftmaxRegression().fit(X, y).save(tmp_path / "m.safetensors")
    with safe_open(str(path), "np") as fh:
        meta = fh.metadata()
    tensors = load_file(str(path))
    state = json.loads(meta["estimator"])
    state["classes"] = {"dtype": "<i8", "values": [0, 1]}
    meta["estimator"] = json.dumps(state)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match=r"its estimator metadata names 2 classes and 0 "
                       r"feature names, but the checkpoint holds a model of 3 classes and 5 "
                       "features; save the estimator again"):
        SoftmaxRegression.load(path)
    state["classes"] = {"dtype": "<i8", "values": [0, 1, 2]}
    state["rows"] = [0, 1, 1]  # not a permutation of the rows
    meta["estimator"] = json.dumps(state)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="its estimator metadata names 3 classes"):
        SoftmaxRegression.load(path)


def test_partial_fit_learns_and_checks_its_classes():
    X, y = _data()
    m = SoftmaxRegression(solver="sgd", random_state=0, batch_size=32)
    with pytest.raises(ValueError, match=r"partial_fit needs classes=\.\.\. \(every label there "
                       "will be\\) on its first call"):
        m.partial_fit(X, y)
    for bad in (3, [0]):  # (they were blamed on y: "needs samples of at least 2 classes in y")
        with pytest.raises(ValueError, match=r"classes=(3|\[0\]) must list every label y will "
                           r"hold, at least 2"):
            SoftmaxRegression(solver="sgd").partial_fit(X, y, classes=bad)
    for _ in range(10):
        for part in np.array_split(np.arange(len(y)), 4):
            m.partial_fit(X[part], y[part], classes=[0, 1, 2])
    assert m.score(X, y) > 0.8
    with pytest.raises(ValueError, match=r"y holds labels \[5\] that are not among the model's "
                       r"classes \[0, 1, 2\] \(given to the first partial_fit, or fitted\)"):
        m.partial_fit(X[:3], np.array([0, 1, 5]))
    # later classes= must be the model's (SGDClassifier refuses others too); after fit, the
    # fitted model's classes are the ones
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2, 3\] differs from the fitted "
                       r"model's classes \[0, 1, 2\]"):
        m.partial_fit(X[:3], y[:3], classes=[0, 1, 2, 3])
    m.partial_fit(X[:3], y[:3], classes=np.array([2, 1, 0]))  # the same classes: fine
    with pytest.raises(ValueError, match=r"classes=\[0\.0, 1\.0, nan\] holds NaN or inf"):
        SoftmaxRegression(solver="sgd").partial_fit(X, y, classes=[0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match=r"class_weight='balanced' needs the whole y, which "
                       "partial_fit does not see; pass class_weight as a dict"):
        SoftmaxRegression(solver="sgd", class_weight="balanced").partial_fit(X, y,
                                                                             classes=[0, 1, 2])


def test_sgd_fit_is_reproducible_and_near_the_exact_fit():
    X, y = _data()
    sgd = SoftmaxRegression(solver="sgd", random_state=3, epochs=60, lr_schedule="cosine",
                            batch_size=16)
    a, b = clone(sgd).fit(X, y), clone(sgd).fit(X, y)
    assert np.array_equal(a.coef_, b.coef_)
    exact = SoftmaxRegression().fit(X, y)
    assert np.mean(a.predict(X) == exact.predict(X)) > 0.95


def test_cv_chooses_the_same_c_as_logistic_regression_cv():
    X, y = _data()
    ours = SoftmaxRegressionCV(Cs=6, cv=3, tol=1e-6, max_iter=500).fit(X, y)
    theirs = LogisticRegressionCV(Cs=6, cv=3, tol=1e-6, max_iter=500, l1_ratios=(0.0,),
                                  scoring="accuracy", use_legacy_attributes=False).fit(X, y)
    assert pytest.approx(float(np.ravel(theirs.C_)[0])) == ours.C_
    for name in ("scores_", "n_iter_", "coefs_paths_", "l1_ratios_"):  # the same shapes
        assert np.shape(getattr(ours, name)) == np.shape(getattr(theirs, name)), name
    assert ours.l1_ratio_ == theirs.l1_ratio_ == 0.0
    assert np.allclose(ours.scores_, theirs.scores_, atol=0.02)
    # each fold's fit at the three smallest C (the well-determined optima): the same model
    assert np.allclose(ours.coefs_paths_[:, :, :3], theirs.coefs_paths_[:, :, :3], atol=2e-3)


def test_cv_without_refit_averages_each_folds_best_fit_as_logistic_regression_cv():
    X, y = _data()
    kw = {"Cs": 6, "cv": 3, "tol": 1e-8, "max_iter": 1000, "refit": False}
    ours = SoftmaxRegressionCV(**kw).fit(X, y)
    theirs = LogisticRegressionCV(**kw, l1_ratios=(0.0,), scoring="accuracy",
                                  use_legacy_attributes=False).fit(X, y)
    each = np.argmax(ours.scores_[:, 0], axis=1)  # each fold's own best C
    assert len(set(each)) > 1  # the folds disagree: the mean of their Cs is no C of the grid
    assert ours.C_ == pytest.approx(np.mean(ours.Cs_[each])) == theirs.C_
    folds = ours.coefs_paths_[np.arange(3), 0, each]  # (folds, classes, d + 1)
    assert np.allclose(ours.coef_, folds[:, :, :-1].mean(axis=0))
    assert np.allclose(ours.intercept_, folds[:, :, -1].mean(axis=0))
    assert np.allclose(ours.coef_, theirs.coef_, atol=1e-3)


def test_cv_score_uses_its_scoring_as_logistic_regression_cv_does():
    from sklearn.metrics import log_loss

    X, y = _data()
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ours = SoftmaxRegressionCV(Cs=3, cv=3, scoring="neg_log_loss").fit(X, y)
    expected = -log_loss(y, ours.predict_proba(X), sample_weight=w)
    assert ours.score(X, y, sample_weight=w) == pytest.approx(expected)
    theirs = LogisticRegressionCV(Cs=3, cv=3, scoring="neg_log_loss", l1_ratios=(0.0,),
                                  use_legacy_attributes=False).fit(X, y)
    assert theirs.score(X, y) < 0 and ours.score(X, y) < 0  # both a log loss, not accuracy
    plain = SoftmaxRegressionCV(Cs=3, cv=3).fit(X, y)  # scoring None: accuracy
    assert plain.score(X, y) == np.mean(plain.predict(X) == y)


def test_cv_coefs_paths_of_two_classes_are_each_folds_coef_and_intercept():
    X, y = _data()
    y = (y > 0).astype(int)
    cv = SoftmaxRegressionCV(Cs=[0.1, 1.0], cv=3, tol=1e-8, max_iter=500).fit(X, y)
    assert cv.coefs_paths_.shape == (3, 1, 2, 1, X.shape[1] + 1)
    (train, _) = next(iter(StratifiedKFold(3).split(X, y)))
    alone = SoftmaxRegression(C=1.0, tol=1e-8, max_iter=500).fit(X[train], y[train])
    assert np.allclose(cv.coefs_paths_[0, 0, 1, 0, :-1], alone.coef_[0], atol=1e-5)
    assert np.allclose(cv.coefs_paths_[0, 0, 1, 0, -1], alone.intercept_[0], atol=1e-5)


def test_bad_input_messages():
    X, y = _data()
    with pytest.raises(NotFittedError):
        SoftmaxRegression().predict(X)
    with pytest.raises(ValueError, match=r"needs samples of at least 2 classes in y, got only "
                       "the class 1; a classifier"):  # the label, not NumPy's repr of it
        SoftmaxRegression().fit(X, np.ones(len(y), int))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        SoftmaxRegression().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="weights \\(times the class weights\\) sum to zero; "
                       "give some rows a positive weight"):
        SoftmaxRegression(class_weight={0: 0.0, 1: 0.0, 2: 0.0}).fit(X, y)
    with pytest.raises(ValueError, match="framework='numpy' runs on device='cpu' \\(or 'auto'\\) "
                       "only, got 'cuda'; use framework='torch' for a GPU"):
        SoftmaxRegression(device="cuda").fit(X, y)
    with pytest.raises(ValueError, match="Cs must be positive values or a count of them"):
        SoftmaxRegressionCV(Cs=[1.0, -2.0]).fit(X, y)


def test_torch_refuses_sparse_input():
    need("torch")
    import scipy.sparse as sp

    X, y = _data()
    with pytest.raises(ValueError, match="framework='torch' takes dense X; fit sparse X with "
                       r"framework='numpy' \(scipy.sparse products\)"):
        SoftmaxRegression(framework="torch").fit(sp.csr_matrix(X), y)


def test_sgd_divergence_says_what_to_do():
    X, y = _data()
    with pytest.raises(FloatingPointError, match=r"SGD diverged at lr=1e\+38: the weights are "
                       "no longer finite; lower lr, or set standardize=True"):
        SoftmaxRegression(solver="sgd", lr=1e38, C=1e30, random_state=0).fit(X * 1e200, y)


def test_sgd_early_stopping_keeps_the_best_epoch():
    X, y = _data()
    m = SoftmaxRegression(solver="sgd", random_state=0, batch_size=16, epochs=200,
                          early_stopping=True, n_iter_no_change=3).fit(X, y)
    assert m.n_iter_[0] < 200 and m.score(X, y) > 0.8
    with pytest.raises(ValueError, match=r"validation_fraction=0.9 leaves no rows to train on "
                       "among 3; lower it or turn early_stopping off"):
        SoftmaxRegression(solver="sgd", early_stopping=True, validation_fraction=0.9).fit(
            X[:3], np.array([0, 1, 0]))


def test_sgd_early_stopping_weighs_the_held_out_rows_by_their_sample_weight():
    """A row of weight 0 is a dropped row, in early stopping's score too: labels changed on
    those rows only moved the stopping epoch (10 against 5) and the weights by 0.25."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    zero = np.random.default_rng(0).random(len(y)) < 0.5
    sw = np.where(zero, 0.0, 1.0)
    kw = {"solver": "sgd", "early_stopping": True, "n_iter_no_change": 3, "epochs": 100,
          "random_state": 0}
    a = SoftmaxRegression(**kw).fit(X / 16.0, y, sample_weight=sw)
    b = SoftmaxRegression(**kw).fit(X / 16.0, np.where(zero, (y + 1) % 10, y), sample_weight=sw)
    assert a.n_iter_[0] == b.n_iter_[0]
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-12)
    held = SoftmaxRegression(**kw)._held_out(30)
    with pytest.raises(ValueError, match=r"the 3 rows early stopping holds out "
                       r"\(validation_fraction=0.1\) all have sample_weight 0"):
        SoftmaxRegression(**kw).fit(X[:30] / 16.0, y[:30], sample_weight=np.where(held, 0, 1.0))


def test_sgd_early_stopping_keeps_the_best_epoch_when_the_epochs_run_out(monkeypatch):
    from sklearn.datasets import load_digits

    from softreg.estimator import sgd

    X, y = load_digits(return_X_y=True)
    best = []
    done = sgd.EarlyStop.done

    def spy(self, *args):
        out = done(self, *args)
        best.append(self.best_score)
        return out

    monkeypatch.setattr(sgd.EarlyStop, "done", spy)
    m = SoftmaxRegression(solver="sgd", early_stopping=True, n_iter_no_change=1000, epochs=15,
                          lr=5.0, random_state=0).fit(X / 16.0, y)
    assert m.n_iter_[0] == 15  # the patience never ran out
    held = m._held_out(len(y))
    assert (m.predict(X[held] / 16.0) == y[held]).mean() == best[-1]


def test_sgd_takes_a_random_state_instance_as_scikit_learn_estimators_do():
    X, y = _data()
    for kw in ({}, {"early_stopping": True}):
        m = SoftmaxRegression(solver="sgd", epochs=3, random_state=np.random.RandomState(0),
                              **kw).fit(X, y)
        assert m.score(X, y) > 0.6
    m = SoftmaxRegression(solver="sgd", random_state=np.random.RandomState(0))
    m.partial_fit(X, y, classes=[0, 1, 2])


def test_sgd_with_a_strong_penalty_stays_stable():
    # lr * alpha far above 2 (C=1e-4 on 150 rows): an explicit penalty step multiplied the
    # weights by |1 - lr alpha| each step, to 1e20-1e254; the implicit one shrinks them
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    for C in (1e-4, 1e-8):
        m = SoftmaxRegression(solver="sgd", C=C, random_state=0).fit(X, y)
        ref = LogisticRegression(C=C).fit(X, y)
        np.testing.assert_allclose(np.abs(m.coef_).max(), np.abs(ref.coef_).max(), rtol=0.05)


def test_c_inf_is_no_penalty_as_in_logistic_regression(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    m = SoftmaxRegression(C=np.inf, max_iter=5000).fit(X, y)
    ref = LogisticRegression(C=np.inf, max_iter=5000).fit(X, y)
    assert m.score(X, y) == ref.score(X, y)
    back = SoftmaxRegression.load(m.save(tmp_path / "m.safetensors"))
    assert np.isinf(back.C)


def test_coef_and_intercept_can_be_set_as_in_scikit_learn():
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.linear_model import LogisticRegression

    for load in (load_iris, load_breast_cancer):  # three classes, and two
        X, y = load(return_X_y=True)
        X = X / X.std(axis=0)
        sk = LogisticRegression(max_iter=1000).fit(X, y)
        built = SoftmaxRegression()  # a model from known weights: classes_ first
        with pytest.raises(AttributeError, match="set classes_ before coef_"):
            built.coef_ = sk.coef_
        built.classes_, built.coef_, built.intercept_ = sk.classes_, sk.coef_, sk.intercept_
        np.testing.assert_allclose(built.predict_proba(X), sk.predict_proba(X), atol=1e-12)
        np.testing.assert_array_equal(built.coef_, sk.coef_)
        fitted = SoftmaxRegression().fit(X, y)
        with pytest.raises(ValueError, match=r"coef_ must be of shape \(\d, \d+\) for this "
                           r"model's \d classes and \d+ features, got \(1, 3\)"):
            fitted.coef_ = np.zeros((1, 3))
        fitted.coef_ = sk.coef_
        with pytest.raises(ValueError, match=r"intercept_ must be of shape \(\d,\) for this "
                           r"model's \d classes, got \(5,\)"):
            fitted.intercept_ = np.zeros(5)
        fitted.intercept_ = sk.intercept_
        np.testing.assert_allclose(fitted.predict_proba(X), sk.predict_proba(X), atol=1e-12)
    # two classes: coef_ is computed, so an edit in place is refused, not lost
    with pytest.raises(ValueError, match="read-only"):
        fitted.coef_[:] = 0
    three = SoftmaxRegression().fit(*load_iris(return_X_y=True))
    three.coef_[:] = 0  # a view of the model, as scikit-learn's
    assert np.all(three._W == 0)


def test_partial_fit_is_there_for_sgd_only():
    X, y = _data()
    assert not hasattr(SoftmaxRegression(), "partial_fit")  # lbfgs: an SGD epoch at lr 0.1
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        SoftmaxRegression().partial_fit(X, y, classes=[0, 1, 2])
    assert str(info.value.__cause__) == ("partial_fit trains by SGD, and this estimator's "
                                         "solver is 'lbfgs': set solver='sgd' to train in "
                                         "pieces")  # shown in the traceback, as its cause
    assert hasattr(SoftmaxRegression(solver="sgd"), "partial_fit")


def test_a_refused_fit_leaves_no_model_rather_than_the_old_one():
    """A refit refused part-way (a splitter that takes no groups, negative sample weights)
    kept the old weights beside the new labels or features: predict gave the old model's
    classes under the new names ('a' for 'c') without a word."""
    from sklearn.datasets import load_iris
    from sklearn.exceptions import NotFittedError

    X, y = load_iris(return_X_y=True)
    cv = SoftmaxRegressionCV(Cs=3).fit(X, y)
    with pytest.raises(ValueError, match="does not split by groups"):
        cv.fit(X, np.array(["c", "b", "a"])[y], groups=np.arange(150))
    plain = SoftmaxRegression().fit(X, y)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        plain.fit(X[:, :2], y, sample_weight=-np.ones(150))
    for m in (cv, plain):
        with pytest.raises(NotFittedError):
            m.predict(X)
    warm = SoftmaxRegression(warm_start=True).fit(X, y)
    assert warm.fit(X, y).n_iter_[0] == 0  # a warm start still starts from the model


def _iris_shuffled():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    return X[order], y[order]


def test_partial_fit_standardises_by_the_rows_of_every_call_so_far():
    """Each call standardised by its own rows: with one row a call every centred feature was
    0 and only the intercepts learnt (iris: accuracy 0.33); rows of a call that share a
    column's value left that column's weights at 0."""
    X, y = _iris_shuffled()
    m = SoftmaxRegression(solver="sgd", standardize=True, C=150.0, lr=0.01, random_state=0)
    for _ in range(5):
        for i in range(len(y)):  # one row a call
            m.partial_fit(X[i:i + 1], y[i:i + 1], classes=[0, 1, 2])
    assert m.score(X, y) > 0.9 and np.abs(m.coef_).max() > 0.5
    pairs = X.copy()
    pairs[1::2, 0] = pairs[0::2, 0]  # each call's two rows share column 0's value
    p = SoftmaxRegression(solver="sgd", standardize=True, C=75.0, lr=0.01, random_state=0)
    for i in range(0, len(y), 2):
        p.partial_fit(pairs[i:i + 2], y[i:i + 2], classes=[0, 1, 2])
    assert np.abs(p.coef_[:, 0]).max() > 0.01


@pytest.mark.parametrize("sparse", [False, True])
def test_partial_fit_statistics_are_standard_scalers_partial_fit_over_the_stream(sparse):
    """fit, then partial_fit calls of other rows and weights: the statistics of every row so
    far, weighed as StandardScaler(...).partial_fit(..., sample_weight=...) weighs them."""
    import scipy.sparse as sps

    X, y = _iris_shuffled()
    X = X.copy()
    X[:, 3] = np.where(X[:, 3] > 1.0, X[:, 3], 0.0)  # zeros to leave out of sparse storage
    w = np.random.default_rng(1).uniform(0.0, 3.0, len(y))
    w[::7] = 0.0  # a row of weight 0 counts for nothing
    form = sps.csr_matrix if sparse else np.asarray
    m = SoftmaxRegression(solver="sgd", standardize=True, random_state=0, epochs=2)
    m.fit(form(X[:60]), y[:60], sample_weight=w[:60])
    scaler = StandardScaler(with_mean=not sparse).partial_fit(form(X[:60]),
                                                              sample_weight=w[:60])
    for part in np.array_split(np.arange(60, 150), 5):
        m.partial_fit(form(X[part]), y[part], sample_weight=w[part])
        scaler.partial_fit(form(X[part]), sample_weight=w[part])
    mu, sd = m._scale_seen.spread()
    np.testing.assert_allclose(sd, scaler.scale_, rtol=1e-10)
    kept = w > 0
    np.testing.assert_allclose(mu, np.average(X[kept], axis=0, weights=w[kept]), rtol=1e-12)


def test_partial_fit_with_standardize_changes_no_prediction_while_it_learns_nothing():
    """A model held on raw X: the statistics of a call's new rows re-express its weights and
    move no prediction (lbfgs's fit, then partial_fit, continues from that model)."""
    X, y = _iris_shuffled()
    m = SoftmaxRegression(standardize=True).fit(X, y)
    before = m.predict_proba(X)
    m.set_params(solver="sgd", lr=1e-300)  # any positive rate: it moves nothing here
    m.partial_fit(X[:1] * 10.0, y[:1])
    m.partial_fit(X[1:3] - 5.0, y[1:3])
    np.testing.assert_allclose(m.predict_proba(X), before, atol=1e-12)


def test_sgd_parameters_are_refused_at_the_start_of_fit_in_the_estimators_words():
    """softreg train's limits (30,000 epochs for a run's files, a learning rate float32
    holds) came from its config, at the first epoch, naming --epochs and a run's files; the
    estimator fits in float64 and writes no files."""
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _data()
    for bad in ({"lr": np.inf}, {"lr": 0.0}, {"lr": np.nan}, {"epochs": 0}):
        with pytest.raises(InvalidParameterError, match=r"The '(lr|epochs)' parameter of "
                           "SoftmaxRegression must be"):
            SoftmaxRegression(solver="sgd", **bad).fit(X, y)
    tiny = SoftmaxRegression(solver="sgd", lr=1e-300, epochs=2, random_state=0).fit(X, y)
    assert np.abs(tiny.coef_).max() < 1e-290  # float64 holds the rate: it moves (almost) nothing
    many = SoftmaxRegression(solver="sgd", epochs=40_000, early_stopping=True,
                             n_iter_no_change=1, random_state=0).fit(X, y)
    assert many.n_iter_[0] < 40_000 and many.score(X, y) > 0.8
    stream = SoftmaxRegression(solver="sgd", epochs=40_000, lr_schedule="cosine",
                               random_state=0)
    stream.partial_fit(X, y, classes=[0, 1, 2])  # one epoch a call, of a 40,000-epoch schedule
    assert stream.score(X, y) > 0.8


def test_sgd_schedules_are_softreg_trains():
    from softreg.core.config import TrainConfig
    from softreg.estimator import sgd

    for schedule in ("constant", "cosine", "step"):
        config = TrainConfig(lr=0.3, epochs=20, lr_schedule=schedule)
        assert [sgd.learning_rate(0.3, schedule, 20, e) for e in range(20)] == [
            config.lr_at(e) for e in range(20)]


def _fitted_attributes(est):
    return sorted(k for k in vars(est) if (k.endswith("_") and not k.startswith("_"))
                  or k in ("_W", "_b", "_epochs_done", "_scale_seen"))


def test_a_refused_fit_leaves_no_fitted_attribute():
    """A refused fit kept n_features_in_ (the CV also classes_): scikit-learn's check_is_fitted
    then passed while predict raised NotFittedError."""
    from sklearn.utils._param_validation import InvalidParameterError
    from sklearn.utils.validation import check_is_fitted

    X, y = _data()
    negative = np.r_[np.ones(len(y) - 1), -1.0]
    for est in (SoftmaxRegression(), SoftmaxRegression(solver="sgd", standardize=True),
                SoftmaxRegressionCV(Cs=3)):
        for refused in ({"sample_weight": negative}, {"y": y[:-1]}):
            est.fit(X, y)
            with pytest.raises(ValueError):
                est.fit(X, **{"y": y, **refused})
            assert _fitted_attributes(est) == []
            with pytest.raises(NotFittedError):
                check_is_fitted(est)
    cv = SoftmaxRegressionCV(Cs=3).fit(X, y)
    with pytest.raises(ValueError, match="does not split by groups"):  # after classes_ was set
        cv.fit(X, y, groups=np.arange(len(y)))
    assert _fitted_attributes(cv) == []
    plain = SoftmaxRegression().fit(X, y)  # bad parameters: refused before the fit, the model
    kept = plain.coef_.copy()  # kept, as scikit-learn's estimators keep theirs
    with pytest.raises(InvalidParameterError):
        plain.set_params(C=-1.0).fit(X, y)
    np.testing.assert_array_equal(plain.coef_, kept)
    # partial_fit's first call: refused after its input was read
    first = SoftmaxRegression(solver="sgd")
    for bad in ({}, {"classes": [0]}, {"classes": [0, 1], "sample_weight": negative}):
        with pytest.raises(ValueError):
            first.partial_fit(X, y, **bad)
        assert _fitted_attributes(first) == []
    # a later call refused keeps the model it continues, as SGDClassifier's
    first.partial_fit(X, y, classes=[0, 1, 2])
    kept = first.coef_.copy()
    with pytest.raises(ValueError, match="not among the model's classes"):
        first.partial_fit(X[:3], np.array([0, 1, 5]))
    np.testing.assert_array_equal(first.coef_, kept)


def test_running_statistics_of_values_near_float64s_limit_are_exact_and_quiet():
    """The squares of values near 1e306 overflow float64: each column is worked out in a unit
    of a power of two, parts of other units merged into the larger one."""
    import warnings

    from softreg.estimator.sgd import Moments

    Z = np.random.default_rng(0).normal(size=(40, 3))
    scale = np.array([2.0**1017, 1.0, 2.0**-1000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seen = Moments().plus(Z[:10] * 1e-3 * scale, np.ones(10)).plus(Z[10:] * scale,
                                                                        np.ones(30))
    X = np.r_[Z[:10] * 1e-3, Z[10:]]
    mu, sd = seen.spread()
    np.testing.assert_allclose(mu / scale, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sd / scale, X.std(axis=0), rtol=1e-12)
