"""The regularised softmax objective and its gradient, for K models at once, on NumPy or torch.

For model ``k`` with weights ``W_k`` (d, c) and intercept ``b_k`` (c,) the objective is

    f_k = sum_i s_ki * CE(x_i W_k + b_k, y_i) + alpha_k / 2 * ||W_k||^2

where ``s_k`` are per-row weights already divided by their sum (so the first term is a weighted
mean; a row of a held-out fold has weight 0) and ``alpha_k = 1 / (C_k * sum of raw weights)``,
scikit-learn's multinomial objective. All K models share one read of X: the weights are laid
side by side, ``X @ [W_1 ... W_K]`` (n, K*c), and the gradient is ``X.T @ [G_1 ... G_K]``, two
products per evaluation whatever K is. X keeps its dtype (float32 stays float32); the
optimiser's parameters are float64 and are cast to X's dtype for the products.

Standardisation is folded into the weights instead of copying X: a model on ``(X - mu) / sd`` is
the model ``W / sd`` with intercept ``b - mu @ (W / sd)`` on X itself. A fold loses about
``eps |mu| / sd`` of each standardised feature (``x W / sd`` and ``mu W / sd`` cancel), so a
dense X whose columns lie far from zero for their spread is fitted shifted, in a copy
(:class:`Problem`'s ``offset``; :func:`softreg.estimator.prepare.problem`).

Cross-entropy is computed from logits by a max-shifted log-sum-exp, never softmax-then-log.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator import sparse
from softreg.estimator.rows import Scratch, axpy, dot
from softreg.estimator.sparse import product as sparse_product

F64 = npt.NDArray[np.float64]
# A confident model's wrong classes get probabilities that are denormal in float32, and the
# product X.T @ G meeting denormals runs many times slower on x86 (benchmarks/bench_denormal.py).
# Both backends keep them normal in one pass (where zeroing them took three: abs, compare,
# zero): the max-shifted logits are raised to at least this before exp, so that a probability
# is at least exp(-50) / c (2e-22 / c) and a row-weighted gradient entry stays normal in float32
# for any row weight above about 1e-16 * c. The log-sum-exp changes by at most c * exp(-50), far
# below float64's rounding of a sum that is at least 1, and each gradient entry by at most as
# much.
LOGIT_FLOOR = -50.0
# float64 logits whose block spans at most this (largest logit plus largest intercept, minus the
# smallest plus the smallest) are shifted by that one upper bound instead of by each row's max:
# exp then neither overflows (every value is at most 1) nor underflows to a denormal (at least
# exp(-600), 2.6e-261), a row's sum stays at least exp(-600), and a row-weighted gradient entry
# stays normal for any row weight above about 1e-40 * c. This skips the per-row max, the
# subtraction and the floor (three passes over the logits, most of the elementwise time of a
# pack over few features); the loss of each row keeps float64's absolute rounding of the span.
# float32 keeps the per-row shift, whose rounding is relative to each row's own logits.
LOGIT_SPAN = 600.0


def quiet() -> np.errstate:
    """What the NumPy objectives evaluate under: a trial point whose products overflow (X near
    float64's limit, or a diverging step) gives a non-finite objective or gradient, which every
    caller already answers in one message: L-BFGS rejects the trial, and a fit that can go no
    further ends with its ConvergenceWarning; SGD refuses weights that are no longer finite.
    NumPy's own RuntimeWarnings (126 of them for 40 rows near 1e306) said nothing more."""
    return np.errstate(over="ignore", invalid="ignore")


@dataclass
class Problem:
    """Everything one pack of models needs but its parameters.

    Attributes:
        X: (n, d) features: a NumPy array, a scipy CSR matrix or a torch tensor.
        codes: (n,) class index of each row, 0..c-1.
        weights: (K, n) row weights of each model, each row summing to 1.
        alpha: (K,) L2 strength of each model.
        n_classes: c.
        mu, sd: (d,) the standardisation folded into the weights (zeros and ones for none):
            ``mu`` the columns' means of X as held here (less ``offset``).
        offset: (d,) what was taken off the user's columns to make X (a copy), or None (X is
            the user's): the model on the user's X (:meth:`effective`) has its intercepts
            lowered by ``offset @ W_eff``; the objective works on X as held (:meth:`folded`).
    """

    X: Any
    codes: npt.NDArray[np.intp]
    weights: F64
    alpha: F64
    n_classes: int
    mu: F64
    sd: F64
    offset: F64 | None = None

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def size(self) -> int:
        """Parameters of one model: d*c weights then c intercepts."""
        return (self.n_features + 1) * self.n_classes

    def split(self, theta: F64) -> tuple[F64, F64]:
        """(K, p) parameters -> weights (K, d, c) and intercepts (K, c), as views."""
        d, c = self.n_features, self.n_classes
        return theta[:, : d * c].reshape(-1, d, c), theta[:, d * c:]

    @cached_property
    def scaled(self) -> bool:
        """Whether a standardisation is folded into the weights (read at every evaluation;
        ``mu`` and ``sd`` are not changed once the problem is made)."""
        return bool(np.any(self.mu != 0) or np.any(self.sd != 1))

    def folded(self, theta: F64) -> tuple[F64, F64]:
        """The weights and intercepts acting on X as held here (standardisation folded in):
        the objective's."""
        W, b = self.split(theta)
        if not self.scaled:
            return W, b
        W_eff = W / self.sd[None, :, None]  # (K, d, c)
        return W_eff, b - np.einsum("d,kdc->kc", self.mu, W_eff)

    def effective(self, theta: F64) -> tuple[F64, F64]:
        """The weights and intercepts acting on the user's raw X (standardisation and
        ``offset`` folded in): the model. Far from zero its intercepts are large and cancel
        ``x @ W_eff``: float64 rounds each logit of the model on raw X by about
        ``eps |x| |W_eff|``, as it rounds any model on raw X (LogisticRegression's too)."""
        W_eff, b_eff = self.folded(theta)
        if self.offset is None:
            return W_eff, b_eff
        return W_eff, b_eff - np.einsum("d,kdc->kc", self.offset, W_eff)

    def theta(self, W_eff: F64, b_eff: F64) -> F64:
        """The parameters (1, p) of the model with weights ``W_eff`` (d, c) and intercepts
        ``b_eff`` (c,) on raw X: :meth:`effective`'s inverse, in this problem's scaling (a fit,
        a warm start or a loaded estimator continues from the model itself, whatever scaling
        its parameters were worked in)."""
        W_eff = np.asarray(W_eff, np.float64)
        W = W_eff * self.sd[:, None]
        b = np.asarray(b_eff, np.float64)
        if self.offset is not None:
            b = b + self.offset @ W_eff
        b = b + self.mu @ W_eff
        return np.concatenate([W.ravel(), b])[None]

    def unfold(self, gW_eff: F64, gb: F64, out: F64 | None = None,
               minus: F64 | None = None) -> F64:
        """Gradient with respect to the effective weights -> with respect to theta, (K, p),
        into ``out`` when it is given and of that shape; ``minus`` (K, d, c), when given, is
        taken from ``gW_eff`` in the same pass."""
        k, dc = len(gb), gW_eff.shape[1] * gW_eff.shape[2]
        if out is None or out.shape != (k, dc + gb.shape[1]):
            out = np.empty((k, dc + gb.shape[1]))
        gW = out[:, :dc].reshape(gW_eff.shape)
        if self.scaled:
            full = gW_eff - self.mu[None, :, None] * gb[:, None, :]
            if minus is not None:
                full -= minus
            np.divide(full, self.sd[None, :, None], out=gW)
        elif minus is None:
            gW[...] = gW_eff  # the one copy (and cast to float64) of the product's gradient
        else:
            np.subtract(gW_eff, minus, out=gW)  # the same pass as the copy
        out[:, dc:] = gb
        return out


# More runs of rows than this and the objective treats X as one block: a few large products
# are faster than many small ones, and a zero weight costs nothing but its share of the product.
MAX_BLOCKS = 64


def row_blocks(weights: F64, max_blocks: int = MAX_BLOCKS) -> list[tuple[int, int, npt.NDArray[
        np.intp]]]:
    """Runs of rows ``(start, stop, models)`` in which the same models weigh every row.

    The products of a block cover its models only, and rows that no model weighs are skipped:
    a cross-validation pack whose rows are grouped by fold multiplies each fold's rows by the
    models trained on it (4/5 of them for 5 folds), not by every model. ``weights`` (K, n);
    more than ``max_blocks`` runs give one block of every row and model.
    """
    K, n = weights.shape
    if n == 0:
        return []
    nz = weights != 0
    change = np.flatnonzero((nz[:, 1:] != nz[:, :-1]).any(axis=0)) + 1
    if change.size >= max_blocks:
        return [(0, n, np.arange(K))]
    bounds = np.concatenate([[0], change, [n]])
    runs = [(int(s), int(e), np.flatnonzero(nz[:, s])) for s, e in pairwise(bounds)]
    return [run for run in runs if run[2].size]


@dataclass
class _Block:
    """One run of rows of X and the models that weigh them."""

    X: Any  # the rows: a view of a dense X, or X itself when the block is every row
    codes: Any
    weights: Any  # (rows, K) in X's dtype
    models: npt.NDArray[np.intp]


# What a block costs beyond its products and element-wise work, and what a logit costs, in one
# unit: a multiply-add of the two products for one feature. A block's fixed cost (about 25 NumPy
# calls) is about 54 us on the 2-core machine, and a logit's element-wise work about 50 units
# (3 ns against 0.06 ns a feature); see split_pays.
BLOCK_COST, LOGIT_COST = 900_000, 50


def split_pays(runs: list[tuple[int, int, npt.NDArray[np.intp]]], n: int, n_models: int,
               width: float, n_classes: int) -> bool:
    """Whether the row blocks ``runs`` cost less than one block of every row and model.

    One block multiplies every row by every model: the logits of rows that a model does not
    weigh (a held-out fold's) are work thrown away, each costing its ``width`` (features, or
    stored values a row for sparse X) plus :data:`LOGIT_COST`. Each further block costs
    :data:`BLOCK_COST` of fixed work. On a small problem the blocks' fixed work is the larger:
    SoftmaxRegressionCV on the breast-cancer set (569 x 30, 5 folds, 10 Cs) evaluates its pack
    in 650 us as one block against 780 us in five; on digits (1797 x 64) the five blocks save
    more work than they cost.
    """
    if len(runs) <= 1:
        return True
    used = sum((e - s) * len(models) for s, e, models in runs)
    thrown = (n * n_models - used) * n_classes * (width + LOGIT_COST)
    return bool(thrown > (len(runs) - 1) * BLOCK_COST)


def _blocks(p: Problem, take: Any) -> list[_Block]:
    """The problem's row blocks (:func:`row_blocks`, one block when :func:`split_pays` says
    so), each with its rows, codes and weights taken by ``take``."""
    runs = row_blocks(p.weights)
    n, K = p.weights.shape[1], p.weights.shape[0]
    width = p.X.nnz / max(n, 1) if hasattr(p.X, "nnz") else p.n_features
    if not split_pays(runs, n, K, width, p.n_classes):
        runs = [(0, n, np.arange(K))]
    blocks = []
    for s, e, models in runs:
        rows, codes, weights = take(s, e)
        blocks.append(_Block(rows, codes, weights, models))
    return blocks


class _Sums:
    """The objective (k,) and gradients (k, c, d), (k, c) summed over blocks (the weights'
    gradient as the product ``G.T @ X`` lays it out). A single block of every model is kept as
    it comes: no zeroed arrays to add it into, no extra float64 copy."""

    def __init__(self, k: int, c: int, d: int) -> None:
        self.shape = (k, c, d)
        self.whole: tuple[Any, Any, Any] | None = None
        self.total: tuple[F64, F64, F64] | None = None

    def add(self, part: tuple[Any, Any, Any], pos: npt.NDArray[np.intp]) -> None:
        k, c, d = self.shape
        if self.whole is None and self.total is None and pos.size == k:
            self.whole = part
            return
        if self.total is None:
            self.total = (np.zeros(k), np.zeros((k, c, d)), np.zeros((k, c)))
            if self.whole is not None:
                self._into(self.whole, np.arange(k))
                self.whole = None
        self._into(part, pos)

    def _into(self, part: tuple[Any, Any, Any], pos: npt.NDArray[np.intp]) -> None:
        assert self.total is not None
        for total, value in zip(self.total, part, strict=True):
            total[pos] += value

    def result(self) -> tuple[Any, Any, Any]:
        k, c, d = self.shape
        return self.whole or self.total or (np.zeros(k), np.zeros((k, c, d)), np.zeros((k, c)))


def _evaluated(blocks: list[_Block], active: npt.NDArray[np.intp],
               n_models: int) -> Iterator[tuple[_Block, npt.NDArray[np.intp]]]:
    """Each block with some of the models ``active`` (of ``n_models``), and those models'
    positions in ``active``."""
    where = np.full(n_models, -1)
    where[active] = np.arange(len(active))
    for block in blocks:
        pos = where[block.models]
        pos = pos[pos >= 0]
        if pos.size:
            yield block, pos


# Up to this many classes, the per-row max over the classes (the log-sum-exp's shift) is a
# loop of element-wise NumPy calls, one a class, each over the block's n*k values as one strided
# run; NumPy's own reduction over a short last axis costs about 4 ns a value against 0.9 so
# (10 classes, float64). More classes: NumPy's reduction.
CLASS_LOOP = 32
# Up to this many classes the probabilities are scaled by the rows' weights a class at a time
# (NumPy's broadcast over a last axis of 2 costs 1.6 ns a value, the loop 0.8; over 10 classes
# the broadcast is the faster).
SCALE_LOOP = 4


def _top(G: Any, b: Any) -> float | None:
    """An upper bound of the block's logits ``G + b`` when they are float64 and span at most
    :data:`LOGIT_SPAN`, else None (float32, a wider span, or a NaN)."""
    if G.dtype != np.float64:
        return None
    top, bottom = float(G.max()) + float(b.max()), float(G.min()) + float(b.min())
    return top if top - bottom <= LOGIT_SPAN else None


def _over_classes(ufunc: Any, Z: Any) -> Any:
    """``ufunc`` reduced over the last axis of Z (n, k, c): (n, k), a fresh array."""
    if Z.shape[2] > CLASS_LOOP:
        return ufunc.reduce(Z, axis=2)
    acc = Z[..., 0].copy()
    for j in range(1, Z.shape[2]):
        ufunc(acc, Z[..., j], out=acc)
    return acc


class NumpyObjective:
    """Loss and gradient with NumPy (dense) or scipy.sparse (CSR) products."""

    def __init__(self, problem: Problem, true: tuple[F64, F64] | None = None) -> None:
        """``true``: the problem's :func:`true_class_sums`, when they are made already."""
        self.p = problem
        self.dtype = problem.X.dtype
        X, n = problem.X, problem.X.shape[0]

        def take(s: int, e: int) -> tuple[Any, Any, Any]:
            rows = X if (s, e) == (0, n) else X[s:e]  # a CSR slice is copied once, here
            return rows, problem.codes[s:e], problem.weights[:, s:e].T.astype(self.dtype)

        self.blocks = _blocks(problem, take)
        self.scratch = Scratch()
        self.threads = sparse.threads_for(X) if hasattr(X, "tocsr") else 1
        self.true_rows, self.true_weights = true_class_sums(problem) if true is None else true
        self.per_row = per_row(self.dtype)

    def _partials(self, shape: tuple[int, int], dtype: Any) -> list[Any]:
        """Reused arrays that the threads of a sparse ``X.T @ G`` sum into, within
        :data:`softreg.estimator.sparse.PARTIALS_BYTES`."""
        size = shape[0] * shape[1] * np.dtype(dtype).itemsize
        return [self.scratch.get(f"gW-{i}", shape, dtype) for i in range(1, self.threads)
                if i * size <= sparse.PARTIALS_BYTES]

    def __call__(self, theta: F64, active: npt.NDArray[np.intp],
                 out: F64 | None = None) -> tuple[F64, F64]:
        """Objective (k,) and gradient (k, p) of the models ``active`` at ``theta`` (k, p);
        the gradient is written into ``out`` when it is given (and of its shape). An overflow
        gives non-finite values without NumPy's warnings (:func:`quiet`)."""
        with quiet():
            return self._evaluate(theta, active, out)

    def _evaluate(self, theta: F64, active: npt.NDArray[np.intp],
                  out: F64 | None) -> tuple[F64, F64]:
        p = self.p
        c, k = p.n_classes, len(active)
        W_eff, b_eff = p.folded(theta)
        d = W_eff.shape[1]
        Wcat = self.scratch.get("W", (d, k * c), self.dtype)  # (d, k*c), this call's only
        np.copyto(Wcat.reshape(d, k, c), W_eff.transpose(1, 0, 2), casting="same_kind")
        b = b_eff.astype(self.dtype)
        sums = _Sums(k, c, d)
        for block, pos in _evaluated(self.blocks, active, len(p.weights)):
            if pos.size == k:
                W_b, b_b = Wcat, b
            else:
                W_b = np.take(Wcat.reshape(d, k, c), pos, axis=1).reshape(d, pos.size * c)
                b_b = b[pos]
            part = self._part(block, W_b, b_b, block.weights[:, active[pos]],
                              reuse=len(self.blocks) == 1)
            sums.add(part, pos)
        return _finish(p, theta, active, sums.result(), W_eff, b_eff, self.true_rows,
                       self.true_weights, out, self.per_row)

    def _part(self, block: _Block, Wcat: Any, b: Any, S: Any,
              reuse: bool = False) -> tuple[F64, F64, F64]:
        """One block's share of the objective (k,), of the weights' gradient (k, c, d) and of
        the intercepts' gradient (k, c), but for the true classes' (:func:`true_class_sums`):
        the rows' weighted log-sum-exp and the weighted probabilities' products.

        The logits, and then their gradient, are worked in one array kept for the next call.
        ``reuse``: a sparse X's gradient product also goes into an array kept for the next call
        (the gradient returned is then a view of it, valid until the next call), on the
        product's threads: for a problem of one block, whose part is used before the next
        block's is made."""
        X = block.X
        n, k = X.shape[0], S.shape[1]
        c, d = len(b[0]), X.shape[1]
        is_sparse = hasattr(X, "tocsr")
        # the logits go into a reused array: no fresh (n, k*c) array to fault in each call
        G = self.scratch.room("Z", (n, k * c), self.dtype)
        if is_sparse:
            sparse_product(X, Wcat, G, threads=self.threads if reuse else 1)
        else:
            np.matmul(X, Wcat, out=G)
        Z = G.reshape(n, k, c)
        top = _top(G, b)
        if top is not None:  # one shift for the whole block (LOGIT_SPAN), with the intercepts
            np.add(Z, b - top, out=Z)
            shift = None
        else:
            Z += b
            shift = _over_classes(np.maximum, Z)
            Z -= shift[:, :, None]
            if self.per_row:  # the true classes' shifted logits, before the floor
                true = np.take_along_axis(G, np.arange(k) * c + block.codes[:, None], axis=1)
            np.maximum(G, LOGIT_FLOOR, out=G)
        np.exp(G, out=G)
        # the sum over each row's classes as a product with ones: one pass (BLAS's gemv), where
        # NumPy's reduction over a short last axis costs several times more; the (n, k) arrays
        # are reused from call to call, as the logits are: an array above malloc's threshold is
        # mapped afresh and faulted in at each use otherwise
        total = self.scratch.room("nk-1", (n, k), G.dtype)
        np.matmul(G.reshape(n * k, c), np.ones(c, G.dtype), out=total.reshape(-1))
        lse = np.log(total, out=self.scratch.room("nk-2", (n, k), G.dtype))
        if self.per_row:
            lse -= true  # each row's loss, its two terms rounded alike
        elif shift is not None:
            lse += shift
        f = np.einsum("nk,nk->k", S, lse, dtype=np.float64)
        if top is not None:
            f += top * S.sum(axis=0, dtype=np.float64)
        scale = np.divide(S, total, out=total)  # the rows' weights over their sums
        if c <= SCALE_LOOP:  # probabilities times the rows' weights, a class at a time
            for j in range(c):
                np.multiply(Z[..., j], scale, out=Z[..., j])
        else:
            Z *= scale[:, :, None]
        if is_sparse:  # X.T @ G, into a reused (d, k*c) array when it may be
            gW = (sparse_product(X, G, self.scratch.get("gW", (d, k * c), X.dtype), True,
                                 self.threads, self._partials((d, k * c), X.dtype))
                  if reuse else np.asarray(X.T @ G))
            gW = gW.reshape(d, k, c).transpose(1, 2, 0)
        else:  # G.T @ X, (k*c, d): the faster BLAS layout for a tall X (the same product)
            gW = (G.T @ X).reshape(k, c, d)
        return f, gW, G.sum(axis=0, dtype=np.float64).reshape(k, c)


# Rows a chunk of true_class_sums: a class's rows of a chunk are copied for its product (Fashion-
# MNIST float32: about 2.5 MB at a time, where a whole class's rows took 19 MB of a fit's peak).
CLASS_SUM_ROWS = 8192


def true_class_sums(p: Problem, product: Any = None) -> tuple[F64, F64]:
    """Each model's weighted rows of X summed over each class, (K, d, c), and its row weights
    summed so, (K, c): the true classes' share of the objective, which is linear in the
    parameters.

    A row's cross-entropy is its log-sum-exp minus its true class's logit. Summed with the
    model's row weights ``s``, the second term is ``sum_j M_j . w_j + m_j b_j`` with
    ``M_j = sum over rows of class j of s_i x_i`` and ``m_j`` their weights' sum: its gradient
    is ``M`` and ``m`` themselves, whatever the parameters. The objective subtracts them once a
    call, where taking each row's true logit and subtracting the one-hot from its gradient cost
    two indexed passes over the (rows, models) logits a call. Made once, by one product a
    class over each :data:`CLASS_SUM_ROWS` rows (the class's rows of them are copied: a few MB
    at a time); ``product(rows, s)``, when given, makes it (``s @ X[rows]``, (K, d) float64)
    on another backend.
    """
    X, K, c, n = p.X, len(p.weights), p.n_classes, len(p.codes)
    M, m = np.zeros((K, p.n_features, c)), np.zeros((K, c))
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    for start in range(0, n, CLASS_SUM_ROWS):
        codes = p.codes[start:start + CLASS_SUM_ROWS]
        for j in np.unique(codes):
            rows = start + np.flatnonzero(codes == j)
            s = p.weights[:, rows]
            m[:, j] += s.sum(axis=1)
            if product is not None:
                M[:, :, j] += product(rows, s)
            elif hasattr(X, "tocsr"):
                M[:, :, j] += np.asarray(X[rows].T @ s.T.astype(dtype)).T
            else:
                M[:, :, j] += s.astype(dtype) @ X[rows]
    return M, m


class TorchObjective:
    """Loss and gradient with torch on ``device``; X is moved there once."""

    def __init__(self, problem: Problem, torch: Any, device: str) -> None:
        self.p, self.torch, self.device = problem, torch, device
        with warnings.catch_warnings():  # X is only read: a read-only array (a pandas 3
            # frame's, a memmap) is shared as it is, without torch's warning about writes
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.X = torch.as_tensor(problem.X, device=device)  # no copy for a CPU array
        self.dtype = self.X.dtype
        codes = torch.as_tensor(problem.codes, device=device, dtype=torch.long)

        def take(s: int, e: int) -> tuple[Any, Any, Any]:
            weights = torch.as_tensor(np.ascontiguousarray(problem.weights[:, s:e].T),
                                      device=device, dtype=self.dtype)
            return self.X[s:e], codes[s:e], weights

        self.blocks = _blocks(problem, take)

        def product(rows: npt.NDArray[np.intp], s: F64) -> F64:  # on the device
            on = torch.as_tensor(rows, device=device)
            sums = torch.as_tensor(s, device=device, dtype=self.dtype) @ self.X[on]
            return sums.double().cpu().numpy()  # type: ignore[no-any-return]

        self.true_rows, self.true_weights = true_class_sums(problem, product)
        self.per_row = per_row(np.float32 if self.dtype == torch.float32 else np.float64)

    def __call__(self, theta: F64, active: npt.NDArray[np.intp],
                 out: F64 | None = None) -> tuple[F64, F64]:
        """Objective (k,) and gradient (k, p) of the models ``active`` at ``theta`` (k, p);
        the gradient is written into ``out`` when it is given (and of its shape)."""
        t, p = self.torch, self.p
        c, k = p.n_classes, len(active)
        W_eff, b_eff = p.folded(theta)
        d = W_eff.shape[1]
        # (k*c, d) rows, used transposed: X @ W.T with W row-major is about 1.6x faster than
        # X @ W with W (d, k*c) on the CPU (MKL, 60000 x 784 by 10: 21.6 ms against 34.6 ms)
        Wrows = t.as_tensor(np.ascontiguousarray(W_eff.transpose(0, 2, 1).reshape(k * c, d)),
                            device=self.device, dtype=self.dtype)  # (k*c, d)
        b = t.as_tensor(b_eff, device=self.device, dtype=self.dtype)
        sums = _Sums(k, c, d)
        for block, pos in _evaluated(self.blocks, active, len(p.weights)):
            if pos.size == k:
                W_b, b_b = Wrows, b
            else:
                sel = t.as_tensor(pos, device=self.device)
                W_b = Wrows.view(k, c, d).index_select(0, sel).view(-1, d)
                b_b = b.index_select(0, sel)
            S = block.weights[:, t.as_tensor(active[pos], device=self.device)]  # (n, kb)
            sums.add(self._part(block, W_b, b_b, S), pos)
        return _finish(p, theta, active, sums.result(), W_eff, b_eff, self.true_rows,
                       self.true_weights, out, self.per_row)

    def _part(self, block: _Block, Wrows: Any, b: Any, S: Any) -> tuple[F64, F64, F64]:
        """One block's share of the objective (k,), of the weights' gradient (k, c, d) and of
        the intercepts' gradient (k, c), but for the true classes' (:func:`true_class_sums`)."""
        t = self.torch
        X = block.X
        n, k, c, d = X.shape[0], S.shape[1], b.shape[1], X.shape[1]
        G = (X @ Wrows.T).view(n, k, c)  # the logits, then their gradient, in one tensor
        G += b
        top = G.amax(dim=2, keepdim=True)  # (n, k, 1): each row's shift
        G -= top
        if self.per_row:  # the true classes' shifted logits, before the floor
            true = G.gather(2, block.codes.view(n, 1, 1).expand(n, k, 1)).squeeze(2)
        G.clamp_(min=LOGIT_FLOOR)  # no denormal probability (LOGIT_FLOOR)
        G.exp_()  # once: torch.logsumexp and then exp(Z - lse) took it twice
        # the sum over each row's classes as a product with ones (BLAS's gemv): torch's
        # reduction over a short last axis costs far more (569 x 50 x 2: 210 us against 25)
        ones = t.ones(c, dtype=G.dtype, device=G.device)
        total = t.mv(G.view(n * k, c), ones).view(n, k)
        # each row's loss, its two terms rounded alike (per_row); else all but the true share
        lse = total.log() - true if self.per_row else total.log() + top.squeeze(2)
        f = (S.double() * lse.double()).sum(0)
        G *= (S / total).unsqueeze(2)  # the probabilities times the rows' weights
        # G.T @ X, (k*c, d): several times faster on the CPU than X.T @ G for a tall X
        gW = _gradient_product(t, G.view(n, k * c), X).view(k, c, d)
        gb = G.sum(0, dtype=t.float64)
        return (f.cpu().numpy(), gW.double().cpu().numpy(), gb.cpu().numpy())


# On the CPU, MKL multiplies a narrow G.T by a tall X faster in blocks of rows that stay in
# cache: full Fashion-MNIST, 10 columns, 26.6 ms whole against 17.0 ms in blocks of 2,048 rows
# (8,192: 22.8 ms); 500 columns (a pack) gain nothing, nor does NumPy's OpenBLAS.
ROW_BLOCK, NARROW = 2048, 64


def _gradient_product(t: Any, G: Any, X: Any) -> Any:
    """``G.T @ X`` (m, d) for G (n, m), X (n, d): by row blocks for a narrow G on the CPU."""
    n, m = G.shape
    if X.device.type != "cpu" or m > NARROW or n <= ROW_BLOCK:
        return G.T @ X
    out = t.zeros((m, X.shape[1]), dtype=X.dtype)
    for s in range(0, n, ROW_BLOCK):
        out.addmm_(G[s:s + ROW_BLOCK].T, X[s:s + ROW_BLOCK])
    return out


def per_row(dtype: Any) -> bool:
    """Whether the objective's true-class share is taken row by row from the logits (float32)
    rather than as the linear term of :func:`true_class_sums` (float64).

    A row's loss is its log-sum-exp less its true logit. In float32 the logits are rounded by
    about 6e-8 of their size, so the linear term, exact, and a log-sum-exp of rounded logits
    differ by that much a row: on separable data with large weights (logits of 1e5) that is
    far more than the loss itself, and the objective came out negative (a fit followed the
    rounding to weights of 1e5). Taken from the same shifted logits, the two terms round alike
    and each row's loss stays at least 0. The gradient keeps the linear term in both cases (its
    rounding is relative to the probabilities, not to the logits)."""
    return bool(np.dtype(dtype) != np.float64)


def _finish(p: Problem, theta: F64, active: npt.NDArray[np.intp], sums: tuple[Any, Any, Any],
            W_eff: F64, b_eff: F64, M: F64, m: F64, out: F64 | None,
            f_whole: bool = False) -> tuple[F64, F64]:
    """The objective (k,) and gradient (k, p) of the models ``active`` from their blocks'
    summed ``(f, gW (k, c, d), gb (k, c))``: the true classes' share taken off (``M``, ``m``:
    :func:`true_class_sums` of every model; from the objective only when the blocks' ``f``
    lacks it: not ``f_whole``, see :func:`per_row`), the gradient unfolded into ``out`` and
    the penalty added."""
    f, gW, gb = sums
    k = len(active)
    if k != len(M):
        M, m = M[active], m[active]
    if not f_whole:
        f = f - dot(M.reshape(k, -1), W_eff.reshape(k, -1)) - dot(m, b_eff)
    # Adding one number to every intercept, or one vector to every class's weights, changes no
    # probability: the data's exact gradient sums to 0 over the classes, for the intercepts and
    # for each feature's weights (each row's probabilities sum to 1). Computed, it sums to the
    # rounding of those probabilities' sums, and along those directions the objective has no
    # curvature (the intercepts) or only the penalty's (the weights): on float32 products
    # (``f_whole``, the float32 rule) L-BFGS followed the rounding there, to intercepts of -2051
    # (directly, or through the centred coordinates' b = b' - m @ W) whose logits lost 1e-4
    # each to float32, and the fit stalled far from the optimum. There the data's share has its
    # mean over the classes taken off (the penalty's, exact, is added after); float64's
    # rounding is 1e-16, and its fits are left as they were.
    gb = gb - m
    if f_whole:
        gb -= gb.mean(axis=1, keepdims=True)
    grad = p.unfold(gW.transpose(0, 2, 1), gb, out, minus=M)
    if f_whole:  # the means by a product with 1/c (a mean over a short last axis is slower)
        c = p.n_classes
        gW_theta = grad[:, : p.n_features * c].reshape(k, p.n_features, c)
        gW_theta -= (gW_theta @ np.full(c, 1.0 / c))[:, :, None]
    return _penalise(p, theta, active, f, grad)


def _penalise(p: Problem, theta: F64, active: npt.NDArray[np.intp], f: F64,
              grad: F64) -> tuple[F64, F64]:
    """Add alpha/2 ||W||^2 to the objective and alpha W to the gradient (intercepts free)."""
    dc = p.n_features * p.n_classes
    alpha = p.alpha[active]
    W = theta[:, :dc]
    with np.errstate(over="ignore"):  # diverging SGD: refused by its caller, in one line
        f = f + 0.5 * alpha * dot(W, W)
    axpy(alpha, W, grad[:, :dc])
    return f, grad


# Rows of float32 X cast to float64 at a time by :func:`logits` (a block of 8 MiB at most).
LOGIT_BLOCK = 1 << 20


def logits(X: Any, W: Any, b: Any) -> Any:
    """Logits (n, c) of one model (W (d, c), b (c,)) on X (dense or CSR), in the promoted dtype
    of X and the model, as scikit-learn's ``X @ coef_.T`` promotes: a float64 model predicts
    float32 X in float64 (its weights cast down to float32 flipped labels of a model whose
    intercepts are large), and a float32 model float32 X in float32.

    Memory: float32 X times a float64 model needs float64 rows. A dense X is cast a block of
    rows at a time (:data:`LOGIT_BLOCK` values, 8 MiB), not whole; a sparse X's stored values
    are cast once (scipy's product), as many float64 values as it stores. The logits
    themselves are (n, c) float64, as scikit-learn's are.
    """
    dtype = np.result_type(X.dtype, W.dtype, b.dtype, np.float32)
    W, b = np.asarray(W, dtype), np.asarray(b, dtype)
    if hasattr(X, "tocsr") or X.dtype == dtype:
        return np.asarray(X @ W) + b
    n, d = X.shape
    out = np.empty((n, W.shape[1]), dtype)
    step = max(1, LOGIT_BLOCK // max(d, 1))
    for a in range(0, n, step):
        np.matmul(np.asarray(X[a:a + step], dtype), W, out=out[a:a + step])
    out += b
    return out


def log_softmax(Z: Any) -> Any:
    """Row-wise log-softmax by a max-shifted log-sum-exp."""
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
