"""Other data than Fashion-MNIST, end to end: scikit-learn's bundled sets (real data that ships
offline), generated image folders (grayscale and RGB, PNG and JPEG, with and without train/test
folders), a CSV with string labels, arrays in Python; and every refusal of bad data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError, DataError, DataNotFoundError
from softreg.data import DataOptions, from_arrays, load
from softreg.runfiles import checkpoint


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, argv, message: str, tmp_path: Path) -> None:
    """One line on stderr naming the problem, exit 2, and no run folder written."""
    out_dir = tmp_path / "refused-run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--quiet",
                        "--no-figures", "--out", out_dir, *argv)
    assert code == 2, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not out_dir.exists()


# ----------------------------------------------------------------------------- generated data


def _images(root: Path, mode: str, ext: str, size=(10, 8), n=10, classes=("cat", "dog", "eel"),
            seed=0) -> None:
    """Class folders of learnable images: each class bright in its own region (left half,
    right half, top half), dim noise elsewhere."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size
    regions = [(slice(None), slice(0, w // 2)), (slice(None), slice(w // 2, None)),
               (slice(0, h // 2), slice(None))]
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = size if mode == "L" else (*size, 3)
            pixels = rng.random(shape) * 60
            pixels[regions[c % 3]] += 150
            Image.fromarray(pixels.astype(np.uint8), mode).save(folder / f"{i}.{ext}")


def _csv(path: Path, rows: list[list[object]], header=("a", "b", "species")) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture()
def string_csv(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    rows: list[list[object]] = []
    for i in range(60):
        name = ("setosa", "virginica", "versicolor")[i % 3]
        centre = {"setosa": 0.0, "versicolor": 3.0, "virginica": 6.0}[name]
        rows.append([centre + rng.normal(), -centre + rng.normal(), name])
    return _csv(tmp_path / "flowers.csv", rows)


# ----------------------------------------------------------------------------- scikit-learn


SKLEARN = {"digits": (10, 64), "iris": (3, 4), "wine": (3, 13), "breast_cancer": (2, 30)}


@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_sets_train_evaluate_predict_explain_export(capsys, tmp_path, name):
    """Real data no one here wrote: train, evaluate, predict a row, explain, export to ONNX
    (checked with onnxruntime against predict), and read the checkpoint back."""
    need("sklearn")
    classes, features = SKLEARN[name]
    run = tmp_path / name
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--data", f"sklearn:{name}",
                        "--epochs", "15", "--batch-size", "16", "--val-split", "0.1",
                        "--quiet", "--no-figures", "--out", run)
    assert code == 0, out
    acc = float(out.split("test acc ")[1].split()[0])
    assert acc > {"digits": 0.85, "iris": 0.7, "wine": 0.75, "breast_cancer": 0.9}[name]
    ck = checkpoint.load(run / "checkpoint.safetensors")
    assert ck.W.shape == (classes, features) and ck.shape.image_shape is None
    assert ck.meta["data"] == f"sklearn:{name}" and len(ck.meta["data_fingerprint"]) == 64
    assert ck.meta["scaling"] == "raw" and json.loads((run / "config.json").read_text())[
        "data"] == f"sklearn:{name}"
    code, out, _ = _run(capsys, "evaluate", run, "--no-figures")
    assert code == 0 and f"test: accuracy {acc:.4f}" in out
    row = load(f"sklearn:{name}").X_train[:2]
    np.save(tmp_path / "rows.npy", row)
    code, out, _ = _run(capsys, "predict", run, tmp_path / "rows.npy", "--json",
                        "--top-k", "2")
    assert code == 0
    predicted = json.loads(out)
    assert [r["image"] for r in predicted] == [f"{tmp_path / 'rows.npy'}:{i}" for i in (1, 2)]
    code, out, _ = _run(capsys, "explain", run, "--no-figures")
    assert code == 0 and "## Largest coefficients" in (run / "explain.md").read_text()
    if name != "iris":
        return
    need("onnxruntime")
    import onnxruntime as ort

    code, _, _ = _run(capsys, "export", run, "--format", "onnx")
    assert code == 0
    sess = ort.InferenceSession(str(run / "model.onnx"))
    assert sess.get_inputs()[0].name == "features" and sess.get_inputs()[0].shape[1] == 4
    _, probs = sess.run(None, {"features": row.astype(np.float32)})
    for r, p in zip(predicted, probs, strict=True):
        assert r["top"][0]["probability"] == pytest.approx(float(p.max()), rel=1e-5)


@pytest.mark.parametrize("framework", [pytest.param("torch", marks=pytest.mark.torch),
                                       pytest.param("tensorflow", marks=pytest.mark.tensorflow),
                                       pytest.param("mxnet", marks=pytest.mark.mxnet)])
def test_every_framework_trains_a_table_as_numpy_does(tmp_path, framework):
    need("sklearn")
    need(framework)
    from softreg.fitting.splits import prepare_splits
    from softreg.fitting.trainer import fit

    results = {}
    for fw in ("numpy", framework):
        config = TrainConfig(framework=fw, data="sklearn:wine", epochs=3, batch_size=16)
        result = fit(config, prepare_splits(config))
        results[fw] = result.trainer.snapshot()
    np.testing.assert_allclose(results[framework][0], results["numpy"][0], rtol=1e-3,
                               atol=1e-4)


# ----------------------------------------------------------------------------- image folders


def test_folders_gray_png_and_rgb_jpeg_with_and_without_splits(capsys, tmp_path):
    gray, colour = tmp_path / "gray", tmp_path / "colour"
    _images(gray, "L", "png")
    _images(colour / "train", "RGB", "jpg")
    _images(colour / "test", "RGB", "png", n=3, seed=1)
    ds = load(f"folder:{gray}")
    assert ds.X_train.shape == (30, 10, 8) and ds.X_test is None
    assert ds.class_names == ("cat", "dog", "eel") and ds.image_shape == (10, 8)
    ds = load(f"folder:{colour}")
    assert ds.X_train.shape == (30, 10, 8, 3) and ds.X_test.shape == (9, 10, 8, 3)
    run = tmp_path / "run"
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{colour}",
                        "--epochs", "30", "--batch-size", "8", "--lr", "0.5", "--quiet",
                        "--out", run)
    assert code == 0 and "test acc 1.0000" in out, out
    assert (run / "predictions.png").is_file()
    ck = checkpoint.load(run)
    assert ck.W.shape == (3, 240) and ck.shape.image_shape == (10, 8, 3)
    code, out, _ = _run(capsys, "predict", run, colour / "test" / "eel" / "0.png")
    assert code == 0 and out.split(": ")[1].startswith("eel"), out
    code, _, _ = _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{colour}",
                      "--grayscale", "--image-size", "5x4", "--epochs", "1", "--quiet",
                      "--no-figures", "--out", tmp_path / "small")
    assert code == 0 and checkpoint.load(tmp_path / "small").shape.image_shape == (5, 4)


def test_colour_onnx_takes_channels_first_like_predict(capsys, tmp_path):
    need("onnxruntime")
    import onnxruntime as ort

    folder = tmp_path / "colour"
    _images(folder, "RGB", "png")
    run = tmp_path / "run"
    assert _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{folder}",
                "--epochs", "2", "--quiet", "--no-figures", "--out", run)[0] == 0
    assert _run(capsys, "export", run, "--format", "onnx")[0] == 0
    images = load(f"folder:{folder}").X_train[:4]  # (4, 10, 8, 3)
    ck = checkpoint.load(run)
    expected = images.reshape(4, -1).astype(np.float32) / 255 @ ck.W.T + ck.b
    sess = ort.InferenceSession(str(run / "model.onnx"))
    assert sess.get_inputs()[0].shape[1:] == [3, 10, 8]
    logits, _ = sess.run(None, {"pixels": images.transpose(0, 3, 1, 2).astype(np.float32) / 255})
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- tables, arrays


def test_csv_with_string_labels(capsys, tmp_path, string_csv):
    ds = load(f"csv:{string_csv}", options=DataOptions(label_column="species"))
    assert ds.class_names == ("setosa", "versicolor", "virginica")
    assert ds.feature_names == ("a", "b")
    run = tmp_path / "run"
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--data", f"csv:{string_csv}",
                        "--label-column", "species", "--epochs", "20", "--batch-size", "8",
                        "--quiet", "--no-figures", "--out", run)
    assert code == 0 and "test acc 1.0000" in out, out
    code, out, _ = _run(capsys, "predict", run, string_csv, "--top-k", "1", "--json")
    assert code == 0
    got = [r["top"][0]["class"] for r in json.loads(out)]  # the CSV's header picks a and b
    truth = [row[2] for row in csv.reader(string_csv.read_text().splitlines())][1:]
    assert len(got) == 60 and np.mean(np.array(got) == np.array(truth)) > 0.9


def test_from_arrays_and_fit_many(tmp_path):
    from softreg.fitting.pack_plan import fit_many
    from softreg.fitting.splits import prepare_splits

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    ds = from_arrays(X, y, class_names=["low", "mid", "high"], feature_names=list("vwxyz"))
    assert ds.spec == "arrays" and ds.shape.weights == (3, 5)
    configs = [TrainConfig(framework="numpy", epochs=5, batch_size=16, lr=lr, data="npz:x")
               for lr in (0.1, 0.3)]
    splits = prepare_splits(configs[0], dataset=ds)
    results = fit_many(configs, splits)
    assert [r.trainer.snapshot()[0].shape for r in results] == [(3, 5), (3, 5)]


def test_old_checkpoint_without_a_shape_reads_as_fashion_mnist_and_shapes_are_checked(tmp_path):
    from softreg.core.errors import CheckpointError
    from softreg.core.shape import ModelShape
    from softreg.data.fashion import MODEL_SHAPE

    W, b = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    checkpoint.save(tmp_path / "old.safetensors", checkpoint.Checkpoint(W, b, {"epoch": 1}))
    assert checkpoint.load(tmp_path / "old.safetensors").shape == MODEL_SHAPE
    small = ModelShape(("a", "b", "c"), 5)
    meta = {"model_shape": small.to_dict(), "class_names": ["a", "b", "c"]}
    checkpoint.save(tmp_path / "new.safetensors",
                    checkpoint.Checkpoint(np.ones((3, 5), np.float32), np.zeros(3, np.float32),
                                          meta))
    assert checkpoint.load(tmp_path / "new.safetensors").shape == small
    with pytest.raises(CheckpointError, match=r"array 'W' has shape \(10, 784\), expected "
                                              r"\(3, 5\) \(a linear softmax regression on 5 "
                                              r"features with 3 classes"):
        checkpoint.save(tmp_path / "bad.safetensors", checkpoint.Checkpoint(W, b, meta))


# ----------------------------------------------------------------------------- refusals


def test_unknown_data_name_lists_the_known_ones(capsys, tmp_path):
    _refused(capsys, ["--data", "mnits"], "unknown dataset 'mnits'; known datasets: "
             "fashion-mnist", tmp_path)
    with pytest.raises(ConfigError, match="unknown data source kind 'tsv'"):
        TrainConfig(data="tsv:x")


def test_bad_folders_are_refused(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(capsys, ["--data", f"folder:{empty}"], "holds no class folders", tmp_path)
    _refused(capsys, ["--data", f"folder:{tmp_path / 'nowhere'}"], "does not exist", tmp_path)
    one = tmp_path / "one"
    _images(one, "L", "png", classes=("cat",))
    _refused(capsys, ["--data", f"folder:{one}"], "holds one class folder (cat); a classifier "
             "needs at least 2", tmp_path)
    hollow = tmp_path / "hollow"
    _images(hollow, "L", "png")
    for f in (hollow / "dog").iterdir():
        f.unlink()
    _refused(capsys, ["--data", f"folder:{hollow}"], f"class folder {str(hollow / 'dog')!r} "
             "holds no images", tmp_path)
    mixed = tmp_path / "mixed"
    _images(mixed, "L", "png")
    _images(mixed / "eel", "L", "png", size=(6, 6), n=1, classes=("x",))
    (mixed / "eel" / "x" / "0.png").rename(mixed / "eel" / "odd.png")
    _refused(capsys, ["--data", f"folder:{mixed}"], "pass --image-size HxW to resize them",
             tmp_path)
    broken = tmp_path / "broken"
    _images(broken, "L", "png")
    data = (broken / "cat" / "3.png").read_bytes()
    (broken / "cat" / "3.png").write_bytes(data[: len(data) // 2])
    _refused(capsys, ["--data", f"folder:{broken}"], f"{str(broken / 'cat' / '3.png')!r}",
             tmp_path)
    split = tmp_path / "split"
    _images(split / "train", "L", "png", classes=("cat", "dog"))
    _images(split / "test", "L", "png", classes=("cat", "eel"))
    _refused(capsys, ["--data", f"folder:{split}"], "the test folder has class(es) eel that "
             "the train folder lacks", tmp_path)
    half = tmp_path / "half"
    _images(half / "train", "L", "png", classes=("cat", "dog"))
    _refused(capsys, ["--data", f"folder:{half}"], f"{str(half)!r} has a train/ folder but no "
             "test/ folder; softreg reads DIR/train/CLASS/IMAGE with DIR/test/CLASS/IMAGE, or "
             "DIR/CLASS/IMAGE", tmp_path)  # it read "one class folder (train)"


def test_a_test_folder_of_one_class_and_hidden_files_are_read(tmp_path):
    root = tmp_path / "split"
    _images(root / "train", "L", "png", classes=("cat", "dog"))
    _images(root / "test", "L", "png", classes=("dog",), n=3)  # was refused: "at least 2"
    (root / "train" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07")  # a Mac's copy
    ds = load(f"folder:{root}")
    assert ds.class_names == ("cat", "dog") and len(ds.y_train) == 20
    assert ds.y_test.tolist() == [1, 1, 1]


def test_data_to_score_may_hold_one_class_training_data_may_not(tmp_path):
    one = _csv(tmp_path / "one.csv", [[1, 2, "x"], [3, 4, "x"]])
    with pytest.raises(DataError, match=r"found 1 class\(es\) \(x\); a classifier needs "):
        load(f"csv:{one}", options=DataOptions(label_column="species"))
    from softreg.data.dataset import fingerprint

    ds = load(f"csv:{one}", options=DataOptions(label_column="species", scoring=True))
    assert ds.class_names == ("x",) and ds.y_train.tolist() == [0, 0]
    assert ds.fingerprint == fingerprint(ds.X_train, ds.y_train, None, None)  # the same rule
    folder = tmp_path / "cats"
    _images(folder, "L", "png", n=5, classes=("cat",))
    with pytest.raises(DataError, match="holds one class folder \\(cat\\); a classifier"):
        load(f"folder:{folder}")
    ds = load(f"folder:{folder}", options=DataOptions(scoring=True))
    assert ds.class_names == ("cat",) and ds.X_train.shape == (5, 10, 8)
    split = tmp_path / "split"  # a test folder of classes the train folder lacks
    _images(split / "train", "L", "png", n=4, classes=("dog",))
    _images(split / "test", "L", "png", n=2, classes=("cat", "eel"))
    with pytest.raises(DataError, match="holds one class folder"):
        load(f"folder:{split}")
    ds = load(f"folder:{split}", options=DataOptions(scoring=True))
    assert ds.class_names == ("cat", "dog", "eel")
    assert ds.y_train.tolist() == [1] * 4 and ds.y_test.tolist() == [0, 0, 2, 2]


def test_evaluate_and_explain_score_a_folder_of_one_class(capsys, tmp_path):
    pics, cats = tmp_path / "pics", tmp_path / "cats"
    _images(pics, "L", "png")
    _images(cats, "L", "png", n=10, classes=("cat",), seed=1)
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{pics}",
                        "--epochs", "30", "--batch-size", "8", "--lr", "0.5", "--quiet",
                        "--no-figures", "--out", run)
    assert code == 0, err
    code, out, err = _run(capsys, "evaluate", run, "--data", f"folder:{cats}", "--png",
                          tmp_path / "cats.png")
    assert code == 0 and "(2 images)" in out, err
    assert "no images in the test split of 2 of the model's 3 classes: 'dog', 'eel'" in out
    assert (tmp_path / "cats.png").is_file()
    code, out, err = _run(capsys, "explain", run, "--data", f"folder:{cats}", "--out",
                          tmp_path / "ex")
    assert code == 0 and "2 test images" in out and "nan%" not in out, err
    assert (tmp_path / "ex" / "templates.png").is_file()
    _refused(capsys, ["--data", f"folder:{cats}"], "holds one class folder (cat); a "
             "classifier needs at least 2", tmp_path)


def test_bad_tables_are_refused(capsys, tmp_path):
    no_label = _csv(tmp_path / "nolabel.csv", [[1, 2, 3]], header=("a", "b", "c"))
    _refused(capsys, ["--data", f"csv:{no_label}"], "no label column: none is named label, "
             "class, target, y; name it with --label-column NAME", tmp_path)
    words = _csv(tmp_path / "words.csv", [[1, "red", "x"], [2, "blue", "y"]])
    _refused(capsys, ["--data", f"csv:{words}", "--label-column", "species"],
             "feature column 'b' is not numeric (it holds 'red')", tmp_path)
    nan = _csv(tmp_path / "nan.csv", [[1, "nan", "x"], [2, 3, "y"]])
    _refused(capsys, ["--data", f"csv:{nan}", "--label-column", "species"],
             "feature column 'b' holds 'nan' on line 2, not a finite number; fill it in or "
             "drop the row", tmp_path)
    header = _csv(tmp_path / "header.csv", [])
    _refused(capsys, ["--data", f"csv:{header}"], "has a header but no data rows", tmp_path)
    single = _csv(tmp_path / "single.csv", [[1, 2, "x"], [3, 4, "x"]])
    _refused(capsys, ["--data", f"csv:{single}", "--label-column", "species"],
             "found 1 class(es) (x); a classifier needs at least 2", tmp_path)
    _refused(capsys, ["--data", f"csv:{tmp_path / 'missing.csv'}"], "does not exist; give an "
             "existing file", tmp_path)
    np.savez(tmp_path / "keys.npz", features=np.zeros((4, 2)))
    _refused(capsys, ["--data", f"npz:{tmp_path / 'keys.npz'}"], "it needs X_train, y_train",
             tmp_path)
    np.savez(tmp_path / "objects.npz", X=np.array([[1], "a"], dtype=object), y=np.zeros(2))
    _refused(capsys, ["--data", f"npz:{tmp_path / 'objects.npz'}"], "holds object arrays",
             tmp_path)
    with pytest.raises(DataError, match="the test split has class\\(es\\) 'c' that the training "
                                        "split lacks"):
        from_arrays(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 2)), [2, 1],
                    class_names=["a", "b", "c"])
    with pytest.raises(DataNotFoundError):
        load(f"npz:{tmp_path / 'nothing.npz'}")


def test_evaluate_and_predict_refuse_data_of_another_shape(capsys, tmp_path, string_csv):
    run = tmp_path / "run"
    assert _run(capsys, "train", "--framework", "numpy", "--data", f"csv:{string_csv}",
                "--label-column", "species", "--epochs", "1", "--quiet", "--no-figures",
                "--out", run)[0] == 0
    other = _csv(tmp_path / "other.csv", [[1, 2, 3, "x"], [2, 3, 4, "y"]] * 5,
                 header=("a", "c", "d", "label"))  # b missing (c and d more are left out)
    code, _, err = _run(capsys, "evaluate", run, "--data", f"csv:{other}", "--label-column",
                        "label", "--no-figures")
    assert code == 2 and ("has 3 features and 2 classes (x, y) (columns the model lacks: c, d; "
                          "the model's columns it lacks: b), but checkpoint" in err), err
    assert "was trained on 2 features and 3 classes" in err
    code, _, err = _run(capsys, "explain", run, "--data", f"csv:{other}", "--label-column",
                        "label", "--no-figures")
    assert code == 2 and "has 3 features and 2 classes (x, y) (columns the model lacks: c, d; " \
        "the model's columns it lacks: b), but" in err, err
    np.save(tmp_path / "row.npy", np.zeros(3, np.float32))
    code, _, err = _run(capsys, "predict", run, tmp_path / "row.npy")
    assert code == 2 and "the model takes rows of 2 numbers" in err, err


def test_sweep_seeds_lr_find_and_tensorboard_on_other_data(capsys, tmp_path, string_csv):
    data = ["--data", f"csv:{string_csv}", "--label-column", "species"]
    code, out, err = _run(capsys, "sweep", "--framework", "numpy", "--lr", "0.1,0.3",
                          "--epochs", "2", "--batch-size", "8", "--out", tmp_path / "sweep",
                          "--quiet", "--no-figures", *data)
    assert code == 0, err
    weights = sorted((tmp_path / "sweep" / "weights").iterdir())
    assert len(weights) == 2
    ck = checkpoint.load(weights[0])
    assert ck.W.shape == (3, 2) and ck.meta["class_names"] == ["setosa", "versicolor",
                                                                "virginica"]
    code, out, err = _run(capsys, "train", "--framework", "numpy", "--seeds", "0-1",
                          "--epochs", "2", "--out", tmp_path / "seeds", "--no-figures", *data)
    assert code == 0, err
    code, out, err = _run(capsys, "lr-find", "--framework", "numpy", "--num", "3",
                          "--no-figures", *data)
    assert code == 0 and "suggested" in out.lower(), out + err
    need("tensorboard")
    folder = tmp_path / "photos"
    _images(folder, "L", "png")
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{folder}",
                        "--epochs", "1", "--quiet", "--no-figures", "--out", tmp_path / "tb-run",
                        "--tensorboard", tmp_path / "tb")
    assert code == 0, err
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())


def test_an_npz_claiming_huge_arrays_is_refused_from_its_headers(tmp_path):
    """A header that promises 2**40 floats costs nothing: refused before any array is read."""
    import zipfile

    import numpy.lib.format as npy_format

    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf, zf.open("X.npy", "w") as fh:
        npy_format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                               "shape": (2**20, 2**20)})
    with pytest.raises(DataError, match=r"member 'X.npy' claims 8796093022208 bytes of data "
                                        r"\(shape \(1048576, 1048576\), float64\) but holds 0"):
        load(f"npz:{path}")


def test_parquet_table_with_string_labels(tmp_path, string_csv):
    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.split(",") for r in string_csv.read_text().splitlines()[1:]]
    table = pa.table({"a": [float(r[0]) for r in rows], "b": [float(r[1]) for r in rows],
                      "label": [r[2] for r in rows]})
    pq.write_table(table, tmp_path / "flowers.parquet")
    ds = load(f"parquet:{tmp_path / 'flowers.parquet'}")
    csv_ds = load(f"csv:{string_csv}", options=DataOptions(label_column="species"))
    np.testing.assert_array_equal(ds.X_train, csv_ds.X_train)
    np.testing.assert_array_equal(ds.y_train, csv_ds.y_train)
    assert ds.class_names == csv_ds.class_names and ds.feature_names == ("a", "b")
    pq.write_table(pa.table({"a": ["x", "y"], "label": ["p", "q"]}), tmp_path / "text.parquet")
    with pytest.raises(DataError, match="feature column 'a' is not numeric"):
        load(f"parquet:{tmp_path / 'text.parquet'}")


def test_a_checkpoint_without_a_shape_keeps_its_ten_class_names(tmp_path):
    from softreg.core.errors import CheckpointError

    W, b = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    names = [f"c{i}" for i in range(10)]
    checkpoint.save(tmp_path / "a.safetensors", checkpoint.Checkpoint(W, b, {"class_names": names}))
    assert checkpoint.load(tmp_path / "a.safetensors").shape.class_names == tuple(names)
    with pytest.raises(CheckpointError, match="name 3 classes; a checkpoint without a "
                                              "model_shape holds 10"):
        checkpoint.save(tmp_path / "b.safetensors",
                        checkpoint.Checkpoint(W, b, {"class_names": ["a", "b", "c"]}))


def test_parquet_claims_are_checked_before_any_column_is_read(tmp_path, monkeypatch):
    """The footer's row count and column types decide first: a table past the bound, a
    non-numeric feature column, no rows, each refused with no column read."""
    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from softreg.data import tables

    path = tmp_path / "big.parquet"
    n = 1000
    pq.write_table(pa.table({"a": np.zeros(n, np.float64), "b": np.ones(n, np.int32),
                             "label": np.arange(n) % 2}), path)
    reads = []
    real = pq.ParquetFile.read

    def counting(self, *args, **kw):
        reads.append(kw.get("columns"))
        return real(self, *args, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read", counting)
    monkeypatch.setattr(pq, "read_table", None)  # the whole table is never read at once
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", n * 4 * 4 - 1)  # 1000 rows x (2 + 2) x 4
    with pytest.raises(DataError, match=r"claims 1000 rows of 2 features \(16000 bytes "
                       r"as float32 with the labels\), more than the 15999 softreg loads "
                       r"\(nothing was read\)"):
        load(f"parquet:{path}")
    assert reads == []
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", n * 4 * 4)
    ds = load(f"parquet:{path}")
    assert reads == [["a"], ["b"], ["label"]]  # one column at a time
    assert ds.X_train.shape == (n, 2) and ds.class_names == ("0", "1")
    reads.clear()
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "when": ["mon", "tue"], "label": [0, 1]}), text)
    with pytest.raises(DataError, match=r"feature column 'when' is not numeric \(type string\)"):
        load(f"parquet:{text}")
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.float32()), "label": pa.array([], pa.int64())}),
                   empty)
    with pytest.raises(DataError, match=r"has columns but no rows"):
        load(f"parquet:{empty}")
    assert reads == []


# ----------------------------------------------------------------------------- more refusals


def _png_header(w: int, h: int, colour: int = 0) -> bytes:
    """A PNG whose header claims ``w`` x ``h`` pixels (colour type 0: gray, 2: RGB) and whose
    pixel data is empty: opening it costs nothing, decoding it would fail."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("side", "message"), [
    (5000, "claims 5000x5000 pixels; softreg reads images up to 4096 pixels a side"),
    (10000, "claims more pixels than softreg reads"),  # where Pillow only warns
    (20000, "claims more pixels than softreg reads"),  # where Pillow refuses
])
def test_an_image_header_claiming_too_many_pixels_is_refused_unread(capsys, tmp_path, side,
                                                                    message):
    need("PIL")
    folder = tmp_path / f"claims{side}"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        (folder / name / "0.png").write_bytes(_png_header(side, side))
    _refused(capsys, ["--data", f"folder:{folder}"],
             f"image {str(folder / 'a' / '0.png')!r} {message}", tmp_path)


def test_images_claiming_more_pixels_in_all_than_the_bound_are_refused_unread(capsys, tmp_path):
    need("PIL")
    folder = tmp_path / "many"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(22):  # 44 x 4096 x 4096 x 3 bytes: more than 2 GiB, in headers only
            (folder / name / f"{i}.png").write_bytes(_png_header(4096, 4096, colour=2))
    _refused(capsys, ["--data", f"folder:{folder}"], "44 images of (4096, 4096, 3) are more "
             "than the 2048 MiB of pixels softreg loads; use --image-size", tmp_path)


def test_a_file_that_is_not_an_image_is_named(capsys, tmp_path):
    need("PIL")
    folder = tmp_path / "notimage"
    _images(folder, "L", "png")
    (folder / "dog" / "4.png").write_text("this is not a picture")
    _refused(capsys, ["--data", f"folder:{folder}"],
             f"cannot read image {str(folder / 'dog' / '4.png')!r}", tmp_path)


def test_inf_in_features_and_a_missing_parquet_file_are_refused(capsys, tmp_path):
    X = np.ones((6, 2))
    X[4, 1] = np.inf
    np.savez(tmp_path / "inf.npz", X=X, y=np.arange(6) % 2)
    _refused(capsys, ["--data", f"npz:{tmp_path / 'inf.npz'}"], "hold NaN or inf (1 value(s), "
             "the first in data row 5, feature 2; rows and features counted from 1)", tmp_path)
    _refused(capsys, ["--data", f"parquet:{tmp_path / 'none.parquet'}"], "does not exist; give "
             "an existing file", tmp_path)
    _refused(capsys, ["--data", f"folder:{tmp_path / 'a-file.npz'}"], "does not exist",
             tmp_path)


def test_an_unknown_name_lists_every_named_dataset(capsys, tmp_path):
    _refused(capsys, ["--data", "emnist"], "unknown dataset 'emnist'; known datasets: "
             "fashion-mnist, mnist, kmnist, emnist-balanced; or give a source as KIND:PATH",
             tmp_path)
    _refused(capsys, ["--data", "sklearn:"], "names no set; write sklearn:NAME", tmp_path)
    _refused(capsys, ["--data", "csv:"], "names no path; write csv:PATH", tmp_path)


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_evaluate_and_predict_of_another_shape_write_nothing(capsys, tmp_path, string_csv):
    run = tmp_path / "run"
    assert _run(capsys, "train", "--framework", "numpy", "--data", f"csv:{string_csv}",
                "--label-column", "species", "--epochs", "1", "--quiet", "--no-figures",
                "--out", run)[0] == 0
    other = _csv(tmp_path / "other.csv", [[1, 2, 3, "x"], [2, 3, 4, "y"]] * 5,
                 header=("a", "c", "d", "label"))  # b missing (c and d more are left out)
    np.save(tmp_path / "row.npy", np.zeros(3, np.float32))
    before = _snapshot(tmp_path)
    for argv in (["evaluate", run, "--data", f"csv:{other}", "--label-column", "label"],
                 ["predict", run, tmp_path / "row.npy"]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert _snapshot(tmp_path) == before, argv  # nothing written, nothing touched
        if argv[0] == "evaluate":  # the columns that differ are named (it said "3 features")
            assert "(columns the model lacks: c, d; the model's columns it lacks: b)" in err, err


def test_many_classes_report_without_a_matrix_of_every_pair(capsys, tmp_path):
    from softreg.core.metrics import MATRIX_CLASSES, TEXT_CLASSES

    n = MATRIX_CLASSES + 1  # data may have 37,449 classes: their matrix would take 11 GB
    rng = np.random.default_rng(0)
    y = np.arange(n).repeat(2)
    X = (y[:, None] + rng.normal(0, 0.1, (len(y), 1))).astype(np.float32)
    np.savez(tmp_path / "many.npz", X_train=X, y_train=y, X_test=X[::2], y_test=y[::2])
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--data",
                        f"npz:{tmp_path / 'many.npz'}", "--epochs", "1", "--quiet", "--out", run)
    assert code == 0, err
    report = (run / "report.md").read_text()
    assert f"(not printed for {n:,} classes, more than {TEXT_CLASSES}" in report
    assert not (run / "confusion.png").exists() and "![confusion]" not in report
    assert report.count("\n| ") > n  # the per-class table has every class
    code, out, _ = _run(capsys, "evaluate", run)
    assert code == 0 and f"no confusion matrix figure: {n:,} classes" in out
    assert not (run / "evaluate-test-confusion.png").exists()
    code, out, _ = _run(capsys, "explain", run)
    assert code == 0 and "most-confused pairs:" in out


def test_data_flags_the_data_would_ignore_are_refused(capsys, tmp_path, string_csv):
    for argv, flag, whose in (
            (["--data", "sklearn:iris", "--label-column", "species"], "--label-column",
             "a table's (csv:, parquet:)"),
            (["--label-column", "y"], "--label-column", "a table's (csv:, parquet:)"),
            (["--data", f"csv:{string_csv}", "--label-column", "species", "--image-size",
              "8x8"], "--image-size", "an image folder's (folder:)"),
            (["--data", f"csv:{string_csv}", "--label-column", "species", "--grayscale"],
             "--grayscale", "an image folder's (folder:)"),
            (["--data", "sklearn:iris", "--data-dir", str(tmp_path)], "--data-dir",
             "a named dataset's")):
        _refused(capsys, argv, f"{flag} is {whose} setting, and --data ", tmp_path)
    run = tmp_path / "run"
    assert _run(capsys, "train", "--framework", "numpy", "--data", "sklearn:iris", "--epochs",
                "1", "--quiet", "--no-figures", "--out", run)[0] == 0
    code, _, err = _run(capsys, "evaluate", run, "--data", "sklearn:iris", "--image-size", "8x8")
    assert code == 2 and "--image-size is an image folder's (folder:) setting" in err
    for command, flags in (("evaluate", ["--image-size", "3x3"]), ("evaluate", ["--grayscale"]),
                           ("explain", ["--data-dir", str(tmp_path)]),
                           ("explain", ["--label-column", "y"])):
        before = sorted(p.name for p in tmp_path.iterdir())
        code, _, err = _run(capsys, command, run, "--no-figures", *flags)
        assert code == 2 and (f"{flags[0]} is " in err and "setting, and the data the model "
                              "was trained on (sklearn:iris) is not one" in err), err
        assert sorted(p.name for p in tmp_path.iterdir()) == before
