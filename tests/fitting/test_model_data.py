"""Data to score a trained model on (``evaluate``, ``explain``): some of the model's classes are
enough, one even, matched by name; a class the model lacks is refused."""

from __future__ import annotations

import numpy as np
import pytest

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.core.shape import ModelShape
from softreg.fitting.splits import DataCheck, class_index, model_data, model_splits

MODEL = ModelShape(("cat", "dog", "eel"), 2, None, ("a", "b"))


def _table(path, labels):
    rng = np.random.default_rng(0)
    lines = ["a,b,label"] + [f"{u:.3f},{v:.3f},{k}" for (u, v), k in
                             zip(rng.normal(size=(len(labels), 2)), labels, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return f"csv:{path}"


def test_the_datas_classes_are_matched_to_the_models_by_name():
    assert class_index(MODEL.class_names, MODEL.class_names) is None  # the model's own
    assert class_index(("dog", "eel"), MODEL.class_names).tolist() == [1, 2]
    assert class_index(("eel",), MODEL.class_names).tolist() == [2]
    assert class_index(("eel", "cat"), MODEL.class_names).tolist() == [2, 0]
    assert class_index(("cat", "fox", "gnu"), MODEL.class_names) == ["fox", "gnu"]
    indices = ("0", "1", "2")  # an estimator fitted on the class indices 0..2
    assert class_index(("1", "2"), indices, label_indices=True).tolist() == [1, 2]
    assert class_index(("x", "y", "z"), indices, label_indices=True) is None  # in order
    assert class_index(("y", "z"), indices, label_indices=True) == ["y", "z"]
    assert class_index(("y", "z"), indices) == ["y", "z"]


@pytest.mark.parametrize(("labels", "names"), [
    (["dog", "eel"] * 10, ("dog", "eel")), (["eel"] * 10, ("eel",)),
    (["eel"] * 9 + ["cat"], ("cat", "eel"))])
def test_data_of_some_classes_gets_the_models_class_indices_and_both_splits(tmp_path, labels,
                                                                           names):
    spec = _table(tmp_path / "t.csv", labels)
    config = TrainConfig(data=spec, val_split=0.0)
    ds = model_data(MODEL, config)
    assert ds.class_names == MODEL.class_names
    truth = [MODEL.class_names.index(k) for k in labels]
    assert ds.y_train.tolist() == truth
    splits = model_splits(MODEL, config)
    test, train = splits["test"], splits["train"]
    assert len(test.y) + len(train.y) == len(labels) and len(test.y) > 0
    # stratified per class: 20% of each class present (round), none of the others
    for k in {MODEL.class_names.index(n) for n in names}:
        assert (test.y == k).sum() == round(0.2 * truth.count(k))
    assert set(test.y.tolist()) | set(train.y.tolist()) == {MODEL.class_names.index(n)
                                                            for n in names}


def test_a_class_the_model_lacks_and_too_little_data_are_refused(tmp_path):
    many = _table(tmp_path / "m.csv", ["cat", "fox", "gnu", "hen", "ibis", "jay", "kea", "owl"])
    with pytest.raises(ConfigError, match=r"^data 'csv:.*m\.csv' has class\(es\) 'fox', 'gnu', "
                                          r"'hen', 'ibis', 'jay' and 2 more that the model "
                                          r"lacks: it was trained on 2 features and 3 classes "
                                          r"\(cat, dog, eel\); give data of the model's classes "
                                          r"\(some of them are enough\), or leave --data out"):
        model_data(MODEL, TrainConfig(data=many), where="the model")
    with pytest.raises(ConfigError, match=r"needs all 3 classes"):
        model_data(ModelShape(("0", "1", "2"), 2, None, ("a", "b")),
                   TrainConfig(data=_table(tmp_path / "w.csv", ["x", "y"] * 5)),
                   check=DataCheck(label_indices=True))
    tiny = _table(tmp_path / "tiny.csv", ["eel", "eel"])
    with pytest.raises(ConfigError, match=r"\(2 examples\) is too small to split as the model's "
                                          r"run did: --test-split 0\.2 of 2 labels leaves the "
                                          r"test part empty"):
        model_splits(MODEL, TrainConfig(data=tiny))


def test_a_tables_columns_the_model_lacks_are_left_out_and_a_missing_one_refused(tmp_path):
    """A table with a column more (a note beside the features) is scored on the model's
    columns, taken by name in the model's order, as ``predict`` takes a CSV's; a table without
    one of the model's columns is still refused, and data without names keeps the count."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3)).round(3)
    labels = ["cat", "dog", "eel", "dog"] * 5
    wide = tmp_path / "wide.csv"
    wide.write_text("\n".join(["note,b,label,a"] + [f"{n},{v},{k},{u}" for (u, v, n), k in
                                                   zip(x, labels, strict=True)]) + "\n")
    ds = model_data(MODEL, TrainConfig(data=f"csv:{wide}", val_split=0.0))
    assert ds.feature_names == ("a", "b") and ds.shape.features == 2
    np.testing.assert_allclose(ds.X_train, x[:, :2].astype(np.float32))
    assert ds.y_train.tolist() == [MODEL.class_names.index(k) for k in labels]
    splits = model_splits(MODEL, TrainConfig(data=f"csv:{wide}", val_split=0.0))
    assert splits["test"].X.shape[1] == 2 and splits["train"].X.shape[1] == 2
    short = tmp_path / "short.csv"  # the model's b missing, two others instead
    short.write_text("\n".join(["a,note,more,label"] + [f"{u},{v},{n},{k}" for (u, v, n), k in
                                                        zip(x, labels, strict=True)]) + "\n")
    with pytest.raises(ConfigError, match=r"the model's columns it lacks: b"):
        model_data(MODEL, TrainConfig(data=f"csv:{short}"), where="the model")
    arrays = tmp_path / "three.npz"  # no names: three features are not the model's two
    np.savez(arrays, X=x.astype(np.float32), y=np.array([0, 1, 2, 1] * 5))
    with pytest.raises(ConfigError, match=r"has 3 features and 3 classes"):
        model_data(ModelShape(("0", "1", "2"), 2, None, ("a", "b")),
                   TrainConfig(data=f"npz:{arrays}"))


def test_a_models_feature_named_with_surrounding_spaces_finds_a_csvs_stripped_column(tmp_path):
    """Parquet and a DataFrame keep a name's spaces (' sl '), a CSV header is stripped ('sl'):
    evaluate --data refused the model's own column as missing, where predict finds it."""
    spaced = ModelShape(MODEL.class_names, 2, None, (" a ", "b"))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 2)).round(3)
    labels = ["cat", "dog", "eel", "dog"] * 5
    table = tmp_path / "t.csv"
    table.write_text("\n".join(["b,label,a,note"] + [f"{v},{k},{u},1" for (u, v), k in
                                                    zip(x, labels, strict=True)]) + "\n")
    ds = model_data(spaced, TrainConfig(data=f"csv:{table}", val_split=0.0))
    assert ds.feature_names == (" a ", "b")
    np.testing.assert_allclose(ds.X_train, x.astype(np.float32))
    twice = ModelShape(MODEL.class_names, 2, None, (" a ", "a"))  # both would take column a
    with pytest.raises(ConfigError, match=r"differ only by surrounding spaces"):
        model_data(twice, TrainConfig(data=f"csv:{table}", val_split=0.0))
