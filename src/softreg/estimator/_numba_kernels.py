"""The numba functions behind :mod:`softreg.estimator.kernels` (imported only through it: this
module imports numba, and fails where numba does not import)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from softreg.estimator.objective import LOGIT_FLOOR

# LLVM's fast-math flags that keep NaN and infinity as IEEE does: reassociation (sums
# vectorised), contraction (fused multiply-adds), and no sign of zero.
FAST = {"reassoc", "contract", "nsz"}
_F = np.float32
_FLOOR = _F(LOGIT_FLOOR)
# exp(x) = 2**-q * exp(r), q the integer nearest -x / ln 2 and r = x + q ln 2 in [-ln2/2, ln2/2];
# ln 2 in two parts (Cody and Waite), the first exact in float32 times any q below 2**9.
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693145751953125)
_LN2_LO = _F(1.4286068203094172e-06)
# 1/j! for j = 2..7: exp(r)'s series to r**7 (the next term, r**8/8!, is below 6e-9 there)
_C2, _C3, _C4 = _F(1 / 2), _F(1 / 6), _F(1 / 24)
_C5, _C6, _C7 = _F(1 / 120), _F(1 / 720), _F(1 / 5040)
_ONE = _F(1.0)
_BIAS = np.int32(127)  # float32's exponent bias; 2**-q is the float whose exponent bits are 127-q
_MANTISSA = np.int32(23)

_kernel = njit(fastmath=FAST, boundscheck=False, nogil=True, cache=True)


@_kernel
def _model_softmax(Z: Any, codes: Any, S: Any, total: Any, true: Any, top: Any,
                   bits: Any) -> None:  # pragma: no cover - compiled
    """One model's block: Z (c, n) -> p * S / sum in place; ``total`` (n,) the sums of the
    shifted exps, ``true`` (n,) the true logits less each row's max. ``top`` (n,) float32 and
    ``bits`` (n,) int32 are working space. Every loop runs along the rows (contiguous)."""
    c, n = Z.shape
    scale = bits.view(np.float32)  # 2**-q of the class at hand, made from its exponent bits
    for i in range(n):
        top[i] = Z[0, i]
    for j in range(1, c):
        for i in range(n):
            z = Z[j, i]
            if z > top[i]:
                top[i] = z
    for i in range(n):
        true[i] = Z[codes[i], i] - top[i]
        total[i] = 0.0
    for j in range(c):
        for i in range(n):
            x = Z[j, i] - top[i]
            if x < _FLOOR:  # NaN stays NaN: a non-finite trial keeps a non-finite objective
                x = _FLOOR
            q = np.int32(x * -_LOG2E + _F(0.5))  # x in [-50, 0]: q in [0, 73]
            fq = _F(q)
            r = x + fq * _LN2_HI + fq * _LN2_LO
            Z[j, i] = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (
                _C5 + r * (_C6 + r * _C7))))))
            bits[i] = (_BIAS - q) << _MANTISSA
        for i in range(n):
            e = Z[j, i] * scale[i]
            Z[j, i] = e
            total[i] += e
    for i in range(n):
        top[i] = S[i] / total[i]
    for j in range(c):
        for i in range(n):
            Z[j, i] *= top[i]


@_kernel
def class_major_softmax(Z: Any, codes: Any, S: Any, total: Any, true: Any,
                        bits: Any) -> None:  # pragma: no cover - compiled
    """:func:`_model_softmax` of each model of a block, Z (k, c, n); ``total``, ``true`` (k, n)
    out; ``bits`` (k, n) int32 working space."""
    k, n = Z.shape[0], Z.shape[2]
    top = np.empty(n, np.float32)
    for m in range(k):
        _model_softmax(Z[m], codes, S[m], total[m], true[m], top, bits[m])


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
