"""Input checks every backend runs before a framework sees the numbers (NumPy only).

A framework fails late and unclearly on bad input, or not at all: a GPU gather reads zeros for
an index out of range, and MXNet's loss clips an out-of-range label to a valid class. These
checks run once per split or per epoch, vectorised, and raise with a message that says what to
do.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from softreg.core.config import FLOAT32_MAX, check_weight_decay
from softreg.core.errors import ConfigError, DataError

F32 = npt.NDArray[np.float32]


def check_split(X: npt.ArrayLike, y: npt.ArrayLike,
                shape: tuple[int, int] | None = None) -> tuple[F32, npt.NDArray[np.int64]]:
    """Return a split as C-contiguous float32 X (N, D) and int64 y (N,), copying only if needed.

    Args:
        X, y: the split.
        shape: the model's (classes, features) when the backend has weights already; the
            split is then checked against it here, else when it is trained or evaluated
            (:func:`check_fits`).

    Raises:
        ConfigError: X is not 2-d (N, D) with D >= 1, or y is not (N,), or D is not the
            model's feature count.
        DataError: a label is not a whole number >= 0 (below the class count when known).
    """
    Xc = np.ascontiguousarray(X, dtype=np.float32)
    ya = np.asarray(y)
    if Xc.ndim != 2 or Xc.shape[1] < 1 or ya.shape != (Xc.shape[0],):
        raise ConfigError(
            f"data must be X (N, D) with D >= 1 features and y (N,), got X {Xc.shape} and "
            f"y {ya.shape}; flatten images to one row of features each"
        )
    check_labels(ya, None if shape is None else shape[0], "the data given to the backend")
    if shape is not None:
        _check_features(int(Xc.shape[1]), shape)
    return Xc, np.ascontiguousarray(ya, dtype=np.int64)


def label_max(y: npt.NDArray[np.int64]) -> int:
    """The largest label of a checked split (-1 when empty), kept to check it against W."""
    return int(y.max()) if y.size else -1


def check_fits(num_features: int, top_label: int, shape: tuple[int, int]) -> None:
    """Check a split (its feature count and largest label) against the model's shape.

    Raises:
        ConfigError: the backend has no weights yet, or the feature counts differ.
        DataError: a label is not below the class count.
    """
    if shape[0] < 1:
        raise ConfigError("the backend has no weights yet; call set_params (or set_pack) "
                          "before training or evaluating")
    _check_features(num_features, shape)
    if top_label >= shape[0]:
        check_labels(np.asarray([top_label]), shape[0], "the data given to the backend")


def _check_features(num_features: int, shape: tuple[int, int]) -> None:
    if num_features != shape[1]:
        raise ConfigError(
            f"data has {num_features} features per example but the weights W {shape} take "
            f"{shape[1]}; give data of the model's shape, or weights of the data's"
        )


def check_params(W: npt.ArrayLike, b: npt.ArrayLike) -> tuple[F32, F32]:
    """Return ``W`` (C, D) and ``b`` (C,) as float32 arrays; the shape is the caller's.

    Raises:
        ConfigError: W is not 2-d with C, D >= 1, or b is not (C,).
    """
    Wa, ba = np.asarray(W), np.asarray(b)
    if Wa.ndim != 2 or 0 in Wa.shape or ba.shape != Wa.shape[:1]:
        raise ConfigError(
            f"parameters must be W (C, D) and b (C,) with C classes and D features, both "
            f">= 1, got W {Wa.shape} and b {ba.shape}"
        )
    return Wa.astype(np.float32, copy=False), ba.astype(np.float32, copy=False)


def check_batch_size(batch_size: int) -> None:
    """Raises ConfigError unless ``batch_size`` >= 1."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size}")


def check_step(lr: float, weight_decay: float) -> None:
    """Refuse a learning rate or weight decay that float32 turns into inf (or that is not >= 0).

    The same rule for every backend: PyTorch raises on a step size it cannot convert to
    float32, while NumPy and TensorFlow would train with inf. A rate that float32 holds but
    that overflows the weights is a divergence, which the epoch loop reports.

    Raises:
        ConfigError: ``lr`` or ``weight_decay`` is negative, not finite, or above the largest
            float32.
    """
    if not isinstance(lr, numbers.Real) or not 0 <= lr <= FLOAT32_MAX:
        raise ConfigError(
            f"lr must be a number from 0 to {FLOAT32_MAX:.4g} (the largest float32, where every"
            f" framework trains), got {lr!r}; use a positive learning rate such as 0.1"
        )
    check_weight_decay(float(weight_decay) if isinstance(weight_decay, numbers.Real)
                       else weight_decay)


def check_order(order: npt.ArrayLike, n: int) -> npt.NDArray[np.intp]:
    """Return ``order`` as a 1-D index array after checking every index is in [0, n).

    Raises:
        ConfigError: not a 1-D integer array, or an index outside [0, n).
    """
    idx = np.asarray(order)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ConfigError(
            f"order must be a 1-D integer array of example indices, got dtype {idx.dtype} "
            f"and shape {idx.shape}"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ConfigError(
            f"order must index examples in [0, {n}), got values from {idx.min()} to {idx.max()}"
        )
    return idx.astype(np.intp, copy=False)


def check_labels(labels: npt.ArrayLike, num_classes: int | None, where: str,
                 consequence: str = "the loss would fail or pick a wrong class") -> None:
    """Refuse anything but whole-number class indices in [0, C) (>= 0 when C is None).

    Float labels are accepted when they are whole numbers (MXNet iterators yield float labels).

    Args:
        labels: class indices as any array.
        num_classes: number of classes C, or None when not known yet.
        where: what holds the labels, for the message (e.g. ``"the training batch"``).
        consequence: what the framework would do with a bad label, for the message.

    Raises:
        DataError: a label is negative, too large, not a whole number, or not finite.
    """
    y = np.asarray(labels)
    if y.size == 0:
        return
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise DataError(f"labels in {where} must be class indices (integers), got dtype {y.dtype}")
    bad = (y < 0) if num_classes is None else (y < 0) | (y >= num_classes)
    if np.issubdtype(y.dtype, np.floating):
        bad |= ~np.isfinite(y) | (y != np.floor(y))
    if bad.any():
        values = y[bad]
        rule = ">= 0" if num_classes is None else f"in [0, {num_classes}) for {num_classes} classes"
        raise DataError(
            f"labels in {where} must be whole numbers {rule}, "
            f"got {values[0]} ({values.size} label(s) out of range); {consequence}. "
            "Fix the labels, or give the model as many outputs as there are classes"
        )


def check_pack_params(W: npt.ArrayLike, b: npt.ArrayLike) -> tuple[F32, F32]:
    """Return a pack's ``W`` (G, k, C, D) and ``b`` (G, k, C) as C-contiguous float32.

    Raises:
        ConfigError: wrong shapes.
    """
    Wa, ba = np.asarray(W), np.asarray(b)
    if Wa.ndim != 4 or ba.shape != Wa.shape[:3] or 0 in Wa.shape:
        raise ConfigError(
            f"pack parameters must be W (G, k, C, D) and b (G, k, C) with G, k, C, D >= 1, "
            f"got W {Wa.shape} and b {ba.shape}"
        )
    return (np.ascontiguousarray(Wa, dtype=np.float32),
            np.ascontiguousarray(ba, dtype=np.float32))


def check_pack_epoch(orders: npt.ArrayLike, n: int, lrs: npt.ArrayLike,
                     weight_decays: npt.ArrayLike, shape: tuple[int, ...],
                     batch_size: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64],
                                               npt.NDArray[np.float64]]:
    """Check one packed epoch's inputs against a pack of ``shape`` (G, k).

    Returns:
        ``orders`` (G, N) as indices, ``lrs`` and ``weight_decays`` (G, k) as float64.

    Raises:
        ConfigError: ``batch_size`` < 1, ``orders`` not (G, N) indices in [0, n), or rates
            not (G, k) finite numbers >= 0.
    """
    check_batch_size(batch_size)
    idx = np.asarray(orders)
    if idx.ndim != 2 or idx.shape[0] != shape[0]:
        raise ConfigError(f"orders must be a (G, N) array with G = {shape[0]} order groups, "
                          f"got shape {idx.shape}")
    rows = np.stack([check_order(row, n) for row in idx])  # (G, N)
    rates = []
    for name, values in (("lrs", lrs), ("weight_decays", weight_decays)):
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != shape or not np.isfinite(arr).all() or (arr < 0).any():
            raise ConfigError(f"{name} must be a {shape} array of finite numbers >= 0, got "
                              f"shape {arr.shape}")
        rates.append(arr)
    return rows, rates[0], rates[1]
