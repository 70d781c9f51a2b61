"""What only the PyTorch backend does: CUDA refused when PyTorch sees no GPU, ``auto`` on the CPU.

The step, epoch, totals, refusals and tie-breaking every backend shares are in
test_conformance.py; the packed kernel is in tests/test_pack.py.
"""

import pytest

from conftest import need
from softreg.errors import ConfigError

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
