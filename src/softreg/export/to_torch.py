"""PyTorch export: a safetensors state_dict of ``nn.Sequential(nn.Flatten(), nn.Linear(784, 10))``.

Its keys are ``1.weight`` (10, 784) and ``1.bias`` (10,): index 1 is the Linear layer, as
PyTorch names the children of a Sequential. Writing it needs only safetensors, not PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softreg._optional import require
from softreg.checkpoint import Checkpoint
from softreg.export.common import class_names

SNIPPET = (
    "import torch; from safetensors.torch import load_file\n"
    "net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)); "
    "net.load_state_dict(load_file('{path}'))"
)


def write(ck: Checkpoint, source: str, tmp: Path) -> None:
    """Write the state_dict of ``ck`` to ``tmp`` in safetensors format.

    Raises:
        FrameworkUnavailableError: safetensors is not installed.
    """
    require("safetensors")
    import safetensors.numpy

    tensors = {"1.weight": np.ascontiguousarray(ck.W, np.float32),  # (10, 784)
               "1.bias": np.ascontiguousarray(ck.b, np.float32)}  # (10,)
    meta = {"format": "pt", "source": source, "epoch": json.dumps(ck.meta.get("epoch")),
            "class_names": json.dumps(class_names(ck)),
            "input": "float32 pixels in [0, 1], (N, 28, 28) or (N, 1, 28, 28) or (N, 784)"}
    tmp.write_bytes(safetensors.numpy.save(tensors, metadata=meta))
