"""Row-wise vector operations on (k, p) float64 arrays: one row a model of a pack.

L-BFGS and the penalty spend their time in dot products and ``q += a * v`` over the models'
parameters. For long rows (a wide sparse model has millions of parameters) NumPy's
``q += a[:, None] * v`` writes and reads a temporary as long as the row; BLAS's axpy reads
``v`` and ``q`` once and writes ``q`` once. Short rows (a pack of many small models) are faster
as one vectorised NumPy expression than as a BLAS call per row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# From this many values a row, ``axpy`` calls BLAS once per row: on 1.3M values (a 65,536
# feature, 20 class model) L-BFGS's direction takes about 25 ms so, against 40 ms with NumPy.
LONG_ROWS = 1 << 16


def dot(a: F64, b: F64) -> F64:
    """Row-wise dot products (k,) of two (k, p) arrays."""
    if hasattr(np, "vecdot"):  # NumPy 2: about 2.5x faster than einsum on (50, 7850) rows
        return np.vecdot(a, b)  # type: ignore[no-any-return]
    return np.einsum("kp,kp->k", a, b)  # type: ignore[no-any-return]


def axpy(a: F64, v: F64, q: F64) -> None:
    """``q += a[:, None] * v`` in place (each row of ``q`` and ``v`` contiguous; ``q`` and
    ``v`` float64, or both float32)."""
    if q.shape[1] < LONG_ROWS:  # a in q's dtype: float64 times float32 makes a float64 temporary
        q += a.astype(q.dtype, copy=False)[:, None] * v
        return
    from scipy.linalg import blas

    kernel = blas.saxpy if q.dtype == np.float32 else blas.daxpy
    for r in range(len(q)):
        out = kernel(v[r], q[r], a=float(a[r]))
        if not np.shares_memory(out, q):  # f2py copied a row it could not update in place
            q[r] = out


def absmax(g: F64) -> F64:
    """The largest absolute entry of each row, (k,), without a temporary as long as ``g``."""
    return np.maximum(g.max(axis=1), -g.min(axis=1))  # type: ignore[no-any-return]


def sub_outer(M: F64, u: F64, v: F64) -> None:
    """``M[k] -= outer(u[k], v[k])`` for each k, in place; M (k, d, c), u (k, d), v (k, c).

    Long rows go through BLAS's rank-one update (no (k, d, c) temporary): ``M[k]`` is
    C-contiguous, so its transpose is the Fortran-ordered matrix ``dger`` updates in place.
    """
    if M[0].size < LONG_ROWS or not M[0].flags.c_contiguous:
        M -= u[:, :, None] * v[:, None, :]
        return
    from scipy.linalg import blas

    for k in range(len(M)):
        out = blas.dger(-1.0, v[k], u[k], a=M[k].T, overwrite_a=1)
        if not np.shares_memory(out, M):  # not updated in place (never for this layout)
            M[k] = out.T


class Scratch:
    """Arrays reused from one call to the next, for values that do not outlive a call.

    A fresh array of tens of MB is page-faulted in on first touch; on a VM whose freed pages go
    back to the host that costs several ms a MB. An objective evaluated hundreds of times
    keeps its per-call working arrays here instead.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, npt.NDArray[Any]] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        """An array of ``shape`` and ``dtype`` (contents undefined), the same one as last time
        when the shape and dtype are unchanged."""
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != np.dtype(dtype):
            a = self._arrays[name] = np.empty(shape, dtype)
        return a

    def room(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        """Like :meth:`get`, for arrays whose shape changes from call to call: a C-contiguous
        view of ``shape`` into one buffer that grows to the largest size asked (and never
        shrinks), so that shapes taking turns reuse the same memory."""
        size = math.prod(shape)
        a = self._arrays.get(name)
        if a is None or a.size < size or a.dtype != np.dtype(dtype):
            a = self._arrays[name] = np.empty(size, dtype)
        return a[:size].reshape(shape)
