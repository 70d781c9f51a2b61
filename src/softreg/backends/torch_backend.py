"""PyTorch implementation of :class:`~softreg.backends.base.LinearBackend`.

The whole split lives on the device as one tensor; each step gathers its rows by index, so no
per-example Python and no DataLoader. Loss and correct counts are summed on the device and read
back once per epoch: on a GPU no step waits for the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg._optional import require
from softreg.backends.base import NUM_CLASSES, NUM_FEATURES, EpochTotals
from softreg.backends.checks import (
    check_batch_size,
    check_order,
    check_params,
    check_split,
    check_step,
)
from softreg.backends.devices import check_device


@dataclass
class TorchData:
    """A split on the device: X (N, 784) float32, y (N,) int64."""

    X: Any
    y: Any
    num_examples: int


class TorchBackend:
    """Softmax regression with parameters ``W`` (10, 784) and ``b`` (10,) as torch tensors."""

    name = "torch"

    def __init__(self, device: str = "auto") -> None:
        self.torch = require("torch")
        self.F = self.torch.nn.functional
        self.device = check_device(device, "PyTorch", self.torch.cuda.is_available())
        zeros = self.torch.zeros
        self.W = zeros((NUM_CLASSES, NUM_FEATURES), device=self.device)
        self.b = zeros((NUM_CLASSES,), device=self.device)

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> TorchData:
        """Copy a split to the device once.

        Raises:
            ConfigError: X is not (N, 784) or y is not (N,).
            DataError: a label is not a whole number in [0, 10).
        """
        Xc, yc = check_split(X, y)
        tx = self.torch.from_numpy(Xc).to(self.device)
        ty = self.torch.from_numpy(yc).to(self.device)
        return TorchData(tx, ty, int(Xc.shape[0]))

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Copy ``W`` (10, 784) and ``b`` (10,) into the model (float32).

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_params(W, b)
        with self.torch.no_grad():
            self.W.copy_(self.torch.from_numpy(W))
            self.b.copy_(self.torch.from_numpy(b))

    def get_params(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        return (
            self.W.detach().cpu().numpy().copy(),
            self.b.detach().cpu().numpy().copy(),
        )

    def train_epoch(
        self,
        data: TorchData,
        order: npt.NDArray[np.int64],
        batch_size: int,
        lr: float,
        weight_decay: float = 0.0,
    ) -> EpochTotals:
        """One epoch of minibatch SGD; batches are slices of ``order``.

        Raises:
            ConfigError: ``lr`` or ``weight_decay`` above the largest float32 or negative,
                ``batch_size`` < 1, or ``order`` is not a 1-D array of indices of
                ``data`` (checked here: a bad index on a GPU is a device-side assert).
        """
        check_batch_size(batch_size)
        check_step(lr, weight_decay)
        rows = check_order(order, data.num_examples).astype(np.int64, copy=False)
        torch = self.torch
        idx = torch.from_numpy(rows).to(self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        rows_per_step = max(1, min(batch_size, idx.shape[0]))  # a batch_size of 10**9 is legal
        minus_one = torch.full((1, rows_per_step), -1.0, device=self.device)
        W, b = self.W, self.b
        b_col = b.unsqueeze(1)  # (10, 1), a view: updates to b show through
        # one batch buffer for the epoch: a fresh 0.8 MB block per step costs page faults
        xbuf = torch.empty((rows_per_step, data.X.shape[1]), device=self.device)
        # The logits are computed transposed, (10, m): on a CPU, log_softmax along a leading
        # axis of 10 is several times faster than along a trailing one, and the (10, 784) x
        # (784, m) product is faster than (m, 784) x (784, 10). The gradient of the mean
        # cross-entropy is written out, (softmax - one_hot) / m, rather than taken by autograd:
        # the step is short enough that the graph's bookkeeping would cost about 15% of an epoch.
        with torch.no_grad():
            for start in range(0, idx.shape[0], batch_size):
                rows = idx[start : start + batch_size]
                m = rows.shape[0]
                xb = torch.index_select(data.X, 0, rows, out=xbuf[:m])  # (m, 784)
                yb = data.y.index_select(0, rows).unsqueeze(0)  # (1, m)
                logits = torch.addmm(b_col, W, xb.t())  # (10, m)
                log_p = self.F.log_softmax(logits, dim=0)  # fused log-sum-exp over classes
                loss_sum -= log_p.gather(0, yb).sum()
                # max(...).indices: the first maximum, as argmax, which is slow on this axis
                correct += (logits.max(dim=0, keepdim=True).indices == yb).sum()
                grad = log_p.exp_().scatter_add_(0, yb, minus_one[:, :m])  # softmax - one_hot
                if weight_decay:
                    W.mul_(1.0 - lr * weight_decay)
                W.addmm_(grad, xb, alpha=-lr / m)  # (10, 784)
                b.sub_(grad.sum(dim=1), alpha=lr / m)
        return EpochTotals(float(loss_sum), int(correct), int(idx.shape[0]))

    def evaluate(self, data: TorchData, batch_size: int = 10000) -> EpochTotals:
        torch = self.torch
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        b_col = self.b.unsqueeze(1)  # (10, 1)
        with torch.no_grad():
            for start in range(0, data.num_examples, batch_size):
                xb = data.X[start : start + batch_size]
                yb = data.y[start : start + batch_size].unsqueeze(0)  # (1, batch)
                logits = torch.addmm(b_col, self.W, xb.t())  # (10, batch), as in train_epoch
                loss_sum -= self.F.log_softmax(logits, dim=0).gather(0, yb).sum()
                correct += (logits.max(dim=0, keepdim=True).indices == yb).sum()
        return EpochTotals(float(loss_sum), int(correct), data.num_examples)

    def logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        torch = self.torch
        tx = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.device)
        with torch.no_grad():
            out = torch.addmm(self.b, tx, self.W.t())  # (N, 10)
        result: npt.NDArray[np.float32] = out.cpu().numpy()
        return result


def create_backend(device: str = "auto") -> TorchBackend:
    """Return a PyTorch backend on ``device`` (``auto``, ``cpu`` or ``cuda``)."""
    return TorchBackend(device)
