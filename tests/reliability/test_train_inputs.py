"""Training inputs every framework must treat alike (issue 11, items 10 and 12).

* A learning rate (or weight decay, or init std) that float32 cannot hold is refused up front,
  in one line, by ``TrainConfig``, the backends, ``softreg train`` and ``softreg sweep``,
  and by the d2l facades' ``sgd`` and optimizers; one that float32 holds but that blows the
  weights up is a divergence (exit 3), never a framework exception.
* ``train_ch3`` refuses a net with fewer outputs than the labels need, and a one-shot iterator
  for more than one epoch, in every framework.

MXNet tests carry the ``mxnet`` marker and run in its environment
(``.venv-mxnet/bin/python -m pytest -m mxnet``); the others skip a missing framework.
"""

import warnings

import numpy as np
import pytest
from _cli import run_cli

from conftest import need
from softreg.core.config import FLOAT32_MAX, FLOAT32_TINY, TrainConfig
from softreg.core.errors import ConfigError, ModelShapeError
from softreg.sweeps.search import Range, SearchSpace

FRAMEWORKS = ["numpy", "torch", "tensorflow", pytest.param("mxnet", marks=pytest.mark.mxnet)]
FACADES = ["torch", "tensorflow", pytest.param("mxnet", marks=pytest.mark.mxnet)]
ONE_SHOT = r"is a one-shot iterator \(generator\): it is used up after one pass"
TOO_FEW_OUTPUTS = (r"the net outputs 5 values per example, one per class, but the training "
                   r"iterator has labels up to 9 \(Fashion-MNIST has 10 classes, 0 to 9\)")


def _need_framework(name):
    """Skip (or fail under SOFTREG_REQUIRE) when the framework is missing; numpy always runs."""
    if name != "numpy":
        need(name)


# ---- item 10: learning rates float32 cannot hold -------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 1e42}, r"lr 1e\+42 is inf in float32, where every framework trains: it must be "
                       r"at most 3\.403e\+38, the largest float32; use a positive learning rate"),
        ({"lr": 1e300}, r"lr 1e\+300 is inf in float32"),
        ({"lr": 1e-300}, r"lr 1e-300 is 0 in float32, where every framework trains \(the "
                         r"smallest normal float32 is 1\.175e-38\), so no step would move"),
        ({"lr": 1e-40}, r"lr 1e-40 is the subnormal 1e-40 in float32"),
        ({"weight_decay": 1e39}, r"weight_decay 1e\+39 is inf in float32.*use 0 \(off\)"),
        ({"weight_decay": 1e-40}, r"weight_decay 1e-40 is below 1\.175e-38, the smallest "
                                  r"normal float32"),
        ({"init_std": 1e300}, r"init_std 1e\+300 is inf in float32"),
    ],
)
def test_config_refuses_what_float32_cannot_hold(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_float32_limits_are_numpys_and_both_ends_are_accepted():
    f32 = np.finfo(np.float32)
    assert (float(f32.max), float(f32.tiny)) == (FLOAT32_MAX, FLOAT32_TINY)
    assert TrainConfig(lr=FLOAT32_MAX, weight_decay=FLOAT32_MAX).lr == FLOAT32_MAX
    assert TrainConfig(lr=FLOAT32_TINY, weight_decay=0.0).lr == FLOAT32_TINY


@pytest.mark.parametrize(
    ("lr", "message"),
    [("1e42", "lr 1e+42 is inf in float32"), ("1e300", "lr 1e+300 is inf in float32"),
     ("1e-300", "lr 1e-300 is 0 in float32")],
)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_train_refuses_such_a_rate_in_one_line_before_any_work(capsys, tmp_path, framework,
                                                               lr, message):
    code, out, err = run_cli(capsys, "train", "--framework", framework, "--lr", lr,
                          "--out", str(tmp_path / "r"))
    assert code == 2 and out == ""
    assert err.startswith("softreg train: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_backends_refuse_a_step_size_float32_cannot_hold(framework):
    _need_framework(framework)
    from softreg.backends import get_backend

    backend = get_backend(framework, "cpu")
    rng = np.random.default_rng(0)
    data = backend.put_data(rng.random((20, 784), dtype=np.float32),
                            np.arange(20, dtype=np.int64) % 10)
    order = np.arange(20, dtype=np.int64)
    with pytest.raises(ConfigError, match=r"lr must be a number from 0 to 3\.403e\+38 \(the "
                       r"largest float32, where every framework trains\), got 1e\+42"):
        backend.train_epoch(data, order, 8, 1e42)
    with pytest.raises(ConfigError, match=r"weight_decay 1e\+39 is inf in float32"):
        backend.train_epoch(data, order, 8, 0.1, 1e39)


@pytest.mark.parametrize("extra", [[], ["--weight-decay", "10"]])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_rate_that_overflows_the_weights_is_a_divergence(capsys, tmp_path, fake_fashion,
                                                           framework, extra):
    """3e38 is a float32, but lr * gradient is inf: every framework reports a divergence."""
    _need_framework(framework)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no NumPy overflow warning per step
        code, out, err = run_cli(capsys, "train", "--framework", framework, "--lr", "3e38",
                              "--epochs", "2", "--batch-size", "64", "--device", "cpu",
                              "--out", str(tmp_path / "r"), "--no-figures", *extra)
    assert code == 3, err
    assert "training diverged in epoch 1: the mean train loss is nan, not finite" in out
    assert "Traceback" not in err


def test_sweep_space_refuses_any_bad_value_even_one_a_random_draw_would_skip():
    base = TrainConfig(framework="numpy", val_split=0.2)
    with pytest.raises(ConfigError, match=r"lr 1e\+42 is inf in float32"):
        SearchSpace(base=base, axes={"lr": (0.1, 1e42)}, search="random", trials=1)
    with pytest.raises(ConfigError, match=r"lr 1e-300 is 0 in float32"):
        SearchSpace(base=base, axes={"lr": (1e-300, 0.1)})
    with pytest.raises(ConfigError, match=r"lr 1e\+42 is inf in float32"):
        SearchSpace(base=base, axes={"lr": Range(0.01, 1e42)}, search="random")
    with pytest.raises(ConfigError, match=r"weight_decay 1e\+39 is inf in float32"):
        SearchSpace(base=base, axes={"weight_decay": Range(0.0, 1e39)}, search="random")
    with pytest.raises(ConfigError, match=r"batch_size must be an integer >= 1, got 0"):
        SearchSpace(base=base, axes={"batch_size": Range(0, 64)}, search="random")
    # a range from 0 is drawn uniformly and never gives 0: still accepted
    SearchSpace(base=base, axes={"lr": Range(0.0, 1.0)}, search="random")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "0.1,1e42"], "lr 1e+42 is inf in float32"),
        (["--lr", "1e-300,0.1"], "lr 1e-300 is 0 in float32"),
        (["--lr", "0.1,1e42", "--search", "random", "--trials", "1"],
         "lr 1e+42 is inf in float32"),
        (["--lr", "0.01:1e300", "--search", "random"], "lr 1e+300 is inf in float32"),
        (["--weight-decay", "0,1e39"], "weight_decay 1e+39 is inf in float32"),
    ],
)
def test_sweep_refuses_a_list_with_a_bad_rate_in_one_line(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, "sweep", "--framework", "numpy", "--out",
                          str(tmp_path / "sw"), *argv)
    assert code == 2 and out == ""
    assert err.startswith("softreg sweep: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw").exists()


# ---- the d2l facades: one small harness per framework --------------------------------------


class Torch:
    def __init__(self, x, y):
        torch = need("torch")
        import softreg.torch as d2l

        self.torch, self.d2l, self.nn = torch, d2l, torch.nn
        X = torch.from_numpy(x.astype(np.float32) / 255).unsqueeze(1)  # (N, 1, 28, 28)
        Y = torch.from_numpy(y.astype(np.int64))
        self.train_iter = d2l.FashionMNISTBatches(X, Y, 64, shuffle=True)
        self.test_iter = d2l.FashionMNISTBatches(X[:200], Y[:200], 64, shuffle=False)
        self.loss = torch.nn.CrossEntropyLoss(reduction="none")

    def net(self, outputs=10):
        return self.nn.Sequential(self.nn.Flatten(), self.nn.Linear(784, outputs))

    def updater(self, net, lr):
        return self.torch.optim.SGD(net.parameters(), lr=lr)

    def param(self):
        param = self.torch.zeros(3, requires_grad=True)
        param.grad = self.torch.ones(3)
        return param

    def sgd(self, param, lr):
        self.d2l.sgd([param], lr, 4)

    def values(self, param):
        return param.detach().numpy()

    def scalar(self, value):
        return float(value)


class Tensorflow:
    def __init__(self, x, y):
        tf = need("tensorflow")
        import softreg.tensorflow as d2l

        self.tf, self.d2l, self.keras = tf, d2l, d2l.keras
        X = tf.constant(x.astype(np.float32)[..., None] / 255)  # (N, 28, 28, 1)
        Y = tf.constant(y.astype(np.int32))
        self.train_iter = d2l.FashionMNISTBatches(X, Y, 64, shuffle=True)
        self.test_iter = d2l.FashionMNISTBatches(X[:200], Y[:200], 64, shuffle=False)
        self.loss = self.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def net(self, outputs=10):
        layers = self.keras.layers
        return self.keras.Sequential([layers.Flatten(), layers.Dense(outputs)])

    def updater(self, net, lr):
        return self.keras.optimizers.SGD(learning_rate=lr)

    def param(self):
        return self.tf.Variable(np.zeros(3, np.float32))

    def sgd(self, param, lr):
        self.d2l.sgd([param], [self.tf.ones(3)], lr, 4)

    def values(self, param):
        return param.numpy()

    def scalar(self, value):
        return float(value)


class Mxnet:
    def __init__(self, x, y):
        mx = self.mx = need("mxnet")
        mx.npx.set_np()
        import softreg.mxnet as d2l

        self.d2l = d2l
        X = mx.np.array(x.astype(np.float32)[:, None] / 255)  # (N, 1, 28, 28)
        Y = mx.np.array(y.astype(np.int32), dtype="int32")
        self.train_iter = d2l.FashionMNISTBatches(X, Y, 64, shuffle=True)
        self.test_iter = d2l.FashionMNISTBatches(X[:200], Y[:200], 64, shuffle=False)
        self.loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()

    def net(self, outputs=10):
        net = self.mx.gluon.nn.Sequential()
        net.add(self.mx.gluon.nn.Dense(outputs))
        net.initialize(self.mx.init.Normal(sigma=0.01))
        return net

    def updater(self, net, lr):
        return self.mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})

    def param(self):
        param = self.mx.np.zeros(3)
        param.attach_grad()
        param.grad[:] = 1
        return param

    def sgd(self, param, lr):
        self.d2l.sgd([param], lr, 4)

    def values(self, param):
        return param.asnumpy()

    def scalar(self, value):
        return self.d2l._scalar(value)


@pytest.fixture(params=FACADES)
def fw(request, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTREG_FIGURE_DIR", str(tmp_path / "figs"))
    harness = {"torch": Torch, "tensorflow": Tensorflow, "mxnet": Mxnet}[request.param](*tiny_data)
    yield harness
    if request.param == "mxnet":
        harness.mx.npx.reset_np()


def _train(fw, net, train_iter, test_iter, num_epochs, lr=0.1):
    return fw.d2l.train_ch3(net, train_iter, test_iter, fw.loss, num_epochs,
                            fw.updater(net, lr))


def test_facade_sgd_refuses_what_float32_cannot_hold(fw):
    param = fw.param()
    with pytest.raises(ConfigError, match=r"lr 1e\+42 is inf in float32"):
        fw.sgd(param, 1e42)
    with pytest.raises(ConfigError, match=r"lr 1e-300 is 0 in float32"):
        fw.sgd(param, 1e-300)
    fw.sgd(param, 0.5)  # a valid rate still steps: p -= 0.5 * 1 / 4
    assert np.allclose(fw.values(param), -0.125)


def test_facade_sgd_and_updater_take_lr_0_as_d2l_does(fw):
    # a zero step is a legal rate in d2l (an exercise sweeps rates from 0); a negative one is not
    param = fw.param()
    fw.sgd(param, 0)
    fw.sgd(param, 0.0)
    assert np.allclose(fw.values(param), 0.0)
    fw.d2l.Updater([param], 0)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=r"lr must be a finite number >= 0"):
            fw.sgd(param, bad)


def test_train_ch3_refuses_an_optimizer_rate_float32_cannot_hold(fw):
    net = fw.net()
    # Keras stores the rate as a float32 already (inf); the others keep the Python float
    with pytest.raises(ConfigError, match=r"learning rate (1e\+42 is inf in float32|.*got inf)"):
        _train(fw, net, fw.train_iter, fw.test_iter, 2, lr=1e42)


def test_train_ch3_reports_an_overflowing_rate_as_a_divergence(fw):
    net = fw.net()
    with pytest.warns(UserWarning, match="training diverged in epoch 1: the mean train loss "
                      "is nan, not finite"):
        history = _train(fw, net, fw.train_iter, fw.test_iter, 2, lr=3e38)
    assert history.status == "diverged" and len(history) == 0


# ---- item 12: a net with too few outputs, one-shot iterators ------------------------------


def test_output_width_rule():
    from softreg.d2l.ch3 import check_output_width

    with pytest.raises(ModelShapeError, match=r"the net outputs 5 values per example, one per "
                       r"class, but the batch has labels up to 14 .*give the net 15 outputs, "
                       r"e\.g\. Dense\(15\)"):
        check_output_width(5, 14, "the batch", "Dense(15)")
    check_output_width(5, 4, "the batch", "Dense(10)")  # five classes, five outputs: fine
    # a net as wide as Fashion-MNIST with a label of 10: a bad label, left to the label checks
    check_output_width(10, 10, "the batch", "Dense(10)")


def test_train_ch3_refuses_a_net_with_too_few_outputs(fw):
    with pytest.raises(ModelShapeError, match=TOO_FEW_OUTPUTS + r": a label needs an output "
                       r"of its own; give the net 10 outputs, e.g. "):
        _train(fw, fw.net(5), fw.train_iter, fw.test_iter, 2)
    # any iterable of batches: the first batch's labels stand for the iterator's. The list is
    # made from the unshuffled iterator, whose first batch holds every label 0-9: a shuffled
    # first batch of 64 can miss label 9 and name 8 (it did, once in CI)
    batches = list(fw.test_iter)
    assert int(fw.values(batches[0][1]).max()) == 9
    with pytest.raises(ModelShapeError, match=TOO_FEW_OUTPUTS):
        _train(fw, fw.net(5), batches, batches, 2)


def test_evaluation_refuses_a_net_with_too_few_outputs(fw):
    with pytest.raises(ModelShapeError, match=r"the net outputs 5 values per example, one per "
                       r"class, but the evaluation iterator has labels up to 9"):
        fw.d2l.evaluate_accuracy(fw.net(5), list(fw.test_iter))


def test_more_outputs_than_classes_still_train(fw):
    history = _train(fw, fw.net(12), fw.train_iter, fw.test_iter, 1)
    assert history.status == "completed" and len(history) == 1


@pytest.mark.parametrize("which", ["train_iter", "test_iter"])
def test_train_ch3_refuses_a_one_shot_iterator_for_two_epochs(fw, which):
    iters = {"train_iter": fw.train_iter, "test_iter": fw.test_iter}
    iters[which] = (batch for batch in iters[which])
    with pytest.raises(ConfigError, match=which + " " + ONE_SHOT + r", but train_ch3 goes over "
                       r"it in each of the 2 epochs; pass a re-iterable instead, such as a list"):
        _train(fw, fw.net(), iters["train_iter"], iters["test_iter"], 2)


def test_one_shot_iterators_are_fine_for_one_epoch(fw):
    """One pass each: nothing is refused, and no test batch is lost to building the net."""
    net = fw.net()
    batches = list(fw.test_iter)
    history = _train(fw, net, (b for b in fw.train_iter), (b for b in batches), 1)
    assert history.status == "completed" and len(history) == 1
    loss_sum, _, count = fw.d2l._eval_totals(net, batches, fw.loss)  # every test batch
    assert count == 200
    assert history.last.test_loss == pytest.approx(fw.scalar(loss_sum) / count, rel=1e-5)
