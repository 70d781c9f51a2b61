"""Frameworks that share one process: what softreg does so that they can."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


def test_torch_optim_after_softreg_imported_tensorflow_does_not_crash():
    """tensorflow/tensorflow#124205: TensorFlow >= 2.20 loads its LLVM into the global symbols,
    and Triton (PyPI's Linux PyTorch brings it; torch.optim imports it on first use) loaded
    after it crashes the interpreter. softreg loads Triton first; in a child process, so a
    crash is a failure here and not the end of the test run."""
    missing = [m for m in ("tensorflow", "torch", "triton") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs TensorFlow, PyTorch and Triton together; missing {', '.join(missing)}")
    code = ("from softreg.backends._tf import import_tensorflow\n"
            "import_tensorflow()\n"
            "import torch\n"
            "w = torch.zeros(2, requires_grad=True)\n"
            "opt = torch.optim.SGD([w], lr=0.5)\n"
            "w.sum().backward()\n"
            "opt.step()\n"
            "print(w.tolist())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout.strip().splitlines()[-1] == "[-0.5, -0.5]"
