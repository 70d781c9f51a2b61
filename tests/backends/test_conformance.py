"""One suite for every LinearBackend: each framework against float64 sums written out from the
definitions and against the NumPy backend, with the same refusals and the same tie-breaking.

A framework that is not installed is skipped (a failure under SOFTREG_REQUIRE, see conftest.need);
the MXNet cases carry the ``mxnet`` marker and run in ``.venv-mxnet`` (``pytest -m mxnet``).
What only one framework does (devices, graphs, imports, kernels) stays in its own file.
"""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
from backend_cases import (
    NUM_CLASSES,
    NUM_FEATURES,
    ODD_SHAPES,
    epoch_against_numpy,
    hand_epoch,
    hand_step,
    make_backend,
    make_data,
    make_params,
    trained,
)

from softreg.backends import get_backend
from softreg.backends.base import LinearBackend
from softreg.backends.numpy_backend import create_backend as numpy_backend
from softreg.core.errors import ConfigError, DataError
from softreg.core.numerics import cross_entropy
from softreg.fitting.trainer import initial_params

FRAMEWORKS = [
    "numpy",
    pytest.param("torch", marks=pytest.mark.torch),
    pytest.param("tensorflow", marks=pytest.mark.tensorflow),
    pytest.param("mxnet", marks=pytest.mark.mxnet),
]
ALIASES = {"numpy": "np", "torch": "pytorch", "tensorflow": "tf", "mxnet": "gluon"}


@pytest.fixture(params=FRAMEWORKS)
def framework(request) -> str:
    return request.param


@pytest.fixture()
def backend(framework) -> LinearBackend:
    return make_backend(framework)


# ----------------------------------------------------------------------------- construction


def test_factory_alias_and_protocol(framework):
    make_backend(framework)  # skips when absent
    be = get_backend(ALIASES[framework], "cpu")
    assert isinstance(be, LinearBackend)
    assert (be.name, be.device) == (framework, "cpu")


def test_unknown_device_is_refused(framework):
    make_backend(framework)
    module = importlib.import_module(f"softreg.backends.{framework}_backend")
    with pytest.raises(ConfigError, match="unknown device 'gpu0'; choose one of: auto, cpu, cuda"):
        module.create_backend("gpu0")


# ----------------------------------------------------------------------------- parameters


def test_params_are_copies(backend):
    W, b = make_params()
    W_given, b_given = W.copy(), b.copy()
    backend.set_params(W_given, b_given)
    W_given[0, 0], b_given[0] = 123.0, 123.0  # changing the caller's arrays does not reach it
    got_W, got_b = backend.get_params()
    np.testing.assert_array_equal(got_W, W)
    np.testing.assert_array_equal(got_b, b)
    assert got_W.dtype == np.float32 and got_b.dtype == np.float32
    got_W[:] = 0.0  # nor does changing the returned ones
    got_b[:] = 0.0
    np.testing.assert_array_equal(backend.get_params()[0], W)
    np.testing.assert_array_equal(backend.get_params()[1], b)


def test_set_params_accepts_float64_and_rounds(backend):
    W, b = make_params()
    backend.set_params(W.astype(np.float64), b.astype(np.float64))
    np.testing.assert_array_equal(backend.get_params()[0], W)
    np.testing.assert_array_equal(backend.get_params()[1], b)


# ----------------------------------------------------------------------------- refusals


def test_bad_shapes_are_refused(backend):
    X, y = make_data(20)
    W, b = make_params()
    rule = r"parameters must be W \(C, D\) and b \(C,\) with C classes and D features, both >= 1"
    with pytest.raises(ConfigError, match=rf"{rule}, got W \(784, 10\) and b \(10,\)"):
        backend.set_params(W.T, b)
    with pytest.raises(ConfigError, match=rf"{rule}, got W \(10, 0\)"):
        backend.set_params(np.zeros((10, 0)), np.zeros(10))
    with pytest.raises(ConfigError, match=r"data must be X \(N, D\) with D >= 1 features and y "
                                          r"\(N,\), got X \(20, 28, 28\)"):
        backend.put_data(X.reshape(20, 28, 28), y)
    with pytest.raises(ConfigError, match=r"data must be X \(N, D\) with D >= 1 features and y "
                                          r"\(N,\), got X \(20, 784\) and y \(19,\)"):
        backend.put_data(X, y[:19])
    backend.set_params(W, b)
    with pytest.raises(ConfigError, match=r"data has 100 features per example but the weights W "
                                          r"\(10, 784\) take 784"):
        backend.put_data(X[:, :100], y)


def test_data_put_before_the_weights_is_checked_when_used(framework):
    """The shape is the weights': a split put first is checked against them when it is used."""
    be = make_backend(framework)
    X, y = make_data(20)
    data = be.put_data(X[:, :100], y)
    wide = be.put_data(*make_data(20, shape=(12, 784)))  # labels up to 11
    with pytest.raises(ConfigError, match="the backend has no weights yet; call set_params"):
        be.evaluate(data)
    be.set_params(*make_params())
    with pytest.raises(ConfigError, match=r"data has 100 features per example but the weights W "
                                          r"\(10, 784\) take 784"):
        be.train_epoch(data, np.arange(20), 8, 0.1)
    with pytest.raises(DataError, match=r"labels in the data given to the backend must be whole "
                                        r"numbers in \[0, 10\) for 10 classes, got 11"):
        be.evaluate(wide)


@pytest.mark.parametrize("shape", ODD_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_odd_shapes_match_hand_computation_and_numpy(framework, shape):
    """Any (C, D) trains the same in every framework: an epoch against NumPy's, a step against
    the float64 sums written out, and a second shape on the same backend after the first."""
    backend = make_backend(framework)
    X, y, _, _, tot, W1, b1 = epoch_against_numpy(backend, 0.01, shape)
    assert W1.shape == shape and b1.shape == (shape[0],)
    assert backend.logits(X[:3]).shape == (3, shape[0])
    W0, b0 = make_params(2, 0.1, shape)
    W_hand, b_hand, loss, correct = hand_step(W0, b0, X[:16], y[:16], 0.5)
    tot, W2, b2 = trained(backend, (W0, b0), X[:16], y[:16], np.arange(16), 16, 0.5)
    np.testing.assert_allclose(W2, W_hand, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b2, b_hand, rtol=1e-4, atol=1e-5)
    assert tot.loss_sum == pytest.approx(loss, rel=1e-5) and tot.correct == correct
    backend.set_params(*make_params())  # back to the chapter's shape on the same backend
    assert backend.get_params()[0].shape == (NUM_CLASSES, NUM_FEATURES)


def test_train_epoch_refusals(backend):
    X, y = make_data(20)
    data = backend.put_data(X, y)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        backend.train_epoch(data, np.arange(20), 0, 0.1)
    with pytest.raises(ConfigError, match=r"order must index examples in \[0, 20\), got values "
                                          r"from 0 to 20"):
        backend.train_epoch(data, np.arange(21), 8, 0.1)
    with pytest.raises(ConfigError, match="order must be a 1-D integer array of example indices"):
        backend.train_epoch(data, np.arange(20.0), 2, 0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("labels", "shown"), [([0, 10, 3], "10"), ([-1, 0, 1], "-1"),
                                               ([0.0, 2.5, 1.0], "2.5")])
def test_put_data_refuses_labels_out_of_range(backend, labels, shown):
    """Refused before the framework sees them (MXNet's ops would clip them silently)."""
    X = np.zeros((3, 784), dtype=np.float32)
    backend.set_params(*make_params())
    with pytest.raises(DataError, match=rf"labels in the data given to the backend must be whole "
                                        rf"numbers in \[0, 10\) for 10 classes, "
                                        rf"got {re.escape(shown)} \(1 label\(s\) out of range\)"):
        backend.put_data(X, np.asarray(labels))


# ----------------------------------------------------------------------------- one step


STEPS = {  # name: (examples, params, lr, weight decay)
    "small": (16, make_params(), 0.5, 0.0),
    "decay-on-weights-only": (8, make_params(std=0.5), 0.1, 0.3),
    "batch-128": (128, initial_params(5, std=0.1), 0.3, 0.0),
    "batch-128-decay": (128, initial_params(5, std=0.1), 0.3, 0.01),
    "batch-64-decay": (64, initial_params(1), 0.5, 0.01),
}


@pytest.mark.parametrize("case", list(STEPS))
def test_one_step_matches_hand_computation_and_numpy(backend, framework, case):
    """One full-batch step from the same weights: the float64 step written out by hand and the
    NumPy backend give the same weights, loss and correct count (decay on W only, not on b)."""
    n, params, lr, wd = STEPS[case]
    X, y = make_data(n)
    tot, W1, b1 = trained(backend, params, X, y, np.arange(n), n, lr, wd)
    W_ref, b_ref, loss, correct = hand_step(*params, X, y, lr, wd)
    np.testing.assert_allclose(W1, W_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b1, b_ref, rtol=1e-5, atol=1e-7)
    assert tot.loss_sum == pytest.approx(loss, rel=1e-6)
    assert (tot.correct, tot.count) == (correct, n)
    assert not np.allclose(W1, params[0], atol=1e-4)  # the step moved the weights
    tot_np, W_np, b_np = trained(numpy_backend("cpu"), params, X, y, np.arange(n), n, lr, wd)
    np.testing.assert_allclose(W1, W_np, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b1, b_np, rtol=1e-5, atol=1e-7)
    assert tot.correct == tot_np.correct
    assert tot.loss_sum == pytest.approx(tot_np.loss_sum, rel=1e-6)


def test_gradient_against_finite_differences(backend):
    """The step's gradient (W0 - W1) / lr against central differences of the float64 loss."""
    X, y = make_data(8, seed=3)
    W, b = make_params(seed=4, std=0.1)
    _, W1, b1 = trained(backend, (W, b), X, y, np.arange(8), 8, 1.0)
    gW, gb = W.astype(np.float64) - W1, b.astype(np.float64) - b1
    X64, W64, b64 = X.astype(np.float64), W.astype(np.float64), b.astype(np.float64)

    def mean_loss(Wx, bx):
        return float(cross_entropy(X64 @ Wx.T + bx, y))  # (8, 10) logits

    h = 1e-6
    rng = np.random.default_rng(5)
    picks = zip(rng.integers(0, NUM_CLASSES, 40), rng.integers(0, NUM_FEATURES, 40), strict=True)
    for i, j in picks:
        Wp, Wm = W64.copy(), W64.copy()
        Wp[i, j] += h
        Wm[i, j] -= h
        fd = (mean_loss(Wp, b64) - mean_loss(Wm, b64)) / (2 * h)
        assert gW[i, j] == pytest.approx(fd, abs=2e-6)
    for i in range(NUM_CLASSES):
        bp, bm = b64.copy(), b64.copy()
        bp[i] += h
        bm[i] -= h
        fd = (mean_loss(W64, bp) - mean_loss(W64, bm)) / (2 * h)
        assert gb[i] == pytest.approx(fd, abs=2e-6)


# ----------------------------------------------------------------------------- one epoch

# Over several float32 steps MXNet's rounding drifts up to about 3e-7 from the float64 sums.
STEPS_ATOL = {"mxnet": 1e-6}


def test_batches_are_consecutive_slices_of_order(backend, framework):
    X, y = make_data(7)
    W, b = make_params()
    order = np.array([6, 2, 0, 5, 1, 3, 4])
    tot, W1, b1 = trained(backend, (W, b), X, y, order, 3, 0.2)  # batches of 3, 3 and 1
    W_ref, b_ref, loss_sum, correct = hand_epoch(W, b, X, y, order, 3, 0.2)
    atol = STEPS_ATOL.get(framework, 1e-7)
    np.testing.assert_allclose(W1, W_ref, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(b1, b_ref, rtol=1e-5, atol=atol)
    assert tot.loss_sum == pytest.approx(loss_sum, rel=1e-6)
    assert (tot.correct, tot.count) == (correct, 7)


def test_order_changes_the_result(framework):
    X, y = make_data(12)
    W, b = make_params()
    _, Wa, _ = trained(make_backend(framework), (W, b), X, y, np.arange(12), 4, 0.5)
    _, Wc, _ = trained(make_backend(framework), (W, b), X, y, np.arange(12)[::-1].copy(), 4, 0.5)
    assert not np.allclose(Wa, Wc)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_epoch_matches_hand_computation_and_numpy(backend, weight_decay):
    """300 examples in batches of 64 (four full batches and a last one of 44): the same weights,
    epoch totals, evaluation and logits as the float64 epoch by hand and the NumPy backend."""
    X, y, order, params, tot, W1, b1 = epoch_against_numpy(backend, weight_decay)
    W_ref, b_ref, loss_sum, correct = hand_epoch(*params, X, y, order, 64, 0.5, weight_decay)
    np.testing.assert_allclose(W1, W_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b1, b_ref, rtol=1e-4, atol=1e-5)
    assert tot.loss_sum == pytest.approx(loss_sum, rel=1e-5)
    assert tot.correct == correct


def test_a_batch_larger_than_the_data_is_one_batch(backend):
    """The step's buffers are sized by the data, not by batch_size (10**12 rows would not fit)."""
    X, y = make_data(20)
    data = backend.put_data(X, y)
    backend.set_params(*initial_params(0))
    huge = backend.train_epoch(data, np.arange(20), 10**12, 0.1)
    backend.set_params(*initial_params(0))
    whole = backend.train_epoch(data, np.arange(20), 20, 0.1)
    assert huge == whole and huge.count == 20


# ----------------------------------------------------------------------------- totals


def test_totals_use_the_weights_of_each_step(framework):
    """One full batch: the epoch totals are the loss before the single update."""
    X, y = make_data(10)
    before = make_backend(framework)
    before.set_params(*initial_params(0))
    ev = before.evaluate(before.put_data(X, y))
    backend = make_backend(framework)
    backend.set_params(*initial_params(0))
    tot = backend.train_epoch(backend.put_data(X, y), np.arange(10), 10, 0.1)
    assert tot.loss_sum == pytest.approx(ev.loss_sum, rel=1e-6)
    assert backend.evaluate(backend.put_data(X, y)).loss_sum < ev.loss_sum


def test_evaluate_totals_and_logits(backend):
    X, y = make_data(23)
    W, b = make_params(std=0.3)
    backend.set_params(W, b)
    data = backend.put_data(X, y)
    z = X.astype(np.float64) @ W.T.astype(np.float64) + b  # (23, 10)
    for batch_size in (5, 9, 23, 10000):
        tot = backend.evaluate(data, batch_size=batch_size)
        assert tot.loss_sum == pytest.approx(float(cross_entropy(z, y, "sum")), rel=1e-5)
        assert (tot.correct, tot.count) == (int((z.argmax(1) == y).sum()), 23)
    whole = backend.evaluate(data)
    assert whole.loss_sum == pytest.approx(float(cross_entropy(z, y, "sum")), rel=1e-5)
    assert (whole.correct, whole.count) == (int((z.argmax(1) == y).sum()), 23)
    logits = backend.logits(X)
    assert logits.dtype == np.float32 and logits.shape == (23, NUM_CLASSES)
    np.testing.assert_allclose(logits, z, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(backend.get_params()[0], W)  # evaluate does not train


def test_large_losses_are_exact(backend):
    """A logit 100 above the true class's: a loss of 100 per example, not a clipped softmax's
    (MXNet's legacy softmax_cross_entropy would give about 18.4)."""
    X = np.zeros((2, 784), dtype=np.float32)
    y = np.array([1, 2])
    b = np.zeros(10, dtype=np.float32)
    b[0] = 100.0
    backend.set_params(np.zeros((10, 784), np.float32), b)
    ev = backend.evaluate(backend.put_data(X, y))
    assert ev.loss_sum == pytest.approx(200.0, rel=1e-6) and ev.correct == 0


def test_tied_logits_count_the_first_maximum_as_numpy_does(backend):
    """Classes 0 and 3 tie for the largest logit: the prediction is class 0, as NumPy's argmax,
    in evaluation and in the epoch totals (torch, for one, would need max(...).indices)."""
    X, y = make_data(50)
    y[:15], y[15:20], y[20:] = 0, 3, 5  # 15 of class 0, 5 of class 3
    W, b = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    b[[0, 3]] = 1.0
    assert int((np.argmax(X @ W.T + b, axis=1) == y).sum()) == 15  # what NumPy says
    backend.set_params(W, b)
    data = backend.put_data(X, y)
    assert backend.evaluate(data).correct == 15
    assert backend.evaluate(data, batch_size=7).correct == 15
    assert backend.train_epoch(data, np.arange(50), 50, 0.1).correct == 15  # one batch
