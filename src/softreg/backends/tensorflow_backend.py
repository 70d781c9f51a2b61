"""TensorFlow implementation of :class:`~softreg.backends.base.LinearBackend`.

The whole split lives on the device as one tensor, and a whole epoch is one call of a
``tf.function``: a graph loop over the batch slices of ``order`` that gathers each batch's rows,
takes the gradient of the batch-mean cross-entropy (fused
``tf.nn.sparse_softmax_cross_entropy_with_logits``) and updates ``W`` and ``b`` in place. No
Python runs per step, and the loss sum and correct count are read back once per epoch.

The graph is traced once per backend: the split, the order, the batch size, the learning rate
and the weight decay are all tensor arguments with a fixed signature, and the last partial
batch is just a shorter slice inside the same loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.backends._tf import gpu_available
from softreg.backends.checks import (
    check_batch_size,
    check_fits,
    check_order,
    check_params,
    check_split,
    check_step,
    label_max,
)
from softreg.core.frameworks import check_device
from softreg.core.optional import import_framework
from softreg.epochs.loop import EpochTotals


@dataclass
class TensorflowData:
    """A split on the device: X (N, D) float32, y (N,) int64."""

    X: Any
    y: Any
    num_examples: int
    num_features: int = 0
    top_label: int = -1


class TensorflowBackend:
    """Softmax regression with parameters ``W`` (C, D) and ``b`` (C,) as ``tf.Variable``.

    The variables and the two graphs are built by the first :meth:`set_params` and again
    whenever the shape changes (the shape is the caller's: the data's).
    """

    name = "tensorflow"

    def __init__(self, device: str = "auto") -> None:
        tf = self.tf = import_framework("tensorflow")
        self.device = check_device("tensorflow", device, gpu_available(tf))
        self.tf_device = "/GPU:0" if self.device == "cuda" else "/CPU:0"
        self.model_shape = (0, 0)  # (classes, features): no model until set_params
        self.W: Any = None
        self.b: Any = None

    def _build(self, model_shape: tuple[int, int]) -> None:
        """Variables of ``model_shape`` (C, D) and the epoch and evaluation graphs over them."""
        tf = self.tf
        C, D = model_shape
        with tf.device(self.tf_device):
            self.W = tf.Variable(tf.zeros((C, D), tf.float32), name="W")
            self.b = tf.Variable(tf.zeros((C,), tf.float32), name="b")
        self.model_shape = model_shape
        split = [tf.TensorSpec([None, D], tf.float32), tf.TensorSpec([None], tf.int64)]
        scalar = tf.TensorSpec([], tf.int64)
        self._epoch = tf.function(self._epoch_graph, input_signature=[
            *split, tf.TensorSpec([None], tf.int64), scalar,
            tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32)])
        self._evaluate = tf.function(self._evaluate_graph, input_signature=[*split, scalar])

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> TensorflowData:
        """Copy a split to the device once.

        Raises:
            ConfigError: X is not (N, D) or y is not (N,).
            DataError: a label is not a whole number in [0, C).
        """
        Xc, yc = check_split(X, y, self.model_shape if self.model_shape[0] else None)
        with self.tf.device(self.tf_device):
            return TensorflowData(self.tf.constant(Xc), self.tf.constant(yc), int(Xc.shape[0]),
                                  int(Xc.shape[1]), label_max(yc))

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Copy ``W`` (C, D) and ``b`` (C,) into the variables (float32).

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_params(W, b)
        if W.shape != self.model_shape:
            self._build((int(W.shape[0]), int(W.shape[1])))
        self.W.assign(W)
        self.b.assign(b)

    def get_params(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Return copies of ``(W, b)``; later training does not change them."""
        return np.array(self.W.numpy(), copy=True), np.array(self.b.numpy(), copy=True)

    def train_epoch(
        self,
        data: TensorflowData,
        order: npt.NDArray[np.int64],
        batch_size: int,
        lr: float,
        weight_decay: float = 0.0,
    ) -> EpochTotals:
        """One epoch of minibatch SGD as one graph call; batches are slices of ``order``.

        Raises:
            ConfigError: ``lr`` or ``weight_decay`` above the largest float32 or negative,
                ``batch_size`` < 1, or ``order`` is not a 1-D array of indices of
                ``data`` (checked here: a GPU gather would read zeros for a bad index).
        """
        check_batch_size(batch_size)
        check_step(lr, weight_decay)
        rows = check_order(order, data.num_examples).astype(np.int64, copy=False)
        check_fits(data.num_features, data.top_label, self.model_shape)
        tf = self.tf
        with tf.device(self.tf_device):
            loss_sum, correct = self._epoch(
                data.X, data.y, tf.constant(rows), tf.constant(batch_size, tf.int64),
                tf.constant(lr, tf.float32), tf.constant(weight_decay, tf.float32))
        return EpochTotals(float(loss_sum), int(correct), int(rows.size))

    def _epoch_graph(self, X: Any, y: Any, order: Any, batch_size: Any, lr: Any,
                     weight_decay: Any) -> tuple[Any, Any]:
        tf, W, b = self.tf, self.W, self.b
        loss_sum = tf.constant(0.0, tf.float64)
        correct = tf.constant(0, tf.int64)
        for start in tf.range(0, tf.size(order, out_type=tf.int64), batch_size):
            rows = order[start : start + batch_size]
            xb, yb = tf.gather(X, rows), tf.gather(y, rows)  # (batch, D), (batch,)
            with tf.GradientTape() as tape:
                logits = tf.matmul(xb, W, transpose_b=True) + b  # (batch, C)
                losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits)
                loss = tf.reduce_mean(losses)
            gW, gb = tape.gradient(loss, [W, b])
            W.assign_sub(lr * (gW + weight_decay * W))
            b.assign_sub(lr * gb)
            loss_sum += tf.reduce_sum(tf.cast(losses, tf.float64))
            correct += _count_correct(tf, logits, yb)
        return loss_sum, correct

    def evaluate(self, data: TensorflowData, batch_size: int = 10000) -> EpochTotals:
        """Summed loss and correct count of the current weights over ``data``, in chunks."""
        check_fits(data.num_features, data.top_label, self.model_shape)
        with self.tf.device(self.tf_device):
            loss_sum, correct = self._evaluate(
                data.X, data.y, self.tf.constant(max(batch_size, 1), self.tf.int64))
        return EpochTotals(float(loss_sum), int(correct), data.num_examples)

    def _evaluate_graph(self, X: Any, y: Any, batch_size: Any) -> tuple[Any, Any]:
        tf = self.tf
        loss_sum = tf.constant(0.0, tf.float64)
        correct = tf.constant(0, tf.int64)
        for start in tf.range(0, tf.size(y, out_type=tf.int64), batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            logits = tf.matmul(xb, self.W, transpose_b=True) + self.b  # (batch, C)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits)
            loss_sum += tf.reduce_sum(tf.cast(losses, tf.float64))
            correct += _count_correct(tf, logits, yb)
        return loss_sum, correct

    def logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits (N, C) float32 of the current weights for X (N, D)."""
        tf = self.tf
        with tf.device(self.tf_device):
            tx = tf.constant(np.asarray(X, dtype=np.float32))
            out = tf.matmul(tx, self.W, transpose_b=True) + self.b  # (N, C)
        result: npt.NDArray[np.float32] = out.numpy()
        return result


def _count_correct(tf: Any, logits: Any, y: Any) -> Any:
    """Number of rows whose arg-max logit is the label (int64 tensor)."""
    return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1), y), tf.int64))


def create_backend(device: str = "auto") -> TensorflowBackend:
    """Return a TensorFlow backend on ``device`` (``auto``, ``cpu`` or ``cuda``).

    Raises:
        ConfigError: unknown device, or ``cuda`` where TensorFlow sees no GPU.
        FrameworkUnavailableError: TensorFlow is not installed or broken.
    """
    return TensorflowBackend(device)
