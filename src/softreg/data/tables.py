"""Tables and arrays from files: CSV, Parquet (pyarrow), ``.npz``, and scikit-learn's sets.

A table is numeric feature columns and one label column (``--label-column``, else the column
named ``label``, ``class``, ``target`` or ``y``). Labels may be integers (the classes are then
the sorted distinct values) or strings (the sorted distinct strings). Each refusal names the
file and the column or key at fault.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import DataError, DataNotFoundError
from softreg.data.dataset import Dataset, checked

LABEL_COLUMNS = ("label", "class", "target", "y")
NPZ_SPLIT_KEYS = ("X_train", "y_train", "X_test", "y_test")
# The most bytes a table or .npz file may hold (a linear baseline's data fits well below).
MAX_FILE_BYTES = 8 * 2**30
# The most bytes a table's float32 features and labels may take once read (a Parquet file's
# footer is checked against it before any column is read: compression makes a small file
# claim a large table).
MAX_TABLE_BYTES = 8 * 2**30


def existing_file(path: str, spec: str) -> Path:
    """``path`` as a Path if it is a file.

    Raises:
        DataNotFoundError: it does not exist or is not a file.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        what = "is a folder, not a file" if p.is_dir() else "does not exist"
        raise DataNotFoundError(f"{spec}: {str(p)!r} {what}; give an existing file")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{spec}: {str(p)!r} holds {p.stat().st_size} bytes, more than the "
                        f"{MAX_FILE_BYTES} softreg reads")
    return p


def encode_labels(raw: list[str] | npt.NDArray[Any], spec: str,
                  column: str) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """Labels as given (strings or numbers) -> int64 indices and the sorted class names.

    Integer labels keep their order (2 < 10); other labels are sorted as strings.

    Raises:
        DataError: an empty label.
    """
    values = [str(v).strip() for v in raw]
    if any(v == "" for v in values):
        row = next(i for i, v in enumerate(values) if v == "")
        raise DataError(f"{spec}: label column {column!r} is empty in data row {row + 1}; "
                        "every row needs a label")
    distinct = set(values)
    try:
        as_int = {v: int(v) for v in distinct}
        names = tuple(sorted(distinct, key=lambda v: as_int[v]))
    except ValueError:
        names = tuple(sorted(distinct))
    index = {name: i for i, name in enumerate(names)}
    return np.asarray([index[v] for v in values], dtype=np.int64), names


Table = tuple[npt.NDArray[np.float32], list[str], tuple[str, ...], str]


def read_csv(path: str, spec: str, label_column: str) -> Table:
    """A CSV file's feature matrix, its raw labels, the feature names and the label column.

    Two passes over the file: the first counts the data rows, the second parses each row
    straight into a float32 matrix of that size, so memory holds the matrix and the labels,
    never the file's text as lists of strings.

    Raises:
        DataNotFoundError: no such file.
        DataError: no header, no data rows, no label column, rows of another length, or a
            feature column that is not numeric (named).
    """
    p = existing_file(path, spec)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next((r for r in reader if r), [])]
            n = sum(1 for r in reader if r)
        if not header:
            raise DataError(f"{spec}: {str(p)!r} is empty; a CSV file needs a header row and "
                            "data")
        if n == 0:
            raise DataError(f"{spec}: {str(p)!r} has a header but no data rows")
        label = pick_label_column(header, label_column, spec)
        li = header.index(label)
        cols = [j for j in range(len(header)) if j != li]
        if not cols:
            raise DataError(f"{spec}: {str(p)!r} has no feature column besides {label!r}")
        X = np.empty((n, len(cols)), dtype=np.float32)
        labels: list[str] = []
        with open(p, newline="", encoding="utf-8") as fh:
            rows = (r for r in csv.reader(fh) if r)
            next(rows)  # the header
            for i, r in enumerate(rows):
                if i >= n or len(r) != len(header):
                    raise DataError(f"{spec}: data row {i + 1} has {len(r)} fields, the "
                                    f"header {len(header)}")
                _parse_row(X, i, r, cols, header, spec)
                labels.append(r[li])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{spec}: cannot read {str(p)!r} as a UTF-8 CSV file ({exc})") from exc
    return X, labels, tuple(header[j] for j in cols), label


def _parse_row(X: npt.NDArray[np.float32], i: int, row: list[str], cols: list[int],
               header: list[str], spec: str) -> None:
    """Row ``i`` of X from the feature fields of ``row``, or name the column that is not a
    number."""
    try:
        X[i] = [float(row[j]) for j in cols]
    except ValueError:
        j = next(j for j in cols if not _is_number(row[j]))
        raise DataError(f"{spec}: feature column {header[j]!r} is not numeric (it holds "
                        f"{row[j]!r}); convert it to numbers or drop it") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pick_label_column(header: list[str], wanted: str, spec: str) -> str:
    """The label column: ``wanted`` when given, else the first of :data:`LABEL_COLUMNS`.

    Raises:
        DataError: ``wanted`` is not a column, or none of the usual names is.
    """
    if wanted:
        if wanted not in header:
            raise DataError(f"{spec}: no column {wanted!r} (--label-column); the columns are "
                            f"{', '.join(header[:20])}")
        return wanted
    for name in LABEL_COLUMNS:
        if name in header:
            return name
    raise DataError(f"{spec}: no label column: none is named {', '.join(LABEL_COLUMNS)}; "
                    "name it with --label-column NAME")


def read_parquet(path: str, spec: str, label_column: str) -> Table:
    """A Parquet file's features, raw labels, feature names and label column (pyarrow).

    The file's claims are checked before they cost anything: its footer (row count, columns
    and their types) is read first, and a table with no rows, a feature column that is not
    numeric, or more rows or features than :data:`MAX_TABLE_BYTES` of float32 can hold is
    refused before any column is read. Columns are then read one at a time into the float32
    matrix, so memory holds the matrix and one column, never the whole Arrow table beside it.

    Raises:
        DataError: the file does not exist (checked first), as :func:`read_csv`, or a table
            larger than the bound.
        FrameworkUnavailableError: pyarrow is not installed.
    """
    p = existing_file(path, spec)  # a wrong path is the first thing to say, pyarrow or not
    pq = _pyarrow_parquet()
    try:
        pf = pq.ParquetFile(p)  # reads the footer only
        rows, schema = int(pf.metadata.num_rows), pf.schema_arrow
    except Exception as exc:  # ArrowInvalid and friends: not a Parquet file
        raise DataError(f"{spec}: cannot read {str(p)!r} as Parquet ({exc})") from exc
    header = list(schema.names)
    if rows == 0:
        raise DataError(f"{spec}: {str(p)!r} has columns but no rows")
    label = pick_label_column(header, label_column, spec)
    names = [h for h in header if h != label]
    if not names:
        raise DataError(f"{spec}: {str(p)!r} has no feature column besides {label!r}")
    for name in names:
        _check_numeric_type(schema.field(name).type, name, spec)
    claimed = rows * (len(names) + 2) * 4  # the float32 matrix and the labels (<= 8 bytes)
    if claimed > MAX_TABLE_BYTES:
        raise DataError(f"{spec}: {str(p)!r} claims {rows} rows of {len(names)} features "
                        f"({claimed} bytes as float32 with the labels), more than the "
                        f"{MAX_TABLE_BYTES} softreg loads (nothing was read); use a sample "
                        "of the rows")
    X = np.empty((rows, len(names)), dtype=np.float32)
    try:
        for k, name in enumerate(names):
            X[:, k] = _column(pf, name, rows, p, spec)
        labels = _column(pf, label, rows, p, spec)
    except DataError:
        raise
    except Exception as exc:  # a damaged page, a column that does not decode
        raise DataError(f"{spec}: cannot read {str(p)!r} as Parquet ({exc})") from exc
    return X, [str(v) for v in labels], tuple(names), label


def _check_numeric_type(arrow_type: Any, name: str, spec: str) -> None:
    """Refuse a feature column whose declared type is not an integer, float or boolean.

    Raises:
        DataError: naming the column and its type.
    """
    import pyarrow.types as pat

    if not (pat.is_integer(arrow_type) or pat.is_floating(arrow_type)
            or pat.is_boolean(arrow_type)):
        raise DataError(f"{spec}: feature column {name!r} is not numeric (type {arrow_type}); "
                        "convert it or drop it")


def _column(pf: Any, name: str, rows: int, p: Path, spec: str) -> npt.NDArray[Any]:
    """One column of the file as NumPy (nulls as NaN), checked to hold the rows the footer
    claims.

    Raises:
        DataError: the column holds another number of values than the footer says.
    """
    values = pf.read(columns=[name]).column(0).to_numpy(zero_copy_only=False)
    if len(values) != rows:
        raise DataError(f"{spec}: {str(p)!r}: column {name!r} holds {len(values)} values, the "
                        f"file's footer says {rows} rows; the file is damaged")
    return values


def _pyarrow_parquet() -> Any:
    from softreg.core.optional import require

    require("pyarrow")
    import pyarrow.parquet as pq

    return pq


def read_npz(path: str, spec: str) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an ``.npz`` file (never unpickled), checked for the expected keys.

    Raises:
        DataError: not an npz, object arrays, or neither X_train/y_train nor X/y.
    """
    p = existing_file(path, spec)
    _check_npz_headers(p, spec)
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            want = [k for k in (*NPZ_SPLIT_KEYS, "X", "y") if k in keys]
            arrays = {k: npz[k] for k in want}
    except ValueError as exc:  # object arrays need pickles
        raise DataError(f"{spec}: {str(p)!r} holds object arrays (pickles), which softreg "
                        "does not load; save plain numeric arrays") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{spec}: cannot read {str(p)!r} as an .npz file ({exc})") from exc
    if {"X_train", "y_train"} <= keys:
        if ("X_test" in keys) != ("y_test" in keys):
            raise DataError(f"{spec}: {str(p)!r} has one of X_test and y_test; give both or "
                            "neither")
        return arrays
    if {"X", "y"} <= keys:
        return {"X_train": arrays["X"], "y_train": arrays["y"]}
    raise DataError(f"{spec}: {str(p)!r} has keys {sorted(keys)}; it needs X_train, y_train "
                    "(and optionally X_test, y_test), or X and y")


def _check_npz_headers(p: Path, spec: str) -> None:
    """Read each array's ``.npy`` header inside the archive and refuse object arrays, or
    arrays claiming more than :data:`MAX_FILE_BYTES` in all, before any array is read.

    Raises:
        DataError: not a zip archive, a damaged header, object arrays, or too large a claim.
    """
    import numpy.lib.format as npy_format

    total = 0
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = npy_format.read_magic(fh)
                    read = (npy_format.read_array_header_1_0 if version == (1, 0)
                            else npy_format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                if dtype.hasobject:
                    raise DataError(f"{spec}: {str(p)!r} holds object arrays (pickles) in "
                                    f"{info.filename!r}, which softreg does not load; save "
                                    "plain numeric arrays")
                total += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise DataError(f"{spec}: cannot read {str(p)!r} as an .npz file ({exc})") from exc
    if total > MAX_FILE_BYTES:
        raise DataError(f"{spec}: {str(p)!r} claims {total} bytes of arrays, more than the "
                        f"{MAX_FILE_BYTES} softreg loads (nothing was read)")


def load_table(kind: str, target: str, spec: str, label_column: str) -> Dataset:
    """A CSV, Parquet or npz source as a :class:`Dataset` (no test split but the npz's own).

    Raises:
        DataError, DataNotFoundError: see the readers.
    """
    if kind == "npz":
        arrays = read_npz(target, spec)
        ytr, yte = arrays["y_train"], arrays.get("y_test")
        if yte is not None and (ytr.dtype.kind in "US" or yte.dtype.kind in "US"):
            y_all, names = encode_labels(np.concatenate([ytr, yte]), spec, "y")
            ytr, yte = y_all[: len(ytr)], y_all[len(ytr):]
        elif ytr.dtype.kind in "US":
            ytr, names = encode_labels(ytr, spec, "y_train")
        else:
            top = max(int(ytr.max()) if ytr.size else 0,
                      int(yte.max()) if yte is not None and yte.size else 0)
            names = tuple(str(k) for k in range(top + 1))
        return checked(arrays["X_train"], ytr, arrays.get("X_test"), yte, names, None, spec)
    reader = read_csv if kind == "csv" else read_parquet
    X, raw, features, label = reader(target, spec, label_column)
    y, names = encode_labels(raw, spec, label)
    return checked(X, y, None, None, names, None, spec, features)


def load_sklearn(name: str, spec: str) -> Dataset:
    """One of scikit-learn's bundled sets (no download), without a test split.

    Raises:
        FrameworkUnavailableError: scikit-learn is not installed.
    """
    from softreg.core.optional import require

    require("sklearn")
    from sklearn import datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    names = tuple(str(n) for n in bunch.target_names)
    features = tuple(str(n) for n in getattr(bunch, "feature_names", ()))
    X = np.asarray(bunch.data, dtype=np.float32)
    if name == "digits":  # 8x8 images of 17 grey levels (0..16): pixels as a table's numbers
        features = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    return checked(X, np.asarray(bunch.target, dtype=np.int64), None, None, names, None, spec,
                   features)
