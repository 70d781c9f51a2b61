"""Training softreg's own linear model with any backend: data preparation (optionally
standardised), the EpochTrainer adapter, seeded initial weights and epoch orders, early
stopping, and :func:`fit` (one whole run in memory, for sweeps and studies).

Everything random is drawn here with NumPy from the run's seed, never inside a framework, so
every framework sees the same initial weights and the same example order (parity), and a
resumed run draws exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from softreg.backends.base import NUM_CLASSES, NUM_FEATURES, EpochTotals, LinearBackend
from softreg.config import TrainConfig
from softreg.history import EpochRecord, History
from softreg.loop import EpochCallback, run_epochs

Params = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]

# Smallest per-pixel std used for standardising. Border pixels are almost always 0 in the
# training images; dividing by their tiny std would turn a rare stray test pixel into a huge
# input. 0.05 is about 13 grey levels.
STD_FLOOR = 0.05


@dataclass(frozen=True)
class Standardizer:
    """Per-pixel standardisation ``x' = (x - mean) / scale``, fitted on training images only.

    A linear model on standardised inputs is a linear model on raw inputs:
    ``W' x' + b' = (W' / scale) x + (b' - (W' / scale) @ mean)``. :meth:`fold` and
    :meth:`unfold` convert between the two (in float64), so everything outside the trainer
    (checkpoints, ``evaluate``, ``predict``) sees weights for raw ``[0, 1]`` pixels.
    """

    mean: npt.NDArray[np.float64]  # (784,)
    scale: npt.NDArray[np.float64]  # (784,)

    @classmethod
    def fit(cls, X: npt.NDArray[np.float32]) -> Standardizer:
        """Mean and std (floored at :data:`STD_FLOOR`) of each feature of X (N, 784)."""
        mean = np.asarray(X).mean(axis=0, dtype=np.float64)  # (784,)
        sq = np.zeros_like(mean)
        for start in range(0, len(X), 8192):  # chunks: no float64 copy of all of X
            sq += np.square(X[start : start + 8192] - mean).sum(axis=0)
        std = np.sqrt(sq / max(len(X), 1))
        return cls(mean, np.maximum(std, STD_FLOOR))

    def apply(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Standardise X (N, 784) in place and return it."""
        X -= self.mean.astype(np.float32)
        X /= self.scale.astype(np.float32)
        return X

    def fold(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> Params:
        """Weights for standardised inputs -> the same model on raw inputs."""
        W_raw = np.asarray(W, dtype=np.float64) / self.scale  # (10, 784)
        b_raw = np.asarray(b, dtype=np.float64) - W_raw @ self.mean  # (10,)
        return W_raw.astype(np.float32), b_raw.astype(np.float32)

    def unfold(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> Params:
        """Weights for raw inputs -> the same model on standardised inputs."""
        W64 = np.asarray(W, dtype=np.float64)
        b_std = np.asarray(b, dtype=np.float64) + W64 @ self.mean  # (10,)
        return (W64 * self.scale).astype(np.float32), b_std.astype(np.float32)


@dataclass
class Split:
    """One split as the backends take it: X (N, 784) float32, y (N,) int64.

    X holds pixels in [0, 1], or standardised pixels when ``standardizer`` is set.
    """

    X: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    standardizer: Standardizer | None = None


def to_features(images: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """uint8 images (N, 28, 28) -> float32 features (N, 784) scaled to [0, 1]."""
    flat = np.asarray(images).reshape(len(images), -1)  # (N, 784)
    out = np.empty(flat.shape, dtype=np.float32)
    np.multiply(flat, np.float32(1.0 / 255.0), out=out, casting="unsafe")
    return out


def prepare_splits(
    config: TrainConfig, data_dir: str | None = None, offline: bool = False
) -> dict[str, Split]:
    """Load Fashion-MNIST and return ``train``, ``test`` and (with ``val_split``) ``val``.

    The validation set is a stratified part of the 60k training images drawn with
    ``config.val_seed`` (not ``config.seed``: every training seed sees the same one); the test set
    is never used for model selection. With ``config.standardize`` every split is standardised
    with the statistics of the training part (validation and test images are never looked at).
    """
    from softreg.data import load_fashion_mnist, train_val_split

    xtr, ytr = load_fashion_mnist("train", data_dir=data_dir, offline=offline)
    xte, yte = load_fashion_mnist("test", data_dir=data_dir, offline=offline)
    splits = {"test": Split(to_features(xte), np.asarray(yte, dtype=np.int64))}
    ytr64 = np.asarray(ytr, dtype=np.int64)
    if config.val_split > 0:
        tr_idx, val_idx = train_val_split(ytr64, config.val_split, config.val_seed)
        splits["train"] = Split(to_features(xtr[tr_idx]), ytr64[tr_idx])
        splits["val"] = Split(to_features(xtr[val_idx]), ytr64[val_idx])
    else:
        splits["train"] = Split(to_features(xtr), ytr64)
    if config.standardize:
        standardizer = Standardizer.fit(splits["train"].X)
        for split in splits.values():
            split.X = standardizer.apply(split.X)
            split.standardizer = standardizer
    return splits


def initial_params(seed: int, std: float = 0.01) -> Params:
    """Weights drawn from N(0, std) (the chapter's init) and zero biases, from ``seed``."""
    rng = np.random.default_rng([seed, 0])
    W = (rng.standard_normal((NUM_CLASSES, NUM_FEATURES)) * std).astype(np.float32)
    return W, np.zeros(NUM_CLASSES, dtype=np.float32)


def epoch_order(seed: int, epoch: int, n: int) -> npt.NDArray[np.int64]:
    """The example order of epoch ``epoch``: a permutation depending only on (seed, epoch)."""
    return np.random.default_rng([seed, 1, epoch]).permutation(n).astype(np.int64)


class TrainedModel(Protocol):
    """A model whose raw-pixel weights can be read and replaced, and evaluated on a split.

    :class:`LinearTrainer` is one; so is each model of a pack (:mod:`softreg.pack`).
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
        self.data = {name: backend.put_data(s.X, s.y) for name, s in splits.items()}

    def train_epoch(self, epoch: int) -> EpochTotals:
        cfg = self.config
        order = epoch_order(cfg.seed, epoch, self.data["train"].num_examples)
        return self.backend.train_epoch(
            self.data["train"], order, cfg.batch_size, cfg.lr_at(epoch), cfg.weight_decay
        )

    def evaluate(self, split: str) -> EpochTotals:
        return self.backend.evaluate(self.data[split])

    def snapshot(self) -> Params:
        params = self.backend.get_params()
        return self.standardizer.fold(*params) if self.standardizer else params

    def restore(self, state: Params) -> None:
        self.backend.set_params(*(self.standardizer.unfold(*state) if self.standardizer
                                  else state))


class EarlyStopping:
    """Tracks the best epoch by ``monitor``; stops after ``patience`` epochs without progress.

    Used as a :func:`softreg.loop.run_epochs` callback. It keeps the best weights; call
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
        if history.status != "early_stopped":
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

    From :func:`softreg.pack.fit_many` the trainer is one model of a pack: it has
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
        eval_splits: splits evaluated after each epoch (default ``val`` if present, and
            ``test``). Including ``"train"`` replaces the running train loss and accuracy of
            each record by an evaluation of the whole training part after the epoch.
        callbacks: extra :func:`softreg.loop.run_epochs` callbacks, after early stopping.
    """
    if backend is None:
        from softreg.backends import get_backend

        backend = get_backend(config.framework, config.device)
    trainer = LinearTrainer(backend, config, splits)
    trainer.restore(initial_params(config.seed, config.init_std))
    with_val = "val" in splits
    stopper = EarlyStopping(trainer, config.monitor, config.patience) if with_val else None
    if eval_splits is None:
        eval_splits = ("val", "test") if with_val else ("test",)
    history = run_epochs(
        trainer, config.epochs, eval_splits=eval_splits,
        callbacks=[*([stopper] if stopper else []), *callbacks],
        lr_for_epoch=config.lr_at, max_loss=config.max_loss,
    )
    if stopper is not None:
        stopper.finish(history)
    return FitResult(trainer, history, stopper)
