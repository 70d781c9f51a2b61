"""PyTorch export: a safetensors state_dict of ``nn.Sequential(nn.Flatten(), nn.Linear(D, C))``.

Its keys are ``1.weight`` (C, D) and ``1.bias`` (C,) (Fashion-MNIST: (10, 784) and (10,)):
index 1 is the Linear layer, as PyTorch names the children of a Sequential. Writing it needs
only safetensors, not PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softreg.core.optional import require
from softreg.export.common import class_names, epoch_meta, input_shape, input_words
from softreg.runfiles.checkpoint import Checkpoint


def snippet(ck: Checkpoint) -> str:
    """How to load the exported file (``{path}`` is filled in)."""
    C, D = ck.shape.weights
    image = ck.shape.image_shape
    last = ("" if image is None or len(image) < 3 else
            f"\n# colour images channels last, (N, {', '.join(map(str, image))}), as softreg "
            "flattens them: from torchvision's (N, C, H, W), net(x.permute(0, 2, 3, 1))")
    return ("import torch; from safetensors.torch import load_file\n"
            f"net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear({D}, {C})); "
            "net.load_state_dict(load_file('{path}'))" + last)


def write(ck: Checkpoint, source: str, tmp: Path) -> None:
    """Write the state_dict of ``ck`` to ``tmp`` in safetensors format; ``source`` names the
    checkpoint in its metadata (as :func:`softreg.export.common.source_name` does).

    Raises:
        FrameworkUnavailableError: safetensors is not installed.
    """
    require("safetensors")
    import safetensors.numpy

    tensors = {"1.weight": np.ascontiguousarray(ck.W, np.float32),  # (C, D)
               "1.bias": np.ascontiguousarray(ck.b, np.float32)}  # (C,)
    shape = input_shape(ck)
    meta = {"format": "pt", "source": source, **epoch_meta(ck),
            "class_names": json.dumps(class_names(ck)),
            "input": f"{input_words(ck)}, (N, {', '.join(map(str, shape))}) or "
                     f"(N, {ck.shape.features}); images channels last"}
    tmp.write_bytes(safetensors.numpy.save(tensors, metadata=meta))
