"""Checkpoints: safetensors files holding W (10, 784) and b (10,) plus JSON metadata. No pickle.

Any framework can load any checkpoint: the arrays are plain float32 and the metadata says which
framework wrote them. Files are written atomically, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg import __version__, fileio
from softreg._optional import require
from softreg.backends.base import NUM_CLASSES, NUM_FEATURES
from softreg.errors import CheckpointError

FORMAT = "softreg-checkpoint"
FORMAT_VERSION = "1"
SHAPES = {"W": (NUM_CLASSES, NUM_FEATURES), "b": (NUM_CLASSES,)}
# The two checkpoints of a run folder: the last epoch (resumable) and the best epoch.
LAST = "checkpoint.safetensors"
BEST = "best.safetensors"


@dataclass
class Checkpoint:
    """Weights and what is needed to understand or resume them.

    Attributes:
        W: (10, 784) float32 weights. b: (10,) float32 biases.
        meta: JSON-able metadata: framework, epoch, config, class_names, softreg_version, and
            for a resumable run its history and early-stopping state.
        extra: further named float32 arrays (e.g. the best weights ``best_W``/``best_b``).
    """

    W: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


def save(path: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Atomically write ``ckpt`` to ``path`` in safetensors format and return the path."""
    return fileio.write_bytes(path, encode(ckpt, str(path)))


def encode(ckpt: Checkpoint, where: str = "checkpoint") -> bytes:
    """The bytes of ``ckpt`` as a safetensors file (what :func:`save` writes)."""
    st = require("safetensors")
    import safetensors.numpy  # noqa: F401  (submodule import after the availability check)

    _check_arrays({"W": ckpt.W, "b": ckpt.b}, where)
    tensors = {"W": np.ascontiguousarray(ckpt.W, np.float32),
               "b": np.ascontiguousarray(ckpt.b, np.float32)}
    tensors.update({k: np.ascontiguousarray(v, np.float32) for k, v in ckpt.extra.items()})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "softreg_version": __version__}
    meta.update({k: json.dumps(v) for k, v in ckpt.meta.items()})
    data: bytes = st.numpy.save(tensors, metadata=meta)
    return data


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a softreg checkpoint.

    Raises:
        CheckpointError: missing file, not a safetensors file, not written by softreg, or
            arrays of the wrong shape or with non-finite values.
    """
    st = require("safetensors")
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist; pass a .safetensors file "
                              "written by 'softreg train' (or its run folder)")
    try:
        with st.safe_open(str(p), framework="numpy") as fh:
            raw_meta = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:
        raise CheckpointError(
            f"{str(p)!r} is not a softreg checkpoint: it cannot be read as safetensors ({exc})"
        ) from exc
    if raw_meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(p)!r} is a safetensors file but not a softreg checkpoint "
            f"(metadata 'format' is {raw_meta.get('format')!r}, expected {FORMAT!r})"
        )
    _check_arrays(arrays, str(p))
    meta: dict[str, Any] = {}
    for key, value in raw_meta.items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    extra = {k: v for k, v in arrays.items() if k not in SHAPES}
    return Checkpoint(arrays["W"].astype(np.float32), arrays["b"].astype(np.float32), meta, extra)


def load_model(path: str | os.PathLike[str]) -> tuple[Path, Checkpoint]:
    """The final model of a run: ``path`` itself for a file; for a run folder, the file its
    ``checkpoint.safetensors`` names as the model the run evaluated (``best.safetensors`` when
    early stopping restored the best epoch; ``checkpoint.safetensors`` otherwise).

    Returns:
        The file read and its checkpoint.

    Raises:
        CheckpointError: as :func:`load`, for either file.
    """
    p = Path(path)
    if not p.is_dir():
        return p, load(p)
    last = load(p / LAST)
    if last.meta.get("model_file") == BEST:
        return p / BEST, load(p / BEST)
    return p / LAST, last


def _check_arrays(arrays: dict[str, Any], where: str) -> None:
    for name, shape in SHAPES.items():
        if name not in arrays:
            raise CheckpointError(f"{where!r} has no array {name!r}; a softreg checkpoint holds "
                                  f"W {SHAPES['W']} and b {SHAPES['b']}")
        arr = np.asarray(arrays[name])
        if arr.shape != shape:
            raise CheckpointError(
                f"{where!r}: array {name!r} has shape {arr.shape}, expected {shape} "
                "(a linear softmax regression on 28x28 images with 10 classes)"
            )
        if not np.all(np.isfinite(arr)):
            raise CheckpointError(f"{where!r}: array {name!r} holds NaN or inf values")
