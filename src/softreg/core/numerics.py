"""Numerically stable softmax, log-softmax, log-sum-exp and cross-entropy (NumPy only).

Why this module exists: ``log(softmax(z))`` computed naively overflows (``exp(89)`` is ``inf``
in float32) and underflows (``exp(-104)`` is ``0``, whose log is ``-inf``). Everything here
works from the logits instead. For each row, with ``m`` its largest entry and ``k`` the index of
(the first) one,

    log_softmax(z)_j = (z_j - m) - log1p(r),    r = sum over j != k of exp(z_j - m).

Every ``z_j - m`` is <= 0, so no exponential overflows; the two terms have the same sign, so
nothing cancels; and ``log1p(r)`` keeps the tiny loss of a confident correct prediction
(logits ``[40, 0]``, label 0: ``exp(-40)``, about 4.2e-18) where ``log(1 + r)`` would give 0.

Precision rules (all functions):

* float64 inputs are computed in float64 and return float64.
* float32 inputs are computed in float64 and rounded once to float32, so results are within a
  unit or so in the last place of the exact value; they return float32.
* float16 inputs are treated as float32 (the conversion is exact) and return **float32**: a
  float16 loss of a huge logit would overflow at 65504 and would carry only three digits.
* integer or boolean inputs (Python lists included) are converted to float64; other floating
  types (longdouble) are computed and returned in their own precision.

Extreme values follow what PyTorch's ``F.cross_entropy``, ``log_softmax``, ``softmax`` and
``logsumexp`` do (checked with torch 2.13; ``tests/test_numerics.py`` compares with torch
whenever it is installed):

* Finite logits never give NaN. Losses and log-probabilities are finite unless the exact
  value is itself beyond the largest float of the result type: the loss of a row whose logits
  span more than that (e.g. float32 ``[3e38, -3e38]`` with label 1: exact loss 6e38) rounds
  to ``+inf``, as torch's does. Rows of equal, huge logits are exact (``log C``).
* A true class whose logit is ``-inf`` (with some finite logit in the row) gives a loss of
  ``+inf``; other ``-inf`` entries just get probability 0.
* A row containing ``+inf`` or NaN, or whose entries are all ``-inf``, has no defined
  distribution: its softmax, log-softmax, loss and gradient are all NaN (``logsumexp`` gives
  ``+inf``, NaN and ``-inf`` respectively), and the NaN propagates into a "mean" or "sum"
  reduction; other rows are unaffected.
* An empty batch gives a NaN mean, a zero sum, and empty per-example losses and gradients.

Unlike torch, labels must be integer class indices in ``[0, C)``: there is no
``ignore_index`` (torch's -100) and no probability targets; anything else raises
:class:`~softreg.core.errors.ConfigError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError

FloatArray = npt.NDArray[np.floating[Any]]
REDUCTIONS = ("mean", "sum", "none")

_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet(func: _F) -> _F:
    """Run ``func`` with NumPy floating-point warnings off (a fresh errstate per call).

    What they would report is expected and handled: ``z - m`` overflowing to -inf (exp gives
    the right 0), exp underflowing to 0, a result beyond float32 rounding to inf, inf - inf
    and 0/0 in rows that are NaN by the documented rule.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            return func(*args, **kwargs)

    return cast(_F, wrapper)


class _Parts(NamedTuple):
    """Stable pieces of a softmax along ``axis`` (kept dims), in the computation dtype."""

    shifted: FloatArray  # z - m, <= 0 in rows with a finite maximum
    expd: FloatArray  # exp(z - m); exactly 1 at the first maximum
    rest: FloatArray  # sum of expd except the first maximum (keepdims)
    top: npt.NDArray[np.intp]  # index of the first maximum (keepdims)
    bad: npt.NDArray[np.bool_]  # rows whose maximum is +inf, -inf or NaN (keepdims)


def _dtypes(x: npt.ArrayLike) -> tuple[FloatArray, np.dtype[Any]]:
    """Return ``x`` as an array in the computation dtype, and the result dtype."""
    arr = np.asarray(x)
    if arr.dtype == np.float64 or arr.dtype == np.float32 or arr.dtype == np.float16:
        out = np.dtype(np.float64) if arr.dtype == np.float64 else np.dtype(np.float32)
        return arr.astype(np.float64, copy=False), out
    if np.issubdtype(arr.dtype, np.floating):  # e.g. longdouble: keep its precision
        return arr, arr.dtype
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ConfigError(f"logits must be real numbers, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64), np.dtype(np.float64)


def _parts(z: FloatArray, axis: int) -> _Parts:
    """Shift each slice along ``axis`` by its maximum and split off the maximal term."""
    if z.ndim == 0 or z.shape[axis] == 0:
        raise ConfigError(
            f"softmax needs at least one entry along axis {axis}, got shape {z.shape}"
        )
    top = np.argmax(z, axis=axis, keepdims=True)  # NaN counts as the maximum, like np.max
    m = np.take_along_axis(z, top, axis=axis)
    bad = ~np.isfinite(m)
    shifted = z - np.where(bad, 0.0, m) if bad.any() else z - m
    expd = np.exp(shifted)
    np.put_along_axis(expd, top, 0.0, axis=axis)
    rest = expd.sum(axis=axis, keepdims=True)
    np.put_along_axis(expd, top, 1.0, axis=axis)
    return _Parts(shifted, expd, rest, top, bad)


def _nan_rows(values: FloatArray, bad: npt.NDArray[np.bool_]) -> FloatArray:
    """Set every entry of the flagged rows to NaN (the PyTorch rule), in place."""
    if bad.any():
        np.copyto(values, np.nan, where=np.broadcast_to(bad, values.shape))
    return values


@_quiet
def logsumexp(x: npt.ArrayLike, axis: int = -1) -> FloatArray:
    """``log(sum(exp(x)))`` along ``axis`` without overflow.

    Args:
        x: array of any shape with at least one entry along ``axis``.
        axis: the axis to reduce.

    Returns:
        The reduced array (``axis`` removed) in the result dtype of the module rules. A slice
        containing NaN gives NaN, one containing ``+inf`` gives ``+inf``, one that is all
        ``-inf`` gives ``-inf`` (as ``torch.logsumexp``).

    Raises:
        ConfigError: ``x`` is not numeric, or has no entry along ``axis``.
    """
    z, out_dtype = _dtypes(x)
    p = _parts(z, axis)
    m = np.take_along_axis(z, p.top, axis=axis)
    res = np.where(p.bad, m, m + np.log1p(p.rest))
    return np.squeeze(res, axis=axis).astype(out_dtype, copy=False)


@_quiet
def log_softmax(logits: npt.ArrayLike, axis: int = -1) -> FloatArray:
    """Log-probabilities ``z - logsumexp(z)`` along ``axis``, computed as (z - m) - log1p(r).

    Args:
        logits: array of any shape with at least one entry along ``axis``.
        axis: the class axis.

    Returns:
        An array of the input's shape (result dtype of the module rules). Entries are <= 0;
        a ``-inf`` logit gives ``-inf``; slices with ``+inf``, NaN or only ``-inf`` are NaN.

    Raises:
        ConfigError: ``logits`` is not numeric, or has no entry along ``axis``.
    """
    z, out_dtype = _dtypes(logits)
    p = _parts(z, axis)
    res = p.shifted - np.log1p(p.rest)
    return _nan_rows(res, p.bad).astype(out_dtype, copy=False)


@_quiet
def softmax(logits: npt.ArrayLike, axis: int = -1) -> FloatArray:
    """Probabilities ``exp(z) / sum(exp(z))`` along ``axis``, for reporting (not for losses).

    Args:
        logits: array of any shape with at least one entry along ``axis``.
        axis: the class axis.

    Returns:
        An array of the input's shape (result dtype of the module rules), entries in [0, 1]
        summing to 1 along ``axis``; slices with ``+inf``, NaN or only ``-inf`` are NaN.

    Raises:
        ConfigError: ``logits`` is not numeric, or has no entry along ``axis``.
    """
    z, out_dtype = _dtypes(logits)
    p = _parts(z, axis)
    res = p.expd / (1.0 + p.rest)
    return _nan_rows(res, p.bad).astype(out_dtype, copy=False)


def _check_labels(labels: npt.ArrayLike, num_rows: int, num_classes: int) -> npt.NDArray[Any]:
    """Return ``labels`` as an integer array of shape (N,) with values in [0, C), or raise."""
    y = np.asarray(labels)
    if not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(
            f"labels must be integer class indices, got dtype {y.dtype}; convert them with "
            ".astype(np.int64) (probability targets are not supported)"
        )
    if y.shape != (num_rows,):
        raise ConfigError(
            f"labels must have shape ({num_rows},) to match the logits, got {y.shape}"
        )
    if num_rows and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)]
        raise ConfigError(
            f"labels must be in [0, {num_classes}) for {num_classes} classes, got {bad[0]} "
            f"({bad.size} label(s) out of range)"
        )
    return y


def _prepare(logits: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[FloatArray, Any, np.dtype[Any]]:
    z, out_dtype = _dtypes(logits)
    if z.ndim != 2:
        raise ConfigError(
            f"logits must be a 2-D array (batch, classes), got shape {z.shape}"
        )
    if z.shape[1] == 0:
        raise ConfigError("logits must have at least one class (column), got shape (N, 0)")
    y = _check_labels(labels, z.shape[0], z.shape[1])
    return z, y[:, None], out_dtype  # labels as (N, 1) for take_along_axis


def _losses(p: _Parts, y: npt.NDArray[Any]) -> FloatArray:
    """Per-example losses (N,): log1p(r) - (z_y - m); both terms are >= 0."""
    res = np.log1p(p.rest) - np.take_along_axis(p.shifted, y, axis=1)  # (N, 1)
    return _nan_rows(res, p.bad)[:, 0]


def _grad(p: _Parts, y: npt.NDArray[Any], count: int | None = None) -> FloatArray:
    """(softmax - one_hot) / N, with the true-class entry computed without cancellation."""
    total = 1.0 + p.rest  # (N, 1)
    g = p.expd / total  # (N, C)
    # p_y - 1 = -(sum of the other probabilities). When y is the first maximum that sum is
    # r / (1 + r), exact even when p_y rounds to 1; otherwise p_y <= 1/2 and p_y - 1 is safe.
    minus_rest = -p.rest / total
    py = np.take_along_axis(g, y, axis=1)
    np.put_along_axis(g, y, np.where(y == p.top, minus_rest, py - 1.0), axis=1)
    g /= max(g.shape[0] if count is None else count, 1)
    return _nan_rows(g, p.bad)


@_quiet
def cross_entropy(
    logits: npt.ArrayLike, labels: npt.ArrayLike, reduction: str = "mean"
) -> FloatArray:
    """Cross-entropy ``-log softmax(logits)[label]`` from the logits (never softmax-then-log).

    Args:
        logits: (N, C) array; dtype rules in the module docstring.
        labels: (N,) integer class indices in [0, C).
        reduction: ``"mean"`` (a 0-d array), ``"sum"`` (0-d) or ``"none"`` (N,) losses.

    Returns:
        The loss(es) in the result dtype. A row with a ``-inf`` true logit gives ``+inf``;
        rows with ``+inf``/NaN entries, or all ``-inf``, give NaN; an empty batch gives a NaN
        mean, a 0 sum and an empty array (all as PyTorch does).

    Raises:
        ConfigError: bad ``reduction``, logits not 2-D or without classes, labels not integer,
            of the wrong shape, or outside [0, C).

    Example:
        >>> cross_entropy([[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]], [1, 0], reduction="none")
        array([9.00012955, 3.06967329])
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(
            f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}"
        )
    z, y, out_dtype = _prepare(logits, labels)
    losses = _losses(_parts(z, 1), y)  # (N,)
    if reduction == "none":
        return losses.astype(out_dtype, copy=False)
    total = losses.sum()
    if reduction == "mean":
        total = total / losses.size if losses.size else np.float64(np.nan)
    return np.asarray(total, dtype=out_dtype)


@_quiet
def cross_entropy_grad(logits: npt.ArrayLike, labels: npt.ArrayLike) -> FloatArray:
    """Gradient of the mean cross-entropy with respect to the logits: (softmax - one_hot) / N.

    Args:
        logits: (N, C) array; dtype rules in the module docstring.
        labels: (N,) integer class indices in [0, C).

    Returns:
        (N, C) array in the result dtype. Rows with ``+inf``/NaN entries or only ``-inf`` are
        NaN (as torch's autograd gives); a ``-inf`` true logit gives ``-1/N`` there. An
        empty batch gives an empty (0, C) array.

    Raises:
        ConfigError: as :func:`cross_entropy`.
    """
    z, y, out_dtype = _prepare(logits, labels)
    return _grad(_parts(z, 1), y).astype(out_dtype, copy=False)


@_quiet
def cross_entropy_and_grad(
    logits: npt.ArrayLike, labels: npt.ArrayLike, count: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """Per-example losses (N,) and the mean-loss gradient (N, C) from one softmax pass.

    The training step of the NumPy backend uses this: the exponentials are computed once.
    Same rules, dtypes and errors as :func:`cross_entropy` and :func:`cross_entropy_grad`.
    With ``count`` the gradient is divided by ``count`` instead of N: the rows of several
    models' batches stacked together (a packed step), each the gradient of its own mean.
    """
    z, y, out_dtype = _prepare(logits, labels)
    p = _parts(z, 1)
    grad = _grad(p, y, count)
    return _losses(p, y).astype(out_dtype, copy=False), grad.astype(out_dtype, copy=False)
