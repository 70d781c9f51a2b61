"""A saved estimator is a softreg checkpoint: the commands read it, and it comes back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import need

need("sklearn")
need("safetensors")

from softreg.cli import main  # noqa: E402
from softreg.estimator import SoftmaxRegression, load_split  # noqa: E402
from softreg.runfiles import checkpoint  # noqa: E402

DIGITS = "sklearn:digits"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, text):
    assert code == 2, err
    assert text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def digits():
    return load_split(DIGITS, "train"), load_split(DIGITS, "test")


def _predicted(capsys, path, rows_file, c):
    code, out, err = _run(capsys, "predict", path, rows_file, "--json", "--top-k", c)
    assert code == 0, err
    probs = np.zeros((len(json.loads(out)), c))
    for i, res in enumerate(json.loads(out)):
        for t in res["top"]:
            probs[i, t["index"]] = t["probability"]
    return probs, json.loads(out)


@pytest.mark.parametrize("standardize", [False, True])
def test_predict_proba_equals_softreg_predict(tmp_path, capsys, digits, standardize):
    (X, y), (Xte, _) = digits
    est = SoftmaxRegression(C=0.5, standardize=standardize).fit(X, y)
    path = est.save(tmp_path / "model.safetensors", data=DIGITS)
    np.save(tmp_path / "rows.npy", Xte[:40])
    probs, _ = _predicted(capsys, path, tmp_path / "rows.npy", 10)
    # the command computes in float32 from the float32 rows: equal to float32 rounding, which
    # for logits of size z (digits: up to 26) is a few eps * z, in a probability at most that
    rounding = 4 * np.finfo(np.float32).eps * (1 + np.abs(est.decision_function(Xte[:40])).max())
    assert np.abs(probs - est.predict_proba(Xte[:40])).max() <= rounding
    assert (probs.argmax(1) == est.predict(Xte[:40])).all()


def test_a_cross_validated_estimator_saves_its_final_model(tmp_path, capsys, digits):
    from softreg.estimator import SoftmaxRegressionCV

    (X, y), (Xte, _) = digits
    cv = SoftmaxRegressionCV(Cs=[0.1, 1.0], cv=3, standardize=True).fit(X, y)
    path = cv.save(tmp_path / "cv.safetensors", data=DIGITS)
    back = SoftmaxRegressionCV.load(path)
    assert np.array_equal(back.predict_proba(Xte), cv.predict_proba(Xte))
    np.save(tmp_path / "rows.npy", Xte[:40])
    probs, _ = _predicted(capsys, path, tmp_path / "rows.npy", 10)
    assert np.abs(probs - cv.predict_proba(Xte[:40])).max() <= 1e-6


def test_string_labels_round_trip_and_name_the_classes(tmp_path, capsys, digits):
    (X, y), (Xte, _) = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"], dtype=object)
    est = SoftmaxRegression(C=0.5).fit(X, names[y])
    path = est.save(tmp_path / "model.safetensors")
    back = SoftmaxRegression.load(path)
    assert back.classes_.dtype == object and list(back.classes_) == sorted(names)
    assert np.array_equal(back._W, est._W) and np.array_equal(back._b, est._b)  # float64 kept
    assert np.array_equal(back.predict(Xte), est.predict(Xte))
    np.save(tmp_path / "rows.npy", Xte[:5])
    probs, res = _predicted(capsys, path, tmp_path / "rows.npy", 10)
    assert [r["top"][0]["class"] for r in res] == list(est.predict(Xte[:5]))
    assert np.abs(probs - est.predict_proba(Xte[:5])).max() <= 1e-6


@pytest.mark.parametrize("labels", [np.array([-1.0, 2.0, 7.0]), np.array([10, 20, 30]),
                                    np.array(["b", "a", "c"])])
def test_any_label_type_comes_back(tmp_path, labels):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    y = labels[np.argmax(X[:, :3], axis=1)]
    est = SoftmaxRegression().fit(X, y)
    back = SoftmaxRegression.load(est.save(tmp_path / "m.safetensors"))
    assert back.classes_.tolist() == est.classes_.tolist()
    assert back.classes_.dtype.kind == est.classes_.dtype.kind
    assert np.array_equal(back.predict(X), est.predict(X))


def test_evaluate_reads_the_recorded_data(tmp_path, capsys, digits):
    (X, y), (Xte, yte) = digits
    est = SoftmaxRegression(C=0.5).fit(X, y)
    path = est.save(tmp_path / "model.safetensors", data=DIGITS)
    code, out, err = _run(capsys, "evaluate", path, "--no-figures")
    assert code == 0, err
    assert "(SoftmaxRegression fitted with numpy)" in out
    assert f"test: accuracy {est.score(Xte, yte):.4f}" in out


def _species_csv(path):
    """A learnable CSV of three classes whose label column, ``species``, has none of the
    usual names (label, class, target, y)."""
    rng = np.random.default_rng(0)
    k = rng.integers(0, 3, 150)
    x = rng.normal(size=(150, 2)) + np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])[k]
    names = ("setosa", "versicolor", "virginica")
    rows = [f"{u:.4f},{v:.4f},{names[c]}" for (u, v), c in zip(x, k, strict=True)]
    path.write_text("\n".join(["a,b,species", *rows]) + "\n")
    return f"csv:{path}"


@pytest.mark.parametrize("cv", [False, True])
def test_a_table_s_label_column_is_named_and_recorded(tmp_path, capsys, cv):
    from softreg.core.errors import DataError
    from softreg.estimator import SoftmaxRegressionCV

    spec = _species_csv(tmp_path / "flowers.csv")
    with pytest.raises(DataError, match="no label column"):
        load_split(spec)  # none of the usual names
    X, y = load_split(spec, label_column="species")
    Xte, yte = load_split(spec, "test", label_column="species")
    assert X.shape == (120, 2) and Xte.shape == (30, 2)  # the label is not a feature
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    est = (SoftmaxRegressionCV(Cs=[0.1, 1.0], cv=3).fit(X, names[y]) if cv
           else SoftmaxRegression().fit(X, y))
    target = names[yte] if cv else yte
    path = est.save(tmp_path / "model.safetensors", data=spec, label_column="species")
    assert checkpoint.load(path).meta["label_column"] == "species"
    code, out, err = _run(capsys, "evaluate", path, "--no-figures")  # no --data
    assert code == 0, err
    assert f"test: accuracy {est.score(Xte, target):.4f}  " in out
    assert "(30 examples)" in out
    code, out, err = _run(capsys, "explain", path, "--no-figures")
    assert code == 0, err
    assert "30 test examples" in out


def test_a_label_column_is_refused_where_it_would_be_ignored(tmp_path, digits):
    (X, y), _ = digits
    with pytest.raises(ValueError, match=r"label_column is a table's \(csv:, parquet:\) "
                       r"setting, and data 'sklearn:digits' is not one: it would be ignored"):
        load_split(DIGITS, label_column="species")
    est = SoftmaxRegression(C=0.5).fit(X, y)
    with pytest.raises(ValueError, match=r"label_column is a table's \(csv:, parquet:\)"):
        est.save(tmp_path / "model.safetensors", data=DIGITS, label_column="species")
    with pytest.raises(ValueError, match="no data is given: it would be ignored"):
        est.save(tmp_path / "model.safetensors", label_column="species")
    assert not list(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.parametrize(("meta", "problem"), [
    ({"label_column": "species"}, "does not record"),
    ({"data": "csv:x.csv", "label_column": ""}, "must be a column's name"),
    ({"data": "csv:x.csv", "label_column": 3}, "must be a column's name")])
def test_a_recorded_label_column_is_checked(meta, problem):
    from softreg.core.errors import CheckpointError
    from softreg.runfiles.checkpoint_meta import validate_meta

    with pytest.raises(CheckpointError, match=problem):
        validate_meta(meta, "m.safetensors")


def test_evaluate_and_explain_need_data_for_an_array_fit(tmp_path, capsys, digits):
    (X, y), _ = digits
    path = SoftmaxRegression(C=0.5).fit(X, y).save(tmp_path / "model.safetensors")
    code, _, err = _run(capsys, "evaluate", path, "--no-figures")
    _one_line_error(code, err, "is a SoftmaxRegression saved without its data (fitted on "
                    "arrays); pass --data SPEC naming data of its 64 features and 10 classes")
    code, _, err = _run(capsys, "explain", path, "--no-figures")
    _one_line_error(code, err, "saved without its data")
    assert not (tmp_path / "model-explain").exists()  # refused before any folder is made
    code, out, err = _run(capsys, "evaluate", path, "--no-figures", "--data", DIGITS)
    assert code == 0, err
    code, out, err = _run(capsys, "explain", path, "--no-figures", "--data", DIGITS)
    assert code == 0, err
    assert "SoftmaxRegression fitted with numpy" in out
    assert (tmp_path / "model-explain" / "explain.md").exists()


def test_data_of_another_shape_is_refused(tmp_path, capsys, digits):
    (X, y), _ = digits
    est = SoftmaxRegression().fit(X, y)
    path = est.save(tmp_path / "model.safetensors", data=DIGITS)
    code, _, err = _run(capsys, "evaluate", path, "--no-figures", "--data", "sklearn:iris")
    _one_line_error(code, err, "has 4 features and 3 classes")
    with pytest.raises(ValueError, match="data 'sklearn:iris' has 4 features, but the "
                       "estimator was fitted on 64"):
        est.save(tmp_path / "other.safetensors", data="sklearn:iris")
    names = np.array([f"c{k}" for k in range(10)])
    with pytest.raises(ValueError, match=r"neither those names nor their indices 0\.\.9"):
        SoftmaxRegression().fit(X, names[y]).save(tmp_path / "o.safetensors", data=DIGITS)


def test_the_data_s_class_order_is_kept(tmp_path, capsys, fake_fashion):
    from softreg.data import load

    X, y = load_split("fashion-mnist")
    names = np.array(load("fashion-mnist").class_names, dtype=object)
    est = SoftmaxRegression(C=0.1).fit(X, names[y])  # classes_ sorted: not the data's order
    path = est.save(tmp_path / "model.safetensors", data="fashion-mnist")
    ck = checkpoint.load(path)
    assert list(ck.shape.class_names) == list(names) and ck.shape.image_shape == (28, 28)
    k = list(est.classes_).index(names[3])
    assert np.allclose(ck.W[3], est._W[:, k].astype(np.float32))
    back = SoftmaxRegression.load(path)
    assert np.array_equal(back.classes_, est.classes_) and np.array_equal(back._W, est._W)
    Xte, yte = load_split("fashion-mnist", "test")
    code, out, err = _run(capsys, "evaluate", path, "--no-figures")
    assert code == 0, err
    assert f"test: accuracy {est.score(Xte, names[yte]):.4f}" in out


@pytest.mark.parametrize("fmt", ["torch", "onnx"])
def test_export_takes_a_saved_estimator(tmp_path, capsys, digits, fmt):
    if fmt == "onnx":
        need("onnx")
        ort = need("onnxruntime")
    (X, y), (Xte, _) = digits
    est = SoftmaxRegression(standardize=True).fit(X, y)
    path = est.save(tmp_path / "model.safetensors", data=DIGITS)
    code, _, err = _run(capsys, "export", path, "--format", fmt)
    assert code == 0, err
    if fmt == "onnx":
        sess = ort.InferenceSession(str(tmp_path / "model.onnx"))
        probs = sess.run(["probabilities"], {"features": Xte[:20]})[0]
        assert np.abs(probs - est.predict_proba(Xte[:20])).max() <= 1e-5
    else:
        assert (tmp_path / "model_torch.safetensors").exists()


def test_files_of_the_earlier_format_still_load(tmp_path):
    import safetensors.numpy

    W, b = np.arange(6.0).reshape(3, 2) / 10, np.array([0.5, -0.5])
    meta = {"format": "softreg-estimator", "format_version": "1",
            "classes": json.dumps({"dtype": "str", "values": ["no", "yes"]}),
            "params": json.dumps({"C": 2.0})}
    path = tmp_path / "old.safetensors"
    path.write_bytes(safetensors.numpy.save({"W": W, "b": b}, metadata=meta))
    est = SoftmaxRegression.load(path)
    assert est.C == 2.0 and list(est.classes_) == ["no", "yes"]
    assert np.array_equal(est._W, W) and est.n_features_in_ == 3
