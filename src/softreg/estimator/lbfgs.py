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

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Objective = Callable[[F64, npt.NDArray[np.intp]], tuple[F64, F64]]
GradMax = Callable[[F64, npt.NDArray[np.intp]], F64]


def _own_max(g: F64, idx: npt.NDArray[np.intp]) -> F64:
    return np.abs(g).max(axis=1)  # type: ignore[no-any-return]

ARMIJO = 1e-4
MAX_BACKTRACKS = 40


@dataclass
class Result:
    """Where each model of the pack ended."""

    theta: F64  # (K, p)
    f: F64  # (K,)
    n_iter: npt.NDArray[np.intp]  # (K,)
    converged: npt.NDArray[np.bool_]  # (K,) met tol or ftol (False: stopped by max_iter)
    n_evals: int = 0
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, f) of model 0


def minimize(fun: Objective, theta0: F64, *, tol: float, max_iter: int, memory: int = 10,
             ftol: float = 1e-12, noise: float = 0.0, verbose: int = 0,
             grad_max: GradMax | None = None) -> Result:
    """Minimise K objectives from ``theta0`` (K, p); ``fun(theta_sub, idx)`` evaluates a subset.

    ``noise`` is the relative error of an evaluated objective (float32 products: about 1e-6).
    Within it the objective cannot tell a better point from a worse one, so a step is also
    accepted when its objective is within the noise and the gradient along the direction has
    shrunk (the strong Wolfe curvature condition): near the optimum the gradient still guides
    where the objective's rounding no longer can.

    ``grad_max(g, idx)`` gives the largest gradient entry (k,) that ``tol`` is compared with,
    when the optimiser's coordinates are not the model's (:mod:`softreg.estimator.metric`);
    by default ``g``'s own.

    Returns:
        The final parameters, objectives, iteration counts and which models converged.
    """
    start = time.perf_counter()
    gmax = grad_max or _own_max
    K, p = theta0.shape
    theta = theta0.astype(np.float64, copy=True)
    every = np.arange(K)
    f, g = fun(theta, every)
    res = Result(theta, f, np.zeros(K, np.intp), np.zeros(K, bool), 1,
                 [(time.perf_counter() - start, float(f[0]))])
    S = np.zeros((memory, K, p))
    Y = np.zeros((memory, K, p))
    rho = np.zeros((memory, K))
    running = gmax(g, every) > tol
    res.converged[~running] = True
    for it in range(max_iter):
        act = np.flatnonzero(running)
        if act.size == 0:
            break
        d = _direction(g[act], S[:, act], Y[:, act], rho[:, act], it, memory)
        x_new, f_new, g_new, ok, noisy, evals = _line_search(
            fun, theta[act], f[act], g[act], d, act, first=it == 0, noise=noise)
        res.n_evals += evals
        slot = it % memory
        s, y = x_new - theta[act], g_new - g[act]
        sy = np.einsum("kp,kp->k", s, y)
        good = sy > 1e-10 * np.einsum("kp,kp->k", y, y)
        S[slot, act], Y[slot, act] = s, y
        rho[slot, act] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        decrease = f[act] - f_new
        theta[act], f[act], g[act] = x_new, f_new, g_new
        res.n_iter[act] += 1
        done = ((gmax(g_new, act) <= tol) | ~ok
                | ((decrease <= ftol * np.maximum(np.abs(f_new), 1.0)) & ~noisy))
        res.converged[act[done]] = True
        running[act[done]] = False
        if act[0] == 0:  # the trace follows model 0 while it runs
            res.trace.append((time.perf_counter() - start, float(f[0])))
        if verbose:
            print(f"lbfgs iter {it + 1}: {act.size} running, objective[0] {f[0]:.10g}, "
                  f"max|grad| {np.abs(g).max():.3g}")
    res.theta, res.f = theta, f
    return res


def _direction(g: F64, S: F64, Y: F64, rho: F64, it: int, memory: int) -> F64:
    """-H g by the two-loop recursion, each model with its own memory; (k, p)."""
    q = g.copy()
    order = [(it - 1 - j) % memory for j in range(min(it, memory))]  # newest first
    alphas = []
    for j in order:
        a = rho[j] * np.einsum("kp,kp->k", S[j], q)
        q -= a[:, None] * Y[j]
        alphas.append(a)
    gamma = np.ones(len(g))
    for j in order:  # scale by the newest pair with positive curvature
        yy = np.einsum("kp,kp->k", Y[j], Y[j])
        use = (rho[j] > 0) & (gamma == 1.0)
        gamma = np.where(use, 1.0 / np.where(use, rho[j] * yy, 1.0), gamma)
    q *= gamma[:, None]
    for j, a in zip(reversed(order), reversed(alphas), strict=True):
        beta = rho[j] * np.einsum("kp,kp->k", Y[j], q)
        q += (a - beta)[:, None] * S[j]
    return -q


def _line_search(fun: Objective, x: F64, f: F64, g: F64, d: F64, idx: npt.NDArray[np.intp],
                 first: bool, noise: float) -> tuple[F64, F64, F64, npt.NDArray[np.bool_],
                                                     npt.NDArray[np.bool_], int]:
    """Backtrack each model's step until Armijo holds (or, within the objective's noise, the
    curvature condition); returns x, f, g, ok, accepted-by-noise and evaluations."""
    slope = np.einsum("kp,kp->k", g, d)
    bad = slope >= 0  # not a descent direction (round-off): fall back to steepest descent
    d[bad] = -g[bad]
    slope[bad] = -np.einsum("kp,kp->k", g[bad], g[bad])
    step = np.ones(len(x))
    if first:
        step = 1.0 / np.maximum(np.linalg.norm(g, axis=1), 1e-300)
    x_new, f_new, g_new = x.copy(), f.copy(), g.copy()
    ok = np.zeros(len(x), bool)
    noisy = np.zeros(len(x), bool)
    todo = np.arange(len(x))
    evals = 0
    for _ in range(MAX_BACKTRACKS):
        trial = x[todo] + step[todo, None] * d[todo]
        ft, gt = fun(trial, idx[todo])
        evals += 1
        armijo = ft <= f[todo] + ARMIJO * step[todo] * slope[todo]
        flat = ((ft <= f[todo] + noise * np.abs(f[todo]))
                & (np.abs(np.einsum("kp,kp->k", gt, d[todo])) <= 0.9 * np.abs(slope[todo])))
        accept = np.isfinite(ft) & (armijo | flat)
        hit = todo[accept]
        noisy[todo[accept & ~armijo]] = True
        x_new[hit], f_new[hit], g_new[hit], ok[hit] = trial[accept], ft[accept], gt[accept], True
        todo = todo[~accept]
        if todo.size == 0:
            break
        s, fail = step[todo], ft[~accept]
        denom = 2.0 * (fail - f[todo] - s * slope[todo])
        quad = np.where(np.isfinite(fail) & (denom > 0), -slope[todo] * s * s / np.where(
            denom > 0, denom, 1.0), 0.5 * s)
        step[todo] = np.clip(quad, 0.1 * s, 0.5 * s)
    return x_new, f_new, g_new, ok, noisy, evals
