"""The command on the real Fashion-MNIST files, as separate processes."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import need
from softreg.runfiles import checkpoint

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _softreg(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "softreg", *argv], capture_output=True,
                          text=True, timeout=300, **kw)


def test_ctrl_c_saves_a_resumable_checkpoint(real_data, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "softreg", "train", "--framework", "numpy", "--epochs", "1000",
         "--out", str(out), "--no-figures"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = []
    for line in proc.stdout:  # wait for the first finished epoch, then press Ctrl-C
        lines.append(line)
        if line.split() and line.split()[0] == "1":
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=120)
    text = "".join(lines) + rest
    assert proc.returncode == 130, err
    assert "interrupted by the user after" in text
    assert f"resumable checkpoint saved to {out / 'checkpoint.safetensors'}" in text
    assert f"softreg train --resume {out}" in text
    assert "Traceback" not in err
    done = checkpoint.load(out).meta["epoch"]
    assert done >= 1 and np.isfinite(checkpoint.load(out).W).all()
    res = _softreg("train", "--resume", str(out), "--epochs", str(done + 1), "--no-figures")
    assert res.returncode == 0, res.stderr
    assert checkpoint.load(out).meta["epoch"] == done + 1


def test_diverging_lr_stops_safely(real_data, tmp_path):
    res = _softreg("train", "--lr", "1e6", "--framework", "numpy", "--out", str(tmp_path),
                   "--no-figures")
    assert res.returncode == 3
    assert "training diverged in epoch 1" in res.stdout
    assert np.isfinite(checkpoint.load(tmp_path).W).all()


def test_predict_a_known_test_image(real_data, tmp_path):
    PIL = need("PIL", "PIL.Image")
    res = _softreg("train", "--framework", "numpy", "--epochs", "3", "--out", str(tmp_path / "r"),
                   "--no-figures", "--quiet")
    assert res.returncode == 0, res.stderr
    xte, yte = real_data[2], real_data[3]
    assert int(yte[0]) == 9  # the first test image is an ankle boot
    PIL.fromarray(np.asarray(xte[0])).save(tmp_path / "boot.png")
    np.save(tmp_path / "trouser.npy", np.asarray(xte[2]))  # test image 2 is a trouser
    res = _softreg("predict", str(tmp_path / "r"), str(tmp_path / "boot.png"),
                   str(tmp_path / "trouser.npy"))
    assert res.returncode == 0, res.stderr
    boot, trouser = res.stdout.strip().splitlines()
    assert boot.split(": ", 1)[1].startswith("ankle boot ")
    assert trouser.split(": ", 1)[1].startswith("trouser ")
