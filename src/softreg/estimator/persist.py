"""A fitted estimator saved as a softreg checkpoint: what ``softreg evaluate``, ``predict``,
``explain`` and ``export`` read, plus what the estimator needs to come back exactly. No pickle.

The file is a ``softreg-checkpoint`` (:mod:`~softreg.runfiles.checkpoint`): ``W`` (C, D), ``b``,
the model on the raw features (a ``standardize=True`` fit's statistics are folded into them, so
``predict`` and every exporter apply them), stored in float64 (the commands read them as
float32, :meth:`SoftmaxRegression.load` exactly); the model shape (class names, features, and
the image shape of image data); and, when the data is named at :func:`save_estimator`, the
data's spec, fingerprint and scaling (and a table's label column, when it is named), so that
``softreg evaluate`` needs no ``--data``.

The metadata field ``estimator`` holds the rest: the labels with their dtype (any label type
comes back: strings, integers, floats, booleans), which checkpoint row each label's weights are
(the rows follow the data's class order when the data is named), the feature names and the
parameters. Files of the earlier ``softreg-estimator`` format (softreg before the estimator's
files were checkpoints) are still read by :func:`load_estimator`.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from softreg.core.errors import CheckpointError, ConfigError
from softreg.core.shape import ModelShape
from softreg.runfiles import checkpoint
from softreg.runfiles.checkpoint_meta import LABEL_COLUMN, LAST, MAX_CLASSES
from softreg.safety import fileio, folders, readback, tensorfile, writegate
from softreg.safety.textsafe import printable

if TYPE_CHECKING:
    from softreg.core.config import TrainConfig

LEGACY_FORMAT = "softreg-estimator"
MAX_DATA = 1 << 34  # bytes of a legacy file; (d+1)*c float64 of a model far larger than any
KEY = "estimator"  # the checkpoint metadata field of the estimator's own state


def _labels(values: Any) -> dict[str, Any]:
    """Labels as JSON, with their NumPy dtype: text as text (``unicode``: a NumPy ``U``
    array, ``str``: objects that are all ``str``), numbers and booleans as they are, dates
    and durations as their int64 counts.

    Raises:
        ValueError: labels that a checkpoint cannot give back exactly (other objects, a
            float wider than float64 that float64 does not hold exactly, complex).
    """
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind in "US" or (kind == "O" and all(isinstance(v, str) for v in array.tolist())):
        return {"dtype": "unicode" if kind == "U" else "str",
                "values": [str(v) for v in array.tolist()]}
    if kind in "Mm":  # datetime64 / timedelta64: their counts of the dtype's unit
        return {"dtype": array.dtype.str, "values": array.view("<i8").tolist()}
    if array.dtype.kind == "f" and array.dtype.itemsize > 8:
        wide = array
        array = array.astype(np.float64)
        if not np.array_equal(array.astype(wide.dtype), wide):
            raise _unsavable(wide)
        return {"dtype": wide.dtype.str, "values": array.tolist()}
    if array.dtype.kind not in "biuf":  # other objects, complex
        raise _unsavable(array)
    return {"dtype": array.dtype.str, "values": array.tolist()}


def _unsavable(labels: Any) -> ValueError:
    sample = ", ".join(str(v) for v in labels.ravel()[:3])
    return ValueError(f"labels of dtype {labels.dtype} (e.g. {sample}) cannot be saved in a "
                      "checkpoint, which gives back text, numbers, booleans, dates and "
                      "durations; fit on such labels (e.g. y.astype(str)), or pickle / joblib "
                      "the estimator")


def _unlabel(entry: dict[str, Any]) -> Any:
    """:func:`_labels`'s inverse (any error in a damaged entry propagates to the caller)."""
    values = entry["values"]
    if not isinstance(values, list):
        raise TypeError(f"the labels are {type(values).__name__}, not a list")
    if entry["dtype"] == "unicode":
        return np.array([str(v) for v in values])
    if entry["dtype"] == "str":
        return np.array([str(v) for v in values], dtype=object)
    dtype = np.dtype(entry["dtype"])
    if dtype.kind in "Mm":
        return np.array(values, dtype="<i8").view(dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"labels of dtype {dtype} are not what softreg writes")
    if dtype.kind in "biu" and not all(type(v) in (int, bool) for v in values):
        raise ValueError("integer labels that are not integers")
    return np.array(values, dtype=dtype)


def save_estimator(est: Any, path: str | os.PathLike[str], data: str | None = None,
                   data_dir: str | os.PathLike[str] | None = None,
                   offline: bool = False, overwrite: bool = False,
                   label_column: str | None = None) -> Path:
    """Atomically write the fitted ``est`` to ``path`` as a softreg checkpoint; returns the path.

    Args:
        est: a fitted estimator with ``_W`` (d, c), ``_b`` (c,) and ``classes_``.
        path: the ``.safetensors`` file to write.
        data: the softreg data spec X was read from (``softreg.estimator.load_split``), or None
            for the user's own arrays (then ``softreg evaluate`` needs ``--data``).
        data_dir, offline: where a named dataset's files are.
        overwrite: replace a file already at ``path`` (never a folder, link or other thing).
        label_column: the label column of ``data``, a table (``load_split``'s
            ``label_column``), recorded beside the spec (as a run's configuration records
            ``--label-column``), so that the commands read the same column.

    Raises:
        FileExistsError: a file is at ``path`` and ``overwrite`` is False.
        ValueError: ``path`` is in a folder of softreg's commands (a run, a sweep: their files
            are theirs to write); ``path`` is a folder, a link or a device; ``data`` has
            another feature count, or classes that are neither the estimator's labels (as
            text) nor the indices 0..C-1 of its class names; ``label_column`` is given
            without ``data``, or for data that is not a table.
    """
    dest = Path(path)
    settings = _data_settings(data, label_column)  # before any other work, as the data's own
    _check_destination(dest, overwrite)
    classes = np.asarray(est.classes_)
    d = int(est._W.shape[0])
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"a checkpoint holds a model of at most {MAX_CLASSES:,} classes; this "
                         f"one has {len(classes):,}: pickle / joblib the estimator instead")
    labels = _labels(classes)  # before any other work: labels it cannot hold are refused
    rows = np.arange(len(classes))
    names = display_names(classes)
    features = tuple(str(n) for n in getattr(est, "feature_names_in_", ()))
    meta: dict[str, Any] = {"framework": est.framework, "scaling": "raw",
                            "model_shape": ModelShape(names, d, None, features).to_dict(),
                            "class_names": list(names)}
    if settings is not None:
        info, rows = _data_info(settings, classes, d, data_dir, offline)
        meta.update(info)
        if settings.label_column:  # what --label-column is to a run: read by data_config
            meta[LABEL_COLUMN] = settings.label_column
    order = np.argsort(rows)  # the label of each checkpoint row
    params, dropped = _params(est.get_params())
    if dropped:
        warnings.warn(f"{type(est).__name__}.save: the parameters {', '.join(dropped)} hold "
                      "objects a checkpoint does not store (a splitter, a callable); the loaded "
                      "estimator has their defaults: set them again after load (set_params), "
                      "or pickle / joblib the estimator", UserWarning, stacklevel=3)
    state: dict[str, Any] = {"type": type(est).__name__, "classes": labels,
                             "rows": rows.tolist(), "params": params}
    if features:
        state["feature_names"] = list(features)
    fitted = _fitted(est)
    if fitted:
        state["fitted"] = fitted
    meta[KEY] = state
    W = np.asarray(est._W, np.float64).T[order]  # (C, D), checkpoint row order
    ck = checkpoint.Checkpoint(W, np.asarray(est._b, np.float64)[order], meta)  # type: ignore[arg-type]
    encoded = checkpoint.encode(ck, str(dest), dtype=np.float64)
    try:
        return fileio.write_new(dest, lambda tmp: tmp.write_bytes(encoded),
                                overwrite=overwrite, flag="path", suffix=".safetensors")
    except ConfigError:
        if not overwrite and writegate.describe(dest) == "a regular file":  # made meanwhile
            raise _exists(dest) from None
        raise


def _check_destination(dest: Path, overwrite: bool) -> None:
    """Refuse, before any work, a path in a folder of softreg's commands or a file already
    there (unless ``overwrite``): a file you name is never replaced unasked, and a run's
    checkpoint never by an estimator's."""
    found = folders.enclosing(dest)  # any file of theirs, not only their state
    if found is not None:
        folder, kind = found
        raise ConfigError(f"{str(dest)!r} is inside {str(folder)!r}, a folder of softreg's "
                          f"{printable(kind)} command, whose files it writes and reads back: "
                          "save the estimator elsewhere")
    if not overwrite and writegate.describe(dest) == "a regular file":
        raise _exists(dest)
    writegate.check_file(dest, flag="path", overwrite=True, suffix=".safetensors")


def _exists(dest: Path) -> FileExistsError:
    return FileExistsError(f"{str(dest)!r} already exists; save does not replace a file "
                           "unasked: choose another path, or pass overwrite=True")


def display_names(classes: Any) -> tuple[str, ...]:
    """The class names the commands show for the estimator's labels (its own labels are kept
    exactly, apart): each label as printable text, an empty one as ``''``, and labels that
    print alike (``1`` and ``"1"``) told apart by their position, ``1 (0)`` and ``1 (1)``; a
    checkpoint refuses empty or repeated class names."""
    names = [printable(c) or "''" for c in classes]
    seen = Counter(names)  # one pass: up to MAX_CLASSES labels
    told = [f"{n} ({i})" if seen[n] > 1 else n for i, n in enumerate(names)]
    return tuple(told if len(set(told)) == len(told) else (f"class {i}" for i in range(len(names))))


def _param(value: Any) -> Any:
    """A parameter as JSON: plain values as they are, NumPy scalars as Python ones, a sequence
    of numbers as a list, a dict of label -> weight (``class_weight``) as its labels and
    weights. Raises TypeError for anything else (a splitter, a callable)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        weights = [float(v) for v in value.values()]  # TypeError/ValueError: not numbers
        return {"labels": _labels(np.array(list(value))), "weights": weights}
    if isinstance(value, (list, tuple, np.ndarray)):
        array = np.asarray(value)
        if array.ndim == 1 and array.dtype.kind in "iuf":
            return array.tolist()
    raise TypeError(f"a {type(value).__name__} is not stored")


def _params(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The parameters a checkpoint stores (:func:`_param`), and the names of those it
    cannot."""
    stored, dropped = {}, []
    for name, value in params.items():
        try:
            stored[name] = _param(value)
        except (TypeError, ValueError):
            dropped.append(name)
    return stored, dropped


def _unparam(value: Any) -> Any:
    """:func:`_param`'s inverse."""
    if isinstance(value, dict):
        labels = _unlabel(value["labels"]).tolist()
        weights = value["weights"]
        if not isinstance(weights, list) or len(weights) != len(labels):
            raise ValueError("a class_weight whose labels and weights differ in number")
        values = [float(w) for w in weights]
        if not all(math.isfinite(w) and w >= 0 for w in values):
            raise ValueError(f"class_weight weights {values[:5]} are not all finite and "
                             "non-negative")
        return dict(zip(labels, values, strict=True))
    return value


def _fitted(est: Any) -> dict[str, Any]:
    """What a fit leaves besides the model that ``load`` gives back: a SoftmaxRegression's
    iterations, objective and SGD epochs (a continued ``partial_fit`` keeps its schedule), a
    cross-validated estimator's chosen C."""
    out: dict[str, Any] = {}
    n_iter = getattr(est, "n_iter_", None)
    if n_iter is not None and np.ndim(n_iter) == 1:
        out["n_iter_"] = [int(v) for v in n_iter]
    for name in ("objective_", "C_"):
        if isinstance(getattr(est, name, None), (int, float, np.floating)):
            out[name] = float(getattr(est, name))
    if isinstance(getattr(est, "_epochs_done", None), (int, np.integer)):
        out["_epochs_done"] = int(est._epochs_done)
    return out


def _set_fitted(est: Any, fitted: Any) -> None:
    """:func:`_fitted`'s inverse, each value checked (ValueError/TypeError otherwise)."""
    if not isinstance(fitted, dict):
        raise TypeError(f"its fitted state is a {type(fitted).__name__}, not an object")
    for name, value in fitted.items():
        if name == "n_iter_":
            if not (isinstance(value, list) and 1 <= len(value) <= 64
                    and all(type(v) is int and 0 <= v < 2**31 for v in value)):
                raise ValueError("n_iter_ is not a short list of iteration counts")
            est.n_iter_ = np.array(value, np.int32)
        elif name in ("objective_", "C_"):  # C_ may be inf (an unpenalised C among Cs)
            if not (type(value) in (int, float) and (
                    value > 0 if name == "C_" else bool(np.isfinite(value)))):
                raise ValueError(f"{name} is not a {'positive' if name == 'C_' else 'finite'} "
                                 "number")
            setattr(est, name, float(value))
        elif name == "_epochs_done":
            if not (type(value) is int and 0 <= value < 2**31):
                raise ValueError("its SGD epochs are not a count")
            est._epochs_done = value
        else:
            raise ValueError(f"an unknown fitted value {printable(str(name))!r}")


def _data_settings(data: str | None, label_column: str | None) -> TrainConfig | None:
    """The settings ``data`` is read with (None: no data), its ``label_column`` checked.

    Raises:
        ValueError: ``label_column`` without ``data``, or for data that is not a table.
    """
    from softreg.estimator.data import data_settings

    if data is None:
        if label_column not in (None, ""):
            raise ValueError("label_column names the label column of the data given as "
                             "data=SPEC, and no data is given: it would be ignored; pass "
                             "data=SPEC too, or leave label_column out")
        return None
    return data_settings(data, label_column)


def _data_info(settings: TrainConfig, classes: Any, d: int, data_dir: Any,
               offline: bool) -> tuple[dict[str, Any], Any]:
    """The data's checkpoint fields, and the checkpoint row of each of the estimator's classes."""
    from softreg.fitting.splits import load_dataset

    spec = settings.data
    ds = load_dataset(settings, None if data_dir is None else str(data_dir), offline)
    shape = ds.shape
    if shape.features != d:
        raise ValueError(f"data {spec!r} has {shape.features} features, but the estimator was "
                         f"fitted on {d}; save it with the spec of the data it was fitted on, or "
                         "with data=None")
    if classes.dtype.kind in "iu" and np.array_equal(classes, np.arange(shape.classes)):
        return ds.info(), np.arange(shape.classes)  # labels are the data's class indices
    text = [str(c) for c in classes]
    if sorted(text) == sorted(shape.class_names) and len(set(text)) == len(text):
        return ds.info(), np.array([shape.class_names.index(t) for t in text])
    raise ValueError(f"data {spec!r} has the classes {list(shape.class_names)[:10]}, but the "
                     f"estimator's are {text[:10]}: neither those names nor their indices "
                     f"0..{shape.classes - 1}; save with data=None and pass --data to the "
                     "commands, or fit on the data's labels")


def load_estimator(cls: Any, path: str | os.PathLike[str]) -> Any:
    """Read a file written by :func:`save_estimator` (or an earlier ``softreg-estimator``
    file) into a new ``cls``.

    Raises:
        CheckpointError: not a saved estimator, its shapes disagree with its metadata, or its
            estimator metadata is unreadable.
    """
    if Path(path).is_dir():  # a folder: its checkpoint, as the commands read it
        path = Path(path) / LAST
    if is_legacy(path):
        return load_legacy(cls, path)
    where = str(path)
    checkpoint_file = checkpoint.load(path)  # every check of a checkpoint (refuses others)
    header = tensorfile.read_header(path, checkpoint.MAX_DATA)
    meta = checkpoint_file.meta
    if KEY not in meta:
        raise CheckpointError(
            f"{where!r} is a checkpoint of 'softreg train', not a saved {cls.__name__}; "
            "use it with the softreg commands, or fit an estimator and save() it")
    entry = meta[KEY] if isinstance(meta[KEY], dict) else {}
    saved, params = entry.get("type"), entry.get("params")
    # a cross-validated estimator's parameters (Cs, cv, ...) are not a plain one's: each loads
    # its own kind (a subclass of either, its own and its parent's)
    if (isinstance(saved, str) and isinstance(params, dict)  # refit: a CV's, always stored
            and ("refit" in params) != ("refit" in inspect.signature(cls).parameters)):
        raise CheckpointError(f"{where!r} holds a saved {printable(saved)}, not a "
                              f"{cls.__name__}; load it with {printable(saved)}.load")
    try:
        state = meta[KEY]
        classes = saved_labels(state["classes"])
        rows = np.asarray(state["rows"], dtype=np.intp)
        params = {k: _unparam(v) for k, v in dict(state["params"]).items()}
        names = state.get("feature_names")
        if names is not None and not (isinstance(names, list)
                                      and all(isinstance(n, str) for n in names)):
            raise ValueError("feature_names is not a list of strings")
        ok = sorted(rows.tolist()) == list(range(len(classes))) and (
            names is None or len(names) == checkpoint_file.shape.features)
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise CheckpointError(f"{where!r}: its estimator metadata is unreadable ({exc}); save "
                              "the estimator again") from exc
    if not ok or len(classes) != checkpoint_file.shape.classes:
        raise CheckpointError(
            f"{where!r}: its estimator metadata names {len(classes)} classes and "
            f"{len(names or ())} feature names, but the checkpoint holds a model of "
            f"{checkpoint_file.shape.classes} classes and {checkpoint_file.shape.features} "
            "features; save the estimator again")
    arrays = tensorfile.read_tensors_f64(path, header, ("W", "b"))
    return _estimator(cls, params, classes, names, arrays["W"][rows].T, arrays["b"][rows],
                      where, state.get("fitted", {}))


def saved_labels(entry: Any) -> Any:
    """The labels of an estimator's metadata (its ``classes`` entry), as ``load`` gives them
    back: distinct, as ``classes_`` always is; ``softreg predict --json`` reads them too.

    Raises:
        ValueError (or KeyError, TypeError): an entry that is not such labels.
    """
    classes = _unlabel(entry)
    if len(classes) < 2 or len(np.unique(classes)) != len(classes):
        raise ValueError(f"{len(classes)} labels, {len(np.unique(classes))} of them distinct")
    return classes


def _estimator(cls: Any, params: dict[str, Any], classes: Any, names: Any, W: Any,
               b: Any, where: str, fitted: Any = None) -> Any:
    """A ``cls`` with the saved parameters (checked as ``fit`` checks them) and model."""
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
        raise CheckpointError(f"{where!r}: its weights hold NaN or inf values; the file was "
                              "changed after softreg wrote it, or is not softreg's")
    try:
        est = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
        est._validate_params()
        _set_fitted(est, fitted or {})
    except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is a ValueError
        raise CheckpointError(f"{where!r}: its saved parameters are not valid ({exc}); save "
                              "the estimator again") from exc
    est.classes_ = classes
    est.n_features_in_ = int(W.shape[0])
    if names is not None:
        est.feature_names_in_ = np.array(names, dtype=object)
    est._set_model(W, b)
    return est


def is_legacy(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file of the earlier ``softreg-estimator`` format."""
    try:
        header = tensorfile.read_header(path, MAX_DATA)
    except (CheckpointError, OSError):
        return False
    return header.metadata.get("format") == LEGACY_FORMAT


def load_legacy(cls: Any, path: str | os.PathLike[str]) -> Any:
    """Read a ``softreg-estimator`` file (W (d, c) and b (c,) in float64, JSON metadata).

    Raises:
        CheckpointError: its shapes disagree with its labels, or its metadata is unreadable.
    """
    where = str(path)
    header = tensorfile.read_header(path, MAX_DATA)
    meta = header.metadata
    try:
        if any(readback.json_depth(v) > readback.MAX_DEPTH for v in meta.values()):
            raise ValueError(f"JSON nested more than {readback.MAX_DEPTH} levels deep")
        classes = saved_labels(json.loads(meta["classes"]))
        params = dict(json.loads(meta["params"]))
        names = json.loads(meta["feature_names"]) if "feature_names" in meta else None
        if names is not None and not (isinstance(names, list)
                                      and all(isinstance(n, str) for n in names)):
            # as the current format's: a name of another type would reach predict's column
            # check and pandas' messages
            raise TypeError("its feature names are not a list of strings")
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise CheckpointError(f"{where!r}: its estimator metadata is unreadable ({exc}); save "
                              "the estimator again") from exc
    shapes = {k: v.shape for k, v in header.tensors.items()}
    d = shapes.get("W", (0, 0))[0]
    want = {"W": (d, len(classes)), "b": (len(classes),)}
    if shapes != want or any(v.dtype != "F64" for v in header.tensors.values()) or (
            names is not None and len(names) != d):
        raise CheckpointError(
            f"{where!r} holds tensors {shapes}, which do not fit its {len(classes)} classes "
            f"and {d if names is None else len(names)} features; it is not a checkpoint of "
            "this estimator")
    arrays = tensorfile.read_tensors_f64(path, header, ("W", "b"))
    return _estimator(cls, params, classes, names, arrays["W"], arrays["b"], where)
