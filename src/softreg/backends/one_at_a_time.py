"""A :class:`~softreg.backends.base.PackedBackend` over any single-model backend.

TensorFlow and MXNet have no packed kernel here: a pack given to them trains its models one
after another, each through the framework's ordinary :meth:`train_epoch`, behind the same
interface as the NumPy and PyTorch packs. Results are those of the models trained alone; only
the speed-up is missing. This is said once per process, as a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from softreg.backends.base import DeviceData, LinearBackend, PackTotals
from softreg.backends.checks import check_pack_epoch, check_pack_params

F32 = npt.NDArray[np.float32]
_TOLD: set[str] = set()


class OneAtATime:
    """Trains each slot of a pack in turn with ``backend`` (slots with rate 0 are skipped)."""

    def __init__(self, backend: LinearBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.device = backend.device
        self.W: F32 = np.zeros((1, 1, 0, 0), dtype=np.float32)  # no model until set_pack
        self.b: F32 = np.zeros((1, 1, 0), dtype=np.float32)

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> DeviceData:
        return self.backend.put_data(X, y)

    def set_pack(self, W: F32, b: F32) -> None:
        self.W, self.b = (a.copy() for a in check_pack_params(W, b))

    def get_pack(self) -> tuple[F32, F32]:
        return self.W.copy(), self.b.copy()

    def train_pack_epoch(self, data: DeviceData, orders: npt.NDArray[np.int64],
                         batch_size: int, lrs: npt.NDArray[np.float64],
                         weight_decays: npt.NDArray[np.float64]) -> PackTotals:
        rows, lr, wd = check_pack_epoch(orders, data.num_examples, lrs, weight_decays,
                                        lrs.shape, batch_size)
        if lr.size > 1 and self.name not in _TOLD:
            _TOLD.add(self.name)
            warnings.warn(f"{self.name} has no packed kernel: a pack trains its models one at a "
                          "time (same results, no speed-up)", stacklevel=2)
        loss, correct = np.zeros(lr.shape), np.zeros(lr.shape, dtype=np.int64)
        for g, j in np.ndindex(*lr.shape):
            if lr[g, j] == 0 and wd[g, j] == 0:
                continue  # padding, or a model that has stopped: left as it is
            self.backend.set_params(self.W[g, j], self.b[g, j])
            tot = self.backend.train_epoch(data, rows[g], batch_size, float(lr[g, j]),
                                           float(wd[g, j]))
            self.W[g, j], self.b[g, j] = self.backend.get_params()
            loss[g, j], correct[g, j] = tot.loss_sum, tot.correct
        return PackTotals(loss, correct, int(rows.shape[1]))

    def evaluate_pack(self, data: DeviceData) -> PackTotals:
        shape = self.W.shape[:2]
        loss, correct = np.zeros(shape), np.zeros(shape, dtype=np.int64)
        for g, j in np.ndindex(*shape):
            self.backend.set_params(self.W[g, j], self.b[g, j])
            tot = self.backend.evaluate(data)
            loss[g, j], correct[g, j] = tot.loss_sum, tot.correct
        return PackTotals(loss, correct, data.num_examples)

    def pack_totals(self, handles: list[PackTotals]) -> list[PackTotals]:
        return list(handles)
