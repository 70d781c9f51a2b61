"""What a checkpoint's metadata may hold, and the resumable state of a run read from it.

A checkpoint is a file anyone can edit. Its metadata is printed (``evaluate``) and drives a
resumed run (``train --resume``), so every field softreg reads is checked when the file is
loaded: a value softreg would not have written is refused with one line naming the file and
the field, never a traceback, a forged line of output or a history with repeated epochs.
Fields softreg does not know are kept but never used or printed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.config import TrainConfig
from softreg.core.errors import CheckpointError, ConfigError, HistoryError
from softreg.core.frameworks import DEVICES, FRAMEWORKS
from softreg.core.validate import is_int
from softreg.epochs.history import History
from softreg.fitting.splits import DataCheck
from softreg.safety.textsafe import shown

Arrays = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
# The end of a refusal of a damaged field (checkpoint.encode words it for a write instead).
TAMPERED = "the file was changed after softreg wrote it, or is not softreg's"
_STOPPER_FIELDS = ("best_value", "best_epoch", "bad_epochs")
# The field of a saved scikit-learn estimator's own state (softreg.estimator.persist).
ESTIMATOR = "estimator"
# The field of the label column of the table a saved estimator records as its data (its
# save(data=..., label_column=...)): what a run's configuration holds as label_column.
LABEL_COLUMN = "label_column"
# The format version this softreg reads and writes (checkpoint.py writes it).
FORMAT_VERSION = "1"
# The two checkpoints of a run folder: the last epoch (resumable) and the best epoch.
LAST = "checkpoint.safetensors"
BEST = "best.safetensors"
# The most classes a checkpoint's metadata may name.
MAX_CLASSES = 100_000
# How the inputs the weights take were scaled from the data: image pixels divided by 255, or a
# table's features as they are (a standardisation is folded into the weights).
SCALINGS = ("pixels/255", "raw")


def _fashion_names() -> tuple[str, ...]:
    from softreg.data.fashion import CLASS_NAMES

    return CLASS_NAMES


@dataclass
class RunState:
    """What ``softreg train --resume`` continues from (see :func:`run_state`).

    Attributes:
        config: the run's configuration. history: its finished epochs.
        params: the last epoch's (W, b). epoch: the number of finished epochs.
        early_stopping: the early-stopping counters, if the run had a validation split.
        best_params: the best epoch's (W, b), if the checkpoint holds them.
        data: the data spec the checkpoint records (a file's path absolute), if any.
        data_fingerprint: the data's content fingerprint it records, if any.
        trained, best_trained: the weights training held for standardised inputs that
            ``params`` and ``best_params`` were folded from, if the checkpoint holds them.
    """

    config: TrainConfig
    history: History
    params: Arrays
    epoch: int
    early_stopping: dict[str, Any] | None
    best_params: Arrays | None
    data: str | None = None
    data_fingerprint: str | None = None
    trained: Arrays | None = None
    best_trained: Arrays | None = None


def _natural(value: Any) -> bool:
    return is_int(value, 0)


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in allowed else (
            f"must be one of {', '.join(allowed)}, got {shown(value)}")
    return check


def _epoch(value: Any) -> str | None:
    return None if _natural(value) else f"must be an integer >= 0, got {shown(value)}"


def _class_names(value: Any) -> str | None:
    ok = (isinstance(value, list) and 1 <= len(value) <= MAX_CLASSES
          and all(isinstance(v, str) and v and v.isprintable() for v in value)
          and len(set(value)) == len(value))  # classes the commands' output tells apart
    return None if ok else (f"must be a list of 1 to {MAX_CLASSES} printable class names, "
                            f"distinct and none empty, got {shown(value)}")


def _model_shape(value: Any) -> str | None:
    from softreg.core.shape import shape_problem

    if not isinstance(value, dict):
        return f"must be an object, got {shown(value)}"
    return shape_problem(value)


def _short_text(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) <= 4096 and value.isprintable()
    return None if ok else f"must be a printable string, got {shown(value)}"


def _label_column(value: Any) -> str | None:
    ok = isinstance(value, str) and 0 < len(value) <= 4096 and value.isprintable()
    return None if ok else f"must be a column's name (printable text), got {shown(value)}"


def _scaling(value: Any) -> str | None:
    return _one_of(SCALINGS)(value)


def _config(value: Any) -> str | None:
    try:
        TrainConfig.from_dict(value)
    except ConfigError as exc:
        return f"is not a valid configuration: {exc}"
    return None


def _history(value: Any) -> str | None:
    try:
        History.from_dict(value)
    except HistoryError as exc:
        return f"is not a valid history: {exc}"
    return None


def _model_file(value: Any) -> str | None:
    return _one_of((LAST, BEST))(value)


def _early_stopping(value: Any) -> str | None:
    ok = (isinstance(value, dict) and set(value) == set(_STOPPER_FIELDS)
          and _natural(value["best_epoch"]) and _natural(value["bad_epochs"])
          and isinstance(value["best_value"], int | float)
          and not isinstance(value["best_value"], bool) and not math.isnan(value["best_value"]))
    return None if ok else (f"must hold {', '.join(_STOPPER_FIELDS)} (a number and two "
                            f"integers >= 0), got {shown(value)}")


def _format_version(value: Any) -> str | None:
    return None if value == FORMAT_VERSION else (
        f"is {shown(value)}, but this softreg reads version {FORMAT_VERSION!r} only")


def _sweep_key(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) <= 200 and value.isprintable()
    return None if ok else f"must be a short printable string, got {shown(value)}"


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "format_version": _format_version, "framework": _one_of(FRAMEWORKS), "epoch": _epoch,
    "device_used": _one_of(DEVICES), "class_names": _class_names, "config": _config,
    "history": _history, "model_file": _model_file, "early_stopping": _early_stopping,
    "sweep_key": _sweep_key, "model_shape": _model_shape, "data": _short_text,
    "data_fingerprint": _short_text, "scaling": _scaling, LABEL_COLUMN: _label_column,
}


def _refuse(where: str, key: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{where!r}: metadata {key!r} {problem}; {TAMPERED}")


def validate_meta(meta: dict[str, Any], where: str) -> None:
    """Check every metadata field softreg reads, and that they agree with each other.

    Args:
        meta: the decoded metadata of a checkpoint.
        where: the file, for the message.

    Raises:
        CheckpointError: the first field that softreg would not have written, naming it.
    """
    for key, check in _CHECKS.items():
        if key in meta:
            problem = check(meta[key])
            if problem is not None:
                raise _refuse(where, key, problem)
    if "framework" in meta and "config" in meta:
        wanted = TrainConfig.from_dict(meta["config"]).framework
        if meta["framework"] != wanted:
            raise _refuse(where, "framework", f"is {meta['framework']!r} but the config says "
                          f"{wanted!r}")
    if "class_names" in meta:
        # Without a model_shape (an older checkpoint), the model is Fashion-MNIST's shape and
        # any 10 names are its classes' names; with one, the names are the shape's.
        names = meta["class_names"]
        if "model_shape" in meta and names != meta["model_shape"]["class_names"]:
            raise _refuse(where, "class_names", f"are {shown(names)}, but the model shape "
                          f"says {shown(meta['model_shape']['class_names'])}")
        if "model_shape" not in meta and len(names) != len(_fashion_names()):
            raise _refuse(where, "class_names", f"name {len(names)} classes; a checkpoint "
                          f"without a model_shape holds {len(_fashion_names())}")
    if LABEL_COLUMN in meta and not isinstance(meta.get("data"), str):
        raise _refuse(where, LABEL_COLUMN, "names the label column of data the checkpoint "
                      "does not record")
    if "history" in meta:
        done = len(History.from_dict(meta["history"]))
        for key, value in (("epoch", meta.get("epoch")),
                           ("early_stopping", (meta.get("early_stopping") or {}).get(
                               "best_epoch"))):
            if value is not None and value > done:
                raise _refuse(where, key, f"names epoch {value}, but the history holds "
                              f"{done} epoch(s)")


def run_state(meta: dict[str, Any], params: Arrays, best: Arrays | None,
              where: str) -> RunState:
    """The resumable state in a checkpoint's metadata (already checked by :func:`validate_meta`).

    Raises:
        CheckpointError: no config, history or epoch; an epoch that is not the history's last;
            or early-stopping counters that name a best epoch without its weights.
    """
    for key in ("config", "history", "epoch"):
        if key not in meta:
            raise CheckpointError(f"{where!r} has no resumable state: its metadata has no "
                                  f"{key!r}; resume a run folder made by 'softreg train'")
    history = History.from_dict(meta["history"])
    if meta["epoch"] != len(history):
        raise _refuse(where, "epoch", f"is {meta['epoch']}, but a resumable checkpoint is of "
                      f"the history's last epoch, {len(history)}")
    stopper = meta.get("early_stopping")
    if stopper is not None and stopper["best_epoch"] > 0 and best is None:
        raise _refuse(where, "early_stopping", f"names best epoch {stopper['best_epoch']}, "
                      "but the file holds no best_W/best_b")
    return RunState(TrainConfig.from_dict(meta["config"]), history, params, meta["epoch"],
                    stopper, best, meta.get("data"), meta.get("data_fingerprint"))


def data_config(meta: dict[str, Any], where: str, given: dict[str, Any]) -> TrainConfig:
    """The settings a checkpoint's data is read with: its run's configuration (with the data
    spec the checkpoint records, a file's path absolute there); else the data spec it records
    (a saved estimator's, with the table's label column it records, if any); else
    Fashion-MNIST's (a checkpoint older than the data seam); then the data settings ``given``
    on the command line.

    Raises:
        ConfigError: a saved estimator fitted on arrays (no spec recorded) and no ``--data``.
    """
    from dataclasses import replace

    raw = meta.get("config")
    if isinstance(raw, dict):
        config = TrainConfig.from_dict(raw)
        config = replace(config, data=recorded_spec(meta.get("data"), config.data))
    elif isinstance(meta.get("data"), str):
        config = TrainConfig(data=meta["data"], label_column=meta.get(LABEL_COLUMN, ""))
    elif ESTIMATOR in meta and "data" not in given:
        shape = meta.get("model_shape") or {}
        raise ConfigError(
            f"{where!r} is a SoftmaxRegression saved without its data (fitted on arrays); pass "
            f"--data SPEC naming data of its {shape.get('features', '?')} features and "
            f"{len(shape.get('class_names', ())) or '?'} classes (for example --data "
            "csv:test.csv), or save it with save(path, data=SPEC)")
    else:
        config = TrainConfig()
    return replace(config, **given)


def recorded_spec(recorded: object, typed: str) -> str:
    """``recorded``, the data spec a run's checkpoint records (a file's path made absolute
    when it was read), else ``typed``, the spec of its configuration (a checkpoint older than
    the recorded spec, or one recording data no command line can name). A recorded path that
    is gone (a project moved or copied, its run with it) gives the typed one where that one,
    read from the current folder, is there (a configuration of an older softreg holds the path
    as typed); else the longest end of the recorded path that the current folder holds
    (``t.csv``, ``data/t.csv``: a configuration holds the path made absolute too). The data's
    fingerprint still tells whether it is the same data."""
    from pathlib import Path, PurePath

    from softreg.data.spec import parse

    try:
        spec = parse(recorded)
    except ConfigError:  # none, or data a command line cannot name (arrays in Python)
        return typed
    if spec.kind not in ("named", "sklearn") and not Path(spec.target).exists():
        try:
            other = parse(typed)
        except ConfigError:
            return str(recorded)
        if other.kind == spec.kind and Path(other.target).expanduser().exists():
            return typed
        parts = PurePath(spec.target).parts
        for start in range(1 if PurePath(spec.target).anchor else 0, len(parts)):
            tail = PurePath(*parts[start:])
            if Path(tail).exists():  # a relative path: from the current folder
                return f"{spec.kind}:{tail}"
    return str(recorded)


def data_check(meta: dict[str, Any], given: dict[str, Any]) -> DataCheck:
    """How the data read for the checkpoint of ``meta`` is checked; ``given``: the data
    settings given on the command line. The run's own data (no ``--data``) is checked against
    the fingerprint and the test split the checkpoint records: its test examples are then
    the ones the run held out."""
    state = meta.get(ESTIMATOR)
    arrays = isinstance(state, dict) and "data" not in meta  # an estimator saved without data
    fingerprint = meta.get("data_fingerprint")
    if "data" in given or arrays or not isinstance(fingerprint, str):
        fingerprint = None
    indices = isinstance(state, dict) and arrays and _integer_labels(state)
    raw = meta.get("config")
    test_split = (TrainConfig.from_dict(raw).test_split
                  if isinstance(raw, dict) and "data" not in given else None)
    return DataCheck(fingerprint, "data" in given and not arrays, indices, test_split)


def _integer_labels(state: dict[str, Any]) -> bool:
    """Whether an estimator's recorded labels are the integers 0..C-1, in that order."""
    labels = state.get("classes")
    if not isinstance(labels, dict) or not isinstance(labels.get("values"), list):
        return False
    try:
        kind = np.dtype(labels.get("dtype")).kind
    except (TypeError, ValueError):  # "unicode", "str", or not a dtype at all
        return False
    values = labels["values"]
    return kind in "iu" and values == list(range(len(values)))


def origin(meta: dict[str, Any], device: bool = True) -> str:
    """How the checkpoint's weights were made, for a command's first line: a run's framework
    (and ``device``) and epoch, or the estimator that was fitted."""
    if isinstance(meta.get(ESTIMATOR), dict):
        kind = meta[ESTIMATOR].get("type")
        name = kind if kind in ("SoftmaxRegression", "SoftmaxRegressionCV") else "an estimator"
        return f"{name} fitted with {meta.get('framework', '?')}"
    trained_on = f" on {meta['device_used']}" if device and "device_used" in meta else ""
    return (f"trained with {meta.get('framework', '?')}{trained_on}, weights of epoch "
            f"{meta.get('epoch', '?')}")
