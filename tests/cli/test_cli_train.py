"""`softreg train / evaluate / predict`: behaviour and every refusal (exit 2, one line)."""

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.runfiles import checkpoint


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("seeds", ["0,0", "3"])
def test_seeds_naming_one_seed_are_refused(capsys, tmp_path, seeds):
    code, out, err = _run(capsys, "train", "--seeds", seeds, "--out", str(tmp_path / "r"))
    assert code == 2 and "nan" not in out
    assert f"--seeds {seeds} names one seed, but the spread across seeds needs two or more" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "0"], "lr must be a finite number > 0, got 0.0"),
        (["--lr", "-1"], "lr must be a finite number > 0, got -1.0"),
        (["--lr", "nan"], "lr must be a finite number > 0, got nan"),
        (["--lr", "inf"], "lr must be a finite number > 0, got inf"),
        (["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
        (["--epochs", "-1"], "epochs must be an integer >= 0, got -1"),
        (["--framework", "caffe"], "unknown framework 'caffe'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--val-seed", "-1"], "val_seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_settings_exit_2_before_any_work(capsys, tmp_path, argv, message):
    code, _, err = _run(capsys, "train", "--out", str(tmp_path / "r"), *argv)
    assert code == 2
    assert err.strip() == f"softreg train: error: {err.split('error: ', 1)[1].strip()}"
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_cuda_absent_is_refused(capsys, tmp_path):
    torch = need("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = _run(capsys, "train", "--device", "cuda", "--out", str(tmp_path / "r"))
    assert code == 2 and "CUDA was requested but PyTorch sees no CUDA GPU" in err


@pytest.fixture()
def trained(tmp_path, fake_fashion, capsys):
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--epochs", "2",
                        "--batch-size", "32", "--out", str(tmp_path / "run"), "--no-figures")
    assert code == 0, out
    return tmp_path / "run", out


def test_train_prints_table_and_summary(trained):
    run, out = trained
    lines = out.splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "train_acc", "test_acc", "seconds"]
    assert lines[1].split()[0] == "1" and lines[2].split()[0] == "2"
    assert out.count("final: train loss") == 1 and f"run folder: {run}" in out
    assert "(weights of the" not in out  # the last epoch's weights: nothing to point out


def test_val_seed_reaches_the_saved_config(capsys, tmp_path, fake_fashion):
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--epochs", "1",
                        "--val-split", "0.2", "--val-seed", "7", "--seed", "3",
                        "--out", str(tmp_path / "r"), "--no-figures", "--quiet")
    assert code == 0, out
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["val_seed"], saved["seed"]) == (7, 3)


def test_diverging_run_exits_3_and_says_so(capsys, tmp_path, fake_fashion):
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--lr", "1e6",
                        "--out", str(tmp_path / "r"), "--no-figures")
    assert code == 3
    assert "training diverged in epoch 1" in out and "Lower the learning rate" in out


def test_evaluate_prints_metrics(trained, capsys, fake_fashion):
    run, _ = trained
    code, out, _ = _run(capsys, "evaluate", str(run), "--no-figures")
    assert code == 0
    assert "test: accuracy" in out and "per-class accuracy:" in out and "ankle boot" in out
    assert "confusion matrix" in out


def test_evaluate_png_ending_in_a_separator_is_a_folder(trained, capsys, tmp_path):
    """``--png DIR/`` writes the default name in DIR (made when missing), never a file DIR."""
    run, _ = trained
    code, out, err = _run(capsys, "evaluate", str(run), "--png", f"{tmp_path / 'figs'}/")
    png = tmp_path / "figs" / "evaluate-test-confusion.png"
    assert code == 0 and f"confusion matrix figure: {png}" in out, err
    assert png.read_bytes().startswith(b"\x89PNG")
    code, _, err = _run(capsys, "evaluate", str(run), "--split", "train", "--png",
                        f"{tmp_path / 'figs'}/")
    assert code == 0 and (tmp_path / "figs" / "evaluate-train-confusion.png").is_file(), err
    (tmp_path / "notes").write_text("the user's")
    code, out, err = _run(capsys, "evaluate", str(run), "--png", f"{tmp_path / 'notes'}/")
    assert code == 2 and "accuracy" not in out and len(err.strip().splitlines()) == 1
    assert f"--png {str(tmp_path / 'notes')!r} is a regular file, not a folder" in err
    assert (tmp_path / "notes").read_text() == "the user's"


def test_evaluate_refuses_a_png_it_cannot_write_before_evaluating(trained, capsys, tmp_path,
                                                                   monkeypatch):
    run, _ = trained
    (tmp_path / "notes").write_text("the user's")
    code, out, err = _run(capsys, "evaluate", str(run), "--png", str(tmp_path / "notes" / "m.png"))
    assert code == 2 and "accuracy" not in out, out  # said before the work, not after it
    assert f"{str(tmp_path / 'notes')!r} is a file, not a folder; choose another --png" in err
    shut = tmp_path / "shut"
    shut.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != shut and real(p, mode))
    code, out, err = _run(capsys, "evaluate", str(run), "--png", str(shut / "m.png"))
    assert code == 2 and "accuracy" not in out, out
    assert f"the folder {str(shut)!r} cannot be written in (" in err and "--png" in err


def test_evaluate_a_run_folder_uses_the_model_the_run_reported(capsys, tmp_path,
                                                               noisy_fashion):
    run = tmp_path / "run"
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--epochs", "12",
                        "--batch-size", "16", "--lr", "0.01", "--val-split", "0.2",
                        "--patience", "50", "--out", str(run), "--no-figures", "--quiet")
    assert code == 0, out
    best_epoch = int(re.search(r"weights of the best epoch (\d+) by val_loss", out).group(1))
    test_acc = re.search(r"test acc (\S+) \(weights", out).group(1)
    assert best_epoch < 12
    code, out, _ = _run(capsys, "evaluate", str(run), "--no-figures")
    assert code == 0
    assert (f"checkpoint: {run / 'best.safetensors'} (trained with numpy on cpu, weights of "
            f"epoch {best_epoch})") in out
    assert f"test: accuracy {test_acc}" in out
    code, out, _ = _run(capsys, "evaluate", str(run / "checkpoint.safetensors"),
                        "--no-figures")
    assert code == 0 and "weights of epoch 12)" in out


def test_the_final_line_gives_the_numbers_of_the_epoch_whose_weights_are_kept(capsys, tmp_path,
                                                                              noisy_fashion):
    """With early stopping the final line gave the last epoch's train loss and accuracy beside
    "(weights of the best epoch N)"; report.md says which epoch each number is of."""
    run = tmp_path / "run"
    code, out, _ = _run(capsys, "train", "--framework", "numpy", "--epochs", "12",
                        "--batch-size", "16", "--lr", "0.01", "--val-split", "0.2",
                        "--patience", "50", "--out", str(run), "--no-figures", "--quiet")
    assert code == 0, out
    best = int(re.search(r"weights of the best epoch (\d+) by val_loss", out).group(1))
    assert best < 12
    rows = (run / "metrics.csv").read_text().splitlines()
    head = rows[0].split(",")
    kept = dict(zip(head, rows[best].split(","), strict=True))
    assert int(kept["epoch"]) == best
    line = next(s for s in out.splitlines() if s.startswith("final:"))
    assert f"train loss {float(kept['train_loss']):.4f}  " in line, line
    assert f"train acc {float(kept['train_acc']):.4f}  " in line, line


def _far_table(folder, offset):
    """600 rows, three classes told apart by a column ``offset`` plus a small spread."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    f1 = offset + y * 0.5 + rng.normal(0, 0.3, 600)
    f2 = rng.normal(0, 1, 600)
    (folder / "far.csv").write_text("f1,f2,label\n" + "".join(
        f"{float(a)!r},{float(b)!r},{k}\n" for a, b, k in zip(f1, f2, y, strict=True)))
    return folder / "far.csv"


def test_a_column_far_from_zero_for_its_spread_is_warned_of(capsys, tmp_path):
    """A column 1e6 + a small spread: the standardisation folded into float32 raw-space
    weights loses the bias's digits, so the saved model is not the trained one."""
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--data",
                        f"csv:{_far_table(tmp_path, 1e6)}", "--epochs", "2", "--quiet",
                        "--no-figures", "--out", str(run))
    assert code == 0, err
    warned = [line for line in err.splitlines() if "far from zero" in line]
    assert len(warned) == 1 and "f1" in warned[0] and "f2" not in warned[0], err
    assert "subtract an offset" in warned[0]
    report = (run / "report.md").read_text()
    assert "far from zero" in report and "f1" in report


@pytest.mark.parametrize("data", ["sklearn:iris", "sklearn:digits", "near"])
def test_normal_data_is_not_warned_of(capsys, tmp_path, data):
    if data.startswith("sklearn:"):
        need("sklearn")
    else:
        data = f"csv:{_far_table(tmp_path, 100.0)}"
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--data", data, "--epochs",
                        "1", "--quiet", "--no-figures", "--out", str(run))
    assert code == 0, err
    assert "far from zero" not in err and "far from zero" not in (run / "report.md").read_text()


def test_fashion_mnist_pixels_are_not_warned_of(noisy_fashion):
    from softreg.core.config import TrainConfig
    from softreg.fitting.splits import prepare_splits
    from softreg.jobs.report import far_columns

    for standardize in (True, False):
        splits = prepare_splits(TrainConfig(standardize=standardize, val_split=0.2))
        assert far_columns(splits) == []


def _three_classes(folder, rows=100):
    """A CSV table of two features and three classes, ``rows`` rows."""
    rng = np.random.default_rng(5)
    lines = ["f1,f2,label"] + [f"{rng.normal() + i % 3:.4f},{rng.normal():.4f},c{i % 3}"
                               for i in range(rows)]
    (folder / "three.csv").write_text("\n".join(lines) + "\n")
    return f"csv:{folder / 'three.csv'}"


def _folder(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_evaluate_png_is_refused_in_another_runs_folder_and_over_a_runs_own_files(
        trained, capsys, tmp_path, fake_fashion):
    """``evaluate A --png B/conf.png`` put A's figure among B's files (B's --overwrite then
    refused), and ``--png A/report.md --overwrite`` replaced A's report with a PNG."""
    run, _ = trained
    other = tmp_path / "other"
    code, out, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1",
                          "--out", str(other), "--no-figures", "--quiet")
    assert code == 0, err
    before, theirs = _folder(run), _folder(other)
    code, out, err = _run(capsys, "evaluate", str(run), "--png", str(other / "conf.png"))
    assert code == 2 and "accuracy" not in out and len(err.strip().splitlines()) == 1, err
    assert f"--png {str(other / 'conf.png')!r} is in the folder of another run" in err
    for name in ("report.md", "curves.png", "confusion.png", "mistakes.png"):
        for extra in ((), ("--overwrite",)):
            code, out, err = _run(capsys, "evaluate", str(run), "--png", str(run / name), *extra)
            assert code == 2 and "accuracy" not in out, (name, err)
            assert len(err.strip().splitlines()) == 1 and f"({name})" in err, err
            assert "evaluate writes only its own figure there" in err, err
    code, out, err = _run(capsys, "evaluate", str(run), "--png", str(tmp_path / "conf.txt"))
    assert code == 2 and "does not end in .png" in err and "accuracy" not in out, err
    assert _folder(run) == before and _folder(other) == theirs
    assert not (tmp_path / "conf.txt").exists()
    # its own figure, in its own folder, under the name evaluate gives it
    for png in (run / "evaluate-test-confusion.png", tmp_path / "conf.PNG"):
        code, out, err = _run(capsys, "evaluate", str(run), "--png", str(png))
        assert code == 0 and png.read_bytes().startswith(b"\x89PNG"), err
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1",
                        "--out", str(other), "--no-figures", "--quiet", "--overwrite")
    assert code == 0, err


def test_evaluate_split_train_scores_the_part_the_model_trained_on(capsys, tmp_path):
    """With a validation split, ``--split train`` counted the validation examples too, and
    did not say which examples it scored."""
    data = _three_classes(tmp_path)  # 100 rows: 21 test, 79 train (15 of them validation)
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "2", "--data", data,
                        "--val-split", "0.2", "--out", str(run), "--no-figures", "--quiet")
    assert code == 0, err
    code, out, err = _run(capsys, "evaluate", str(run), "--split", "train", "--no-figures")
    assert code == 0, err
    assert ("(64 examples), the training part the model trained on: the run's 15 validation "
            "examples are left out") in out
    code, out, err = _run(capsys, "evaluate", str(run), "--split", "train", "--no-figures",
                          "--data", data)  # other data: its whole training part
    assert code == 0 and "(79 examples), the training part of the data given" in out, err


def test_an_explicit_max_loss_is_the_limit_and_config_json_says_which(capsys, tmp_path):
    """config.json recorded 230.26 for the default while a 3-class run stopped above 100 ln 3
    = 109.9, and an explicit --max-loss 230.25850929940458 (the default's number) was
    replaced by 109.9."""
    data = _three_classes(tmp_path)
    number = 100 * math.log(10)
    for name, argv, limit in (("given", ["--max-loss", repr(number)], "230.3"),
                              ("default", [], "109.9")):
        code, out, err = _run(capsys, "train", "--framework", "numpy", "--data", data,
                              "--lr", "1e30", "--epochs", "2", "--quiet", "--no-figures",
                              "--out", str(tmp_path / name), *argv)
        assert code == 3 and f"above the limit {limit}" in out, (name, out, err)
    given = json.loads((tmp_path / "given" / "config.json").read_text())["max_loss"]
    assert float(given) == number and given != number  # not the default's mark
    assert json.loads((tmp_path / "default" / "config.json").read_text())["max_loss"] == (
        "100 ln C")
    assert f"| max_loss | {number} |" in (tmp_path / "given" / "report.md").read_text()
    assert f"| max_loss | {100 * math.log(3)} |" in (
        tmp_path / "default" / "report.md").read_text()
    # a value given with --resume is compared with the run's own: the default is not 230.26
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--data", data, "--epochs", "1",
                        "--quiet", "--no-figures", "--out", str(tmp_path / "r"))
    assert code == 0, err
    code, _, err = _run(capsys, "train", "--resume", str(tmp_path / "r"), "--epochs", "2",
                        "--max-loss", repr(number), "--quiet", "--no-figures")
    assert code == 2 and (f"--max-loss {number} differs from the resumed run's max_loss 100 ln "
                          "C (the default: 100 times the loss of uniform guessing)") in err, err
    code, _, err = _run(capsys, "train", "--resume", str(tmp_path / "r"), "--epochs", "2",
                        "--quiet", "--no-figures")
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["max_loss"] == "100 ln C"


def test_train_help_gives_the_max_loss_default_as_its_rule(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert ("diverged [230.3] for 10 classes: the default is 100 ln C for C classes") in help_text


@pytest.mark.parametrize("cmd", ["evaluate", "predict"])
def test_not_a_checkpoint(capsys, tmp_path, cmd):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"<html>not a model</html>")
    extra = [str(tmp_path / "x.npy")] if cmd == "predict" else []
    code, _, err = _run(capsys, cmd, str(bad), *extra)
    assert code == 2 and "is not a softreg checkpoint" in err and "Traceback" not in err


def test_checkpoint_with_wrong_shapes(capsys, tmp_path):
    st = need("safetensors", "safetensors.numpy")
    p = tmp_path / "c.safetensors"
    st.save_file({"W": np.zeros((10, 100), np.float32), "b": np.zeros(10, np.float32)}, str(p),
                 metadata={"format": "softreg-checkpoint"})
    code, _, err = _run(capsys, "evaluate", str(p))
    assert code == 2 and "array 'W' has shape (10, 100), expected (10, 784)" in err


def test_predict_top_k(trained, capsys, tiny_data, tmp_path):
    run, _ = trained
    x, _ = tiny_data
    img = tmp_path / "img.npy"
    np.save(img, x[3])
    code, out, _ = _run(capsys, "predict", str(run), str(img), "--top-k", "2", "--json")
    assert code == 0
    res = json.loads(out)[0]
    assert len(res["top"]) == 2 and res["top"][0]["probability"] >= res["top"][1]["probability"]
    assert 0.0 < sum(t["probability"] for t in res["top"]) <= 1.0 + 1e-9


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros((32, 32), np.uint8)),
         r"has shape \(32, 32\); softreg predicts on 28x28 grayscale images"),
        (lambda p: np.save(p.with_suffix(".npy"), np.full((28, 28), 7.0)),
         r"float pixel values must be finite and in \[0, 1\]"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros((2, 28, 28), np.uint8)),
         r"holds 2 images, of shape \(2, 28, 28\); a \.npy input is one image: save each "
         r"with numpy\.save"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros((3, 784), np.uint8)),
         r"holds 3 images, of shape \(3, 784\)"),
    ],
)
def test_predict_refuses_bad_images(trained, capsys, tmp_path, make, message):
    run, _ = trained
    make(tmp_path / "bad")
    code, _, err = _run(capsys, "predict", str(run), str(tmp_path / "bad.npy"))
    assert code == 2
    assert re.search(message, err), err


def test_predict_takes_a_stack_of_one_image_as_the_image(trained, capsys, tmp_path):
    run, _ = trained
    one = np.zeros((1, 28, 28), np.uint8)
    np.save(tmp_path / "one.npy", one)
    np.save(tmp_path / "same.npy", one[0])
    code, out, _ = _run(capsys, "predict", str(run), str(tmp_path / "one.npy"),
                        str(tmp_path / "same.npy"), "--json")
    assert code == 0
    first, second = json.loads(out)
    assert first["top"] == second["top"]


def test_predict_refuses_wrong_size_png(trained, capsys, tmp_path):
    PIL = need("PIL", "PIL.Image")
    run, _ = trained
    PIL.new("L", (30, 28)).save(tmp_path / "wide.png")  # 30 wide, 28 high
    code, _, err = _run(capsys, "predict", str(run), str(tmp_path / "wide.png"))
    assert code == 2 and ("is 28x30 pixels (height x width); softreg predicts on 28x28 "
                          "grayscale images") in err


def test_predict_bad_top_k(trained, capsys, tmp_path):
    run, _ = trained
    code, _, err = _run(capsys, "predict", str(run), "x.npy", "--top-k", "11")
    assert code == 2 and "--top-k must be between 1 and 10, got 11" in err


def test_two_classes_train_and_predict_with_the_default_top_k(capsys, tmp_path):
    """The default --top-k (3) shows every class of a two-class model; one given is checked."""
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{-x:.3f},{int(x > 0)}" for x in rng.normal(size=60)]
    (tmp_path / "two.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    code, out, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "2",
                          "--data", f"csv:{tmp_path / 'two.csv'}", "--out", str(run),
                          "--no-figures", "--quiet")
    assert code == 0, err
    np.save(tmp_path / "rows.npy", np.array([[1.0, -1.0], [-2.0, 2.0]], np.float32))
    code, out, err = _run(capsys, "predict", str(run), str(tmp_path / "rows.npy"), "--json")
    assert code == 0, err
    assert [[t["class"] for t in r["top"]] for r in json.loads(out)] == [["1", "0"], ["0", "1"]]
    code, _, err = _run(capsys, "predict", str(run), str(tmp_path / "rows.npy"), "--top-k", "3")
    assert code == 2 and "--top-k must be between 1 and 2, got 3" in err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("train", "evaluate", "predict"):
        assert cmd in out


def _saved(run):
    return checkpoint.load(run).meta


def test_resume_extends_the_run_and_accepts_its_own_settings(trained, capsys, fake_fashion):
    run, _ = trained
    code, out, err = _run(capsys, "train", "--resume", str(run), "--epochs", "3",
                          "--framework", "numpy", "--batch-size", "32", "--lr", "0.1",
                          "--no-figures", "--quiet")
    assert code == 0, err
    assert "(3 epochs" in out and _saved(run)["epoch"] == 3


def test_plain_resume_keeps_every_setting(trained, capsys, fake_fashion):
    run, _ = trained
    before = _saved(run)["config"]
    code, _, err = _run(capsys, "train", "--resume", str(run), "--no-figures", "--quiet")
    assert code == 0, err
    assert _saved(run)["config"] == before


def test_resume_may_change_the_device(trained, capsys, fake_fashion):
    run, _ = trained
    code, _, err = _run(capsys, "train", "--resume", str(run), "--device", "cpu",
                        "--no-figures", "--quiet")
    assert code == 0, err
    assert _saved(run)["config"]["device"] == "cpu"
    assert json.loads((run / "config.json").read_text())["device"] == "cpu"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "5"], "--lr 5.0 differs from the resumed run's lr 0.1; a resumed run keeps "
         "its settings: drop --lr or start a new run with --out"),
        (["--framework", "torch", "--batch-size", "7"],
         "--framework torch differs from the resumed run's framework numpy; --batch-size 7 "
         "differs from the resumed run's batch_size 32; a resumed run keeps its settings: "
         "drop --framework and --batch-size or start a new run with --out"),
        (["--seed", "3"], "--seed 3 differs from the resumed run's seed 0"),
        (["--val-split", "0.2"], "--val-split 0.2 differs from the resumed run's val_split 0.0"),
        (["--lr-schedule", "cosine"],
         "--lr-schedule cosine differs from the resumed run's lr_schedule constant"),
        (["--framework", "caffe"], "unknown framework 'caffe'"),
        (["--device", "cuda"], "device 'cuda' is not available with the numpy framework"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--overwrite"], "--overwrite cannot be used with --resume"),
        (["--out", "elsewhere"], "--out elsewhere cannot be used with --resume"),
    ],
)
def test_resume_refuses_what_it_would_ignore(trained, capsys, fake_fashion, argv, message):
    run, _ = trained
    before = (run / "checkpoint.safetensors").read_bytes()
    code, out, err = _run(capsys, "train", "--resume", str(run), "--epochs", "3", *argv)
    assert code == 2 and out == ""
    assert err.startswith("softreg train: error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    assert (run / "checkpoint.safetensors").read_bytes() == before


def test_resume_takes_the_label_column_its_run_found_and_names_both_columns_otherwise(
        capsys, tmp_path):
    """A run that found its label column by default (label_column "") resumes with
    --label-column naming that column; another column is refused, the default shown."""
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{-x:.3f},{int(x > 0)}" for x in rng.normal(size=60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--data",
                        f"csv:{tmp_path / 't.csv'}", "--out", str(run), "--no-figures",
                        "--quiet")
    assert code == 0, err
    code, _, err = _run(capsys, "train", "--resume", str(run), "--label-column", "label",
                        "--epochs", "2", "--no-figures", "--quiet")
    assert code == 0, err
    assert _saved(run)["epoch"] == 2 and _saved(run)["config"]["label_column"] == ""
    before = (run / "checkpoint.safetensors").read_bytes()
    for column in ("a", "class"):  # a feature; a usual label name the table does not have
        code, out, err = _run(capsys, "train", "--resume", str(run), "--label-column", column,
                              "--epochs", "3", "--no-figures", "--quiet")
        assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
        assert err.strip() == (
            f"softreg train: error: --label-column {column} differs from the resumed run's "
            "label_column '' (the default: the column named label, class, target or y); a "
            "resumed run keeps its settings: drop --label-column or start a new run with --out")
        assert (run / "checkpoint.safetensors").read_bytes() == before


def test_resume_refuses_cuda_where_there_is_none(capsys, tmp_path, fake_fashion):
    torch = need("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "torch", "--device", "cpu", "--epochs",
                        "1", "--batch-size", "64", "--out", str(run), "--no-figures", "--quiet")
    assert code == 0, err
    code, _, err = _run(capsys, "train", "--resume", str(run), "--device", "cuda")
    assert code == 2 and "CUDA was requested but PyTorch sees no CUDA GPU" in err
    assert _saved(run)["epoch"] == 1


def test_resume_of_a_folder_without_a_run(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "--resume", str(tmp_path), "--lr", "5")
    assert code == 2 and "cannot resume: " in err and "does not exist" in err


def test_a_resumed_run_names_the_exports_and_explanation_of_its_earlier_model(capsys,
                                                                            tmp_path):
    """After --resume, model_torch.safetensors and explain.md in the run still described the
    epoch they were made from, beside a checkpoint of a later one, without a word."""
    need("safetensors")
    run = tmp_path / "run"
    code, out, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--data",
                          "sklearn:iris", "--out", str(run), "--no-figures")
    assert code == 0 and "note:" not in out, err
    assert _run(capsys, "export", str(run), "--format", "torch")[0] == 0
    assert _run(capsys, "explain", str(run), "--no-figures")[0] == 0
    code, out, err = _run(capsys, "train", "--resume", str(run), "--epochs", "2",
                          "--no-figures")
    assert code == 0, err
    assert ("note: model_torch.safetensors, explain.md in the run folder describe an earlier "
            "model than its checkpoint now holds") in out
    code, out, err = _run(capsys, "train", "--resume", str(run), "--epochs", "2",
                          "--no-figures")  # already finished: the same model, no note
    assert code == 0 and "already finished" in out and "note:" not in out, err
