import numpy as np
import pytest

from conftest import need
from softreg.errors import ConfigError
from softreg.training import epoch_order, initial_params


@pytest.fixture()
def backend():
    need("torch")
    from softreg.backends.torch_backend import create_backend

    return create_backend("cpu")


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def test_unknown_and_absent_devices_are_refused():
    torch = need("torch")
    from softreg.backends.torch_backend import create_backend

    with pytest.raises(ConfigError, match="unknown device 'gpu0'; choose one of: auto, cpu, cuda"):
        create_backend("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA was requested but PyTorch sees no CUDA GPU"):
            create_backend("cuda")
        assert create_backend("auto").device == "cpu"


def test_params_are_copies(backend):
    W, b = initial_params(3)
    backend.set_params(W, b)
    W2, _ = backend.get_params()
    np.testing.assert_array_equal(W2, W)
    W2[0, 0] = 123.0
    assert backend.get_params()[0][0, 0] == W[0, 0]


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_epoch_matches_numpy_reference(backend, weight_decay):
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data()
    ref = numpy_backend("cpu")
    order = epoch_order(0, 0, len(y))
    for be in (backend, ref):
        be.set_params(*initial_params(0))
        tot = be.train_epoch(be.put_data(X, y), order, 64, 0.5, weight_decay)
        be.totals = tot
    (Wt, bt), (Wr, br) = backend.get_params(), ref.get_params()
    np.testing.assert_allclose(Wt, Wr, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bt, br, rtol=1e-4, atol=1e-5)
    assert backend.totals.count == ref.totals.count == 300
    assert backend.totals.correct == ref.totals.correct
    assert backend.totals.loss_sum == pytest.approx(ref.totals.loss_sum, rel=1e-5)
    ev_t, ev_r = backend.evaluate(backend.put_data(X, y)), ref.evaluate(ref.put_data(X, y))
    assert ev_t.loss_sum == pytest.approx(ev_r.loss_sum, rel=1e-5)
    np.testing.assert_allclose(backend.logits(X[:5]), ref.logits(X[:5]), rtol=1e-4, atol=1e-5)


def test_totals_use_the_weights_of_each_step(backend):
    X, y = _data(n=10)
    backend.set_params(*initial_params(0))
    tot = backend.train_epoch(backend.put_data(X, y), np.arange(10), 10, 0.1)
    # one full batch: the epoch totals are the loss before the single update
    before = backend.__class__("cpu")
    before.set_params(*initial_params(0))
    ev = before.evaluate(before.put_data(X, y))
    assert tot.loss_sum == pytest.approx(ev.loss_sum, rel=1e-6)


def test_bad_input_is_refused_before_torch_sees_it(backend):
    from softreg.errors import DataError

    X, y = _data(20)
    with pytest.raises(ConfigError, match=r"data must be X \(N, 784\) and y \(N,\), got X"):
        backend.put_data(X[:, :100], y)
    y_bad = y.copy()
    y_bad[3] = 10
    with pytest.raises(DataError, match=r"labels in the data given to the backend must be whole "
                       r"numbers in \[0, 10\) for 10 classes, got 10 \(1 label\(s\)"):
        backend.put_data(X, y_bad)
    with pytest.raises(ConfigError, match=r"parameters must be W \(10, 784\) and b \(10,\)"):
        backend.set_params(np.zeros((10, 100)), np.zeros(10))
    data = backend.put_data(X, y)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        backend.train_epoch(data, np.arange(20), 0, 0.1)
    with pytest.raises(ConfigError, match=r"order must index examples in \[0, 20\), got values"):
        backend.train_epoch(data, np.arange(21), 8, 0.1)


def test_one_step_matches_numpy_reference(backend):
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data(n=64)
    ref = numpy_backend("cpu")
    for be in (backend, ref):
        be.set_params(*initial_params(1))
        be.train_epoch(be.put_data(X, y), np.arange(64), 64, 0.5, 0.01)  # one full batch
    (Wt, bt), (Wr, br) = backend.get_params(), ref.get_params()
    np.testing.assert_allclose(Wt, Wr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bt, br, rtol=1e-5, atol=1e-6)
    assert not np.allclose(Wr, initial_params(1)[0], atol=1e-4)  # the step moved the weights


def test_tied_logits_count_the_first_maximum_as_numpy_does(backend):
    """Classes 0 and 3 tie for the largest logit: the prediction is class 0, as NumPy's argmax
    (the backend takes torch's max(...).indices over the class axis, not argmax)."""
    from softreg.backends.numpy_backend import create_backend as numpy_backend

    X, y = _data(n=50)
    y[:15], y[15:20], y[20:] = 0, 3, 5  # 15 of class 0, 5 of class 3
    W, b = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    b[[0, 3]] = 1.0
    expected = 15
    for be in (backend, numpy_backend("cpu")):
        be.set_params(W, b)
        data = be.put_data(X, y)
        assert be.evaluate(data).correct == expected
        assert be.train_epoch(data, np.arange(50), 50, 0.1).correct == expected  # one batch


def test_a_batch_larger_than_the_data_is_one_batch(backend):
    """The step's buffers are sized by the data, not by batch_size (10**12 rows would not fit)."""
    X, y = _data(n=20)
    data = backend.put_data(X, y)
    backend.set_params(*initial_params(0))
    huge = backend.train_epoch(data, np.arange(20), 10**12, 0.1)
    backend.set_params(*initial_params(0))
    whole = backend.train_epoch(data, np.arange(20), 20, 0.1)
    assert huge == whole and huge.count == 20
