"""PyTorch implementation of :class:`~softreg.backends.base.LinearBackend`.

The whole split lives on the device as one tensor; each step gathers its rows by index, so no
per-example Python and no DataLoader. Loss and correct counts are summed on the device and read
back once per epoch: on a GPU no step waits for the host.

One model and a pack of K models (:class:`~softreg.backends.base.PackedBackend`) are the same
code: a single run is the pack of one.

A model's numbers do not depend on the models it is packed with (bit for bit, on one machine
and library version): its rows of every product, its step size, its totals' summation order
and its evaluation's chunks are the same whatever the pack. Three things make that so:

* torch runs on one CPU thread while it trains or evaluates (``threads``), and each model's
  products are its own: a batch of k products of C rows (X shared by stride 0), not one
  product of Ck rows. A multi-threaded MKL product splits its work by the whole product's
  shape, and on some CPUs even one thread's kernel for C rows differs from its kernel for
  more (AVX-512: a model's rows of a (20, 784) x (784, m) product are not those of its own
  (10, 784) one). A step of one example is written out elementwise, as the matrix-vector
  kernel also varies with K. One thread also keeps ``--jobs 1`` and ``--jobs 2`` workers
  bit-identical.
* every slot's step is scaled by its own ``-lr / m`` before its product (one learning rate
  for the whole pack or not);
* a split is evaluated in chunks of a fixed number of examples, by blocks of models, and an
  epoch's step records are reduced every :data:`RECORD_EXAMPLES` examples, whatever K.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.backends.base import LOG_TINY, PackTotals
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
from softreg.core.optional import import_framework
from softreg.epochs.loop import EpochTotals

# Most bytes of logits an evaluation product holds at once: the models are taken in blocks.
EVAL_BYTES = 64 * 2**20
# Examples (whole steps, at least one) an epoch's step records hold per model before they are
# summed into the totals (see _StepRecords): a fixed count, so that the summation order of a
# model's loss does not depend on its pack. 16 bytes an example a model on a GPU, 12 on the CPU.
RECORD_EXAMPLES = 4096


@dataclass
class TorchData:
    """A split on the device: X (N, D) float32, y (N,) int64."""

    X: Any
    y: Any
    num_examples: int
    top_label: int = -1


class TorchBackend:
    """Softmax regression by SGD for one model or a pack of K, with torch tensors.

    The weights are held as a pack of G order groups of k slots, W (G, Ck, D) and
    b (G, Ck, 1); a single model (the :class:`LinearBackend` methods) is the pack of one, so
    one run and a pack run the same code.
    """

    name = "torch"

    def __init__(self, device: str = "auto", threads: int | None = 1) -> None:
        self.torch = import_framework("torch")
        self.F = self.torch.nn.functional
        self.device = check_device("torch", device, self.torch.cuda.is_available())
        self.threads = threads
        # no model until set_params / set_pack: its (C, D) shape is the caller's (the data's)
        self._new_pack(1, 1, (0, 0))

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        """torch on ``self.threads`` CPU threads for the block (see the module notes)."""
        torch = self.torch
        if self.threads is None or torch.get_num_threads() == self.threads:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _new_pack(self, groups: int, slots: int, model_shape: tuple[int, int]) -> None:
        zeros = self.torch.zeros
        C, D = model_shape
        self.W = zeros((groups, C * slots, D), device=self.device)
        self.b = zeros((groups, C * slots, 1), device=self.device)
        self.shape = (groups, slots)
        self.model_shape = model_shape  # (classes, features)

    def put_data(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> TorchData:
        """Copy a split to the device once.

        Raises:
            ConfigError: X is not (N, D) or y is not (N,).
            DataError: a label is not a whole number in [0, C).
        """
        Xc, yc = check_split(X, y, self.model_shape if self.model_shape[0] else None)
        tx = self.torch.from_numpy(Xc).to(self.device)
        ty = self.torch.from_numpy(yc).to(self.device)
        return TorchData(tx, ty, int(Xc.shape[0]), label_max(yc))

    # -- one model: the pack of one --------------------------------------------------------

    def set_params(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Copy ``W`` (C, D) and ``b`` (C,) into the model (float32).

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_params(W, b)
        self.set_pack(W[None, None], b[None, None])

    def get_params(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        W, b = self.get_pack()
        return W[0, 0], b[0, 0]

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
        rows = check_order(order, data.num_examples)
        handle = self.train_pack_epoch(data, rows[None], batch_size, np.full((1, 1), lr),
                                       np.full((1, 1), weight_decay))
        return self.pack_totals([handle])[0].model(0, 0)

    def evaluate(self, data: TorchData, batch_size: int = 10000) -> EpochTotals:
        return self.pack_totals([self.evaluate_pack(data, batch_size)])[0].model(0, 0)

    def logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        torch = self.torch
        tx = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.device)
        C = self.model_shape[0]
        with torch.no_grad(), self._cpu_threads():
            out = torch.addmm(self.b[0, :C, 0], tx, self.W[0, :C].t())
        result: npt.NDArray[np.float32] = out.cpu().numpy()  # (N, C), slot (0, 0)
        return result

    # -- a pack (PackedBackend) --------------------------------------------------------------

    def set_pack(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        """Replace the pack: W (G, k, C, D), b (G, k, C); G, k and the shape may change.

        Raises:
            ConfigError: wrong shapes.
        """
        W, b = check_pack_params(W, b)
        groups, slots, C, D = W.shape
        if (groups, slots) != self.shape or self.model_shape != (C, D):
            self._new_pack(groups, slots, (C, D))
        with self.torch.no_grad():
            self.W.copy_(self.torch.from_numpy(W).view(self.W.shape))
            self.b.copy_(self.torch.from_numpy(b).view(self.b.shape))

    def get_pack(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        groups, slots = self.shape
        C, D = self.model_shape
        W = self.W.detach().cpu().numpy().reshape(groups, slots, C, D)
        b = self.b.detach().cpu().numpy().reshape(groups, slots, C)
        return W.copy(), b.copy()

    def train_pack_epoch(
        self,
        data: TorchData,
        orders: npt.NDArray[np.int64],
        batch_size: int,
        lrs: npt.NDArray[np.float64],
        weight_decays: npt.NDArray[np.float64],
    ) -> tuple[Any, Any, int]:
        """One epoch of SGD for every slot (see :class:`PackedBackend`); nothing is synced.

        Raises:
            ConfigError: a bad ``batch_size``, ``orders``, ``lrs`` or ``weight_decays``.
        """
        rows, lr, wd = check_pack_epoch(orders, data.num_examples, lrs, weight_decays,
                                        self.shape, batch_size)
        check_fits(int(data.X.shape[1]), data.top_label, self.model_shape)
        idx = self.torch.from_numpy(rows.astype(np.int64, copy=False)).to(self.device)
        with self.torch.no_grad(), self._cpu_threads():
            loss, correct = _pack_epoch(self, data, idx, batch_size, lr, wd)
        return loss, correct, int(rows.shape[1])

    def evaluate_pack(self, data: TorchData, batch_size: int = 10000) -> tuple[Any, Any, int]:
        """Every slot's loss and correct count over ``data``: a (C B, D) product a chunk.

        The chunks hold ``batch_size`` examples whatever the pack, and the slots are taken
        in blocks of B, as many as EVAL_BYTES of a chunk's logits hold: a model's totals are
        summed in the same order in any pack.
        """
        check_fits(int(data.X.shape[1]), data.top_label, self.model_shape)
        torch = self.torch
        groups, slots = self.shape
        C, D = self.model_shape
        K = groups * slots
        loss = torch.zeros(K, dtype=torch.float64, device=self.device)
        correct = torch.zeros(K, dtype=torch.int64, device=self.device)
        W2, b2 = self.W.view(-1, D), self.b.view(-1, 1)  # (C K, D), (C K, 1)
        chunk = max(1, min(batch_size, data.num_examples))
        block = max(1, EVAL_BYTES // (4 * C * chunk))  # models a product
        with torch.no_grad(), self._cpu_threads():
            for first in range(0, K, block):
                last = min(K, first + block)
                rows = slice(C * first, C * last)
                for start in range(0, data.num_examples, chunk):
                    xb = data.X[start : start + chunk]
                    n = xb.shape[0]
                    yb = data.y[start : start + chunk].view(1, 1, -1)  # (1, 1, n)
                    logits = _forward(torch, W2[rows], b2[rows], xb, C).view(
                        last - first, C, n)  # (B, C, n)
                    ye = yb.expand(last - first, 1, n)
                    loss[first:last] -= self.F.log_softmax(logits, dim=1).gather(
                        1, ye).sum(dim=(1, 2))
                    correct[first:last] += (logits.max(dim=1, keepdim=True).indices
                                            == ye).sum(dim=(1, 2))
        return loss.view(groups, slots), correct.view(groups, slots), data.num_examples

    def pack_totals(self, handles: list[Any]) -> list[PackTotals]:
        """Read every handle's totals to the host with one copy (one sync on a GPU)."""
        if not handles:
            return []
        torch = self.torch
        flat = torch.cat([torch.cat([h[0].reshape(-1), h[1].reshape(-1).double()])
                          for h in handles]).cpu().numpy()  # counts < 2**53: exact
        out, pos = [], 0
        for loss, _, count in handles:
            size = loss.numel()
            shape = tuple(loss.shape)
            out.append(PackTotals(flat[pos : pos + size].reshape(shape).copy(),
                                  flat[pos + size : pos + 2 * size].reshape(shape)
                                  .astype(np.int64), count))
            pos += 2 * size
        return out


def _pack_epoch(be: TorchBackend, data: TorchData, idx: Any, batch_size: int,
                lrs: npt.NDArray[np.float64], wds: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    """The SGD steps of one packed epoch: idx (G, N) on the device; returns device totals.

    The logits are computed transposed, (Ck, m) per group: on a CPU, log_softmax along an
    axis of C followed by the batch axis is several times faster than along a trailing axis
    of C, and (Ck, D) x (D, m) is faster than (m, D) x (D, Ck). The gradient of the
    mean cross-entropy is written out, (softmax - one_hot) / m, rather than taken by autograd:
    the step is short enough that the graph's bookkeeping would cost about 15% of an epoch.
    A single order group (G = 1) takes its products as one, several group by group; on the
    CPU each model's by its own (:func:`_by_model`; see the module notes).
    Each step writes its examples' predicted classes and label log-probabilities into a
    block (:class:`_StepRecords`), which is reduced to the totals once a block of steps.
    """
    torch, F = be.torch, be.F
    (G, k), n = be.shape, idx.shape[1]
    C = be.model_shape[0]
    dev = be.device
    rows_per_step = max(1, min(batch_size, n))  # a batch_size of 10**9 is legal
    minus_one = torch.full((1, 1, 1, rows_per_step), -1.0, device=dev).expand(
        G, k, 1, rows_per_step)
    W, b = be.W, be.b  # (G, Ck, D), (G, Ck, 1)
    decay = _decay(be, lrs, wds)

    def step_coef(m: int) -> Any:
        # each slot's gradient times its own -lr / m, (G, k, 1, 1): the same arithmetic
        # for a model whether its pack shares one learning rate or not
        return torch.from_numpy((-lrs / m).astype(np.float32)).to(dev).view(G, k, 1, 1)

    coef = step_coef(rows_per_step)
    # one batch buffer for the epoch: a fresh block per step costs page faults
    xbuf = torch.empty((G * rows_per_step, data.X.shape[1]), device=dev)
    # the epoch's labels in order, gathered once and broadcast over the slots: a step slices
    # its (G, k, 1, m) view instead of gathering and reshaping (fewer small ops a step)
    y_epoch = data.y.index_select(0, idx.reshape(-1)).view(G, 1, 1, n).expand(G, k, 1, n)
    records = _StepRecords(torch, (G, k), rows_per_step, n, dev)
    single = G == 1  # 2-D products, and no per-step views of the group axis
    W1, b1, idx1 = W[0], b[0], idx[0]
    for start in range(0, n, batch_size):
        if single:
            rows = idx1[start : start + batch_size]  # (m,)
            m = rows.shape[0]
            xb = torch.index_select(data.X, 0, rows, out=xbuf[:m])  # (m, D)
            logits = _forward(torch, W1, b1, xb, C)  # (Ck, m)
        else:
            rows = idx[:, start : start + batch_size].reshape(-1)  # (G m,)
            m = rows.shape[0] // G
            xb = torch.index_select(data.X, 0, rows, out=xbuf[: G * m]).view(G, m, -1)
            logits = _forward(torch, W, b, xb, C)  # (G, Ck, m)
        ye = y_epoch[..., start : start + m]  # (G, k, 1, m)
        logits = logits.view(G, k, C, m)
        log_p = F.log_softmax(logits, dim=2)  # fused log-sum-exp over the classes
        records.record(start, logits, log_p, ye, y_epoch)
        # softmax - one_hot. Probabilities of confident models go below float32's smallest
        # normal number (1.2e-38), by themselves or times -lr / m, and products with denormal
        # numbers run several times slower on x86 (a packed sweep 1.2-1.6x). So they are
        # raised to exp(LOG_TINY), a step far below any weight's rounding (the loss is
        # recorded above, from the unclamped log-probabilities).
        minus_ones = minus_one if m == rows_per_step else minus_one[..., :m]
        grad = log_p.clamp_(min=LOG_TINY).exp_().scatter_add_(2, ye, minus_ones)
        grad.mul_(coef if m == rows_per_step else step_coef(m))
        if decay is not None:
            W.mul_(decay)
        if m == 1:  # written out: the matrix-vector kernels' rows vary with the pack
            g1 = grad.view(G, C * k, 1)
            W.addcmul_(g1, xb.view(G, 1, -1))  # (G, Ck, 1) * (G, 1, D)
            b.add_(g1)
        elif single:
            g1 = grad.view(C * k, m)
            _step(torch, W1, g1, xb, C)  # (Ck, m) @ (m, D)
            b1.add_(g1.sum(dim=1, keepdim=True))
        else:
            g2 = grad.view(G, C * k, m)
            if _by_model(W[0], C):
                for g in range(G):
                    _step(torch, W[g], g2[g], xb[g], C)  # (Ck, m) @ (m, D) each group
            else:
                W.baddbmm_(g2, xb)  # (G, Ck, m) @ (G, m, D)
            b.add_(g2.sum(dim=2, keepdim=True))
    return records.loss, records.correct


def _by_model(W: Any, C: int) -> bool:
    """Whether the products of ``W`` (Ck, D) go model by model: on the CPU, for more than one
    model. MKL's rows of a (Ck, D) x (D, m) product are not those of each model's (C, D) one
    on every CPU, even on one thread (AVX-512: a (10, 784) product's rows differ from the
    same rows of a (20, 784) one), while a batch of the models' own products, the batch
    in which X is shared (stride 0), gives each model the rows of its product alone."""
    return bool(W.device.type == "cpu" and W.shape[-2] > C)


def _forward(torch: Any, W: Any, b: Any, xb: Any, C: int) -> Any:
    """The logits ``W @ xb.T + b``: (Ck, m) from W (Ck, D), b (Ck, 1), xb (m, D), or
    batched over a leading group axis; on the CPU each model's C rows by their own product
    (:func:`_by_model`). A single example is multiplied out elementwise and summed along each
    row: the same sums for a row in any pack, which the matrix-vector kernels do not give."""
    if xb.shape[-2] == 1:
        return (W * xb).sum(dim=-1, keepdim=True) + b  # (.., Ck, D) -> (.., Ck, 1)
    if not _by_model(W, C):
        if W.dim() == 2:
            return torch.addmm(b, W, xb.t())  # (Ck, m)
        return torch.baddbmm(b, W, xb.transpose(1, 2))  # (G, Ck, m)
    if W.dim() == 2:
        return _model_products(torch, W, b, xb, C)
    out = torch.empty((W.shape[0], W.shape[1], xb.shape[1]), dtype=W.dtype, device=W.device)
    for g in range(W.shape[0]):  # each group's products straight into its rows (no stack)
        _model_products(torch, W[g], b[g], xb[g], C, out[g])
    return out


def _model_products(torch: Any, W: Any, b: Any, xb: Any, C: int, out: Any = None) -> Any:
    """``W @ xb.T + b`` (Ck, m) for W (Ck, D), b (Ck, 1), xb (m, D), model by model; into
    ``out`` (Ck, m) when it is given."""
    (Ck, D), m = W.shape, xb.shape[0]
    k = Ck // C
    args = (b.view(k, C, 1), W.view(k, C, D), xb.t().expand(k, D, m))
    if out is None:
        return torch.baddbmm(*args).view(Ck, m)
    torch.baddbmm(*args, out=out.view(k, C, m))
    return out


def _step(torch: Any, W: Any, g: Any, xb: Any, C: int) -> None:
    """``W += g @ xb`` in place for W (Ck, D), g (Ck, m), xb (m, D); on the CPU model by
    model (:func:`_by_model`)."""
    if not _by_model(W, C):
        W.addmm_(g, xb)
        return
    (Ck, D), m = W.shape, xb.shape[0]
    k = Ck // C
    W.view(k, C, D).baddbmm_(g.view(k, C, m), xb.expand(k, m, D))


def _decay(be: TorchBackend, lrs: npt.NDArray[np.float64],
           wds: npt.NDArray[np.float64]) -> Any | None:
    """Each slot's weight decay factor 1 - lr * wd as (G, Ck, 1); None if no slot decays."""
    if not wds.any():
        return None
    G, k = be.shape
    C = be.model_shape[0]
    # A decay beyond float32 (lr * wd > 3.4e38) becomes -inf: the weights go non-finite and the
    # loop reports a divergence, as for every framework; no NumPy warning on the way.
    with np.errstate(over="ignore"):
        decay = (1.0 - lrs * wds).astype(np.float32).repeat(C, axis=1)  # (G, C k)
    return be.torch.from_numpy(decay).to(be.device).view(G, C * k, 1)


class _StepRecords:
    """The train loss and correct counts of an epoch's steps, summed on the device.

    Each step writes, for every example and slot, the predicted class (the first largest
    logit) and the log-probability of the label into the next columns of a block, with the
    ``out=`` forms of max and gather; a block is reduced to the totals when full and at the
    end of the epoch. A step runs two small operations where reducing each step ran five
    (gather, sum, max, compare, sum). A block holds RECORD_EXAMPLES examples a model, in
    whole steps (at least one), whatever the pack.
    """

    def __init__(self, torch: Any, shape: tuple[int, int], rows_per_step: int, n: int,
                 device: Any) -> None:
        G, k = shape
        # the same blocks for every pack: a model's loss is summed in the same order
        steps = max(1, min(-(-n // rows_per_step), RECORD_EXAMPLES // rows_per_step))
        self.span = steps * rows_per_step  # examples a block holds, whole steps
        self.torch = torch
        self.pred = torch.empty((G, k, 1, self.span), dtype=torch.int64, device=device)
        self.label_log_p = torch.empty((G, k, 1, self.span), device=device)
        # the largest values, unread: one step's on the CPU (kept in cache), laid out as
        # ``pred`` elsewhere (CUDA's max takes two outputs of the same strides only)
        self.cpu = torch.device(device).type == "cpu"
        self.top = torch.empty((G, k, 1, rows_per_step if self.cpu else self.span),
                               device=device)
        self.loss = torch.zeros((G, k), dtype=torch.float64, device=device)
        self.correct = torch.zeros((G, k), dtype=torch.int64, device=device)
        self.n = n

    def record(self, start: int, logits: Any, log_p: Any, ye: Any, y_epoch: Any) -> None:
        """Record the step of examples ``start:start + m``; ``ye`` are their labels."""
        m = ye.shape[3]
        at = start % self.span
        end = at + m
        self.torch.max(logits, dim=2, keepdim=True,
                       out=(self.top[..., :m] if self.cpu else self.top[..., at:end],
                            self.pred[..., at:end]))
        self.torch.gather(log_p, 2, ye, out=self.label_log_p[..., at:end])
        if end == self.span or start + m == self.n:  # the block is full, or the epoch ends
            first = start + m - end
            self.loss -= self.label_log_p[..., :end].sum(dim=(2, 3), dtype=self.torch.float64)
            self.correct += (self.pred[..., :end] == y_epoch[..., first : start + m]).sum(
                dim=(2, 3))


def create_backend(device: str = "auto") -> TorchBackend:
    """Return a PyTorch backend on ``device`` (``auto``, ``cpu`` or ``cuda``)."""
    return TorchBackend(device)
