"""Save and load a fitted estimator as a safetensors file: arrays plus JSON metadata, no pickle.

The file holds ``W`` (d, c) and ``b`` (c,) in float64 (the model on raw X, standardisation
folded in) and, in its metadata, ``format: softreg-estimator``, the class labels with their
dtype, the feature names if any and the estimator's parameters. :func:`load_estimator` checks
the header (through :mod:`softreg.safety.tensorfile`) before it reads any data, and refuses in
one line
a file of another format or of shapes that disagree with its own metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from softreg import __version__
from softreg.core.errors import CheckpointError
from softreg.core.optional import require
from softreg.safety import fileio, tensorfile

FORMAT = "softreg-estimator"
FORMAT_VERSION = "1"
MAX_DATA = 1 << 34  # bytes; (d+1)*c float64 of a model far larger than any softmax regression


def _labels(values: Any) -> dict[str, Any]:
    array = np.asarray(values)
    kind = "str" if array.dtype.kind in "OUS" else array.dtype.str
    values = array.tolist()
    return {"dtype": kind, "values": [str(v) for v in values] if kind == "str" else values}


def _unlabel(entry: dict[str, Any]) -> Any:
    if entry["dtype"] == "str":
        return np.array(entry["values"], dtype=object)
    return np.array(entry["values"], dtype=np.dtype(entry["dtype"]))


def save_estimator(est: Any, path: str | os.PathLike[str]) -> Path:
    """Atomically write ``est`` (fitted) to ``path``; returns the path."""
    require("safetensors")
    import safetensors.numpy

    params = {k: v for k, v in est.get_params().items()
              if v is None or isinstance(v, (bool, int, float, str))}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "softreg_version": __version__,
            "estimator": type(est).__name__, "classes": json.dumps(_labels(est.classes_)),
            "params": json.dumps(params)}
    if hasattr(est, "feature_names_in_"):
        meta["feature_names"] = json.dumps([str(n) for n in est.feature_names_in_])
    data = safetensors.numpy.save({"W": np.ascontiguousarray(est._W, np.float64),
                                   "b": np.ascontiguousarray(est._b, np.float64)}, metadata=meta)
    return fileio.write_bytes(path, data)


def load_estimator(cls: Any, path: str | os.PathLike[str]) -> Any:
    """Read a file written by :func:`save_estimator` into a new ``cls``.

    Raises:
        CheckpointError: not a softreg estimator file, or its shapes disagree with its labels.
    """
    where = str(path)
    header = tensorfile.read_header(path, MAX_DATA)
    meta = header.metadata
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{where!r} is not a saved SoftmaxRegression (format {meta.get('format')!r}, "
            f"expected {FORMAT!r}); load it with the tool that wrote it")
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
    arrays = _read_f64(path, header)
    est = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
    est.classes_ = classes
    est.n_features_in_ = d
    if names is not None:
        est.feature_names_in_ = np.array(names, dtype=object)
    est._set_model(arrays["W"], arrays["b"])
    return est


def _read_f64(path: str | os.PathLike[str], header: tensorfile.Header) -> dict[str, Any]:
    with open(path, "rb") as fh:
        fh.seek(header.data_start)
        data = fh.read(header.data_size)
    if len(data) != header.data_size:
        raise CheckpointError(f"{str(path)!r} ended early; save the estimator again")
    return {name: np.frombuffer(data, "<f8", count=int(np.prod(info.shape)),
                                offset=info.start).reshape(info.shape).copy()
            for name, info in header.tensors.items()}
