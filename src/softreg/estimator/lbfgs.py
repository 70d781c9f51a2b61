"""L-BFGS for a pack of K independent smooth convex problems evaluated together.

Each model has its own curvature memory, step and line search; only the evaluations are
shared, so a pack of K models costs one pass over X per evaluation, not K. A model leaves the
pack when its gradient's largest entry is at most ``tol`` (scikit-learn's lbfgs criterion), when
its objective stops decreasing (relative change under ``ftol``), or when its line search can no
longer decrease the objective (the floating-point floor); the evaluations then cover the
models still running only.

The line search backtracks from the unit step (the first iteration starts at 1/||g||) with a
safeguarded quadratic interpolation until Armijo's sufficient-decrease condition holds. A pair
(s, y) with too little curvature is kept out of the memory, as in scipy's L-BFGS-B.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.estimator.rows import Scratch, absmax, axpy, dot

F64 = npt.NDArray[np.float64]
# fun(theta, idx[, out]) -> objective (k,), gradient (k, p) (written into ``out`` when given),
# and the largest entry (k,) of the gradient that ``tol`` is compared with (the model's own,
# when the optimiser's coordinates are not the model's: :mod:`softreg.estimator.metric`)
Objective = Callable[..., tuple[F64, F64, F64]]


ARMIJO = 1e-4
MAX_BACKTRACKS = 40
COMPACT = 0.75  # the state is compacted once fewer than this share of its models still run


@dataclass
class Result:
    """Where each model of the pack ended."""

    theta: F64  # (K, p)
    f: F64  # (K,)
    n_iter: npt.NDArray[np.intp]  # (K,)
    converged: npt.NDArray[np.bool_]  # (K,) met tol or ftol (False: stopped by max_iter)
    n_evals: int = 0
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, f) of model 0


@dataclass
class _State:
    """The running models' parameters, gradients and curvature pairs, rows in step.

    ``ids`` names each row's model. The pairs are (memory, rows, p) and are never gathered per
    iteration (a gather of a pack's pairs copies them: 10 ms a pair array for 50 models of 7,850
    parameters); finished models stay in place until fewer than ``COMPACT`` of the rows run.
    """

    ids: npt.NDArray[np.intp]
    theta: F64
    f: F64
    g: F64
    S: F64
    Y: F64
    rho: F64  # (memory, rows) 1 / s.y, 0 for a pair kept out
    yy: F64  # (memory, rows) y.y, for the initial scaling
    running: npt.NDArray[np.bool_]

    def keep(self, rows: npt.NDArray[np.intp], scratch: Scratch) -> _State:
        """The state of the models ``rows`` only. The pairs, the largest arrays, go into the one
        of two reused buffers that does not hold them now: a fresh copy of a pack's pairs is
        faulted in afresh (about 0.8 ms a compaction of digits' CV pack, against 0.1 ms)."""
        S, Y = (np.take(pairs, rows, axis=1, mode="clip", out=_spare(scratch, name, pairs,
                                                                      len(rows)))
                for name, pairs in (("S", self.S), ("Y", self.Y)))
        return _State(self.ids[rows], self.theta[rows], self.f[rows], self.g[rows], S, Y,
                      self.rho[:, rows], self.yy[:, rows], self.running[rows])


def minimize(fun: Objective, theta0: F64, *, tol: float, max_iter: int, memory: int = 10,
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

    Returns:
        The final parameters, objectives, iteration counts and which models converged.
    """
    start = time.perf_counter() if start is None else start
    K, p = theta0.shape
    theta = theta0 if own and theta0.dtype == np.float64 else theta0.astype(np.float64)
    every = np.arange(K)
    scratch = Scratch()
    # the first gradient goes into one of the pair of arrays the trial gradients take turns in
    f, g, gmax = fun(theta, every, scratch.get("g-b", theta.shape, np.float64))
    res = Result(theta, f, np.zeros(K, np.intp), np.zeros(K, bool), 1,
                 [(time.perf_counter() - start, float(f[0]))])
    first = gmax > tol
    res.converged[~first] = True
    ids = np.flatnonzero(first)
    n = len(ids)
    # every model running (the usual start): the state starts from theta and g themselves
    x0, g0 = (theta, g) if n == K else (theta[ids], g[ids])
    st = _State(ids, x0, f[ids], g0, np.zeros((memory, n, p), pairs),
                np.zeros((memory, n, p), pairs), np.zeros((memory, n)), np.zeros((memory, n)),
                np.ones(n, bool))
    for it in range(max_iter):
        loc = np.flatnonzero(st.running)
        if loc.size == 0:
            break
        if loc.size < COMPACT * len(st.ids):
            st = st.keep(loc, scratch)
            loc = np.arange(len(st.ids))
        whole = loc.size == len(st.ids)
        # every row (no gather), into an array reused each iteration: d dies with it
        d = _direction(st.g, st.S, st.Y, st.rho, st.yy, it, memory,
                       scratch.get("q", st.g.shape, st.S.dtype),
                       scratch.get("d", st.g.shape, np.float64))
        if whole:
            x, fx, gx = st.theta, st.f, st.g
        else:
            d, x, fx, gx = d[loc], st.theta[loc], st.f[loc], st.g[loc]
        act = st.ids[loc]
        # the whole pack's trial points and gradients go into the pair of arrays that does not
        # hold the current point and gradient (ping-pong): no fresh arrays as long as the model
        spare = (_other(scratch, "x", st.theta), _other(scratch, "g", st.g)) if whole else None
        x_new, f_new, g_new, gmax, ok, noisy, evals = _line_search(
            fun, x, fx, gx, d, act, first=it == 0, noise=noise, spare=spare)
        res.n_evals += evals
        slot = it % memory
        if whole:  # the new pair straight into its slot, and the new point kept as it is
            s, y = np.subtract(x_new, x, out=st.S[slot]), np.subtract(g_new, gx, out=st.Y[slot])
        else:
            st.S[slot, loc], st.Y[slot, loc] = x_new - x, g_new - gx
            s, y = st.S[slot, loc], st.Y[slot, loc]  # as stored (float32 pairs: rounded)
        sy, yy = dot(s, y).astype(np.float64), dot(y, y).astype(np.float64)
        good = sy > 1e-10 * yy
        st.rho[slot, loc] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        st.yy[slot, loc] = yy
        decrease = fx - f_new
        if whole:
            st.theta, st.f, st.g = x_new, f_new, g_new
        else:
            st.theta[loc], st.f[loc], st.g[loc] = x_new, f_new, g_new
        res.f[act] = f_new
        res.n_iter[act] += 1
        done = ((gmax <= tol) | ~ok
                | ((decrease <= ftol * np.maximum(np.abs(f_new), 1.0)) & ~noisy))
        res.converged[act[done]] = True
        st.running[loc[done]] = False
        res.theta[act[done]] = x_new[done]
        if act[0] == 0:  # the trace follows model 0 while it runs
            res.trace.append((time.perf_counter() - start, float(res.f[0])))
        if verbose:
            print(f"lbfgs iter {it + 1}: {act.size} running, objective[0] {res.f[0]:.10g}, "
                  f"max|grad| {absmax(g_new).max():.3g}")
    res.theta[st.ids] = st.theta  # the models stopped by max_iter (and the finished, again)
    return res


def _spare(scratch: Scratch, name: str, pairs: F64, rows: int) -> F64:
    """A (memory, rows, p) view of the reused buffer ``name``-a or ``name``-b that does not hold
    ``pairs`` (memory, more rows, p), in their dtype."""
    shape = (pairs.shape[0], rows, pairs.shape[2])
    a = scratch.room(name + "-a", shape, pairs.dtype)
    return scratch.room(name + "-b", shape, pairs.dtype) if np.shares_memory(a, pairs) else a


def _other(scratch: Scratch, name: str, current: F64) -> F64:
    """Of the two reused arrays ``name``-a and ``name``-b, the one that is not ``current``."""
    a = scratch.get(name + "-a", current.shape, np.float64)
    return scratch.get(name + "-b", current.shape, np.float64) if a is current else a


def _direction(g: F64, S: F64, Y: F64, rho: F64, yy: F64, it: int, memory: int,
               q: Any, d: F64) -> F64:
    """-H g by the two-loop recursion, each model with its own memory, worked out in ``q``
    (k, p; the pairs' dtype) and returned in ``d`` (k, p; float64)."""
    np.copyto(q, g, casting="same_kind")
    order = [(it - 1 - j) % memory for j in range(min(it, memory))]  # newest first
    alphas = []
    for j in order:
        a = rho[j] * dot(S[j], q)
        axpy(-a, Y[j], q)
        alphas.append(a)
    gamma = np.ones(len(g))
    for j in order:  # scale by the newest pair with positive curvature
        use = (rho[j] > 0) & (gamma == 1.0)
        gamma = np.where(use, 1.0 / np.where(use, rho[j] * yy[j], 1.0), gamma)
    q *= gamma[:, None].astype(q.dtype)
    for j, a in zip(reversed(order), reversed(alphas), strict=True):
        beta = rho[j] * dot(Y[j], q)
        axpy(a - beta, S[j], q)
    return np.negative(q, out=d)


def _line_search(fun: Objective, x: F64, f: F64, g: F64, d: F64, idx: npt.NDArray[np.intp],
                 first: bool, noise: float,
                 spare: tuple[F64, F64] | None = None) -> tuple[
                     F64, F64, F64, F64, npt.NDArray[np.bool_], npt.NDArray[np.bool_], int]:
    """Backtrack each model's step until Armijo holds (or, within the objective's noise, the
    curvature condition); returns x, f, g, the gradients' largest entries, ok,
    accepted-by-noise and evaluations. A model whose line search fails keeps x, f and g.
    ``spare``: arrays (the shape of x and g) that trials of every model are written into."""
    slope = dot(g, d)
    bad = slope >= 0  # not a descent direction (round-off): fall back to steepest descent
    d[bad] = -g[bad]
    slope[bad] = -dot(g[bad], g[bad])
    step = np.ones(len(x))
    if first:
        step = 1.0 / np.maximum(np.sqrt(dot(g, g)), 1e-300)
    ok = np.zeros(len(x), bool)
    noisy = np.zeros(len(x), bool)
    todo = np.arange(len(x))
    kept: tuple[F64, F64, F64, F64] | None = None  # made on the first partial acceptance
    evals = 0
    for _ in range(MAX_BACKTRACKS):
        every = todo.size == len(x)
        if every:  # into the spare array, or one new array (not two)
            trial = np.multiply(d, step[:, None], out=None if spare is None else spare[0])
            trial += x
            ft, gt, mt = (fun(trial, idx) if spare is None else fun(trial, idx, spare[1]))
        else:
            trial = x[todo] + step[todo, None] * d[todo]
            ft, gt, mt = fun(trial, idx[todo])
        evals += 1
        dt = d if every else d[todo]
        armijo = ft <= f[todo] + ARMIJO * step[todo] * slope[todo]
        flat = ((ft <= f[todo] + noise * np.abs(f[todo]))
                & (np.abs(dot(gt, dt)) <= 0.9 * np.abs(slope[todo])))
        accept = np.isfinite(ft) & (armijo | flat)
        noisy[todo[accept & ~armijo]] = True
        if every and accept.all():  # every model's first trial: nothing copied
            ok[:] = True
            return trial, ft, gt, mt, ok, noisy, evals
        hit = todo[accept]
        if hit.size:
            if kept is None:  # only once some model is done and others search on
                kept = (x.copy(), f.copy(), g.copy(), np.full(len(x), np.inf))
            for into, value in zip(kept, (trial, ft, gt, mt), strict=True):
                into[hit] = value[accept]
            ok[hit] = True
        todo = todo[~accept]
        if todo.size == 0:
            break
        s, fail = step[todo], ft[~accept]
        denom = 2.0 * (fail - f[todo] - s * slope[todo])
        quad = np.where(np.isfinite(fail) & (denom > 0), -slope[todo] * s * s / np.where(
            denom > 0, denom, 1.0), 0.5 * s)
        step[todo] = np.clip(quad, 0.1 * s, 0.5 * s)
    if kept is None:  # no model found a step
        kept = (x.copy(), f.copy(), g.copy(), np.full(len(x), np.inf))
    return (*kept, ok, noisy, evals)
