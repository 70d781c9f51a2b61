"""Checkpoints: safetensors files holding W (C, D) and b (C,) plus JSON metadata. No pickle.

Any framework can load any checkpoint: the arrays are plain float32 and the metadata says which
framework wrote them. Files are written atomically, so a crash never leaves half a checkpoint.

A checkpoint is also a file anyone can edit, so :func:`load` trusts nothing in it: the header
is checked (names, dtypes, shapes, offsets, sizes) before any tensor is read, no more than
the 1 MB header bound and the bytes the known tensors take is ever read, and the metadata
is checked field by field (:mod:`softreg.runfiles.checkpoint_meta`) before anything prints or
resumes
from it.

The model's shape is the data's: the metadata's ``model_shape`` (classes and their names,
features, image shape) says what W and b must be, and the tensors are checked against it before
they are read. A checkpoint written before softreg knew other data has no ``model_shape``: it
is read as Fashion-MNIST's (10 classes, 28 x 28 images).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg import __version__
from softreg.core.errors import CheckpointError
from softreg.core.optional import require
from softreg.core.shape import ModelShape
from softreg.data import fashion
from softreg.runfiles.checkpoint_meta import (
    BEST,
    FORMAT_VERSION,
    LAST,
    TAMPERED,
    RunState,
    run_state,
    validate_meta,
)
from softreg.safety import fileio, readback, tensorfile
from softreg.safety.textsafe import printable, shown

FORMAT = "softreg-checkpoint"
# The tensors: W and b, and optionally, in a resumable checkpoint, the best epoch's weights and
# the weights training holds for standardised inputs that W, b (and best_W, best_b) were folded
# from (unfolding is not exact in float32: a resume continues from these, bit for bit), each
# pair both or neither. Their shapes are the metadata's model_shape (:func:`tensor_shapes`).
TENSORS = ("W", "b")
PAIRS = ("best_", "trained_", "best_trained_")
EXTRA_TENSORS = tuple(f"{pair}{name}" for pair in PAIRS for name in TENSORS)
# The most tensor data any checkpoint may declare (4 GiB); the exact bound is the model
# shape's, checked against the header before a byte of tensor data is read.
MAX_DATA = 4 * 2**30
# Metadata stored as plain strings; every other value is JSON.
_PLAIN_META = ("format", "format_version", "softreg_version")


@dataclass
class Checkpoint:
    """Weights and what is needed to understand or resume them.

    Attributes:
        W: (C, D) float32 weights. b: (C,) float32 biases (the shape: :attr:`shape`).
        meta: JSON-able metadata: framework, epoch, config, class_names, softreg_version, and
            for a resumable run its history and early-stopping state.
        extra: the best epoch's weights ``best_W``/``best_b`` (both or neither), kept in a
            resumable checkpoint of a run with a validation split.
    """

    W: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    @property
    def shape(self) -> ModelShape:
        """The model's shape: the metadata's, else Fashion-MNIST's (an older checkpoint)."""
        return meta_shape(self.meta, "checkpoint")


def meta_shape(meta: dict[str, Any], where: str) -> ModelShape:
    """The model shape that checkpoint metadata states (Fashion-MNIST's when it states none).

    Raises:
        CheckpointError: the stated shape is malformed.
    """
    raw = meta.get("model_shape")
    if raw is None:  # written before the shape was recorded: Fashion-MNIST's, its names kept
        names = meta.get("class_names")
        if isinstance(names, list) and len(names) == fashion.MODEL_SHAPE.classes:
            return replace(fashion.MODEL_SHAPE, class_names=tuple(str(n) for n in names))
        return fashion.MODEL_SHAPE
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where!r}: metadata 'model_shape' must be an object, got "
                              f"{shown(raw)}; the file is damaged")
    return ModelShape.from_dict(raw, repr(where))


def tensor_shapes(shape: ModelShape) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor a checkpoint of a model of ``shape`` may hold."""
    W, b = shape.weights, (shape.classes,)
    return {"W": W, "b": b, **{f"{pair}{name}": (W if name == "W" else b)
                               for pair in PAIRS for name in TENSORS}}


def save(path: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Atomically write ``ckpt`` to ``path`` in safetensors format and return the path.

    Raises:
        CheckpointError: a tensor or a metadata value that :func:`load` would refuse, or a
            header longer than it reads (nothing is written).
    """
    return fileio.write_bytes(path, encode(ckpt, str(path)))


def encode(ckpt: Checkpoint, where: str = "checkpoint", dtype: Any = np.float32) -> bytes:
    """The bytes of ``ckpt`` as a safetensors file (what :func:`save` writes); its tensors in
    ``dtype`` (float32; a saved estimator keeps its float64 weights, read as float32 by
    :func:`load` and exactly by ``SoftmaxRegression.load``)."""
    st = require("safetensors")
    import safetensors.numpy  # noqa: F401  (submodule import after the availability check)

    tensors = {k: np.ascontiguousarray(v, dtype)
               for k, v in {"W": ckpt.W, "b": ckpt.b, **ckpt.extra}.items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "softreg_version": __version__}
    meta.update({k: json.dumps(v) for k, v in ckpt.meta.items() if k not in _PLAIN_META})
    try:  # never write what load would refuse
        validate_meta(_decode_meta(meta), where)
    except CheckpointError as exc:  # said of a file read; here nothing is written
        raise CheckpointError(str(exc).replace(
            TAMPERED, "a softreg checkpoint cannot hold it, so nothing was written")) from None
    _check_layout({k: v.shape for k, v in tensors.items()}, where,
                  meta_shape(_decode_meta(meta), where))
    _check_arrays(tensors, where)
    _check_float32_range(tensors, where)
    data: bytes = st.numpy.save(tensors, metadata=meta)
    out = _sorted_header(data)
    _check_header_size(int.from_bytes(out[:8], "little"), meta, where)
    return out


def _check_header_size(size: int, meta: dict[str, str], where: str) -> None:
    """Refuse to write a header longer than :func:`load` reads (``tensorfile.MAX_HEADER``,
    the one bound of both): a checkpoint softreg cannot read back would lose the run.

    Raises:
        CheckpointError: the header is too long; the message names the largest field.
    """
    if size <= tensorfile.MAX_HEADER:
        return
    largest = max(meta, key=lambda k: len(meta[k]))
    cause = {"class_names": "shorter class names or fewer classes",
             "model_shape": "shorter class or feature names, or fewer of them",
             "history": "fewer epochs"}.get(largest, "less metadata")
    raise CheckpointError(
        f"{where!r}: the checkpoint's header would be {size:,} bytes, more than the "
        f"{tensorfile.MAX_HEADER:,} softreg reads back (its metadata {largest!r} takes "
        f"{len(meta[largest]):,}); nothing was written: use {cause}")


def _sorted_header(data: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys sorted.

    safetensors writes the metadata map in an order that changes from one process to the
    next; sorted, the same checkpoint is the same bytes wherever it was written (a sweep's
    weights compare byte for byte across engines and workers). The tensors' offsets are
    relative to the data after the header, so only the header and its length change.
    """
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data stays 8-byte aligned, as safetensors keeps it
    return len(text).to_bytes(8, "little") + text + data[8 + size :]


def _folder_hint(folder: Path) -> str:
    """What a softreg folder of another kind than a run holds instead of a checkpoint, and
    what to pass instead: an error's advice ("" for any other folder)."""
    from softreg.safety.runfolder import marker_kind

    where = shown(str(folder))
    train = "pass the folder of a 'softreg train' run"
    return {
        "sweep": f"{where} is a sweep folder: its models are the .safetensors files in its "
                 "weights/ folder (best.json names the chosen one and its refit); pass one "
                 "of them",
        "seeds": f"{where} is a seeds folder ('softreg train --seeds'): it keeps the seeds' "
                 "metrics, not their weights; train one seed ('softreg train --seed N') and "
                 "pass its run folder",
        "study": f"{where} is a study folder: it keeps its runs' metrics, not their weights; "
                 + train,
        "explain": f"{where} is an explain folder: pass the run folder it explains",
    }.get(marker_kind(folder) or "", "")


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and check a softreg checkpoint (a file, or a run folder's ``checkpoint.safetensors``).

    The header is checked before any tensor data is read (see
    :mod:`softreg.safety.tensorfile`): only
    ``W``, ``b`` and the optional pair ``best_W``/``best_b`` are accepted, with their shapes, in
    a float dtype (F16, BF16 and F64 are converted to float32). The metadata is checked by
    :func:`validate_meta`.

    Raises:
        CheckpointError: missing file, not a safetensors file, not written by softreg, a tensor
            softreg does not know or of the wrong shape or dtype, non-finite values, or
            metadata that softreg would not have written.
    """
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    if not p.exists():
        hint = _folder_hint(p.parent) if p.name == LAST else ""
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist; " + (
            hint or "pass a .safetensors file written by 'softreg train' (or its run folder)"))
    readback.check_regular(p, "checkpoint", CheckpointError)  # a FIFO or device: by name
    try:
        header = tensorfile.read_header(p, max_data=MAX_DATA)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {str(p)!r} cannot be read: {exc}") from exc
    if header.metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(p)!r} is a safetensors file but not a softreg checkpoint "
            f"(metadata 'format' is {shown(header.metadata.get('format'))}, expected {FORMAT!r})"
        )
    meta = _decode_meta(header.metadata)
    validate_meta(meta, str(p))
    _check_layout({k: t.shape for k, t in header.tensors.items()}, str(p), meta_shape(meta, str(p)))
    arrays = tensorfile.read_tensors(p, header, tuple(header.tensors))
    _check_arrays(arrays, str(p))
    extra = {k: v for k, v in arrays.items() if k not in TENSORS}
    return Checkpoint(arrays["W"], arrays["b"], meta, extra)


def _decode_meta(raw: dict[str, str]) -> dict[str, Any]:
    """Metadata values are JSON, except the format fields, stored as plain strings."""
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _PLAIN_META and readback.json_depth(value) > readback.MAX_DEPTH:
            raise CheckpointError(f"checkpoint metadata {printable(key)!r} is nested more "
                                  f"than {readback.MAX_DEPTH} levels deep; softreg never "
                                  "writes that: the file is not one of its checkpoints")
        try:
            meta[key] = value if key in _PLAIN_META else json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return meta


def load_model(path: str | os.PathLike[str]) -> tuple[Path, Checkpoint]:
    """The final model of a run: ``path`` itself for a file; for a run folder, the file its
    ``checkpoint.safetensors`` names as the model the run evaluated (``best.safetensors`` when
    early stopping restored the best epoch; ``checkpoint.safetensors`` otherwise).

    Returns:
        The file read and its checkpoint.

    Raises:
        CheckpointError: as :func:`load`, for either file; or ``best.safetensors`` is not the
            best epoch's weights that ``checkpoint.safetensors`` holds (a file replaced or
            mixed from another run).
    """
    p = Path(path)
    if not p.is_dir():
        return p, load(p)
    last = load(p / LAST)
    if last.meta.get("model_file") == BEST:
        best = load(p / BEST)
        kept = (last.extra.get("best_W"), last.extra.get("best_b"))
        if kept[0] is None or kept[1] is None or not (
                np.array_equal(kept[0], best.W) and np.array_equal(kept[1], best.b)):
            raise CheckpointError(
                f"{str(p / BEST)!r} is not the best epoch's weights that {str(p / LAST)!r} "
                "holds (replaced, or from another run); train the run again, or evaluate "
                f"{str(p / LAST)!r} itself")
        return p / BEST, best
    return p / LAST, last


def _check_layout(shapes: dict[str, tuple[int, ...]], where: str, model: ModelShape) -> None:
    """Only W, b and the pair best_W/best_b, each of the model's shape; checked before any read."""
    known = tensor_shapes(model)
    for name in shapes:
        if name not in known:
            raise CheckpointError(
                f"{where!r} holds a tensor {shown(name)} that softreg does not know; a softreg "
                f"checkpoint holds W {known['W']}, b {known['b']} and optionally the pairs "
                f"{', '.join(p + 'W/' + p + 'b' for p in PAIRS)} (nothing of it was read)")
    for name in TENSORS:
        if name not in shapes:
            raise CheckpointError(f"{where!r} has no array {name!r}; a softreg checkpoint holds "
                                  f"W {known['W']} and b {known['b']}")
    for name, shape in known.items():
        if name in shapes and tuple(shapes[name]) != shape:
            raise CheckpointError(
                f"{where!r}: array {name!r} has shape {tuple(shapes[name])}, expected {shape} "
                f"(a linear softmax regression on {model.features} features with "
                f"{model.classes} classes, as its metadata says)"
            )
    for pair in PAIRS:
        W, b = f"{pair}W", f"{pair}b"
        if (W in shapes) != (b in shapes):
            have, lack = (W, b) if W in shapes else (b, W)
            raise CheckpointError(f"{where!r} holds {have} without {lack}; these weights come "
                                  "as a pair (the file was changed after softreg wrote it)")


def _check_float32_range(arrays: dict[str, npt.NDArray[Any]], where: str) -> None:
    """Refuse to write weights that :func:`load`, which reads every checkpoint as float32,
    would refuse: float64 values beyond float32's range."""
    top = float(np.finfo(np.float32).max)
    for name, arr in arrays.items():
        big = float(np.max(np.abs(arr), initial=0.0))
        if big > top:
            raise CheckpointError(
                f"{where!r}: array {name!r} reaches {big:.3g}, beyond float32's range "
                f"({top:.3g}), in which softreg's commands read a checkpoint; such a model is "
                "degenerate: fit it with a smaller C or learning rate (or pickle it)")


def _check_arrays(arrays: dict[str, npt.NDArray[Any]], where: str) -> None:
    for name, arr in arrays.items():
        if not np.all(np.isfinite(arr)):
            raise CheckpointError(f"{where!r}: array {name!r} holds NaN or inf values (or, "
                                  "converted from another float type, values beyond float32)")


def read_run_state(path: str | os.PathLike[str]) -> RunState:
    """What ``softreg train --resume`` continues: a checkpoint's weights, config and history.

    Raises:
        CheckpointError: as :func:`load`; or the checkpoint holds no resumable state (no
            config, history or epoch), or its epoch is not its history's last.
    """
    ck = load(path)
    best = (ck.extra["best_W"], ck.extra["best_b"]) if "best_W" in ck.extra else None
    state = run_state(ck.meta, (ck.W, ck.b), best, str(path))
    # the weights training held, which W, b were folded from: the resume continues from them
    trained = {pair: (ck.extra[f"{pair}W"], ck.extra[f"{pair}b"])
               for pair in ("trained_", "best_trained_") if f"{pair}W" in ck.extra}
    return replace(state, trained=trained.get("trained_"),
                   best_trained=trained.get("best_trained_"))


def check_logits(logits: npt.NDArray[Any], ck: Checkpoint, where: str, what: str) -> None:
    """Refuse weights whose logits ``W @ x + b`` on ``what`` overflow float32 (inf or NaN).

    Raises:
        CheckpointError: some logit is not finite.
    """
    bad = ~np.isfinite(logits)
    if bad.any():
        rows = int(bad.any(axis=-1).sum())
        raise CheckpointError(
            f"checkpoint {where!r} gives non-finite logits (W @ x + b overflows float32) on "
            f"{rows} of {len(logits)} {what}: its weights reach {float(np.abs(ck.W).max()):.3g} "
            "where a trained model's are below 10; use a checkpoint of a run that did not "
            "diverge"
        )
