"""The one epoch loop every framework shares.

:func:`run_epochs` drives an :class:`~softreg.epochs.loop.EpochTrainer`: it times epochs, turns
totals into an :class:`~softreg.epochs.history.EpochRecord`, calls callbacks, and handles the two
ways a
run can go wrong:

* a diverged training loss (non-finite, or above ``max_loss``), or weights that the trainer
  cannot hold (its snapshot raises :class:`WeightsOverflowError`): the weights of the last good
  epoch are put back, the history is
  marked ``"diverged"`` with a message, and the loop stops;
* Ctrl-C (``KeyboardInterrupt``): the weights of the last finished epoch are put back, the
  history is marked ``"interrupted"``; callers save a checkpoint from there.

The loop never raises for these: callers decide (the CLI exits non-zero, ``train_ch3`` warns).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from softreg.core.config import DEFAULT_MAX_LOSS
from softreg.epochs.history import EpochRecord, History, Status
from softreg.safety.stopsignals import Terminated


@dataclass(frozen=True)
class EpochTotals:
    """Sums over one pass: total per-example loss, number correct, number of examples.

    ``loss_sum / count`` is the true mean per-example cross-entropy; ``correct / count`` the
    accuracy. Backends accumulate on the device and convert once per pass (one host sync).
    """

    loss_sum: float
    correct: int
    count: int
    # The learning rate the epoch trained with, if the trainer says; None for an evaluation.
    # (Not NaN: totals must compare equal to themselves on every Python; 3.13's dataclass
    # __eq__ compares field by field, where nan != nan.)
    lr: float | None = None


    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")


class EpochTrainer(Protocol):
    """What :func:`softreg.epochs.loop.run_epochs` drives: any model, any framework."""

    def train_epoch(self, epoch: int) -> EpochTotals:
        """Train one epoch (``epoch`` counts from 0) and return its totals."""
        ...

    def evaluate(self, split: str) -> EpochTotals:
        """Evaluate the current model on ``split`` (``"test"`` or ``"val"``)."""
        ...

    def snapshot(self) -> Any:
        """Return a copy of the learned state, to restore after a divergence.

        None means the state is out of reach (a from-scratch net function whose parameters the
        trainer cannot see): the loop then says that nothing could be put back.

        Raises:
            WeightsOverflowError: the state cannot be given in the form a snapshot takes (the loop
                counts this as a divergence of the epoch just trained).
        """
        ...

    def restore(self, state: Any) -> None:
        """Put back a state returned by :meth:`snapshot`."""
        ...



class WeightsOverflowError(ArithmeticError):
    """A trainer's weights, finite as trained, overflow in the form its snapshot gives (a
    standardised table model folded back to raw inputs). :func:`run_epochs` counts it as a
    divergence. The message says what overflowed; ``advice`` what to do about it."""

    def __init__(self, what: str, advice: str) -> None:
        super().__init__(what)
        self.advice = advice


# Stands for "no epoch started yet" (a snapshot of None means "state out of reach").
_NO_SNAPSHOT = object()

# A callback gets the record just made and the history so far; returning True stops training.
EpochCallback = Callable[[EpochRecord, History], "bool | None"]


def run_epochs(
    trainer: EpochTrainer,
    num_epochs: int,
    *,
    start_epoch: int = 0,
    eval_splits: Sequence[str] = ("test",),
    callbacks: Sequence[EpochCallback] = (),
    history: History | None = None,
    max_loss: float = DEFAULT_MAX_LOSS,
    reraise_interrupt: bool = False,
) -> History:
    """Train from epoch ``start_epoch`` up to ``num_epochs`` (exclusive), evaluating each epoch.

    Args:
        trainer: the model, data and update rule behind the EpochTrainer Protocol.
        num_epochs: total number of epochs of the run (not the number still to do).
        start_epoch: epochs already done (a resumed run).
        eval_splits: splits evaluated after every epoch, e.g. ``("val", "test")``.
        callbacks: called after every epoch, in order; one returning True stops the run.
        history: an existing history to extend (resume); a new one otherwise.
        max_loss: a mean train loss above this (or non-finite) counts as divergence.
        reraise_interrupt: after a Ctrl-C has put the weights back and marked ``history``
            interrupted, raise the KeyboardInterrupt again (a d2l loop ends the program there);
            pass ``history`` to read what was kept.

    Returns:
        The history, whose ``status`` says how the run ended.
    """
    hist = history if history is not None else History()
    hist.status, hist.message = Status.COMPLETED, ""
    last_good: Any = _NO_SNAPSHOT
    committed = False  # the current weights belong to the last record of the history
    try:
        if start_epoch < num_epochs:
            last_good = trainer.snapshot()
        for epoch in range(start_epoch, num_epochs):
            committed = False
            t0 = time.perf_counter()
            totals = trainer.train_epoch(epoch)
            loss = totals.mean_loss
            if diverged(loss, max_loss):
                hist.status = Status.DIVERGED
                kept = _put_back(trainer, last_good, f"the weights of epoch {epoch}")
                hist.message = divergence_message(epoch, loss, max_loss, kept)
                break
            # Taken right after training, so that weights the trainer cannot hold stop the run
            # here, before a callback saves them; the next epoch puts this one back if needed.
            try:
                trained = trainer.snapshot()
            except WeightsOverflowError as exc:
                hist.status = Status.DIVERGED
                kept = _put_back(trainer, last_good, f"the weights of epoch {epoch}")
                hist.message = (f"training diverged in epoch {epoch + 1}: {exc}; {kept}. "
                                f"{exc.advice}")
                break
            rec = EpochRecord(
                epoch=epoch + 1,
                train_loss=totals.mean_loss,
                train_acc=totals.accuracy,
                lr=math.nan if totals.lr is None else totals.lr,
            )
            for split in eval_splits:
                ev = trainer.evaluate(split)
                setattr(rec, f"{split}_loss", ev.mean_loss)
                setattr(rec, f"{split}_acc", ev.accuracy)
            rec.seconds = time.perf_counter() - t0
            hist.records.append(rec)
            committed = True  # from here on a Ctrl-C keeps this epoch (record and weights)
            last_good = trained
            stop = False
            for cb in callbacks:
                stop = bool(cb(rec, hist)) or stop
            if stop:
                if hist.status == Status.COMPLETED:
                    hist.status = Status.EARLY_STOPPED
                break
    except KeyboardInterrupt as exc:
        if committed:
            kept = "the weights of the last finished epoch were kept"
        else:
            # Nothing finished yet (and no resumed history): what is put back is the start.
            what = ("the weights of the last finished epoch" if hist.records
                    else "the initial weights (no epoch had finished)")
            kept = _put_back(trainer, last_good, what)
        hist.status = Status.INTERRUPTED
        who = "by SIGTERM" if isinstance(exc, Terminated) else "by the user"
        hist.message = f"interrupted {who} after {len(hist.records)} finished epoch(s); {kept}"
        if reraise_interrupt:
            raise
    return hist


def diverged(loss: float, max_loss: float) -> bool:
    """True when a mean train loss counts as divergence: not finite, or above ``max_loss``."""
    return not math.isfinite(loss) or loss > max_loss


def divergence_message(epoch: int, loss: float, max_loss: float, kept: str) -> str:
    """What a history says when epoch ``epoch`` (from 0) diverged; ``kept``: what was kept."""
    why = "not finite" if not math.isfinite(loss) else f"above the limit {max_loss:.4g}"
    return (f"training diverged in epoch {epoch + 1}: the mean train loss is {loss:.4g}, "
            f"{why}; {kept}. Lower the learning rate and try again.")


def _put_back(trainer: EpochTrainer, state: Any, what: str) -> str:
    """Restore ``state`` when there is one; say what happened to the weights."""
    if state is _NO_SNAPSHOT:
        return "no epoch had started, so the weights are unchanged"
    if state is None:
        return (
            "the weights could not be put back (the trainer cannot reach the parameters of a "
            "plain function net): re-initialise them before training again"
        )
    trainer.restore(state)
    return f"{what} were kept"
