"""`softreg train --tensorboard DIR`: event files read back with TensorBoard's own reader."""

import io
import json
import sys
import types

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.runfiles import checkpoint
from softreg.runfiles.tblog import SCALARS, png_gray, template_png

CLASS_TAGS = ["template/0_t-shirt", "template/1_trouser", "template/2_pullover",
              "template/3_dress", "template/4_coat", "template/5_sandal", "template/6_shirt",
              "template/7_sneaker", "template/8_bag", "template/9_ankle_boot"]


def _train(capsys, tmp_path, *extra):
    code = main(["train", "--framework", "numpy", "--out", str(tmp_path / "run"),
                 "--tensorboard", str(tmp_path / "tb"), "--no-figures", "--quiet", *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def read_events(monkeypatch):
    """Read a log folder with TensorBoard's EventAccumulator."""
    need("tensorboard")
    # TensorBoard's reader imports TensorFlow whenever it is installed (seconds); this module
    # name makes it use its own TensorFlow-free stub, as it does where TensorFlow is absent.
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def read(logdir):
        acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
        acc.Reload()
        return acc

    return read


def test_scalars_equal_the_history_and_templates_are_the_weights(capsys, tmp_path,
                                                                 fake_fashion, read_events):
    code, _, err = _train(capsys, tmp_path, "--epochs", "3", "--val-split", "0.2")
    assert (code, err) == (0, "")
    acc = read_events(tmp_path / "tb")
    history = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"]
    assert sorted(acc.Tags()["scalars"]) == sorted(tag for tag, _ in SCALARS)
    for tag, name in SCALARS:
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        # TensorBoard keeps scalars as float32.
        assert got == [(h["epoch"], float(np.float32(h[name]))) for h in history], tag
    assert sorted(acc.Tags()["images"]) == CLASS_TAGS
    W = checkpoint.load(tmp_path / "run" / checkpoint.LAST).W  # the last epoch's weights
    for k, tag in enumerate(CLASS_TAGS):
        images = acc.Images(tag)
        assert [i.step for i in images] == [1, 2, 3]
        assert (images[-1].width, images[-1].height) == (28, 28)
        assert images[-1].encoded_image_string == template_png(W[k])
        assert images[0].encoded_image_string != images[-1].encoded_image_string


def test_a_resumed_run_logs_its_new_epochs(capsys, tmp_path, fake_fashion, read_events):
    assert _train(capsys, tmp_path, "--epochs", "1")[0] == 0
    code = main(["train", "--resume", str(tmp_path / "run"), "--epochs", "2",
                 "--tensorboard", str(tmp_path / "tb"), "--no-figures", "--quiet"])
    assert code == 0
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 2
    acc = read_events(tmp_path / "tb")
    assert [e.step for e in acc.Scalars("loss/train")] == [1, 2]
    assert "loss/val" not in acc.Tags()["scalars"]  # no validation split: no NaN logged


def test_resuming_a_finished_run_trains_and_logs_nothing(capsys, tmp_path, fake_fashion):
    """A resume with no epoch left said "(1 epochs, 0.00 s, ...)" as if it had trained, and
    left an event file holding no epoch."""
    need("tensorboard")
    assert _train(capsys, tmp_path, "--epochs", "1")[0] == 0
    logs = sorted((tmp_path / "tb").iterdir())
    code = main(["train", "--resume", str(tmp_path / "run"), "--tensorboard",
                 str(tmp_path / "tb"), "--no-figures", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "has done 1 of 1 epochs: nothing left to train" in err
    assert "(1 epochs, already finished: nothing trained now, numpy on cpu)" in out
    assert " s, numpy" not in out
    assert sorted((tmp_path / "tb").iterdir()) == logs  # no new (empty) event file


def test_template_png_decodes_to_the_scaled_weights():
    PIL = need("PIL", "PIL.Image")
    row = np.linspace(-2.0, 2.0, 784)
    img = np.asarray(PIL.open(io.BytesIO(template_png(row))))
    assert img.shape == (28, 28) and img.dtype == np.uint8
    assert (img.flat[0], img.flat[-1]) == (0, 255)
    np.testing.assert_array_equal(img.ravel(), np.rint(127.5 + 127.5 * row / 2.0))
    flat = np.asarray(PIL.open(io.BytesIO(template_png(np.zeros(784)))))
    assert set(flat.ravel().tolist()) == {128}  # all-zero weights: plain mid-grey
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(PIL.open(io.BytesIO(png_gray(pixels)))), pixels)


def test_missing_tensorboard_is_one_line_before_any_run_file(capsys, monkeypatch, tmp_path,
                                                             fake_fashion):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    code, out, err = _train(capsys, tmp_path, "--epochs", "1")
    assert (code, out) == (2, "")
    assert err.startswith("softreg train: error: TensorBoard is not installed (")
    assert err.endswith("; install it with: pip install 'softreg[tensorboard]'\n")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "tb").exists()


def test_tensorboard_dir_that_is_a_file_is_refused(capsys, tmp_path, fake_fashion):
    need("tensorboard")
    (tmp_path / "tb").write_text("not a folder")
    code, out, err = _train(capsys, tmp_path, "--epochs", "1")
    assert (code, out) == (2, "")
    assert err == (f"softreg train: error: --tensorboard {str(tmp_path / 'tb')!r} is a regular "
                   "file, not a folder; softreg writes only into a folder it makes or owns: "
                   "choose another path\n")
    assert not (tmp_path / "run").exists()


def test_tensorboard_dir_that_cannot_be_made_is_refused(capsys, tmp_path, fake_fashion):
    need("tensorboard")
    (tmp_path / "f").write_text("x")
    code = main(["train", "--framework", "numpy", "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--tensorboard", str(tmp_path / "f" / "tb"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"softreg train: error: --tensorboard {str(tmp_path / 'f' / 'tb')!r} "
                          "cannot be written (")
    assert err.endswith("); give a folder you can write to\n")


@pytest.mark.parametrize("argv", [["train", "--help"]])
def test_help_names_the_flag_and_the_extra(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    text = " ".join(capsys.readouterr().out.split())
    assert "--tensorboard DIR" in text and "pip install 'softreg[tensorboard]'" in text
