"""What only the TensorFlow backend does: its devices, one graph per epoch, a quiet import, and
checkpoints that PyTorch evaluates.

The step, epoch, totals, refusals and tie-breaking every backend shares are in
test_conformance.py.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from backend_cases import make_backend, make_data

from conftest import need
from softreg.backends.base import LinearBackend
from softreg.core.errors import ConfigError
from softreg.fitting.trainer import epoch_order, initial_params

pytestmark = pytest.mark.tensorflow


@pytest.fixture()
def backend():
    return make_backend("tensorflow")


def test_factory_devices_and_protocol():
    tf = need("tensorflow")
    from softreg.backends import get_backend
    from softreg.backends.tensorflow_backend import TensorflowBackend, create_backend

    be = get_backend("tf", "auto")
    assert isinstance(be, TensorflowBackend) and isinstance(be, LinearBackend)
    assert be.name == "tensorflow"
    if not tf.config.list_physical_devices("GPU"):
        assert be.device == "cpu"
        with pytest.raises(ConfigError, match="CUDA was requested but TensorFlow sees no CUDA"):
            create_backend("cuda")


def test_epochs_and_evaluations_trace_once(backend):
    """Batch size, learning rate, decay, order and split size change without a new graph."""
    X, y = make_data(100)
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
        "be.set_params(np.zeros((10, 784), np.float32), np.zeros(10, np.float32))\n"
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
