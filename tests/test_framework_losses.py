"""Each framework's cross-entropy loss object against softreg.core.numerics, extremes included.

Inputs are float32 (what the backends train in); softreg's value is the reference (accurate to
about one float32 ulp, see tests/test_numerics.py). One test group per framework, so that the
MXNet ones run alone in the MXNet environment:

    PYTHONPATH=src /tmp/venvmx/bin/python -m pytest tests/test_framework_losses.py -k mxnet

Differences found (and pinned by the tests below, so a change in a framework shows up):

* PyTorch 2.x ``F.cross_entropy`` / ``nn.CrossEntropyLoss``: same values and the same
  NaN/inf rules as softreg everywhere; only the tiny loss of a confident correct prediction
  (logits [40, 0, 0], label 0; exact 8.5e-18) comes out as 0.
* Keras 3 ``SparseCategoricalCrossentropy(from_logits=True)`` (TensorFlow backend): same
  values and NaN/inf rules, the confident loss is 0 as in torch; float64 logits give a
  float32 loss; an empty batch gives an empty tensor for every reduction (softreg and torch:
  NaN mean, 0 sum).
* MXNet 1.9.1 ``gluon.loss.SoftmaxCrossEntropyLoss`` (float32): errors up to about 2e-6
  absolute, 6e-6 relative on a loss of 0.31 (the issue's golden values 9.000128 and
  3.0696704 are MXNet's; the exact ones are 9.0001295 and 3.0696733); the confident loss is
  -1.4e-6 (negative); a ``+inf`` logit in a wrong class gives ``+inf`` instead of NaN, and a
  NaN logit in a wrong class gives a finite loss (89.7) instead of NaN; labels outside
  [0, C) are clipped silently instead of raising; an empty batch raises MXNetError.
  (MXNet's legacy ``nd.softmax_cross_entropy`` operator is worse: it takes the log of a clipped
  softmax, so a loss above about 18.4 comes out as 18.4; softreg's MXNet backend does not use
  it, see tests/backends/test_mxnet_backend.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import need
from softreg.core.numerics import cross_entropy

INF, NAN = math.inf, math.nan

# name -> (logits, labels); finite rows, every framework should agree within its tolerance
FINITE = {
    "golden": ([[10, 1, -2], [1, 4, 0.2]], [1, 0]),
    "scale_1e4": ([[1e4, 0, -1e4], [1e4, 1e4, 1e4]], [1, 0]),
    "scale_1e30": ([[1e30, 0, -1e30], [1e30, 1e30, 0]], [1, 0]),
    "scale_3e38": ([[3e38, 3e38, 3e38], [3e38, -3e38, 0]], [0, 2]),
    "beyond_float32_max": ([[3e38, -3e38, 0], [1, 2, 3]], [1, 0]),  # exact loss 6e38 -> inf
    "ties": ([[2, 2, 2], [5, 5, 0]], [0, 1]),
    "minus_inf_true_class": ([[-INF, 0, 1], [-INF, 0, 1]], [0, 1]),
    "confident": ([[40, 0, 0], [40, 0, 0]], [0, 1]),
}
# rows without a distribution: softreg (as torch) gives NaN for the first row
NON_FINITE = {
    "plus_inf_true_class": ([[INF, 0, 1], [0, 1, 2]], [0, 0]),
    "plus_inf_other_class": ([[0, INF, 1], [0, 1, 2]], [0, 0]),
    "nan_other_class": ([[NAN, 0, 1], [0, 1, 2]], [1, 0]),
    "all_minus_inf": ([[-INF, -INF, -INF], [0, 1, 2]], [0, 0]),
}
ALL = {**FINITE, **NON_FINITE}


def case(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    logits, labels = ALL[name]
    z = np.asarray(logits, dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    return z, y, cross_entropy(z, y, reduction="none")


def test_softreg_reference_values():
    """The reference itself at the extremes (exact values, float32)."""
    expected = {
        "golden": [9.0001295, 3.0696733],
        "scale_1e4": [1e4, math.log(3)],
        "scale_1e30": [1e30, math.log(2)],
        "scale_3e38": [math.log(3), 3e38],
        "beyond_float32_max": [INF, 2.4076059],
        "minus_inf_true_class": [INF, 1.3132617],
        "confident": [2 * math.exp(-40), 40.0],
    }
    for name, want in expected.items():
        np.testing.assert_allclose(case(name)[2], want, rtol=1e-7, err_msg=name)
    for name in NON_FINITE:
        losses = case(name)[2]
        assert np.isnan(losses[0]) and np.isfinite(losses[1]), name


# ----------------------------------------------------------------------------- PyTorch


def torch_losses(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    torch = need("torch")
    tz, ty = torch.from_numpy(z), torch.from_numpy(y)
    functional = torch.nn.functional.cross_entropy(tz, ty, reduction="none").numpy()
    module = torch.nn.CrossEntropyLoss(reduction="none")(tz, ty).numpy()
    np.testing.assert_array_equal(functional, module)
    return functional


@pytest.mark.torch
@pytest.mark.parametrize("name", list(ALL))
def test_torch_matches_softreg(name):
    """Same values within 1e-6 relative / 1e-7 absolute, same NaN and inf positions."""
    z, y, ours = case(name)
    np.testing.assert_allclose(torch_losses(z, y), ours, rtol=1e-6, atol=1e-7)


@pytest.mark.torch
def test_torch_rounds_the_confident_loss_to_zero():
    """torch: exactly 0 where the exact loss is 8.5e-18 (softreg keeps it via log1p)."""
    z, y, ours = case("confident")
    assert torch_losses(z, y)[0] == 0.0 and ours[0] > 0


@pytest.mark.torch
def test_torch_empty_batch_and_reductions():
    """torch and softreg: NaN mean and 0 sum for an empty batch; same mean and sum otherwise."""
    torch = need("torch")
    F = torch.nn.functional
    for z, y in [(np.zeros((0, 3), np.float32), np.zeros(0, np.int64)), case("golden")[:2]]:
        for reduction in ("mean", "sum"):
            theirs = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y), reduction=reduction)
            np.testing.assert_allclose(theirs.numpy(), cross_entropy(z, y, reduction), rtol=1e-6)


# ----------------------------------------------------------------------------- TensorFlow


def keras_losses(z: np.ndarray, y: np.ndarray, reduction: str | None = None) -> np.ndarray:
    tf = need("tensorflow")
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    return np.asarray(loss(y, z))


@pytest.mark.tensorflow
@pytest.mark.parametrize("name", list(ALL))
def test_tensorflow_matches_softreg(name):
    """Same values within 1e-6 relative / 1e-7 absolute, same NaN and inf positions."""
    z, y, ours = case(name)
    np.testing.assert_allclose(keras_losses(z, y), ours, rtol=1e-6, atol=1e-7)


@pytest.mark.tensorflow
def test_tensorflow_mean_and_float64_logits():
    """The default reduction is the batch mean; float64 logits give a float32 loss (Keras
    casts to its floatx), where softreg keeps float64."""
    z, y, ours = case("golden")
    mean = keras_losses(z, y, reduction="sum_over_batch_size")
    np.testing.assert_allclose(mean, ours.mean(), rtol=1e-6)
    got64 = keras_losses(z.astype(np.float64), y)
    assert got64.dtype == np.float32 and cross_entropy(z.astype(np.float64), y).dtype == np.float64


@pytest.mark.tensorflow
def test_tensorflow_empty_batch_gives_an_empty_tensor():
    """Keras returns an empty tensor for every reduction; softreg (as torch): NaN mean, 0 sum."""
    z, y = np.zeros((0, 3), np.float32), np.zeros(0, np.int64)
    for reduction in ("sum_over_batch_size", "sum"):
        assert keras_losses(z, y, reduction=reduction).shape == (0,)
    assert np.isnan(cross_entropy(z, y)) and cross_entropy(z, y, "sum") == 0.0


# ----------------------------------------------------------------------------- MXNet

MX_RTOL, MX_ATOL = 3e-6, 3e-6  # MXNet's float32 log-softmax is off by up to about 2e-6


def mxnet_losses(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    mx = need("mxnet")
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    out: np.ndarray = loss(mx.nd.array(z), mx.nd.array(y, dtype="float32")).asnumpy()
    return out


@pytest.mark.mxnet
@pytest.mark.parametrize("name", [*FINITE, "plus_inf_true_class", "all_minus_inf"])
def test_mxnet_matches_softreg(name):
    """Within 3e-6 relative or absolute (wider than torch/TF: MXNet's float32 error)."""
    z, y, ours = case(name)
    np.testing.assert_allclose(mxnet_losses(z, y), ours, rtol=MX_RTOL, atol=MX_ATOL)


@pytest.mark.mxnet
def test_mxnet_golden_values_are_the_issues():
    """The issue's golden losses [9.000128, 3.0696704] are MXNet's float32 output."""
    z, y, ours = case("golden")
    np.testing.assert_allclose(mxnet_losses(z, y), [9.000128, 3.0696704], rtol=1e-7)
    np.testing.assert_allclose(ours, [9.0001295, 3.0696733], rtol=1e-7)


@pytest.mark.mxnet
def test_mxnet_confident_loss_is_negative():
    """MXNet gives about -1.4e-6 for the loss that is exactly 8.5e-18 (softreg: accurate)."""
    z, y, ours = case("confident")
    assert -3e-6 < mxnet_losses(z, y)[0] < 0 < ours[0]


@pytest.mark.mxnet
def test_mxnet_non_finite_wrong_class_differences():
    """A +inf or NaN logit in a wrong class: MXNet gives +inf or a finite value, not NaN."""
    z, y, ours = case("plus_inf_other_class")
    assert mxnet_losses(z, y)[0] == INF and np.isnan(ours[0])
    z, y, ours = case("nan_other_class")
    assert np.isfinite(mxnet_losses(z, y)[0]) and np.isnan(ours[0])
    np.testing.assert_allclose(mxnet_losses(z, y)[1], ours[1], rtol=MX_RTOL, atol=MX_ATOL)


@pytest.mark.mxnet
def test_mxnet_clips_out_of_range_labels():
    """MXNet silently uses class C-1 for label C and class 0 for -1; softreg raises."""
    z = np.array([[1.0, 2.0]], dtype=np.float32)
    for label, used in ((2, 1), (-1, 0)):
        np.testing.assert_allclose(mxnet_losses(z, np.array([label])), cross_entropy(z, [used]),
                                   rtol=MX_RTOL, atol=MX_ATOL)
