"""Training configuration: a frozen, validated dataclass. Defaults are the chapter's settings."""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass, fields
from typing import Any

from softreg.errors import ConfigError
from softreg.frameworks import DEVICES, canonical_framework

LR_SCHEDULES = ("constant", "cosine", "step")
MONITORS = ("val_loss", "val_acc")

# Every framework trains in float32; a setting outside its range becomes inf or 0 there. (The
# values of numpy.finfo(numpy.float32), written out so that reading a config imports no NumPy.)
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32
LR_HINT = "use a positive learning rate such as 0.1"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; validated on creation.

    Attributes:
        framework: ``torch``, ``tensorflow``, ``mxnet`` or ``numpy`` (aliases accepted).
        epochs: number of epochs (0 is allowed: evaluate the initial weights).
        batch_size: minibatch size; the last batch of an epoch may be smaller.
        lr: SGD learning rate, from the smallest normal float32 (1.2e-38) to the largest
            (3.4e38): the frameworks train in float32.
        seed: seeds the initial weights and every epoch's order.
        device: ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
        init_std: standard deviation of the N(0, std) initial weights (biases start at 0).
        weight_decay: L2 penalty on the weights (not the bias), added to the gradient
            (0, or a normal float32 number: from 1.2e-38 to 3.4e38).
        lr_schedule: ``constant``, ``cosine`` (to 0 at the last epoch) or ``step`` (x0.1 at 50%
            and 75% of the epochs).
        val_split: fraction of the training set held out, stratified, for validation (0 = none).
        val_seed: seeds the choice of the validation images, apart from ``seed``, so runs
            with different seeds are compared on the same validation set. A config saved
            before this field existed split with its ``seed``; loading it keeps that split.
        patience: stop after this many epochs without improving ``monitor`` and restore the
            best weights (0 = no early stopping; needs ``val_split``).
        monitor: ``val_loss`` or ``val_acc``, used by early stopping and best checkpoints.
        max_loss: a mean train loss above this counts as divergence (default: 100 times the
            loss of uniform guessing, 100 ln 10); the run stops and keeps its last good weights.
        standardize: train on per-pixel standardised inputs, ``(x - mean) / std`` with the
            mean and std of the training part only (never validation or test). The saved
            weights are folded back to raw ``[0, 1]`` pixel inputs, so checkpoints stay usable
            by ``evaluate`` and ``predict`` as they are.
    """

    framework: str = "torch"
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    seed: int = 0
    device: str = "auto"
    init_std: float = 0.01
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    val_split: float = 0.0
    val_seed: int = 0
    patience: int = 0
    monitor: str = "val_loss"
    max_loss: float = 100 * math.log(10)
    standardize: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "framework", canonical_framework(self.framework))
        _int(self.epochs, "epochs", 0, "use 0 or more epochs, e.g. --epochs 10")
        _int(self.batch_size, "batch_size", 1, "use a batch size of at least 1, e.g. 256")
        _int(self.seed, "seed", 0, "use a non-negative seed")
        _int(self.val_seed, "val_seed", 0, "use a non-negative seed, e.g. --val-seed 0")
        _int(self.patience, "patience", 0, "use 0 (off) or a positive number of epochs")
        check_lr(self.lr)
        _positive(self.max_loss, "max_loss", "use a positive loss limit such as 230")
        _positive(self.init_std, "init_std", "use a positive standard deviation such as 0.01")
        check_float32(self.init_std, "init_std", "use a standard deviation such as 0.01")
        check_weight_decay(self.weight_decay)
        if not _real(self.val_split) or not (0.0 <= self.val_split < 1.0):
            raise ConfigError(
                f"val_split must be in [0, 1), got {self.val_split!r}; e.g. 0.1 holds out 10%"
            )
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"standardize must be True or False, got {self.standardize!r}")
        _choice(self.device, "device", DEVICES)
        _choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        _choice(self.monitor, "monitor", MONITORS)
        if self.patience and not self.val_split:
            raise ConfigError(
                "early stopping (patience > 0) needs a validation split; add e.g. --val-split 0.1"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        """Rebuild a config from ``to_dict`` output; unknown keys are rejected.

        A config written before ``val_seed`` existed drew its validation split with ``seed``;
        it gets ``val_seed = seed``, so a resumed run keeps its validation images.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a configuration must be a JSON object of settings, got "
                              f"{type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown}; known keys: {sorted(names)}")
        if "val_seed" not in data and "seed" in data:
            data = {**data, "val_seed": data["seed"]}
        return cls(**data)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (from 0) under ``lr_schedule``."""
        if self.lr_schedule == "cosine" and self.epochs > 0:
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        if self.lr_schedule == "step" and self.epochs > 0:
            frac = epoch / self.epochs
            return self.lr * (0.01 if frac >= 0.75 else 0.1 if frac >= 0.5 else 1.0)
        return self.lr


def check_lr(value: Any, name: str = "lr", hint: str = LR_HINT) -> None:
    """Refuse a learning rate that is not a positive number that float32 can hold.

    A rate above the largest float32 is inf where the frameworks train (PyTorch even refuses to
    convert it, where NumPy diverges); one below the smallest normal float32 is 0, or a
    subnormal too small to move any weight.

    Raises:
        ConfigError: ``value`` is not a finite number > 0, or is out of float32's range.
    """
    _positive(value, name, hint)
    check_float32(value, name, hint)
    if value < FLOAT32_TINY:
        rounded = struct.unpack("f", struct.pack("f", value))[0]
        what = "0" if rounded == 0 else f"the subnormal {rounded:.4g}"
        raise ConfigError(
            f"{name} {value!r} is {what} in float32, where every framework trains (the smallest "
            f"normal float32 is {FLOAT32_TINY:.4g}), so no step would move the weights; {hint}"
        )


def check_weight_decay(value: Any) -> None:
    """Refuse a weight decay that is not 0 or a number that float32 holds (normal, finite).

    Raises:
        ConfigError: negative, not finite, above the largest float32, or a nonzero value
            below the smallest normal float32.
    """
    if not _real(value) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"weight_decay must be finite and >= 0, got {value!r}")
    hint = "use 0 (off) or a small penalty such as 1e-4"
    check_float32(value, "weight_decay", hint)
    if 0 < value < FLOAT32_TINY:
        raise ConfigError(
            f"weight_decay {value!r} is below {FLOAT32_TINY:.4g}, the smallest normal float32, "
            f"where every framework trains (MXNet refuses it, the others ignore it); {hint}"
        )


def check_float32(value: float, name: str, hint: str) -> None:
    """Refuse a finite number whose size float32 cannot hold (it would become inf).

    Raises:
        ConfigError: ``abs(value)`` is above the largest float32.
    """
    if abs(value) > FLOAT32_MAX:
        raise ConfigError(
            f"{name} {value!r} is inf in float32, where every framework trains: it must be at "
            f"most {FLOAT32_MAX:.4g}, the largest float32; {hint}"
        )


def _int(value: Any, name: str, minimum: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}; {hint}")


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(value: Any, name: str, hint: str) -> None:
    if not _real(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}; {hint}")


def _choice(value: str, name: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
