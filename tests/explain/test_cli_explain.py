"""`softreg explain` and `predict --calibrated` on tiny numpy runs, and every refusal."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.numerics import softmax
from softreg.explain.calibration import fit_temperature
from softreg.jobs.explain import OUTPUT_NAMES, explain_run, raw_split
from softreg.runfiles import checkpoint


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err, text):
    assert text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _train(capsys, out, *extra):
    code, text, _ = _run(capsys, "train", "--framework", "numpy", "--epochs", "2",
                         "--batch-size", "32", "--quiet", "--out", out, *extra)
    assert code == 0, text
    return out


@pytest.fixture()
def fake_fashion(monkeypatch):
    """Synthetic splits (600 train, 200 test) with a fifth of the labels wrong, so that a
    linear model errs."""
    import softreg.data

    rng = np.random.default_rng(7)
    y = np.arange(800) % 10
    protos = rng.integers(0, 256, size=(10, 28, 28))
    x = np.clip(protos[y] + rng.integers(-40, 41, size=(800, 28, 28)), 0, 255)
    flip = rng.random(800) < 0.2
    y[flip] = rng.integers(0, 10, flip.sum())
    splits = {"train": (x[:600].astype(np.uint8), y[:600].astype(np.uint8)),
              "test": (x[600:].astype(np.uint8), y[600:].astype(np.uint8))}
    monkeypatch.setattr(softreg.data, "load_fashion_mnist",
                        lambda split="train", data_dir=None, offline=False: splits[split])
    return splits


@pytest.fixture()
def plain_run(tmp_path, fake_fashion, capsys):
    return _train(capsys, tmp_path / "plain", "--no-figures")


@pytest.fixture()
def val_run(tmp_path, fake_fashion, capsys):
    need("matplotlib")
    return _train(capsys, tmp_path / "val", "--val-split", "0.2")


def _resave(ck, path):
    """Save a loaded checkpoint again. checkpoint.load returns the file's own format keys in
    meta, and checkpoint.save would write them JSON-quoted over its own: drop them."""
    for key in ("format", "format_version", "softreg_version"):
        ck.meta.pop(key, None)
    return checkpoint.save(path, ck)


def _png_size(path):
    PIL = need("PIL", "PIL.Image")
    with PIL.open(path) as im:
        return im.size


def test_explain_without_validation_split_reports_ece_nll_but_no_temperature(
        plain_run, capsys, tmp_path, fake_fashion):
    need("matplotlib")
    code, out, err = _run(capsys, "explain", plain_run)
    assert code == 0, err
    for text in ("per-class precision, recall and F1 (test):", "macro avg", "weighted avg",
                 "most-confused pairs:", "highest-loss test images", "test, as trained",
                 "The run has no validation split (val_split 0); train with --val-split 0.1",
                 "No temperature was fitted", "15 equal-width bins"):
        assert text in out
    assert "temperature T =" not in out
    for name in OUTPUT_NAMES:
        assert (plain_run / name).is_file(), name
        assert str(plain_run / name) in out
    assert _png_size(plain_run / "templates.png")[0] > 800
    assert _png_size(plain_run / "mistakes.png")[0] > 600  # 6 images a row
    cal = json.loads((plain_run / "calibration.json").read_text())
    assert cal["temperature"] is None and cal["validation"] is None
    assert cal["test"]["images"] == 200 and 0 <= cal["test"]["ece"] <= 1
    page = (plain_run / "explain.md").read_text()
    for section in ("## Per-class precision, recall and F1 (test)", "## Mistakes",
                    "## Calibration", "## Weight templates", "![weight templates](templates.png)"):
        assert section in page
    img = tmp_path / "img.npy"
    np.save(img, fake_fashion["test"][0][3])
    code, _, err = _run(capsys, "predict", plain_run, img, "--calibrated")
    assert code == 2
    _one_line(err, "the run has no validation split; run 'softreg explain RUN' on a run "
                   "trained with a validation split (--val-split)")


def test_a_run_with_validation_split_gets_its_temperature_at_training(val_run, capsys,
                                                                       fake_fashion, tmp_path):
    from softreg.fitting.splits import prepare_splits
    from softreg.jobs.run import saved_config

    report = (val_run / "report.md").read_text()
    assert "## Calibration" in report and "test, temperature T = " in report
    assert "![predictions](predictions.png)\n![mistakes](mistakes.png)" in report
    # a run draws mistakes.png for its report; the other explain figures are explain's own
    assert report.count("![mistakes]") == 1 and (val_run / "mistakes.png").is_file()
    for name, what in (("templates.png", "weight templates"), ("confused.png", "confused pairs"),
                       ("reliability.png", "reliability diagram")):
        assert not (val_run / name).exists()
        assert f"(The {what} figure: `softreg explain RUN` draws it.)" in report
    cal = json.loads((val_run / "calibration.json").read_text())
    # the same validation images as training, rebuilt independently
    _, ck = checkpoint.load_model(val_run)
    val = prepare_splits(saved_config(val_run))["val"]
    logits = val.X.astype(np.float64) @ ck.W.T.astype(np.float64) + ck.b  # (n_val, 10)
    assert cal["validation"]["images"] == len(val.y) > 100
    assert cal["temperature"] == pytest.approx(fit_temperature(logits, val.y), rel=1e-6)
    img = tmp_path / "img.npy"
    np.save(img, fake_fashion["test"][0][3])
    code, out, err = _run(capsys, "predict", val_run, img, "--calibrated", "--json",
                          "--top-k", "10")
    assert code == 0, err
    res = json.loads(out)[0]
    z = (fake_fashion["test"][0][3].reshape(784) / 255.0) @ ck.W.T.astype(np.float64) + ck.b
    expected = softmax(z / cal["temperature"])
    got = {t["index"]: t["probability"] for t in res["top"]}
    np.testing.assert_allclose([got[k] for k in range(10)], expected, rtol=1e-5)
    assert res["temperature"] == cal["temperature"]


def test_explain_refits_and_a_stale_calibration_is_refused(val_run, capsys, tmp_path,
                                                         fake_fashion):
    code, out, _ = _run(capsys, "explain", val_run, "--no-figures", "--out", tmp_path / "e")
    assert code == 0 and "test, temperature T = " in out
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [
        ".softreg-run", "calibration.json", "explain.md"]  # marked: an explain folder
    img = tmp_path / "img.npy"
    np.save(img, fake_fashion["test"][0][3])
    # the last epoch's weights are not the ones the calibration was fitted for (best epoch)
    ck = checkpoint.load(val_run / "checkpoint.safetensors")
    ck.W[0, 0] += 1.0
    _resave(ck, tmp_path / "other.safetensors")
    code, _, err = _run(capsys, "predict", tmp_path / "other.safetensors", img,
                        "--calibration", val_run / "calibration.json")
    assert code == 2
    _one_line(err, "was fitted for other weights than this checkpoint's")


def test_a_checkpoint_from_any_framework_is_explained_with_numpy(plain_run, capsys, tmp_path):
    ck = checkpoint.load(plain_run)
    ck.meta.update(framework="mxnet", device_used="cuda",
                   config={**ck.meta["config"], "framework": "mxnet"})
    loose = tmp_path / "elsewhere" / "mx.safetensors"
    loose.parent.mkdir()
    _resave(ck, loose)
    script = "\n".join([
        "import sys, numpy as np, softreg.data as d",
        "x, y = np.zeros((20, 28, 28), np.uint8), (np.arange(20) % 10).astype(np.uint8)",
        "d.load_fashion_mnist = lambda split='train', data_dir=None, offline=False: (x, y)",
        "from softreg.cli import main",
        # other stand-in data than the run's: named, so that its fingerprint is not compared
        f"code = main(['explain', {str(loose)!r}, '--no-figures', '--data', 'fashion-mnist'])",
        "bad = {'torch', 'tensorflow', 'mxnet', 'matplotlib'} & set(sys.modules)",
        "print('imported:', sorted(bad), file=sys.stderr)",
        "sys.exit(code or (3 if bad else 0))"])
    # a fresh interpreter: explaining imports no framework (and no matplotlib without figures)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    code, out, err = _run(capsys, "explain", loose, "--no-figures")
    assert code == 0, err
    assert "trained with mxnet, weights of epoch 2" in out
    assert (tmp_path / "elsewhere" / "mx-explain" / "explain.md").is_file()  # not beside it


def test_a_checkpoint_without_configuration_is_a_documented_partial_result(
        plain_run, tmp_path, fake_fashion):
    ck = checkpoint.load(plain_run)
    ck.meta.pop("config")
    _resave(ck, tmp_path / "bare.safetensors")
    res = explain_run(tmp_path / "bare.safetensors", figures=False)
    assert res.explanation.calibration.temperature is None
    assert res.explanation.notes == ["The checkpoint holds no training configuration, so its "
                                     "validation split is unknown."]
    assert "holds no training configuration" in (res.out / "explain.md").read_text()


def test_a_standardised_run_is_explained_in_pixel_space(tmp_path, fake_fashion):
    from softreg.core.config import TrainConfig
    from softreg.fitting.splits import prepare_splits, to_features
    from softreg.jobs.run import train_run

    cfg = TrainConfig(framework="numpy", epochs=2, batch_size=32, device="cpu",
                      standardize=True, val_split=0.2)
    train_run(cfg, tmp_path / "std", quiet=True, figures=False)
    assert "folded back to raw pixels" in (tmp_path / "std" / "report.md").read_text()
    res = explain_run(tmp_path / "std", figures=False)
    _, ck = checkpoint.load_model(tmp_path / "std")
    np.testing.assert_array_equal(res.explanation.W, ck.W)  # the checkpoint's folded weights
    assert res.explanation.images.max() <= 1.0
    splits = prepare_splits(cfg)
    X, _ = raw_split(splits["test"])
    np.testing.assert_allclose(X, to_features(fake_fashion["test"][0]), atol=2e-6)
    assert X.min() >= 0.0 and X.max() <= 1.0  # drawn on 0..1, not read as 0..255
    assert res.explanation.calibration.temperature is not None


@pytest.mark.parametrize(("where", "message"), [
    ("missing", "does not exist; pass a run folder written by 'softreg train --out DIR'"),
    ("empty", "is not a softreg run folder: it has no checkpoint.safetensors"),
    ("text", "is not a softreg checkpoint: it cannot be read as safetensors"),
])
def test_explain_refuses_what_is_not_a_run(capsys, tmp_path, where, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").write_text("hello")
    code, _, err = _run(capsys, "explain", tmp_path / where)
    assert code == 2
    _one_line(err, message)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d.write_text("x"), "is a regular file, not a folder"),
    (lambda d: None, "cannot be written"),  # a folder under a file
    (lambda d: (d.mkdir(), (d / "notes.txt").write_text("mine")),
     "holds files softreg did not make (notes.txt); softreg writes only into a new or "
     "empty folder or one of its own"),
])
def test_explain_refuses_an_out_it_cannot_or_may_not_write(plain_run, capsys, tmp_path, make,
                                                          message):
    target = tmp_path / "target"
    make(target)
    out = tmp_path / "afile" / "sub" if message == "cannot be written" else target
    (tmp_path / "afile").write_text("x")
    code, _, err = _run(capsys, "explain", plain_run, "--out", out)
    assert code == 2
    _one_line(err, message)
    assert not (out / "explain.md").exists()


@pytest.mark.parametrize("only", [("reliability",), ("templates", "confused"), ("mistakes",)])
def test_write_figures_draws_exactly_the_figures_asked_for(plain_run, tmp_path, only):
    need("matplotlib")
    from softreg.jobs.explain import write_figures

    expl = explain_run(plain_run, tmp_path / "all", figures=False).explanation
    files = write_figures(expl, tmp_path, only=only)
    assert sorted(files) == sorted(only)  # the tiny run misclassifies: confused.png exists
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{k}.png" for k in only)


def test_explaining_other_data_in_the_run_folder_is_refused(capsys, tmp_path):
    """explain RUN --data OTHER replaced the run's calibration.json with a temperature fitted
    on the other data's validation split, and predict --calibrated used it."""
    need("sklearn")
    run = tmp_path / "run"
    assert main(["train", "--framework", "numpy", "--data", "sklearn:iris", "--epochs", "2",
                 "--val-split", "0.2", "--quiet", "--no-figures", "--out", str(run)]) == 0
    capsys.readouterr()
    from sklearn.datasets import load_iris

    iris = load_iris()
    noisy = iris.data + np.random.default_rng(5).normal(0, 1.5, iris.data.shape)
    other = tmp_path / "other.csv"
    other.write_text(",".join(iris.feature_names) + ",label\n" + "".join(
        ",".join(f"{v:.3f}" for v in row) + f",{iris.target_names[k]}\n"
        for row, k in zip(noisy, iris.target, strict=True)))
    before = (run / "calibration.json").read_bytes()
    code = main(["explain", str(run), "--data", f"csv:{other}", "--no-figures"])
    err = capsys.readouterr().err
    _one_line(err, "is not the data of the run")
    assert code == 2 and (run / "calibration.json").read_bytes() == before
    assert main(["explain", str(run), "--data", f"csv:{other}", "--no-figures", "--out",
                 str(tmp_path / "other-explain")]) == 0
    assert main(["explain", str(run), "--data", "sklearn:iris", "--no-figures"]) == 0  # its own


def test_the_runs_own_data_changed_since_is_not_explained_into_the_run_folder(capsys, tmp_path):
    """explain RUN --data <the run's own spec> on data changed since (rows shuffled) replaced
    the run's calibration.json with a temperature fitted on training rows, as the "data changed"
    refusal itself advised."""
    need("sklearn")
    from sklearn.datasets import load_iris

    iris = load_iris()
    table = tmp_path / "iris.csv"

    def write(order):
        table.write_text(",".join(iris.feature_names) + ",label\n" + "".join(
            ",".join(f"{v:.1f}" for v in iris.data[i]) + f",{iris.target_names[iris.target[i]]}\n"
            for i in order))

    write(range(len(iris.target)))
    run = tmp_path / "run"
    assert main(["train", "--framework", "numpy", "--data", f"csv:{table}", "--epochs", "2",
                 "--val-split", "0.2", "--quiet", "--no-figures", "--out", str(run)]) == 0
    capsys.readouterr()
    write(np.random.default_rng(3).permutation(len(iris.target)))  # same rows, another order
    before = {name: (run / name).read_bytes() for name in ("calibration.json", "explain.md")
              if (run / name).exists()}
    code = main(["explain", str(run), "--no-figures"])
    err = capsys.readouterr().err
    _one_line(err, "changed since")
    assert code == 2 and "--out DIR" in err, err
    code = main(["explain", str(run), "--data", f"csv:{table}", "--no-figures"])
    err = capsys.readouterr().err
    _one_line(err, "changed since")
    assert code == 2 and "--out DIR" in err, err
    assert {name: (run / name).read_bytes() for name in before} == before
    assert main(["explain", str(run), "--data", f"csv:{table}", "--no-figures", "--out",
                 str(tmp_path / "now")]) == 0
    assert (tmp_path / "now" / "calibration.json").is_file()
    assert {name: (run / name).read_bytes() for name in before} == before
    write(range(len(iris.target)))  # restored: its own again
    assert main(["explain", str(run), "--data", f"csv:{table}", "--no-figures"]) == 0


def test_predict_calibrated_of_a_file_of_its_own_says_to_explain_that_file(capsys, tmp_path):
    """A checkpoint copied out of its run: predict --calibrated said to explain "RUN" on a run
    trained with a validation split (this one was); explaining the file is what fits it."""
    need("sklearn")
    run = tmp_path / "run"
    assert main(["train", "--framework", "numpy", "--data", "sklearn:iris", "--epochs", "2",
                 "--val-split", "0.2", "--quiet", "--no-figures", "--out", str(run)]) == 0
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "x.safetensors").write_bytes((run / "checkpoint.safetensors").read_bytes())
    np.save(tmp_path / "rows.npy", np.ones((2, 4)))
    capsys.readouterr()
    code = main(["predict", str(loose / "x.safetensors"), str(tmp_path / "rows.npy"),
                 "--calibrated"])
    _one_line(capsys.readouterr().err, f"run 'softreg explain {loose / 'x.safetensors'}' (a "
                                       "model trained with a validation split) to fit one")
    assert code == 2
    assert main(["explain", str(loose / "x.safetensors"), "--no-figures"]) == 0
    assert main(["predict", str(loose / "x.safetensors"), str(tmp_path / "rows.npy"),
                 "--calibrated"]) == 0
