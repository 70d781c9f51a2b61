"""ONNX export: pixels (N, 1, 28, 28) in [0, 1] -> logits (N, 10) and probabilities (N, 10).

The graph is Cast -> Flatten -> Gemm -> Softmax -> Cast, built with the ``onnx`` package's
helper API. Inputs and outputs are float32; inside, it computes in float64 (the float32
weights widened exactly), so its logits and probabilities are the exact values rounded once to
float32, within 1e-6 of softreg's float64 NumPy probabilities. For 7,850 parameters the wider
arithmetic costs nothing that matters. The weights are the checkpoint's, which are already
for raw ``[0, 1]`` pixels: a run trained with standardisation saves its weights folded back
(see :class:`softreg.splits.Standardizer`), so no normalisation node is needed. Opset 17
and IR version 8 keep the file loadable by ONNX Runtime releases from 1.13 (2022) on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softreg._optional import require
from softreg.checkpoint import Checkpoint
from softreg.export.common import class_names

OPSET = 17
IR_VERSION = 8
INPUT = "pixels"
OUTPUTS = ("logits", "probabilities")

SNIPPET = (
    "import numpy as np, onnxruntime as ort\n"
    "logits, probs = ort.InferenceSession('{path}').run(None, {{'pixels': "
    "images.reshape(-1, 1, 28, 28).astype(np.float32) / 255}})"
)


def build(ck: Checkpoint, source: str) -> bytes:
    """The serialised ONNX model of ``ck`` (``source`` names the checkpoint in its metadata).

    Raises:
        FrameworkUnavailableError: the ``onnx`` package is not installed.
    """
    onnx = require("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    # float32 weights widened to float64: exact, so the model is still the checkpoint's
    W = np.asarray(ck.W, dtype=np.float32).astype(np.float64)  # (10, 784)
    b = np.asarray(ck.b, dtype=np.float32).astype(np.float64)  # (10,)
    nodes = [
        helper.make_node("Cast", [INPUT], ["pixels64"], to=tp.DOUBLE),  # (N, 1, 28, 28)
        helper.make_node("Flatten", ["pixels64"], ["flat"], axis=1),  # (N, 784)
        helper.make_node("Gemm", ["flat", "W", "b"], ["logits64"], transB=1),  # (N, 10)
        helper.make_node("Softmax", ["logits64"], ["probs64"], axis=1),  # (N, 10)
        helper.make_node("Cast", ["logits64"], [OUTPUTS[0]], to=tp.FLOAT),
        helper.make_node("Cast", ["probs64"], [OUTPUTS[1]], to=tp.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "softreg_softmax_regression",
        [helper.make_tensor_value_info(INPUT, tp.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info(name, tp.FLOAT, ["N", W.shape[0]]) for name in OUTPUTS],
        initializer=[onnx.numpy_helper.from_array(W, "W"), onnx.numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, producer_name="softreg", ir_version=IR_VERSION,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.doc_string = ("Softmax regression on Fashion-MNIST. Input: float32 pixels in [0, 1], "
                        "(N, 1, 28, 28). Outputs: logits and softmax probabilities, (N, 10).")
    helper.set_model_props(model, {
        "source": source,
        "epoch": json.dumps(ck.meta.get("epoch")),
        "class_names": json.dumps(class_names(ck)),
    })
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def write(ck: Checkpoint, source: str, tmp: Path) -> None:
    """Write the ONNX model of ``ck`` to ``tmp``."""
    tmp.write_bytes(build(ck, source))
