"""d2l-compatible helpers for MXNet Gluon: ``from softreg import mxnet as d2l``.

The d2l 0.17 chapters on softmax regression (concise and from scratch) run unchanged on these
functions, after the chapters' own ``npx.set_np()``. Differences from d2l 0.17.6, all fixes:

* data come from softreg's verified Fashion-MNIST layer as whole-split ``mxnet.np`` arrays
  sliced per batch (no per-example transforms, no DataLoader workers, never MXNet's
  downloader); the training order is drawn from NumPy's global RNG, as Gluon's own
  ``RandomSampler`` does, so ``np.random.seed`` makes it reproducible;
* labels are checked before MXNet's loss sees them: ``SoftmaxCrossEntropyLoss`` silently
  treats a label outside ``[0, C)`` as a valid class;
* ``train_ch3`` reports the true mean per-example train loss, reads the device back once per
  epoch, draws curves whose y-axis fits the data, writes a PNG outside Jupyter, warns instead
  of asserting, keeps the last good weights if training diverges, and returns the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from softreg.backends.checks import check_labels
from softreg.core.errors import ConfigError
from softreg.core.optional import import_framework
from softreg.d2l.animator import Animator as Animator
from softreg.d2l.ch3 import TrainCh3Warning as TrainCh3Warning
from softreg.d2l.ch3 import (
    check_num_batches,
    check_output_width,
    check_reiterable,
    check_updater_lr,
    run_train_ch3,
    totals,
)
from softreg.d2l.common import Accumulator as Accumulator
from softreg.d2l.common import Timer as Timer
from softreg.d2l.common import check_accuracy_shapes as _check_accuracy_shapes
from softreg.d2l.common import get_dataloader_workers as get_dataloader_workers
from softreg.d2l.common import get_fashion_mnist_labels as get_fashion_mnist_labels
from softreg.d2l.common import set_figsize as set_figsize
from softreg.d2l.common import use_svg_display as use_svg_display
from softreg.d2l.datahub import DATA_HUB as DATA_HUB
from softreg.d2l.datahub import DATA_URL as DATA_URL
from softreg.d2l.datahub import download as download
from softreg.d2l.datahub import download_all as download_all
from softreg.d2l.datahub import download_extract as download_extract
from softreg.d2l.images import show_images as show_images
from softreg.d2l.images import show_predictions
from softreg.d2l.mxnet_book import *  # noqa: F403 (the book's aliases and helpers)
from softreg.d2l.names import __all__ as D2L_NAMES
from softreg.d2l.plotting import plot as plot
from softreg.d2l.plotting import set_axes as set_axes
from softreg.epochs.history import History

mx = import_framework("mxnet")
autograd, gluon = mx.autograd, mx.gluon

# What MXNet does with a label outside [0, C), for the label guard's message.
_CLIPS = "MXNet's SoftmaxCrossEntropyLoss would silently treat them as a valid class"
# What train_ch3 asks for instead of a one-shot iterator.
_REITERABLES = ("a list of (X, y) batches, a gluon.data.DataLoader, or the iterators of "
                "d2l.load_data_fashion_mnist")

# The d2l names, one list for every facade (the imports "X as X" above re-export them: a
# linter cannot read this __all__).
__all__ = [*D2L_NAMES]

# d2l.plt: matplotlib.pyplot, imported on first use by __getattr__ below
plt: Any


def __getattr__(name: str) -> Any:
    """``d2l.plt``: matplotlib's pyplot, imported on first use (see ``d2l.plotting``)."""
    if name == "plt":
        from softreg.d2l.plotting import book_pyplot

        return book_pyplot()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}: softreg's d2l "
                         "module has the names of d2l 0.17's chapters 3 and 4 (docs/book.md "
                         "lists what runs); later chapters' helpers are not here")


class FashionMNISTBatches:
    """A re-iterable batch iterator over one split held as whole ``mxnet.np`` arrays.

    Args:
        X: (N, 1, 28, 28) float32 images in [0, 1]. y: (N,) integer labels in [0, 10).
        batch_size: examples per batch; the last batch may be smaller.
        shuffle: draw a new example order (NumPy's global RNG) at every ``iter()``.
        resize: if given, each batch is resized to (resize, resize), bilinear.

    Raises:
        DataError: a label is outside [0, 10) (checked once here, not per batch).
    """

    labels_checked = True  # train_ch3 skips its per-batch label check for these batches

    def __init__(self, X: Any, y: Any, batch_size: int, shuffle: bool,
                 resize: int | tuple[int, int] | None = None) -> None:
        check_labels(_host(y), 10, "FashionMNISTBatches", _CLIPS)
        self.X, self.y = X, y
        self.batch_size, self.shuffle = batch_size, shuffle
        self.resize = (resize, resize) if isinstance(resize, int) else resize

    def __len__(self) -> int:
        return -(-self.X.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        n = self.X.shape[0]
        order = None
        if self.shuffle:  # one host-to-device copy per epoch, sliced per batch
            order = mx.np.array(np.random.permutation(n), dtype="int64", ctx=self.X.ctx)
        for start in range(0, n, self.batch_size):
            if order is None:  # a copy, as d2l's loaders give: a batch edited in place
                stop = start + self.batch_size  # (X -= X.mean()) leaves the split as it was
                xb, yb = self.X[start:stop].copy(), self.y[start:stop].copy()
            else:
                rows = order[start:start + self.batch_size]
                xb = mx.np.take(self.X, rows, axis=0)  # (batch, 1, 28, 28)
                yb = mx.np.take(self.y, rows, axis=0)  # (batch,)
            if self.resize is not None:
                height, width = self.resize
                xb = mx.nd.contrib.BilinearResize2D(
                    xb.as_nd_ndarray(), height=height, width=width).as_np_ndarray()
            yield xb, yb


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None,
                            data_dir: str | None = None) -> tuple[FashionMNISTBatches,
                                                                   FashionMNISTBatches]:
    """Fashion-MNIST as (train_iter, test_iter): train reshuffled every epoch, test in order.

    Batches are X float32 (B, 1, 28, 28) in [0, 1] (or (B, 1, r, r) with ``resize``) and y
    int32, as ``mxnet.np`` arrays on the CPU.

    Raises:
        ConfigError: bad ``batch_size``, or MXNet's NumPy semantics are off (``npx.set_np()``).
        DataError: the dataset files are missing or corrupt.
    """
    from softreg.core.config import check_setting
    from softreg.d2l.common import fashion_mnist_splits

    check_setting("batch_size", batch_size)
    if not mx.util.is_np_array():
        raise ConfigError(
            "MXNet's NumPy semantics are off, but these batches are mxnet.np arrays that "
            "Gluon layers only accept with them on; call `from mxnet import npx; "
            "npx.set_np()` first, as the d2l chapters do at the top"
        )
    iters = []
    for split, (images, labels) in zip(("train", "test"), fashion_mnist_splits(data_dir),
                                       strict=True):
        pixels = np.asarray(images, dtype=np.float32) / np.float32(255.0)
        X = mx.np.array(pixels[:, None], dtype="float32")  # (N, 1, 28, 28)
        y = mx.np.array(np.asarray(labels, dtype=np.int32), dtype="int32")
        iters.append(FashionMNISTBatches(X, y, batch_size, split == "train", resize))
    return iters[0], iters[1]


def _host(a: Any) -> np.ndarray:
    """A NumPy copy of an MXNet array (a host sync), or ``np.asarray`` of anything else."""
    return a.asnumpy() if hasattr(a, "asnumpy") else np.asarray(a)


def _ctx_of(net: Any) -> Any:
    if isinstance(net, gluon.Block):
        for p in net.collect_params().values():
            return p.list_ctx()[0]
    return None  # a from-scratch net function: data stay where the iterator put them


def _to_ctx(X: Any, y: Any, ctx: Any) -> tuple[Any, Any]:
    if ctx is None:
        return X, y
    # mxnet.np arrays spell it as_in_ctx (as_in_context warns there); legacy NDArrays only
    # have as_in_context.
    move = "as_in_ctx" if hasattr(X, "as_in_ctx") else "as_in_context"
    return getattr(X, move)(ctx), getattr(y, move)(ctx)


def _check_width(y_hat: Any, y: Any, data_iter: Any, where: str) -> None:
    """On a pass's first batch: does the net have an output for every label? (one host sync)

    softreg's own batches know all their labels; another iterator's first batch stands for it.
    MXNet's loss would not fail: it would silently clip a label to the last output.
    """
    if y_hat.ndim != 2 or y_hat.shape[1] < 2:
        return
    labels = _host(data_iter.y if isinstance(data_iter, FashionMNISTBatches) else y)
    if labels.size:
        check_output_width(int(y_hat.shape[1]), int(labels.max()), where, "nn.Dense(10)")


def _guard_labels(y_hat: Any, y: Any, where: str) -> None:
    """The label check for batches from foreign iterators: one host copy of y per batch.

    A net with one output per example is a regression (the book's section 4.4 trains one on
    ``train_epoch_ch3``): its targets are not class labels, and are not checked.
    """
    if y_hat.ndim >= 2 and y_hat.shape[-1] >= 2:
        check_labels(_host(y), int(y_hat.shape[-1]), where, _CLIPS)


def _add(total: Any, term: Any) -> Any:
    """Device-side running sum (starts from the first term: works for mx.np and mx.nd)."""
    term = term.astype("float64")
    return term if total is None else total + term


def _scalar(total: Any) -> float:
    return 0.0 if total is None else float(total.asnumpy().sum())


def accuracy(y_hat: Any, y: Any) -> float:
    """Number of correct predictions (a count, not a fraction, as in d2l).

    MXNet or NumPy arrays: ``y`` of shape (n,), ``y_hat`` (n, C) scores or (n,) classes.

    Raises:
        ModelShapeError: other shapes (an (n, 1) output would broadcast against the labels).
    """
    y_hat, y = (mx.np.array(a) if isinstance(a, np.ndarray) else a for a in (y_hat, y))
    _check_accuracy_shapes(y_hat.shape, y.shape)
    return _scalar(_correct(y_hat, y))


def _correct(y_hat: Any, y: Any) -> Any:
    pred = y_hat.argmax(axis=1) if y_hat.ndim > 1 and y_hat.shape[1] > 1 else y_hat
    return (pred.astype(y.dtype) == y).astype("float64").sum()


def _loss_sum(value: Any, batch: int) -> Any:
    """Sum of the per-example losses; a 0-d loss counts as a batch mean (d2l's convention)."""
    return value.sum() if value.ndim > 0 else value * batch


def _eval_totals(net: Any, data_iter: Any, loss: Any = None,
                 scored: bool = False) -> tuple[Any, Any, int]:
    """Loss sum, correct count (device arrays) and count over ``data_iter``, no recording;
    ``scored``: the count is the caller's answer (evaluate_accuracy), so an output it cannot
    score is refused (a regression's (n, 1) output, as section 4.4's evaluate_loss takes, is
    not)."""
    ctx = _ctx_of(net)
    check = loss is not None and not getattr(data_iter, "labels_checked", False)
    loss_sum = correct = None
    count = 0
    for X, y in data_iter:
        X, y = _to_ctx(X, y, ctx)
        y_hat = net(X)
        if not count:
            _check_width(y_hat, y, data_iter, "the evaluation iterator")
            if scored:
                _check_accuracy_shapes(y_hat.shape, y.shape)
        correct = _add(correct, _correct(y_hat, y))
        if loss is not None:
            if check:
                _guard_labels(y_hat, y, "a batch of the evaluation iterator")
            loss_sum = _add(loss_sum, _loss_sum(loss(y_hat, y), y.shape[0]))
        count += int(y.shape[0])
    check_num_batches(count, "the evaluation iterator")
    return loss_sum, correct, count


def evaluate_accuracy(net: Any, data_iter: Any) -> float:
    """Accuracy of ``net`` over ``data_iter`` (one host sync at the end)."""
    _, correct, count = _eval_totals(net, data_iter, scored=True)
    return _scalar(correct) / count


class _Ch3Trainer:
    """EpochTrainer around the user's net, loss, updater and iterators."""

    def __init__(self, net: Any, train_iter: Any, test_iter: Any, loss: Any,
                 updater: Any) -> None:
        self.net, self.train_iter, self.test_iter = net, train_iter, test_iter
        self.loss, self.updater = loss, updater
        self.params = _params_of(net, updater)
        if isinstance(updater, gluon.Trainer):
            check_updater_lr(updater.learning_rate, "the trainer's learning rate")

    def train_epoch(self, epoch: int) -> Any:
        loss_sum, correct, count = train_epoch_ch3_totals(
            self.net, self.train_iter, self.loss, self.updater)
        return totals(_scalar(loss_sum), round(_scalar(correct)), count)

    def evaluate(self, split: str) -> Any:
        loss_sum, correct, count = _eval_totals(self.net, self.test_iter, self.loss)
        return totals(_scalar(loss_sum), round(_scalar(correct)), count)

    def snapshot(self) -> list[Any] | None:
        if not self.params:
            return None  # a from-scratch net: the loop says nothing could be put back
        self._finish_deferred_init()
        return [p.data().copy() if _initialized(p) else None for p in self.params]

    def restore(self, state: list[Any]) -> None:
        for p, saved in zip(self.params, state, strict=True):
            if saved is not None:
                p.set_data(saved)

    def _finish_deferred_init(self) -> None:
        """``initialize()`` waits for the first input to learn the shapes: give it one.

        A forward pass on a test batch (nothing recorded, nothing updated, and the shuffled
        training order untouched) lets the initial weights be saved before epoch 1. A
        single-use test iterator is left alone; then a parameter still waiting for its shape
        cannot be put back after a divergence in epoch 1.
        """
        if all(_initialized(p) for p in self.params) or iter(self.test_iter) is self.test_iter:
            return
        for X, y in self.test_iter:
            self.net(_to_ctx(X, y, _ctx_of(self.net))[0])
            break


def _initialized(param: Any) -> bool:
    try:
        param.data()
    except gluon.parameter.DeferredInitializationError:
        return False
    return True


def _params_of(net: Any, updater: Any) -> list[Any]:
    if isinstance(net, gluon.Block):
        return list(net.collect_params().values())
    if isinstance(updater, gluon.Trainer):
        return list(updater._params)
    return []  # a from-scratch net function: its parameters are not reachable from here


def train_epoch_ch3_totals(net: Any, train_iter: Any, loss: Any,
                           updater: Any) -> tuple[Any, Any, int]:
    """One training epoch; returns (loss sum, correct) as device arrays and the count.

    The loss is recorded per example and ``backward()`` sums it; a ``gluon.Trainer`` then
    steps with ``step(batch_size)`` (which divides by the batch size), a from-scratch updater
    is called as ``updater(batch_size)``.
    """
    ctx = _ctx_of(net)
    step = updater.step if isinstance(updater, gluon.Trainer) else updater
    check = not getattr(train_iter, "labels_checked", False)
    loss_sum = correct = None
    count = 0
    for X, y in train_iter:
        X, y = _to_ctx(X, y, ctx)
        with autograd.record():
            y_hat = net(X)
            if not count:
                _check_width(y_hat, y, train_iter, "the training iterator")
            if check:
                _guard_labels(y_hat, y, "a batch of the training iterator")
            value = loss(y_hat, y)
        value.backward()
        step(int(y.shape[0]))
        loss_sum = _add(loss_sum, _loss_sum(value, y.shape[0]))
        correct = _add(correct, _correct(y_hat, y))
        count += int(y.shape[0])
    check_num_batches(count, "the training iterator")
    return loss_sum, correct, count


def train_epoch_ch3(net: Any, train_iter: Any, loss: Any, updater: Any) -> tuple[float, float]:
    """One epoch; returns (mean per-example train loss, train accuracy) like d2l."""
    loss_sum, correct, count = train_epoch_ch3_totals(net, train_iter, loss, updater)
    return _scalar(loss_sum) / count, _scalar(correct) / count


def train_ch3(net: Any, train_iter: Any, test_iter: Any, loss: Any, num_epochs: int,
              updater: Any) -> History:
    """Train and plot train loss, train accuracy and test accuracy per epoch.

    Args:
        net: a Gluon ``Block`` or any callable mapping X to logits.
        train_iter, test_iter: iterables of (X, y) batches. Labels from other iterators than
            :func:`load_data_fashion_mnist`'s are checked batch by batch before the loss.
        loss: a Gluon loss or a function returning per-example losses (a 0-d result counts
            as the batch mean); the reported train loss is the true per-example mean.
        num_epochs: number of epochs.
        updater: a ``gluon.Trainer`` (``trainer.step(batch_size)`` after ``backward()`` on the
            per-example loss, as d2l does) or a callable ``updater(batch_size)``.

    Returns:
        The per-epoch :class:`~softreg.epochs.history.History`.

    Raises:
        DataError: a label is outside [0, number of outputs) (MXNet would clip it silently).
        ConfigError: an iterator yields no batches, or is one-shot (a generator) with
            ``num_epochs`` > 1, ``num_epochs`` is not an integer >= 0, or the trainer's
            learning rate is not a positive number that float32 can hold.
        ModelShapeError: the net has fewer outputs than the labels need (first batch).
    """
    check_reiterable(num_epochs, _REITERABLES, train_iter=train_iter, test_iter=test_iter)
    trainer = _Ch3Trainer(net, train_iter, test_iter, loss, updater)
    return run_train_ch3(trainer, num_epochs)


def _first_predictions(net: Any, test_iter: Any, n: int) -> tuple[Any, list[int], list[int]]:
    """(images, true labels, predicted labels) of the first ``n`` examples of ``test_iter``."""
    X, y = next(iter(test_iter))
    X, _ = _to_ctx(X, y, _ctx_of(net))
    pred = _host(net(X).argmax(axis=1))
    return _host(X[:n]), _host(y)[:n].astype(int).tolist(), pred[:n].astype(int).tolist()


def predict_labels(net: Any, test_iter: Any, n: int = 6) -> tuple[list[str], list[str]]:
    """Class names of the first ``n`` test images: (true names, predicted names); no figure."""
    _, trues, preds = _first_predictions(net, test_iter, n)
    return get_fashion_mnist_labels(trues), get_fashion_mnist_labels(preds)


def predict_ch3(net: Any, test_iter: Any, n: int = 6) -> None:
    """Show the first ``n`` test images titled true/predicted.

    Returns nothing, like d2l, so a notebook cell that ends with the call shows only the
    images; :func:`predict_labels` gives the class names.
    """
    show_predictions(*_first_predictions(net, test_iter, n))
