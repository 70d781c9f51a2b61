"""The small defects of the third trust round, each with a variation of its kind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _cli import refused, run_cli

from softreg.cli import main
from softreg.runfiles import checkpoint

STOPPING = ("train", "--framework", "numpy", "--epochs", "40", "--lr", "0.01", "--val-split",
            "0.2", "--patience", "3", "--batch-size", "16", "--quiet", "--no-figures")


@pytest.fixture()
def restored_run(tmp_path, noisy_fashion, capsys):
    """A run whose final model is its best epoch (best.safetensors), and a second one."""
    runs = []
    for name, seed in (("a", "0"), ("b", "1")):
        out = tmp_path / name
        code, _, err = run_cli(capsys, *STOPPING, "--seed", seed, "--out", out)
        assert code == 0, err
        assert checkpoint.load(out / "checkpoint.safetensors").meta["model_file"] == \
            "best.safetensors"
        runs.append(out)
    return runs


@pytest.mark.parametrize("how", ["other run", "edited"])
@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_a_best_file_that_disagrees_with_the_checkpoint_is_refused(restored_run, tmp_path,
                                                                   capsys, noisy_fashion,
                                                                   how, command):
    a, b = restored_run
    if how == "other run":
        (a / "best.safetensors").write_bytes((b / "best.safetensors").read_bytes())
    else:
        ck = checkpoint.load(a / "best.safetensors")
        ck.W[0, 0] += 1.0
        for key in ("format", "format_version", "softreg_version"):
            ck.meta.pop(key, None)
        checkpoint.save(a / "best.safetensors", ck)
    img = tmp_path / "img.npy"
    np.save(img, np.zeros((28, 28), np.uint8))
    argv = {"evaluate": (a, "--no-figures"), "predict": (a, img),
            "export": (a, "--format", "torch", "--out", tmp_path / "m.safetensors")}[command]
    code, _, err = run_cli(capsys, command, *argv)
    refused(code, err, "is not the best epoch's weights that")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize(("epochs", "said"), [("0", "lr-find --epochs must be >= 1, got 0"),
                                              ("-1", "epochs must be an integer >= 0")])
def test_lr_find_with_no_epochs_is_refused(tmp_path, capsys, epochs, said):
    code, _, err = run_cli(capsys, "lr-find", "--epochs", epochs, "--out", tmp_path / "f.png")
    refused(code, err, said)


@pytest.mark.parametrize("content", [None, "notes.txt"])
def test_an_explicit_data_folder_without_the_files_is_not_passed_over(tmp_path, capsys,
                                                                      content):
    folder = tmp_path / "data"
    folder.mkdir()
    if content:
        (folder / content).write_text("the user's")
    code, _, err = run_cli(capsys, "data", "--data-dir", folder, "--offline")
    refused(code, err, "is not there; offline, softreg does not fall back to another place")


def test_a_closed_pipe_is_quiet(real_data, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "softreg", "data", "--offline"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait() == 141, err
    assert "Broken pipe" not in err and "Traceback" not in err


def test_the_calibration_advice_works_for_a_checkpoint_outside_a_run(tmp_path, fake_fashion,
                                                                     capsys):
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "--framework", "numpy", "--epochs", "2", "--val-split", "0.1",
                "--quiet", "--no-figures", "--out", run)[0] == 0
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes((run / "checkpoint.safetensors").read_bytes())
    img = tmp_path / "img.npy"
    np.save(img, fake_fashion["test"][0][0])
    code, _, err = run_cli(capsys, "predict", mine, img, "--calibrated")
    refused(code, err, f"run 'softreg explain {mine}' (a model trained with a validation "
                       "split) to fit one for it")
    assert run_cli(capsys, "explain", mine, "--no-figures")[0] == 0  # as the message advises
    code, out, err = run_cli(capsys, "predict", mine, img, "--calibrated")
    assert code == 0 and "calibrated: logits divided by the temperature" in out, err


def test_data_files_that_are_fifos_are_refused_not_waited_on(tmp_path, capsys):
    import os

    from softreg.data import fashion

    folder = tmp_path / "data"
    folder.mkdir()
    for spec in fashion.FILES:
        os.mkfifo(folder / spec.filename)
    code, _, err = run_cli(capsys, "data", "--data-dir", folder, "--offline")
    assert code == 2 and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("stage", ["parsers", "command"])
def test_sigterm_at_any_stage_is_one_line_and_143(monkeypatch, capsys, stage):
    import softreg.cli
    import softreg.cli.data
    from softreg.safety.stopsignals import Terminated

    def stop(*args, **kwargs):
        raise Terminated("SIGTERM")

    if stage == "parsers":
        monkeypatch.setattr(softreg.cli, "build_parser", stop)
    else:
        monkeypatch.setattr(softreg.cli.data, "_find_and_verify", stop)
    code = main(["data", "--offline"])
    err = capsys.readouterr().err
    assert code == 143
    assert err == ("softreg: terminated (SIGTERM)\n" if stage == "parsers"
                   else "softreg data: terminated (SIGTERM)\n")
