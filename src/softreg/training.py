"""Training softreg's own linear model with any backend: data preparation, the EpochTrainer
adapter, seeded initial weights and epoch orders, and early stopping.

Everything random is drawn here with NumPy from the run's seed, never inside a framework, so
every framework sees the same initial weights and the same example order (parity), and a
resumed run draws exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.backends.base import NUM_CLASSES, NUM_FEATURES, EpochTotals, LinearBackend
from softreg.config import TrainConfig
from softreg.history import EpochRecord, History

Params = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]


@dataclass
class Split:
    """One split as the backends take it: X (N, 784) float32 in [0, 1], y (N,) int64."""

    X: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]


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

    The validation set is a seeded, stratified part of the 60k training images; the test set
    is never used for model selection.
    """
    from softreg.data import load_fashion_mnist, train_val_split

    xtr, ytr = load_fashion_mnist("train", data_dir=data_dir, offline=offline)
    xte, yte = load_fashion_mnist("test", data_dir=data_dir, offline=offline)
    splits = {"test": Split(to_features(xte), np.asarray(yte, dtype=np.int64))}
    ytr64 = np.asarray(ytr, dtype=np.int64)
    if config.val_split > 0:
        tr_idx, val_idx = train_val_split(ytr64, config.val_split, config.seed)
        splits["train"] = Split(to_features(xtr[tr_idx]), ytr64[tr_idx])
        splits["val"] = Split(to_features(xtr[val_idx]), ytr64[val_idx])
    else:
        splits["train"] = Split(to_features(xtr), ytr64)
    return splits


def initial_params(seed: int, std: float = 0.01) -> Params:
    """Weights drawn from N(0, std) (the chapter's init) and zero biases, from ``seed``."""
    rng = np.random.default_rng([seed, 0])
    W = (rng.standard_normal((NUM_CLASSES, NUM_FEATURES)) * std).astype(np.float32)
    return W, np.zeros(NUM_CLASSES, dtype=np.float32)


def epoch_order(seed: int, epoch: int, n: int) -> npt.NDArray[np.int64]:
    """The example order of epoch ``epoch``: a permutation depending only on (seed, epoch)."""
    return np.random.default_rng([seed, 1, epoch]).permutation(n).astype(np.int64)


class LinearTrainer:
    """Adapts a :class:`LinearBackend` and a config to the EpochTrainer Protocol."""

    def __init__(self, backend: LinearBackend, config: TrainConfig, splits: dict[str, Split]):
        self.backend = backend
        self.config = config
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
        return self.backend.get_params()

    def restore(self, state: Params) -> None:
        self.backend.set_params(*state)


class EarlyStopping:
    """Tracks the best epoch by ``monitor``; stops after ``patience`` epochs without progress.

    Used as a :func:`softreg.loop.run_epochs` callback. It keeps the best weights; call
    :meth:`restore_best` at the end of a run to put them back. With ``patience == 0`` it only
    tracks the best epoch (for the best checkpoint) and never stops the run.
    """

    def __init__(self, trainer: LinearTrainer, monitor: str, patience: int) -> None:
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

    def state(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs}

    def load_state(self, state: dict[str, Any], best_params: Params | None) -> None:
        self.best_value = float(state["best_value"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.best_params = best_params
