"""The TensorFlow LinearBackend: parity with the NumPy reference, one graph per epoch, errors,
quiet import, and checkpoints that any framework evaluates."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import need
from softreg.backends.base import LinearBackend
from softreg.errors import ConfigError
from softreg.training import epoch_order, initial_params

pytestmark = pytest.mark.tensorflow


@pytest.fixture()
def backend():
    need("tensorflow")
    from softreg.backends.tensorflow_backend import create_backend

    return create_backend("cpu")


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def test_factory_devices_and_protocol():
    tf = need("tensorflow")
    from softreg.backends import get_backend
    from softreg.backends.tensorflow_backend import TensorflowBackend, create_backend

    be = get_backend("tf", "auto")
    assert isinstance(be, TensorflowBackend) and isinstance(be, LinearBackend)
    assert be.name == "tensorflow"
    with pytest.raises(ConfigError, match="unknown device 'gpu0'; choose one of: auto, cpu, cuda"):
        create_backend("gpu0")
    if not tf.config.list_physical_devices("GPU"):
        assert be.device == "cpu"
        with pytest.raises(ConfigError, match="CUDA was requested but TensorFlow sees no CUDA"):
            create_backend("cuda")


def test_params_are_copies(backend):
    W, b = initial_params(3)
    backend.set_params(W, b)
    W2, b2 = backend.get_params()
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, b)
    W2[0, 0] = 123.0
    assert backend.get_params()[0][0, 0] == W[0, 0]


def test_bad_shapes_batch_size_and_order_are_refused(backend):
    X, y = _data(n=20)
    with pytest.raises(ConfigError, match=r"parameters must be W \(10, 784\) and b \(10,\), got "
                                          r"W \(784, 10\)"):
        backend.set_params(np.zeros((784, 10)), np.zeros(10))
    with pytest.raises(ConfigError, match=r"data must be X \(N, 784\) and y \(N,\), got X "
                                          r"\(20, 28, 28\)"):
        backend.put_data(X.reshape(20, 28, 28), y)
    data = backend.put_data(X, y)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        backend.train_epoch(data, np.arange(20), 0, 0.1)
    with pytest.raises(ConfigError, match=r"order must index examples in \[0, 20\), got values "
                                          r"from 0 to 20"):
        backend.train_epoch(data, np.arange(21), 5, 0.1)


def test_one_step_matches_numpy_reference(backend):
    """One full-batch step from the same weights: same loss, same correct count, same weights."""
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data(n=128)
    ref = numpy_backend("cpu")
    results = []
    for be in (backend, ref):
        be.set_params(*initial_params(5, std=0.1))
        tot = be.train_epoch(be.put_data(X, y), np.arange(128), 128, 0.3)
        results.append((tot, *be.get_params()))
    (tt, Wt, bt), (tr, Wr, br) = results
    assert tt.correct == tr.correct and tt.loss_sum == pytest.approx(tr.loss_sum, rel=1e-6)
    np.testing.assert_allclose(Wt, Wr, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bt, br, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_epoch_matches_numpy_reference(backend, weight_decay):
    """300 examples in batches of 64: four full batches and a last one of 44."""
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data()
    ref = numpy_backend("cpu")
    order = epoch_order(0, 0, len(y))
    totals = []
    for be in (backend, ref):
        be.set_params(*initial_params(0))
        totals.append(be.train_epoch(be.put_data(X, y), order, 64, 0.5, weight_decay))
    (Wt, bt), (Wr, br) = backend.get_params(), ref.get_params()
    np.testing.assert_allclose(Wt, Wr, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bt, br, rtol=1e-4, atol=1e-5)
    assert totals[0].count == totals[1].count == 300
    assert totals[0].correct == totals[1].correct
    assert totals[0].loss_sum == pytest.approx(totals[1].loss_sum, rel=1e-5)
    ev_t, ev_r = backend.evaluate(backend.put_data(X, y)), ref.evaluate(ref.put_data(X, y))
    assert ev_t.loss_sum == pytest.approx(ev_r.loss_sum, rel=1e-5)
    assert ev_t.correct == ev_r.correct
    np.testing.assert_allclose(backend.logits(X[:5]), ref.logits(X[:5]), rtol=1e-4, atol=1e-5)


def test_totals_use_the_weights_of_each_step(backend):
    X, y = _data(n=10)
    backend.set_params(*initial_params(0))
    before = backend.evaluate(backend.put_data(X, y))
    tot = backend.train_epoch(backend.put_data(X, y), np.arange(10), 10, 0.1)
    # one full batch: the epoch totals are the loss before the single update
    assert tot.loss_sum == pytest.approx(before.loss_sum, rel=1e-6)
    assert backend.evaluate(backend.put_data(X, y)).loss_sum < before.loss_sum


def test_epochs_and_evaluations_trace_once(backend):
    """Batch size, learning rate, decay, order and split size change without a new graph."""
    X, y = _data(n=100)
    backend.set_params(*initial_params(0))
    big, small = backend.put_data(X, y), backend.put_data(X[:30], y[:30])
    backend.train_epoch(big, np.arange(100), 32, 0.1)
    backend.train_epoch(small, epoch_order(0, 1, 30), 7, 0.05, 0.01)
    chunked = backend.evaluate(big, batch_size=9)
    whole = backend.evaluate(big)
    backend.evaluate(small, batch_size=4)
    assert backend._epoch.experimental_get_tracing_count() == 1
    assert backend._evaluate.experimental_get_tracing_count() == 1
    assert chunked.correct == whole.correct
    assert chunked.loss_sum == pytest.approx(whole.loss_sum, rel=1e-6)


@pytest.mark.slow
def test_import_and_training_print_nothing_on_stderr(tmp_path):
    """TensorFlow's C++ log lines (CUDA probing and the like) are hidden unless verbose."""
    need("tensorflow")
    code = (
        "import numpy as np\n"
        "from softreg.backends import get_backend\n"
        "be = get_backend('tf')\n"
        "d = be.put_data(np.zeros((8, 784), np.float32), np.zeros(8, np.int64))\n"
        "print(be.train_epoch(d, np.arange(8), 4, 0.1).count)\n"
        "import softreg.tensorflow\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOFTREG_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "8"
    assert proc.stderr == ""


def _accuracy_line(out: str) -> str:
    match = re.search(r"test: accuracy \S+  loss \S+", out)
    assert match, out
    return match.group(0)


@pytest.mark.parametrize(("train_with", "evaluate_with"),
                         [("tensorflow", "torch"), ("torch", "tensorflow")])
def test_checkpoints_interchange_with_torch(capsys, tmp_path, fake_fashion, train_with,
                                            evaluate_with):
    """Train with one framework, evaluate with the other: the same accuracy and loss."""
    need("tensorflow")
    need("torch")
    from softreg.cli import main

    run = tmp_path / "run"
    assert main(["train", "--framework", train_with, "--epochs", "2", "--batch-size", "32",
                 "--out", str(run), "--no-figures", "--quiet"]) == 0
    capsys.readouterr()
    lines = {}
    for framework in (train_with, evaluate_with):
        assert main(["evaluate", str(run), "--framework", framework, "--no-figures"]) == 0
        out = capsys.readouterr().out
        assert f"trained with {train_with}" in out and f"evaluated with {framework}" in out
        lines[framework] = _accuracy_line(out)
    assert lines[train_with] == lines[evaluate_with]
