"""What only the PyTorch backend does: CUDA refused when PyTorch sees no GPU, ``auto`` on the CPU.

The step, epoch, totals, refusals and tie-breaking every backend shares are in
test_conformance.py; the packed kernel is in tests/fitting/test_pack.py.
"""

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import ConfigError

pytestmark = pytest.mark.torch


def test_absent_cuda_is_refused_and_auto_is_the_cpu():
    torch = need("torch")
    from softreg.backends.torch_backend import TorchBackend, create_backend

    assert isinstance(create_backend("cpu"), TorchBackend)
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a CUDA GPU here")
    with pytest.raises(ConfigError, match="CUDA was requested but PyTorch sees no CUDA GPU"):
        create_backend("cuda")
    assert create_backend("auto").device == "cpu"


@pytest.mark.parametrize("groups", [1, 3])
def test_step_records_reduced_in_blocks_give_the_same_totals(monkeypatch, groups):
    """The train totals do not depend on how many steps a block of step records holds: one
    step a block, two, and the whole epoch give the same loss, counts and weights, with a
    short last step, ties at zero weights, and a pack of two order groups."""
    torch = need("torch")
    torch.set_num_threads(1)
    from softreg.backends import torch_backend

    rng = np.random.default_rng(0)
    X = rng.normal(size=(103, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=103)
    orders = np.stack([rng.permutation(103) for _ in range(groups)])
    lrs = np.array([[0.1, 0.5]] * groups)
    W0 = np.zeros((groups, 2, 10, 784), np.float32)  # all logits tied in the first step
    W0[:, 1] = rng.normal(0, 0.01, size=(groups, 10, 784))
    outs = []
    for record_examples in (1, 32, torch_backend.RECORD_EXAMPLES):
        monkeypatch.setattr(torch_backend, "RECORD_EXAMPLES", record_examples)
        be = torch_backend.create_backend("cpu")
        data = be.put_data(X, y)
        be.set_pack(W0, np.zeros((groups, 2, 10), np.float32))
        totals = be.pack_totals([be.train_pack_epoch(data, orders, 16, lrs, lrs / 10)])[0]
        outs.append((totals.loss_sum, totals.correct, be.get_pack()[0]))
    for loss, correct, W in outs[:2]:
        np.testing.assert_allclose(loss, outs[2][0], rtol=1e-6)
        np.testing.assert_array_equal(correct, outs[2][1])
        np.testing.assert_array_equal(W, outs[2][2])
    # the loss of every slot is a sum over all 103 examples: positive, about log 10 each
    assert np.all(outs[2][0] > 103 * 1.0) and np.all(outs[2][1] <= 103)
