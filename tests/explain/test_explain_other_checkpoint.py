"""`softreg explain` on a run's checkpoint that is not its final model, and the temperature
`predict --calibrated` reads for it.

A run whose early stopping restored its best epoch has two models: best.safetensors (the final
model: `evaluate RUN`, `predict RUN`, the run's calibration.json) and checkpoint.safetensors
(the last epoch). Explaining the last epoch must not replace the final model's files, and a
refusal must name the command that fits a temperature for the file at hand.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from softreg.cli import main
from softreg.runfiles import checkpoint


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err, text):
    assert code == 2 and text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture()
def stopped(tmp_path, noisy_fashion, capsys):
    """A run whose final model is best.safetensors, an image, and the run's files' bytes."""
    run = tmp_path / "run"
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "12",
                        "--batch-size", "16", "--lr", "0.01", "--val-split", "0.2",
                        "--patience", "50", "--out", run, "--no-figures", "--quiet")
    assert code == 0, err
    assert checkpoint.load(run / checkpoint.LAST).meta["model_file"] == checkpoint.BEST
    image = tmp_path / "image.npy"
    np.save(image, np.full((28, 28), 90, np.uint8))
    return run, image


def _files(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def _temperature(out):
    found = re.search(r"temperature T = (\S+)", out)
    assert found is not None, out
    return found.group(1)


def test_the_last_epoch_is_not_explained_into_the_run_folder(stopped, capsys, tmp_path):
    run, image = stopped
    last = run / checkpoint.LAST
    code, out, err = _run(capsys, "predict", run, image, "--calibrated")
    assert code == 0, err
    final_t = _temperature(out)
    before = _files(run)
    for out_args in ((), ("--out", run)):  # the default, and the run folder named
        code, _, err = _run(capsys, "explain", last, "--no-figures", *out_args)
        _one_line(code, err, f"{str(last)!r} is not the final model of its run {str(run)!r} "
                  "(best.safetensors is); explaining it there would replace the "
                  "calibration.json and explain.md of best.safetensors: pass --out DIR, a new "
                  "folder (then predict with --calibrated --calibration DIR/calibration.json)")
    assert _files(run) == before  # the run's calibration.json untouched, no explain.md
    code, out, err = _run(capsys, "predict", run, image, "--calibrated")
    assert code == 0 and _temperature(out) == final_t, err
    # the final model itself, named as a file, is explained into the run folder as before
    code, _, err = _run(capsys, "explain", run / checkpoint.BEST, "--no-figures")
    assert code == 0 and (run / "explain.md").is_file(), err


def test_predict_names_the_command_that_fits_the_last_epochs_temperature(stopped, capsys,
                                                                         tmp_path):
    run, image = stopped
    last = run / checkpoint.LAST
    code, _, err = _run(capsys, "predict", last, image, "--calibrated")
    _one_line(code, err, "was fitted for other weights than this checkpoint's (model "
              "'best.safetensors', epoch ")
    assert err.strip().endswith(
        f"run 'softreg explain {last} --out DIR' to fit one for these weights, then predict "
        "with --calibrated --calibration DIR/calibration.json")
    # doing as it says works: the temperature is this file's
    code, _, err = _run(capsys, "explain", last, "--no-figures", "--out", tmp_path / "ex")
    assert code == 0, err
    code, out, err = _run(capsys, "predict", last, image, "--calibrated", "--calibration",
                          tmp_path / "ex" / "calibration.json")
    assert code == 0 and "calibrated: logits divided by the temperature" in out, err
    # a calibration file of other weights named with --calibration, where the run's own
    # calibration.json fits these weights: that one is the answer, not a new explanation
    code, _, err = _run(capsys, "predict", run, image, "--calibrated", "--calibration",
                        tmp_path / "ex" / "calibration.json")
    _one_line(code, err, f"{str(run / 'calibration.json')!r} fits these weights: predict with "
              "--calibrated and without --calibration")
    assert "--out DIR" not in err
    # where no calibration of its own fits them, the advice stays: explain it into DIR
    (run / "calibration.json").unlink()
    code, _, err = _run(capsys, "predict", run, image, "--calibrated", "--calibration",
                        tmp_path / "ex" / "calibration.json")
    _one_line(code, err, f"run 'softreg explain {run} --out DIR' to fit one for these weights")


def test_a_run_folders_own_calibration_still_says_explain_run_again(stopped, capsys):
    """The run's final model whose calibration.json is another's (a resumed run): explaining
    the run again refits it."""
    run, image = stopped
    cal = run / "calibration.json"
    cal.write_text(cal.read_text().replace('"model_sha256": "', '"model_sha256": "0', 1))
    for target in (run, run / checkpoint.BEST):
        code, _, err = _run(capsys, "predict", target, image, "--calibrated")
        _one_line(code, err, "run 'softreg explain RUN' again to refit it")
