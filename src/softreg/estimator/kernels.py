"""Compiled kernels (numba) for the two hot loops of a pack's L-BFGS fit, where numba is there.

A pack evaluated class-major (:class:`softreg.estimator.pack.ClassMajorObjective`) spends,
beyond its two products, six element-wise NumPy passes over its logits and a gather of the true
classes'; L-BFGS's two-loop recursion over many small models is some 40 NumPy calls an
iteration. Each is one compiled loop here, with NumPy's results within float32's or float64's
rounding (tests/estimator/test_kernels.py). numba is optional (``pip install 'softreg[fast]'``):
without it, or with ``SOFTREG_NUMBA=0`` in the environment, the NumPy code runs, and fits give
the same models within that rounding.

The kernels are compiled on their first call in a process and cached on disk beside this file
(or in numba's user cache where that is not writable): the first fit after an install pays
about a second, the next processes a few ms to load them.

Floating point: the loops may reassociate sums and contract multiply-adds, but keep
NaN and infinity as IEEE does (no ``nnan``/``ninf``), so that an overflowing trial's objective
comes out non-finite, as NumPy's does, and the line search rejects it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np


def enabled() -> bool:
    """Whether the compiled kernels run: numba imports and ``SOFTREG_NUMBA`` is not ``0``
    (read at each call, so that a test or a user can switch them off in a running process)."""
    if os.environ.get("SOFTREG_NUMBA", "1").strip() == "0":
        return False
    return _compiled() is not None


@cache
def _compiled() -> Any:
    """The module of compiled kernels, or None where numba does not import (not installed, or
    a numba too old or too new for this NumPy: it raises ImportError then)."""
    try:
        from softreg.estimator import _numba_kernels
    except Exception:  # any failure of an optional accelerator: NumPy's path
        return None
    return _numba_kernels


def class_major_softmax(Z: Any, codes: Any, S: Any, work: dict[str, Any]) -> tuple[Any, Any]:
    """One block's element-wise work, in place: Z (k, c, n) float32 logits become each row's
    probabilities times its weight ``S`` (k, n), ``p * S / sum`` (the true classes' one-hot not
    taken off). Returns the rows' log-sum-exp (k, n) and their true logits (k, n), both
    relative to each row's max: a row's loss is their difference.

    ``work``: (k, n) arrays the kernel writes: "lse" and "true" float32, "bits" int32."""
    lse, true, bits = work["lse"], work["true"], work["bits"]
    _compiled().class_major_softmax(Z, codes, S, lse, true, bits)
    np.log(lse, out=lse)
    return lse, true


def two_loop(g: Any, S: Any, Y: Any, rho: Any, yy: Any, order: Any, q: Any, d: Any) -> Any:
    """L-BFGS's direction ``-H g`` of each model (row of g), into ``d``; see
    :func:`softreg.estimator.lbfgs._direction`, whose NumPy code it replaces."""
    return _compiled().two_loop(g, S, Y, rho, yy, order, q, d)
