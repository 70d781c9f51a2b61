"""``softreg predict``: the JSON's labels, a run's --image-size, a table's column names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from softreg.cli import main


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _fitted(tmp_path: Path, labels: np.ndarray, name: str = "m.safetensors") -> tuple[Path, Path,
                                                                                       object]:
    """An estimator fitted on ``labels`` (one per cluster), saved; and a .npy of 3 rows."""
    need("sklearn")
    from softreg import SoftmaxRegression

    rng = np.random.default_rng(0)
    centres = np.eye(len(labels), 4) * 6
    X = np.concatenate([c + rng.normal(size=(20, 4)) for c in centres])
    y = np.repeat(labels, 20)
    est = SoftmaxRegression().fit(X, y)
    path = est.save(tmp_path / name)
    rows = tmp_path / f"{name}.npy"
    np.save(rows, centres.astype(np.float32))
    return path, rows, est


def _top(out: str) -> list[dict]:
    return [r["top"][0] for r in json.loads(out)]


def test_json_carries_an_estimators_text_labels_exactly_and_text_shows_them_escaped(
        tmp_path, capsys):
    labels = np.array(["", "b\tc", "naïve", "''"])  # '' prints as the empty label is shown
    path, rows, est = _fitted(tmp_path, labels)
    code, out, err = _run(capsys, "predict", path, rows, "--json", "--top-k", "1")
    assert code == 0, err
    top = _top(out)
    assert [t["class"] for t in top] == list(est.predict(np.load(rows))) == list(labels)
    assert [t["label"] for t in top] == list(labels)
    code, out, err = _run(capsys, "predict", path, rows, "--top-k", "1")
    assert code == 0, err
    assert "b\\x09c" in out and "\t" not in out  # the text output stays printable


@pytest.mark.parametrize(("labels", "texts"), [
    (np.array([10, 20, 30]), ["10", "20", "30"]),
    (np.array([-1.0, 2.0, 7.0]), ["-1.0", "2.0", "7.0"]),
    (np.array([False, True]), ["False", "True"]),
])
def test_json_gives_an_estimators_other_labels_with_their_type(tmp_path, capsys, labels, texts):
    path, rows, est = _fitted(tmp_path, labels)
    code, out, err = _run(capsys, "predict", path, rows, "--json", "--top-k", "1")
    assert code == 0, err
    top = _top(out)
    assert [t["class"] for t in top] == texts  # the text "class" as before
    assert [t["label"] for t in top] == labels.tolist() == est.predict(np.load(rows)).tolist()
    assert [type(t["label"]) for t in top] == [type(v) for v in labels.tolist()]


def test_json_label_of_a_runs_checkpoint_is_its_class_name(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lines = ["a,b,label"] + [f"{x:.3f},{-x:.3f},{'pos' if x > 0 else 'neg'}"
                             for x in rng.normal(size=60)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "2", "--data",
                        f"csv:{tmp_path / 't.csv'}", "--out", tmp_path / "run", "--no-figures",
                        "--quiet")
    assert code == 0, err
    np.save(tmp_path / "rows.npy", np.array([[1.0, -1.0]], np.float32))
    code, out, err = _run(capsys, "predict", tmp_path / "run", tmp_path / "rows.npy", "--json")
    assert code == 0, err
    assert [(t["class"], t["label"]) for t in json.loads(out)[0]["top"]] == [
        ("pos", "pos"), ("neg", "neg")]


def _photos(tmp_path: Path, colour: bool) -> Path:
    PIL = need("PIL", "PIL.Image")
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            shape = (16, 12, 3) if colour else (16, 12)
            PIL.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
                root / cls / f"{i}.png")
    return root


@pytest.mark.parametrize("grayscale", [False, True])
def test_a_run_trained_with_an_image_size_predicts_on_its_own_pictures(tmp_path, capsys,
                                                                       grayscale):
    root = _photos(tmp_path, colour=True)
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "2", "--data",
                        f"folder:{root}", "--image-size", "8x6", "--out", run, "--no-figures",
                        "--quiet", *(["--grayscale"] if grayscale else []))
    assert code == 0, err
    picture = root / "cat" / "0.png"
    code, out, err = _run(capsys, "predict", run, picture, "--json")
    assert code == 0, err
    # the same probabilities as for the pixels the folder loader gives training
    from softreg.data.folder import load_folder

    ds = load_folder(str(root), "folder:photos", (8, 6), grayscale)
    assert ds.image_shape == ((8, 6) if grayscale else (8, 6, 3))
    np.save(tmp_path / "pixels.npy", ds.X_train[0])  # cat/0.png: the folder's first file
    code, again, err = _run(capsys, "predict", run, tmp_path / "pixels.npy", "--json")
    assert code == 0, err
    assert json.loads(again)[0]["top"] == json.loads(out)[0]["top"]


def test_predict_reads_a_csv_header_of_an_estimators_names_with_spaces(tmp_path, capsys):
    need("sklearn")
    pd = need("pandas")
    from softreg import SoftmaxRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    frame = pd.DataFrame(X, columns=[" e ", "f", "g "])
    est = SoftmaxRegression().fit(frame, (X[:, 0] > 0).astype(int))
    path = est.save(tmp_path / "m.safetensors")
    frame.iloc[:3].to_csv(tmp_path / "rows.csv", index=False)  # the header ' e ',f,g '
    (tmp_path / "plain.csv").write_text("g,e,f\n" + "\n".join(
        f"{r[2]},{r[0]},{r[1]}" for r in X[:3]) + "\n")
    for rows in ("rows.csv", "plain.csv"):
        code, out, err = _run(capsys, "predict", path, tmp_path / rows, "--json")
        assert code == 0, err
        got = [next(t["probability"] for t in r["top"] if t["index"] == 1)
               for r in json.loads(out)]
        np.testing.assert_allclose(got, est.predict_proba(frame.iloc[:3])[:, 1], atol=1e-6)


def test_json_of_an_estimator_fitted_on_class_indices_keeps_the_datas_class_names(
        tmp_path, capsys):
    need("sklearn")
    from softreg import SoftmaxRegression
    from softreg.estimator import load_split

    X, y = load_split("sklearn:iris")
    path = SoftmaxRegression().fit(X, y).save(tmp_path / "m.safetensors", data="sklearn:iris")
    np.save(tmp_path / "rows.npy", X[[0, 50, 110]].astype(np.float32))
    code, out, err = _run(capsys, "predict", path, tmp_path / "rows.npy", "--json", "--top-k",
                          "1")
    assert code == 0, err
    assert [(t["class"], t["label"]) for t in _top(out)] == [
        ("setosa", 0), ("versicolor", 1), ("virginica", 2)]


def test_json_refuses_estimator_labels_that_do_not_name_the_classes(tmp_path, capsys):
    from softreg.runfiles import checkpoint

    path, rows, _ = _fitted(tmp_path, np.array(["x", "y", "z"]))
    ck = checkpoint.load(path)
    ck.meta["estimator"]["rows"] = [0, 0, 1]
    checkpoint.save(path, ck)
    code, out, err = _run(capsys, "predict", path, rows, "--json")
    assert code == 2 and out == "" and "its estimator metadata is unreadable" in err, err
    assert len(err.strip().splitlines()) == 1
    code, out, err = _run(capsys, "predict", path, rows)  # the text output needs the names only
    assert code == 0, err


def test_an_input_that_is_not_a_regular_file_is_named_for_what_it_is(tmp_path, capsys):
    """``predict RUN /dev/null`` said the input did not exist; it is a character device."""
    rng = np.random.default_rng(2)
    rows = ["a,b,label"] + [f"{rng.normal() + i % 2:.3f},{rng.normal():.3f},{'yn'[i % 2]}"
                            for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--data",
                        f"csv:{tmp_path / 't.csv'}", "--out", run, "--no-figures", "--quiet")
    assert code == 0, err
    code, out, err = _run(capsys, "predict", run, "/dev/null")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "input '/dev/null' is a character device, not a regular file" in err
    assert "does not exist" not in err
    code, _, err = _run(capsys, "predict", run, tmp_path / "gone.csv")
    assert code == 2 and f"input {str(tmp_path / 'gone.csv')!r} does not exist" in err
