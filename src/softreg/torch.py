"""d2l-compatible helpers for PyTorch: ``from softreg import torch as d2l``.

The d2l 0.17 chapters on softmax regression (concise and from scratch) and the MLP chapters run
unchanged on these functions. Differences from d2l 0.17.6, all fixes:

* data come from softreg's verified Fashion-MNIST layer as whole-split tensors sliced per batch
  (no per-example transforms, no worker processes);
* ``train_ch3`` reports the true mean per-example train loss whatever the loss reduction,
  draws curves whose y-axis fits the data, writes a PNG outside Jupyter, warns instead of
  asserting, keeps the last good weights if training diverges, and returns the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

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
from softreg.d2l.torch_book import *  # noqa: F403 (the book's aliases and helpers)
from softreg.epochs.history import History

torch = import_framework("torch")
nn = torch.nn

# What train_ch3 asks for instead of a one-shot iterator.
_REITERABLES = ("a list of (X, y) batches, a torch DataLoader, or the iterators of "
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
        X: (N, 1, 28, 28) float32 images in [0, 1]. y: (N,) int64 labels.
        batch_size: examples per batch; the last batch may be smaller.
        shuffle: draw a new example order (from torch's global RNG) at every ``iter()``.
        resize: if given, each batch is resized to (resize, resize) with bilinear interpolation.
    """

    def __init__(self, X: Any, y: Any, batch_size: int, shuffle: bool,
                 resize: int | tuple[int, int] | None = None) -> None:
        self.X, self.y = X, y
        self.batch_size, self.shuffle = batch_size, shuffle
        self.resize = (resize, resize) if isinstance(resize, int) else resize

    def __len__(self) -> int:
        return -(-self.X.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        n = self.X.shape[0]
        order = torch.randperm(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:  # a copy, as d2l's loaders give: a batch edited in place
                stop = start + self.batch_size  # (X -= X.mean()) leaves the split as it was
                xb, yb = self.X[start:stop].clone(), self.y[start:stop].clone()
            else:
                rows = order[start:start + self.batch_size]
                xb, yb = self.X.index_select(0, rows), self.y.index_select(0, rows)
            if self.resize is not None:
                xb = nn.functional.interpolate(xb, size=self.resize, mode="bilinear",
                                               antialias=True, align_corners=False)
            yield xb, yb


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None,
                            data_dir: str | None = None) -> tuple[FashionMNISTBatches,
                                                                   FashionMNISTBatches]:
    """Fashion-MNIST as (train_iter, test_iter): train reshuffled every epoch, test in order.

    Batches are X float32 (B, 1, 28, 28) in [0, 1] (or (B, 1, r, r) with ``resize``) and y int64.
    """
    from softreg.core.config import check_setting
    from softreg.d2l.common import fashion_mnist_splits

    check_setting("batch_size", batch_size)
    iters = []
    for split, (images, labels) in zip(("train", "test"), fashion_mnist_splits(data_dir),
                                       strict=True):
        X = torch.from_numpy(np.asarray(images, dtype=np.float32) / np.float32(255.0))
        X = X.unsqueeze(1).contiguous()  # (N, 1, 28, 28)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        iters.append(FashionMNISTBatches(X, y, batch_size, split == "train", resize))
    return iters[0], iters[1]


def _device_of(net: Any) -> Any:
    if isinstance(net, nn.Module):
        for p in net.parameters():
            return p.device
    return torch.device("cpu")


def accuracy(y_hat: Any, y: Any) -> float:
    """Number of correct predictions (a count, not a fraction, as in d2l).

    Tensors or NumPy arrays: ``y`` of shape (n,), ``y_hat`` (n, C) scores or (n,) classes.

    Raises:
        ModelShapeError: other shapes (an (n, 1) output would broadcast against the labels).
    """
    y_hat, y = torch.as_tensor(y_hat), torch.as_tensor(y)
    _check_accuracy_shapes(y_hat.shape, y.shape)
    return float(_correct(y_hat, y))


def _correct(y_hat: Any, y: Any) -> Any:
    pred = y_hat.argmax(dim=1) if y_hat.ndim > 1 and y_hat.shape[1] > 1 else y_hat
    return (pred.type(y.dtype) == y).sum()


def _eval_totals(net: Any, data_iter: Any, loss: Any = None,
                 scored: bool = False) -> tuple[Any, Any, int]:
    """Loss sum, correct count (device tensors) and count over ``data_iter``, no grad;
    ``scored``: the count is the caller's answer (evaluate_accuracy), so an output it cannot
    score is refused (a regression's (n, 1) output, as section 4.4's evaluate_loss takes, is
    not)."""
    if isinstance(net, nn.Module):
        net.eval()
    device = _device_of(net)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            if not count:
                _check_width(y_hat, y, data_iter, "the evaluation iterator")
                if scored:
                    _check_accuracy_shapes(y_hat.shape, y.shape)
            correct += _correct(y_hat, y)
            if loss is not None:
                loss_sum += _loss_sum(loss, y_hat, y)
            count += y.numel()
    check_num_batches(count, "the evaluation iterator")
    return loss_sum, correct, count


def evaluate_accuracy(net: Any, data_iter: Any) -> float:
    """Accuracy of ``net`` over ``data_iter`` (one host sync at the end)."""
    _, correct, count = _eval_totals(net, data_iter, scored=True)
    return int(correct) / count


def _reduction(loss: Any) -> str:
    return str(getattr(loss, "reduction", "mean"))


def _loss_terms(loss: Any, y_hat: Any, y: Any) -> tuple[Any, Any]:
    """(scalar to backpropagate with an optimizer, sum of the per-example losses).

    Per-example losses are averaged for the optimizer (as d2l does); a 0-d loss is used as it
    is, and counts as a batch mean unless the loss object says ``reduction='sum'``.
    """
    value = loss(y_hat, y)
    if value.ndim > 0:
        return value.mean(), value.sum()
    if _reduction(loss) == "sum":
        return value, value
    return value, value * y.shape[0]


def _loss_sum(loss: Any, y_hat: Any, y: Any) -> Any:
    return _loss_terms(loss, y_hat, y)[1]


class _Ch3Trainer:
    """EpochTrainer around the user's net, loss, updater and iterators."""

    def __init__(self, net: Any, train_iter: Any, test_iter: Any, loss: Any,
                 updater: Any) -> None:
        self.net, self.train_iter, self.test_iter = net, train_iter, test_iter
        self.loss, self.updater = loss, updater
        self.params = _params_of(net, updater)
        if isinstance(updater, torch.optim.Optimizer):
            for group in updater.param_groups:
                check_updater_lr(group.get("lr"), "the optimizer's learning rate")

    def train_epoch(self, epoch: int) -> Any:
        loss_sum, correct, count = train_epoch_ch3_totals(
            self.net, self.train_iter, self.loss, self.updater)
        return totals(loss_sum, correct, count)

    def evaluate(self, split: str) -> Any:
        return totals(*_eval_totals(self.net, self.test_iter, self.loss))

    def snapshot(self) -> list[Any] | None:
        if not self.params:
            return None  # a from-scratch net: the loop says nothing could be put back
        return [p.detach().clone() for p in self.params]

    def restore(self, state: list[Any]) -> None:
        with torch.no_grad():
            for p, saved in zip(self.params, state, strict=True):
                p.copy_(saved)


def _check_width(y_hat: Any, y: Any, data_iter: Any, where: str) -> None:
    """On a pass's first batch: does the net have an output for every label? (one host sync)

    softreg's own batches know all their labels; another iterator's first batch stands for it.
    A net with one output (or none per class) is not a classifier over labels: not checked.
    """
    if y_hat.ndim != 2 or y_hat.shape[1] < 2:
        return
    labels = data_iter.y if isinstance(data_iter, FashionMNISTBatches) else y
    if labels.numel():
        check_output_width(int(y_hat.shape[1]), int(labels.max()), where, "nn.Linear(784, 10)")


def _params_of(net: Any, updater: Any) -> list[Any]:
    if isinstance(updater, torch.optim.Optimizer):
        return [p for g in updater.param_groups for p in g["params"]]
    if isinstance(net, nn.Module):
        return list(net.parameters())
    return []  # a from-scratch net function: its parameters are not reachable from here


def train_epoch_ch3_totals(net: Any, train_iter: Any, loss: Any,
                           updater: Any) -> tuple[Any, Any, int]:
    """One training epoch; returns (loss sum, correct) as device tensors and the count."""
    if isinstance(net, nn.Module):
        net.train()
    device = _device_of(net)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    is_optimizer = isinstance(updater, torch.optim.Optimizer)
    for X, y in train_iter:
        X, y = X.to(device), y.to(device)
        y_hat = net(X)
        if not count:
            _check_width(y_hat, y, train_iter, "the training iterator")
        l_opt, l_sum = _loss_terms(loss, y_hat, y)
        if is_optimizer:
            updater.zero_grad()
            l_opt.backward()
            updater.step()
        else:
            l_sum.backward()  # d2l's from-scratch updaters divide by the batch size
            updater(y.shape[0])
        loss_sum += l_sum.detach()
        correct += _correct(y_hat.detach(), y)
        count += y.numel()
    check_num_batches(count, "the training iterator")
    return loss_sum, correct, count


def train_epoch_ch3(net: Any, train_iter: Any, loss: Any, updater: Any) -> tuple[float, float]:
    """One epoch; returns (mean per-example train loss, train accuracy) like d2l."""
    loss_sum, correct, count = train_epoch_ch3_totals(net, train_iter, loss, updater)
    return float(loss_sum) / count, int(correct) / count


def train_ch3(net: Any, train_iter: Any, test_iter: Any, loss: Any, num_epochs: int,
              updater: Any) -> History:
    """Train and plot train loss, train accuracy and test accuracy per epoch.

    Args:
        net: an ``nn.Module`` or any callable mapping X to logits.
        train_iter: a re-iterable of (X, y) training batches.
        test_iter: a re-iterable of (X, y) test batches.
        loss: a loss with reduction 'mean', 'sum' or 'none', or a function returning per-example
            losses; the reported train loss is the true per-example mean in every case.
        num_epochs: number of epochs.
        updater: a ``torch.optim.Optimizer`` (stepped on the loss as returned, per-example losses
            averaged first, as d2l does) or a callable ``updater(batch_size)`` that steps on the
            gradients of the summed loss.

    Returns:
        The per-epoch :class:`~softreg.epochs.history.History`.

    Raises:
        ConfigError: ``num_epochs`` is not an integer >= 0, an iterator is empty, or one-shot
            (a generator) with ``num_epochs`` > 1, or the optimizer's learning rate is not a
            positive number that float32 can hold.
        ModelShapeError: the net has fewer outputs than the labels need (first batch).
    """
    check_reiterable(num_epochs, _REITERABLES, train_iter=train_iter, test_iter=test_iter)
    trainer = _Ch3Trainer(net, train_iter, test_iter, loss, updater)
    return run_train_ch3(trainer, num_epochs)


def _first_predictions(net: Any, test_iter: Any, n: int) -> tuple[Any, list[int], list[int]]:
    """(images, true labels, predicted labels) of the first ``n`` examples of ``test_iter``."""
    X, y = next(iter(test_iter))
    with torch.no_grad():
        pred = net(X.to(_device_of(net))).argmax(dim=1).cpu()
    return X[:n].numpy(), y[:n].tolist(), pred[:n].tolist()


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


