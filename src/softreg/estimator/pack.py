"""A pack's loss and gradient on dense NumPy X, its logits laid out class-major.

:class:`softreg.estimator.objective.NumpyObjective` lays a block's logits out as (rows, models,
classes), the layout of ``X @ W``. Its reductions over each row's classes (the max, the sum)
and its scaling of each row's probabilities then run over a last axis of a few values, which
NumPy does slowly, element by element. Here the logits are (models, classes, rows), the
product ``W @ X.T``: a row's classes lie one row length apart, so the same reductions and
scalings are NumPy calls whose innermost loop runs along the rows, contiguous and vectorised.
X carries a column of ones, so that the intercepts are in the products (their gradient is the
last column of the second product): no pass adds them, none sums the gradient's columns.

Each row's logits are shifted by their own max, as in the float32 path of ``NumpyObjective``,
so that the objective's rounding is relative to each row's own logits, whatever their span, and
the true classes' shifted logits are taken from the same array (:func:`objective.per_row`).

It evaluates the packs whose products are float32
(:func:`softreg.estimator.prepare.class_major`): a pack on float32 X, and the first phase of
:class:`softreg.estimator.SoftmaxRegressionCV`'s folds on float64 X
(:func:`softreg.estimator.prepare.minimize`'s ``rough``). X is copied once, in the products'
dtype, with its ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator import kernels
from softreg.estimator.objective import (
    F64,
    LOGIT_FLOOR,
    Problem,
    _finish,
    quiet,
    row_blocks,
    true_class_sums,
)
from softreg.estimator.rows import Scratch

# What a block costs beyond its products and element-wise work, in multiply-adds of one
# feature (see plan): about 12 NumPy calls, 30 us on the 2-core machine; and what a logit's
# element-wise work costs in the same unit.
BLOCK_COST, LOGIT_COST = 400_000, 25
# The most entries (models x rows) of a block's kept index of its true classes' logits
# (int32: 4 MB); a larger block takes them along the class axis at each call (about 5x slower
# a value, digits' blocks: 44 us against 9 us).
INDEX_SIZE = 1 << 20


@dataclass
class _Block:
    """A run of rows ``start:stop`` and the active models that weigh them: their positions
    among the call's models (None: every one) and their row weights ``S`` (models, rows)."""

    start: int
    stop: int
    pos: npt.NDArray[np.intp] | None
    S: Any


class ClassMajorObjective:
    """Loss and gradient of the models of ``problem`` (dense X) with products in ``dtype``."""

    def __init__(self, problem: Problem, dtype: npt.DTypeLike | None = None,
                 true: tuple[F64, F64] | None = None) -> None:
        self.p = problem
        X = problem.X
        self.dtype = np.dtype(X.dtype if dtype is None else dtype)
        n, d = X.shape
        self.Xa = np.empty((n, d + 1), self.dtype)  # X and a column of ones
        self.Xa[:, :d] = X
        self.Xa[:, d] = 1
        self.runs = row_blocks(problem.weights)
        self.codes = problem.codes
        # the true classes' sums (:func:`true_class_sums`), or another objective's of the same
        # problem
        self.true_rows, self.true_weights = true_class_sums(problem) if true is None else true
        self.scratch = Scratch()
        # the compiled element-wise pass, where numba is there and switched on when the
        # objective is made, for a pack whose evaluations are large enough
        # (:func:`softreg.estimator.kernels.pays`)
        self.fast = kernels.pays(n * len(problem.weights) * problem.n_classes, kernels.LOGITS)
        self._index: dict[tuple[int, int], npt.NDArray[np.intp]] = {}
        self._plan: tuple[bytes, list[_Block], npt.NDArray[np.intp]] | None = None

    def plan(self, active: npt.NDArray[np.intp]) -> list[_Block]:
        """The blocks of a call on the models ``active``: the runs of rows that the same active
        models weigh, or one block of every row and active model when the runs' fixed cost is
        more than the held-out logits they save. Kept for the next call on the same models
        (L-BFGS evaluates the same running models call after call)."""
        key = active.tobytes()
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1]
        where = np.full(len(self.p.weights), -1)
        where[active] = np.arange(len(active))
        runs = []
        for s, e, models in self.runs:
            pos = where[models]
            pos = pos[pos >= 0]
            if pos.size:
                runs.append((s, e, pos))
        n, k = self.Xa.shape[0], len(active)
        if len(runs) > 1 or (runs and runs[0][2].size < k):
            used = sum((e - s) * len(pos) for s, e, pos in runs)
            thrown = (n * k - used) * self.p.n_classes * (self.Xa.shape[1] + LOGIT_COST)
            if thrown <= (len(runs) - 1) * BLOCK_COST:
                runs = [(0, n, np.arange(k))]
        weights = self.p.weights
        blocks = [_Block(s, e, None if pos.size == k else pos,
                         weights[active[pos], s:e].astype(self.dtype))
                  for s, e, pos in runs]
        # each model's place among each block's models, -1 where it weighs none of its rows
        place = np.full((k, len(runs)), -1, np.intp)
        for b, (_, _, pos) in enumerate(runs):
            place[pos, b] = np.arange(len(pos))
        self._plan = (key, blocks, place)
        return blocks

    def __call__(self, theta: F64, active: npt.NDArray[np.intp],
                 out: F64 | None = None) -> tuple[F64, F64]:
        """Objective (k,) and gradient (k, p) of the models ``active`` at ``theta`` (k, p);
        the gradient is written into ``out`` when it is given (and of its shape). An overflow
        gives non-finite values without NumPy's warnings (:func:`objective.quiet`)."""
        with quiet():
            return self._evaluate(theta, active, out)

    def _evaluate(self, theta: F64, active: npt.NDArray[np.intp],
                  out: F64 | None) -> tuple[F64, F64]:
        p = self.p
        c, k = p.n_classes, len(active)
        W_eff, b_eff = p.folded(theta)
        d = W_eff.shape[1]
        Wa = self.scratch.get("W", (k, c, d + 1), self.dtype)  # each class's row, its intercept
        np.copyto(Wa[:, :, :d], W_eff.transpose(0, 2, 1), casting="same_kind")
        np.copyto(Wa[:, :, d], b_eff, casting="same_kind")
        blocks = self.plan(active)
        if self.fast and not p.scaled:  # the blocks' shares summed and finished compiled
            return self._compiled(theta, active, out, blocks, Wa)
        if len(blocks) == 1 and blocks[0].pos is None:  # one block of every model: as it is
            f, g = self._part(0, blocks[0], Wa)
        else:  # the blocks' shares summed, in the products' dtype
            f = np.zeros(k)
            g = self.scratch.get("sum", (k, c, d + 1), self.dtype)
            g.fill(0)
            for i, block in enumerate(blocks):
                pos = block.pos
                f_b, g_b = self._part(i, block, Wa if pos is None else Wa[pos])
                if pos is None:
                    f += f_b
                    g += g_b
                else:
                    f[pos] += f_b
                    g[pos] += g_b
        return _finish(p, theta, active, (f, g[:, :, :-1], g[:, :, -1]), W_eff, b_eff,
                       self.true_rows, self.true_weights, out, True)

    def _compiled(self, theta: F64, active: npt.NDArray[np.intp], out: F64 | None,
                  blocks: list[_Block], Wa: Any) -> tuple[F64, F64]:
        """:meth:`_evaluate` with the compiled kernels on unstandardised X: each block's
        objective shares and gradient (its models' rows of ``G @ X``) into one array, summed
        for each model and finished (:func:`softreg.estimator.kernels.finish_blocks`)."""
        p = self.p
        k, c, d1 = Wa.shape
        most = max((len(Wa) if b.pos is None else len(b.pos) for b in blocks), default=0)
        F = self.scratch.get("F", (len(blocks), most), np.float64)
        G = self.scratch.get("GB", (len(blocks), most * c, d1), self.dtype)
        for i, block in enumerate(blocks):
            sub = Wa if block.pos is None else Wa[block.pos]
            self._part(i, block, sub, F[i, :len(sub)], G[i, :len(sub) * c])
        M, m = self.true_rows, self.true_weights
        if k != len(M):
            M, m = M[active], m[active]
        if out is None or out.shape != theta.shape:
            out = np.empty(theta.shape)
        assert self._plan is not None
        return kernels.finish_blocks(F, G, self._plan[2], M, m, theta, p.alpha[active], out)

    def _true(self, Z: Any, s: int, e: int) -> Any:
        """The true classes' entries (k, rows) of a block's logits Z (k, c, rows), rows s:e.

        Taken by a flat index ``m * c * rows + code * rows + row``, made once for the block's
        most models (fewer take its first rows), where it is at most :data:`INDEX_SIZE`
        entries; a larger block takes them along the class axis at each call instead (no
        index of models x rows kept for the whole fit)."""
        k, c, n = Z.shape
        if k * n > INDEX_SIZE:
            return np.take_along_axis(Z, self.codes[None, None, s:e], axis=1)[:, 0]
        index = self._index.get((s, e))
        if index is None or len(index) < k:
            most = max(k, min(len(self.p.weights), INDEX_SIZE // n))
            kind = np.int32 if most * c * n < 2**31 else np.intp
            index = self._index[(s, e)] = np.add.outer(
                np.arange(most, dtype=kind) * (c * n),
                (self.codes[s:e] * n + np.arange(n)).astype(kind))
        return np.take(Z.reshape(-1), index[:k])

    def _part(self, i: int, block: _Block, Wa: Any, f_out: F64 | None = None,
              g_out: Any = None) -> tuple[F64, Any]:
        """The ``i``-th block of a call (the models of ``Wa`` (k, c, d + 1)): its share of the
        objective (k,) with the true classes' logits, and of the gradient (k, c, d + 1), the
        intercepts' last, without the true classes' (their linear term,
        :func:`true_class_sums`, is taken off by ``_finish``); into ``f_out`` (k,) and
        ``g_out`` (k * c, d + 1) when they are given (the compiled path's)."""
        room = self.scratch.room
        k, c, d1 = Wa.shape
        s, e, S = block.start, block.stop, block.S
        X = self.Xa[s:e]
        n = e - s
        G = room("G", (k * c, n), self.dtype)
        np.matmul(Wa.reshape(k * c, d1), X.T, out=G)
        Z = G.reshape(k, c, n)
        if self.fast:  # one compiled pass for the rest
            f = kernels.class_major_softmax(Z, self.codes[s:e], S, {
                "total": room("lse", (k, n), self.dtype), "true": room("top", (k, n), self.dtype),
                "bits": room("bits", (k, n), kernels.bits(self.dtype)),
                "f": np.empty(k) if f_out is None else f_out})
        else:
            f = self._softmax(Z, s, e, S)
        gWa = self.scratch.get(f"gW-{i}", (k * c, d1), self.dtype) if g_out is None else g_out
        np.matmul(G, X, out=gWa)
        return f, gWa.reshape(k, c, d1)

    def _softmax(self, Z: Any, s: int, e: int, S: Any) -> F64:
        """A block's element-wise work in NumPy: Z (k, c, n) logits of rows ``s:e`` become each
        row's probabilities times its weight ``S`` (k, n), in place; returns the block's share
        of the objective (k,) (:func:`softreg.estimator.kernels.class_major_softmax` in
        numba)."""
        room = self.scratch.room
        k, c, n = Z.shape
        G = Z.reshape(k * c, n)
        top = room("top", (k, n), self.dtype)
        np.maximum.reduce(Z, axis=1, out=top)
        Z -= top[:, None, :]
        true = self._true(Z, s, e)  # (k, n)
        np.maximum(G, LOGIT_FLOOR, out=G)  # no denormal probability (LOGIT_FLOOR)
        np.exp(G, out=G)
        total = np.add.reduce(Z, axis=1, out=top)
        lse = np.log(total, out=room("lse", (k, n), self.dtype))
        lse -= true  # each row's loss, its two terms rounded alike
        f = np.einsum("kn,kn->k", S, lse, dtype=np.float64)
        scale = np.divide(S, total, out=total)  # the rows' weights over their sums
        Z *= scale[:, None, :]
        return f
