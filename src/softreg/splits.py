"""Data preparation: Fashion-MNIST images as the float32 features the backends train on.

:func:`to_features` turns uint8 images into (N, 784) pixels in [0, 1]; :func:`prepare_splits`
loads the splits a configuration asks for (train, test, and a stratified validation part), and
optionally standardises them with a :class:`Standardizer` fitted on the training part only.
Evaluation, prediction and explanation convert images here too, without the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.config import TrainConfig

# A model's weights: W (10, 784) and b (10,), float32.
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


def data_key(config: TrainConfig) -> tuple[Any, ...]:
    """The settings that decide a configuration's prepared splits: configurations with the
    same key train on the same data (one copy, prepared once)."""
    return (config.val_split, config.val_seed, config.standardize)
