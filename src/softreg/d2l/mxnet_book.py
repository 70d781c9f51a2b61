"""The names the book's chapters 3 and 4 use beyond ``train_ch3``, for MXNet.

``softreg.mxnet`` re-exports everything in ``__all__``: the array aliases the book's
framework-neutral cells call (``d2l.tensor``, ``d2l.reshape``, ``d2l.reduce_sum``...), over
MXNet's NumPy interface (``mxnet.np``, the book's ``npx.set_np()`` mode), the linear-regression
helpers of sections 3.2-3.3, ``load_array``, ``evaluate_loss`` and an ``Updater`` for
from-scratch training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from softreg.core.optional import import_framework
from softreg.d2l.ch3 import check_num_batches, check_updater_lr

mx = import_framework("mxnet")
np = mx.np

# The book's aliases: the same call under one name in every framework.
ones = np.ones
zeros = np.zeros
tensor = np.array
arange = np.arange
meshgrid = np.meshgrid
sin = np.sin
sinh = np.sinh
cos = np.cos
cosh = np.cosh
tanh = np.tanh
linspace = np.linspace
exp = np.exp
log = np.log
normal = np.random.normal
rand = np.random.rand
matmul = np.dot
int32 = np.int32
float32 = np.float32
concat = np.concatenate
stack = np.stack
abs = np.abs
eye = np.eye


def numpy(x: Any, *args: Any, **kwargs: Any) -> Any:
    """The array as a (host) NumPy array."""
    return x.asnumpy(*args, **kwargs)


def size(x: Any) -> int:
    """Number of elements."""
    return int(x.size)


def reshape(x: Any, *shape: Any) -> Any:
    """``x`` with the given shape."""
    return x.reshape(*shape)


def reduce_sum(x: Any, *args: Any, **kwargs: Any) -> Any:
    """The sum of ``x``'s elements (over the given axes)."""
    return x.sum(*args, **kwargs)


def reduce_mean(x: Any, *args: Any, **kwargs: Any) -> Any:
    """The mean of ``x``'s elements (over the given axes)."""
    return x.mean(*args, **kwargs)


def argmax(x: Any, *args: Any, **kwargs: Any) -> Any:
    """Indices of the largest values (along the given axis)."""
    return x.argmax(*args, **kwargs)


def astype(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype``."""
    return x.astype(dtype)


def transpose(x: Any) -> Any:
    """The transpose of a matrix."""
    return x.T


def synthetic_data(w: Any, b: Any, num_examples: int) -> tuple[Any, Any]:
    """Linear-regression data: X ~ N(0, 1), y = Xw + b + N(0, 0.01^2) noise.

    Returns X of shape (num_examples, len(w)) and y of shape (num_examples, 1).
    """
    X = np.random.normal(0, 1, (num_examples, len(w)))
    y = np.dot(X, w) + b  # (num_examples,)
    y += np.random.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def linreg(X: Any, w: Any, b: Any) -> Any:
    """The linear model Xw + b."""
    return np.dot(X, w) + b


def squared_loss(y_hat: Any, y: Any) -> Any:
    """Per-example half squared error; ``y`` is reshaped to ``y_hat``'s shape."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def load_array(data_arrays: Sequence[Any], batch_size: int, is_train: bool = True) -> Any:
    """A Gluon DataLoader over arrays of equal length; shuffled each epoch when ``is_train``."""
    gluon = mx.gluon
    return gluon.data.DataLoader(gluon.data.ArrayDataset(*data_arrays), batch_size,
                                 shuffle=is_train)


def evaluate_loss(net: Any, data_iter: Any, loss: Any) -> float:
    """Mean per-example loss of ``net`` over ``data_iter``.

    Gluon's losses return one value per example, as the book's ``squared_loss`` does.

    Raises:
        ConfigError: ``data_iter`` yields no batches.
    """
    total, count = 0.0, 0
    for X, y in data_iter:
        value = loss(net(X), y)
        total += float(value.sum())
        count += int(value.size)
    check_num_batches(count, "the evaluation iterator")
    return total / count


def sgd(params: Any, lr: float, batch_size: int) -> None:
    """Minibatch SGD on gradients of a summed loss: ``p -= lr * p.grad / batch_size``.

    MXNet overwrites ``p.grad`` at every ``backward()`` (``grad_req='write'``), so nothing
    needs zeroing.

    Raises:
        ConfigError: ``lr`` is negative, not finite, or nonzero and out of float32's range
            (0 is a legal, if useless, rate, as in d2l).
    """
    check_updater_lr(lr, "lr")
    for param in params:
        param[:] = param - lr * param.grad / batch_size


class Updater:
    """Minibatch SGD on the given parameters: ``updater(batch_size)`` after ``backward()``."""

    def __init__(self, params: Sequence[Any], lr: float) -> None:
        check_updater_lr(lr, "lr")
        self.params, self.lr = list(params), lr

    def __call__(self, batch_size: int) -> None:
        sgd(self.params, self.lr, batch_size)


__all__ = [
    "Updater", "abs", "arange", "argmax", "astype", "concat", "cos", "cosh", "evaluate_loss",
    "exp", "eye", "float32", "int32", "linreg", "linspace", "load_array", "log", "matmul",
    "meshgrid", "normal", "numpy", "ones", "rand", "reduce_mean", "reduce_sum", "reshape", "sgd",
    "sin", "sinh", "size", "squared_loss", "stack", "synthetic_data", "tanh", "tensor",
    "transpose", "zeros",
]
