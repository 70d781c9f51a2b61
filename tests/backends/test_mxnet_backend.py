"""What only the MXNet backend does: its devices, the numpy it needs, ``npx.set_np()``
semantics, divergence, and the CLI with MXNet.

The step, epoch, totals, refusals and tie-breaking every backend shares are in
test_conformance.py.

Runs in the MXNet environment: ``.venv-mxnet/bin/python -m pytest -m mxnet``.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
from backend_cases import epoch_against_numpy, make_backend

from conftest import need
from softreg.core.errors import ConfigError
from softreg.fitting.splits import Split
from softreg.fitting.trainer import initial_params

pytestmark = pytest.mark.mxnet


@pytest.fixture()
def backend():
    return make_backend("mxnet")


def test_devices_and_aliases():
    mx = need("mxnet")
    from softreg.backends import get_backend
    from softreg.backends.base import LinearBackend
    from softreg.backends.mxnet_backend import MxnetBackend, create_backend

    if mx.context.num_gpus() == 0:
        with pytest.raises(ConfigError, match="CUDA was requested but MXNet sees no CUDA GPU"):
            create_backend("cuda")
        assert create_backend("auto").device == "cpu"
    be = get_backend("gluon", "cpu")
    assert isinstance(be, MxnetBackend) and isinstance(be, LinearBackend) and be.name == "mxnet"


def test_numpy_too_new_gives_the_fix():
    """MXNet 1.9.1 on numpy >= 1.24 fails with AttributeError (np.bool); simulated here by
    removing numpy's deprecated ``bool`` alias before MXNet imports."""
    need("mxnet")
    code = ("import numpy; numpy.__deprecated_attrs__.pop('bool', None)\n"
            "from softreg.backends import get_backend\n"
            "get_backend('mxnet')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "FrameworkUnavailableError: MXNet 1.9.1 cannot import with numpy" in last
    assert "it needs numpy < 1.24" in last
    assert ".venv-mxnet/bin/pip install 'numpy==1.23.5' 'softreg[mxnet]'" in last


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_epoch_under_np_semantics_matches_numpy_reference(backend, weight_decay):
    """Same weights, totals, evaluation and logits under ``npx.set_np()`` (without it: the
    conformance suite)."""
    mx = need("mxnet")
    with mx.util.np_shape(True), mx.util.np_array(True):
        epoch_against_numpy(backend, weight_decay)


@pytest.mark.parametrize("guard", [True, False])
def test_the_step_feeds_no_denormal_numbers_to_its_products(backend, monkeypatch, guard):
    """A confident model: every example's label logit is 95 above the others, whose
    probabilities exp(-95) = 5.5e-42 are denormal float32 numbers (products that meet them
    run several times slower on x86). With the guard the gradient of W holds none; the
    control without it (LOG_TINY = -inf) shows the case makes them."""
    need("mxnet")
    from softreg.backends import mxnet_backend

    if not guard:
        monkeypatch.setattr(mxnet_backend, "LOG_TINY", float("-inf"))
    X = np.ones((8, 784), np.float32)
    y = np.zeros(8, np.int64)
    b = np.zeros(10, np.float32)
    b[0] = 95.0
    backend.set_params(np.zeros((10, 784), np.float32), b)
    totals = backend.train_epoch(backend.put_data(X, y), np.arange(8), 8, lr=1e-3)
    grad = backend.W.grad.asnumpy()
    denormal = (grad != 0) & (np.abs(grad) < np.finfo(np.float32).tiny)
    assert denormal.any() != guard
    assert totals.correct == 8 and totals.loss_sum < 1e-30  # the loss is read unguarded


def test_divergence_is_detected_and_the_last_good_weights_kept(backend, tiny_data):
    """Huge but finite losses must reach the loop as they are, so it can stop the run."""
    from softreg.core.config import TrainConfig
    from softreg.fitting.splits import to_features
    from softreg.fitting.trainer import fit

    x, y = tiny_data
    splits = {"train": Split(to_features(x), y.astype(np.int64)),
              "test": Split(to_features(x[:200]), y[:200].astype(np.int64))}
    result = fit(TrainConfig(framework="mxnet", lr=1e6, epochs=2, device="cpu"), splits,
                 backend=backend)
    assert result.history.status == "diverged" and len(result.history) == 0
    np.testing.assert_array_equal(backend.get_params()[0], initial_params(0)[0])


# ----------------------------------------------------------------------------- the CLI


def _cli(capsys, *argv):
    from softreg.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().out


def _test_line(out):
    match = re.search(r"test: accuracy ([0-9.]+)  loss ([0-9.]+)", out)
    assert match, out
    return float(match[1]), float(match[2])


def test_checkpoints_interchange_with_numpy(capsys, tmp_path, fake_fashion):
    """An MXNet-trained run evaluated by NumPy and the reverse; the two runs agree."""
    need("mxnet")
    from softreg.runfiles import checkpoint

    common = ["--epochs", "2", "--batch-size", "32", "--no-figures", "--quiet"]
    for fw in ("gluon", "numpy"):
        code, out = _cli(capsys, "train", "--framework", fw, "--out", str(tmp_path / fw), *common)
        assert code == 0, out
    scores = {}
    for run, evaluator in (("gluon", "numpy"), ("numpy", "mxnet")):
        code, out = _cli(capsys, "evaluate", str(tmp_path / run), "--framework", evaluator,
                         "--no-figures")
        assert code == 0 and f"evaluated with {evaluator} on cpu" in out
        scores[run] = _test_line(out)
    assert scores["gluon"][0] == scores["numpy"][0]
    assert scores["gluon"][1] == pytest.approx(scores["numpy"][1], abs=2e-4)
    mx_ckpt, np_ckpt = checkpoint.load(tmp_path / "gluon"), checkpoint.load(tmp_path / "numpy")
    np.testing.assert_allclose(mx_ckpt.W, np_ckpt.W, rtol=1e-4, atol=1e-5)


def test_cli_features_and_resume_with_mxnet(capsys, tmp_path, fake_fashion):
    """Validation split, weight decay and --resume: MXNet follows NumPy (a resume may extend
    a run of a constant rate only: a schedule's rates depend on the total)."""
    need("mxnet")
    from softreg.runfiles import checkpoint

    opts = ["--val-split", "0.1", "--weight-decay", "1e-3", "--lr-schedule", "constant",
            "--batch-size", "64", "--no-figures", "--quiet"]
    for fw in ("mx", "np"):
        code, out = _cli(capsys, "train", "--framework", fw, "--epochs", "2",
                         "--out", str(tmp_path / fw), *opts)
        assert code == 0, out
        code, out = _cli(capsys, "train", "--resume", str(tmp_path / fw), "--epochs", "3",
                         "--no-figures", "--quiet")
        assert code == 0, out
    mx_ckpt, np_ckpt = checkpoint.load(tmp_path / "mx"), checkpoint.load(tmp_path / "np")
    assert mx_ckpt.meta["epoch"] == np_ckpt.meta["epoch"] == 3
    np.testing.assert_allclose(mx_ckpt.W, np_ckpt.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mx_ckpt.b, np_ckpt.b, rtol=1e-4, atol=1e-5)
