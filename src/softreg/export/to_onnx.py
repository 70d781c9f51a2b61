"""ONNX export: pixels (N, 1, 28, 28) in [0, 1] -> logits (N, 10) and probabilities (N, 10).

The graph is Cast -> Flatten -> Gemm -> Softmax -> Cast, built with the ``onnx`` package's
helper API. Inputs and outputs are float32; inside, it computes in float64 (the float32
weights widened exactly), so its logits and probabilities are the exact values rounded once to
float32, within 1e-6 of softreg's float64 NumPy probabilities. For 7,850 parameters the wider
arithmetic costs nothing that matters. The weights are the checkpoint's, which are already
for raw ``[0, 1]`` pixels: a run trained with standardisation saves its weights folded back
(see :class:`softreg.fitting.splits.Standardizer`), so no normalisation node is needed. Opset 17
and IR version 8 keep the file loadable by ONNX Runtime releases from 1.13 (2022) on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from softreg.core.optional import require
from softreg.export.common import class_names, data_name, epoch_meta, input_words
from softreg.runfiles.checkpoint import Checkpoint

OPSET = 17
IR_VERSION = 8
INPUT = "pixels"  # images; a table's input is named TABLE_INPUT
TABLE_INPUT = "features"
OUTPUTS = ("logits", "probabilities")


def onnx_input(ck: Checkpoint) -> tuple[str, list[int | str]]:
    """The input's name and shape: (N, channels, H, W) for images, (N, D) for a table."""
    shape = ck.shape
    if shape.image_shape is None:
        return TABLE_INPUT, ["N", shape.features]
    h, w = shape.image_shape[:2]
    return INPUT, ["N", shape.channels, h, w]


def snippet(ck: Checkpoint) -> str:
    """How to run the exported file (``{path}`` is filled in)."""
    name, dims = onnx_input(ck)
    if name == TABLE_INPUT:
        feed = "X.astype(np.float32)"
    elif dims[1] != 1:  # colour images (N, H, W, C) as the data holds them
        feed = "images.transpose(0, 3, 1, 2).astype(np.float32) / 255"
    else:
        feed = f"images.reshape(-1, {', '.join(str(d) for d in dims[1:])}).astype(np.float32) / 255"
    return ("import numpy as np, onnxruntime as ort\n"
            f"logits, probs = ort.InferenceSession('{{path}}').run(None, {{{{'{name}': {feed}}}}})")


def build(ck: Checkpoint, source: str) -> bytes:
    """The serialised ONNX model of ``ck``; ``source`` names the checkpoint in its metadata
    (as :func:`softreg.export.common.source_name` does: no absolute path).

    Raises:
        FrameworkUnavailableError: the ``onnx`` package is not installed.
    """
    onnx = require("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    # float32 weights widened to float64: exact, so the model is still the checkpoint's
    W = np.asarray(ck.W, dtype=np.float32).astype(np.float64)  # (C, D)
    b = np.asarray(ck.b, dtype=np.float32).astype(np.float64)  # (C,)
    name, dims = onnx_input(ck)
    # colour images come in as (N, C, H, W), the usual layout; the features are channels last
    last = ["pixels64"]
    nodes = [helper.make_node("Cast", [name], ["pixels64"], to=tp.DOUBLE)]  # as the input
    if len(dims) == 4 and dims[1] != 1:
        nodes.append(helper.make_node("Transpose", ["pixels64"], ["hwc"], perm=[0, 2, 3, 1]))
        last = ["hwc"]  # (N, H, W, C)
    nodes += [
        helper.make_node("Flatten", last, ["flat"], axis=1),  # (N, D)
        helper.make_node("Gemm", ["flat", "W", "b"], ["logits64"], transB=1),  # (N, C)
        helper.make_node("Softmax", ["logits64"], ["probs64"], axis=1),  # (N, C)
        helper.make_node("Cast", ["logits64"], [OUTPUTS[0]], to=tp.FLOAT),
        helper.make_node("Cast", ["probs64"], [OUTPUTS[1]], to=tp.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "softreg_softmax_regression",
        [helper.make_tensor_value_info(name, tp.FLOAT, dims)],
        [helper.make_tensor_value_info(name, tp.FLOAT, ["N", W.shape[0]]) for name in OUTPUTS],
        initializer=[onnx.numpy_helper.from_array(W, "W"), onnx.numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, producer_name="softreg", ir_version=IR_VERSION,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    trained_on = data_name(ck)  # its kind and file name: the file is made to be shared
    on = f" on {trained_on}" if trained_on else ""
    model.doc_string = (f"Softmax regression{on}. Input {name!r}: {input_words(ck)}, "
                        f"({', '.join(str(d) for d in dims)}). Outputs: logits and softmax "
                        f"probabilities, (N, {W.shape[0]}).")
    helper.set_model_props(model, {
        "source": source,
        **epoch_meta(ck),
        "class_names": json.dumps(class_names(ck)),
    })
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def write(ck: Checkpoint, source: str, tmp: Path) -> None:
    """Write the ONNX model of ``ck`` to ``tmp``."""
    tmp.write_bytes(build(ck, source))
