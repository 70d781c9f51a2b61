"""The framework-neutral half of ``train_ch3``: the loop, the curves, the warnings.

A framework facade wraps the user's net, loss, updater and iterators in an EpochTrainer and
calls :func:`run_train_ch3`; everything that is not framework translation happens here.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from softreg.backends.base import EpochTotals, EpochTrainer
from softreg.d2l.animator import Animator
from softreg.history import EpochRecord, History
from softreg.loop import run_epochs

CHANCE_ACCURACY = 0.1  # ten classes


class TrainCh3Warning(UserWarning):
    """A ``train_ch3`` run looks broken (diverged, no better than chance, impossible values)."""


def run_train_ch3(trainer: EpochTrainer, num_epochs: int, *, figure: bool = True,
                  stem: str = "train_ch3") -> History:
    """Train for ``num_epochs`` with softreg's epoch loop, plot, warn, return the history.

    The curves (train loss, train accuracy, test accuracy) update live in Jupyter; elsewhere
    they are written to a PNG whose path is printed.
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 0:
        from softreg.errors import ConfigError

        raise ConfigError(f"num_epochs must be an integer >= 0, got {num_epochs!r}")
    animator = Animator(xlabel="epoch", xlim=(1, num_epochs) if num_epochs > 1 else None,
                        legend=["train loss", "train acc", "test acc"],
                        autosave=False) if figure else None  # one PNG at the end, not per epoch

    def on_epoch(rec: EpochRecord, hist: History) -> bool:
        if animator is not None:
            animator.add(rec.epoch, (rec.train_loss, rec.train_acc, rec.test_acc))
        return False

    history = run_epochs(trainer, num_epochs, callbacks=[on_epoch])
    if animator is not None and not animator.live and history.records:
        path = animator.save(stem=stem)
        print(f"train_ch3: training curves written to {path}", file=sys.stdout)
    _warn_if_broken(history)
    return history


def _warn_if_broken(history: History) -> None:
    # stacklevel 4: this function, run_train_ch3, the facade's train_ch3, then the user's line.
    if history.status in ("diverged", "interrupted"):
        warnings.warn(f"train_ch3: {history.message}", TrainCh3Warning, stacklevel=4)
        return
    last = history.last
    if last is None:
        return
    for name in ("train_acc", "test_acc"):
        value = getattr(last, name)
        if not 0.0 <= value <= 1.0:
            warnings.warn(f"train_ch3: {name} is {value}, outside [0, 1]: the accuracy or the "
                          "iterator is wrong", TrainCh3Warning, stacklevel=4)
    if last.train_acc <= CHANCE_ACCURACY * 1.5 and len(history) >= 2:
        warnings.warn(
            f"train_ch3: train accuracy after {last.epoch} epochs is {last.train_acc:.3f}, no "
            "better than guessing; check the learning rate, the loss and the updater",
            TrainCh3Warning, stacklevel=4)


def totals(loss_sum: Any, correct: Any, count: int) -> EpochTotals:
    """Build EpochTotals from framework scalars (converted here, once per pass)."""
    return EpochTotals(float(loss_sum), int(correct), int(count))


def check_num_batches(seen: int, where: str) -> None:
    """An empty iterator would give NaN metrics silently: refuse it."""
    if seen == 0:
        from softreg.errors import ConfigError

        raise ConfigError(f"{where} yielded no batches; pass a non-empty data iterator")

