"""The estimator's CSR products: into reused arrays, on several threads, equal to scipy's."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need

need("sklearn")

import scipy.sparse as sp  # noqa: E402

from softreg.estimator import SoftmaxRegression, sparse  # noqa: E402
from softreg.estimator.sparse import product, split, threads_for  # noqa: E402


def _csr(n, d, dtype, index):
    X = sp.random(n, d, density=0.03, format="csr", dtype=dtype, random_state=3)
    X.indptr, X.indices = X.indptr.astype(index), X.indices.astype(index)
    return X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_products_equal_scipys_whatever_the_threads(dtype, index, threads):
    rng = np.random.default_rng(0)
    X = _csr(600, 80, dtype, index)
    B, G = rng.standard_normal((80, 7)).astype(dtype), rng.standard_normal((600, 7)).astype(dtype)
    out, grad = np.full((600, 7), np.nan, dtype), np.full((80, 7), np.nan, dtype)  # overwritten
    spare = [np.full((80, 7), np.nan, dtype) for _ in range(threads - 1)]
    assert product(X, B, out, threads=threads) is out
    assert product(X, G, grad, transpose=True, threads=threads, spare=spare) is grad
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.allclose(out, X @ B, rtol=tol, atol=tol)
    assert np.allclose(grad, X.T @ G, rtol=tol, atol=tol)
    again = product(X, G, np.empty_like(grad), transpose=True, threads=threads, spare=spare)
    assert np.array_equal(again, grad)  # the same sums each call: the split depends on X only


def test_the_rows_are_split_by_non_zeros_and_every_row_is_covered():
    X = sp.csr_matrix(np.tril(np.ones((100, 100))))  # row i has i + 1 non-zeros
    runs = split(X, 2)
    assert runs[0][0] == 0 and runs[-1][1] == 100 and runs[0][1] == runs[1][0]
    halves = [X.indptr[b] - X.indptr[a] for a, b in runs]
    assert abs(halves[0] - halves[1]) <= 100  # about half the non-zeros each, not half the rows
    assert split(sp.csr_matrix((3, 4)), 4) == [(0, 3)]  # no non-zero: one run


def test_fewer_spare_arrays_mean_fewer_threads_and_odd_inputs_take_scipys_product():
    rng = np.random.default_rng(1)
    X = _csr(300, 40, np.float64, np.int32)
    G = rng.standard_normal((300, 5))
    assert np.allclose(product(X, G, np.empty((40, 5)), transpose=True, threads=4, spare=[]),
                       X.T @ G)
    Gf = np.asfortranarray(G)  # not C-contiguous: the public product, copied into out
    assert np.allclose(product(X, Gf, np.empty((40, 5)), transpose=True), X.T @ G)
    B = rng.standard_normal((40, 5))
    assert np.allclose(product(X, B, np.empty((300, 5)), kernels=None), X @ B)  # no kernels
    assert np.allclose(product(X, B.astype(np.float32), np.empty((300, 5))), X @ B, atol=1e-5)
    with pytest.raises(ValueError, match="shapes"):
        product(X, G, np.empty((300, 5)))


def test_threads_follow_the_non_zeros_and_the_limit():
    X = _csr(2000, 500, np.float32, np.int32)  # 30,000 non-zeros
    assert threads_for(X) == 1
    assert threads_for(X, limit=8) == 1
    old = sparse.NNZ_PER_THREAD
    try:
        sparse.NNZ_PER_THREAD = 10_000
        assert threads_for(X, limit=8) == 3 and threads_for(X, limit=2) == 2
    finally:
        sparse.NNZ_PER_THREAD = old


def test_omp_num_threads_caps_the_threads_as_joblib_workers_set_it(monkeypatch):
    monkeypatch.setattr(sparse, "cpus", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert sparse.allowed() == sparse.MAX_THREADS
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert sparse.allowed() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")  # ignored, as OpenMP would
    assert sparse.allowed() == sparse.MAX_THREADS


def test_a_fit_on_several_threads_equals_the_fit_on_one(monkeypatch):
    rng = np.random.default_rng(2)
    X = sp.random(500, 60, density=0.2, format="csr", dtype=np.float64, random_state=4)
    y = rng.integers(0, 4, 500)
    one = SoftmaxRegression(tol=1e-8, max_iter=500).fit(X, y)
    monkeypatch.setattr(sparse, "NNZ_PER_THREAD", 1000)
    monkeypatch.setattr(sparse, "cpus", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    widths, run = [], sparse._run
    monkeypatch.setattr(sparse, "_run", lambda jobs: (widths.append(len(jobs)), run(jobs)))
    several = SoftmaxRegression(tol=1e-8, max_iter=500).fit(X, y)
    assert set(widths) == {3}  # every product on three threads
    assert np.abs(several.coef_ - one.coef_).max() < 1e-6
    dense = SoftmaxRegression(tol=1e-8, max_iter=500).fit(X.toarray(), y)
    assert np.abs(several.coef_ - dense.coef_).max() < 1e-6
