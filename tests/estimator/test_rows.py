"""The row-wise vector operations L-BFGS and the objective use, on short and long rows (the long
ones go through BLAS in place)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need

need("sklearn")

from softreg.estimator import rows  # noqa: E402


@pytest.mark.parametrize("p", [50, rows.LONG_ROWS + 7])
@pytest.mark.parametrize("k", [1, 3])
def test_row_operations_equal_their_numpy_definitions(k, p):
    rng = np.random.default_rng(0)
    a, v, q = rng.normal(size=k), rng.normal(size=(k, p)), rng.normal(size=(k, p))
    assert np.allclose(rows.dot(v, q), (v * q).sum(axis=1))
    assert np.array_equal(rows.absmax(q), np.abs(q).max(axis=1))
    want = q + a[:, None] * v
    rows.axpy(a, v, q)  # in place
    assert np.allclose(q, want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("d", [10, rows.LONG_ROWS // 4 + 3])
@pytest.mark.parametrize("k", [1, 2])
def test_sub_outer_updates_each_model_in_place(k, d):
    rng = np.random.default_rng(1)
    c = 5
    grad = rng.normal(size=(k, d * c + c))  # as the objective's gradient rows are laid out
    M = grad[:, : d * c].reshape(k, d, c)
    u, v = rng.normal(size=(k, d)), rng.normal(size=(k, c))
    want = M - u[:, :, None] * v[:, None, :]
    rows.sub_outer(M, u, v)
    assert np.allclose(grad[:, : d * c].reshape(k, d, c), want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("p", [50, rows.LONG_ROWS + 7])
def test_axpy_on_float32_rows_stays_float32_in_place(p):
    rng = np.random.default_rng(2)
    a = rng.normal(size=2)
    v, q = rng.normal(size=(2, p)).astype(np.float32), rng.normal(size=(2, p)).astype(np.float32)
    want, before = q + a[:, None] * v, q
    rows.axpy(a, v, q)
    assert q is before and q.dtype == np.float32
    assert np.allclose(q, want, rtol=1e-5, atol=1e-5)


def test_scratch_room_reuses_one_buffer_for_shapes_that_take_turns():
    from softreg.estimator.rows import Scratch

    s = Scratch()
    a = s.room("Z", (30, 4), np.float32)
    b = s.room("Z", (10, 7), np.float32)  # smaller: a view of the same memory
    assert b.shape == (10, 7) and b.flags.c_contiguous and np.shares_memory(a, b)
    c = s.room("Z", (40, 4), np.float32)  # larger: a new buffer, kept from then on
    assert not np.shares_memory(a, c)
    assert np.shares_memory(c, s.room("Z", (30, 4), np.float32))
    assert s.room("Z", (30, 4), np.float64).dtype == np.float64  # another dtype: its own
