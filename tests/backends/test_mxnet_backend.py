"""The MXNet LinearBackend against the NumPy reference, its refusals, and the CLI with MXNet.

Runs in the MXNet environment: ``.venv-mxnet/bin/python -m pytest -m mxnet``.
"""

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import need
from softreg.errors import ConfigError, DataError
from softreg.splits import Split
from softreg.training import epoch_order, initial_params

pytestmark = pytest.mark.mxnet


@pytest.fixture()
def backend():
    need("mxnet")
    from softreg.backends.mxnet_backend import create_backend

    return create_backend("cpu")


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def test_devices_and_aliases():
    mx = need("mxnet")
    from softreg.backends import get_backend
    from softreg.backends.base import LinearBackend
    from softreg.backends.mxnet_backend import MxnetBackend, create_backend

    with pytest.raises(ConfigError, match="unknown device 'gpu0'; choose one of: auto, cpu, cuda"):
        create_backend("gpu0")
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


def test_params_are_copies_and_shapes_are_checked(backend):
    W, b = initial_params(3)
    backend.set_params(W, b)
    W2, _ = backend.get_params()
    np.testing.assert_array_equal(W2, W)
    W2[0, 0] = 123.0
    assert backend.get_params()[0][0, 0] == W[0, 0]
    with pytest.raises(ConfigError, match=r"parameters must be W \(10, 784\) and b \(10,\), "
                                          r"got W \(784, 10\) and b \(10,\)"):
        backend.set_params(W.T, b)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_one_step_matches_numpy_reference(backend, weight_decay):
    """One full-batch step from the same weights: same loss, same correct count, same weights
    (tighter tolerances than an epoch, where float32 rounding accumulates over steps)."""
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data(n=128)
    ref = numpy_backend("cpu")
    results = []
    for be in (backend, ref):
        be.set_params(*initial_params(5, std=0.1))
        tot = be.train_epoch(be.put_data(X, y), np.arange(128), 128, 0.3, weight_decay)
        results.append((tot, *be.get_params()))
    (tm, Wm, bm), (tr, Wr, br) = results
    assert tm.count == tr.count == 128 and tm.correct == tr.correct
    assert tm.loss_sum == pytest.approx(tr.loss_sum, rel=1e-6)
    np.testing.assert_allclose(Wm, Wr, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bm, br, rtol=1e-5, atol=1e-7)
    assert not np.allclose(Wr, initial_params(5, std=0.1)[0], atol=1e-4)  # the step moved W


@pytest.mark.parametrize("np_semantics", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_epoch_matches_numpy_reference(backend, weight_decay, np_semantics):
    """Same weights, totals, evaluation and logits; with and without ``npx.set_np()``."""
    mx = need("mxnet")
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data()
    ref = numpy_backend("cpu")
    order = epoch_order(0, 0, len(y))
    with mx.util.np_shape(np_semantics), mx.util.np_array(np_semantics):
        results = []
        for be in (backend, ref):
            be.set_params(*initial_params(0))
            data = be.put_data(X, y)
            tot = be.train_epoch(data, order, 64, 0.5, weight_decay)
            results.append((be.get_params(), tot, be.evaluate(data), be.logits(X[:5])))
    (Wm, bm), tot_m, ev_m, logits_m = results[0]
    (Wr, br), tot_r, ev_r, logits_r = results[1]
    np.testing.assert_allclose(Wm, Wr, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bm, br, rtol=1e-4, atol=1e-5)
    assert tot_m.count == tot_r.count == 300
    assert tot_m.correct == tot_r.correct
    assert tot_m.loss_sum == pytest.approx(tot_r.loss_sum, rel=1e-5)
    assert ev_m.correct == ev_r.correct
    assert ev_m.loss_sum == pytest.approx(ev_r.loss_sum, rel=1e-5)
    np.testing.assert_allclose(logits_m, logits_r, rtol=1e-4, atol=1e-4)


def test_totals_use_the_weights_of_each_step(backend):
    X, y = _data(n=10)
    backend.set_params(*initial_params(0))
    tot = backend.train_epoch(backend.put_data(X, y), np.arange(10), 10, 0.1)
    # one full batch: the epoch totals are the loss before the single update
    before = backend.__class__("cpu")
    before.set_params(*initial_params(0))
    ev = before.evaluate(before.put_data(X, y))
    assert tot.loss_sum == pytest.approx(ev.loss_sum, rel=1e-6)


def test_large_losses_are_exact(backend):
    """MXNet's legacy softmax_cross_entropy would give about 18.4 here (clipped softmax)."""
    X = np.zeros((2, 784), dtype=np.float32)
    y = np.array([1, 2])
    b = np.zeros(10, dtype=np.float32)
    b[0] = 100.0
    backend.set_params(np.zeros((10, 784), np.float32), b)
    ev = backend.evaluate(backend.put_data(X, y))
    assert ev.loss_sum == pytest.approx(200.0, rel=1e-6) and ev.correct == 0


@pytest.mark.parametrize(("labels", "shown"), [([0, 10, 3], "10"), ([-1, 0, 1], "-1"),
                                               ([0.0, 2.5, 1.0], "2.5")])
def test_put_data_refuses_labels_mxnet_would_clip(backend, labels, shown):
    X = np.zeros((3, 784), dtype=np.float32)
    with pytest.raises(DataError, match=rf"must be whole numbers in \[0, 10\) for 10 classes, "
                                        rf"got {re.escape(shown)} \(1 label\(s\) out of range\)"):
        backend.put_data(X, np.asarray(labels))


def test_put_data_and_train_epoch_refusals(backend):
    X, y = _data(n=4)
    with pytest.raises(ConfigError, match=r"data must be X \(N, 784\) and y \(N,\), "
                                          r"got X \(4, 28, 28\)"):
        backend.put_data(X.reshape(4, 28, 28), y)
    data = backend.put_data(X, y)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        backend.train_epoch(data, np.arange(4), 0, 0.1)
    with pytest.raises(ConfigError, match=r"order must index examples in \[0, 4\), got values "
                                          "from 0 to 4"):
        backend.train_epoch(data, np.arange(5), 2, 0.1)


def test_divergence_is_detected_and_the_last_good_weights_kept(backend, tiny_data):
    """Huge but finite losses must reach the loop as they are, so it can stop the run."""
    from softreg.config import TrainConfig
    from softreg.splits import to_features
    from softreg.training import fit

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
    from softreg import checkpoint

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
    """Validation split, weight decay, a schedule and --resume: MXNet follows NumPy."""
    need("mxnet")
    from softreg import checkpoint

    opts = ["--val-split", "0.1", "--weight-decay", "1e-3", "--lr-schedule", "cosine",
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
