"""`softreg export`: each format loaded back by its own runtime and compared with NumPy.

The run is trained on the real Fashion-MNIST with standardised inputs, so a correct export
also shows that the standardisation is folded into the weights: every format is fed raw
``[0, 1]`` pixels.

Tolerances: the torch and Keras exports compute in float32, like softreg's NumPy backend, but
sum the 785 terms of each logit in another order. Each side is then within about 1.5e-5 of the
exact (float64) logits, so the two differ by up to about 2e-5; a wrong weight layout or a
missing bias differs by whole units. The ONNX graph computes in float64 inside, so it is held
to softreg's float64 NumPy probabilities within 1e-6.
"""

import json

import numpy as np
import pytest

from conftest import need
from softreg.backends import get_backend
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.core.numerics import softmax
from softreg.fitting.splits import to_features
from softreg.runfiles import checkpoint

LOGITS_ATOL = 1e-4
PROBS_ATOL = 1e-6  # ONNX against the float64 NumPy probabilities
# Argmax is compared where the top two logits are further apart than both sides' errors.
TIE_GAP = 1e-3


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, real_data):
    """A standardised 3-epoch NumPy run on the real data, its test images and NumPy logits."""
    from softreg.jobs.run import train_run

    out = tmp_path_factory.mktemp("export") / "run"
    config = TrainConfig(framework="numpy", epochs=3, standardize=True, seed=3)
    result = train_run(config, out, offline=True, figures=False, quiet=True)
    _, ck = checkpoint.load_model(out)
    X = to_features(real_data[2])  # (10000, 784) raw pixels in [0, 1]
    backend = get_backend("numpy", "cpu")
    backend.set_params(ck.W, ck.b)
    logits = backend.logits(X)  # (10000, 10)
    exact = X.astype(np.float64) @ ck.W.astype(np.float64).T + ck.b  # (10000, 10)
    return {"out": out, "result": result, "X": X, "y": real_data[3].astype(np.int64),
            "logits": logits, "probs": softmax(exact, axis=-1), "exact": exact}


def _export(capsys, run, fmt):
    code = main(["export", str(run["out"]), "--format", fmt])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


def _check_logits(run, logits, what):
    ref = run["logits"]
    diff = float(np.max(np.abs(logits - ref)))
    assert diff <= LOGITS_ATOL, f"{what}: logits differ by {diff:.3g}"
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > TIE_GAP
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(logits.argmax(axis=1)[clear], ref.argmax(axis=1)[clear])
    # The standardisation is in the weights: raw pixels give the run's own test accuracy.
    acc = float(np.mean(logits.argmax(axis=1) == run["y"]))
    assert acc == pytest.approx(run["result"].test_acc, abs=2e-4)
    return diff


@pytest.mark.realdata
def test_onnx_matches_numpy_on_the_test_set(capsys, real_run):
    onnx = need("onnx")
    ort = need("onnxruntime")
    printed = _export(capsys, real_run, "onnx")
    path = real_run["out"] / "model.onnx"
    assert f"wrote {path} (onnx; from {real_run['out'] / 'checkpoint.safetensors'}, " \
           "epoch 3)" in printed and "ort.InferenceSession" in printed
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    shape = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert (model.graph.input[0].name, shape) == ("pixels", ["N", 1, 28, 28])
    assert [o.name for o in model.graph.output] == ["logits", "probabilities"]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"])[9] == "ankle boot"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, probs = session.run(None, {"pixels": real_run["X"].reshape(-1, 1, 28, 28)})
    _check_logits(real_run, logits, "onnx")
    diff = float(np.max(np.abs(logits - real_run["exact"])))
    pdiff = float(np.max(np.abs(probs - real_run["probs"])))
    print(f"onnx vs numpy float64: max |logits diff| {diff:.3g}, "
          f"max |probabilities diff| {pdiff:.3g}")
    assert diff <= 1e-5  # one rounding to float32 of logits up to ~30
    assert pdiff <= PROBS_ATOL
    one = session.run(["probabilities"], {"pixels": real_run["X"][:1].reshape(1, 1, 28, 28)})
    np.testing.assert_allclose(one[0], probs[:1], rtol=0, atol=1e-7)


@pytest.mark.realdata
def test_torch_state_dict_loads_into_the_sequential(capsys, real_run):
    torch = need("torch")
    from safetensors.torch import load_file

    printed = _export(capsys, real_run, "torch")
    path = real_run["out"] / "model_torch.safetensors"
    assert "torch.nn.Linear(784, 10)" in printed and str(path) in printed
    state = load_file(str(path))
    assert {k: tuple(v.shape) for k, v in state.items()} == {"1.weight": (10, 784),
                                                             "1.bias": (10,)}
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    net.load_state_dict(state)  # strict: exactly these keys
    with torch.no_grad():
        logits = net(torch.from_numpy(real_run["X"].reshape(-1, 1, 28, 28))).numpy()
    diff = _check_logits(real_run, logits, "torch")
    print(f"torch vs numpy: max |logits diff| {diff:.3g}")


@pytest.mark.realdata
def test_keras_model_loads_and_predicts_logits(capsys, real_run):
    need("tensorflow")
    from softreg.backends._tf import import_tensorflow

    keras = import_tensorflow().keras
    printed = _export(capsys, real_run, "keras")
    path = real_run["out"] / "model.keras"
    assert "keras.models.load_model" in printed
    model = keras.models.load_model(str(path))
    assert tuple(model.input_shape) == (None, 28, 28)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense"]
    logits = model.predict(real_run["X"].reshape(-1, 28, 28), batch_size=1000, verbose=0)
    diff = _check_logits(real_run, np.asarray(logits), "keras")
    print(f"keras vs numpy: max |logits diff| {diff:.3g}")
