"""`from softreg import tensorflow as d2l`: the d2l 0.17 chapters' helpers on TensorFlow/Keras."""

import importlib
import sys

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import ConfigError
from softreg.fitting.trainer import initial_params

pytestmark = pytest.mark.tensorflow

tf = need("tensorflow")
d2l = importlib.import_module("softreg.tensorflow")  # fails, never skips, once TF imports
keras = tf.keras


@pytest.fixture(autouse=True)
def figures_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTREG_FIGURE_DIR", str(tmp_path / "figs"))
    return tmp_path / "figs"


def _tensors(tiny_data):
    x, y = tiny_data
    return tf.constant(x.astype(np.float32)[..., None] / 255), tf.constant(y.astype(np.int32))


@pytest.fixture()
def tiny_iters(tiny_data):
    X, Y = _tensors(tiny_data)
    return (d2l.FashionMNISTBatches(X, Y, 64, shuffle=True),
            d2l.FashionMNISTBatches(X[:200], Y[:200], 64, shuffle=False))


def _chapter_net(W=None, b=None):
    """The chapter's net; with W (10, 784) and b (10,) its Dense layer starts from them."""
    net = keras.models.Sequential()
    net.add(keras.layers.Flatten(input_shape=(28, 28)))
    net.add(keras.layers.Dense(10, kernel_initializer=keras.initializers.RandomNormal(0, 0.01)))
    if W is not None:
        net.layers[-1].set_weights([W.T, b])  # Keras keeps the kernel as (784, 10)
    return net


def _chapter_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.slow
@pytest.mark.realdata
def test_loader_matches_d2l_shapes_and_shuffles_examples(real_data):
    tf.random.set_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    assert (len(train_iter), len(test_iter)) == (235, 40)
    X, y = next(iter(train_iter))
    assert X.shape == (256, 28, 28, 1) and X.dtype == tf.float32
    assert y.shape == (256,) and y.dtype == tf.int32
    assert float(tf.reduce_min(X)) >= 0.0 and float(tf.reduce_max(X)) <= 1.0
    sizes = [int(b[1].shape[0]) for b in train_iter]
    assert sizes[-1] == 60000 - 234 * 256 and sum(sizes) == 60000
    # examples are shuffled, not whole batches (d2l 0.17.6's bug): the first batch is not any
    # block of 256 consecutive training labels, and the next epoch starts differently
    ytr = real_data[1].astype(np.int32)
    blocks = {ytr[i:i + 256].tobytes() for i in range(0, 60000, 256)}
    assert y.numpy().tobytes() not in blocks
    assert not np.array_equal(y.numpy(), next(iter(train_iter))[1].numpy())
    t1, t2 = next(iter(test_iter))[1], next(iter(test_iter))[1]
    np.testing.assert_array_equal(t1.numpy(), t2.numpy())
    np.testing.assert_array_equal(t1.numpy(), real_data[3][:256])
    Xr, _ = next(iter(d2l.load_data_fashion_mnist(32, resize=64)[1]))
    assert Xr.shape == (32, 64, 64, 1)


def test_bad_batch_size_is_refused():
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        d2l.load_data_fashion_mnist(0)


@pytest.mark.realdata
@pytest.mark.slow
def test_chapter_program(real_data, figures_in_tmp, capsys):
    """The concise chapter's TensorFlow program, as a reader types it."""
    keras.utils.set_random_seed(0)
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    net = tf.keras.models.Sequential()
    net.add(tf.keras.layers.Flatten(input_shape=(28, 28)))
    weight_initializer = tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
    net.add(tf.keras.layers.Dense(10, kernel_initializer=weight_initializer))
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainer = tf.keras.optimizers.SGD(learning_rate=.1)
    num_epochs = 10
    history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)
    last = history.last
    assert len(history) == 10 and history.status == "completed"
    assert 0.825 <= last.test_acc <= 0.845
    assert 0.42 <= last.train_loss <= 0.48 and 0.83 <= last.train_acc <= 0.87
    assert (figures_in_tmp / "train_ch3.png").stat().st_size > 1000
    expected = f"training curves written to {figures_in_tmp / 'train_ch3.png'}"
    assert expected in capsys.readouterr().out
    assert d2l.evaluate_accuracy(net, test_iter) == pytest.approx(last.test_acc)
    assert d2l.predict_ch3(net, test_iter) is None  # like d2l: a notebook cell shows no value
    assert (figures_in_tmp / "predict_ch3.png").exists()
    true, pred = d2l.predict_labels(net, test_iter)
    assert len(true) == 6 and set(true) <= set(d2l.get_fashion_mnist_labels(range(10)))
    assert sum(t == p for t, p in zip(true, pred, strict=True)) >= 4


def _reference_epoch(batches, W, b, lr, sum_loss=False):
    """The NumPy reference stepping over the same batches: (W, b, per-example loss sum)."""
    from softreg.backends.numpy_backend import create_backend

    ref = create_backend("cpu")
    ref.set_params(W, b)
    loss_sum = 0.0
    for X, y in batches:
        Xf = X.numpy().reshape(len(y), 784)
        tot = ref.train_epoch(ref.put_data(Xf, y.numpy()), np.arange(len(y)), len(y),
                              lr * len(y) if sum_loss else lr)
        loss_sum += tot.loss_sum
    return (*ref.get_params(), loss_sum)


@pytest.mark.slow
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None, "function"])
def test_keras_optimizer_matches_numpy_reference(tiny_data, reduction):
    """One step and one epoch of the chapter's net from the same weights as the reference,
    for every loss form; the reported loss is the true per-example mean."""
    X, Y = _tensors(tiny_data)
    if reduction == "function":
        def loss(y_hat, y):
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=y_hat)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    lr = 0.1 / 64 if reduction == "sum" else 0.1
    W0, b0 = initial_params(0)
    b0 = b0 + np.float32(0.01)
    for n in (64, 600):  # one step; one epoch: 8 batches of 72 and one of 24
        batches = d2l.FashionMNISTBatches(X[:n], Y[:n], min(n, 72), shuffle=False)
        net = _chapter_net(W0, b0)
        h = d2l.train_ch3(net, batches, batches, loss, 1, keras.optimizers.SGD(learning_rate=lr))
        W, b, loss_sum = _reference_epoch(batches, W0, b0, lr, sum_loss=reduction == "sum")
        kernel, bias = net.layers[-1].get_weights()
        np.testing.assert_allclose(kernel.T, W, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(bias, b, rtol=1e-4, atol=1e-6)
        assert h.last.train_loss == pytest.approx(loss_sum / n, rel=1e-5)


def _scratch_model(W0, b0):
    """Chapter 3.6 style: own variables, own net function, own loss, the chapter's Updater."""
    W = tf.Variable(W0.T)  # (784, 10)
    b = tf.Variable(b0)

    def net(X):
        return tf.matmul(tf.reshape(X, (-1, 784)), W) + b  # (batch, 10) logits

    def cross_entropy(y_hat, y):  # per-example losses, from logits
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=y_hat)

    class Updater:
        def __init__(self, params, lr):
            self.params, self.lr = params, lr

        def __call__(self, batch_size, grads):
            d2l.sgd(self.params, grads, self.lr, batch_size)

    return net, cross_entropy, Updater([W, b], lr=0.1), W, b


def test_from_scratch_updater_matches_numpy_reference(tiny_data):
    X, Y = _tensors(tiny_data)
    W0, b0 = initial_params(1)
    batches = d2l.FashionMNISTBatches(X, Y, 72, shuffle=False)
    net, cross_entropy, updater, W, b = _scratch_model(W0, b0)
    loss, acc = d2l.train_epoch_ch3(net, batches, cross_entropy, updater)
    W_ref, b_ref, loss_sum = _reference_epoch(batches, W0, b0, 0.1)
    np.testing.assert_allclose(W.numpy().T, W_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), b_ref, rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(loss_sum / 600, rel=1e-5) and 0.0 < acc <= 1.0


def test_from_scratch_chapter_with_updater(tiny_iters):
    train_iter, test_iter = tiny_iters
    tf.random.set_seed(0)
    net, cross_entropy, updater, _, _ = _scratch_model(*initial_params(0))
    h = d2l.train_ch3(net, train_iter, test_iter, cross_entropy, 3, updater)
    assert h.status == "completed" and h.last.train_acc > 0.6
    assert h.column("train_loss")[0] > h.column("train_loss")[-1]
    assert d2l.evaluate_accuracy(net, test_iter) == pytest.approx(h.last.test_acc)
    X, y = next(iter(test_iter))
    assert d2l.accuracy(net(X), y) == float(np.sum(np.argmax(net(X), 1) == y.numpy()))


def test_whole_epoch_graph_equals_step_by_step(tiny_data):
    """softreg's iterator runs an epoch as one compiled call, any other iterable step by step:
    same order (one shuffle per epoch), same result, and no retracing between epochs."""
    X, Y = _tensors(tiny_data)
    batches = d2l.FashionMNISTBatches(X, Y, 64, shuffle=True)
    results, objs = [], []
    for as_list in (False, True):
        tf.random.set_seed(3)
        net, loss = _chapter_net(*initial_params(2)), _chapter_loss()
        sgd = keras.optimizers.SGD(learning_rate=0.1)
        for _ in range(3):
            data = list(batches) if as_list else batches
            d2l.train_epoch_ch3(net, data, loss, sgd)
        results.append(net.layers[-1].get_weights()[0])
        objs.append((net, loss, sgd))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-7)
    whole_epoch = d2l._COMPILED.peek(d2l._cache_kind("train", objs[0][0]), (*objs[0], batches))
    assert whole_epoch.experimental_get_tracing_count() == 1


def _counting_loss(calls):
    """A per-example loss function that counts its Python calls: inside a compiled step it
    runs only while the step is traced, so the count is the number of traces."""
    def loss(y_hat, y):
        calls.append(1)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=y_hat)
    return loss


@pytest.mark.parametrize("as_list", [False, True], ids=["whole-epoch", "step-by-step"])
def test_second_train_ch3_with_the_same_objects_reuses_the_traced_functions(tiny_iters,
                                                                             as_list):
    train_iter, test_iter = tiny_iters
    if as_list:
        train_iter, test_iter = list(train_iter), list(test_iter)
    calls = []
    net, loss = _chapter_net(*initial_params(0)), _counting_loss(calls)
    sgd = keras.optimizers.SGD(learning_rate=0.1)
    d2l.train_ch3(net, train_iter, test_iter, loss, 2, sgd)
    traced = len(calls)
    assert traced >= 2  # one training and one evaluation function at least
    d2l.train_ch3(net, train_iter, test_iter, loss, 2, sgd)
    assert len(calls) == traced
    d2l.train_ch3(net, train_iter, test_iter, _counting_loss(calls), 1, sgd)
    assert len(calls) > traced  # another loss object: traced anew (the count can tell)


@pytest.mark.slow
def test_compiled_functions_do_not_keep_nets_or_iterators_alive(tiny_data):
    """The compile cache holds its objects weakly: a training iterator holds a whole split,
    so a cache holding it would keep ~190 MB alive per load_data_fashion_mnist call."""
    import gc
    import weakref

    X, Y = _tensors(tiny_data)
    objs = [_chapter_net(*initial_params(0)), d2l.FashionMNISTBatches(X, Y, 64, shuffle=True),
            d2l.FashionMNISTBatches(X[:200], Y[:200], 64, shuffle=False), _chapter_loss(),
            keras.optimizers.SGD(learning_rate=0.1)]
    d2l.train_ch3(*objs[:4], 1, objs[4])
    for step_by_step in (list(objs[1]), list(objs[2])):  # the per-step functions, too
        d2l.train_epoch_ch3(objs[0], step_by_step, objs[3], objs[4])
        d2l.evaluate_accuracy(objs[0], step_by_step)
    entries = len(d2l._COMPILED)
    assert d2l._COMPILED.peek(d2l._cache_kind("train", objs[0]),
                              (objs[0], objs[3], objs[4], objs[1])) is not None
    refs = [weakref.ref(o) for o in objs]
    del objs
    gc.collect()
    assert [r() for r in refs] == [None] * 5
    assert len(d2l._COMPILED) <= entries - 4  # train, eval, train-step and eval-step forgotten


def test_mlp_chapter_without_input_shape_runs(tiny_iters):
    """The MLP chapter's net has no input shape: its weights appear on the first call."""
    train_iter, test_iter = tiny_iters
    net = keras.models.Sequential([keras.layers.Flatten(), keras.layers.Dense(64, "relu"),
                                   keras.layers.Dense(10)])
    h = d2l.train_ch3(net, train_iter, test_iter, _chapter_loss(), 2,
                      keras.optimizers.SGD(learning_rate=0.1))
    assert len(h) == 2 and h.status == "completed" and h.last.train_acc > 0.5


def test_divergence_warns_and_keeps_last_good_weights(tiny_iters):
    train_iter, test_iter = tiny_iters
    net = _chapter_net(*initial_params(0))
    before = [w.copy() for w in net.get_weights()]
    with pytest.warns(d2l.TrainCh3Warning, match="training diverged in epoch 1"):
        h = d2l.train_ch3(net, train_iter, test_iter, _chapter_loss(), 3,
                          keras.optimizers.SGD(learning_rate=1e6))
    assert h.status == "diverged" and len(h) == 0
    for w, saved in zip(net.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, saved)


def test_empty_iterator_and_unreachable_parameters_are_refused(tiny_iters):
    train_iter, test_iter = tiny_iters
    net = _chapter_net()
    with pytest.raises(ConfigError, match="the training iterator yielded no batches"):
        d2l.train_ch3(net, [], test_iter, _chapter_loss(), 1,
                      keras.optimizers.SGD(learning_rate=0.1))
    with pytest.raises(ConfigError, match="the evaluation iterator yielded no batches"):
        d2l.evaluate_accuracy(net, [])
    with pytest.raises(ConfigError, match="a Keras optimizer needs a Keras model as net "
                                          r"\(got function, which has no trainable_variables\)"):
        d2l.train_ch3(lambda X: net(X), train_iter, test_iter, _chapter_loss(), 1,
                      keras.optimizers.SGD(learning_rate=0.1))
    with pytest.raises(ConfigError, match=r"updater\(batch_size, grads\) needs to know the "
                                          "parameters: give it a params attribute"):
        d2l.train_ch3(lambda X: net(X), train_iter, test_iter, _chapter_loss(), 1,
                      lambda batch_size, grads: None)


def test_accumulator_and_labels():
    acc = d2l.Accumulator(2)
    acc.add(1, 2.5)
    acc.add(tf.constant(3.0), 1)
    assert (acc[0], acc[1]) == (4.0, 3.5)
    assert d2l.get_fashion_mnist_labels([0, 9, tf.constant(5)]) == ["t-shirt", "ankle boot",
                                                                    "sandal"]


SCALE = 1.0  # read by _ScaledNet.call, as the book's dropout net reads its rates


class _ScaledNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.flat, self.dense = keras.layers.Flatten(), keras.layers.Dense(10)

    def call(self, X, training=None):
        return self.dense(self.flat(X)) * SCALE


def test_a_compiled_pass_reads_the_python_values_of_the_net_again(tiny_iters, monkeypatch):
    """The passes were traced once per (net, loss, updater, data): a global the net's call
    reads (the book's dropout rates in 4.6) changed between two calls of one net was baked
    in at its first value. d2l runs eagerly and reads it again: so does softreg."""
    train_iter, test_iter = tiny_iters
    net = _ScaledNet()
    d2l.train_epoch_ch3(net, train_iter, _chapter_loss(), keras.optimizers.SGD(0.1))
    before = d2l.evaluate_accuracy(net, test_iter)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", -1.0)  # every logit flipped
    flipped = d2l.evaluate_accuracy(net, test_iter)
    assert before > 0.5 and flipped < 0.2, (before, flipped)


class _ScaleLayer(keras.layers.Layer):
    def call(self, X, training=None):
        return X * SCALE


def test_a_compiled_pass_reads_the_python_values_of_a_nested_layer_again(tiny_iters,
                                                                         monkeypatch):
    """A layer of the reader's own inside a Sequential (the book's dropout_layer in a layer
    of its own, 4.6's exercise) reading a global: only the top-level call was watched, so the
    first value stayed baked in the compiled pass."""
    train_iter, test_iter = tiny_iters
    net = keras.models.Sequential([keras.layers.Flatten(), keras.layers.Dense(10),
                                   _ScaleLayer()])
    d2l.train_epoch_ch3(net, train_iter, _chapter_loss(), keras.optimizers.SGD(0.1))
    before = d2l.evaluate_accuracy(net, test_iter)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", -1.0)  # every logit flipped
    flipped = d2l.evaluate_accuracy(net, test_iter)
    assert before > 0.5 and flipped < 0.2, (before, flipped)


@pytest.mark.parametrize("at_eval", [1, 2])
def test_ctrl_c_in_train_ch3_keeps_the_finished_epoch_and_ends_the_program(
        tiny_iters, monkeypatch, capsys, at_eval):
    """d2l's train_ch3 is a plain loop: Ctrl-C must end the program, not only the run."""
    train_iter, test_iter = tiny_iters
    net = _chapter_net(*initial_params(0))
    before = [w.copy() for w in net.get_weights()]
    seen = []
    real_evaluate = d2l._Ch3Trainer.evaluate

    def evaluate(self, split):
        seen.append([w.copy() for w in net.get_weights()])
        if len(seen) == at_eval:
            raise KeyboardInterrupt
        return real_evaluate(self, split)

    monkeypatch.setattr(d2l._Ch3Trainer, "evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt):
        d2l.train_ch3(net, train_iter, test_iter, _chapter_loss(), 3,
                      keras.optimizers.SGD(learning_rate=0.1))
    kept = before if at_eval == 1 else seen[0]  # epoch 1's weights were read in its evaluation
    for w, saved in zip(net.get_weights(), kept, strict=True):
        np.testing.assert_array_equal(w, saved)
    err = capsys.readouterr().err
    if at_eval == 1:
        assert "after 0 finished epoch(s); the initial weights (no epoch had finished)" in err
    else:
        assert "after 1 finished epoch(s); the weights of the last finished epoch" in err


def test_accuracy_refuses_shapes_that_would_broadcast(tiny_iters):
    with pytest.raises(ValueError, match=r"y_hat has shape \(2, 1\) and y \(2,\); expected"):
        d2l.accuracy(np.zeros((2, 1), np.float32), np.array([0, 0]))
    _, test_iter = tiny_iters
    net = keras.models.Sequential([keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"expected y of shape \(n,\)"):
        d2l.evaluate_accuracy(net, test_iter)
    assert d2l.accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 1.0
