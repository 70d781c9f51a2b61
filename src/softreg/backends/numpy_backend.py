"""NumPy reference implementation of :class:`~softreg.backends.base.LinearBackend`.

Softmax regression from scratch: the forward pass is one matmul, the loss and its gradient with
respect to the logits come from :func:`softreg.numerics.cross_entropy_and_grad` (log-sum-exp,
never softmax-then-log), and the weight gradients are written out by hand (no autograd):

    logits = X @ W.T + b            G = dL/dlogits = (softmax - one_hot) / batch
    dL/dW  = G.T @ X                dL/db = sum of G over the batch

Parameters and matmuls are float32, like the frameworks it is the reference for; the
softmax itself is evaluated in float64 and rounded to float32 (see :mod:`softreg.numerics`).
Each step gathers its rows into a preallocated buffer and updates ``W`` and ``b`` in place,
so the per-step cost is the two matmuls plus a few small array operations.

NumPy's bundled OpenBLAS is held to one thread while the backend trains or evaluates. Its
matmuls here are small (256 x 784 x 10), so threads gain little on an idle machine (10 epochs:
0.52 s with 2 threads, 0.66 s with 1 on the 2-core test machine), but on a busy one every
matmul waits for a descheduled worker thread: the same 10 epochs took 55 s with 2 threads and
0.68 s with 1 while two other processes kept both cores busy. Pass ``blas_threads=None`` to
:class:`NumpyBackend` to leave BLAS alone. Only OpenBLAS shipped inside NumPy's wheels is
found; with any other BLAS the setting is left unchanged.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softreg.backends.base import NUM_CLASSES, NUM_FEATURES, EpochTotals
from softreg.backends.checks import (
    check_batch_size,
    check_order,
    check_params,
    check_split,
    check_step,
)
from softreg.config import DEVICES
from softreg.errors import ConfigError
from softreg.numerics import cross_entropy, cross_entropy_and_grad

F32 = npt.NDArray[np.float32]


@functools.lru_cache(maxsize=1)
def openblas_thread_api() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS inside NumPy's wheel, or None."""
    import ctypes
    import glob
    import os

    root = os.path.dirname(np.__file__)
    paths = glob.glob(os.path.join(root, os.pardir, "numpy.libs", "*openblas*"))
    paths += glob.glob(os.path.join(root, ".dylibs", "*openblas*"))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: this only looks it up
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):  # NumPy >= 2.0, NumPy 1.x wheels
            for suffix in ("64_", ""):  # 64-bit-integer builds carry a suffix
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if getter is not None and setter is not None:
                    return getter, setter
    return None


@contextlib.contextmanager
def blas_threads(count: int | None) -> Iterator[None]:
    """Run the block with NumPy's OpenBLAS limited to ``count`` threads (None: unchanged)."""
    api = openblas_thread_api()
    if api is None or count is None:
        yield
        return
    get, set_ = api
    before = int(get())
    set_(count)
    try:
        yield
    finally:
        set_(before)


@dataclass
class NumpyData:
    """A split held by the NumPy backend: X (N, 784) float32 C-contiguous, y (N,) int64."""

    X: F32
    y: npt.NDArray[np.int64]
    num_examples: int


class NumpyBackend:
    """Softmax regression with parameters ``W`` (10, 784) and ``b`` (10,) as float32 arrays.

    Args:
        blas_threads: OpenBLAS threads while training and evaluating (module docstring);
            None leaves NumPy's setting alone.
    """

    name = "numpy"
    device = "cpu"

    def __init__(self, blas_threads: int | None = 1) -> None:
        self.blas_threads = blas_threads
        self.W: F32 = np.zeros((NUM_CLASSES, NUM_FEATURES), dtype=np.float32)
        self.b: F32 = np.zeros(NUM_CLASSES, dtype=np.float32)

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> NumpyData:
        """Keep the split as contiguous float32/int64 arrays (a copy only if needed).

        Raises:
            ConfigError: X is not (N, 784) or y is not (N,).
            DataError: a label is not a whole number in [0, 10).
        """
        Xc, yc = check_split(X, y)
        return NumpyData(Xc, yc, int(Xc.shape[0]))

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Copy ``W`` (10, 784) and ``b`` (10,) into the model (float32).

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_params(W, b)
        np.copyto(self.W, W, casting="unsafe")
        np.copyto(self.b, b, casting="unsafe")

    def get_params(self) -> tuple[F32, F32]:
        """Return copies of ``(W, b)``; later training does not change them."""
        return self.W.copy(), self.b.copy()

    def train_epoch(
        self,
        data: NumpyData,
        order: npt.NDArray[np.int64],
        batch_size: int,
        lr: float,
        weight_decay: float = 0.0,
    ) -> EpochTotals:
        """One epoch of minibatch SGD on the mean cross-entropy, batches = slices of ``order``.

        Returns:
            Loss sum, correct count and example count, each batch measured with the weights
            before its own update.

        Raises:
            ConfigError: ``lr`` or ``weight_decay`` above the largest float32 or negative,
                ``batch_size`` < 1.
        """
        check_batch_size(batch_size)
        check_step(lr, weight_decay)
        rows = check_order(order, data.num_examples)
        # A step size that blows the weights up to inf or NaN is a divergence, which the epoch
        # loop reports in one message (as for every framework), not a NumPy warning per step.
        with blas_threads(self.blas_threads), np.errstate(over="ignore", invalid="ignore"):
            return self._sgd_epoch(data, rows, batch_size, lr, weight_decay)

    def _sgd_epoch(
        self, data: NumpyData, order: npt.NDArray[np.intp], batch_size: int, lr: float,
        weight_decay: float,
    ) -> EpochTotals:
        W, b = self.W, self.b
        xbuf = np.empty((min(batch_size, order.size), NUM_FEATURES), dtype=np.float32)
        gW = np.empty_like(W)  # (10, 784)
        lr32, decay = np.float32(lr), np.float32(weight_decay)
        loss_sum, correct = 0.0, 0
        for start in range(0, order.size, batch_size):
            rows = order[start : start + batch_size]
            # mode="clip" writes straight into the buffer (order was range-checked)
            xb = np.take(data.X, rows, axis=0, out=xbuf[: rows.size], mode="clip")  # (batch, 784)
            yb = data.y[rows]  # (batch,)
            logits = xb @ W.T  # (batch, 10)
            logits += b
            losses, G = cross_entropy_and_grad(logits, yb)  # (batch,), (batch, 10)
            loss_sum += float(losses.sum(dtype=np.float64))
            correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
            np.matmul(G.T, xb, out=gW)  # (10, batch) @ (batch, 784) -> (10, 784)
            if weight_decay:
                gW += decay * W
            gW *= lr32
            W -= gW
            b -= lr32 * G.sum(axis=0)  # (10,)
        return EpochTotals(loss_sum, correct, int(order.size))

    def evaluate(self, data: NumpyData, batch_size: int = 10000) -> EpochTotals:
        """Summed loss and correct count of the current weights over ``data``, in chunks."""
        loss_sum, correct = 0.0, 0
        with blas_threads(self.blas_threads), np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, data.num_examples, batch_size):
                xb = data.X[start : start + batch_size]  # (batch, 784)
                yb = data.y[start : start + batch_size]
                logits = xb @ self.W.T + self.b  # (batch, 10)
                loss_sum += float(cross_entropy(logits, yb, reduction="sum"))
                correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
        return EpochTotals(loss_sum, correct, data.num_examples)

    def logits(self, X: npt.NDArray[np.float32]) -> F32:
        """Logits (N, 10) float32 of the current weights for X (N, 784)."""
        Xc = np.asarray(X, dtype=np.float32)
        with blas_threads(self.blas_threads):
            out: F32 = Xc @ self.W.T + self.b  # (N, 10)
        return out


def create_backend(device: str = "auto") -> NumpyBackend:
    """Return the NumPy backend. NumPy runs on the CPU: ``device`` must be ``auto`` or ``cpu``.

    Raises:
        ConfigError: ``device`` is ``cuda`` (NumPy has no GPU support) or unknown.
    """
    if device == "cuda":
        raise ConfigError(
            "device 'cuda' is not available with the numpy framework: NumPy runs on the CPU "
            "only; use --device cpu (or auto), or pick --framework torch for a GPU"
        )
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    return NumpyBackend()
