"""The contract between the framework-neutral core and each framework.

Two Protocols:

* :class:`LinearBackend`: trains softreg's own model, ``logits = X @ W.T + b`` with
  ``W`` (C, D) and ``b`` (C,), by minibatch SGD on the mean cross-entropy computed from the
  logits. The shape is the data's (:class:`softreg.core.shape.ModelShape`): a backend takes it
  from the weights given to ``set_params``. Used by ``softreg train``/``evaluate``/
  ``predict``/``sweep``. The core chooses the initial weights and the example order of every
  epoch (NumPy, seeded), so all frameworks see the same numbers and can be compared against
  the NumPy reference.
The totals a backend returns (:class:`softreg.epochs.loop.EpochTotals`) belong with the loop that
consumes them, as does :class:`softreg.epochs.loop.EpochTrainer`, what the loop drives.

Neither Protocol names a framework type: arrays cross the boundary as NumPy arrays, and
framework-side data stays behind the opaque :class:`DeviceData` handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from softreg.epochs.loop import EpochTotals

# The smallest log-probability a step's gradient uses (the torch and MXNet steps). A confident
# model's softmax gives the wrong classes probabilities far below float32's smallest normal
# number (1.2e-38), and on x86 a product that meets denormal numbers runs several times
# slower; exp(-60) = 8.8e-27 stays normal after the step's factor -lr / m down to 1e-11.
LOG_TINY = -60.0


class DeviceData(Protocol):
    """Opaque handle to a split held by a backend (e.g. tensors on the GPU)."""

    num_examples: int


@runtime_checkable
class LinearBackend(Protocol):
    """What a framework provides to train softreg's linear model.

    Attributes:
        name: canonical framework name (``"torch"``, ``"tensorflow"``, ``"mxnet"``, ``"numpy"``).
        device: the resolved device, e.g. ``"cpu"`` or ``"cuda"``.
    """

    name: str
    device: str

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> DeviceData:
        """Move a whole split to the backend once. X is (N, D) float32, y is (N,) int64."""
        ...

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Replace the weights: W (C, D), b (C,), float32."""
        ...

    def get_params(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Return copies of (W (C, D), b (C,)) as float32 NumPy arrays."""
        ...

    def train_epoch(
        self,
        data: DeviceData,
        order: npt.NDArray[np.int64],
        batch_size: int,
        lr: float,
        weight_decay: float = 0.0,
    ) -> EpochTotals:
        """Run one epoch of minibatch SGD over ``data`` in the given example order.

        Batches are consecutive slices of ``order`` (the last one may be partial). Each step
        computes the mean cross-entropy of the batch from the logits and updates
        ``W -= lr * (dL/dW + weight_decay * W)`` and ``b -= lr * dL/db`` (no decay on the bias).
        The returned totals are accumulated during the epoch with the weights of each step.
        """
        ...

    def evaluate(self, data: DeviceData, batch_size: int = 10000) -> EpochTotals:
        """Loss and accuracy of the current weights over a whole split (no update)."""
        ...

    def logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits (N, C) of the current weights for X (N, D), as a NumPy array."""
        ...


@dataclass(frozen=True)
class PackTotals:
    """Per-model sums over one pass of a pack laid out as G order groups of k slots.

    ``loss_sum`` (G, k) float64 and ``correct`` (G, k) int64 are what :class:`EpochTotals`
    holds for one model; ``count`` is the number of examples each model saw.
    """

    loss_sum: npt.NDArray[np.float64]
    correct: npt.NDArray[np.int64]
    count: int

    def model(self, group: int, slot: int) -> EpochTotals:
        """The totals of the model in ``slot`` of ``group``."""
        return EpochTotals(float(self.loss_sum[group, slot]), int(self.correct[group, slot]),
                           self.count)


@runtime_checkable
class PackedBackend(Protocol):
    """K models trained in one pass: what :mod:`softreg.fitting.pack` drives.

    A pack is laid out as G *order groups* of k slots: the models of a group see the same
    example order (one shared batch per step, one (C k, D) x (D, m) product); the G groups
    have their own orders (a batched gather and a batched product). Every slot has its own
    weights, learning rate and weight decay. A slot with learning rate 0 and weight decay 0 is
    left exactly as it is (padding, or a model that has stopped), provided its weights are
    finite. Training and evaluation return opaque device-side handles; :meth:`pack_totals`
    reads any number of them back in one host sync.
    """

    name: str
    device: str

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> DeviceData:
        """As :meth:`LinearBackend.put_data`: the split is held once for every slot."""
        ...

    def set_pack(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Replace every slot's weights: W (G, k, C, D), b (G, k, C), float32."""
        ...

    def get_pack(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Copies of (W (G, k, C, D), b (G, k, C)) as float32 NumPy arrays."""
        ...

    def train_pack_epoch(
        self,
        data: DeviceData,
        orders: npt.NDArray[np.int64],
        batch_size: int,
        lrs: npt.NDArray[np.float64],
        weight_decays: npt.NDArray[np.float64],
    ) -> Any:
        """One epoch of SGD for every slot: group g's batches are slices of ``orders[g]``.

        ``orders`` is (G, N); ``lrs`` and ``weight_decays`` are (G, k). Each slot follows
        :meth:`LinearBackend.train_epoch` with its own rate and decay.
        """
        ...

    def evaluate_pack(self, data: DeviceData) -> Any:
        """Loss and correct count of every slot over a whole split (no update)."""
        ...

    def pack_totals(self, handles: list[Any]) -> list[PackTotals]:
        """Read the totals behind ``handles`` back to the host, in one sync."""
        ...
