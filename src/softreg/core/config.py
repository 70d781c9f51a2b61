"""Training configuration: a frozen, validated dataclass. Defaults are the chapter's settings."""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from softreg.core import frameworks
from softreg.core.errors import ConfigError
from softreg.core.frameworks import DEVICES, canonical_framework
from softreg.core.validate import Setting

__all__ = ["TrainConfig"]

LR_SCHEDULES = ("constant", "cosine", "step")
MONITORS = ("val_loss", "val_acc")

# Every framework trains in float32; a setting outside its range becomes inf or 0 there. (The
# values of numpy.finfo(numpy.float32), written out so that reading a config imports no NumPy.)
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32
LR_HINT = "use a positive learning rate such as 0.1"
# A mean cross-entropy 100 times that of uniform guessing over 10 classes (ln 10 nats). A linear
# softmax model rarely reaches inf or NaN (cross-entropy from logits grows linearly with the
# logits), so a blown-up learning rate shows as an enormous but finite loss instead.
DEFAULT_MAX_LOSS = 100 * math.log(10)
# How config.json writes the default limit: the rule, not a number (the number depends on the
# data's classes: 100 ln 3 = 109.9 for iris).
PER_CLASS = "100 ln C"


class _PerClassLimit(float):
    """The default ``max_loss``: 100 times the loss of uniform guessing over the model's C
    classes, 100 ln C (:meth:`TrainConfig.max_loss_for` gives its number for a model).

    As a number it is 100 ln 10 (:data:`DEFAULT_MAX_LOSS`), Fashion-MNIST's, which every
    configuration written before this type recorded for the default: a configuration's
    :meth:`~TrainConfig.to_dict` still holds that number for it, so the keys a sweep folder
    names its configurations by (a hash of those settings) stay as they were. A number given
    for ``max_loss`` is a plain float, the limit whatever the classes, even 100 ln 10 itself.
    (It formats, compares and hashes as that float: a table that shows it shows 100 ln 10;
    :func:`is_per_class` tells it apart, and :class:`TrainConfig` equality does.)
    """

    __slots__ = ()

    def __copy__(self) -> _PerClassLimit:
        return self

    def __deepcopy__(self, memo: Any) -> _PerClassLimit:
        return self

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_per_class_limit, ())


def _per_class_limit() -> float:
    return PER_CLASS_LIMIT


def is_per_class(max_loss: Any) -> bool:
    """Whether a ``max_loss`` value is the default, 100 ln C (not a number given, not even
    100 ln 10)."""
    return isinstance(max_loss, _PerClassLimit)


PER_CLASS_LIMIT: float = _PerClassLimit(DEFAULT_MAX_LOSS)  # the field's default
FRAMEWORKS_HELP = frameworks.help_text()
# The settings that say which data a run trains on, and how it is read (see softreg.data).
DATA_SETTINGS = ("data", "test_split", "label_column", "image_size", "grayscale")
# the settings a sweep may vary, in the order of its flags (each declares its ``axis`` help)
SWEEP_AXES = ("lr", "batch_size", "epochs", "weight_decay", "seed", "framework", "lr_schedule",
              "standardize")


# The most epochs a run may ask for. A run's checkpoint header, history.json and a sweep's
# result file each hold every epoch's record (at most about 330 bytes of JSON, 430 indented):
# 30,000 of them fit the readers' bounds (safety.tensorfile.MAX_HEADER with the class names'
# share, safety.readback.JSON_LIMIT), so no run can outgrow the files it is resumed from.
MAX_EPOCHS = 30_000


def _setting(default: Any, **declared: Any) -> Any:
    """A dataclass field with ``default`` whose constraints and help a :class:`Setting` holds."""
    return field(default=default, metadata={"setting": Setting(**declared)})


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
        lr_schedule: ``constant``, ``cosine`` (epoch e of E, from 0, at
            ``lr * (1 + cos(pi e / E)) / 2``: from ``lr`` down towards 0, which it would reach
            at epoch E, one past the last; the last trains at ``lr * sin(pi / 2E)**2``) or
            ``step`` (x0.1 at 50% and 75% of the epochs). Both are planned over ``epochs``,
            which a resumed run therefore keeps.
        val_split: fraction of the training set held out, stratified, for validation (0 = none).
        val_seed: seeds the choice of the validation images, apart from ``seed``, so runs
            with different seeds are compared on the same validation set. A config saved
            before this field existed split with its ``seed``; loading it keeps that split.
        patience: stop after this many epochs without improving ``monitor`` and restore the
            best weights (0 = no early stopping; needs ``val_split``).
        monitor: ``val_loss`` or ``val_acc``, used by early stopping and best checkpoints.
        max_loss: a mean train loss above this counts as divergence (default: 100 times the
            loss of uniform guessing, 100 ln C for C classes: 100 ln 10 for Fashion-MNIST);
            the run stops and keeps its last good weights. A number given is the limit as it
            is, 100 ln 10 included; ``config.json`` writes the default as ``"100 ln C"``
            (:meth:`record`), and ``report.md`` the limit a run used.
        data: what to train on: ``fashion-mnist`` (the chapter's) or another named dataset,
            ``folder:DIR``, ``csv:FILE``, ``parquet:FILE``, ``npz:FILE`` or
            ``sklearn:digits|iris|wine|breast_cancer`` (see :func:`softreg.data.load`).
        test_split: for data without a test split: the fraction of it held out, stratified
            (seed 0), as the test set.
        label_column: a table's label column (default: ``label``, ``class``, ``target``, ``y``).
        image_size: ``HxW``: resize a folder's images to it ("" keeps their size).
        grayscale: read a folder's colour images as one channel.
        standardize: train on per-pixel standardised inputs, ``(x - mean) / std`` with the
            mean and std of the training part only (never validation or test). The saved
            weights are folded back to raw ``[0, 1]`` pixel inputs, so checkpoints stay usable
            by ``evaluate`` and ``predict`` as they are.
    """

    # Each field declares its rule and its flag's help (softreg.cli.settings builds the flags);
    # a check named in a lambda is defined below the class.
    framework: str = _setting(
        "torch", help=FRAMEWORKS_HELP, convert=canonical_framework,
        axis="frameworks, e.g. torch,numpy")
    epochs: int = _setting(10, help="number of epochs", minimum=0, maximum=MAX_EPOCHS,
                           hint=f"use 0 to {MAX_EPOCHS:,} epochs, e.g. --epochs 10 (a run's "
                           "files hold every epoch's record; for the exact optimum of a "
                           "small table, softreg.SoftmaxRegression needs no epochs)",
                           axis="numbers of epochs, e.g. 10,30")
    batch_size: int = _setting(256, help="minibatch size", minimum=1,
                               hint="use a batch size of at least 1, e.g. 256",
                               axis="batch sizes, e.g. 16,64,256,1024")
    lr: float = _setting(0.1, help="learning rate", check=lambda v: check_lr(v),
                         axis="learning rates, e.g. 0.01,0.03,0.1,0.3,1")
    seed: int = _setting(0, help="seed of the initial weights and of each epoch's order",
                         minimum=0, hint="use a non-negative seed",
                         axis="seeds (initial weights, example order), e.g. 0,1,2")
    device: str = _setting("auto", choices=DEVICES)
    init_std: float = _setting(0.01, help="standard deviation of the initial weights",
                               check=lambda v: _check_init_std(v))
    weight_decay: float = _setting(0.0, help="L2 penalty on the weights",
                                   check=lambda v: check_weight_decay(v),
                                   axis="L2 penalties, e.g. 0,1e-4,1e-3")
    lr_schedule: str = _setting("constant", choices=LR_SCHEDULES,
                                axis="constant, cosine and/or step")
    val_split: float = _setting(0.0, help="fraction of the training set held out for validation",
                                check=lambda v: _check_val_split(v))
    val_seed: int = _setting(0, help="seed of the validation images, apart from --seed",
                             minimum=0, hint="use a non-negative seed, e.g. --val-seed 0")
    patience: int = _setting(0, help="early stopping after N epochs without progress (0: off)",
                             minimum=0, hint="use 0 (off) or a positive number of epochs")
    monitor: str = _setting("val_loss", choices=MONITORS)
    max_loss: float = _setting(
        PER_CLASS_LIMIT, help="a mean train loss above this stops the run as diverged",
        convert=lambda v: _loss_limit(v), shown=".4g")
    standardize: bool = _setting(False, help="per-pixel standardisation",
                                 check=lambda v: _check_bool(v, "standardize"),
                                 axis="per-pixel standardisation: off, on or off,on")
    data: str = _setting("fashion-mnist", help="the data: a dataset name (fashion-mnist, ...) "
                         "or folder:DIR, csv:FILE, parquet:FILE, npz:FILE, sklearn:NAME",
                         check=lambda v: _check_data(v))
    test_split: float = _setting(0.2, help="for data without a test split: the fraction held "
                                 "out (stratified) as the test set",
                                 check=lambda v: _check_test_split(v))
    label_column: str = _setting("", help="a table's label column (default: label, class, "
                                 "target or y)", check=lambda v: _check_text(v, "label_column"))
    image_size: str = _setting("", help="HxW: resize a folder's images (default: as they are)",
                               check=lambda v: _check_image_size(v))
    grayscale: bool = _setting(False, help="read a folder's colour images as grayscale",
                               check=lambda v: _check_bool(v, "grayscale"))

    def __post_init__(self) -> None:
        for f in fields(self):
            setting: Setting = f.metadata["setting"]
            if setting.convert is not None:
                object.__setattr__(self, f.name, setting.convert(getattr(self, f.name)))
            setting.validate(f.name, getattr(self, f.name))
        if self.patience and not self.val_split:
            raise ConfigError(
                "early stopping (patience > 0) needs a validation split; add e.g. --val-split 0.1"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (what a sweep's files hold, and its keys hash).

        ``max_loss`` left at its default is 100 ln 10 as a number (as softreg has always
        written it: the keys stay); a number given that equals it is written as text
        (``"230.25850929940458"``), so that it is read back as given, not as the default.
        """
        settings = asdict(self)
        settings["max_loss"] = _saved_limit(self.max_loss)
        return settings

    def record(self) -> dict[str, Any]:
        """The settings as a run's ``config.json`` and checkpoints record them:
        :meth:`to_dict` with the default ``max_loss`` written as its rule, ``"100 ln C"``
        (its number depends on the data's classes; ``report.md`` gives the limit used)."""
        settings = self.to_dict()
        if is_per_class(self.max_loss):
            settings["max_loss"] = PER_CLASS
        return settings

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrainConfig) or type(other) is not type(self):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def _compared(self) -> tuple[Any, ...]:
        """The settings as equality sees them: the default ``max_loss`` (100 ln C) is not the
        number 100 ln 10 given (they differ for a model of other than 10 classes)."""
        return tuple(PER_CLASS if is_per_class(v) else v
                     for v in (getattr(self, f.name) for f in fields(self)))

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        """Rebuild a config from ``to_dict`` or ``record`` output; unknown keys are rejected.

        A config written before ``val_seed`` existed drew its validation split with ``seed``;
        it gets ``val_seed = seed``, so a resumed run keeps its validation images. A
        ``max_loss`` of the number 100 ln 10 is the default (100 ln C), as softreg has always
        written the default; one given as that number is written as text (:meth:`to_dict`).
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
        loss = data.get("max_loss")
        if type(loss) is float and loss == DEFAULT_MAX_LOSS:  # the default, however written
            data = {**data, "max_loss": PER_CLASS_LIMIT}
        return cls(**data)

    def max_loss_for(self, classes: int) -> float:
        """The divergence limit for a model of ``classes`` classes: ``max_loss`` as given, or,
        left at its default, 100 times the loss of uniform guessing over those classes
        (100 ln C; 100 ln 10 for Fashion-MNIST). A number given is the limit, whatever it
        is: 100 ln 10 given for a model of 3 classes stays 230.3."""
        if is_per_class(self.max_loss):
            return 100 * math.log(max(classes, 2))
        return float(self.max_loss)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (from 0) under ``lr_schedule``."""
        if self.lr_schedule == "cosine" and self.epochs > 0:
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        if self.lr_schedule == "step" and self.epochs > 0:
            frac = epoch / self.epochs
            return self.lr * (0.01 if frac >= 0.75 else 0.1 if frac >= 0.5 else 1.0)
        return self.lr


def check_setting(name: str, value: Any) -> None:
    """Check one setting's value by its declaration, as ``TrainConfig(name=value)`` would.

    Raises:
        ConfigError: ``value`` breaks the rule of the field ``name``.
    """
    setting: Setting = TrainConfig.__dataclass_fields__[name].metadata["setting"]
    setting.validate(name, value if setting.convert is None else setting.convert(value))


def recorded_data(data: str) -> str:
    """The data setting ``data`` as a run's ``config.json`` and a sweep's ``sweep.json`` hold
    it: a file's or folder's path made absolute (from the current folder, ``~`` expanded), as
    its checkpoints record it (:meth:`softreg.data.spec.DataSpec.recorded`), so that it names
    the same data from any folder; a named dataset or scikit-learn's set as written, and a spec
    that does not parse as it is (it is refused where it is read)."""
    from softreg.data.spec import parse

    try:
        return parse(data).recorded()
    except (ConfigError, OSError, RuntimeError):  # RuntimeError: no home folder for ``~``
        return data


def same_data(one: str, other: str) -> bool:
    """Whether the data settings ``one`` and ``other`` name the same data: the same text, or
    the same kind of source and the same file or folder, however its path is written
    (``csv:t.csv``, ``csv:./t.csv``, its absolute path, ``csv:../proj/t.csv`` from a folder
    beside it; links and ``..`` resolved, a relative path from the current folder). A named
    dataset or scikit-learn's set is a name, never a path: the same only as written."""
    import os

    from softreg.data.spec import parse

    if one == other:
        return True
    try:
        a, b = parse(one), parse(other)
    except ConfigError:
        return False
    if a.kind != b.kind:
        return False
    if a.kind in ("named", "sklearn"):
        return a.target == b.target
    try:
        first, second = (os.path.expanduser(s.target) for s in (a, b))
        if os.path.exists(first) and os.path.exists(second):
            return os.path.samefile(first, second)
        return os.path.realpath(first) == os.path.realpath(second)
    except (OSError, ValueError, RuntimeError):  # a folder gone, a NUL, no home folder
        return False


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
    hint = "use 0 (off) or a small penalty such as 1e-4"
    if not _real(value) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"weight_decay must be finite and >= 0, got {value!r}; {hint}")
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


def _check_init_std(value: Any) -> None:
    _positive(value, "init_std", "use a positive standard deviation such as 0.01")
    check_float32(value, "init_std", "use a standard deviation such as 0.01")


def _check_val_split(value: Any) -> None:
    if not _real(value) or not (0.0 <= value < 1.0):
        raise ConfigError(f"val_split must be in [0, 1), got {value!r}; e.g. 0.1 holds out 10%")


def _check_data(value: Any) -> None:
    from softreg.data.spec import parse

    parse(value)


def _check_test_split(value: Any) -> None:
    if not _real(value) or not (0.0 < value < 1.0):
        raise ConfigError(f"test_split must be between 0 and 1 (exclusive), got {value!r}; "
                          "e.g. 0.2 holds out 20%")


def _check_text(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.isprintable():
        raise ConfigError(f"{name} must be printable text, got {value!r}")


def _check_image_size(value: Any) -> None:
    from softreg.data.spec import parse_image_size

    _check_text(value, "image_size")
    parse_image_size(value)


def _check_bool(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")


def _loss_limit(value: Any) -> Any:
    """``max_loss`` as a configuration holds it, checked: ``"100 ln C"`` is the default; a
    number written as text (:meth:`TrainConfig.to_dict` writes 100 ln 10 given so) is that
    number.

    Raises:
        ConfigError: not a finite number > 0, nor the default's text.
    """
    if isinstance(value, str):
        if value.strip() == PER_CLASS:
            return PER_CLASS_LIMIT
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"max_loss must be a number or {PER_CLASS!r} (the default: 100 "
                              f"times the loss of uniform guessing over C classes), got "
                              f"{value!r}") from None
    _positive(value, "max_loss", "use a positive loss limit such as 230")
    return value


def _saved_limit(value: Any) -> Any:
    """``max_loss`` as :meth:`TrainConfig.to_dict` writes it: the default as it is (JSON
    writes it as 100 ln 10, the number softreg always wrote for it); a number given that
    equals 100 ln 10 as text; else as is."""
    if is_per_class(value):
        return value
    if _real(value) and value == DEFAULT_MAX_LOSS:
        return repr(value)
    return value


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(value: Any, name: str, hint: str) -> None:
    if not _real(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}; {hint}")
