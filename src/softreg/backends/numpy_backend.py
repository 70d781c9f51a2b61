"""NumPy reference implementation of :class:`~softreg.backends.base.LinearBackend`.

Softmax regression from scratch: the forward pass is one matmul, the loss and its gradient with
respect to the logits come from :func:`softreg.core.numerics.cross_entropy_and_grad` (log-sum-exp,
never softmax-then-log), and the weight gradients are written out by hand (no autograd):

    logits = X @ W.T + b            G = dL/dlogits = (softmax - one_hot) / batch
    dL/dW  = G.T @ X                dL/db = sum of G over the batch

Parameters and matmuls are float32, like the frameworks it is the reference for; the
softmax itself is evaluated in float64 and rounded to float32 (see :mod:`softreg.core.numerics`).
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

from softreg.backends.base import PackTotals
from softreg.backends.checks import (
    check_batch_size,
    check_fits,
    check_order,
    check_pack_epoch,
    check_pack_params,
    check_params,
    check_split,
    check_step,
    label_max,
)
from softreg.core.frameworks import check_device
from softreg.core.numerics import cross_entropy, cross_entropy_and_grad
from softreg.epochs.loop import EpochTotals

F32 = npt.NDArray[np.float32]

# Gradient entries below this are dropped from a step (see _sgd_pack_epoch): 1e-30 times any
# rate and feature stays a normal float32 or is far below every weight's rounding.
GRAD_TINY = 1e-30
# Most bytes of float64 logits an evaluation pass holds at once: the models go in blocks.
EVAL_BYTES = 64 * 2**20


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
    """A split held by the NumPy backend: X (N, D) float32 C-contiguous, y (N,) int64."""

    X: F32
    y: npt.NDArray[np.int64]
    num_examples: int
    top_label: int = -1


class NumpyBackend:
    """Softmax regression by SGD for one model or a pack of K, as float32 arrays.

    The weights are held as a pack of G order groups of k slots, ``W`` (G, Ck, D) and
    ``b`` (G, Ck); a single model (the :class:`LinearBackend` methods) is the pack of one,
    so one run and a pack run the same code.

    Args:
        blas_threads: OpenBLAS threads while training and evaluating (module docstring);
            None leaves NumPy's setting alone.
    """

    name = "numpy"
    device = "cpu"

    def __init__(self, blas_threads: int | None = 1) -> None:
        self.blas_threads = blas_threads
        # no model until set_params / set_pack: its (C, D) shape is the caller's (the data's)
        self.W: F32 = np.zeros((1, 0, 0), dtype=np.float32)
        self.b: F32 = np.zeros((1, 0), dtype=np.float32)
        self.shape = (1, 1)
        self.model_shape = (0, 0)  # (classes, features)

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> NumpyData:
        """Keep the split as contiguous float32/int64 arrays (a copy only if needed).

        Raises:
            ConfigError: X is not (N, D) or y is not (N,).
            DataError: a label is not a whole number in [0, C).
        """
        Xc, yc = check_split(X, y, self.model_shape if self.model_shape[0] else None)
        return NumpyData(Xc, yc, int(Xc.shape[0]), label_max(yc))

    # -- one model: the pack of one --------------------------------------------------------

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Copy ``W`` (C, D) and ``b`` (C,) into the model (float32).

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_params(W, b)
        self.set_pack(W[None, None], b[None, None])

    def get_params(self) -> tuple[F32, F32]:
        """Return copies of ``(W, b)``; later training does not change them."""
        C = self.model_shape[0]
        return self.W[0, :C].copy(), self.b[0, :C].copy()

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
        totals = self.train_pack_epoch(data, rows[None], batch_size, np.full((1, 1), lr),
                                       np.full((1, 1), weight_decay))
        return totals.model(0, 0)

    def evaluate(self, data: NumpyData, batch_size: int = 10000) -> EpochTotals:
        """Summed loss and correct count of the current weights over ``data``, in chunks."""
        return self.evaluate_pack(data, batch_size).model(0, 0)

    def logits(self, X: npt.NDArray[np.float32]) -> F32:
        """Logits (N, C) float32 of the current weights for X (N, D)."""
        Xc = np.asarray(X, dtype=np.float32)
        C = self.model_shape[0]
        with blas_threads(self.blas_threads):
            out: F32 = Xc @ self.W[0, :C].T + self.b[0, :C]  # (N, C)
        return out

    # -- a pack (PackedBackend) --------------------------------------------------------------

    def set_pack(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Replace the pack: W (G, k, C, D), b (G, k, C); G, k and the shape may change.

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_pack_params(W, b)
        groups, slots, C, D = W.shape
        self.W = W.reshape(groups, slots * C, D).copy()
        self.b = b.reshape(groups, slots * C).copy()
        self.shape = (groups, slots)
        self.model_shape = (C, D)

    def get_pack(self) -> tuple[F32, F32]:
        groups, slots = self.shape
        C, D = self.model_shape
        return (self.W.reshape(groups, slots, C, D).copy(),
                self.b.reshape(groups, slots, C).copy())

    def train_pack_epoch(
        self,
        data: NumpyData,
        orders: npt.NDArray[np.int64],
        batch_size: int,
        lrs: npt.NDArray[np.float64],
        weight_decays: npt.NDArray[np.float64],
    ) -> PackTotals:
        """One epoch of SGD for every slot (see :class:`PackedBackend`).

        Raises:
            ConfigError: a bad ``batch_size``, ``orders``, ``lrs`` or ``weight_decays``.
        """
        rows, lr, wd = check_pack_epoch(orders, data.num_examples, lrs, weight_decays,
                                        self.shape, batch_size)
        check_fits(data.X.shape[1], data.top_label, self.model_shape)
        # A step size that blows weights up to inf or NaN is a divergence, which the epoch
        # loop reports in one message, not a NumPy warning per step.
        with blas_threads(self.blas_threads), np.errstate(over="ignore", invalid="ignore"):
            return _sgd_pack_epoch(self.W, self.b, data, rows, batch_size, lr, wd)

    def evaluate_pack(self, data: NumpyData, batch_size: int = 10000) -> PackTotals:
        """Every slot's summed loss and correct count over ``data``.

        Each model's logits are its own (C, D) x (D, n) product, over chunks of
        ``batch_size`` examples whatever the pack, and blocks of as many models as
        EVAL_BYTES hold: a model's totals are the same in any pack.
        """
        check_fits(data.X.shape[1], data.top_label, self.model_shape)
        groups, slots = self.shape
        C, D = self.model_shape
        K = groups * slots
        loss, correct = np.zeros(K), np.zeros(K, dtype=np.int64)
        W3, b3 = self.W.reshape(K, C, D), self.b.reshape(K, C, 1)
        chunk = max(1, min(batch_size, data.num_examples))
        block = max(1, EVAL_BYTES // (8 * C * chunk))  # models a stacked product
        with blas_threads(self.blas_threads), np.errstate(over="ignore", invalid="ignore"):
            for first in range(0, K, block):
                part = slice(first, min(K, first + block))
                for start in range(0, data.num_examples, chunk):
                    xb = data.X[start : start + chunk]  # (n, D)
                    yb = data.y[start : start + chunk]
                    logits = np.matmul(W3[part], xb.T) + b3[part]  # (B, C, n)
                    B, n = logits.shape[0], logits.shape[2]
                    flat = logits.transpose(2, 0, 1).reshape(-1, C)  # (n B, C)
                    losses = cross_entropy(flat, np.repeat(yb, B), reduction="none")
                    loss[part] += np.ascontiguousarray(losses.reshape(n, B).T,
                                                       dtype=np.float64).sum(axis=1)
                    hits = flat.argmax(axis=1).reshape(n, B) == yb[:, None]  # (n, B)
                    correct[part] += np.count_nonzero(hits, axis=0)
        return PackTotals(loss.reshape(groups, slots), correct.reshape(groups, slots),
                          data.num_examples)

    def pack_totals(self, handles: list[PackTotals]) -> list[PackTotals]:
        """The totals are computed on the host already: returned as they are."""
        return list(handles)


def _sgd_pack_epoch(W: F32, b: F32, data: NumpyData, orders: npt.NDArray[np.intp],
                    batch_size: int, lrs: npt.NDArray[np.float64],
                    wds: npt.NDArray[np.float64]) -> PackTotals:
    """The SGD steps of one packed epoch, updating W (G, Ck, D) and b (G, Ck) in place.

    Each step gathers group g's rows into a preallocated buffer; each model's products are
    its own (C, D) x (D, m) and (C, m) x (m, D), one stacked matmul for the pack.
    OpenBLAS picks its kernels by a product's whole shape, so a model's rows of one
    (m, D) x (D, Ck) product changed with k; its own products are the same in any pack.
    The loss and its gradient come from :func:`softreg.core.numerics.cross_entropy_and_grad` on
    the (G m k, C) logits, each row divided by its own batch's size m.
    """
    (G, n), k = orders.shape, lrs.shape[1]
    C, D = W.shape[1] // k, W.shape[2]
    rows_per_step = max(1, min(batch_size, n))
    xbuf = np.empty((G, rows_per_step, D), dtype=np.float32)
    W4 = W.reshape(G, k, C, D)  # a view: one (C, D) matrix a model
    gW = np.empty_like(W4)  # (G, k, C, D)
    lr_col = np.repeat(lrs.astype(np.float32), C, axis=1)  # (G, Ck), one rate per row
    lr4 = lr_col.reshape(G, k, C, 1)
    decay = np.repeat(wds.astype(np.float32), C, axis=1).reshape(G, k, C, 1)
    loss, correct = np.zeros((G, k)), np.zeros((G, k), dtype=np.int64)
    for start in range(0, n, batch_size):
        rows = orders[:, start : start + batch_size]  # (G, m)
        m = rows.shape[1]
        xb = xbuf if m == rows_per_step else np.empty((G, m, D), dtype=np.float32)
        # mode="clip" writes straight into the buffer (orders were range-checked)
        np.take(data.X, rows, axis=0, out=xb, mode="clip")  # (G, m, D)
        yb = data.y[rows]  # (G, m)
        logits = np.matmul(W4, xb.transpose(0, 2, 1)[:, None])  # (G, k, C, m)
        logits += b.reshape(G, k, C, 1)
        flat = logits.transpose(0, 3, 1, 2).reshape(-1, C)  # (G m k, C): (example, model)
        losses, grad = cross_entropy_and_grad(flat, np.repeat(yb.reshape(-1), k), count=m)
        # Entries below GRAD_TINY (a confident model's wrong classes) are set to zero: in
        # float32 many are denormal, and a product that meets denormals runs up to 60x slower
        # in OpenBLAS; they are far below any weight's rounding.
        np.copyto(grad, 0.0, where=np.abs(grad) < GRAD_TINY)
        # each model's losses summed along a contiguous row: the same order in any pack
        loss += np.ascontiguousarray(losses.reshape(G, m, k).transpose(0, 2, 1),
                                     dtype=np.float64).sum(axis=2)
        hits = flat.argmax(axis=1).reshape(G, m, k) == yb[:, :, None]
        correct += np.count_nonzero(hits, axis=1)
        g4 = np.ascontiguousarray(grad.reshape(G, m, k, C).transpose(0, 2, 3, 1))  # (G,k,C,m)
        np.matmul(g4, xb[:, None], out=gW)  # (G, k, C, m) @ (G, 1, m, D)
        if wds.any():
            gW += decay * W4
        gW *= lr4
        W4 -= gW
        b -= lr_col * g4.sum(axis=3).reshape(G, k * C)  # (G, Ck)
    return PackTotals(loss, correct, n)


def create_backend(device: str = "auto") -> NumpyBackend:
    """Return the NumPy backend. NumPy runs on the CPU: ``device`` must be ``auto`` or ``cpu``.

    Raises:
        ConfigError: ``device`` is ``cuda`` (NumPy has no GPU support) or unknown.
    """
    check_device("numpy", device, gpu_available=False)
    return NumpyBackend()
