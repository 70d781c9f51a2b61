"""What only the NumPy reference backend does: CPU only, BLAS threads, the chapter's accuracy.

The step, epoch, totals, refusals and tie-breaking every backend shares are in
test_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import softreg.backends.numpy_backend as nb
from softreg.backends import get_backend
from softreg.backends.base import LinearBackend
from softreg.backends.numpy_backend import NumpyBackend, create_backend, openblas_thread_api
from softreg.core.errors import ConfigError


def test_factory_and_protocol():
    be = get_backend("numpy", "auto")
    assert isinstance(be, NumpyBackend) and isinstance(be, LinearBackend)
    assert (be.name, be.device) == ("numpy", "cpu")
    assert create_backend("cpu").device == "cpu"


def test_cuda_is_refused():
    with pytest.raises(ConfigError, match="NumPy runs on the CPU only; use --device cpu"):
        create_backend("cuda")


@pytest.mark.parametrize(("setting", "expect_one"), [(1, True), (None, False)])
def test_blas_threads_during_training(monkeypatch, setting, expect_one):
    api = openblas_thread_api()
    if api is None:
        pytest.skip("this NumPy does not bundle OpenBLAS")
    get, set_ = api
    before = get()
    set_(2)  # so that "limited to 1" is visible even on a 1-core machine
    seen = []
    real_step = nb.cross_entropy_and_grad

    def spy(logits, labels, count=None):
        seen.append(get())
        return real_step(logits, labels, count)

    monkeypatch.setattr(nb, "cross_entropy_and_grad", spy)
    try:
        be = NumpyBackend(blas_threads=setting)
        be.set_params(np.zeros((10, 784), np.float32), np.zeros(10, np.float32))
        data = be.put_data(np.zeros((6, 784), np.float32), np.arange(6) % 10)
        be.train_epoch(data, np.arange(6), 3, 0.1)
        assert seen == ([1, 1] if expect_one else [2, 2])
        assert get() == 2  # restored
    finally:
        set_(before)


@pytest.mark.slow
@pytest.mark.realdata
def test_chapter_configuration_learns(real_data):
    from softreg.fitting.splits import to_features
    from softreg.fitting.trainer import epoch_order, initial_params

    xtr, ytr, xte, yte = real_data
    be = create_backend("cpu")
    be.set_params(*initial_params(0))
    train = be.put_data(to_features(xtr), ytr.astype(np.int64))
    for epoch in range(3):
        tot = be.train_epoch(train, epoch_order(0, epoch, len(ytr)), 256, 0.1)
    acc = be.evaluate(be.put_data(to_features(xte), yte.astype(np.int64))).accuracy
    assert tot.mean_loss < 0.55 and acc > 0.78
