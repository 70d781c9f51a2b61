"""The names the book's chapters 3 and 4 use beyond ``train_ch3``, for TensorFlow.

``softreg.tensorflow`` re-exports everything in ``__all__``: the tensor aliases the book's
framework-neutral cells call (``d2l.tensor``, ``d2l.reshape``, ``d2l.reduce_sum``...), the
linear-regression helpers of sections 3.2-3.3, ``load_array``, ``evaluate_loss`` and the
``Updater`` that the from-scratch sections pass to ``train_ch3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from softreg.core.optional import import_framework
from softreg.d2l.ch3 import check_num_batches, check_updater_lr

tf = import_framework("tensorflow")

# The book's aliases: the same call under one name in every framework.
ones = tf.ones
zeros = tf.zeros
tensor = tf.constant
arange = tf.range
meshgrid = tf.meshgrid
sin = tf.sin
sinh = tf.sinh
cos = tf.cos
cosh = tf.cosh
tanh = tf.tanh
linspace = tf.linspace
exp = tf.exp
log = tf.math.log
normal = tf.random.normal
rand = tf.random.uniform
matmul = tf.matmul
int32 = tf.int32
float32 = tf.float32
concat = tf.concat
stack = tf.stack
abs = tf.abs
eye = tf.eye
reshape = tf.reshape
reduce_sum = tf.reduce_sum
reduce_mean = tf.reduce_mean
argmax = tf.argmax
astype = tf.cast
transpose = tf.transpose


def numpy(x: Any, *args: Any, **kwargs: Any) -> Any:
    """The tensor as a NumPy array."""
    return x.numpy(*args, **kwargs)


def size(x: Any) -> int:
    """Number of elements."""
    return int(tf.size(x).numpy())


def synthetic_data(w: Any, b: Any, num_examples: int) -> tuple[Any, Any]:
    """Linear-regression data: X ~ N(0, 1), y = Xw + b + N(0, 0.01^2) noise.

    Returns X of shape (num_examples, len(w)) and y of shape (num_examples, 1).
    """
    w = tf.reshape(tf.convert_to_tensor(w, dtype=tf.float32), (-1, 1))  # (d, 1)
    X = tf.random.normal((num_examples, int(w.shape[0])))
    y = tf.matmul(X, w) + b  # (num_examples, 1)
    y += tf.random.normal(y.shape, stddev=0.01)
    return X, tf.reshape(y, (-1, 1))


def linreg(X: Any, w: Any, b: Any) -> Any:
    """The linear model Xw + b."""
    return tf.matmul(X, w) + b


def squared_loss(y_hat: Any, y: Any) -> Any:
    """Per-example half squared error; ``y`` is reshaped to ``y_hat``'s shape."""
    return (y_hat - tf.reshape(y, y_hat.shape)) ** 2 / 2


def load_array(data_arrays: Sequence[Any], batch_size: int, is_train: bool = True) -> Any:
    """A ``tf.data.Dataset`` of batches; reshuffled each epoch when ``is_train``."""
    dataset = tf.data.Dataset.from_tensor_slices(tuple(data_arrays))
    if is_train:
        dataset = dataset.shuffle(buffer_size=1000)
    return dataset.batch(batch_size)


def evaluate_loss(net: Any, data_iter: Any, loss: Any) -> float:
    """Mean per-example loss of ``net`` over ``data_iter``.

    A Keras loss is called labels first; a plain function ``loss(y_hat, y)``. A loss that
    returns one number per batch is weighted by the batch size, so the result is the
    per-example mean whatever the loss's reduction.

    Raises:
        ConfigError: ``data_iter`` yields no batches.
    """
    keras_loss = isinstance(loss, tf.keras.losses.Loss)
    total, count = 0.0, 0
    for X, y in data_iter:
        out = net(X)
        value = tf.convert_to_tensor(loss(y, out) if keras_loss else loss(out, y))
        if value.shape.rank:
            total += float(tf.reduce_sum(tf.cast(value, tf.float64)))
            count += int(tf.size(value))
        else:
            n = int(out.shape[0])
            weight = 1 if getattr(loss, "reduction", "") == "sum" else n
            total += float(value) * weight
            count += n
    check_num_batches(count, "the evaluation iterator")
    return total / count


def sgd(params: Any, grads: Any, lr: float, batch_size: int) -> None:
    """Minibatch SGD on gradients of a summed loss: ``p -= lr * g / batch_size``.

    Raises:
        ConfigError: ``lr`` is negative, not finite, or nonzero and out of float32's range
            (0 is a legal, if useless, rate, as in d2l).
    """
    check_updater_lr(lr, "lr")
    for param, grad in zip(params, grads, strict=True):
        param.assign_sub(lr * grad / batch_size)


class Updater:
    """Minibatch SGD for ``train_ch3``: ``updater(batch_size, grads)`` with ``params`` known.

    ``grads`` are the gradients of the summed loss with respect to ``params``, in order.
    """

    def __init__(self, params: Sequence[Any], lr: float) -> None:
        check_updater_lr(lr, "lr")
        self.params, self.lr = list(params), lr

    def __call__(self, batch_size: int, grads: Sequence[Any]) -> None:
        sgd(self.params, grads, self.lr, batch_size)


__all__ = [
    "Updater", "abs", "arange", "argmax", "astype", "concat", "cos", "cosh", "evaluate_loss",
    "exp", "eye", "float32", "int32", "linreg", "linspace", "load_array", "log", "matmul",
    "meshgrid", "normal", "numpy", "ones", "rand", "reduce_mean", "reduce_sum", "reshape", "sgd",
    "sin", "sinh", "size", "squared_loss", "stack", "synthetic_data", "tanh", "tensor",
    "transpose", "zeros",
]
