"""A saved estimator comes back whole: its parameters, what a fit leaves, and a model that
training continues from; labels and files a checkpoint cannot hold are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import need

need("sklearn")
need("safetensors")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402

from softreg.core.errors import CheckpointError  # noqa: E402
from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _edit_state(path, change):
    """Rewrite the estimator metadata of the checkpoint at ``path`` with ``change(state)``."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(path), "np") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    state = json.loads(meta["estimator"])
    change(state)
    meta["estimator"] = json.dumps(state)
    save_file(tensors, str(path), metadata=meta)


def test_parameters_of_numpy_types_lists_and_dicts_come_back(tmp_path, iris):
    X, y = iris
    m = SoftmaxRegression(C=np.float32(0.5), max_iter=np.int64(300), standardize=np.True_,
                          class_weight={0: 2.0, 1: 1.0, 2: np.float64(0.5)}).fit(X, y)
    back = SoftmaxRegression.load(m.save(tmp_path / "m.safetensors"))
    assert back.get_params() == m.get_params()
    np.testing.assert_allclose(clone(back).fit(X, y).predict_proba(X), m.predict_proba(X))
    cv = SoftmaxRegressionCV(Cs=[0.1, 1.0, 10.0], cv=3, class_weight="balanced").fit(X, y)
    cv_back = SoftmaxRegressionCV.load(cv.save(tmp_path / "cv.safetensors"))
    assert cv_back.get_params()["Cs"] == [0.1, 1.0, 10.0] and cv_back.C_ == cv.C_


def test_parameters_a_checkpoint_cannot_hold_are_named_when_saving(tmp_path, iris):
    X, y = iris
    cv = SoftmaxRegressionCV(Cs=3, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    with pytest.warns(UserWarning, match=r"SoftmaxRegressionCV\.save: the parameters cv hold "
                      r"objects a checkpoint does not store .* set them again after load"):
        path = cv.save(tmp_path / "cv.safetensors")
    assert SoftmaxRegressionCV.load(path).cv is None


def test_a_loaded_model_continues_training(tmp_path, iris):
    X, y = iris
    sgd = SoftmaxRegression(solver="sgd", epochs=5, random_state=0).fit(X, y)
    back = SoftmaxRegression.load(sgd.save(tmp_path / "sgd.safetensors"))
    assert back._epochs_done == sgd._epochs_done and back.n_iter_.tolist() == [5]
    a, b = clone(sgd), back  # the original continued, and the loaded copy
    a.__dict__.update({k: v for k, v in sgd.__dict__.items() if k.endswith("_") or
                       k.startswith("_")})
    a.partial_fit(X, y)
    b.partial_fit(X, y)  # no classes=: it is fitted
    np.testing.assert_allclose(b.coef_, a.coef_, atol=1e-12)
    lb = SoftmaxRegression(warm_start=True, max_iter=1000).fit(X, y)
    loaded = SoftmaxRegression.load(lb.save(tmp_path / "lb.safetensors"))
    loaded.set_params(max_iter=2)
    loaded.fit(X, y)  # from the saved optimum: it stays there (a cold start would not)
    np.testing.assert_allclose(loaded.coef_, lb.coef_, atol=1e-3)
    assert SoftmaxRegression.load(tmp_path / "lb.safetensors").objective_ == lb.objective_


@pytest.mark.filterwarnings("ignore:SoftmaxRegression. L-BFGS stopped")
def test_a_warm_start_continues_the_model_whatever_the_scaling(iris):
    X, y = iris
    m = SoftmaxRegression(standardize=True, warm_start=True).fit(X, y)
    first = m.coef_.copy()
    m.set_params(max_iter=1)
    # other rows, so other column statistics: the start is the model itself, not its
    # parameters read in the new scaling
    m.fit(X[::2] * 1.0, y[::2])
    assert np.abs(m.coef_ - first).max() < 0.5 * np.abs(first).max()
    # partial_fit with standardize: a batch's statistics do not move a model that learns
    # nothing (lr=0 is refused; a tiny rate leaves it where it is)
    s = SoftmaxRegression(solver="sgd", standardize=True, lr=1e-15, random_state=0)
    s.partial_fit(X, y, classes=[0, 1, 2])
    s.set_params(lr=0.1)
    s.fit(X, y)
    before = s.predict_proba(X)
    s.set_params(lr=1e-15)
    s.partial_fit(X[:20] + 3.0, y[:20])
    np.testing.assert_allclose(s.predict_proba(X), before, atol=1e-9)


@pytest.mark.parametrize("labels", [
    np.array(["2020-01-01", "2021-06-30", "2022-12-31"], dtype="datetime64[D]"),
    np.array([1, 2, 3], dtype="timedelta64[s]"),
    np.array([1.0, 2.0, 3.0], dtype=np.longdouble),
    np.array([True, False]),
], ids=["datetime64", "timedelta64", "longdouble", "booleans"])
def test_labels_of_more_types_come_back(tmp_path, iris, labels):
    X, y = iris
    if len(labels) == 2:
        X, y = X[y < 2], y[y < 2]
    m = SoftmaxRegression().fit(X, labels[y])
    back = SoftmaxRegression.load(m.save(tmp_path / "m.safetensors"))
    assert back.classes_.dtype == m.classes_.dtype
    assert back.classes_.tolist() == m.classes_.tolist()
    assert [type(v) for v in back.classes_.tolist()] == [type(v) for v in m.classes_.tolist()]


def test_labels_a_checkpoint_cannot_give_back_are_refused_before_writing(tmp_path, iris):
    X, y = iris
    wide = np.array([0, 1, 2**60 + 1], dtype=np.longdouble)  # not a float64
    m = SoftmaxRegression().fit(X, wide[y])
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=r"labels of dtype float128 \(e\.g\. 0\.0, 1\.0, 1\.15"
                       r".*cannot be saved in a checkpoint.*pickle / joblib"):
        m.save(path)
    assert not path.exists()


def test_a_folder_loads_its_checkpoint(tmp_path, iris):
    X, y = iris
    m = SoftmaxRegression().fit(X, y)
    m.save(tmp_path / "run" / "checkpoint.safetensors")
    np.testing.assert_array_equal(SoftmaxRegression.load(tmp_path / "run").coef_, m.coef_)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"checkpoint\.safetensors' does not exist"):
        SoftmaxRegression.load(tmp_path / "empty")


@pytest.mark.parametrize("change, message", [
    (lambda s: s["classes"].update(dtype="|u1", values=[0, 1, 300]), "unreadable"),
    (lambda s: s["classes"].update(values=[0, 0, 1]), "unreadable"),
    (lambda s: s["classes"].update(dtype="<M8[D]", values=["x", "y", "z"]), "unreadable"),
    (lambda s: s["classes"].update(dtype="|V8"), "unreadable"),
    (lambda s: s["params"].update(C=-1.0), "saved parameters are not valid"),
    (lambda s: s["params"].update(class_weight={"labels": 3, "weights": []}), "unreadable"),
    (lambda s: s.update(fitted={"n_iter_": [-1]}), "saved parameters are not valid"),
    (lambda s: s.update(fitted={"objective_": "nan"}), "saved parameters are not valid"),
    (lambda s: s.update(fitted={"surprise": 1}), "saved parameters are not valid"),
    # (these loaded: feature_names_in_ of lists and dicts, or a 0-d array; weights of nan, inf)
    (lambda s: s.update(feature_names=[[1], {}, None, 4]), "not a list of strings"),
    (lambda s: s.update(feature_names="abcd"), "not a list of strings"),
    (lambda s: s["params"].update(class_weight={"labels": {"dtype": "<i8", "values": [0]},
                                                "weights": ["nan"]}), "not all finite"),
    (lambda s: s["params"].update(class_weight={"labels": {"dtype": "<i8", "values": [0]},
                                                "weights": [1e400]}), "not all finite"),
], ids=["label out of range", "duplicate labels", "dates not counts", "void dtype",
        "negative C", "bad class_weight", "negative n_iter_", "text objective", "unknown",
        "names of other types", "names a string", "nan class weight", "inf class weight"])
def test_damaged_estimator_metadata_is_refused_in_one_line(tmp_path, iris, change, message):
    X, y = iris
    path = SoftmaxRegression().fit(X, y).save(tmp_path / "m.safetensors")
    _edit_state(path, change)
    with pytest.raises(CheckpointError, match=message):
        SoftmaxRegression.load(path)


def test_weights_beyond_float32_are_refused_when_saving(tmp_path, iris):
    X, y = iris
    m = SoftmaxRegression().fit(X, y)
    m._W = m._W * 1e39
    path = tmp_path / "big.safetensors"
    with pytest.raises(CheckpointError, match=r"array 'W' reaches .*e\+39, beyond float32's "
                       r"range .*fit it with a smaller C or learning rate"):
        m.save(path)
    assert not path.exists()


def test_too_many_classes_is_said_so_when_saving(tmp_path):
    from softreg.runfiles.checkpoint_meta import MAX_CLASSES

    m = SoftmaxRegression()
    m.classes_ = np.arange(MAX_CLASSES + 1)
    m._W, m._b, m.n_features_in_ = np.zeros((1, MAX_CLASSES + 1)), np.zeros(MAX_CLASSES + 1), 1
    with pytest.raises(ValueError, match=r"at most 100,000 classes; this one has 100,001"):
        m.save(tmp_path / "m.safetensors")


def _legacy(path, W, b, **fields):
    import safetensors.numpy

    meta = {"format": "softreg-estimator", "format_version": "1",
            "classes": json.dumps({"dtype": "str", "values": ["no", "yes"]}),
            "params": json.dumps({"C": 2.0}), **fields}
    path.write_bytes(safetensors.numpy.save({"W": W, "b": b}, metadata=meta))
    return path


@pytest.mark.parametrize("W, b, fields, message", [
    (np.zeros((3, 2)), np.array([np.inf, 0.0]), {}, "weights hold NaN or inf"),
    (np.zeros((3, 2)), np.zeros(2), {"params": "[1, 2]"}, "metadata is unreadable"),
    (np.zeros((3, 2)), np.zeros(2), {"classes": "[" * 100 + "]" * 100},
     "metadata is unreadable .*nested more than 64"),
    (np.zeros((3, 2)), np.zeros(2), {"feature_names": '"abc"'}, "metadata is unreadable"),
    (np.zeros((3, 2)), np.zeros(2), {"feature_names": '["a", 2, {"b": 1}]'},
     "metadata is unreadable .*not a list of strings"),
], ids=["inf weights", "params a list", "deep nesting", "names not a list", "names not text"])
def test_damaged_files_of_the_earlier_format_are_refused_in_one_line(tmp_path, W, b, fields,
                                                                    message):
    path = _legacy(tmp_path / "old.safetensors", W, b, **fields)
    with pytest.raises(CheckpointError, match=message):
        SoftmaxRegression.load(path)


def test_an_infinite_chosen_c_comes_back(tmp_path, iris):
    X, y = iris
    cv = SoftmaxRegressionCV(Cs=[1e-3, np.inf], cv=3, max_iter=300).fit(X, y)
    assert np.isinf(cv.C_)
    assert np.isinf(SoftmaxRegressionCV.load(cv.save(tmp_path / "cv.safetensors")).C_)


def test_an_empty_label_saves_and_is_shown_as_quotes(tmp_path, iris):
    """A checkpoint refuses an empty class name (it would print as nothing); the estimator's
    own labels are kept exactly, and the commands show the empty one as ''."""
    from safetensors import safe_open

    X, y = iris
    labels = np.array(["", "versicolor", "virginica"], dtype=object)[y]
    est = SoftmaxRegression().fit(X, labels)
    path = est.save(tmp_path / "m.safetensors")
    back = SoftmaxRegression.load(path)
    assert list(back.classes_) == ["", "versicolor", "virginica"]
    assert np.array_equal(back.predict(X), est.predict(X))
    with safe_open(str(path), "numpy") as f:
        assert json.loads(f.metadata()["class_names"]) == ["''", "versicolor", "virginica"]


def test_display_names_tell_apart_labels_that_print_alike():
    from softreg.estimator.persist import display_names

    assert display_names(np.array([1, "1", ""], dtype=object)) == ("1 (0)", "1 (1)", "''")
    assert display_names(np.array(["a", "b"])) == ("a", "b")


def test_save_replaces_a_file_only_when_asked(tmp_path, iris):
    X, y = iris
    m = SoftmaxRegression().fit(X, y)
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    with pytest.raises(FileExistsError, match=r"notes\.txt' already exists; save does not "
                       r"replace a file unasked: .*pass overwrite=True"):
        m.save(mine)
    assert mine.read_text() == "my notes"
    path = m.save(tmp_path / "m.safetensors")
    with pytest.raises(FileExistsError):
        SoftmaxRegression(C=0.1).fit(X, y).save(path)
    np.testing.assert_array_equal(SoftmaxRegression.load(path).coef_, m.coef_)
    other = SoftmaxRegression(C=0.1).fit(X, y)
    other.save(path, overwrite=True)
    np.testing.assert_array_equal(SoftmaxRegression.load(path).coef_, other.coef_)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        m.save(tmp_path / "folder", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "m.safetensors", "notes.txt"]


def test_save_never_writes_into_a_run_folder_of_the_commands(tmp_path, iris, capsys):
    from softreg.cli import main

    run = tmp_path / "run"
    assert main(["train", "--data", "sklearn:iris", "--framework", "numpy", "--epochs", "1",
                 "--quiet", "--no-figures", "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    m = SoftmaxRegression().fit(*iris)
    for name in ("checkpoint.safetensors", "mine.safetensors", "x/../checkpoint.safetensors",
                 "deeper/still/m.safetensors"):
        with pytest.raises(ValueError, match=r"is inside .*run', a folder of softreg's train "
                           "command, whose files it writes and reads back: save the estimator "
                           "elsewhere"):
            m.save(run / name, overwrite=True)
    (tmp_path / "link").symlink_to(run)
    with pytest.raises(ValueError, match="a folder of softreg's train command"):
        m.save(tmp_path / "link" / "checkpoint.safetensors", overwrite=True)
    assert not (run / "x").exists() and not (run / "deeper").exists()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert main(["evaluate", str(run), "--no-figures"]) == 0  # still the run's own checkpoint


def test_load_refuses_the_other_estimators_file_naming_the_one_to_use(tmp_path, iris):
    X, y = iris
    plain = SoftmaxRegression().fit(X, y).save(tmp_path / "plain.safetensors")
    cv = SoftmaxRegressionCV(Cs=3, cv=3).fit(X, y).save(tmp_path / "cv.safetensors")
    with pytest.raises(CheckpointError, match=r"cv\.safetensors' holds a saved "
                       r"SoftmaxRegressionCV, not a SoftmaxRegression; load it with "
                       r"SoftmaxRegressionCV\.load"):
        SoftmaxRegression.load(cv)  # it came back with the CV's parameters, and C=1
    with pytest.raises(CheckpointError, match=r"holds a saved SoftmaxRegression, not a "
                       r"SoftmaxRegressionCV; load it with SoftmaxRegression\.load"):
        SoftmaxRegressionCV.load(plain)


def test_a_subclass_loads_its_parents_file_and_its_own(tmp_path, iris):
    X, y = iris

    class Mine(SoftmaxRegression):
        pass

    mine = Mine().fit(X, y).save(tmp_path / "mine.safetensors")
    plain = SoftmaxRegression().fit(X, y).save(tmp_path / "plain.safetensors")
    assert type(SoftmaxRegression.load(mine)) is SoftmaxRegression
    assert type(Mine.load(plain)) is Mine
    with pytest.raises(CheckpointError, match="holds a saved Mine, not a SoftmaxRegressionCV"):
        SoftmaxRegressionCV.load(mine)


def test_a_cv_file_without_its_cs_still_loads_as_a_cv(tmp_path, iris):
    X, y = iris
    with pytest.warns(UserWarning, match="Cs"):  # a range cannot be stored: dropped, warned
        path = SoftmaxRegressionCV(Cs=range(1, 4), cv=3).fit(X, y).save(tmp_path / "cv.st")
    assert type(SoftmaxRegressionCV.load(path)) is SoftmaxRegressionCV
    with pytest.raises(CheckpointError, match="holds a saved SoftmaxRegressionCV"):
        SoftmaxRegression.load(path)


def test_save_refuses_the_run_folder_itself_and_an_unreadable_marker(tmp_path, iris):
    from softreg.safety import runfolder

    m = SoftmaxRegression().fit(*iris)
    run = tmp_path / "run"
    runfolder.claim(run, "train", "new").release()
    with pytest.raises(ValueError, match="a folder of softreg's train command"):
        m.save(run / "zz" / "..", overwrite=True)  # resolves to the run folder itself
    assert not (run / "zz").exists()
    (run / runfolder.MARKER).write_text("{not json")  # softreg's marker, unreadable
    with pytest.raises(ValueError, match="a folder of softreg's run command"):
        m.save(run / "m.safetensors")
    (run / runfolder.MARKER).write_text('{"kind": "train\\u001b[2J"}')
    with pytest.raises(ValueError) as info:
        m.save(run / "m.safetensors")
    assert "\x1b" not in str(info.value)  # the kind read from the file is escaped


def test_load_of_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    """load asked the older format's check first, which opened the path and waited for a
    writer for ever; a run folder whose checkpoint is a FIFO too."""
    import os
    import signal

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "checkpoint.safetensors")
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("load waited on the FIFO"))
    signal.alarm(20)
    try:
        for path in (fifo, run):
            with pytest.raises(CheckpointError, match=r"is a FIFO \(named pipe\), not a "
                                                      r"regular file"):
                SoftmaxRegression.load(path)
    finally:
        signal.alarm(0)
