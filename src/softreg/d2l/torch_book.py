"""The names the book's chapters 3 and 4 use beyond ``train_ch3``, for PyTorch.

``softreg.torch`` re-exports everything in ``__all__``: the tensor aliases the book's
framework-neutral cells call (``d2l.tensor``, ``d2l.reshape``, ``d2l.reduce_sum``...), the
linear-regression helpers of sections 3.2-3.3, ``load_array``, ``evaluate_loss`` and an
``Updater`` for from-scratch training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from softreg.core.optional import import_framework
from softreg.d2l.ch3 import check_num_batches, check_updater_lr

torch = import_framework("torch")

# The book's aliases: the same call under one name in every framework.
ones = torch.ones
zeros = torch.zeros
tensor = torch.tensor
arange = torch.arange
meshgrid = torch.meshgrid
sin = torch.sin
sinh = torch.sinh
cos = torch.cos
cosh = torch.cosh
tanh = torch.tanh
linspace = torch.linspace
exp = torch.exp
log = torch.log
normal = torch.normal
rand = torch.rand
matmul = torch.matmul
int32 = torch.int32
float32 = torch.float32
concat = torch.cat
stack = torch.stack
abs = torch.abs
eye = torch.eye


def numpy(x: Any, *args: Any, **kwargs: Any) -> Any:
    """The tensor as a NumPy array (detached from autograd)."""
    return x.detach().cpu().numpy(*args, **kwargs)


def size(x: Any) -> int:
    """Number of elements."""
    return int(x.numel())


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
    return x.type(dtype)


def transpose(x: Any) -> Any:
    """The transpose of a matrix (a 0-d or 1-d tensor is returned as it is)."""
    return x.t()


def synthetic_data(w: Any, b: Any, num_examples: int) -> tuple[Any, Any]:
    """Linear-regression data: X ~ N(0, 1), y = Xw + b + N(0, 0.01^2) noise.

    Returns X of shape (num_examples, len(w)) and y of shape (num_examples, 1).
    """
    X = torch.normal(0.0, 1.0, (num_examples, len(w)))
    y = torch.matmul(X, w) + b  # (num_examples,)
    y = y + torch.normal(0.0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def linreg(X: Any, w: Any, b: Any) -> Any:
    """The linear model Xw + b."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat: Any, y: Any) -> Any:
    """Per-example half squared error; ``y`` is reshaped to ``y_hat``'s shape."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def load_array(data_arrays: Sequence[Any], batch_size: int, is_train: bool = True) -> Any:
    """A DataLoader over tensors of equal length; shuffled each epoch when ``is_train``."""
    from torch.utils import data

    return data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train)


def evaluate_loss(net: Any, data_iter: Any, loss: Any) -> float:
    """Mean per-example loss of ``net`` over ``data_iter`` (labels shaped like the output).

    A loss that returns one number per batch (reduction 'mean') is weighted by the batch
    size, so the result is the per-example mean whatever the loss's reduction.

    Raises:
        ConfigError: ``data_iter`` yields no batches.
    """
    total, count = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            out = net(X)
            value = loss(out, y.reshape(out.shape))
            if value.ndim:
                total += float(value.sum())
                count += value.numel()
            else:
                n = int(out.shape[0]) if out.ndim else 1
                total += float(value) * (1 if getattr(loss, "reduction", "") == "sum" else n)
                count += n
    check_num_batches(count, "the evaluation iterator")
    return total / count


def sgd(params: Any, lr: float, batch_size: int) -> None:
    """Minibatch SGD on gradients of a summed loss: ``p -= lr * p.grad / batch_size``.

    Raises:
        ConfigError: ``lr`` is negative, not finite, or nonzero and out of float32's range
            (0 is a legal, if useless, rate, as in d2l).
    """
    check_updater_lr(lr, "lr")
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


class Updater:
    """Minibatch SGD on the given parameters: ``updater(batch_size)`` after a backward pass.

    The callable that ``train_ch3`` takes for from-scratch training, as a class.
    """

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
