"""d2l-compatible helpers for TensorFlow 2 / Keras 3: ``from softreg import tensorflow as d2l``.

The d2l 0.17 chapters on softmax regression (concise and from scratch) run unchanged on these
functions. Differences from d2l 0.17.6:

* data come from softreg's verified Fashion-MNIST layer as whole-split tensors sliced per batch;
  the training split is reshuffled example by example every epoch (d2l shuffled whole batches);
* ``train_ch3`` with a Keras optimizer runs each step as one compiled ``tf.function`` and sums
  the loss and correct count on the device (one host read per epoch); Keras nets are called
  with ``training=True`` while training and ``training=False`` while evaluating;
* the reported train loss is the true mean per-example loss whatever the loss returns; a
  Keras optimizer steps on the batch mean (per-example losses are averaged first, as
  ``softreg.torch`` does), a from-scratch ``updater(batch_size, grads)`` gets the gradients of
  the summed loss (it divides by the batch size, as the chapter's ``sgd`` does);
* curves fit the data and are written to a PNG outside Jupyter, a broken run warns instead of
  asserting, a diverging run keeps its last good weights, and the history is returned.

Importing this module imports TensorFlow quietly (no C++ log lines unless
``SOFTREG_VERBOSE=1``) and hides Keras 3's warning about ``Flatten(input_shape=...)``, which
the chapter's program uses on purpose.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from softreg.backends._tf import verbose
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
from softreg.d2l.names import __all__ as D2L_NAMES
from softreg.d2l.plotting import plot as plot
from softreg.d2l.plotting import set_axes as set_axes
from softreg.d2l.tensorflow_book import *  # noqa: F403 (the book's aliases and helpers)
from softreg.d2l.weakcache import Getter, WeakCache
from softreg.epochs.history import History

tf = import_framework("tensorflow")
keras = tf.keras
if not verbose():
    warnings.filterwarnings("ignore", message=r"Do not pass an `input_shape`", category=UserWarning)

# What train_ch3 asks for instead of a one-shot iterator.
_REITERABLES = ("a list of (X, y) batches, a tf.data.Dataset, or the iterators of "
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
    """A re-iterable batch iterator over one split held as whole tensors.

    Args:
        X: (N, 28, 28, 1) float32 images in [0, 1]. y: (N,) int32 labels.
        batch_size: examples per batch; the last batch may be smaller.
        shuffle: draw a new example order (``tf.random.shuffle``, so ``tf.random.set_seed``
            makes it repeatable) at every ``iter()``.
        resize: if given, each batch goes through ``tf.image.resize_with_pad`` to
            (resize, resize), as d2l 0.17 did: bilinear, no antialiasing, and for the square
            Fashion-MNIST images no padding.
    """

    def __init__(self, X: Any, y: Any, batch_size: int, shuffle: bool,
                 resize: int | tuple[int, int] | None = None) -> None:
        self.X, self.y = X, y
        self.batch_size, self.shuffle = batch_size, shuffle
        self.resize = (resize, resize) if isinstance(resize, int) else resize

    def __len__(self) -> int:
        return -(-int(self.X.shape[0]) // self.batch_size)

    def epoch_order(self) -> np.ndarray | None:
        """A fresh example order (int32) if shuffling, else None; one draw per epoch."""
        if not self.shuffle:
            return None
        order: np.ndarray = tf.random.shuffle(tf.range(int(self.X.shape[0]))).numpy()
        return order

    def prepare(self, X: Any) -> Any:
        """Apply the resize (if any) to a batch of images."""
        if self.resize is None:
            return X
        return tf.image.resize_with_pad(X, *self.resize)  # (batch, h, w, 1)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        n = int(self.X.shape[0])
        order = self.epoch_order()
        for start in range(0, n, self.batch_size):
            if order is None:
                stop = start + self.batch_size
                xb, yb = self.X[start:stop], self.y[start:stop]
            else:  # NumPy indices: much cheaper to slice than an eager tensor
                rows = order[start:start + self.batch_size]
                xb, yb = tf.gather(self.X, rows), tf.gather(self.y, rows)
            yield self.prepare(xb), yb


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None,
                            data_dir: str | None = None) -> tuple[FashionMNISTBatches,
                                                                   FashionMNISTBatches]:
    """Fashion-MNIST as (train_iter, test_iter): train reshuffled every epoch, test in order.

    Batches are X float32 (B, 28, 28, 1) in [0, 1] (or (B, r, r, 1) with ``resize``) and
    y int32, as in d2l 0.17.6.
    """
    from softreg.core.config import check_setting
    from softreg.d2l.common import fashion_mnist_splits

    check_setting("batch_size", batch_size)
    iters = []
    for split, (images, labels) in zip(("train", "test"), fashion_mnist_splits(data_dir),
                                       strict=True):
        X = np.asarray(images, dtype=np.float32)[..., None] / np.float32(255.0)  # (N, 28, 28, 1)
        y = np.asarray(labels, dtype=np.int32)
        iters.append(FashionMNISTBatches(tf.constant(X), tf.constant(y), batch_size,
                                         split == "train", resize))
    return iters[0], iters[1]


def _is_keras(obj: Any) -> bool:
    return isinstance(obj, keras.layers.Layer)


def _forward(net: Any, X: Any, training: bool) -> Any:
    return net(X, training=training) if _is_keras(net) else net(X)


def accuracy(y_hat: Any, y: Any) -> float:
    """Number of correct predictions (a count, not a fraction, as in d2l).

    Tensors or NumPy arrays: ``y`` of shape (n,), ``y_hat`` (n, C) scores or (n,) classes.

    Raises:
        ModelShapeError: other shapes (an (n, 1) output would broadcast against the labels).
    """
    y_hat, y = tf.convert_to_tensor(y_hat), tf.convert_to_tensor(y)
    _check_accuracy_shapes(y_hat.shape.as_list(), y.shape.as_list())
    return float(_correct(y_hat, y))


def _correct(y_hat: Any, y: Any) -> Any:
    """Correct count as an int64 tensor (works eagerly and inside a ``tf.function``)."""
    y_hat, y = tf.convert_to_tensor(y_hat), tf.convert_to_tensor(y)
    if y_hat.shape.rank > 1 and (y_hat.shape[1] or 2) > 1:
        y_hat = tf.argmax(y_hat, axis=1)
    return tf.reduce_sum(tf.cast(tf.equal(tf.cast(y_hat, y.dtype), y), tf.int64))


def _loss_terms(loss: Any, y_hat: Any, y: Any) -> tuple[Any, Any]:
    """(scalar for a Keras optimizer, float64 sum of the per-example losses).

    A Keras loss is called labels first, a plain function ``loss(y_hat, y)``. Per-example
    losses are averaged for the optimizer; a scalar counts as a batch mean unless the Keras
    loss says ``reduction='sum'``.
    """
    value = loss(y, y_hat) if isinstance(loss, keras.losses.Loss) else loss(y_hat, y)
    value = tf.convert_to_tensor(value)
    if value.shape.rank:
        return tf.reduce_mean(value), tf.reduce_sum(tf.cast(value, tf.float64))
    total = tf.cast(value, tf.float64)
    if getattr(loss, "reduction", None) == "sum":
        return value, total
    return value, total * tf.cast(tf.shape(y)[0], tf.float64)


# Compiled functions per (kind, net, loss, updater, iterator), reused by later calls with the
# same objects; the cache holds those objects weakly (an iterator holds a whole split), and the
# functions reach them only through the cache's getter, at trace time.
_COMPILED: WeakCache[Any] = WeakCache(size=8)


def _compiled(kind: str, make_run: Callable[[Getter], Callable[..., Any]], *objs: Any) -> Any:
    """The ``tf.function`` of ``make_run(getter)`` for these objects (the net first), traced
    once per input type and per value of the plain Python values the net reads
    (:func:`_python_state`)."""
    return _COMPILED.get(_cache_kind(kind, objs[0]), objs,
                         lambda get: tf.function(make_run(get), reduce_retracing=True))


def _cache_kind(kind: str, net: Any) -> str:
    """The cache's name of a compiled pass of ``kind`` on ``net`` as it reads Python now."""
    return f"{kind}{_python_state(net)!r}"


_PLAIN = (bool, int, float, str)


def _python_state(net: Any) -> tuple[tuple[str, Any], ...]:
    """The plain values (numbers, strings, flags) that the ``call`` of the net and of each
    layer nested in it names (:func:`_call_state`); Keras's own layers read none and are
    skipped. A traced pass bakes them in as constants, so a change to one must trace it anew.
    d2l runs eagerly: the book's dropout-from-scratch net reads its rates from globals, and a
    rate changed between two trainings of one net was ignored here (the first rate trained
    on); so was one read by a layer of the reader's own inside a ``Sequential``."""
    flatten = getattr(net, "_flatten_layers", None)
    layers = [net, *(flatten(include_self=False, recursive=True) if flatten else ())]
    state: list[tuple[str, Any]] = []
    for i, layer in enumerate(layers):
        if type(layer).__module__.startswith(("keras.", "tensorflow.", "tf_keras.")):
            continue
        state += [(f"{i}:{name}" if i else name, value) for name, value in _call_state(layer)]
    return tuple(state)


def _call_state(net: Any) -> list[tuple[str, Any]]:
    """The plain values that ``type(net).call`` names: its module's globals, its closure's
    cells and the object's own attributes (``self.rate``)."""
    fn = getattr(type(net), "call", None)
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    found = getattr(fn, "__globals__", {})
    own = getattr(net, "__dict__", {})
    state = [(n, found[n]) for n in code.co_names if isinstance(found.get(n), _PLAIN)]
    state += [(f"self.{n}", own[n]) for n in code.co_names if isinstance(own.get(n), _PLAIN)]
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or (),
                          strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, _PLAIN):
            state.append((name, value))
    return state


def _step_on(step: Callable[..., tuple[Any, Any]]) -> Callable[[Getter], Callable[..., Any]]:
    """``make_run(getter)`` returning ``run(X, y) = step(*getter(), X, y)``."""
    def make_run(get: Getter) -> Callable[[Any, Any], tuple[Any, Any]]:
        def run(X: Any, y: Any) -> tuple[Any, Any]:
            return step(*get(), X, y)
        return run
    return make_run


def _eval_step(net: Any, loss: Any, X: Any, y: Any) -> tuple[Any, Any]:
    y_hat = _forward(net, X, training=False)
    l_sum = _loss_terms(loss, y_hat, y)[1] if loss is not None else tf.zeros((), tf.float64)
    return l_sum, _correct(y_hat, y)


def _optimizer_step(net: Any, loss: Any, updater: Any, X: Any, y: Any) -> tuple[Any, Any]:
    params = net.trainable_variables
    with tf.GradientTape() as tape:
        y_hat = _forward(net, X, training=True)
        l_opt, l_sum = _loss_terms(loss, y_hat, y)
    grads = tape.gradient(l_opt, params)
    updater.apply_gradients(zip(grads, params, strict=True))
    return l_sum, _correct(y_hat, y)


def _whole_pass(step: Any, get: Getter) -> Any:
    """Build ``run(X, y, order, batch_size)``: every batch of a split in one graph loop."""
    def run(X: Any, y: Any, order: Any, batch_size: Any) -> tuple[Any, Any]:
        *step_objs, batches = get()
        loss_sum, correct = tf.zeros((), tf.float64), tf.zeros((), tf.int64)
        for start in tf.range(0, tf.size(order), batch_size):
            rows = order[start:start + batch_size]
            xb = batches.prepare(tf.gather(X, rows))  # (batch, 28, 28, 1) or resized
            l_sum, c = step(*step_objs, xb, tf.gather(y, rows))
            loss_sum += l_sum
            correct += c
        return loss_sum, correct
    return run


def _run_whole_pass(kind: str, step: Any, batches: FashionMNISTBatches,
                    *objs: Any, scored: bool = False) -> tuple[Any, Any, int]:
    """One pass over ``batches`` as one compiled call (same order as iterating them)."""
    order = batches.epoch_order()
    n = int(batches.X.shape[0])
    where = f"the {'training' if kind == 'train' else 'evaluation'} iterator"
    check_num_batches(n, where)
    _check_width(objs[0], batches.prepare(batches.X[:1]), batches.y, where, scored)
    run = _compiled(kind, lambda get: _whole_pass(step, get), *objs, batches)
    rows = tf.range(n) if order is None else tf.constant(order)
    loss_sum, correct = run(batches.X, batches.y, rows, tf.constant(batches.batch_size))
    return loss_sum, correct, n


def _check_width(net: Any, X: Any, labels: Any, where: str, scored: bool = False) -> None:
    """Before a pass: does the net have an output for every label? (a forward of one example)

    ``labels`` are a whole split's (softreg's own batches) or the first batch's (any other
    iterator). A net with one output (or none per class) is not a classifier over labels.
    """
    width = _forward(net, X[:1], training=False).shape
    if scored:  # evaluate_accuracy's answer: an output it cannot score is refused (a
        # regression's (n, 1) output, which section 4.4's train_epoch_ch3 and evaluate_loss
        # take, is not)
        _check_accuracy_shapes(width.as_list(), [1, *labels.shape[1:]])
    if len(width) != 2 or (width[1] or 0) < 2 or not int(tf.size(labels)):
        return
    check_output_width(int(width[1]), int(tf.reduce_max(labels)), where,
                       "keras.layers.Dense(10)")


def _sum_steps(step: Any, data_iter: Any, where: str, first: Any = None,
               net: Any = None, scored: bool = False) -> tuple[Any, Any, int]:
    """Loop ``step(X, y)`` over the batches; sums stay on the device until the end.

    ``first(X)`` runs before the first step; with ``net``, so does the output-width check.
    """
    sums, corrects, count = [], [], 0
    for X, y in data_iter:
        if not count and first is not None:
            first(X)
        if not count and net is not None:
            _check_width(net, X, y, where, scored)
        l_sum, correct = step(X, y)
        sums.append(l_sum)
        corrects.append(correct)
        count += int(y.shape[0])
    check_num_batches(count, where)
    return tf.add_n(sums), tf.add_n(corrects), count


def _eval_totals(net: Any, data_iter: Any, loss: Any = None,
                 scored: bool = False) -> tuple[Any, Any, int]:
    """Loss sum, correct count (device tensors) and count over ``data_iter``; ``scored``: the
    count is the caller's answer (evaluate_accuracy): see :func:`_check_width`."""
    if _is_keras(net) and isinstance(data_iter, FashionMNISTBatches):
        return _run_whole_pass("eval", _eval_step, data_iter, net, loss, scored=scored)
    if _is_keras(net):
        step = _compiled("eval-step", _step_on(_eval_step), net, loss)
    else:  # any Python function: run eagerly
        step = functools.partial(_eval_step, net, loss)
    return _sum_steps(step, data_iter, "the evaluation iterator", net=net, scored=scored)


def evaluate_accuracy(net: Any, data_iter: Any) -> float:
    """Accuracy of ``net`` over ``data_iter`` (one host read at the end)."""
    _, correct, count = _eval_totals(net, data_iter, scored=True)
    return int(correct) / count


def _updater_step(net: Any, loss: Any, updater: Any, params: list[Any], X: Any,
                  y: Any) -> tuple[Any, Any]:
    """A from-scratch step, run eagerly: the user's updater may be any Python."""
    with tf.GradientTape() as tape:
        y_hat = _forward(net, X, training=True)
        _, l_sum = _loss_terms(loss, y_hat, y)
    updater(int(y.shape[0]), tape.gradient(l_sum, params))
    return l_sum, _correct(y_hat, y)


def _params_of(net: Any, updater: Any) -> list[Any]:
    """The variables to differentiate (and to snapshot): the net's or the updater's.

    Raises:
        ConfigError: neither the net nor the updater makes them reachable.
    """
    if isinstance(updater, keras.optimizers.Optimizer):
        if not hasattr(net, "trainable_variables"):
            raise ConfigError(
                f"a Keras optimizer needs a Keras model as net (got {type(net).__name__}, which"
                " has no trainable_variables); pass a from-scratch updater(batch_size, grads)"
                " with a params attribute instead")
        return list(net.trainable_variables)
    params = getattr(updater, "params", None)
    if params is None and _is_keras(net):
        params = net.trainable_variables
    if params is None:
        raise ConfigError(
            "updater(batch_size, grads) needs to know the parameters: give it a params "
            "attribute (as the chapter's Updater class does) or pass a Keras model as net")
    return list(params)


def _ensure_built(net: Any, X: Any) -> None:
    """Create a Keras net's weights (a net without an input shape has none until called)."""
    if _is_keras(net) and not net.built:
        net(X, training=False)


def train_epoch_ch3_totals(net: Any, train_iter: Any, loss: Any,
                           updater: Any) -> tuple[Any, Any, int]:
    """One training epoch; returns (loss sum, correct) as device tensors and the count.

    A Keras optimizer on softreg's own iterator runs the whole epoch as one compiled call;
    on any other iterator each step is one compiled call. A from-scratch updater runs eagerly.
    """
    params: list[Any] = []

    def ready(X: Any) -> None:  # before the first step: weights and optimizer state exist
        _ensure_built(net, X)
        params[:] = _params_of(net, updater)
        if isinstance(updater, keras.optimizers.Optimizer) and not updater.built:
            updater.build(params)

    if isinstance(updater, keras.optimizers.Optimizer):
        if isinstance(train_iter, FashionMNISTBatches):
            ready(train_iter.prepare(train_iter.X[:1]))
            return _run_whole_pass("train", _optimizer_step, train_iter, net, loss, updater)
        step = _compiled("train-step", _step_on(_optimizer_step), net, loss, updater)
    else:
        step = functools.partial(_updater_step, net, loss, updater, params)
    return _sum_steps(step, train_iter, "the training iterator", first=ready, net=net)


def train_epoch_ch3(net: Any, train_iter: Any, loss: Any, updater: Any) -> tuple[float, float]:
    """One epoch; returns (mean per-example train loss, train accuracy) like d2l."""
    loss_sum, correct, count = train_epoch_ch3_totals(net, train_iter, loss, updater)
    return float(loss_sum) / count, int(correct) / count


class _Ch3Trainer:
    """EpochTrainer around the user's net, loss, updater and iterators."""

    def __init__(self, net: Any, train_iter: Any, test_iter: Any, loss: Any,
                 updater: Any) -> None:
        self.net, self.train_iter, self.test_iter = net, train_iter, test_iter
        self.loss, self.updater = loss, updater
        if _is_keras(net) and not net.built:
            for X, y in test_iter:  # the test iterator: no shuffle, no random numbers drawn
                _ensure_built(net, X)
                if isinstance(test_iter, Iterator):  # one-shot (one epoch): keep its batch
                    self.test_iter = itertools.chain([(X, y)], test_iter)
                break
        self.params = _params_of(net, updater)
        if isinstance(updater, keras.optimizers.Optimizer):
            check_updater_lr(updater.learning_rate,
                             "the Keras optimizer's learning rate (float32 in Keras)")

    def train_epoch(self, epoch: int) -> Any:
        return totals(*train_epoch_ch3_totals(self.net, self.train_iter, self.loss,
                                              self.updater))

    def evaluate(self, split: str) -> Any:
        return totals(*_eval_totals(self.net, self.test_iter, self.loss))

    def snapshot(self) -> list[np.ndarray]:
        return [np.array(p.numpy(), copy=True) for p in self.params]

    def restore(self, state: list[np.ndarray]) -> None:
        for p, saved in zip(self.params, state, strict=True):
            p.assign(saved)


def train_ch3(net: Any, train_iter: Any, test_iter: Any, loss: Any, num_epochs: int,
              updater: Any) -> History:
    """Train and plot train loss, train accuracy and test accuracy per epoch.

    Args:
        net: a Keras model (or layer), or any callable mapping X to logits.
        train_iter, test_iter: iterables of (X, y) batches.
        loss: a Keras loss (called ``loss(y, y_hat)``; any reduction) or a function
            ``loss(y_hat, y)`` returning per-example losses; the reported train loss is the
            true per-example mean in every case.
        num_epochs: number of epochs.
        updater: a Keras optimizer (stepped on the batch-mean loss in a compiled step), or a
            callable ``updater(batch_size, grads)`` given the gradients of the summed loss
            with respect to ``updater.params`` (or the Keras net's trainable variables).

    Returns:
        The per-epoch :class:`~softreg.epochs.history.History`.

    Raises:
        ConfigError: the parameters cannot be found (see :func:`_params_of`), an iterator is
            empty, or one-shot (a generator) with ``num_epochs`` > 1, ``num_epochs`` is not an
            integer >= 0, or the optimizer's learning rate is not a positive number that
            float32 can hold.
        ModelShapeError: the net has fewer outputs than the labels need (first batch).
    """
    check_reiterable(num_epochs, _REITERABLES, train_iter=train_iter, test_iter=test_iter)
    trainer = _Ch3Trainer(net, train_iter, test_iter, loss, updater)
    return run_train_ch3(trainer, num_epochs)


def _first_predictions(net: Any, test_iter: Any, n: int) -> tuple[Any, list[int], list[int]]:
    """(images, true labels, predicted labels) of the first ``n`` examples of ``test_iter``."""
    X, y = next(iter(test_iter))
    pred = tf.argmax(_forward(net, X, training=False), axis=1)
    return X[:n].numpy(), y[:n].numpy().tolist(), pred[:n].numpy().tolist()


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
