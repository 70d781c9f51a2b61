"""The NumPy reference backend: hand-written gradient, SGD step, epoch totals, errors."""

from __future__ import annotations

import numpy as np
import pytest

import softreg.backends.numpy_backend as nb
from softreg.backends import get_backend
from softreg.backends.base import NUM_CLASSES, NUM_FEATURES, LinearBackend
from softreg.backends.numpy_backend import NumpyBackend, create_backend, openblas_thread_api
from softreg.errors import ConfigError, DataError
from softreg.numerics import cross_entropy


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, NUM_FEATURES), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, n).astype(np.int64)
    return X, y


def make_params(seed: int = 1, std: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((NUM_CLASSES, NUM_FEATURES)) * std).astype(np.float32)
    b = (rng.standard_normal(NUM_CLASSES) * std).astype(np.float32)
    return W, b


def backend_with(W, b) -> NumpyBackend:
    be = create_backend("cpu")
    be.set_params(W, b)
    return be


def hand_step(W, b, X, y, lr, wd=0.0):
    """One SGD step written out in float64 from the definitions, without softreg.numerics."""
    W, b, X = W.astype(np.float64), b.astype(np.float64), X.astype(np.float64)
    z = X @ W.T + b  # (n, 10)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    G = (p - np.eye(NUM_CLASSES)[y]) / len(y)  # (n, 10)
    loss = -np.log(p[np.arange(len(y)), y]).sum()
    return W - lr * (G.T @ X + wd * W), b - lr * G.sum(axis=0), loss, int((z.argmax(1) == y).sum())


def test_factory_and_protocol():
    be = get_backend("numpy", "auto")
    assert isinstance(be, NumpyBackend) and isinstance(be, LinearBackend)
    assert (be.name, be.device) == ("numpy", "cpu")
    assert create_backend("cpu").device == "cpu"


def test_cuda_is_refused():
    with pytest.raises(ConfigError, match="NumPy runs on the CPU only; use --device cpu"):
        create_backend("cuda")


def test_unknown_device():
    with pytest.raises(ConfigError, match="unknown device 'tpu'; choose one of: auto, cpu, cuda"):
        create_backend("tpu")


def test_one_step_matches_hand_computation():
    X, y = make_data(16)
    W, b = make_params()
    be = backend_with(W, b)
    tot = be.train_epoch(be.put_data(X, y), np.arange(16), batch_size=16, lr=0.5)
    W1, b1, loss, correct = hand_step(W, b, X, y, 0.5)
    got_W, got_b = be.get_params()
    np.testing.assert_allclose(got_W, W1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_b, b1, rtol=1e-5, atol=1e-7)
    assert tot.loss_sum == pytest.approx(loss, rel=1e-6)
    assert (tot.correct, tot.count) == (correct, 16)


def test_weight_decay_applies_to_weights_only():
    X, y = make_data(8)
    W, b = make_params(std=0.5)
    be = backend_with(W, b)
    be.train_epoch(be.put_data(X, y), np.arange(8), batch_size=8, lr=0.1, weight_decay=0.3)
    W1, b1, _, _ = hand_step(W, b, X, y, 0.1, wd=0.3)
    np.testing.assert_allclose(be.get_params()[0], W1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(be.get_params()[1], b1, rtol=1e-5, atol=1e-7)


def test_gradient_against_finite_differences():
    """The step's gradient (W0 - W1) / lr against central differences of the float64 loss."""
    X, y = make_data(8, seed=3)
    W, b = make_params(seed=4, std=0.1)
    be = backend_with(W, b)
    be.train_epoch(be.put_data(X, y), np.arange(8), batch_size=8, lr=1.0)
    gW = W.astype(np.float64) - be.get_params()[0]
    gb = b.astype(np.float64) - be.get_params()[1]
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


def test_batches_are_consecutive_slices_of_order():
    X, y = make_data(7)
    W, b = make_params()
    order = np.array([6, 2, 0, 5, 1, 3, 4])
    be = backend_with(W, b)
    tot = be.train_epoch(be.put_data(X, y), order, batch_size=3, lr=0.2)
    W_ref, b_ref, loss_sum, correct = W, b, 0.0, 0
    for start in (0, 3, 6):  # batches of 3, 3 and 1
        rows = order[start : start + 3]
        W_ref, b_ref, loss, c = hand_step(W_ref, b_ref, X[rows], y[rows], 0.2)
        loss_sum, correct = loss_sum + loss, correct + c
    np.testing.assert_allclose(be.get_params()[0], W_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(be.get_params()[1], b_ref, rtol=1e-5, atol=1e-7)
    assert tot.loss_sum == pytest.approx(loss_sum, rel=1e-6)
    assert (tot.correct, tot.count) == (correct, 7)


def test_order_changes_the_result():
    X, y = make_data(12)
    W, b = make_params()
    a, c = backend_with(W, b), backend_with(W, b)
    a.train_epoch(a.put_data(X, y), np.arange(12), 4, 0.5)
    c.train_epoch(c.put_data(X, y), np.arange(12)[::-1].copy(), 4, 0.5)
    assert not np.allclose(a.get_params()[0], c.get_params()[0])


def test_evaluate_totals_and_logits():
    X, y = make_data(23)
    W, b = make_params(std=0.3)
    be = backend_with(W, b)
    data = be.put_data(X, y)
    z = X.astype(np.float64) @ W.T.astype(np.float64) + b  # (23, 10)
    for batch_size in (5, 23, 10000):
        tot = be.evaluate(data, batch_size=batch_size)
        assert tot.loss_sum == pytest.approx(float(cross_entropy(z, y, "sum")), rel=1e-5)
        assert (tot.correct, tot.count) == (int((z.argmax(1) == y).sum()), 23)
    logits = be.logits(X)
    assert logits.dtype == np.float32 and logits.shape == (23, NUM_CLASSES)
    np.testing.assert_allclose(logits, z, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(be.get_params()[0], W)  # evaluate does not train


def test_set_and_get_params_are_copies():
    W, b = make_params()
    be = backend_with(W, b)
    W[0, 0] = 123.0  # changing the caller's array later does not reach the model
    got_W, got_b = be.get_params()
    assert got_W[0, 0] != 123.0 and got_W.dtype == np.float32 and got_b.dtype == np.float32
    got_W[:] = 0.0
    got_b[:] = 0.0
    assert np.abs(be.get_params()[0]).sum() > 0 and np.abs(be.get_params()[1]).sum() > 0


def test_set_params_accepts_float64_and_rounds():
    W, b = make_params()
    be = backend_with(W.astype(np.float64), b.astype(np.float64))
    np.testing.assert_array_equal(be.get_params()[0], W)


def test_set_params_shape_error():
    W, b = make_params()
    with pytest.raises(ConfigError, match=r"parameters must be W \(10, 784\) and b \(10,\), got W"):
        create_backend().set_params(W.T, b)


def test_put_data_shape_error():
    with pytest.raises(ConfigError, match=r"data must be X \(N, 784\) and y \(N,\), got X"):
        create_backend().put_data(np.zeros((4, 28, 28), np.float32), np.zeros(4, np.int64))


def test_train_epoch_errors():
    be = create_backend()
    data = be.put_data(*make_data(5))
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        be.train_epoch(data, np.arange(5), 0, 0.1)
    with pytest.raises(ConfigError, match=r"order must index examples in \[0, 5\), got values"):
        be.train_epoch(data, np.arange(6), 2, 0.1)
    with pytest.raises(ConfigError, match="order must be a 1-D integer array of example indices"):
        be.train_epoch(data, np.arange(5.0), 2, 0.1)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"labels in the data given to the backend must be whole "
                       r"numbers in \[0, 10\) for 10 classes, got 10"):
        be.put_data(np.zeros((2, 784), np.float32), np.array([0, 10]))


@pytest.mark.parametrize(("setting", "expect_one"), [(1, True), (None, False)])
def test_blas_threads_during_training(monkeypatch, setting, expect_one):
    api = openblas_thread_api()
    if api is None:
        pytest.skip("this NumPy does not bundle OpenBLAS")
    get, set_ = api
    before = get()
    set_(2)  # so that "limited to 1" is visible even on a 1-core machine
    seen = []
    real_step = nb.cross_entropy_and_grad

    def spy(logits, labels, count=None):
        seen.append(get())
        return real_step(logits, labels, count)

    monkeypatch.setattr(nb, "cross_entropy_and_grad", spy)
    try:
        be = NumpyBackend(blas_threads=setting)
        be.train_epoch(be.put_data(*make_data(6)), np.arange(6), 3, 0.1)
        assert seen == ([1, 1] if expect_one else [2, 2])
        assert get() == 2  # restored
    finally:
        set_(before)


@pytest.mark.realdata
def test_chapter_configuration_learns(real_data):
    from softreg.splits import to_features
    from softreg.training import epoch_order, initial_params

    xtr, ytr, xte, yte = real_data
    be = backend_with(*initial_params(0))
    train = be.put_data(to_features(xtr), ytr.astype(np.int64))
    for epoch in range(3):
        tot = be.train_epoch(train, epoch_order(0, epoch, len(ytr)), 256, 0.1)
    acc = be.evaluate(be.put_data(to_features(xte), yte.astype(np.int64))).accuracy
    assert tot.mean_loss < 0.55 and acc > 0.78
