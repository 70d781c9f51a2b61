"""Training softreg's own linear model with any backend: the EpochTrainer adapter, seeded
initial weights and epoch orders, early stopping, and :func:`fit` (one whole run in memory, for
sweeps and studies). The data it trains on is prepared in :mod:`softreg.fitting.splits`.

Everything random is drawn here with NumPy from the run's seed, never inside a framework, so
every framework sees the same initial weights and the same example order (parity), and a
resumed run draws exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from softreg.backends.base import LinearBackend
from softreg.core.config import TrainConfig
from softreg.core.shape import ModelShape
from softreg.data import fashion
from softreg.epochs.history import EpochRecord, History, Status
from softreg.epochs.loop import EpochCallback, EpochTotals, WeightsOverflowError, run_epochs
from softreg.fitting.splits import Params, Split, splits_shape


def initial_params(seed: int, std: float = 0.01, shape: ModelShape | None = None) -> Params:
    """Weights drawn from N(0, std) (the chapter's init) and zero biases, from ``seed``.

    ``shape`` is the data's (default: Fashion-MNIST's, the chapter's).
    """
    C, D = (shape or fashion.MODEL_SHAPE).weights
    rng = np.random.default_rng([seed, 0])
    W = (rng.standard_normal((C, D)) * std).astype(np.float32)
    return W, np.zeros(C, dtype=np.float32)


def epoch_order(seed: int, epoch: int, n: int) -> npt.NDArray[np.int64]:
    """The example order of epoch ``epoch``: a permutation depending only on (seed, epoch)."""
    return np.random.default_rng([seed, 1, epoch]).permutation(n).astype(np.int64)


class TrainedModel(Protocol):
    """A model whose raw-pixel weights can be read and replaced, and evaluated on a split.

    :class:`LinearTrainer` is one; so is each model of a pack (:mod:`softreg.fitting.pack`).
    """

    def evaluate(self, split: str) -> EpochTotals: ...

    def snapshot(self) -> Params: ...

    def restore(self, state: Params) -> None: ...


class LinearTrainer:
    """Adapts a :class:`LinearBackend` and a config to the EpochTrainer Protocol.

    :meth:`snapshot` and :meth:`restore` always speak raw-pixel weights: with standardised
    splits the backend trains the standardised model and the weights are converted on the way.
    """

    def __init__(self, backend: LinearBackend, config: TrainConfig, splits: dict[str, Split]):
        self.backend = backend
        self.config = config
        self.standardizer = splits["train"].standardizer if "train" in splits else None
        self.shape = splits_shape(splits)  # the data's: classes, features, image shape
        self.data = {name: backend.put_data(s.X, s.y) for name, s in splits.items()}

    def train_epoch(self, epoch: int) -> EpochTotals:
        """One epoch of SGD at this epoch's rate, which the totals report (``lr``)."""
        cfg = self.config
        order = epoch_order(cfg.seed, epoch, self.data["train"].num_examples)
        lr = cfg.lr_at(epoch)
        totals = self.backend.train_epoch(self.data["train"], order, cfg.batch_size, lr,
                                          cfg.weight_decay)
        return replace(totals, lr=lr)

    def evaluate(self, split: str) -> EpochTotals:
        return self.backend.evaluate(self.data[split])

    def snapshot(self) -> Params:
        """The raw-pixel weights (carrying the trained ones, so that :meth:`restore` is exact).

        Raises:
            WeightsOverflowError: finite trained weights overflow float32 for raw inputs (a tiny
                feature std or a huge rate): no checkpoint could hold them.
        """
        params = self.backend.get_params()
        if self.standardizer is None:
            return params
        raw = self.standardizer.fold(*params)
        if all(np.isfinite(a).all() for a in params) and not all(np.isfinite(a).all()
                                                                 for a in raw):
            what = self.standardizer.overflow(*params, self.shape)
            raise WeightsOverflowError(
                what or "the weights for raw inputs overflow float32", OVERFLOW_ADVICE)
        return raw

    def restore(self, state: Params) -> None:
        self.backend.set_params(*(self.standardizer.to_trained(state) if self.standardizer
                                  else state))

    def start(self, init: Params) -> None:
        """Set the initial weights, drawn for the inputs the backend trains on: with
        standardised splits, the standardised inputs' (N(0, 0.01) weights for a column in
        dollars, unfolded from raw inputs, would be weights of hundreds on its standardised
        values, and the first epochs' loss in the tens)."""
        self.backend.set_params(*(self.standardizer.start(*init) if self.standardizer
                                  else init))


# What to do about weights that overflow float32 once folded back to raw inputs.
OVERFLOW_ADVICE = ("Lower the learning rate, or rescale or drop a feature of tiny std, and try "
                   "again.")


class EarlyStopping:
    """Tracks the best epoch by ``monitor``; stops after ``patience`` epochs without progress.

    Used as a :func:`softreg.epochs.loop.run_epochs` callback. It keeps the best weights; call
    :meth:`finish` at the end of a run to put them back. With ``patience == 0`` it only
    tracks the best epoch (for the best checkpoint), never stops the run and never restores.
    """

    def __init__(self, trainer: TrainedModel, monitor: str, patience: int) -> None:
        self.trainer = trainer
        self.monitor = monitor
        self.patience = patience
        self.best_value = math.inf if monitor.endswith("loss") else -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_params: Params | None = None

    def improved(self, value: float) -> bool:
        if self.monitor.endswith("loss"):
            return value < self.best_value
        return value > self.best_value

    def __call__(self, rec: EpochRecord, history: History) -> bool:
        value = float(getattr(rec, self.monitor))
        if self.improved(value):
            self.best_value, self.best_epoch, self.bad_epochs = value, rec.epoch, 0
            self.best_params = self.trainer.snapshot()
            return False
        self.bad_epochs += 1
        if self.patience and self.bad_epochs >= self.patience:
            history.message = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs; "
                f"restored the best epoch {self.best_epoch} ({self.monitor} {self.best_value:.4f})"
            )
            return True
        return False

    def restore_best(self) -> None:
        if self.best_params is not None:
            self.trainer.restore(self.best_params)

    @property
    def restores(self) -> bool:
        """True when the run's final model is the best epoch: early stopping on, a best kept."""
        return self.patience > 0 and self.best_params is not None

    def finish(self, history: History) -> bool:
        """End of a run: with early stopping on, put the best weights back and say so.

        This happens however the run ended (stopped early, epochs used up, diverged or
        interrupted), so the final model never depends on whether the stop fired. A run that
        did not stop early gets a sentence in ``history.message``.

        Returns:
            True when the best weights were restored (see :attr:`restores`).
        """
        if not self.restores:
            return False
        self.restore_best()
        if history.status != Status.EARLY_STOPPED:
            if self.best_epoch == len(history):
                note = (f"Early stopping did not fire; the last epoch, {self.best_epoch}, was "
                        f"also the best ({self.monitor} {self.best_value:.4f}).")
            else:
                note = (f"Early stopping did not fire; restored the best epoch "
                        f"{self.best_epoch} of {len(history)} ({self.monitor} "
                        f"{self.best_value:.4f}).")
            before = history.message.rstrip()
            if before and not before.endswith("."):
                before += "."
            history.message = f"{before} {note}".strip()
        return True

    def state(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs}

    def load_state(self, state: dict[str, Any], best_params: Params | None) -> None:
        self.best_value = float(state["best_value"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.best_params = best_params


@dataclass
class FitResult:
    """What :func:`fit` returns: the trainer (holding the final model), history, stopper.

    From :func:`softreg.fitting.pack.fit_many` the trainer is one model of a pack: it has
    ``snapshot``, ``restore`` and ``evaluate`` (:class:`TrainedModel`), not ``backend``.
    """

    trainer: TrainedModel
    history: History
    stopper: EarlyStopping | None

    @property
    def model_epoch(self) -> int:
        """The epoch whose weights the trainer holds: the best one with early stopping on."""
        if self.stopper is not None and self.stopper.restores:
            return self.stopper.best_epoch
        return len(self.history)


@dataclass
class Resume:
    """Where an interrupted run stands: what ``--resume`` continues from.

    ``params`` are the last finished epoch's raw-pixel weights, ``epoch`` how many epochs are
    done, ``stopper_state`` and ``best_params`` the early-stopping bookkeeping (None without).
    """

    params: Params
    history: History
    epoch: int
    stopper_state: dict[str, Any] | None = None
    best_params: Params | None = None


@dataclass
class Fit:
    """A run put together and not yet trained: :func:`start_fit` makes it, :meth:`run` trains.

    The one place a run is assembled, for :func:`fit` (in memory) and for
    :func:`softreg.jobs.run.train_run` (with its files): the trainer with its initial or resumed
    weights, early stopping when there is a validation split, the history to extend.
    """

    config: TrainConfig
    trainer: LinearTrainer
    stopper: EarlyStopping | None
    history: History
    start_epoch: int = 0

    def run(self, eval_splits: Sequence[str] | None = None,
            callbacks: Sequence[EpochCallback] = (), *, finish: bool = True) -> FitResult:
        """Train the remaining epochs; early stopping runs before ``callbacks``.

        Args:
            eval_splits: splits evaluated after each epoch (default ``val`` if present, and
                ``test``). Including ``"train"`` replaces the running train loss and accuracy
                of each record by an evaluation of the whole training part after the epoch.
            callbacks: further :func:`softreg.epochs.loop.run_epochs` callbacks.
            finish: put the best epoch's weights back when early stopping is on
                (:meth:`EarlyStopping.finish`); False leaves the last epoch's in the trainer,
                for a caller that saves them first.
        """
        with_val = "val" in self.trainer.data
        if eval_splits is None:
            eval_splits = ("val", "test") if with_val else ("test",)
        self.history = run_epochs(
            self.trainer, self.config.epochs, start_epoch=self.start_epoch,
            eval_splits=eval_splits, history=self.history,
            max_loss=self.config.max_loss_for(self.trainer.shape.classes),
            callbacks=[*([self.stopper] if self.stopper else []), *callbacks],
        )
        if finish and self.stopper is not None:
            self.stopper.finish(self.history)
        return FitResult(self.trainer, self.history, self.stopper)


def start_fit(config: TrainConfig, splits: dict[str, Split], *,
              backend: LinearBackend | None = None, resume: Resume | None = None) -> Fit:
    """Put a run together: a trainer for ``config`` on ``splits`` with its initial weights
    (seeded) or those of ``resume``, and early stopping when ``splits`` has ``val``."""
    if backend is None:
        from softreg.backends import get_backend

        backend = get_backend(config.framework, config.device)
    trainer = LinearTrainer(backend, config, splits)
    if resume is not None:
        trainer.restore(resume.params)
    else:
        trainer.start(initial_params(config.seed, config.init_std, splits_shape(splits)))
    stopper = (EarlyStopping(trainer, config.monitor, config.patience) if "val" in splits
               else None)
    if stopper is not None and resume is not None and resume.stopper_state:
        stopper.load_state(resume.stopper_state, resume.best_params)
    if resume is None:
        return Fit(config, trainer, stopper, History())
    return Fit(config, trainer, stopper, resume.history, resume.epoch)


def fit(
    config: TrainConfig,
    splits: dict[str, Split],
    *,
    backend: LinearBackend | None = None,
    eval_splits: Sequence[str] | None = None,
    callbacks: Sequence[EpochCallback] = (),
) -> FitResult:
    """Train ``config`` on prepared ``splits`` in memory (no files): one whole run.

    The model left in ``result.trainer`` is the one a run folder evaluates: with early stopping
    on (``patience > 0``) the best epoch by ``monitor``, whether or not the stop fired; the last
    epoch otherwise (also after a divergence: the last good one).

    Args:
        config: the run's settings.
        splits: from :func:`prepare_splits`; ``val`` enables best-epoch tracking.
        backend: a backend to reuse; by default a new one for ``config.framework``.
        eval_splits, callbacks: as for :meth:`Fit.run`.
    """
    return start_fit(config, splits, backend=backend).run(eval_splits, callbacks)
