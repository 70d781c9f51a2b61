"""Compiled kernels (numba) for the hot loops of a pack's L-BFGS fit, where numba is there.

A pack evaluated class-major (:class:`softreg.estimator.pack.ClassMajorObjective`) spends,
beyond its two products, six element-wise NumPy passes over its logits, a gather of the true
classes' and the blocks' sums; L-BFGS's two-loop recursion and its update after an evaluation
over many small models are some 100 NumPy calls an iteration. Each is one compiled loop here,
with NumPy's results within float32's or float64's rounding (tests/estimator/test_kernels.py).
numba is optional (``pip install 'softreg[fast]'``): without it, with ``SOFTREG_NUMBA=0`` in
the environment, or for fits too small to pay numba's start (:func:`pays`), the NumPy code
runs, and fits give the same models within that rounding.

The kernels are compiled on their first call after an install (about 6 s on the 2-core
machine) and cached on disk beside this file (or in numba's user cache where that is not
writable); a new process then pays about 0.4 s for numba's import and their load.

Floating point: the loops may reassociate sums and contract multiply-adds, but keep
NaN and infinity as IEEE does (no ``nnan``/``ninf``), so that an overflowing trial's objective
comes out non-finite, as NumPy's does, and the line search rejects it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

# Fits smaller than these keep NumPy's code, and never import numba: an evaluation of fewer
# logits (rows x models x classes), a direction over fewer values (models x parameters x
# pairs). numba's start in a new process (its import and the kernels' load from its cache,
# about 0.4 s; their compilation, once after an install, a few seconds) is a cost such fits,
# whose NumPy passes take microseconds, would pay for a few ms at most (iris, wine and breast
# cancer, lone or cross-validated; digits alone). Decided by the problem's shape alone, so that
# a fit's result never depends on what ran before it in the process.
LOGITS = 1 << 17
PAIRS = 1 << 17


def pays(work: int, floor: int) -> bool:
    """Whether a kernel runs for ``work`` (logits of an evaluation, or values of a direction)
    against its ``floor`` (:data:`LOGITS`, :data:`PAIRS`): at least that much work, and
    :func:`enabled`."""
    return work >= floor and enabled()


def enabled() -> bool:
    """Whether the compiled kernels can run: numba imports and ``SOFTREG_NUMBA`` is not ``0``
    (read at each call: a fit reads it when it starts, in the process that runs it; joblib's
    workers keep the environment they started with)."""
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


def class_major_softmax(Z: Any, codes: Any, S: Any, work: dict[str, Any]) -> Any:
    """One block's element-wise work, in place: Z (k, c, n) float32 or float64 logits become
    each row's probabilities times its weight ``S`` (k, n), ``p * S / sum`` (the true classes'
    one-hot not taken off). Returns the block's share of each model's objective (k,) float64:
    its rows' log-sum-exp less their true logits, weighted, both relative to each row's max.

    ``work``: the (k, n) working arrays, "total" and "true" in Z's dtype, "bits" the integer
    of its width (:func:`bits`), and "f" (k,) float64, which is returned."""
    f = work["f"]
    kernel = (_compiled().class_major_softmax if Z.dtype == np.float32
              else _compiled().class_major_softmax64)
    kernel(Z, codes, S, f, work["total"], work["true"], work["bits"])
    return f


def bits(dtype: Any) -> Any:
    """The integer dtype of a float dtype's width: the kernels' working space for its bits."""
    return np.int32 if np.dtype(dtype) == np.float32 else np.int64


def two_loop(g: Any, S: Any, Y: Any, rho: Any, yy: Any, order: Any, q: Any, d: Any) -> Any:
    """L-BFGS's direction ``-H g`` of each model (row of g), into ``d``; see
    :func:`softreg.estimator.lbfgs._direction`, whose NumPy code it replaces."""
    return _compiled().two_loop(g, S, Y, rho, yy, order, q, d)


def finish_blocks(F: Any, G: Any, place: Any, M: Any, m: Any, theta: Any, alpha: Any,
                  out: Any) -> tuple[Any, Any]:
    """The objective (k,) and gradient (k, p) of a class-major pack on unstandardised X from its
    blocks' shares: :func:`softreg.estimator.objective._finish` with the blocks' sums, in one
    compiled pass.

    Args:
        F: (blocks, most) each block's objective shares, its models in order.
        G: (blocks, most * c, d + 1) each block's gradient shares (each model's c rows: a
            class's weights, then its intercept), float32 or float64.
        place: (k, blocks) each model's place among a block's models, -1 where it has none.
        M, m: (k, d, c) and (k, c) the true classes' sums (:func:`true_class_sums`).
        theta: (k, p) the parameters; alpha: (k,) the penalties.
        out: (k, p) float64, which receives the gradient.

    Returns:
        The objective (k,) and ``out``."""
    f = np.empty(len(place))
    _compiled().finish_blocks(F, G, place, M, m, theta, alpha, f, out)
    return f, out


def take(loc: Any, act: Any, trial: Any, ft: Any, gt: Any, mt: Any, state: tuple[Any, ...],
         result: tuple[Any, ...], limit: Any, first_gmax: Any, slot: int, whole: bool,
         consts: tuple[float, ...], onward: Any) -> tuple[int, int, int, bool]:
    """L-BFGS's update after an evaluation, compiled: each trial taken or backtracked from, its
    pair into the memory's ``slot``, the models that end; see
    :func:`softreg.estimator.lbfgs._minimize`, whose NumPy code it replaces, and
    ``_numba_kernels.take`` for the arguments. Returns (trials taken, trials rejected, rows
    written to ``onward``, whether the caller keeps the trials as the state's points)."""
    return _compiled().take(loc, act, trial, ft, gt, mt, state, result, limit,  # type: ignore
                            first_gmax, slot, whole, consts, onward)
