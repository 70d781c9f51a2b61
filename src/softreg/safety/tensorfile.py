"""Bounded reading of safetensors files: the header is checked before any data is read.

A safetensors file is an 8-byte little-endian length ``N``, ``N`` bytes of JSON header, then
the tensor data. The header maps each tensor name to ``{"dtype", "shape", "data_offsets":
[start, end]}`` (offsets into the data part) and may hold ``"__metadata__"``, a map of strings.

A file's claims cost nothing until they are checked: :func:`read_header` reads at most
``MAX_HEADER`` bytes, refuses a file whose data is larger than the caller allows, and checks
that every tensor's byte count matches its dtype and shape, that the tensors tile the data
exactly (no gaps, no overlaps) and that the data ends where the file ends. The caller then
compares names, dtypes and shapes with what it expects, and only then calls
:func:`read_tensors`, which reads the data part once, at most the size already checked.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import CheckpointError
from softreg.safety import readback
from softreg.safety.textsafe import shown

# bytes: a softreg checkpoint's header holds its run's history, a record of about 200-330 bytes
# an epoch (softreg.core.config.MAX_EPOCHS of them fit), besides a few kilobytes of settings
MAX_HEADER = 1 << 24
# Float dtypes read (converted to float32) and the little-endian NumPy type they are stored as;
# BF16 is the top half of a float32, read as uint16 and shifted.
DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<u2"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header declares it; ``start``/``end`` are offsets into the data."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked header: metadata, tensors, and where the data part starts and how long it is."""

    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]
    data_start: int
    data_size: int


def _unreadable(where: str, why: str) -> CheckpointError:
    return CheckpointError(f"{where!r} is not a softreg checkpoint: it cannot be read as "
                           f"safetensors ({why})")


def read_header(path: str | os.PathLike[str], max_data: int) -> Header:
    """Read and check the header of a safetensors file, reading no tensor data.

    Args:
        path: the file.
        max_data: the most data bytes the caller will accept; a file declaring more is refused
            before anything else is read.

    Raises:
        CheckpointError: not a regular file (a FIFO, a device: nothing is read), or the header
            is too long, not JSON, or malformed; a tensor has an
            unknown dtype or a byte count that does not match its shape; the tensors do not
            tile the data; or the data is larger than ``max_data`` or than the file.
    """
    where = str(path)
    # opened without blocking and checked on the open descriptor: a FIFO waited for a writer
    # for ever (SoftmaxRegression.load asks here first whether a file is of the older format)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{where!r} is {readback.file_kind(st)}, not a regular file; "
                                  "give a checkpoint file")
        size = st.st_size
        head = fh.read(8)
        if len(head) < 8:
            raise _unreadable(where, f"the file is {size} bytes, shorter than the 8-byte length")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER or 8 + n > size:
            raise _unreadable(where, f"its header length field says {n} bytes; the file is "
                              f"{size} bytes and a header may have at most {MAX_HEADER}")
        raw = fh.read(n)
    data_size = size - 8 - n
    if data_size > max_data:
        raise CheckpointError(
            f"{where!r} holds {data_size} bytes of tensor data, more than the {max_data} a "
            "softreg checkpoint can need; it is not a softreg checkpoint (nothing of it was read)"
        )
    if readback.json_depth(raw) > readback.MAX_DEPTH:
        raise _unreadable(where, f"its header is nested more than {readback.MAX_DEPTH} levels "
                          "deep")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _unreadable(where, f"its header is not UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise _unreadable(where, f"its header is not a JSON object but {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(v, str) for v in metadata.values()):
        raise _unreadable(where, "'__metadata__' must map names to strings")
    tensors = {name: _tensor(where, name, entry) for name, entry in header.items()}
    _check_tiling(where, tensors, data_size)
    return Header(metadata, tensors, 8 + n, data_size)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the name {shown(key)} appears twice")
        out[key] = value
    return out


def _tensor(where: str, name: str, entry: Any) -> TensorInfo:
    """Check one header entry: known float dtype, integer shape, byte count matching both."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _unreadable(where, f"tensor {shown(name)} must be described by exactly 'dtype', "
                          f"'shape' and 'data_offsets', got {shown(entry)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise CheckpointError(
            f"{where!r}: tensor {shown(name)} has dtype {shown(dtype)}; softreg reads float "
            f"tensors only ({', '.join(DTYPES)}; all but F32 are converted to float32)"
        )
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        raise _unreadable(where, f"tensor {shown(name)} has shape {shown(shape)}, not a list "
                          "of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_natural, offsets))
            and offsets[0] <= offsets[1]):
        raise _unreadable(where, f"tensor {shown(name)} has data_offsets {shown(offsets)}, not "
                          "[start, end] with 0 <= start <= end")
    nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise _unreadable(where, f"tensor {shown(name)} of dtype {dtype} and shape {tuple(shape)} "
                          f"needs {nbytes} bytes but its offsets span {offsets[1] - offsets[0]}")
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_tiling(where: str, tensors: dict[str, TensorInfo], data_size: int) -> None:
    """The tensors must cover the data part exactly, in some order, without gaps or overlaps."""
    pos = 0
    for name, info in sorted(tensors.items(), key=lambda kv: (kv[1].start, kv[1].end)):
        if info.start != pos:
            raise _unreadable(where, f"tensor {shown(name)} starts at data byte {info.start}, "
                              f"expected {pos}: the tensors must tile the data")
        pos = info.end
    if pos != data_size:
        raise _unreadable(where, f"the tensors cover {pos} bytes of data but the file holds "
                          f"{data_size} after its header")


def read_tensors(path: str | os.PathLike[str], header: Header,
                 names: tuple[str, ...]) -> dict[str, npt.NDArray[np.float32]]:
    """Read the data part of a file checked by :func:`read_header`; return ``names`` as float32.

    Raises:
        CheckpointError: the file changed since its header was read (shorter data).
    """
    data = _read_data(path, header)
    return {name: _to_float32(data, header.tensors[name]) for name in names}


def read_tensors_f64(path: str | os.PathLike[str], header: Header,
                     names: tuple[str, ...]) -> dict[str, npt.NDArray[np.float64]]:
    """As :func:`read_tensors`, in float64: an F64 tensor exactly as stored (a saved
    estimator's weights), the other float types widened.

    Raises:
        CheckpointError: the file changed since its header was read (shorter data).
    """
    data = _read_data(path, header)
    out = {}
    for name in names:
        info = header.tensors[name]
        out[name] = (np.frombuffer(data, dtype="<f8", count=math.prod(info.shape),
                                   offset=info.start).reshape(info.shape).copy()
                     if info.dtype == "F64" else _to_float32(data, info).astype(np.float64))
    return out


def _read_data(path: str | os.PathLike[str], header: Header) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(header.data_start)
        data = fh.read(header.data_size)
    if len(data) != header.data_size:
        raise _unreadable(str(path), f"its data ends after {len(data)} of "
                          f"{header.data_size} bytes")
    return data


def _to_float32(data: bytes, info: TensorInfo) -> npt.NDArray[np.float32]:
    stored = np.frombuffer(data, dtype=DTYPES[info.dtype], count=math.prod(info.shape),
                           offset=info.start).reshape(info.shape)
    if info.dtype == "BF16":
        return (stored.astype(np.uint32) << 16).view(np.float32)
    with np.errstate(over="ignore"):  # an F64 beyond float32 becomes inf, refused by the caller
        return stored.astype(np.float32)
