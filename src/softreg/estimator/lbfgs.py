"""L-BFGS for a pack of K independent smooth convex problems evaluated together.

Each model has its own curvature memory, step and line search; only the evaluations are
shared, so a pack of K models costs one pass over X per evaluation, not K. A model leaves the
pack when its gradient's largest entry is at most ``tol`` (scikit-learn's lbfgs criterion), when
its objective stops decreasing (relative change under ``ftol``), or when its line search can no
longer decrease the objective (the floating-point floor, or a problem scaled beyond what the
line search reaches: then it has not converged, and its caller warns, as scikit-learn's lbfgs
does); the evaluations then cover the
models still running only.

The line search backtracks from the unit step (the first iteration starts at 1/||g||) with a
safeguarded quadratic interpolation until Armijo's sufficient-decrease condition holds. The
models' line searches share the evaluations: each one takes a trial of every running model,
the first of a new line search or a backtracking one, so a model that backtracks adds no call
of its own (SoftmaxRegressionCV's pack on digits: 33 calls where one line search at a time took
43, on breast cancer 108 where it took 142). A pair (s, y) with too little curvature is kept
out of the memory (its cosine at most :data:`CURVATURE`: a test of the angle between s and y,
the same at any scale of the data).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator import kernels
from softreg.estimator.rows import LONG_ROWS, Scratch, axpy, dot

F64 = npt.NDArray[np.float64]
# fun(theta, idx[, out]) -> objective (k,), gradient (k, p) (written into ``out`` when given),
# and the largest entry (k,) of the gradient that ``tol`` is compared with (the model's own,
# when the optimiser's coordinates are not the model's: :mod:`softreg.estimator.metric`)
Objective = Callable[..., tuple[F64, F64, F64]]


ARMIJO = 1e-4
# Trials of one line search before it is given up. Each backtracking step shrinks the step by
# 0.1-0.5; X of values near 1e15 needs about 45 (a first step 1e15 times too long).
MAX_BACKTRACKS = 60
# A fit whose objective stops decreasing while its gradient's largest entry is above tol and
# above this share of the first one's has not converged (see minimize).
STALL_SHARE = 1e-3
COMPACT = 0.75  # the state is compacted once fewer than this share of its models still run
# A pair (s, y) whose cosine is at most this is kept out of the memory (too little curvature).
CURVATURE = 1e-10


@dataclass
class Result:
    """Where each model of the pack ended."""

    theta: F64  # (K, p)
    f: F64  # (K,)
    n_iter: npt.NDArray[np.intp]  # (K,)
    converged: npt.NDArray[np.bool_]  # (K,) met tol or ftol (False: stopped by max_iter, or
    # by a line search that found no decrease with the gradient above tol: ``lost``)
    n_evals: int = 0
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, f) of model 0
    # (K,) ended, not converged, where no step lowered the objective (a line search that gave
    # up, or a stall with the gradient far above tol)
    lost: npt.NDArray[np.bool_] | None = None


@dataclass
class _State:
    """The running models' parameters, gradients, curvature pairs and line searches, rows in
    step.

    ``ids`` names each row's model. Each row has a trial point pending, ``theta + step * d``:
    the next evaluation takes every running row's, whether the row starts a line search along a
    new direction or backtracks along its last one, so a model's backtracking costs the others
    no evaluation of their own. The pairs are (memory, rows, p) and are never gathered per
    iteration (a gather of a pack's pairs copies them: 10 ms a pair array for 50 models of 7,850
    parameters); finished models stay in place until fewer than ``COMPACT`` of the rows run.
    """

    ids: npt.NDArray[np.intp]
    theta: F64
    f: F64
    g: F64
    S: F64
    Y: F64
    rho: F64  # (memory, rows) 1 / s.y, 0 for a pair kept out (or none made in that slot)
    yy: F64  # (memory, rows) y.y, for the initial scaling
    running: npt.NDArray[np.bool_]
    d: F64  # (rows, p) the line search's direction
    step: F64  # (rows,) the pending trial's step along it
    slope: F64  # (rows,) g.d at theta
    tries: npt.NDArray[np.intp]  # (rows,) trials rejected along d

    def keep(self, rows: npt.NDArray[np.intp], scratch: Scratch) -> _State:
        """The state of the models ``rows`` only. The pairs, the largest arrays, go into the one
        of two reused buffers that does not hold them now: a fresh copy of a pack's pairs is
        faulted in afresh (about 0.8 ms a compaction of digits' CV pack, against 0.1 ms)."""
        S, Y = (np.take(pairs, rows, axis=1, mode="clip",
                        out=_other(scratch, name, pairs, (len(pairs), len(rows), pairs.shape[2])))
                for name, pairs in (("S", self.S), ("Y", self.Y)))
        return _State(self.ids[rows], self.theta[rows], self.f[rows], self.g[rows], S, Y,
                      self.rho[:, rows], self.yy[:, rows], self.running[rows], self.d[rows],
                      self.step[rows], self.slope[rows], self.tries[rows])


def minimize(fun: Objective, theta0: F64, *, tol: float, max_iter: int | npt.NDArray[np.intp],
             memory: int = 10,
             ftol: float = 1e-12, noise: float = 0.0, verbose: int = 0,
             start: float | None = None, pairs: npt.DTypeLike = np.float64,
             own: bool = False) -> Result:
    """Minimise K objectives from ``theta0`` (K, p); ``fun(theta_sub, idx)`` evaluates a subset
    (its objectives, gradients and largest gradient entries: ``Objective``).

    ``noise`` is the relative error of an evaluated objective (float32 products: about 1e-6).
    Within it the objective cannot tell a better point from a worse one, so a step is also
    accepted when its objective is within the noise and the gradient along the direction has
    shrunk (the strong Wolfe curvature condition): near the optimum the gradient still guides
    where the objective's rounding no longer can.

    ``start`` is the ``time.perf_counter()`` that the trace's seconds count from (by default,
    this call's start; an estimator gives its ``fit``'s, so that the set-up counts).

    ``pairs`` is the dtype of the curvature pairs and of the two-loop recursion that reads them
    (the parameters, gradients and line search stay float64). float32 halves the pairs' memory
    and the recursion's passes over it, for models of millions of parameters whose products
    are float32 anyway.

    ``own``: ``theta0`` (float64) is the caller's to give away; it is worked in, not copied.

    ``max_iter``: the iterations each model may take, one for all or one each (K,).

    Each evaluation takes one trial point of every running model (:class:`_State`). The pairs
    of the trials taken go into the memory's next slot; a model of a pack whose trial is
    rejected where others' are taken keeps no pair in that slot, so its memory holds one pair
    fewer until the slot comes round again (a lone model's path is the one-line-search-at-a-
    time path, pair for pair).

    Returns:
        The final parameters, objectives, iteration counts and which models converged.
    """
    # The arithmetic of a trial whose values overflow (X near float64's limit: 1e306) gives
    # inf or NaN, which the search already answers: a non-finite objective rejects the trial,
    # a pair of non-finite curvature is kept out, and a model that can go no further ends
    # ``lost``, for its caller's one warning. NumPy's RuntimeWarnings about them said nothing
    # more (126 of them beside the ConvergenceWarning).
    with np.errstate(over="ignore", invalid="ignore"):
        return _minimize(fun, theta0, tol=tol, max_iter=max_iter, memory=memory, ftol=ftol,
                         noise=noise, verbose=verbose, start=start, pairs=pairs, own=own)


def _minimize(fun: Objective, theta0: F64, *, tol: float,
              max_iter: int | npt.NDArray[np.intp], memory: int, ftol: float, noise: float,
              verbose: int, start: float | None, pairs: npt.DTypeLike, own: bool) -> Result:
    """:func:`minimize`, NumPy's floating-point warnings aside."""
    start = time.perf_counter() if start is None else start
    K, p = theta0.shape
    limit = np.ascontiguousarray(np.broadcast_to(np.asarray(max_iter, np.intp), (K,)))
    theta = theta0 if own and theta0.dtype == np.float64 else theta0.astype(np.float64)
    scratch = Scratch()
    # the first gradient goes into one of the pair of arrays the trial gradients take turns in
    f, g, gmax = fun(theta, np.arange(K), scratch.room("g-b", theta.shape, np.float64))
    res = Result(theta, f, np.zeros(K, np.intp), np.zeros(K, bool), 1,
                 [(time.perf_counter() - start, float(f[0]))], np.zeros(K, bool))
    assert res.lost is not None
    first_gmax = np.asarray(gmax, np.float64)
    first = gmax > tol
    res.converged[~first] = True
    ids = np.flatnonzero(first)
    n = len(ids)
    # every model running (the usual start): the state starts from theta and g themselves
    x0, g0 = (theta, g) if n == K else (theta[ids], g[ids])
    st = _State(ids, x0, f[ids], g0, np.zeros((memory, n, p), pairs),
                np.zeros((memory, n, p), pairs), np.zeros((memory, n)), np.zeros((memory, n)),
                limit[ids] > 0, scratch.room("d-a", (n, p), np.float64), np.ones(n),
                np.zeros(n), np.zeros(n, np.intp))
    calls = 0  # evaluations that took some trial: the slots written
    fast = compiled(n, p, memory)
    consts = (tol, ftol, noise, ARMIJO, MAX_BACKTRACKS, STALL_SHARE, CURVATURE)
    _aim(st, np.arange(n), calls, memory, scratch, fast, first=True)
    while True:
        loc = np.flatnonzero(st.running)
        if loc.size == 0:
            break
        if loc.size < COMPACT * len(st.ids):
            st = st.keep(loc, scratch)
            loc = np.arange(len(st.ids))
        whole = loc.size == len(st.ids)
        act = st.ids[loc]
        if whole:  # the trial and its gradient into the pair of arrays not holding theta, g
            x, fx, gx, d, step, slope = st.theta, st.f, st.g, st.d, st.step, st.slope
            trial = np.multiply(d, step[:, None], out=_other(scratch, "x", st.theta))
            trial += x
            ft, gt, mt = fun(trial, act, _other(scratch, "g", st.g))
        else:
            x, fx, gx, d, step, slope = (a[loc] for a in (st.theta, st.f, st.g, st.d, st.step,
                                                          st.slope))
            trial = x + step[:, None] * d
            ft, gt, mt = fun(trial, act)
        res.n_evals += 1
        if fast:  # the update below, compiled
            onward = scratch.get("onward", (len(st.ids),), np.intp)
            n_acc, n_rej, n_on, swap = kernels.take(
                loc, act, trial, ft, gt, mt, (st.theta, st.f, st.g, st.S, st.Y, st.rho, st.yy,
                                              st.running, st.d, st.step, st.slope, st.tries),
                (res.f, res.n_iter, res.converged, res.lost, res.theta), limit, first_gmax,
                calls % memory, whole, consts, onward)
            if n_acc:
                calls += 1
            if swap:  # every trial taken: the new point kept as it is
                st.theta, st.f, st.g = trial, ft, gt
            if n_on:
                _aim(st, onward[:n_on].copy(), calls, memory, scratch, fast)
            _report(res, act, mt, n_rej, start, verbose)
            continue
        armijo = ft <= fx + ARMIJO * step * slope
        flat = (ft <= fx + noise * np.abs(fx)) & (np.abs(dot(gt, d)) <= 0.9 * np.abs(slope))
        accept = np.isfinite(ft) & (armijo | flat)
        done = np.zeros(loc.size, bool)  # ends here (met tol, stalled, or no step found)
        acc = np.flatnonzero(accept)
        slot = calls % memory
        if acc.size:  # a slot for the pairs of the trials taken; the other rows keep none
            calls += 1
            st.rho[slot, loc] = 0.0
        if acc.size == loc.size and whole:  # every trial taken: the pairs straight in
            s = np.subtract(trial, x, out=st.S[slot])
            y = np.subtract(gt, gx, out=st.Y[slot])
        elif acc.size:
            st.S[slot, loc[acc]] = trial[acc] - x[acc]
            st.Y[slot, loc[acc]] = gt[acc] - gx[acc]
            s, y = st.S[slot, loc[acc]], st.Y[slot, loc[acc]]  # as stored (float32: rounded)
        if acc.size:
            sy, yy = dot(s, y).astype(np.float64), dot(y, y).astype(np.float64)
            # enough curvature: the angle between s and y, not s.y against y.y, which is the
            # inverse curvature and so fell under any fixed share on data of large values
            # (iris times 3e5 rejected every pair: steepest descent, stalled at max_iter)
            good = sy > CURVATURE * np.sqrt(dot(s, s).astype(np.float64) * yy)
            st.rho[slot, loc[acc]] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
            st.yy[slot, loc[acc]] = yy
            f_new = ft[acc]
            stalled = ((fx[acc] - f_new <= ftol * np.maximum(np.abs(f_new), 1.0))
                       & armijo[acc])  # a step taken within the noise is no stall
            if acc.size == loc.size and whole:  # the new point kept as it is
                st.theta, st.f, st.g = trial, ft, gt
            else:
                st.theta[loc[acc]], st.f[loc[acc]], st.g[loc[acc]] = trial[acc], f_new, gt[acc]
            res.f[act[acc]] = f_new
            res.n_iter[act[acc]] += 1
            done[acc] = (mt[acc] <= tol) | stalled
            # a stall with the gradient still far from tol and from zero (above STALL_SHARE of
            # its start) is float32's rounding hiding the descent of a badly scaled problem,
            # not an optimum: it ends, not converged
            res.lost[act[acc[stalled & (mt[acc] > tol)
                             & (mt[acc] > STALL_SHARE * first_gmax[act[acc]])]]] = True
        rej = np.flatnonzero(~accept)
        if rej.size:  # backtrack: a safeguarded quadratic interpolation of the step
            lr = loc[rej]
            st.tries[lr] += 1
            s_old, fail = step[rej], ft[rej]
            denom = 2.0 * (fail - fx[rej] - s_old * slope[rej])
            quad = np.where(np.isfinite(fail) & (denom > 0), -slope[rej] * s_old * s_old
                            / np.where(denom > 0, denom, 1.0), 0.5 * s_old)
            st.step[lr] = np.clip(quad, 0.1 * s_old, 0.5 * s_old)
            lost = st.tries[lr] >= MAX_BACKTRACKS  # the floating-point floor: it ends
            res.n_iter[act[rej[lost]]] += 1
            done[rej[lost]] = True
            res.lost[act[rej[lost]]] = True  # its gradient is above tol: not converged
        res.converged[act[done & ~res.lost[act]]] = True
        st.running[loc[done]] = False
        res.theta[act[done]] = st.theta[loc[done]]
        spent = st.running[loc] & (res.n_iter[act] >= limit[act])
        st.running[loc[spent]] = False
        res.theta[act[spent]] = st.theta[loc[spent]]  # before a compaction drops the row
        onward = loc[acc[st.running[loc[acc]]]]
        if onward.size:
            _aim(st, onward, calls, memory, scratch, fast)
        _report(res, act, mt, rej.size, start, verbose)
    res.theta[st.ids] = st.theta  # the models stopped by max_iter (and the finished, again)
    return res


def compiled(k: int, p: int, memory: int) -> bool:
    """Whether a pack of ``k`` models of ``p`` parameters runs its direction and its update
    compiled (:mod:`softreg.estimator.kernels`): several models, rows shorter than
    ``rows.LONG_ROWS`` (whose NumPy calls cost more than their arithmetic; longer ones keep
    BLAS and the update's swap of arrays), and pairs enough to pay numba's start
    (:func:`softreg.estimator.kernels.pays`). A lone model keeps NumPy's: there the calls are
    few, and its rounding is the one its fits were checked with (a float32 fit of badly scaled
    X, iris times 1000, ends near or far from the optimum by rounding)."""
    return k > 1 and p < LONG_ROWS and kernels.pays(memory * k * p, kernels.PAIRS)


def _report(res: Result, act: npt.NDArray[np.intp], mt: F64, rejected: int, start: float,
            verbose: int) -> None:
    """The trace (model 0's objective while it runs) and the verbose line of an evaluation."""
    if act[0] == 0:
        res.trace.append((time.perf_counter() - start, float(res.f[0])))
    if verbose:
        print(f"lbfgs evaluation {res.n_evals}: {act.size} running, {rejected} backtracking, "
              f"objective[0] {res.f[0]:.10g}, "
              f"max|grad| {np.max(mt, initial=0.0, where=np.isfinite(mt)):.3g}")


def _aim(st: _State, rows: npt.NDArray[np.intp], calls: int, memory: int, scratch: Scratch,
         fast: bool, first: bool = False) -> None:
    """New directions for the state's ``rows`` (their trials just taken), their slopes, and
    their first trials' steps (1; the very first: 1/||g||)."""
    # every row (no gather), into a reused array
    d = _direction(st.g, st.S, st.Y, st.rho, st.yy, calls, memory,
                   scratch.get("q", st.g.shape, st.S.dtype), _other(scratch, "d", st.d), fast)
    if rows.size == len(st.ids):
        st.d = d
        g = st.g
    else:
        st.d[rows] = d[rows]
        d, g = st.d[rows], st.g[rows]
    slope = dot(g, d)
    bad = slope >= 0  # not a descent direction (round-off): fall back to steepest descent
    if bad.any():
        st.d[rows[bad]] = -g[bad]
        slope[bad] = -dot(g[bad], g[bad])
    st.slope[rows] = slope
    st.tries[rows] = 0
    st.step[rows] = 1.0 / np.maximum(np.sqrt(dot(g, g)), 1e-300) if first else 1.0


def _other(scratch: Scratch, name: str, current: F64,
           shape: tuple[int, ...] | None = None) -> F64:
    """A view of ``shape`` (default: ``current``'s), in ``current``'s dtype, into whichever of
    the reused buffers ``name``-a and ``name``-b does not hold ``current``: arrays that take
    turns (a trial and the point it replaces, the pairs before and after a compaction) without
    fresh memory, which is faulted in afresh at each use."""
    shape = current.shape if shape is None else shape
    a = scratch.room(name + "-a", shape, current.dtype)
    return (scratch.room(name + "-b", shape, current.dtype) if np.may_share_memory(a, current)
            else a)


def _direction(g: F64, S: F64, Y: F64, rho: F64, yy: F64, it: int, memory: int,
               q: Any, d: F64, fast: bool | None = None) -> F64:
    """-H g by the two-loop recursion, each model with its own memory, worked out in ``q``
    (k, p; the pairs' dtype) and returned in ``d`` (k, p; float64); ``fast``: compiled
    (:func:`softreg.estimator.kernels.two_loop`; digits' CV pack: 0.12 against 0.32 ms), by
    default where :func:`compiled` says so."""
    order = [(it - 1 - j) % memory for j in range(min(it, memory))]  # newest first
    if fast is None:
        fast = compiled(g.shape[0], g.shape[1], memory)
    if fast:
        return kernels.two_loop(g, S, Y, rho, yy, np.array(order, np.intp), q, d)
    np.copyto(q, g, casting="same_kind")
    alphas = []
    for j in order:
        a = rho[j] * dot(S[j], q)
        axpy(-a, Y[j], q)
        alphas.append(a)
    if order:  # scale by each model's newest pair with positive curvature (1 if it has none)
        kept = rho[order] > 0  # (pairs newest first, k)
        newest = np.argmax(kept, axis=0)
        ry = (rho * yy)[order][newest, np.arange(len(g))]
        gamma = np.where(kept.any(axis=0), 1.0 / np.where(ry > 0, ry, 1.0), 1.0)
        q *= gamma[:, None].astype(q.dtype)
    for j, a in zip(reversed(order), reversed(alphas), strict=True):
        beta = rho[j] * dot(Y[j], q)
        axpy(a - beta, S[j], q)
    return np.negative(q, out=d)
