"""A seeded, stratified train/validation split of a labelled training set."""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError
from softreg.core.validate import is_int

IndexArray = npt.NDArray[np.int64]


def train_val_split(labels: npt.ArrayLike, val_fraction: float, seed: int, *,
                    name: str = "val_fraction",
                    held_out: str = "validation") -> tuple[IndexArray, IndexArray]:
    """Split indices into train and validation parts, class by class.

    Each class gives ``round(val_fraction * n_class)`` of its examples to the validation part,
    chosen by a generator seeded with ``seed``; the same labels, fraction and seed always give
    the same split. Both parts are sorted, so taking them keeps the original order.

    Args:
        labels: integer class labels, shape (N,).
        val_fraction: the share of each class held out, strictly between 0 and 1.
        seed: a non-negative integer seed.
        name: what the errors call ``val_fraction``: the flag it came from (``--val-split``,
            ``--test-split``).
        held_out: what the errors call the validation part (``test`` for a test split).

    Returns:
        ``(train_idx, val_idx)``: sorted int64 index arrays that partition ``range(N)``.

    Raises:
        ConfigError: a fraction outside (0, 1), a bad seed, labels that are not a non-empty
            1-d integer array, or a fraction that leaves one part empty.
    """
    y = _check_labels(labels)
    _check_fraction(val_fraction, name)
    if not is_int(seed, 0, numpy_ok=True):
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    val_parts = []
    for cls in np.unique(y):  # sorted, so the draws do not depend on label order
        members = np.flatnonzero(y == cls)
        n_val = round(val_fraction * members.size)
        val_parts.append(rng.permutation(members)[:n_val])
    val_idx = np.sort(np.concatenate(val_parts)).astype(np.int64)
    mask = np.ones(y.size, dtype=bool)
    mask[val_idx] = False
    train_idx = np.flatnonzero(mask).astype(np.int64)
    if val_idx.size == 0 or train_idx.size == 0:
        part = held_out if val_idx.size == 0 else "training"
        raise ConfigError(f"{name} {val_fraction} of {y.size} labels leaves the {part} "
                          "part empty; use a fraction closer to 0.5 or more data")
    return train_idx, val_idx


def _check_labels(labels: npt.ArrayLike) -> npt.NDArray[np.int64]:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ConfigError(f"labels must be a non-empty 1-d array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"labels must be integers, got dtype {y.dtype}")
    return y.astype(np.int64, copy=False)


def _check_fraction(val_fraction: float, name: str) -> None:
    ok = isinstance(val_fraction, numbers.Real) and not isinstance(val_fraction, bool)
    if not ok or not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"{name} must be a number strictly between 0 and 1, "
                          f"got {val_fraction!r}")
