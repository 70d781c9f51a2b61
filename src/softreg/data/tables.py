"""Tables and arrays from files: CSV, Parquet (pyarrow), ``.npz``, and scikit-learn's sets.

A table is numeric feature columns and one label column (``--label-column``, else the one column
named ``label``, ``class``, ``target`` or ``y``: two of them, or a column name given twice, is
refused, since the other would silently become a feature). A column without a name (the index
``df.to_csv()`` writes) is refused; a Parquet file's pandas index columns are left out. Labels may
be integers (the classes are then the sorted distinct values) or strings (the sorted distinct
strings). Labels are compared as text, as scikit-learn compares strings ("b" and "B" are two
classes), but a column of numbers may not write one number two ways ("1" and "01" or "1.0"):
that is refused rather than made two classes. Each refusal names the file and the column, key
or row at fault.
"""

from __future__ import annotations

import csv
import math
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import DataError, DataNotFoundError
from softreg.data.dataset import (
    MAX_DATA_CLASSES,
    Dataset,
    as_float32,
    cell_number,
    checked,
    data_rows,
)
from softreg.safety import readback
from softreg.safety.textsafe import printable, shown

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
        what = (f"is {readback.file_kind(p.stat())}, not a regular file" if p.exists()
                else "does not exist")
        raise DataNotFoundError(f"{spec}: {str(p)!r} {what}; give an existing file")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{spec}: {str(p)!r} holds {p.stat().st_size} bytes, more than the "
                        f"{MAX_FILE_BYTES} softreg reads")
    return p


# Arrays of labels read one after the other: each one's name and its number of rows.
Parts = tuple[tuple[str, int], ...]


def encode_labels(texts: list[str], codes: npt.NDArray[np.integer[Any]], spec: str,
                  column: str, parts: Parts = ()) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """Labels as distinct texts and each row's index into them -> int64 class indices and the
    sorted class names.

    The texts are stripped; texts that are then equal are one class. Integer labels keep their
    order (2 < 10); other labels are sorted as strings. ``parts``: when ``codes`` are the rows
    of several arrays one after the other (an npz's ``y_train`` and ``y_test``), each array's
    name and length, so that a refused row is named by its array and its row there.

    Raises:
        DataError: an empty label (its row), more classes than a checkpoint can name
            (:data:`~softreg.data.dataset.MAX_DATA_CLASSES`), or one number written two ways
            ("1" and "1.0").
    """
    stripped = [t.strip() for t in texts]
    distinct = set(stripped)
    _check_class_count(len(distinct), spec, column)
    if "" in distinct:
        empty = np.flatnonzero(np.asarray([t == "" for t in stripped], dtype=bool))
        _no_label(np.flatnonzero(np.isin(codes, empty)), spec, column, "empty", parts)
    _missing_among_numbers(stripped, codes, distinct, spec, column, parts)
    _one_way_each(distinct, spec, column)
    try:
        as_int = {v: int(v) for v in distinct}
        names = tuple(sorted(distinct, key=lambda v: as_int[v]))
    except ValueError:
        names = tuple(sorted(distinct))
    index = {name: i for i, name in enumerate(names)}
    to_class = np.asarray([index[t] for t in stripped], dtype=np.int64)
    return to_class[codes], names


Labels = tuple[list[str], npt.NDArray[np.int64]]  # the distinct labels' texts, each row's index


def _check_class_count(count: int, spec: str, column: str) -> None:
    """Refuse more distinct labels than a checkpoint can name, as they are read (an id or a
    measurement taken for the label would make a name a row)."""
    if count > MAX_DATA_CLASSES:
        raise DataError(f"{spec}: label column {column!r} holds more than {MAX_DATA_CLASSES:,} "
                        "distinct values, more classes than a softreg checkpoint can name; is "
                        "it the label? (name the label with --label-column NAME)")


def _no_label(rows: npt.NDArray[np.intp], spec: str, column: str, how: str,
              parts: Parts = ()) -> None:
    """Refuse rows without a label, naming the first of them (data rows counted from 1, see
    :func:`softreg.data.dataset.data_rows`); with ``parts``, those of the array the first
    one is in, counted in that array, which is named."""
    start = 0
    for name, length in parts if len(rows) else ():
        if rows[0] < start + length:
            rows, column = rows[(rows >= start) & (rows < start + length)] - start, name
            break
        start += length
    raise DataError(f"{spec}: label column {column!r} is {how} in {data_rows(rows)}; every row "
                    "needs a label")


# How spreadsheets, pandas and R write a missing value as text (compared case-blind).
MISSING_TEXTS = frozenset({"nan", "-nan", "na", "n/a", "#n/a", "<na>", "null", "none"})


def _missing_among_numbers(stripped: list[str], codes: npt.NDArray[np.integer[Any]],
                           distinct: set[str], spec: str, column: str, parts: Parts = ()) -> None:
    """Refuse a missing value written as text ("NaN", "NA", "null", ...) in a column whose
    other labels are all numbers: there it is no class, but a row without its label (R writes
    NA, pandas NaN). Among words ("EU", "NA", "AS") such a text stays a class of its name.

    Raises:
        DataError: naming the text and its rows (data rows, counted from 1).
    """
    missing = {t for t in distinct if t.lower() in MISSING_TEXTS}
    if not missing:
        return
    for text in distinct - missing:
        try:
            if not Decimal(text).is_finite():
                return
        except (ArithmeticError, ValueError):
            return  # a word among the labels: the texts are classes
    which = np.flatnonzero(np.asarray([t in missing for t in stripped], dtype=bool))
    rows = np.flatnonzero(np.isin(codes, which))
    first = stripped[int(codes[rows[0]])]
    _no_label(rows, spec, column, f"{shown(first)} (a missing value: the other labels are "
                                  "numbers)", parts)


def _one_way_each(labels: set[str], spec: str, column: str) -> None:
    """Refuse a column of numbers that writes one number two ways: as text they would be two
    classes of the same value ("1" and "01", "1" and "1.0"), which no user means. Compared as
    exact decimals: long ids that differ past a float's precision stay distinct."""
    seen: dict[Decimal, str] = {}
    try:
        values = {v: Decimal(v) for v in labels}
    except (ArithmeticError, ValueError):
        return  # text labels: compared as text
    for text in sorted(labels):
        value = values[text]
        if value.is_nan():
            continue
        if value in seen:
            raise DataError(f"{spec}: label column {column!r} writes one number two ways "
                            f"({shown(seen[value])} and {shown(text)}), which would be two "
                            "classes; write each class one way")
        seen[value] = text


def _text(value: Any, spec: str, column: str) -> str:
    """A label value as text: bytes as the UTF-8 they hold (not ``"b'cat'"``)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{spec}: label column {column!r} holds bytes that are not UTF-8 "
                            f"text ({shown(value)}); give the labels as text or "
                            "numbers") from None
    return str(value)


def _array_labels(values: npt.NDArray[Any], spec: str, column: str) -> Labels:
    """An array of labels (numbers, text or bytes) as its distinct values' texts and each row's
    index into them: the classes come from the values present, never from a range up to the
    largest one.

    Raises:
        DataError: a NaN label (its row), or more distinct values than a checkpoint can name.
    """
    if values.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(values))
        if missing.size:
            _no_label(missing, spec, column, "NaN")
    distinct, codes = np.unique(values, return_inverse=True)
    _check_class_count(len(distinct), spec, column)
    return [_text(v, spec, column) for v in distinct], codes.reshape(-1).astype(np.int64)


Table = tuple[npt.NDArray[np.float32], Labels, tuple[str, ...], str]


def read_csv(path: str, spec: str, label_column: str) -> Table:
    """A CSV file's feature matrix, its labels, the feature names and the label column.

    Two passes over the file: the first counts the data rows and checks that each has the
    header's number of fields, so the matrix is sized by what the file holds (and bounded by
    :data:`MAX_TABLE_BYTES`) before it is made; the second parses each row straight into a
    float32 matrix of that size, so memory holds the matrix and the labels' indices, never the
    file's text as lists of strings. A UTF-8 byte order mark (Excel's "CSV UTF-8") is not part
    of the first column's name.

    Raises:
        DataNotFoundError: no such file.
        DataError: no header, no data rows, a header of one cell that looks separated by ';'
            or tabs, a first row holding a decimal number (data, not names), a column without a
            name or a name given twice, no label column (the columns are listed) or two
            candidates, rows of another length, an empty or non-numeric feature cell (its line
            and column), or a table past the bound.
    """
    p = existing_file(path, spec)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next((r for r in reader if r), [])]
            if not header:
                raise DataError(f"{spec}: {str(p)!r} is empty; a CSV file needs a header row "
                                "and data")
            _check_separator(header, p, spec)
            _check_header_is_names(header, p, spec)
            _check_names(header, p, spec, " (pandas writes its index so: save with "
                                          "to_csv(..., index=False))", header_row=True)
            n = 0
            for r in reader:
                if r:
                    n += 1
                    _check_fields(r, header, reader.line_num, p, spec)
        if n == 0:
            raise DataError(f"{spec}: {str(p)!r} has a header but no data rows")
        label = pick_label_column(header, label_column, spec)
        li = header.index(label)
        cols = [j for j in range(len(header)) if j != li]
        if not cols:
            raise DataError(f"{spec}: {str(p)!r} has no feature column besides {label!r}")
        _check_claim(n, len(cols), 0, p, spec, "holds", "")
        X = np.empty((n, len(cols)), dtype=np.float32)
        codes = np.empty(n, dtype=np.int64)
        index: dict[str, int] = {}  # each distinct label's code: one string per class
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = (r for r in reader if r)
            next(rows)  # the header
            i = -1
            for i, r in enumerate(rows):
                if i >= n:
                    raise DataError(f"{spec}: {str(p)!r} changed while it was read; read it "
                                    "again once it is written")
                _check_fields(r, header, reader.line_num, p, spec)
                _parse_row(X, i, r, cols, header, reader.line_num, spec)
                codes[i] = index.setdefault(r[li].strip(), len(index))
                _check_class_count(len(index), spec, label)
            if i + 1 != n:
                raise DataError(f"{spec}: {str(p)!r} changed while it was read; read it again "
                                "once it is written")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{spec}: cannot read {str(p)!r} as a UTF-8 CSV file ({exc})") from exc
    return X, (list(index), codes), tuple(header[j] for j in cols), label


def _check_separator(header: list[str], p: Path, spec: str) -> None:
    """Refuse a header of one cell holding ';' or a tab: a table needs two columns, and such a
    file is separated by something other than commas (Excel writes ';' in many locales)."""
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        sep = "';'" if ";" in header[0] else "tabs"
        raise DataError(f"{spec}: {str(p)!r} has one column, {shown(header[0])}: it looks "
                        f"separated by {sep}, and softreg reads comma-separated values; save "
                        "it with ',' between the fields")


def _check_fields(row: list[str], header: list[str], line: int, p: Path, spec: str) -> None:
    if len(row) != len(header):
        raise DataError(f"{spec}: {str(p)!r} line {line} has {len(row)} fields, the header "
                        f"{len(header)}; every row needs one field per column")


# A decimal number with a fraction or an exponent: a data value, not a column name (pandas
# names unnamed columns 0, 1, ..., which stay names).
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)")
# An integer: a name pandas gives (0, 1, ...), or a data value of a file without a header.
_INTEGER = re.compile(r"[+-]?\d+")


def _check_header_is_names(header: list[str], p: Path, spec: str) -> None:
    """Refuse a first row that is data (a file written without a header): its values became
    the column names, and one of them could even be named as the label column.

    Raises:
        DataError: a cell of the first row is a decimal number (named).
    """
    data = next((h for h in header if _DECIMAL.fullmatch(h)), None)
    if data is not None:
        raise DataError(f"{spec}: the first row of {str(p)!r} holds {shown(data)}, a number, "
                        "where softreg reads the column names: it looks like a data row; add a "
                        "header row naming the columns (the label column among them)")


def _check_names(header: list[str], p: Path, spec: str, unnamed_hint: str = "",
                 header_row: bool = False) -> None:
    """Refuse a column without a name or a name given twice: a column that is not a feature
    (an index, a copy of the label) would become one, and a model's features are found by name.

    ``header_row``: the names are a CSV's first row. A first row of integers (but for one
    cell at most: a label written as a word), one of them twice, is a data row (a file
    without a header, ``np.savetxt``'s): no writer of names gives two columns one number
    (pandas names them 0, 1, ...), and the message says so.

    Raises:
        DataError: naming the column(s) by position.
    """
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name == "":
            raise DataError(f"{spec}: {str(p)!r}: column {j + 1} has no name{unnamed_hint}; "
                            "name the column or drop it")
        if name in seen:
            twice = (f"{spec}: {str(p)!r}: the column name {shown(name)} is given twice "
                     f"(columns {seen[name] + 1} and {j + 1})")
            words = [h for h in header if not _INTEGER.fullmatch(h)]
            if header_row and _INTEGER.fullmatch(name) and len(words) <= 1:
                but = f" but for {shown(words[0])}" if words else ""
                raise DataError(f"{twice}; the first row, read as the column names, is all "
                                f"numbers{but}: it looks like a data row; add a header row "
                                "naming the columns (the label column among them)")
            raise DataError(f"{twice}; give each column its own name")
        seen[name] = j


def _check_claim(rows: int, features: int, text: int, p: Path, spec: str, verb: str,
                 unread: str) -> None:
    """Refuse a table whose float32 matrix, labels and label text would pass
    :data:`MAX_TABLE_BYTES`, before any of it is made."""
    claimed = rows * (features + 2) * 4 + text  # the float32 matrix and the labels (<= 8 bytes)
    if claimed > MAX_TABLE_BYTES:
        of_text = f", {text} of them label text" if text else ""
        raise DataError(f"{spec}: {str(p)!r} {verb} {rows} rows of {features} features "
                        f"({claimed} bytes as float32 with the labels{of_text}), more than the "
                        f"{MAX_TABLE_BYTES} softreg loads{unread}; use a sample of the rows")


def _parse_row(X: npt.NDArray[np.float32], i: int, row: list[str], cols: list[int],
               header: list[str], line: int, spec: str) -> None:
    """Row ``i`` of X from the feature fields of ``row``, or name the cell (its line and
    column) that is not a number, or not a finite float32 one."""
    try:
        values = [cell_number(row[j]) for j in cols]
        with np.errstate(over="ignore"):  # a value beyond float32: refused just below
            X[i] = values
    except ValueError:
        j = next(j for j in cols if not _is_number(row[j]))
        if row[j].strip() == "":
            raise DataError(f"{spec}: line {line}: feature column {printable(header[j])!r} is "
                            "empty (a missing value); fill it in or drop the row") from None
        raise DataError(f"{spec}: feature column {printable(header[j])!r} is not numeric (it "
                        f"holds {shown(row[j])}) on line {line}; convert it to numbers or "
                        "drop it") from None
    if not np.isfinite(X[i]).all():
        k = int(np.flatnonzero(~np.isfinite(X[i]))[0])
        where = f"{spec}: feature column {printable(header[cols[k]])!r} holds {shown(row[cols[k]])}"
        if math.isfinite(values[k]):
            raise DataError(f"{where} on line {line}, beyond float32's range (about 3.4e38), "
                            "which softreg trains in; scale the column first")
        raise DataError(f"{where} on line {line}, not a finite number; fill it in or drop the "
                        "row")


def _is_number(text: str) -> bool:
    try:
        cell_number(text)
    except ValueError:
        return False
    return True


def _listed(header: list[str]) -> str:
    more = f" and {len(header) - 20} more" if len(header) > 20 else ""
    return ", ".join(printable(h) for h in header[:20]) + more


def pick_label_column(header: list[str], wanted: str, spec: str) -> str:
    """The label column: ``wanted`` when given, else the one column of :data:`LABEL_COLUMNS`.

    Raises:
        DataError: ``wanted`` is not a column; none of the usual names is (the columns are
            listed), or more than one is (the other would silently become a feature).
    """
    if wanted:
        if wanted not in header:
            raise DataError(f"{spec}: no column {wanted!r} (--label-column); the columns are "
                            f"{_listed(header)}")
        return wanted
    found = [h for h in header if h in LABEL_COLUMNS]
    if len(found) > 1:
        raise DataError(f"{spec}: columns {', '.join(found)} could each be the label, and the "
                        "other would become a feature; name the label with --label-column NAME "
                        "(and drop a copy of it)")
    if found:
        return found[0]
    raise DataError(f"{spec}: no label column: none is named {', '.join(LABEL_COLUMNS)}; "
                    f"name it with --label-column NAME (the columns are {_listed(header)})")


def read_parquet(path: str, spec: str, label_column: str) -> Table:
    """A Parquet file's features, labels, feature names and label column (pyarrow).

    The file's claims are checked before they cost anything: its footer (row count, columns
    and their types, the label column's uncompressed size) is read first, and a table with no
    rows, a feature column that is not numeric, or more rows, features and label text than
    :data:`MAX_TABLE_BYTES` can hold is refused before any column is read. Columns are then
    read one at a time into the float32 matrix, so memory holds the matrix and one column,
    never the whole Arrow table beside it. Text labels are read as a dictionary (each distinct
    label once, and an index a row): a few labels repeated over many rows cost their index,
    not a copy each. The columns pandas stores its index in are not features.

    Raises:
        DataError: the file does not exist (checked first), as :func:`read_csv`, a label
            column of lists or structs, a null or NaN label (its rows), a null feature value
            (its column and rows, any nullable type), or a table larger than the bound.
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
    _check_names(header, p, spec)
    if rows == 0:
        raise DataError(f"{spec}: {str(p)!r} has columns but no rows")
    label = pick_label_column(header, label_column, spec)
    index = _pandas_index(schema)
    names = [h for h in header if h != label and h not in index]
    if not names:
        raise DataError(f"{spec}: {str(p)!r} has no feature column besides {label!r}")
    for name in names:
        _check_numeric_type(schema.field(name).type, name, spec)
    text = _label_text_bytes(pf, label, schema.field(label).type, spec)
    _check_claim(rows, len(names), text, p, spec, "claims", " (nothing was read)")
    X = np.empty((rows, len(names)), dtype=np.float32)
    try:
        for k, name in enumerate(names):
            column = _column(pf, name, rows, p, spec)
            _no_feature_nulls(column, name, spec)
            X[:, k], unfit = as_float32(column.to_numpy(zero_copy_only=False))
            if unfit is not None and unfit[1]:  # NaN and inf: refused with their count later
                raise DataError(f"{spec}: feature column {printable(name)!r} holds a value "
                                "beyond float32's range (about 3.4e38) in "
                                f"{data_rows([unfit[0][0]])}, which softreg trains in; scale "
                                "the column first")
        # text labels (text > 0) as a dictionary: each distinct label once, an index a row
        labels = _parquet_labels(pq.ParquetFile(p, read_dictionary=[label]) if text else pf,
                                 label, rows, p, spec)
    except DataError:
        raise
    except Exception as exc:  # a damaged page, a column that does not decode
        raise DataError(f"{spec}: cannot read {str(p)!r} as Parquet ({exc})") from exc
    return X, labels, tuple(names), label


def _no_feature_nulls(column: Any, name: str, spec: str) -> None:
    """Refuse a null in a feature column (an Arrow ChunkedArray) as the missing value it is,
    whatever the column's type: pandas' nullable boolean, Int8 ... UInt64, Float32 and
    Float64 columns (and a float64 column's NaN) are written so. The same words as a CSV's
    empty cell; a null boolean would otherwise reach NumPy as None.

    Raises:
        DataError: naming the column and its rows with a null.
    """
    if not column.null_count:
        return
    rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
    them = "them" if len(rows) > 1 else "it"
    raise DataError(f"{spec}: feature column {printable(name)!r} is empty (null, a missing "
                    f"value) in {data_rows(rows)}; fill {them} in or drop "
                    f"{'those rows' if len(rows) > 1 else 'the row'}")


def _pandas_index(schema: Any) -> set[str]:
    """The columns pandas stored its index in (``__index_level_0__``, or a named index): a row
    number or an id, not a feature (sorted data makes it leak the label)."""
    try:
        meta = schema.pandas_metadata
    except ValueError:  # metadata that is not JSON: no pandas index is known
        return set()
    index = meta.get("index_columns", []) if isinstance(meta, dict) else []
    return {c for c in index if isinstance(c, str)} if isinstance(index, list) else set()


def _label_text_bytes(pf: Any, label: str, arrow_type: Any, spec: str) -> int:
    """The uncompressed bytes of a text label column, as the footer states them (0 for a
    column of numbers, whose 8 bytes a row :func:`_check_claim` counts): read as a dictionary,
    the labels take at most that.

    Raises:
        DataError: a label column of lists, structs or maps.
    """
    import pyarrow.types as pat

    if pat.is_nested(arrow_type):
        raise DataError(f"{spec}: label column {label!r} holds {arrow_type}; a label is one "
                        "integer or string a row")
    if not (pat.is_string(arrow_type) or pat.is_large_string(arrow_type)
            or pat.is_binary(arrow_type) or pat.is_large_binary(arrow_type)
            or pat.is_dictionary(arrow_type)):
        return 0
    meta = pf.metadata
    leaf = next(j for j in range(meta.num_columns) if meta.schema.column(j).path == label)
    return sum(meta.row_group(g).column(leaf).total_uncompressed_size
               for g in range(meta.num_row_groups))


def _parquet_labels(pf: Any, name: str, rows: int, p: Path, spec: str) -> Labels:
    """The label column as its distinct values' texts and each row's index into them: a
    dictionary column (text, read as one, or a pandas categorical) by the values of its
    dictionaries that rows use, any other by its values. The classes are the labels present:
    a category no row has (pandas keeps every category when rows are filtered out) is no
    class, as for every other label type.

    Raises:
        DataError: a null or NaN label (its rows), or a damaged column.
    """
    import pyarrow.types as pat

    column = _column(pf, name, rows, p, spec)
    if column.null_count:
        nulls = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
        _no_label(nulls, spec, name, "empty (null)")
    if not pat.is_dictionary(column.type):
        return _array_labels(column.to_numpy(zero_copy_only=False), spec, name)
    texts: list[str] = []
    codes = []
    for chunk in column.chunks:  # a dictionary per chunk: their codes follow one another
        codes.append(chunk.indices.to_numpy(zero_copy_only=False).astype(np.int64) + len(texts))
        texts += [_text(v, spec, name)
                  for v in chunk.dictionary.to_numpy(zero_copy_only=False)]
    if not codes:
        return texts, np.empty(0, np.int64)
    used, index = np.unique(np.concatenate(codes), return_inverse=True)
    return [texts[int(u)] for u in used], index.reshape(-1).astype(np.int64)


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


def _column(pf: Any, name: str, rows: int, p: Path, spec: str) -> Any:
    """One column of the file (an Arrow ChunkedArray), checked to hold the rows the footer
    claims.

    Raises:
        DataError: the column holds another number of values than the footer says.
    """
    column = pf.read(columns=[name]).column(0)
    if len(column) != rows:
        raise DataError(f"{spec}: {str(p)!r}: column {name!r} holds {len(column)} values, the "
                        f"file's footer says {rows} rows; the file is damaged")
    return column


def _pyarrow_parquet() -> Any:
    from softreg.core.optional import require

    require("pyarrow")
    import pyarrow.parquet as pq

    return pq


def read_npz(path: str, spec: str) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an ``.npz`` file (never unpickled), checked for the expected keys.

    Raises:
        DataError: not an npz, object arrays, a member holding less than its header claims,
            or neither X_train/y_train nor X/y.
    """
    p = existing_file(path, spec)
    _check_npz_headers(p, spec)
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            want = [k for k in (*NPZ_SPLIT_KEYS, "X", "y") if k in keys]
            arrays = {k: npz[k] for k in want}
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:  # (object arrays are
        # refused from their headers above)
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
    """Read the ``.npy`` header of each array np.load can return inside the archive and refuse
    object arrays, or arrays claiming more than :data:`MAX_FILE_BYTES` in all, before any array
    is read. np.load returns a member named ``K.npy`` as key ``K`` and a member named plain
    ``K`` as key ``K`` too, so both are checked: a key softreg reads must hold an array.

    Raises:
        DataError: not a zip archive, a damaged header, object arrays, a key softreg reads that
            holds no ``.npy`` array, a member holding less data than its header claims, or too
            large a claim.
    """
    import numpy.lib.format as npy_format

    keys = (*NPZ_SPLIT_KEYS, "X", "y")
    total = 0
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not (info.filename.endswith(".npy") or info.filename in keys):
                    continue  # a member np.load returns as bytes, and softreg never asks for
                with zf.open(info) as fh:
                    try:
                        version = npy_format.read_magic(fh)
                    except ValueError:
                        raise DataError(f"{spec}: {str(p)!r}: member {shown(info.filename)} "
                                        "is not a .npy array; save the arrays with "
                                        "numpy.savez") from None
                    read = (npy_format.read_array_header_1_0 if version == (1, 0)
                            else npy_format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                    held = info.file_size - fh.tell()  # the member's bytes after its header
                if dtype.hasobject:
                    raise DataError(f"{spec}: {str(p)!r} holds object arrays (pickles) in "
                                    f"{info.filename!r}, which softreg does not load; save "
                                    "plain numeric arrays")
                claim = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if claim > held:
                    raise DataError(f"{spec}: {str(p)!r}: member {shown(info.filename)} claims "
                                    f"{claim} bytes of data (shape {tuple(shape)}, {dtype}) "
                                    f"but holds {held}; the file is damaged or truncated: "
                                    "save it again with numpy.savez")
                total += claim
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise DataError(f"{spec}: cannot read {str(p)!r} as an .npz file ({exc})") from exc
    if total > MAX_FILE_BYTES:
        raise DataError(f"{spec}: {str(p)!r} claims {total} bytes of arrays, more than the "
                        f"{MAX_FILE_BYTES} softreg loads (nothing was read)")


def load_table(kind: str, target: str, spec: str, label_column: str,
               scoring: bool = False) -> Dataset:
    """A CSV, Parquet or npz source as a :class:`Dataset` (no test split but the npz's own);
    ``scoring``: data to score a trained model, checked as :func:`checked` says.

    Raises:
        DataError, DataNotFoundError: see the readers.
    """
    if kind == "npz":
        arrays = read_npz(target, spec)
        for key in ("X_train", "X_test"):
            if key in arrays and arrays[key].dtype.kind == "c":
                part = "training" if key == "X_train" else "test"
                raise DataError(f"{spec}: the {part} features are complex numbers, which would "
                                "lose their imaginary part; give real features (the real and "
                                "imaginary parts as columns of their own)")
        ytr, yte, names = _npz_labels(arrays["y_train"], arrays.get("y_test"), spec)
        return checked(arrays["X_train"], ytr, arrays.get("X_test"), yte, names, None, spec,
                       scoring=scoring)
    reader = read_csv if kind == "csv" else read_parquet
    X, (texts, codes), features, label = reader(target, spec, label_column)
    y, names = encode_labels(texts, codes, spec, label)
    return checked(X, y, None, None, names, None, spec, features, scoring=scoring)


def _npz_labels(ytr: npt.NDArray[Any], yte: npt.NDArray[Any] | None, spec: str) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64] | None, tuple[str, ...]]:
    """An npz's labels (integers, or text as str or bytes) as class indices of both splits and
    the class names: the distinct values present, in order (labels 0 and 5 are two classes).

    Raises:
        DataError: labels that are not one a row, neither integers nor text (a float that is
            not whole, NaN), or more classes than a checkpoint can name.
    """
    texts: list[str] = []
    codes = []
    parts: Parts = ()
    for key, y in (("y_train", ytr), ("y_test", yte)):
        if y is None:
            continue
        parts += ((key, len(y)),)
        if y.ndim != 1:
            raise DataError(f"{spec}: {key} must hold one label a row, shape (N,), got shape "
                            f"{y.shape}")
        if y.dtype.kind == "f" and not np.isnan(y).any():
            bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
            if bad.size:
                raise DataError(f"{spec}: {key} holds {y[bad[0]]} in {data_rows(bad[:1])}; "
                                "labels must be integers or text")
            y = y.astype(np.int64)
        elif y.dtype.kind not in "iufUS":
            raise DataError(f"{spec}: {key} holds {y.dtype}; labels must be integers or text")
        part, part_codes = _array_labels(y, spec, key)
        codes.append(part_codes + len(texts))
        texts += part
    y_all, names = encode_labels(texts, np.concatenate(codes), spec, "y", parts)
    return y_all[: len(ytr)], None if yte is None else y_all[len(ytr):], names


def load_sklearn(name: str, spec: str, scoring: bool = False) -> Dataset:
    """One of scikit-learn's bundled sets (no download), without a test split (``scoring``:
    see :func:`checked`; every set has two classes or more all the same).

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
                   features, scoring=scoring)
