"""A fitted estimator saved as a softreg checkpoint: what ``softreg evaluate``, ``predict``,
``explain`` and ``export`` read, plus what the estimator needs to come back exactly. No pickle.

The file is a ``softreg-checkpoint`` (:mod:`~softreg.runfiles.checkpoint`): ``W`` (C, D), ``b``,
the model on the raw features (a ``standardize=True`` fit's statistics are folded into them, so
``predict`` and every exporter apply them), stored in float64 (the commands read them as
float32, :meth:`SoftmaxRegression.load` exactly); the model shape (class names, features, and
the image shape of image data); and, when the data is named at :func:`save_estimator`, the
data's spec, fingerprint and scaling, so that ``softreg evaluate`` needs no ``--data``.

The metadata field ``estimator`` holds the rest: the labels with their dtype (any label type
comes back: strings, integers, floats, booleans), which checkpoint row each label's weights are
(the rows follow the data's class order when the data is named), the feature names and the
parameters. Files of the earlier ``softreg-estimator`` format (softreg before the estimator's
files were checkpoints) are still read by :func:`load_estimator`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from softreg.core.errors import CheckpointError
from softreg.core.shape import ModelShape
from softreg.runfiles import checkpoint
from softreg.safety import fileio, tensorfile
from softreg.safety.textsafe import printable

LEGACY_FORMAT = "softreg-estimator"
MAX_DATA = 1 << 34  # bytes of a legacy file; (d+1)*c float64 of a model far larger than any
KEY = "estimator"  # the checkpoint metadata field of the estimator's own state


def _labels(values: Any) -> dict[str, Any]:
    """Labels as JSON: text as text (``unicode``: a NumPy ``U`` array, ``str``: objects),
    numbers and booleans as they are, with their NumPy dtype."""
    array = np.asarray(values)
    kind = {"U": "unicode", "O": "str", "S": "str"}.get(array.dtype.kind, array.dtype.str)
    values = array.tolist()
    text = kind in ("str", "unicode")
    return {"dtype": kind, "values": [str(v) for v in values] if text else values}


def _unlabel(entry: dict[str, Any]) -> Any:
    if entry["dtype"] == "unicode":
        return np.array([str(v) for v in entry["values"]])
    if entry["dtype"] == "str":
        return np.array(entry["values"], dtype=object)
    return np.array(entry["values"], dtype=np.dtype(entry["dtype"]))


def save_estimator(est: Any, path: str | os.PathLike[str], data: str | None = None,
                   data_dir: str | os.PathLike[str] | None = None,
                   offline: bool = False) -> Path:
    """Atomically write the fitted ``est`` to ``path`` as a softreg checkpoint; returns the path.

    Args:
        est: a fitted estimator with ``_W`` (d, c), ``_b`` (c,) and ``classes_``.
        path: the ``.safetensors`` file to write.
        data: the softreg data spec X was read from (``softreg.estimator.load_split``), or None
            for the user's own arrays (then ``softreg evaluate`` needs ``--data``).
        data_dir, offline: where a named dataset's files are.

    Raises:
        ValueError: ``data`` has another feature count, or classes that are neither the
            estimator's labels (as text) nor the indices 0..C-1 of its class names.
    """
    classes = np.asarray(est.classes_)
    d = int(est._W.shape[0])
    rows = np.arange(len(classes))
    names = tuple(printable(c) for c in classes)
    features = tuple(str(n) for n in getattr(est, "feature_names_in_", ()))
    meta: dict[str, Any] = {"framework": est.framework, "scaling": "raw",
                            "model_shape": ModelShape(names, d, None, features).to_dict(),
                            "class_names": list(names)}
    if data is not None:
        info, rows = _data_info(data, classes, d, data_dir, offline)
        meta.update(info)
    order = np.argsort(rows)  # the label of each checkpoint row
    state: dict[str, Any] = {
        "type": type(est).__name__, "classes": _labels(classes), "rows": rows.tolist(),
        "params": {k: v for k, v in est.get_params().items()
                   if v is None or isinstance(v, (bool, int, float, str))}}
    if features:
        state["feature_names"] = list(features)
    meta[KEY] = state
    W = np.asarray(est._W, np.float64).T[order]  # (C, D), checkpoint row order
    ck = checkpoint.Checkpoint(W, np.asarray(est._b, np.float64)[order], meta)  # type: ignore[arg-type]
    return fileio.write_bytes(path, checkpoint.encode(ck, str(path), dtype=np.float64))


def _data_info(spec: str, classes: Any, d: int, data_dir: Any,
               offline: bool) -> tuple[dict[str, Any], Any]:
    """The data's checkpoint fields, and the checkpoint row of each of the estimator's classes."""
    from softreg.data import load

    ds = load(spec, data_dir, offline)
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
    if is_legacy(path):
        return load_legacy(cls, path)
    where = str(path)
    checkpoint_file = checkpoint.load(path)  # every check of a checkpoint (refuses others)
    header = tensorfile.read_header(path, checkpoint.MAX_DATA)
    meta = checkpoint_file.meta
    if KEY not in meta:
        raise CheckpointError(
            f"{where!r} is a checkpoint of 'softreg train', not a saved SoftmaxRegression; "
            "use it with the softreg commands, or fit an estimator and save() it")
    try:
        state = meta[KEY]
        classes = _unlabel(state["classes"])
        rows = np.asarray(state["rows"], dtype=np.intp)
        params = dict(state["params"])
        names = state.get("feature_names")
        ok = sorted(rows.tolist()) == list(range(len(classes))) and (
            names is None or len(names) == checkpoint_file.shape.features)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{where!r}: its estimator metadata is unreadable ({exc}); save "
                              "the estimator again") from exc
    if not ok or len(classes) != checkpoint_file.shape.classes:
        raise CheckpointError(
            f"{where!r}: its estimator metadata names {len(classes)} classes and "
            f"{len(names or ())} feature names, but the checkpoint holds a model of "
            f"{checkpoint_file.shape.classes} classes and {checkpoint_file.shape.features} "
            "features; save the estimator again")
    arrays = tensorfile.read_tensors_f64(path, header, ("W", "b"))
    return _estimator(cls, params, classes, names, arrays["W"][rows].T, arrays["b"][rows])


def _estimator(cls: Any, params: dict[str, Any], classes: Any, names: Any, W: Any,
               b: Any) -> Any:
    est = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
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
        classes = _unlabel(json.loads(meta["classes"]))
        params = json.loads(meta["params"])
        names = json.loads(meta["feature_names"]) if "feature_names" in meta else None
    except (KeyError, ValueError, TypeError) as exc:
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
    return _estimator(cls, params, classes, names, arrays["W"], arrays["b"])
