"""Products of a scipy.sparse CSR matrix with a dense block: into arrays the caller reuses, and
on several threads.

``X @ B`` and ``X.T @ B`` in scipy.sparse return a fresh zeroed array each call, made on one
thread. A wide model's gradient ``X.T @ G`` (262,144 features by 20 classes: 21 MB in float32)
is then page-faulted in on every evaluation, which on this project's VM costs more than the
product itself. scipy's own kernels (``scipy.sparse._sparsetools``: the ``csr_matvecs`` and
``csc_matvecs`` that its ``@`` calls) add into a given array and let go of the GIL, so the
output is reused and the rows are split between threads:

- ``X @ B``: each thread fills its own rows of the output;
- ``X.T @ B``: each thread sums its rows' share into its own array, and the arrays are added
  (so only while those arrays stay small: ``PARTIALS_BYTES``).

A thread's rows are a slice of ``X.indptr`` (its offsets still point into the whole
``indices`` and ``data``): nothing of X is copied. The split depends on X and the number of
threads only, so the sums are the same from one call, and one fit, to the next on the same
machine (another thread count adds ``X.T @ B``'s partial sums in another grouping: float32
rounding apart). The kernels are private: where they are missing, or the arrays are not of
the kinds they take, the public product is used and copied into ``out``.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

# A thread per this many non-zeros, at most MAX_THREADS (and the CPUs this process may use, and
# OMP_NUM_THREADS where it is set).
# On the 2-core machine, 100,000 x 262,144 with 6.3M non-zeros, 20 columns: X @ B 51 ms on one
# thread, 23-32 ms on two; X.T @ B 49-55 ms against 41 ms (benchmarks/bench_sklearn.py).
NNZ_PER_THREAD = 1 << 19
MAX_THREADS = 4
PARTIALS_BYTES = 1 << 26  # the extra arrays X.T @ B may sum into (64 MiB)


def _kernels() -> Any:
    try:
        from scipy.sparse import _sparsetools
    except ImportError:  # pragma: no cover - a scipy without the module
        return None
    if not all(hasattr(_sparsetools, f) for f in ("csr_matvecs", "csc_matvecs")):
        return None  # pragma: no cover
    return _sparsetools


def cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not Linux


def allowed() -> int:
    """The threads a product may use: the CPUs, at most ``MAX_THREADS``, and at most
    ``OMP_NUM_THREADS`` where it is set (as joblib sets it in each worker of
    ``GridSearchCV(n_jobs=...)``, so that the workers do not oversubscribe the CPUs)."""
    limit = min(cpus(), MAX_THREADS)
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        limit = min(limit, int(value))
    return limit


def threads_for(X: Any, limit: int | None = None) -> int:
    """How many threads share a product with X: one per ``NNZ_PER_THREAD`` non-zeros, within
    ``limit`` (default: :func:`allowed`)."""
    limit = allowed() if limit is None else limit
    return max(1, min(limit, X.nnz // NNZ_PER_THREAD))


def split(X: Any, parts: int) -> list[tuple[int, int]]:
    """``parts`` runs of rows ``(start, stop)`` of X with about as many non-zeros each."""
    targets = np.linspace(0, X.nnz, parts + 1)[1:-1]
    cuts = np.searchsorted(X.indptr, targets).tolist()
    bounds = [0, *cuts, X.shape[0]]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _run(jobs: list[Any]) -> None:
    """Run the callables, all but the first on threads of their own; re-raise the first error."""
    errors: list[BaseException] = []

    def guarded(job: Any) -> None:
        try:
            job()
        except BaseException as exc:  # pragma: no cover - the kernels raise only on bad input
            errors.append(exc)

    started = [threading.Thread(target=guarded, args=(job,)) for job in jobs[1:]]
    for thread in started:
        thread.start()
    guarded(jobs[0])
    for thread in started:
        thread.join()
    if errors:
        raise errors[0]


def product(X: Any, B: npt.NDArray[Any], out: npt.NDArray[Any], transpose: bool = False,
            threads: int = 1, spare: list[npt.NDArray[Any]] | None = None,
            kernels: Any = "default") -> npt.NDArray[Any]:
    """``X @ B`` (``X.T @ B`` with ``transpose``) written into ``out``; X CSR, B 2-D.

    ``threads``: how many threads share the work (see :func:`threads_for`). ``spare``: arrays
    of ``out``'s shape and dtype that a transposed product's threads sum into (one fewer than
    the threads; fewer arrays, fewer threads). ``kernels``: scipy's module of kernels (None: the
    public product; for the tests).
    """
    kernels = _kernels() if kernels == "default" else kernels
    n, d = X.shape
    rows, inner = (d, n) if transpose else (n, d)
    if B.shape[0] != inner or out.shape != (rows, B.shape[1]):
        raise ValueError(f"shapes {X.shape}{'.T' if transpose else ''} @ {B.shape} -> {out.shape}")
    fits = (kernels is not None and X.format == "csr" and X.data.dtype == B.dtype == out.dtype
            and X.indptr.dtype == X.indices.dtype and B.flags.c_contiguous
            and out.flags.c_contiguous)
    if not fits:
        np.copyto(out, (X.T if transpose else X) @ B, casting="same_kind")
        return out
    if transpose:
        threads = min(threads, 1 + len(spare or []))
    runs = split(X, max(threads, 1))
    k = B.shape[1]

    def forward(a: int, b: int) -> Any:
        def job() -> None:
            part = out[a:b]
            part.fill(0)
            kernels.csr_matvecs(b - a, d, k, X.indptr[a:b + 1], X.indices, X.data,
                                B.ravel(), part.ravel())
        return job

    def backward(a: int, b: int, into: npt.NDArray[Any]) -> Any:
        # the CSR arrays of rows a:b of X are the CSC arrays of those columns of X.T
        def job() -> None:
            into.fill(0)
            kernels.csc_matvecs(d, b - a, k, X.indptr[a:b + 1], X.indices, X.data,
                                B[a:b].ravel(), into.ravel())
        return job

    if not transpose:
        _run([forward(a, b) for a, b in runs])
        return out
    intos = [out, *(spare or [])][:len(runs)]
    _run([backward(a, b, into) for (a, b), into in zip(runs, intos, strict=True)])
    for into in intos[1:]:
        out += into
    return out
