"""The framework-neutral half of ``train_ch3``: the loop, the curves, the warnings.

A framework facade wraps the user's net, loss, updater and iterators in an EpochTrainer and
calls :func:`run_train_ch3`; everything that is not framework translation happens here.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from softreg.core.config import LR_HINT, check_lr
from softreg.core.errors import ConfigError, ModelShapeError
from softreg.core.validate import check_int, is_int
from softreg.d2l.animator import Animator
from softreg.data.fashion import NUM_CLASSES
from softreg.epochs.history import EpochRecord, History, Status
from softreg.epochs.loop import EpochTotals, EpochTrainer, run_epochs

CHANCE_ACCURACY = 0.1  # ten classes
# What d2l 0.17's train_ch3 asserts of the last epoch (a run short of it warns here).
D2L_MAX_LOSS, D2L_MIN_ACC = 0.5, 0.7


class TrainCh3Warning(UserWarning):
    """A ``train_ch3`` run looks broken (diverged, no better than chance, impossible values)."""


def run_train_ch3(trainer: EpochTrainer, num_epochs: int, *, figure: bool = True,
                  stem: str = "train_ch3") -> History:
    """Train for ``num_epochs`` with softreg's epoch loop, plot, warn, return the history.

    The curves (train loss, train accuracy, test accuracy) update live in Jupyter; elsewhere
    they are written to a PNG whose path is printed.

    Raises:
        KeyboardInterrupt: Ctrl-C (or SIGTERM) during training, raised again once the weights
            of the last finished epoch (the initial ones when none finished) are put back and
            what was kept is printed on stderr.
    """
    check_num_epochs(num_epochs)
    animator = Animator(xlabel="epoch", xlim=(1, num_epochs) if num_epochs > 1 else None,
                        legend=["train loss", "train acc", "test acc"],
                        autosave=False) if figure else None  # one PNG at the end, not per epoch

    def on_epoch(rec: EpochRecord, hist: History) -> bool:
        if animator is not None:
            animator.add(rec.epoch, (rec.train_loss, rec.train_acc, rec.test_acc))
        return False

    history = History()
    try:
        run_epochs(trainer, num_epochs, callbacks=[on_epoch], history=history,
                   reraise_interrupt=True)
    except KeyboardInterrupt:
        # d2l's train_ch3 is a plain loop: Ctrl-C ends the program (or the notebook cell).
        # The weights are already put back; say so, then let the interrupt go on.
        print(f"train_ch3: {history.message}", file=sys.stderr, flush=True)
        raise
    if animator is not None and not animator.live and history.records:
        path = animator.save(stem=stem)
        print(f"train_ch3: training curves written to {path}", file=sys.stdout)
    _warn_if_broken(history)
    return history


def _warn_if_broken(history: History) -> None:
    # stacklevel 4: this function, run_train_ch3, the facade's train_ch3, then the user's line.
    if history.status == Status.DIVERGED:
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
    elif not (last.train_loss < D2L_MAX_LOSS and last.train_acc > D2L_MIN_ACC
              and last.test_acc > D2L_MIN_ACC):
        warnings.warn(
            f"train_ch3: the run ended at train loss {last.train_loss:.4f}, train accuracy "
            f"{last.train_acc:.4f}, test accuracy {last.test_acc:.4f}; d2l 0.17's train_ch3 "
            f"asserts train loss < {D2L_MAX_LOSS} and both accuracies > {D2L_MIN_ACC} here (the "
            "book's runs pass): more epochs or another learning rate", TrainCh3Warning,
            stacklevel=4)


def totals(loss_sum: Any, correct: Any, count: int) -> EpochTotals:
    """Build EpochTotals from framework scalars (converted here, once per pass)."""
    return EpochTotals(float(loss_sum), int(correct), int(count))


def check_num_batches(seen: int, where: str) -> None:
    """An empty iterator would give NaN metrics silently: refuse it."""
    if seen == 0:
        raise ConfigError(f"{where} yielded no batches; pass a non-empty data iterator")


def check_num_epochs(num_epochs: Any) -> None:
    """Raises ConfigError unless ``num_epochs`` is an integer >= 0."""
    check_int(num_epochs, "num_epochs", 0)


def check_reiterable(num_epochs: Any, reiterables: str, **iterators: Any) -> None:
    """Refuse a one-shot iterator (a generator, ``iter(list)``) for more than one epoch.

    Each epoch iterates ``train_iter`` and ``test_iter`` again; a one-shot iterator is empty
    from the second epoch on, which would end the run there and lose the first epoch's
    results. An object with ``__next__`` is an iterator, and iterating it again gives the same
    exhausted object; it is recognised without calling ``iter()``, which on a DataLoader with
    workers would start them.

    Args:
        num_epochs: the run's number of epochs (anything but an integer > 1 passes).
        reiterables: what to pass instead, for the message (framework-specific).
        **iterators: the iterators by argument name, e.g. ``train_iter=...``.

    Raises:
        ConfigError: an iterator is one-shot and ``num_epochs`` > 1.
    """
    if not is_int(num_epochs, 2):
        return
    for name, it in iterators.items():
        if isinstance(it, Iterator):
            raise ConfigError(
                f"{name} is a one-shot iterator ({type(it).__name__}): it is used up after one "
                f"pass, but train_ch3 goes over it in each of the {num_epochs} epochs; pass a "
                f"re-iterable instead, such as {reiterables}"
            )


def check_output_width(width: int, label_max: int, where: str, layer: str) -> None:
    """Refuse a net with fewer outputs than the classes of its labels (the loss cannot score).

    Only a net narrower than Fashion-MNIST's 10 classes is refused here: a label of 10 or more
    for a net with at least 10 outputs is a bad label, which the label checks report.

    Args:
        width: the net's outputs per example (logits, one per class).
        label_max: the largest label of ``where``.
        where: what holds the labels, for the message, e.g. ``"the training iterator"``.
        layer: a last layer with the right width in the user's framework, for the message.

    Raises:
        ModelShapeError: ``label_max`` >= ``width``, and ``width`` < 10.
    """
    if width <= label_max and width < NUM_CLASSES:
        raise ModelShapeError(
            f"the net outputs {width} values per example, one per class, but {where} has "
            f"labels up to {label_max} (Fashion-MNIST has {NUM_CLASSES} classes, 0 to "
            f"{NUM_CLASSES - 1}): a label needs an output of its own; give the net "
            f"{max(label_max + 1, NUM_CLASSES)} outputs, e.g. {layer}"
        )


def check_updater_lr(lr: Any, what: str) -> None:
    """Apply softreg's learning-rate rule (in float32's range) to a user's rate, 0 included.

    0 is taken, as d2l takes it: a step of zero is useless but legal (an exercise that sweeps
    rates starts there), and float32 holds it exactly. A nonzero rate float32 cannot hold (inf,
    or a tiny one that becomes 0 or a subnormal) is still refused: the framework would train
    with another rate than the one written. A value that is not a plain number (a tensor, a
    schedule object) is converted with ``float()`` when it can be, and passed through
    otherwise: the framework owns it.

    Raises:
        ConfigError: the rate is negative, not finite, or nonzero and out of float32's range.
    """
    try:
        value = float(lr)
    except (TypeError, ValueError, RuntimeError):
        return
    if value == 0:
        return
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what} must be a finite number >= 0, got {value!r}; {LR_HINT}")
    check_lr(value, what, LR_HINT)

