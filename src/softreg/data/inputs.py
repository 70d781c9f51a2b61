"""What ``softreg predict`` classifies: inputs of the model's shape, read from files.

For a model of images: one picture (PNG, JPEG...) or ``.npy`` image per file, of the data's
image shape (:func:`softreg.data.images.load_image`). For a model of a table: a ``.npy`` file of
one row (D,) or of rows (n, D), or a CSV file of rows, with a header naming the model's
feature columns (in any order; other columns such as the label are ignored) or without a header
(D numbers a row). The features are the data's raw values: a table's standardisation is folded
into the checkpoint's weights.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import numpy.typing as npt

from softreg.core.errors import InputImageError
from softreg.core.shape import ModelShape

MAX_ROWS = 1_000_000  # rows one file may give


def load_inputs(paths: list[str], shape: ModelShape) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Every input of ``paths`` as one float32 matrix (n, D), and a name per row.

    Raises:
        InputImageError: a missing or unreadable file, or an input of another shape (named).
    """
    from softreg.data.images import load_image

    names: list[str] = []
    rows: list[npt.NDArray[np.float32]] = []
    for path in paths:
        if shape.image_shape is not None:
            rows.append(load_image(path, shape.image_shape)[None])
            names.append(path)
            continue
        X = _table_rows(Path(path), shape)
        rows.append(X)
        names += [path] if len(X) == 1 else [f"{path}:{i + 1}" for i in range(len(X))]
    return names, np.concatenate(rows).astype(np.float32, copy=False)


def _table_rows(p: Path, shape: ModelShape) -> npt.NDArray[np.float32]:
    if not p.is_file():
        raise InputImageError(f"input {str(p)!r} does not exist")
    X = _npy_rows(p, shape.features) if p.suffix.lower() == ".npy" else _csv_rows(p, shape)
    if not np.all(np.isfinite(X)):
        raise InputImageError(f"input {str(p)!r} holds NaN or inf values")
    return X


def _npy_rows(p: Path, features: int) -> npt.NDArray[np.float32]:
    """Rows of a ``.npy`` file, its header checked before the data is read."""
    try:
        with open(p, "rb") as fh:
            version = npy_format.read_magic(fh)
            read = (npy_format.read_array_header_1_0 if version == (1, 0)
                    else npy_format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            ok = (len(shape) == 1 and shape[0] == features) or (
                len(shape) == 2 and shape[1] == features and 0 < shape[0] <= MAX_ROWS)
            if not ok or not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
                raise InputImageError(
                    f"input {str(p)!r} holds {dtype} of shape {tuple(shape)}; the model takes "
                    f"rows of {features} numbers: ({features},) or (n, {features})")
            nbytes = math.prod(shape) * dtype.itemsize
            if os.fstat(fh.fileno()).st_size - fh.tell() != nbytes:
                raise InputImageError(f"input {str(p)!r} is not a complete .npy array")
            data = np.frombuffer(fh.read(nbytes), dtype=dtype)
    except (ValueError, OSError, EOFError) as exc:
        raise InputImageError(f"input {str(p)!r} is not a readable .npy array ({exc})") from exc
    arr = data.reshape(shape, order="F" if fortran else "C")
    return np.asarray(arr, dtype=np.float32).reshape(-1, features)


def _csv_rows(p: Path, shape: ModelShape) -> npt.NDArray[np.float32]:
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputImageError(f"input {str(p)!r} cannot be read as a CSV file ({exc})") from exc
    if rows and not all(_number(v) for v in rows[0]):
        header, rows = [h.strip() for h in rows[0]], rows[1:]
        names = [shape.feature_name(i) for i in range(shape.features)]
        missing = [n for n in names if n not in header]
        if missing:
            raise InputImageError(f"input {str(p)!r} lacks the model's feature column(s) "
                                  f"{', '.join(missing[:5])}")
        cols = [header.index(n) for n in names]
        rows = [[r[c] for c in cols] if len(r) == len(header) else r for r in rows]
    if not rows or len(rows) > MAX_ROWS:
        raise InputImageError(f"input {str(p)!r} holds {len(rows)} data rows; give 1 to "
                              f"{MAX_ROWS}")
    for i, r in enumerate(rows):
        if len(r) != shape.features or not all(_number(v) for v in r):
            raise InputImageError(f"input {str(p)!r}: data row {i + 1} is not {shape.features} "
                                  "numbers, as the model takes")
    return np.asarray([[float(v) for v in r] for r in rows], dtype=np.float32)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
