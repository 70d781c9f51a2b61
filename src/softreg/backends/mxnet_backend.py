"""MXNet implementation of :class:`~softreg.backends.base.LinearBackend`.

The whole split lives in the device context as one NDArray; each step gathers its rows by index
(``take``), computes the logits with the fused ``FullyConnected`` operator, and its
log-probabilities (``log_softmax``, from the logits). The gradient of the batch-mean
cross-entropy with respect to the logits, (softmax - one_hot) / m, is written out and handed to
autograd, which carries it through ``FullyConnected`` to ``W`` and ``b``; ``sgd_update`` then
computes exactly ``W - lr * (dL/dW + weight_decay * W)`` in place. No per-example Python and no
DataLoader. Written out, the softmax's log-probabilities are raised to ``LOG_TINY`` first, as
in the torch step: a confident model's tiny probabilities would otherwise be denormal float32
numbers, and ``FullyConnected``'s backward product ran 4.5x slower with 30% of them (measured
here on a (64, 10) gradient, ``benchmarks/bench_denormal.py --framework mxnet`` for whole
runs). Autograd through ``log_softmax`` and ``pick``, as before, could not be guarded.

The loss is ``-pick(log_softmax(logits), y)``, as in Gluon's ``SoftmaxCrossEntropyLoss``. MXNet's
legacy ``softmax_cross_entropy`` operator is not used: it takes the log of a clipped softmax,
so a loss above about 18.4 comes out wrong (logits [100, 0, 0] with label 1: 18.4 instead
of 100), which would hide a diverging run.

MXNet runs operators asynchronously: loss sums and correct counts stay NDArrays (float64) for
the whole epoch and are read back once at its end, so Python queues the next step while the
engine is still computing the previous one.

The legacy ``mx.nd`` operators are used on purpose: they behave the same whether or not the
user switched MXNet to NumPy semantics (``npx.set_np()``), which the d2l chapters do.

MXNet's own loss maps a label outside ``[0, C)`` silently to a valid class, so every split is
checked by :func:`softreg.backends.checks.check_split` before MXNet sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.backends.base import LOG_TINY
from softreg.backends.checks import (
    check_batch_size,
    check_fits,
    check_order,
    check_params,
    check_split,
    check_step,
    label_max,
)
from softreg.core.config import FLOAT32_TINY
from softreg.core.errors import ConfigError
from softreg.core.frameworks import check_device
from softreg.core.optional import import_framework
from softreg.epochs.loop import EpochTotals


@dataclass
class MxnetData:
    """A split in the device context: X (N, D) float32, y (N,) float32 class indices.

    MXNet's ``pick`` and ``argmax`` work with float32 labels; every label
    below 2**24 is exact.
    """

    X: Any
    y: Any
    num_examples: int
    num_features: int = 0
    top_label: int = -1


def _summed_loss(nd: Any, log_p: Any, y: Any) -> Any:
    """Cross-entropy of log-probabilities (batch, C) and labels (batch,), summed over the
    batch: (1,) float64."""
    per_example = -nd.pick(log_p, y, axis=1)  # (batch,)
    return per_example.sum(axis=0, keepdims=True).astype("float64")  # (1,)


def _normal_or_zero(rate: float) -> float:
    """``rate`` as a float, or 0.0 when float32 would hold it only as a subnormal (or 0)."""
    return float(rate) if rate >= FLOAT32_TINY else 0.0


def _gpu_available(mx: Any) -> bool:
    """Whether MXNet sees a CUDA GPU; a CPU-only build or a broken driver counts as none."""
    try:
        return int(mx.context.num_gpus()) > 0
    except Exception:  # MXNetError from a CUDA build without a working driver
        return False


class MxnetBackend:
    """Softmax regression with parameters ``W`` (C, D) and ``b`` (C,) as MXNet NDArrays."""

    name = "mxnet"

    def __init__(self, device: str = "auto") -> None:
        mx = self.mx = import_framework("mxnet")
        self.nd, self.autograd = mx.nd, mx.autograd
        self.device = check_device("mxnet", device, _gpu_available(mx))
        self.ctx = mx.gpu(0) if self.device == "cuda" else mx.cpu()
        # no model until set_params: its (C, D) shape is the caller's (the data's)
        self.W: Any = None
        self.b: Any = None
        self.model_shape = (0, 0)  # (classes, features)

    def _new_params(self, model_shape: tuple[int, int]) -> None:
        C, D = model_shape
        self.W = self.nd.zeros((C, D), ctx=self.ctx, dtype="float32")
        self.b = self.nd.zeros((C,), ctx=self.ctx, dtype="float32")
        self.W.attach_grad()
        self.b.attach_grad()
        self.model_shape = model_shape  # (classes, features)

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> MxnetData:
        """Copy a split into the device context once, after checking its labels.

        Raises:
            ConfigError: X is not (N, D) or y is not (N,).
            DataError: a label is outside [0, C) (MXNet would clip it silently).
        """
        Xc, yc = check_split(X, y, self.model_shape if self.model_shape[0] else None)
        tx = self.nd.array(Xc, ctx=self.ctx, dtype="float32")
        ty = self.nd.array(yc, ctx=self.ctx, dtype="float32")
        return MxnetData(tx, ty, int(Xc.shape[0]), int(Xc.shape[1]), label_max(yc))

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Copy ``W`` (C, D) and ``b`` (C,) into the model (float32).

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_params(W, b)
        if W.shape != self.model_shape:
            self._new_params((int(W.shape[0]), int(W.shape[1])))
        self.W[:] = self.nd.array(W, ctx=self.ctx)
        self.b[:] = self.nd.array(b, ctx=self.ctx)

    def get_params(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Return copies of ``(W, b)`` as float32 NumPy arrays (a host sync)."""
        return self.W.asnumpy().copy(), self.b.asnumpy().copy()

    def train_epoch(
        self,
        data: MxnetData,
        order: npt.NDArray[np.int64],
        batch_size: int,
        lr: float,
        weight_decay: float = 0.0,
    ) -> EpochTotals:
        """One epoch of minibatch SGD on the mean cross-entropy, batches = slices of ``order``.

        Raises:
            ConfigError: ``lr`` or ``weight_decay`` above the largest float32 or negative,
                ``batch_size`` < 1, or ``order`` is not a valid index array.
        """
        check_batch_size(batch_size)
        check_step(lr, weight_decay)
        rows_all = check_order(order, data.num_examples)
        check_fits(data.num_features, data.top_label, self.model_shape)
        C = self.model_shape[0]
        nd, autograd = self.nd, self.autograd
        idx = nd.array(rows_all, ctx=self.ctx, dtype="int64")
        loss_sum = nd.zeros((1,), ctx=self.ctx, dtype="float64")
        correct = nd.zeros((1,), ctx=self.ctx, dtype="float64")
        W, b = self.W, self.b
        # sgd_update reads its rates as float32 and rejects a subnormal one (an error, not a
        # step): a scheduled rate that small moves no weight in any framework, so it is 0 here.
        lr, weight_decay = _normal_or_zero(lr), _normal_or_zero(weight_decay)
        for start in range(0, rows_all.size, batch_size):
            rows = idx[start : start + batch_size]
            xb = nd.take(data.X, rows)  # (batch, D)
            yb = nd.take(data.y, rows)  # (batch,)
            with autograd.record():
                logits = nd.FullyConnected(xb, W, b, num_hidden=C)  # (batch, C)
            log_p = nd.log_softmax(logits, axis=1)  # from the logits: log-sum-exp
            # d(mean loss)/d(logits), the guard raising tiny probabilities (module notes)
            probs = nd.exp(nd.maximum(log_p, LOG_TINY))
            logits.backward((probs - nd.one_hot(yb, C)) / yb.shape[0])
            nd.sgd_update(W, W.grad, lr=lr, wd=weight_decay, out=W)
            nd.sgd_update(b, b.grad, lr=lr, wd=0.0, out=b)
            loss_sum += _summed_loss(nd, log_p, yb)
            correct += (nd.argmax(logits, axis=1) == yb).sum().astype("float64")
        return EpochTotals(float(loss_sum.asscalar()), int(correct.asscalar()),
                           int(rows_all.size))

    def evaluate(self, data: MxnetData, batch_size: int = 10000) -> EpochTotals:
        """Summed loss and correct count of the current weights over ``data``, in chunks."""
        check_fits(data.num_features, data.top_label, self.model_shape)
        nd, C = self.nd, self.model_shape[0]
        loss_sum = nd.zeros((1,), ctx=self.ctx, dtype="float64")
        correct = nd.zeros((1,), ctx=self.ctx, dtype="float64")
        for start in range(0, data.num_examples, batch_size):
            xb = data.X[start : start + batch_size]  # (batch, D)
            yb = data.y[start : start + batch_size]
            logits = nd.FullyConnected(xb, self.W, self.b, num_hidden=C)  # (batch, C)
            loss_sum += _summed_loss(nd, nd.log_softmax(logits, axis=1), yb)
            correct += (nd.argmax(logits, axis=1) == yb).sum().astype("float64")
        return EpochTotals(float(loss_sum.asscalar()), int(correct.asscalar()),
                           data.num_examples)

    def logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits (N, C) float32 of the current weights for X (N, D)."""
        if self.W is None:
            raise ConfigError("the backend has no weights yet; call set_params before "
                              "computing logits")
        tx = self.nd.array(np.asarray(X, dtype=np.float32), ctx=self.ctx)
        out = self.nd.FullyConnected(tx, self.W, self.b,  # (N, C)
                                     num_hidden=self.model_shape[0])
        result: npt.NDArray[np.float32] = out.asnumpy()
        return result


def create_backend(device: str = "auto") -> MxnetBackend:
    """Return an MXNet backend on ``device`` (``auto``, ``cpu`` or ``cuda``).

    Raises:
        ConfigError: unknown device, or ``cuda`` where MXNet sees no GPU.
        FrameworkUnavailableError: MXNet is missing, or cannot import (numpy >= 1.24).
    """
    return MxnetBackend(device)
