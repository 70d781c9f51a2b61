"""The one reader (softreg.safety.readback): every file read back is a regular file, bounded in size
and depth, and checked field by field; a bad one is one line naming it."""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest
from _cli import refused, run_cli

from softreg.core.errors import ConfigError
from softreg.safety import readback

DEEP = 100_000
TRAIN = ("train", "--framework", "numpy", "--epochs", "2", "--batch-size", "64", "--quiet",
         "--no-figures", "--val-split", "0.1")
SWEEP = ("sweep", "--lr", "0.05,0.1", "--epochs", "1", "--batch-size", "64", "--framework",
         "numpy", "--quiet", "--no-figures", "--no-pack")


def _deep(n=DEEP):
    return "[" * n + "]" * n


@pytest.mark.parametrize("text", [_deep(), '{"a":' * DEEP + "1" + "}" * DEEP,
                                  '["[[[[", ' + _deep(70) + "]"])
def test_deep_json_is_one_refusal_not_a_recursion_error(tmp_path, text):
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"nested more than {readback.MAX_DEPTH} levels"):
        readback.read_json(path, "a file")


def test_brackets_inside_strings_do_not_count():
    assert readback.loads('{"a": "' + "[" * 1000 + '"}', "x") == {"a": "[" * 1000}
    assert readback.json_depth(b'[[1], {"b": [2]}]') == 3


@pytest.mark.parametrize("kind", ["folder", "fifo", "/dev/zero", "link to /dev/zero"])
def test_only_regular_files_are_read(tmp_path, kind):
    path = tmp_path / "x.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opened without blocking, then refused: no writer is waited for
    elif kind == "/dev/zero":
        path = "/dev/zero"
    else:
        path.symlink_to("/dev/zero")
    word = {"folder": "a folder", "fifo": "a FIFO (named pipe)"}.get(kind, "a character device")
    with pytest.raises(ConfigError, match=re.escape(f"is {word}, not a regular file")):
        readback.read_json(path, "a file")


def test_a_file_larger_than_its_bound_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000)
    with pytest.raises(ConfigError, match="is 2000 bytes, more than the 1000"):
        readback.read_bytes(path, 1000, "a file")


@pytest.fixture()
def run_dir(tmp_path, fake_fashion, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TRAIN, "--out", out)
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", ["config.json", "history.json"])
def test_resume_with_deep_run_files_is_one_line(run_dir, capsys, name):
    (run_dir / name).write_text(_deep())
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    refused(code, err, f"nested more than {readback.MAX_DEPTH} levels")


def test_a_deep_folder_marker_is_one_line(run_dir, capsys):
    (run_dir / ".softreg-run").write_text(_deep())
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    refused(code, err, ".softreg-run")


def _with_meta(src, dest, key, value):
    """Copy a safetensors file with one metadata value replaced (header rewritten)."""
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["__metadata__"][key] = value
    new = json.dumps(header).encode()
    dest.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n:])


@pytest.mark.parametrize("key", ["history", "config"])
def test_deep_checkpoint_metadata_is_one_line(run_dir, tmp_path, capsys, key):
    bad = tmp_path / "deep.safetensors"
    _with_meta(run_dir / "checkpoint.safetensors", bad, key, _deep())
    code, _, err = run_cli(capsys, "evaluate", bad, "--no-figures")
    refused(code, err, f"nested more than {readback.MAX_DEPTH} levels deep")


@pytest.mark.parametrize("content", [_deep(), "null", '{"format": "softreg-calibration"}'])
def test_a_bad_calibration_file_is_one_line(run_dir, tmp_path, fake_fashion, capsys, content):
    img = tmp_path / "img.npy"
    np.save(img, fake_fashion["test"][0][0])
    cal = tmp_path / "cal.json"
    cal.write_text(content)
    code, _, err = run_cli(capsys, "predict", run_dir, img, "--calibration", cal)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("temperature", [1e-320, 0.0, 1e6, True])
def test_a_temperature_outside_the_fitted_range_is_refused(run_dir, tmp_path, fake_fashion,
                                                           capsys, temperature):
    assert run_cli(capsys, "explain", run_dir, "--no-figures")[0] == 0
    cal = json.loads((run_dir / "calibration.json").read_text())
    cal["temperature"] = temperature
    (tmp_path / "cal.json").write_text(json.dumps(cal))
    img = tmp_path / "img.npy"
    np.save(img, fake_fashion["test"][0][0])
    code, _, err = run_cli(capsys, "predict", run_dir, img, "--calibration", tmp_path / "cal.json")
    refused(code, err, "temperature must be a number in [0.05, 20.0]")


@pytest.mark.parametrize("kind", ["folder", "fifo", "/dev/zero"])
def test_an_image_or_calibration_that_is_not_a_file_is_named(run_dir, tmp_path, capsys, kind):
    path = tmp_path / "x.npy"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    word = {"folder": "a folder", "fifo": "a FIFO (named pipe)"}.get(kind, "a character device")
    code, _, err = run_cli(capsys, "predict", run_dir, path)
    refused(code, err, f"is {word}, not a regular file")
    if kind != "folder":  # (a folder is a run folder to evaluate: it names the missing file)
        code, _, err = run_cli(capsys, "evaluate", path, "--no-figures")
        refused(code, err, f"is {word}, not a regular file")
    code, _, err = run_cli(capsys, "predict", run_dir, run_dir / "checkpoint.safetensors",
                        "--calibration", path)
    assert code == 2 and word in err, err


# -- sweep results: checked against their key, paths kept inside ------------------------------

def _tamper(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


TAMPERED = [
    (lambda d: d["row"].update(val_acc=99), "field 'val_acc' must be in [0.0, 1.0], got 99"),
    (lambda d: d["row"].update(val_loss=-1.0), "field 'val_loss' must be in [0.0, inf]"),
    (lambda d: d["row"].update(weights="../../outside.safetensors"), "leaves its folder"),
    (lambda d: d["row"].update(weights="/etc/passwd"), "leaves its folder"),
    (lambda d: d["row"].update(weights="results/x.json"), "field 'weights' must be weights/"),
    (lambda d: d.pop("history"), "field 'history'"),
    (lambda d: d["history"]["epochs"][0].update(train_loss="abc"), "field 'history'"),
    (lambda d: d["config"].update(lr=0.7), "field 'key' must be the key of its config"),
    (lambda d: d.pop("config"), "field 'config' must be an object"),
]


@pytest.mark.parametrize(("change", "said"), TAMPERED)
def test_a_tampered_result_is_refused_not_chosen(tmp_path, fake_fashion, capsys, change, said):
    out = tmp_path / "sweep"
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    assert code == 0, err
    path = sorted((out / "results").glob("*.json"))[0]
    _tamper(path, change)
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    refused(code, err, said)
    assert path.name in err


@pytest.mark.parametrize("kind", ["/dev/zero", "deep"])
def test_a_result_file_that_is_a_device_or_deep_is_refused(tmp_path, fake_fashion, capsys,
                                                           kind):
    out = tmp_path / "sweep"
    assert run_cli(capsys, *SWEEP, "--out", out)[0] == 0
    path = sorted((out / "results").glob("*.json"))[0]
    path.unlink()
    if kind == "deep":
        path.write_text(_deep())
    else:
        path.symlink_to("/dev/zero")
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    refused(code, err, "nested more than" if kind == "deep" else "is a character device")


# -- a sweep run again into its folder: merged, or refused when not comparable -----------------

def test_a_second_sweep_with_other_configurations_is_merged(tmp_path, fake_fashion, capsys):
    out = tmp_path / "sweep"
    assert run_cli(capsys, *SWEEP, "--out", out)[0] == 0
    argv = [a if a != "0.05,0.1" else "0.2" for a in SWEEP]
    code, text, err = run_cli(capsys, *[a for a in argv if a != "--quiet"], "--out", out)
    assert code == 0, err
    assert "merging with the sweep in" in text and "cover all 3" in text
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # the old two and the new one
    spec = json.loads((out / "sweep.json").read_text())
    assert len(spec["configurations"]) == 3
    # the latest command's space, the earlier one's, and the union the configurations hold
    assert spec["axes"]["lr"] == [0.2]
    assert [r["axes"]["lr"] for r in spec["earlier_runs"]] == [[0.05, 0.1]]
    same = {"epochs": [1], "framework": ["numpy"]}  # axes of one value in both commands
    assert spec["axes_union"] == {"lr": [0.05, 0.1, 0.2], "batch_size": [64], **same}
    assert sorted(c["lr"] for c in spec["configurations"].values()) == [0.05, 0.1, 0.2]
    # a third command adding a batch size: the union names both settings
    code, _, err = run_cli(capsys, *argv, "--batch-size", "32,64", "--out", out)
    assert code == 0, err
    spec = json.loads((out / "sweep.json").read_text())
    assert spec["axes_union"] == {"lr": [0.05, 0.1, 0.2], "batch_size": [32, 64], **same}
    assert [r["axes"]["lr"] for r in spec["earlier_runs"]] == [[0.05, 0.1], [0.2]]
    # resuming the latest command keeps the record as it is
    assert run_cli(capsys, *argv, "--batch-size", "32,64", "--out", out)[0] == 0
    assert json.loads((out / "sweep.json").read_text())["earlier_runs"] == spec["earlier_runs"]


def test_a_sweep_alone_in_its_folder_records_no_merge(tmp_path, fake_fashion, capsys):
    out = tmp_path / "sweep"
    for _ in range(2):  # run, then resumed: the same command
        assert run_cli(capsys, *SWEEP, "--out", out)[0] == 0
        spec = json.loads((out / "sweep.json").read_text())
        assert spec["axes"]["lr"] == [0.05, 0.1]
        assert "earlier_runs" not in spec and "axes_union" not in spec


@pytest.mark.parametrize("flag", [("--val-split", "0.2"), ("--val-seed", "5")])
def test_a_sweep_on_other_validation_images_is_refused(tmp_path, fake_fashion, capsys, flag):
    out = tmp_path / "sweep"
    assert run_cli(capsys, *SWEEP, "--out", out)[0] == 0
    before = (out / "results.csv").read_bytes()
    code, _, err = run_cli(capsys, *SWEEP, *flag, "--out", out)
    refused(code, err, "holds a sweep chosen on other validation images")
    assert (out / "results.csv").read_bytes() == before


@pytest.mark.parametrize("name", ["metrics.csv", "history.json", "config.json"])
def test_resume_with_a_fifo_for_a_run_file_is_one_line_not_a_hang(run_dir, capsys, name):
    (run_dir / name).unlink()
    os.mkfifo(run_dir / name)
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    refused(code, err, "is a FIFO (named pipe), not a regular file")
