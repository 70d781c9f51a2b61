"""The numba functions behind :mod:`softreg.estimator.kernels` (imported only through it: this
module imports numba, and fails where numba does not import)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from softreg.estimator.objective import LOGIT_FLOOR

# LLVM's fast-math flags that keep NaN and infinity as IEEE does: reassociation (sums
# vectorised), contraction (fused multiply-adds), and no sign of zero.
FAST = {"reassoc", "contract", "nsz"}
_F = np.float32
_FLOOR = _F(LOGIT_FLOOR)
_FLOOR64 = np.float64(LOGIT_FLOOR)
# exp(x) = 2**-q * exp(r), q the integer nearest -x / ln 2 and r = x + q ln 2 in [-ln2/2, ln2/2];
# ln 2 in two parts (Cody and Waite), the first exact times any q that occurs (x >= -50: q <= 73).
# float32: exp(r)'s series to r**7 (the next term, r**8/8!, is below 6e-9 there); float64: to
# r**13 (r**14/14! below 5e-18).
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693145751953125)
_LN2_LO = _F(1.4286068203094172e-06)
_E32 = tuple(_F(1 / math.factorial(j)) for j in range(2, 8))
_LOG2E64 = 1.4426950408889634
_LN2_HI64 = 6.93147180369123816490e-01
_LN2_LO64 = 1.90821492927058770002e-10
_E64 = tuple(1 / math.factorial(j) for j in range(2, 14))
_ONE = _F(1.0)
_HALF = _F(0.5)
# a float's exponent bias and mantissa width: 2**-q is the float of exponent bits bias - q
_BIAS, _MANTISSA = np.int32(127), np.int32(23)
_BIAS64, _MANTISSA64 = np.int64(1023), np.int64(52)
_MANTISSA_BITS, _ONE_BITS = np.int32(0x007FFFFF), np.int32(0x3F800000)  # and 1.0's bits
_MANTISSA_BITS64, _ONE_BITS64 = np.int64(0x000FFFFFFFFFFFFF), np.int64(0x3FF0000000000000)
_LN2 = _F(0.6931471805599453)
_LN264 = 0.6931471805599453
# log(m), m in [1, 2): 2 atanh(s), s = (m - 1) / (m + 1) in [0, 1/3), by the series
# 2 sum s**(2j+1) / (2j+1): to s**13 in float32 (the next term is below 5e-9, the log's rounding
# 6e-8), to s**33 in float64 (below 3e-18)
_L32 = tuple(_F(1 / (2 * j + 1)) for j in range(1, 7))
_L64 = tuple(1 / (2 * j + 1) for j in range(1, 17))

_kernel = njit(fastmath=FAST, boundscheck=False, nogil=True, cache=True)
_inline = njit(fastmath=FAST, boundscheck=False, nogil=True, inline="always")


@_inline
def _max_and_true(Z: Any, codes: Any, top: Any, true: Any) -> None:  # pragma: no cover
    """Each row's max logit into ``top`` and its true logit less the max into ``true``; Z (c,
    n), every loop along the rows (contiguous). A NaN logit makes its row's max NaN, as NumPy's
    ``maximum`` does, and so the row's loss: an overflowing trial (``inf - inf`` in a product)
    is rejected, whichever class the NaN is in."""
    c, n = Z.shape
    for i in range(n):
        top[i] = Z[0, i]
    for j in range(1, c):
        for i in range(n):
            z = Z[j, i]
            if z > top[i] or z != z:
                top[i] = z
    for i in range(n):
        true[i] = Z[codes[i], i] - top[i]


@_inline
def _weigh(Z: Any, scale: Any) -> None:  # pragma: no cover - compiled
    """Z (c, n) times each row's ``scale`` (n,), in place."""
    c, n = Z.shape
    for j in range(c):
        for i in range(n):
            Z[j, i] *= scale[i]


@_kernel
def _model_softmax(Z: Any, codes: Any, S: Any, top: Any, total: Any, true: Any,
                   bits: Any) -> float:  # pragma: no cover - compiled
    """One model's block, float32: Z (c, n) -> p * S / sum in place; returns its share of the
    objective, the rows' weighted losses summed in float64. ``top``, ``total``, ``true`` (n,)
    float32 and ``bits`` (n,) int32 are working space."""
    c, n = Z.shape
    scale = bits.view(np.float32)  # a float made from the bits written just before
    _max_and_true(Z, codes, top, true)
    for j in range(c):
        for i in range(n):
            x = Z[j, i] - top[i]
            if x < _FLOOR:  # NaN stays NaN: a non-finite trial keeps a non-finite objective
                x = _FLOOR
            q = np.int32(x * -_LOG2E + _HALF)
            fq = _F(q)
            r = x + fq * _LN2_HI + fq * _LN2_LO
            c2, c3, c4, c5, c6, c7 = _E32
            Z[j, i] = _ONE + r * (_ONE + r * (c2 + r * (c3 + r * (c4 + r * (
                c5 + r * (c6 + r * c7))))))
            bits[i] = (_BIAS - q) << _MANTISSA
        for i in range(n):
            e = Z[j, i] * scale[i]
            Z[j, i] = e
            total[i] = e if j == 0 else total[i] + e
    sums = total.view(np.int32)  # log(sum) = k ln 2 + log(m), k and m from the sum's bits
    for i in range(n):
        b = sums[i]
        true[i] -= _F((b >> _MANTISSA) - _BIAS) * _LN2  # the row's loss less log(m), below
        bits[i] = (b & _MANTISSA_BITS) | _ONE_BITS
    f = 0.0
    for i in range(n):
        m = scale[i]
        t = (m - _ONE) / (m + _ONE)
        t2 = t * t
        l3, l5, l7, l9, l11, l13 = _L32
        log_m = _F(2.0) * t * (_ONE + t2 * (l3 + t2 * (l5 + t2 * (l7 + t2 * (
            l9 + t2 * (l11 + t2 * l13))))))
        f += np.float64(S[i]) * np.float64(log_m - true[i])
        top[i] = S[i] / total[i]  # the rows' weights over their sums
    _weigh(Z, top)
    return f


@_kernel
def _model_softmax64(Z: Any, codes: Any, S: Any, top: Any, total: Any, true: Any,
                     bits: Any) -> float:  # pragma: no cover - compiled
    """:func:`_model_softmax` in float64 (``bits`` int64): exp and log to float64's rounding."""
    c, n = Z.shape
    scale = bits.view(np.float64)
    _max_and_true(Z, codes, top, true)
    for j in range(c):
        for i in range(n):
            x = Z[j, i] - top[i]
            if x < _FLOOR64:
                x = _FLOOR64
            q = np.int64(x * -_LOG2E64 + 0.5)
            fq = np.float64(q)
            r = x + fq * _LN2_HI64 + fq * _LN2_LO64
            c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13 = _E64
            Z[j, i] = 1.0 + r * (1.0 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * (
                c7 + r * (c8 + r * (c9 + r * (c10 + r * (c11 + r * (c12 + r * c13))))))))))))
            bits[i] = (_BIAS64 - q) << _MANTISSA64
        for i in range(n):
            e = Z[j, i] * scale[i]
            Z[j, i] = e
            total[i] = e if j == 0 else total[i] + e
    sums = total.view(np.int64)
    for i in range(n):
        b = sums[i]
        true[i] -= np.float64((b >> _MANTISSA64) - _BIAS64) * _LN264
        bits[i] = (b & _MANTISSA_BITS64) | _ONE_BITS64
    f = 0.0
    for i in range(n):
        m = scale[i]
        t = (m - 1.0) / (m + 1.0)
        t2 = t * t
        (l3, l5, l7, l9, l11, l13, l15, l17, l19, l21, l23, l25, l27, l29, l31, l33) = _L64
        log_m = 2.0 * t * (1.0 + t2 * (l3 + t2 * (l5 + t2 * (l7 + t2 * (l9 + t2 * (l11 + t2 * (
            l13 + t2 * (l15 + t2 * (l17 + t2 * (l19 + t2 * (l21 + t2 * (l23 + t2 * (
                l25 + t2 * (l27 + t2 * (l29 + t2 * (l31 + t2 * l33))))))))))))))))
        f += S[i] * (log_m - true[i])
        top[i] = S[i] / total[i]
    _weigh(Z, top)
    return f


@_kernel
def class_major_softmax(Z: Any, codes: Any, S: Any, f: Any, total: Any, true: Any,
                        bits: Any) -> None:  # pragma: no cover - compiled
    """:func:`_model_softmax` on each model of a float32 block, Z (k, c, n); each model's share
    of the objective into ``f`` (k,) float64; ``total``, ``true`` (k, n) float32 and ``bits``
    (k, n) int32 are working space."""
    top = np.empty(Z.shape[2], np.float32)  # each row's max, then its scale
    for m in range(Z.shape[0]):
        f[m] = _model_softmax(Z[m], codes, S[m], top, total[m], true[m], bits[m])


@_kernel
def class_major_softmax64(Z: Any, codes: Any, S: Any, f: Any, total: Any, true: Any,
                          bits: Any) -> None:  # pragma: no cover - compiled
    """:func:`class_major_softmax` of a float64 block (``bits`` int64)."""
    top = np.empty(Z.shape[2])
    for m in range(Z.shape[0]):
        f[m] = _model_softmax64(Z[m], codes, S[m], top, total[m], true[m], bits[m])


@_kernel
def two_loop(g: Any, S: Any, Y: Any, rho: Any, yy: Any, order: Any, q: Any,
             d: Any) -> Any:  # pragma: no cover - compiled
    """L-BFGS's two-loop recursion for each row r of g (k, p): the pairs S, Y (memory, k, p),
    rho = 1/s.y (0: a pair kept out), yy = y.y (memory, k), taken newest first in ``order``;
    worked in q (k, p; the pairs' dtype), returned in d = -H g (k, p)."""
    k, p = g.shape
    m = order.shape[0]
    alpha = np.empty(m)
    for r in range(k):
        qr = q[r]
        for i in range(p):
            qr[i] = g[r, i]
        for jj in range(m):
            j = order[jj]
            s = S[j, r]
            acc = 0.0
            for i in range(p):
                acc += s[i] * qr[i]
            a = rho[j, r] * acc
            alpha[jj] = a
            y = Y[j, r]
            for i in range(p):
                qr[i] -= a * y[i]
        gamma = 1.0  # the newest pair kept scales the start: s.y / y.y
        for jj in range(m):
            j = order[jj]
            if rho[j, r] > 0:
                ry = rho[j, r] * yy[j, r]
                if ry > 0:
                    gamma = 1.0 / ry
                break
        for i in range(p):
            qr[i] *= gamma
        for jj in range(m - 1, -1, -1):
            j = order[jj]
            y = Y[j, r]
            acc = 0.0
            for i in range(p):
                acc += y[i] * qr[i]
            b = alpha[jj] - rho[j, r] * acc
            s = S[j, r]
            for i in range(p):
                qr[i] += b * s[i]
        for i in range(p):
            d[r, i] = -qr[i]
    return d


@_kernel
def finish_blocks(F: Any, G: Any, place: Any, M: Any, m: Any, theta: Any, alpha: Any, f: Any,
                  out: Any) -> None:  # pragma: no cover - compiled
    """:func:`softreg.estimator.kernels.finish_blocks`: for each model, its blocks' shares
    summed (the gradient's in float64), less the true classes' sums, the gradient's mean over
    the classes taken off (the float32 drift rule of ``_finish``), and the penalty added."""
    k, nb = place.shape
    c, d = m.shape[1], M.shape[1]
    acc = np.empty((c, d + 1))
    for r in range(k):
        acc[:] = 0.0
        total = 0.0
        for b in range(nb):
            t = place[r, b]
            if t < 0:
                continue
            total += F[b, t]
            for j in range(c):
                for i in range(d + 1):
                    acc[j, i] += G[b, t * c + j, i]
        mean = 0.0
        for j in range(c):
            mean += acc[j, d] - m[r, j]
        mean /= c
        for j in range(c):
            out[r, d * c + j] = acc[j, d] - m[r, j] - mean
        a = alpha[r]
        norm = 0.0
        for i in range(d):
            mean = 0.0
            for j in range(c):
                mean += acc[j, i] - M[r, i, j]
            mean /= c
            for j in range(c):
                w = theta[r, i * c + j]
                out[r, i * c + j] = acc[j, i] - M[r, i, j] - mean + a * w
                norm += w * w
        f[r] = total + 0.5 * a * norm


@_kernel
def take(loc: Any, act: Any, trial: Any, ft: Any, gt: Any, mt: Any, st: Any, res: Any,
         limit: Any, first_gmax: Any, slot: int, whole: bool, consts: Any,
         onward: Any) -> Any:  # pragma: no cover - compiled
    """The update after an evaluation of L-BFGS's running rows ``loc`` (models ``act``) at
    their trials: :func:`softreg.estimator.lbfgs._take`, whose NumPy code it replaces (see
    there). ``st``: the state's (theta, f, g, S, Y, rho, yy, running, d, step, slope, tries);
    ``res``: the result's (f, n_iter, converged, lost, theta); ``consts``: (tol, ftol, noise,
    ARMIJO, MAX_BACKTRACKS, STALL_SHARE, CURVATURE). Returns (trials taken, trials rejected,
    rows in ``onward``, whether the caller keeps ``trial`` and ``gt`` as the state's theta and
    g: every trial of the whole state taken, and nothing copied here)."""
    theta, f, g, S, Y, rho, yy, running, d, step, slope, tries = st
    r_f, r_iter, r_conv, r_lost, r_theta = res
    tol, ftol, noise, armijo_c, max_backtracks, stall_share, curvature = consts
    m, p = trial.shape
    accept = np.empty(m, np.bool_)
    armijo = np.empty(m, np.bool_)
    n_acc = 0
    for i in range(m):
        row = loc[i]
        fx = f[row]
        armijo[i] = ft[i] <= fx + armijo_c * step[row] * slope[row]
        gd = 0.0
        for k in range(p):
            gd += gt[i, k] * d[row, k]
        flat = (ft[i] <= fx + noise * abs(fx)) and abs(gd) <= 0.9 * abs(slope[row])
        accept[i] = np.isfinite(ft[i]) and (armijo[i] or flat)
        n_acc += accept[i]
    swap = whole and n_acc == m
    if n_acc:
        for i in range(m):
            rho[slot, loc[i]] = 0.0
    n_rej = 0
    n_on = 0
    for i in range(m):
        row, model = loc[i], act[i]
        done = False
        if accept[i]:
            s, y = S[slot, row], Y[slot, row]
            for k in range(p):  # stored in the pairs' dtype, and used as stored
                s[k] = trial[i, k] - theta[row, k]
                y[k] = gt[i, k] - g[row, k]
            sy = 0.0
            ss = 0.0
            y2 = 0.0
            for k in range(p):
                sy += np.float64(s[k]) * np.float64(y[k])
                ss += np.float64(s[k]) * np.float64(s[k])
                y2 += np.float64(y[k]) * np.float64(y[k])
            good = sy > curvature * np.sqrt(ss * y2)  # the angle between s and y
            rho[slot, row] = 1.0 / sy if good else 0.0
            yy[slot, row] = y2
            f_new = ft[i]
            stalled = (f[row] - f_new <= ftol * max(abs(f_new), 1.0)) and armijo[i]
            if not swap:
                f[row] = f_new
                for k in range(p):
                    theta[row, k] = trial[i, k]
                    g[row, k] = gt[i, k]
            r_f[model] = f_new
            r_iter[model] += 1
            done = mt[i] <= tol or stalled
            if stalled and mt[i] > tol and mt[i] > stall_share * first_gmax[model]:
                r_lost[model] = True  # float32's rounding hiding the descent: not converged
        else:  # backtrack: a safeguarded quadratic interpolation of the step
            n_rej += 1
            tries[row] += 1
            s_old, fail = step[row], ft[i]
            denom = 2.0 * (fail - f[row] - s_old * slope[row])
            quad = (-slope[row] * s_old * s_old / denom if np.isfinite(fail) and denom > 0
                    else 0.5 * s_old)
            step[row] = min(max(quad, 0.1 * s_old), 0.5 * s_old)
            if tries[row] >= max_backtracks:  # the floating-point floor: it ends
                r_iter[model] += 1
                done = True
                r_lost[model] = True
        if done:
            if not r_lost[model]:
                r_conv[model] = True
            running[row] = False
        elif running[row] and r_iter[model] >= limit[model]:
            running[row] = False
        if not running[row]:  # ended here: its parameters into the result
            for k in range(p):
                r_theta[model, k] = trial[i, k] if accept[i] else theta[row, k]
        elif accept[i]:
            onward[n_on] = row
            n_on += 1
    return n_acc, n_rej, n_on, swap
