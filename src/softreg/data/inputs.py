"""What ``softreg predict`` classifies: inputs of the model's shape, read from files.

For a model of images: one picture (PNG, JPEG...) or ``.npy`` image per file, of the data's
image shape, a picture of any size resized to it when the model was trained so
(:func:`softreg.data.images.load_image`). For a model of a table: a ``.npy`` file of one row
(D,) or of rows (n, D), or a CSV file of rows, with a header naming the model's feature columns
(in any order; other columns such as the label are ignored) or without a header (D numbers a
row). A header's column is the feature of its very name, else of its name without surrounding
spaces (a Parquet file or a DataFrame keeps ``' sl '``, a CSV written by hand says ``sl``) when
that is one column for one feature. A first row that holds every feature name is the header,
even when the names are numbers (pandas names columns 0, 1, ...); every row under a header is
read by its names, and a row that lacks a feature column or has more fields than the header is
refused (named). The features are the data's raw values: a table's standardisation is folded
into the checkpoint's weights.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import numpy.typing as npt

from softreg.core.errors import InputImageError
from softreg.core.shape import ModelShape
from softreg.data.dataset import as_float32, cell_number, columns_named
from softreg.safety import readback
from softreg.safety.textsafe import printable, shown

MAX_ROWS = 1_000_000  # rows one file may give


def load_inputs(paths: list[str], shape: ModelShape, *,
                resize: bool = False) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Every input of ``paths`` as one float32 matrix (n, D), and a name per row.

    ``resize``: the model of images was trained on pictures resized to its size (its run's
    ``--image-size``): a picture of another size is resized as they were.

    Raises:
        InputImageError: a missing or unreadable file, or an input of another shape (named).
    """
    from softreg.data.images import load_image

    names: list[str] = []
    rows: list[npt.NDArray[np.float32]] = []
    for path in paths:
        if shape.image_shape is not None:
            rows.append(load_image(path, shape.image_shape, resize=resize)[None])
            names.append(path)
            continue
        X = _table_rows(Path(path), shape)
        rows.append(X)
        names += [path] if len(X) == 1 else [f"{path}:{i + 1}" for i in range(len(X))]
    return names, np.concatenate(rows).astype(np.float32, copy=False)


def _table_rows(p: Path, shape: ModelShape) -> npt.NDArray[np.float32]:
    if p.is_dir():
        raise InputImageError(f"input {str(p)!r} is a folder; give CSV or .npy files of rows "
                              f"of the model's {shape.features} features")
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputImageError(f"input {str(p)!r} does not exist") from None
    except OSError as exc:  # a loop of links, a name too long, a folder not searchable
        raise InputImageError(f"input {str(p)!r} cannot be read ({exc.strerror or exc})") \
            from None
    if not stat.S_ISREG(st.st_mode):  # /dev/null, a FIFO: named for what it is
        raise InputImageError(f"input {str(p)!r} is {readback.file_kind(st)}, not a regular "
                              f"file; give CSV or .npy files of rows of the model's "
                              f"{shape.features} features")
    X = _npy_rows(p, shape) if p.suffix.lower() == ".npy" else _csv_rows(p, shape)
    if not np.all(np.isfinite(X)):
        row, col = (int(v[0]) for v in np.nonzero(~np.isfinite(X)))
        raise InputImageError(f"input {str(p)!r} holds NaN or inf values (the first in data "
                              f"row {row + 1}, feature {shape.feature_name(col)!r})")
    return X


def _npy_rows(p: Path, shape_of: ModelShape) -> npt.NDArray[np.float32]:
    """Rows of a ``.npy`` file of the model's features (``shape_of``), its header checked
    before the data is read."""
    features = shape_of.features
    try:
        with open(p, "rb") as fh:
            version = npy_format.read_magic(fh)
            read = (npy_format.read_array_header_1_0 if version == (1, 0)
                    else npy_format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            ok = (len(shape) == 1 and shape[0] == features) or (
                len(shape) == 2 and shape[1] == features and 0 < shape[0] <= MAX_ROWS)
            if not ok or dtype.kind == "c" or not (np.issubdtype(dtype, np.number)
                                                   or dtype.kind == "b"):
                raise InputImageError(
                    f"input {str(p)!r} holds {dtype} of shape {tuple(shape)}; the model takes "
                    f"rows of {features} numbers: ({features},) or (n, {features})")
            nbytes = math.prod(shape) * dtype.itemsize
            if os.fstat(fh.fileno()).st_size - fh.tell() != nbytes:
                raise InputImageError(f"input {str(p)!r} is not a complete .npy array")
            data = np.frombuffer(fh.read(nbytes), dtype=dtype)
    except (ValueError, OSError, EOFError) as exc:
        raise InputImageError(f"input {str(p)!r} is not a readable .npy array ({exc})") from exc
    arr = data.reshape(shape, order="F" if fortran else "C").reshape(-1, features)
    X, unfit = as_float32(arr)
    if unfit is not None and unfit[1]:
        (row, col), _ = unfit
        raise InputImageError(f"input {str(p)!r}: data row {row + 1}, feature "
                              f"{shape_of.feature_name(col)!r} holds "
                              f"{arr[row, col]:.4g}, beyond float32's range (about 3.4e38), "
                              "which softreg computes in")
    return X


def _csv_rows(p: Path, shape: ModelShape) -> npt.NDArray[np.float32]:
    """The rows of a CSV file, each as the model's features in the model's order.

    The rows are read one at a time into float32, so memory holds at most :data:`MAX_ROWS`
    rows of numbers, never the file's text. A UTF-8 byte order mark is not part of the first
    column's name.

    Raises:
        InputImageError: see :func:`_header_columns` and :func:`_features`, or no data row.
    """
    names = [shape.feature_name(i) for i in range(shape.features)]
    out: list[npt.NDArray[np.float32]] = []
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows: Iterator[list[str]] = (r for r in csv.reader(fh) if r)
            first = next(rows, None)
            cols = (None if first is None
                    else _header_columns(first, names, p, bool(shape.feature_names)))
            if first is not None and cols is None:
                rows = itertools.chain([first], rows)
            for i, r in enumerate(rows):
                if i >= MAX_ROWS:
                    raise InputImageError(f"input {str(p)!r} holds more than {MAX_ROWS} data "
                                          f"rows; give 1 to {MAX_ROWS}")
                out.append(_features(r, i, cols, len(first or ()), names, p))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputImageError(f"input {str(p)!r} cannot be read as a CSV file ({exc})") from exc
    if not out:
        raise InputImageError(f"input {str(p)!r} holds 0 data rows; give 1 to {MAX_ROWS}")
    return np.stack(out)


def _header_columns(first: list[str], names: list[str], p: Path,
                    named: bool = True) -> list[int] | None:
    """Where each of the model's features is in the file, when its first row is a header; None
    when it is a data row.

    The first row is a header when one of its cells is not a number or when it holds every
    feature name (numbers are names too: pandas names columns 0, 1, ...). A first row of
    numbers of another length than a data row is neither, and refused; so is one of numbers
    holding every feature name but not exactly the names in order (a data row ``2,0,1`` of a
    model of features 0, 1, 2 was read as a header, its columns reordered). A model that records
    no feature names (``named`` False: an estimator fitted on bare arrays) takes a header's
    columns in order, as ``softreg evaluate --data`` does.

    Raises:
        InputImageError: a header without one of the features, or naming one twice; the model's
            own feature names repeat (a header cannot say which is which); a first row that is
            neither a header nor a data row.
    """
    header = [h.strip() for h in first]
    keys = [n.strip() for n in names]
    if all(_number(v) for v in header) and header != keys and set(keys) <= set(header):
        raise InputImageError(
            f"input {str(p)!r}: its first row ({_listed(header, 5)}) is numbers that are also "
            f"the model's feature names ({_listed(names, 5)}) in another order or with "
            "others: softreg cannot tell a header from a data row; give a header naming the "
            "features in the model's order, or a first row that is not such numbers")
    if all(_number(v) for v in header) and not set(keys) <= set(header):
        if len(header) != len(names):
            raise InputImageError(
                f"input {str(p)!r}: its first row is neither a header naming the model's "
                f"feature columns ({_listed(names)}) nor a data row of {len(names)} numbers; "
                "give a header of the feature names, or rows of the features in the model's "
                "order")
        return None
    if not named:
        if len(header) != len(names):
            raise InputImageError(
                f"input {str(p)!r} has a header of {len(header)} columns; the model records no "
                f"feature names, so it takes a table's columns in order, and it takes "
                f"{len(names)}: give its {len(names)} feature columns, in the order it was "
                "fitted on")
        return list(range(len(names)))
    twice = next((n for n, k in Counter(names).items() if k > 1), None)
    if twice is not None:
        raise InputImageError(f"input {str(p)!r} has a header, and the model has two features "
                              f"named {shown(twice)}, so a header cannot say which is which; "
                              "give rows without a header, in the model's order")
    return _matched(first, names, p)


def _matched(cells: list[str], names: list[str], p: Path) -> list[int]:
    """The header column of each of the model's features: the one of its very name, else the
    one whose name differs from it only by surrounding spaces (a CSV reader or a hand strips
    them; Parquet and a DataFrame keep them).

    Raises:
        InputImageError: a feature no column names (the names quoted, so that their spaces
            show); two columns of its name; no column of its very name and two that differ
            from it only by spaces; one column that two features (names differing only by
            spaces) would both take.
    """
    found = columns_named(names, cells)
    missing = [n for n, cols in zip(names, found, strict=True) if not cols]
    if missing:
        raise InputImageError(f"input {str(p)!r} lacks the model's feature column(s) "
                              f"{_quoted(missing, 5)}")
    for n, cols in zip(names, found, strict=True):
        if len(cols) > 1 and n in cells:
            raise InputImageError(f"input {str(p)!r}: its header names the column {shown(n)} "
                                  "twice; give each column its own name")
        if len(cols) > 1:
            raise InputImageError(
                f"input {str(p)!r}: its header's columns {_quoted([cells[j] for j in cols])} "
                f"all differ from the model's feature {shown(n)} only by surrounding spaces, "
                "so softreg cannot tell which it is; name it exactly as the model does")
    where = [cols[0] for cols in found]
    clash = next((j for j, k in Counter(where).items() if k > 1), None)
    if clash is not None:
        alike = [n for n, j in zip(names, where, strict=True) if j == clash]
        raise InputImageError(
            f"input {str(p)!r}: its header's column {shown(cells[clash])} could be any of the "
            f"model's features {_quoted(alike)}, whose names differ only by surrounding "
            "spaces; give each of them its own column, named exactly as the model does")
    return where


def _features(row: list[str], i: int, cols: list[int] | None, width: int, names: list[str],
              p: Path) -> npt.NDArray[np.float32]:
    """Data row ``i``'s features in the model's order: by the header's columns when there is
    one (``width`` fields), else the row as it is.

    Raises:
        InputImageError: a row with more fields than the header, one that lacks a feature
            column, or one that is not the model's numbers (each with its 1-based row number).
    """
    if cols is not None:
        if len(row) > width:
            raise InputImageError(f"input {str(p)!r}: data row {i + 1} has {len(row)} fields, "
                                  f"more than the header's {width}")
        short = [names[k] for k, c in enumerate(cols) if c >= len(row)]
        if short:
            raise InputImageError(f"input {str(p)!r}: data row {i + 1} lacks the feature "
                                  f"column(s) {_quoted(short, 5)} (it has {len(row)} fields, "
                                  f"the header {width})")
        row = [row[c] for c in cols]
    if len(row) != len(names) or not all(_number(v) for v in row):
        raise InputImageError(f"input {str(p)!r}: data row {i + 1} is not {len(names)} numbers, "
                              "as the model takes")
    values = [cell_number(v) for v in row]
    X, unfit = as_float32(values)
    if unfit is not None and unfit[1]:
        k = unfit[0][0]
        raise InputImageError(f"input {str(p)!r}: data row {i + 1}, feature "
                              f"{printable(names[k])!r} holds {shown(row[k])}, beyond float32's "
                              "range (about 3.4e38), which softreg computes in")
    return X


def _listed(names: list[str], most: int = 10) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(printable(n) for n in names[:most]) + more


def _quoted(names: list[str], most: int = 10) -> str:
    """The first ``most`` of ``names``, each quoted (so that surrounding spaces show) and cut,
    then how many more."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(shown(n, 40) for n in names[:most]) + more


def _number(text: str) -> bool:
    try:
        cell_number(text)
    except ValueError:
        return False
    return True
