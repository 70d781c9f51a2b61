"""Helpers of the backend tests: a backend by framework name, seeded data and weights, and the
float64 SGD step and epoch written out from the definitions."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from conftest import need
from softreg.backends.base import LinearBackend
from softreg.backends.numpy_backend import create_backend as numpy_backend
from softreg.data.fashion import MODEL_SHAPE
from softreg.fitting.trainer import epoch_order, initial_params

# The chapter's shape, and odd ones every framework must train the same way (C classes,
# D features): 5 features / 3 classes, 64 / 2, 3x32x32 colour images / 47 classes.
NUM_CLASSES, NUM_FEATURES = MODEL_SHAPE.weights
ODD_SHAPES = [(3, 5), (2, 64), (47, 3 * 32 * 32)]


def make_backend(framework: str) -> LinearBackend:
    """A fresh CPU backend of ``framework`` (skipped or failed through need() when absent)."""
    if framework != "numpy":
        need(framework)
    module = importlib.import_module(f"softreg.backends.{framework}_backend")
    backend: LinearBackend = module.create_backend("cpu")
    return backend


def make_data(n: int, seed: int = 0, shape: tuple[int, int] = (NUM_CLASSES, NUM_FEATURES),
              ) -> tuple[np.ndarray, np.ndarray]:
    classes, features = shape
    rng = np.random.default_rng(seed)
    X = rng.random((n, features), dtype=np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return X, y


def make_params(seed: int = 1, std: float = 0.01,
                shape: tuple[int, int] = (NUM_CLASSES, NUM_FEATURES),
                ) -> tuple[np.ndarray, np.ndarray]:
    classes, features = shape
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((classes, features)) * std).astype(np.float32)
    b = (rng.standard_normal(classes) * std).astype(np.float32)
    return W, b


def hand_step(W, b, X, y, lr, wd=0.0):
    """One SGD step written out in float64 from the definitions, without softreg.core.numerics."""
    W, b, X = W.astype(np.float64), b.astype(np.float64), X.astype(np.float64)
    z = X @ W.T + b  # (n, 10)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    G = (p - np.eye(W.shape[0])[y]) / len(y)  # (n, C)
    loss = -np.log(p[np.arange(len(y)), y]).sum()
    return W - lr * (G.T @ X + wd * W), b - lr * G.sum(axis=0), loss, int((z.argmax(1) == y).sum())


def hand_epoch(W, b, X, y, order, batch_size, lr, wd=0.0):
    """An epoch of hand_step over consecutive slices of ``order``: (W, b, loss_sum, correct)."""
    loss_sum, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        W, b, loss, c = hand_step(W, b, X[rows], y[rows], lr, wd)
        loss_sum, correct = loss_sum + loss, correct + c
    return W, b, loss_sum, correct


def trained(be: LinearBackend, params, X, y, order, batch_size, lr, wd=0.0):
    """Set ``params``, train one epoch; (totals, W, b)."""
    be.set_params(*params)
    tot = be.train_epoch(be.put_data(X, y), order, batch_size, lr, wd)
    return (tot, *be.get_params())


def epoch_against_numpy(backend: LinearBackend, weight_decay: float,
                        shape: tuple[int, int] | None = None):
    """Train ``backend`` and the NumPy backend one epoch from the same weights (300 examples in
    batches of 64: four full batches and a last one of 44) and check they agree: weights, epoch
    totals, evaluation and logits. Returns (X, y, order, params, totals, W, b) of ``backend``.
    ``shape`` (C, D): an odd shape instead of the chapter's."""
    X, y = make_data(300, shape=shape or (NUM_CLASSES, NUM_FEATURES))
    order = epoch_order(0, 0, len(y))
    params = initial_params(0) if shape is None else make_params(0, 0.01, shape)
    results = []
    for be in (backend, numpy_backend("cpu")):
        tot, W1, b1 = trained(be, params, X, y, order, 64, 0.5, weight_decay)
        results.append((tot, W1, b1, be.evaluate(be.put_data(X, y)), be.logits(X[:5])))
    (tot, W1, b1, ev, logits), (tot_np, W_np, b_np, ev_np, logits_np) = results
    np.testing.assert_allclose(W1, W_np, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b1, b_np, rtol=1e-4, atol=1e-5)
    assert tot.count == tot_np.count == 300
    assert tot.correct == tot_np.correct
    assert tot.loss_sum == pytest.approx(tot_np.loss_sum, rel=1e-5)
    assert ev.correct == ev_np.correct
    assert ev.loss_sum == pytest.approx(ev_np.loss_sum, rel=1e-5)
    np.testing.assert_allclose(logits, logits_np, rtol=1e-4, atol=1e-5)
    return X, y, order, params, tot, W1, b1
