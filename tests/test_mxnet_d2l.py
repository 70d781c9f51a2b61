"""`from softreg import mxnet as d2l`: the d2l 0.17 chapters' helpers on MXNet Gluon.

Runs in the MXNet environment: ``.venv-mxnet/bin/python -m pytest -m mxnet``. MXNet is imported
inside fixtures, so that collecting this file in an environment without MXNet does nothing.
"""

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import ConfigError, DataError
from softreg.fitting.trainer import initial_params

pytestmark = pytest.mark.mxnet


@pytest.fixture()
def mx():
    """MXNet with NumPy semantics on (as the chapters set them), switched off afterwards."""
    mxnet = need("mxnet")
    mxnet.npx.set_np()
    yield mxnet
    mxnet.npx.reset_np()


@pytest.fixture()
def d2l(mx):
    import softreg.mxnet

    return softreg.mxnet


@pytest.fixture(autouse=True)
def figures_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTREG_FIGURE_DIR", str(tmp_path / "figs"))
    return tmp_path / "figs"


@pytest.fixture()
def tiny_arrays(mx, tiny_data):
    x, y = tiny_data
    return (mx.np.array(x.astype(np.float32)[:, None] / 255),  # (600, 1, 28, 28)
            mx.np.array(y.astype(np.int32), dtype="int32"))


@pytest.fixture()
def tiny_iters(d2l, tiny_arrays):
    X, y = tiny_arrays
    return (d2l.FashionMNISTBatches(X, y, 64, shuffle=True),
            d2l.FashionMNISTBatches(X[:200], y[:200], 64, shuffle=False))


def _dense_net(mx, W=None, b=None):
    """nn.Dense(10) as in the chapter, optionally with given weights (else deferred init)."""
    net = mx.gluon.nn.Sequential()
    net.add(mx.gluon.nn.Dense(10))
    net.initialize(mx.init.Normal(sigma=0.01))
    if W is not None:
        net(mx.np.zeros((1, 1, 28, 28)))  # finish the deferred initialisation
        net[0].weight.set_data(mx.np.array(W))
        net[0].bias.set_data(mx.np.array(b))
    return net


@pytest.mark.realdata
def test_loader_matches_d2l_shapes(d2l, mx, real_data):
    np.random.seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    assert (len(train_iter), len(test_iter)) == (235, 40)
    X, y = next(iter(train_iter))
    assert isinstance(X, mx.np.ndarray) and X.shape == (256, 1, 28, 28) and X.dtype == np.float32
    assert isinstance(y, mx.np.ndarray) and y.shape == (256,) and y.dtype == np.int32
    assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0
    sizes = [b[1].shape[0] for b in train_iter]
    assert sizes[-1] == 60000 - 234 * 256 and sum(sizes) == 60000
    first_a, first_b = next(iter(train_iter))[1], next(iter(train_iter))[1]
    assert not np.array_equal(first_a.asnumpy(), first_b.asnumpy())  # reshuffled every epoch
    t1, t2 = next(iter(test_iter))[1].asnumpy(), next(iter(test_iter))[1].asnumpy()
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(t1, real_data[3][:256])
    Xr, _ = next(iter(d2l.load_data_fashion_mnist(32, resize=64)[1]))
    assert Xr.shape == (32, 1, 64, 64) and isinstance(Xr, mx.np.ndarray)


@pytest.mark.realdata
def test_a_test_batch_edited_in_place_leaves_the_split_as_it_was(d2l, mx, real_data):
    _, test_iter = d2l.load_data_fashion_mnist(256)
    before = float(next(iter(test_iter))[0].sum())
    for X, y in test_iter:  # a reader's normalisation, in place, as d2l's batches allow
        X -= X.mean()
        y += 1
    X, y = next(iter(test_iter))
    assert float(X.sum()) == before and int(y.max()) <= 9


@pytest.mark.realdata
@pytest.mark.slow
def test_chapter_program(d2l, mx, real_data, figures_in_tmp, capsys):
    """The concise chapter's MXNet program, as a reader types it (plus seeds)."""
    from mxnet import gluon, init, npx
    from mxnet.gluon import nn

    mx.random.seed(0)
    np.random.seed(0)
    npx.set_np()
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    history = d2l.train_ch3(net, train_iter, test_iter, loss, 10, trainer)
    last = history.last
    assert len(history) == 10 and history.status == "completed"
    assert 0.825 <= last.test_acc <= 0.845
    assert 0.42 <= last.train_loss <= 0.48 and 0.83 <= last.train_acc <= 0.87
    assert (figures_in_tmp / "train_ch3.png").stat().st_size > 1000
    expected = f"training curves written to {figures_in_tmp / 'train_ch3.png'}"
    assert expected in capsys.readouterr().out
    assert d2l.predict_ch3(net, test_iter) is None  # like d2l: a notebook cell shows no value
    assert (figures_in_tmp / "predict_ch3.png").exists()
    true, pred = d2l.predict_labels(net, test_iter)
    assert len(true) == 6 and set(true) <= set(d2l.get_fashion_mnist_labels(range(10)))
    assert sum(t == p for t, p in zip(true, pred, strict=True)) >= 4


@pytest.mark.parametrize("kind", ["trainer", "updater"])
def test_one_epoch_matches_numpy_reference(d2l, mx, tiny_data, tiny_iters, kind):
    """A gluon.Trainer or a from-scratch updater(batch_size): the NumPy reference's epoch."""
    from softreg.backends.numpy_backend import NumpyBackend
    from softreg.fitting.splits import to_features

    train_iter, test_iter = tiny_iters
    W0, b0 = initial_params(0)
    if kind == "trainer":
        net = _dense_net(mx, W0, b0)
        loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
        updater = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    else:
        W, b = mx.np.array(W0.T), mx.np.array(b0)  # W (784, 10), as the chapter holds it
        W.attach_grad()
        b.attach_grad()

        def net(X):
            return mx.np.dot(X.reshape((-1, 784)), W) + b  # (batch, 10)

        def loss(y_hat, y):
            return -mx.npx.pick(mx.npx.log_softmax(y_hat), y)  # (batch,)

        def updater(batch_size):
            d2l.sgd([W, b], 0.1, batch_size)

    np.random.seed(5)
    history = d2l.train_ch3(net, train_iter, test_iter, loss, 1, updater)
    np.random.seed(5)
    order = np.random.permutation(600)  # the order FashionMNISTBatches drew

    x, y = tiny_data
    ref = NumpyBackend()
    ref.set_params(W0, b0)
    tot = ref.train_epoch(ref.put_data(to_features(x), y.astype(np.int64)), order, 64, 0.1)
    ev = ref.evaluate(ref.put_data(to_features(x[:200]), y[:200].astype(np.int64)))
    W_ref, b_ref = ref.get_params()
    if kind == "trainer":
        W_got, b_got = net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()
    else:
        W_got, b_got = W.asnumpy().T, b.asnumpy()
    np.testing.assert_allclose(W_got, W_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b_got, b_ref, rtol=1e-4, atol=1e-5)
    rec = history.last
    assert rec.train_loss == pytest.approx(tot.mean_loss, rel=1e-5)
    assert rec.train_acc == tot.accuracy and rec.test_acc == ev.accuracy
    assert rec.test_loss == pytest.approx(ev.mean_loss, rel=1e-5)
    assert d2l.evaluate_accuracy(net, test_iter) == ev.accuracy


def test_foreign_iterators_and_helpers(d2l, mx, tiny_arrays):
    """A Gluon DataLoader works as the iterator; accuracy and Accumulator take MXNet values."""
    X, y = tiny_arrays
    loader = mx.gluon.data.DataLoader(mx.gluon.data.ArrayDataset(X, y), batch_size=64,
                                      shuffle=True)
    net = _dense_net(mx)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    h = d2l.train_ch3(net, loader, loader, mx.gluon.loss.SoftmaxCrossEntropyLoss(), 3, trainer)
    assert h.status == "completed" and h.last.train_acc > 0.6
    assert h.column("train_loss")[0] > h.column("train_loss")[-1]
    y_hat = net(X[:50])
    pred = y_hat.argmax(axis=1).astype(y.dtype)
    assert d2l.accuracy(y_hat, y[:50]) == float((pred == y[:50]).sum())
    acc = d2l.Accumulator(2)
    acc.add(y_hat.sum(), 2)
    assert acc[0] == pytest.approx(float(y_hat.sum())) and acc[1] == 2.0


@pytest.mark.parametrize("where", ["train", "test"])
def test_labels_mxnet_would_clip_are_refused_before_the_loss(d2l, mx, tiny_arrays, where):
    X, y = tiny_arrays
    bad = y.asnumpy().copy()
    bad[5] = 10
    bad_batches = [(X[i:i + 64], mx.np.array(bad[i:i + 64], dtype="int32"))
                   for i in range(0, 128, 64)]
    good_batches = [(X[i:i + 64], y[i:i + 64]) for i in range(0, 128, 64)]
    net = _dense_net(mx, *initial_params(0))
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    train, test = (bad_batches, good_batches) if where == "train" else (good_batches,
                                                                        bad_batches)
    message = (rf"labels in a batch of the {'training' if where == 'train' else 'evaluation'} "
               r"iterator must be whole numbers in \[0, 10\) for 10 classes, got 10 "
               r"\(1 label\(s\) out of range\); MXNet's SoftmaxCrossEntropyLoss would silently")
    with pytest.raises(DataError, match=message):
        d2l.train_ch3(net, train, test, loss, 1, trainer)
    if where == "train":  # refused before the first step
        np.testing.assert_array_equal(net[0].weight.data().asnumpy(), initial_params(0)[0])
    with pytest.raises(DataError, match=r"labels in FashionMNISTBatches must be whole numbers "
                                        r"in \[0, 10\) for 10 classes, got -1"):
        d2l.FashionMNISTBatches(X[:3], mx.np.array([0, -1, 2], dtype="int32"), 2, False)


def test_divergence_warns_and_keeps_the_initial_weights(d2l, mx, tiny_iters):
    """Deferred initialisation included: the weights before epoch 1 are the ones kept."""
    train_iter, test_iter = tiny_iters
    mx.random.seed(3)
    net = _dense_net(mx)  # shapes unknown until the first input
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1e6})
    with pytest.warns(d2l.TrainCh3Warning, match="training diverged in epoch 1"):
        h = d2l.train_ch3(net, train_iter, test_iter, mx.gluon.loss.SoftmaxCrossEntropyLoss(),
                          3, trainer)
    assert h.status == "diverged" and len(h) == 0
    mx.random.seed(3)
    fresh = _dense_net(mx)
    fresh(mx.np.zeros((1, 1, 28, 28)))
    np.testing.assert_array_equal(net[0].weight.data().asnumpy(),
                                  fresh[0].weight.data().asnumpy())


def test_refusals(d2l, mx, fake_fashion):
    net = _dense_net(mx)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    with pytest.raises(ConfigError, match="the training iterator yielded no batches"):
        d2l.train_ch3(net, [], [], loss, 1, trainer)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        d2l.load_data_fashion_mnist(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)  # the fake 600/200 split
    assert (len(train_iter), len(test_iter)) == (3, 1)
    mx.npx.reset_np()
    with pytest.raises(ConfigError, match=r"MXNet's NumPy semantics are off.*call `from mxnet "
                                          r"import npx; npx.set_np\(\)` first"):
        d2l.load_data_fashion_mnist(256)


@pytest.mark.parametrize("at_eval", [1, 2])
def test_ctrl_c_in_train_ch3_keeps_the_finished_epoch_and_ends_the_program(
        d2l, mx, tiny_iters, monkeypatch, capsys, at_eval):
    """d2l's train_ch3 is a plain loop: Ctrl-C must end the program, not only the run."""
    train_iter, test_iter = tiny_iters
    net = _dense_net(mx, *initial_params(0))
    params = list(net.collect_params().values())
    before = [p.data().asnumpy().copy() for p in params]
    seen = []
    real_evaluate = d2l._Ch3Trainer.evaluate

    def evaluate(self, split):
        seen.append([p.data().asnumpy().copy() for p in params])
        if len(seen) == at_eval:
            raise KeyboardInterrupt
        return real_evaluate(self, split)

    monkeypatch.setattr(d2l._Ch3Trainer, "evaluate", evaluate)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with pytest.raises(KeyboardInterrupt):
        d2l.train_ch3(net, train_iter, test_iter, mx.gluon.loss.SoftmaxCrossEntropyLoss(), 3,
                      trainer)
    kept = before if at_eval == 1 else seen[0]
    for p, saved in zip(params, kept, strict=True):
        np.testing.assert_array_equal(p.data().asnumpy(), saved)
    err = capsys.readouterr().err
    if at_eval == 1:
        assert "after 0 finished epoch(s); the initial weights (no epoch had finished)" in err
    else:
        assert "after 1 finished epoch(s); the weights of the last finished epoch" in err
