"""Tables a user really has, read as the user means them (review fixes): a second label-like
column or a column name given twice is refused, not made a feature; pandas' index is no feature;
missing labels are refused in every format; npz labels are their distinct values; every count is
bounded before it allocates; and ``predict`` reads a CSV by its header's names, whatever the
names and however long each row."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import DataError, InputImageError
from softreg.core.shape import ModelShape
from softreg.data import DataOptions, load, tables
from softreg.data.inputs import load_inputs


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def _refused(spec: str, message: str, label: str = "") -> None:
    """One line naming the problem."""
    with pytest.raises(DataError) as info:
        load(spec, options=DataOptions(label_column=label))
    assert message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def _rows(n: int = 12) -> str:
    return "".join(f"{i * 0.5},{(-1) ** i},{i % 2}\n" for i in range(n))


# ----------------------------------------------------------------------------- label columns


def test_two_label_like_columns_are_refused_and_label_column_picks_one(tmp_path):
    both = _write(tmp_path / "both.csv", "a,y,target\n" + _rows())
    _refused(f"csv:{both}", "columns y, target could each be the label, and the other would "
                            "become a feature; name the label with --label-column NAME")
    ds = load(f"csv:{both}", options=DataOptions(label_column="target"))
    assert ds.feature_names == ("a", "y")


def test_a_column_name_given_twice_is_refused(tmp_path):
    dup = _write(tmp_path / "dup.csv", "label,a,label\n" + "".join(
        f"{i % 2},{i},{1 - i % 2}\n" for i in range(12)))
    _refused(f"csv:{dup}", "the column name 'label' is given twice (columns 1 and 3); give each "
                           "column its own name")
    feats = _write(tmp_path / "feats.csv", "a,a,label\n" + _rows())
    _refused(f"csv:{feats}", "the column name 'a' is given twice (columns 1 and 2)")


def test_parquet_column_names_given_twice_are_refused_not_a_traceback(tmp_path):
    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    a, lab = pa.array([0.0, 1.0, 2.0, 3.0]), pa.array(["x", "y", "x", "y"])
    pq.write_table(pa.Table.from_arrays([a, a, lab], names=["a", "a", "label"]),
                   tmp_path / "feats.parquet")
    _refused(f"parquet:{tmp_path / 'feats.parquet'}", "the column name 'a' is given twice "
                                                       "(columns 1 and 2)")
    pq.write_table(pa.Table.from_arrays([a, lab, lab], names=["a", "label", "label"]),
                   tmp_path / "labels.parquet")
    _refused(f"parquet:{tmp_path / 'labels.parquet'}", "the column name 'label' is given twice")


def test_no_label_column_lists_the_columns_and_a_bom_is_not_part_of_a_name(tmp_path):
    nolabel = _write(tmp_path / "nolabel.csv", "a,b,kind\n1,2,x\n")
    _refused(f"csv:{nolabel}", "name it with --label-column NAME (the columns are a, b, kind)")
    bom = _write(tmp_path / "bom.csv", "label,a,b\n" + "".join(
        f"{i % 2},{i},{-i}\n" for i in range(12)), encoding="utf-8-sig")  # Excel "CSV UTF-8"
    ds = load(f"csv:{bom}")
    assert ds.feature_names == ("a", "b") and ds.class_names == ("0", "1")
    bom_feature = _write(tmp_path / "bomfeat.csv", "a,b,label\n" + _rows(), encoding="utf-8-sig")
    assert load(f"csv:{bom_feature}").feature_names == ("a", "b")


def test_a_file_separated_by_semicolons_or_tabs_is_named_as_such(tmp_path):
    semi = _write(tmp_path / "semi.csv", "a;b;label\n1,5;2;x\n3;4;y\n")
    _refused(f"csv:{semi}", "has one column, 'a;b;label': it looks separated by ';', and "
                            "softreg reads comma-separated values")
    tabs = _write(tmp_path / "tabs.csv", "a\tb\tlabel\n1\t2\tx\n")
    _refused(f"csv:{tabs}", "it looks separated by tabs")


# ----------------------------------------------------------------------------- index columns


def test_a_csv_written_without_a_header_is_told_so(tmp_path):
    """Its first data row became the column names, and --label-column could name one of its
    values: the run trained on a row fewer, its features named 0.1257302210933933 and so on."""
    rows = "".join(f"{0.1 * i + 0.0123:.4f},{i % 5 - 2.5e-3},{'cat' if i % 2 else 'dog'}\n"
                   for i in range(12))
    path = _write(tmp_path / "bare.csv", rows)
    _refused(f"csv:{path}", "the first row of ", label="dog")
    _refused(f"csv:{path}", "holds '0.0123', a number, where softreg reads the column names: it "
                            "looks like a data row; add a header row")
    named = _write(tmp_path / "named.csv", "0,1,label\n" + rows)  # pandas' names: kept
    assert load(f"csv:{named}").feature_names == ("0", "1")


def test_a_csv_column_without_a_name_is_refused_with_what_to_do(tmp_path):
    indexed = _write(tmp_path / "indexed.csv", ",a,label\n" + "".join(
        f"{i},{i * 0.1},{i % 2}\n" for i in range(12)))
    _refused(f"csv:{indexed}", "column 1 has no name (pandas writes its index so: save with "
                               "to_csv(..., index=False)); name the column or drop it")


def test_pandas_index_columns_of_a_parquet_file_are_not_features(tmp_path):
    need("pyarrow")
    pd = need("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=40), "label": rng.choice(["neg", "pos"], 40)})
    df.sort_values("label").to_parquet(tmp_path / "sorted.parquet")  # the index leaks the label
    df.set_index(pd.Index(rng.permutation(40), name="sample")).to_parquet(
        tmp_path / "named.parquet")
    for name in ("sorted", "named"):
        ds = load(f"parquet:{tmp_path / name}.parquet")
        assert ds.feature_names == ("a",) and ds.class_names == ("neg", "pos"), name


# ----------------------------------------------------------------------------- labels


def test_parquet_null_or_nan_labels_are_refused_with_their_rows(tmp_path):
    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    a = np.arange(12, dtype=np.float64)
    cases = {
        "text": (pa.array([None if i in (2, 9) else "xy"[i % 2] for i in range(12)]),
                 "label column 'label' is empty (null) in data rows 3, 10; every row needs a "
                 "label"),
        "float": (pa.array([np.nan if i == 5 else float(i % 2) for i in range(12)]),
                  "label column 'label' is NaN in data row 6; every row needs a label"),
        "int": (pa.array([None if i == 7 else i % 2 for i in range(12)], pa.int64()),
                "label column 'label' is empty (null) in data row 8"),
    }
    for name, (labels, message) in cases.items():
        pq.write_table(pa.table({"a": a, "label": labels}), tmp_path / f"{name}.parquet")
        _refused(f"parquet:{tmp_path / name}.parquet", message)


def test_a_missing_value_among_numeric_labels_is_refused_and_stays_a_class_among_words(tmp_path):
    """R writes a missing label as NA and pandas as NaN: among numbers that is no class but a
    row without its label; among words ("EU", "NA") it is a class of its name."""
    for text in ("NA", "NaN", "nan", "null", "N/A"):
        numbers = _write(tmp_path / "numbers.csv", "a,label\n" + "".join(
            f"{i},{text if i in (3, 8) else i % 2}\n" for i in range(12)))
        _refused(f"csv:{numbers}", f"label column 'label' is '{text}' (a missing value: the "
                 "other labels are numbers) in data rows 4, 9; every row needs a label")
    words = _write(tmp_path / "words.csv", "a,label\n" + "".join(
        f"{i},{('EU', 'NA', 'AS')[i % 3]}\n" for i in range(12)))
    assert load(f"csv:{words}").class_names == ("AS", "EU", "NA")


def test_one_number_written_two_ways_is_refused_and_text_labels_stay_text(tmp_path):
    for other in ("01", "1.0"):
        mixed = _write(tmp_path / f"mixed{other}.csv", "a,label\n" + "".join(
            f"{i},{other if i == 3 else i % 3}\n" for i in range(12)))
        _refused(f"csv:{mixed}", "label column 'label' writes one number two ways")
    cased = _write(tmp_path / "cased.csv", "a,label\n" + "".join(
        f"{i},{'bB'[i % 2]}\n" for i in range(12)))
    assert load(f"csv:{cased}").class_names == ("B", "b")  # as scikit-learn: text is text


def test_npz_labels_are_their_distinct_values(tmp_path):
    X = np.arange(24, dtype=np.float32).reshape(12, 2)
    half = np.arange(12) % 2
    cases = {"huge": (half * 10**9, ("0", "1000000000")),  # was range(10**9 + 1): MemoryError
             "gap": (half * 5, ("0", "5")),  # was 6 classes, 4 of them empty
             "negative": (half - 1, ("-1", "0")),  # was "found 1 class(es) (0)"
             "bytes": (np.array([b"cat", b"dog"] * 6), ("cat", "dog")),  # was "b'cat'"
             "whole": (half.astype(np.float64), ("0", "1"))}
    for name, (y, names) in cases.items():
        np.savez(tmp_path / f"{name}.npz", X=X, y=y)
        ds = load(f"npz:{tmp_path / name}.npz")
        assert ds.class_names == names, name
        np.testing.assert_array_equal(ds.y_train, half)
    np.savez(tmp_path / "split.npz", X_train=X, y_train=half * 3 + 1, X_test=X[:4],
             y_test=np.array([4, 1, 4, 1]))
    ds = load(f"npz:{tmp_path / 'split.npz'}")
    assert ds.class_names == ("1", "4") and ds.y_test is not None
    assert list(ds.y_test) == [1, 0, 1, 0]
    np.savez(tmp_path / "half.npz", X=X, y=half + 0.5)
    _refused(f"npz:{tmp_path / 'half.npz'}", "y_train holds 0.5 in data row 1; labels must be "
                                             "integers or text")


def test_more_distinct_labels_than_classes_softreg_trains_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_DATA_CLASSES", 5)
    ids = _write(tmp_path / "ids.csv", "a,label\n" + "".join(f"{i},id{i}\n" for i in range(12)))
    _refused(f"csv:{ids}", "label column 'label' holds more than 5 distinct values")
    np.savez(tmp_path / "ids.npz", X=np.zeros((12, 2)), y=np.arange(12))
    _refused(f"npz:{tmp_path / 'ids.npz'}", "label column 'y_train' holds more than 5 distinct")


def _npy(a: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, a)
    return out.getvalue()


def test_a_truncated_npz_member_is_called_damaged_not_pickles(tmp_path):
    """np.load's ValueError for a member cut short was reported as object arrays (pickles)."""
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as zf:
        zf.writestr("X.npy", _npy(np.ones((100, 3)))[:-800])
        zf.writestr("y.npy", _npy(np.arange(100) % 2))
    _refused(f"npz:{tmp_path / 'short.npz'}", "member 'X.npy' claims 2400 bytes of data (shape "
             "(100, 3), float64) but holds 1600; the file is damaged or truncated")


def test_complex_features_are_refused(tmp_path):
    np.savez(tmp_path / "complex.npz", X=np.ones((6, 2), np.complex64), y=np.arange(6) % 2)
    _refused(f"npz:{tmp_path / 'complex.npz'}", "the training features are complex numbers, "
                                                "which would lose their imaginary part")


# ----------------------------------------------------------------------------- bounds


def test_npz_members_without_the_npy_suffix_are_checked_too(tmp_path, monkeypatch):
    """np.load returns member "X" as key "X": its header claim is checked against the bytes it
    holds and bounded, its bytes an array."""
    import io

    import numpy.lib.format as npy_format

    y = io.BytesIO()
    np.save(y, np.arange(4) % 2)
    claim = io.BytesIO()
    npy_format.write_array_header_1_0(claim, {"descr": "<f8", "fortran_order": False,
                                              "shape": (200_000, 100_000)})
    with zipfile.ZipFile(tmp_path / "claim.npz", "w") as zf:
        zf.writestr("y.npy", y.getvalue())
        zf.writestr("X", claim.getvalue() + b"\0" * 64)
    _refused(f"npz:{tmp_path / 'claim.npz'}", "member 'X' claims 160000000000 bytes of data "
             "(shape (200000, 100000), float64) but holds 64; the file is damaged or truncated")
    with zipfile.ZipFile(tmp_path / "big.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("y.npy", y.getvalue())
        zf.writestr("X", _npy(np.zeros((1000, 100))))  # 800 kB of zeros, compressed to 1 kB
    monkeypatch.setattr(tables, "MAX_FILE_BYTES", 100_000)
    _refused(f"npz:{tmp_path / 'big.npz'}", "claims 800032 bytes of arrays, more than the "
                                            "100000 softreg loads (nothing was read)")
    with zipfile.ZipFile(tmp_path / "text.npz", "w") as zf:
        zf.writestr("y.npy", y.getvalue())
        zf.writestr("X", b"hello world")
    _refused(f"npz:{tmp_path / 'text.npz'}", "member 'X' is not a .npy array")


def test_a_csv_is_bounded_by_what_its_rows_hold_before_the_matrix_is_made(tmp_path,
                                                                          monkeypatch):
    wide = _write(tmp_path / "wide.csv", ",".join(f"c{i}" for i in range(5000)) + ",label\n"
                  + "1\n" * 5000)  # was np.empty((5000, 5000)) before any row was looked at
    _refused(f"csv:{wide}", "line 2 has 1 fields, the header 5001; every row needs one field "
                            "per column")
    table = _write(tmp_path / "table.csv", "a,b,label\n" + _rows(10))
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 10 * 4 * 4 - 1)

    def unmade(*args, **kw):
        raise AssertionError("the matrix was made before the bound was checked")

    with monkeypatch.context() as m:
        m.setattr(tables.np, "empty", unmade)
        _refused(f"csv:{table}", "holds 10 rows of 2 features (160 bytes as float32 with the "
                                 "labels), more than the 159 softreg loads; use a sample")
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 10 * 4 * 4)
    assert load(f"csv:{table}").X_train.shape[1] == 2


def test_an_empty_cell_names_its_line_and_column(tmp_path):
    gap = _write(tmp_path / "gap.csv", "a,b,label\n" + "".join(
        f"{i},{'' if i == 7 else i},{i % 2}\n" for i in range(12)))
    _refused(f"csv:{gap}", "line 9: feature column 'b' is empty (a missing value); fill it in "
                           "or drop the row")
    words = _write(tmp_path / "words.csv", "a,b,label\n1,2,x\n3,red,y\n")
    _refused(f"csv:{words}", "feature column 'b' is not numeric (it holds 'red') on line 3")
    nan = _write(tmp_path / "nan.csv", "a,b,label\n" + "".join(
        f"{i},{'nan' if i == 6 else i},{i % 2}\n" for i in range(12)))
    _refused(f"csv:{nan}", "feature column 'b' holds 'nan' on line 8, not a finite number; "
                           "fill it in or drop the row")


def test_digits_grouped_by_underscores_are_no_number_in_training_or_predict(tmp_path):
    """float("5_1") is 51 (Python's literal syntax): such a cell was trained on, and
    predicted, as 51 without a word."""
    grouped = _write(tmp_path / "grouped.csv", "a,b,label\n" + "".join(
        f"{i},{'5_1' if i == 4 else i},{i % 2}\n" for i in range(12)))
    _refused(f"csv:{grouped}", "feature column 'b' is not numeric (it holds '5_1') on line 6")
    rows = _write(tmp_path / "rows.csv", "a,b\n1,2\n5_1,3\n")
    with pytest.raises(InputImageError, match=r"data row 2 is not 2 numbers, as the model "
                                              r"takes"):
        load_inputs([str(rows)], _shape("a", "b"))
    assert _predict_rows(_write(tmp_path / "plain.csv", "a,b\n5.1,3\n"),
                         _shape("a", "b")) == [[np.float32(5.1), 3]]


def test_a_value_beyond_float32_names_its_line_and_column_without_a_warning(tmp_path):
    import warnings

    big = _write(tmp_path / "big.csv", "a,b,label\n" + "".join(
        f"{'1e39' if i == 3 else i},{i},{i % 2}\n" for i in range(12)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" was printed
        _refused(f"csv:{big}", "feature column 'a' holds '1e39' on line 5, beyond float32's "
                               "range (about 3.4e38), which softreg trains in; scale the column")


def test_a_value_beyond_float32_in_parquet_npz_and_predict_is_said_so_without_a_warning(
        tmp_path):
    """Parquet, npz and predict's rows said "NaN or inf" of a finite 1e300 (the column by its
    index), after NumPy's "overflow encountered in cast"; a complex .npy row lost its imaginary
    part in predict, where training refuses it."""
    import warnings

    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    pq.write_table(pa.table({"a": rng.normal(size=12), "dbl": np.full(12, 1e300),
                             "label": np.arange(12) % 2}), tmp_path / "big.parquet")
    np.savez(tmp_path / "big.npz", X=np.c_[np.ones((12, 2)), np.full(12, -1e300)],
             y=np.arange(12) % 2)
    shape = _shape("a", "b")
    rows = _write(tmp_path / "rows.csv", "a,b\n1,2\n3,1e300\n")
    np.save(tmp_path / "big.npy", np.array([[1.0, 2.0], [1e300, 0.0]]))
    np.save(tmp_path / "complex.npy", np.array([[1 + 5j, 2]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _refused(f"parquet:{tmp_path / 'big.parquet'}", "feature column 'dbl' holds a value "
                 "beyond float32's range (about 3.4e38) in data row 1, which softreg trains in")
        _refused(f"npz:{tmp_path / 'big.npz'}", "the training features hold a value beyond "
                 "float32's range (12 value(s), the first in data row 1, feature 3: -1e+300; rows "
                 "and features counted from 1)")
        with pytest.raises(InputImageError, match=r"data row 2, feature 'b' holds '1e300', "
                                                  r"beyond float32's range"):
            _predict_rows(rows, shape)
        with pytest.raises(InputImageError, match=r"data row 2, feature 'a' holds 1e\+300, "
                                                  r"beyond float32's range"):
            _predict_rows(tmp_path / "big.npy", shape)
        with pytest.raises(InputImageError, match=r"holds complex128 of shape \(1, 2\)"):
            _predict_rows(tmp_path / "complex.npy", shape)
        nan = _write(tmp_path / "nan.csv", "a,b\n1,2\n3,nan\n")
        with pytest.raises(InputImageError, match=r"holds NaN or inf values \(the first in "
                                                  r"data row 2, feature 'b'\)"):
            _predict_rows(nan, shape)


def test_parquet_text_labels_count_in_the_bound_and_are_read_once_each(tmp_path, monkeypatch):
    """Labels repeated over many rows cost their dictionary, not a copy a row: 100 rows of two
    1 MB labels (1 kB on disk) once took 130 MB; the footer's label bytes count too."""
    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "long.parquet"
    labels = pa.DictionaryArray.from_arrays(pa.array(np.arange(100) % 2, pa.int32()),
                                            pa.array(["a" * 2**20, "b" * 2**20]))
    pq.write_table(pa.table({"x": np.arange(100, dtype=np.float64), "label": labels}), path,
                   compression="zstd", store_schema=False)  # read back as plain strings
    assert path.stat().st_size < 100_000
    script = ("import contextlib, pyarrow as pa\n"
              "from softreg.core.errors import DataError\n"
              "from softreg.data import load\n"
              "with contextlib.suppress(DataError):  # class names too long for a checkpoint\n"
              f"    load({f'parquet:{path}'!r})\n"
              "print(pa.default_memory_pool().max_memory())")
    peak = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True).stdout
    assert int(peak) < 20 * 2**20, peak
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 100 * 3 * 4 + 2**21)
    _refused(f"parquet:{path}", "claims 100 rows of 1 features (")
    _refused(f"parquet:{path}", "of them label text), more than the")


# ----------------------------------------------------------------------------- predict


def _shape(*names: str) -> ModelShape:
    return ModelShape(("p", "q"), len(names), None, tuple(names))


def _predict_rows(path: Path, shape: ModelShape) -> list[list[float]]:
    return load_inputs([str(path)], shape)[1].tolist()


def test_predict_reads_a_header_of_numbers_by_its_names(tmp_path):
    shape = _shape("0", "1", "2")
    same = _write(tmp_path / "same.csv", "0,1,2\n5,6,7\n")
    assert _predict_rows(same, shape) == [[5, 6, 7]]  # not the header as a row
    reordered = _write(tmp_path / "reordered.csv", "2,0,1,label\n7,5,6,p\n")
    assert _predict_rows(reordered, shape) == [[5, 6, 7]]
    plain = _write(tmp_path / "plain.csv", "5,6,7\n8,9,10\n")
    assert _predict_rows(plain, shape) == [[5, 6, 7], [8, 9, 10]]
    # a data row of the names' numbers in another order: a header or a row? (it was read as
    # a header, the next row's columns reordered and the first row lost)
    permuted = _write(tmp_path / "permuted.csv", "2,0,1\n0,1,2\n")
    with pytest.raises(InputImageError, match=r"its first row \(2, 0, 1\) is numbers that are "
                       r"also the model's feature names \(0, 1, 2\) in another order"):
        _predict_rows(permuted, shape)
    neither = _write(tmp_path / "neither.csv", "0,1\n5,6,7\n")
    with pytest.raises(InputImageError, match=r"its first row is neither a header naming the "
                                              r"model's feature columns \(0, 1, 2\) nor a data "
                                              r"row of 3 numbers"):
        load_inputs([str(neither)], shape)


def test_predict_takes_a_header_in_order_for_a_model_without_feature_names(tmp_path):
    shape = ModelShape(("p", "q"), 3, None)  # an estimator fitted on bare arrays: no names
    named = _write(tmp_path / "named.csv", "c,a,b\n5,6,7\n")
    assert _predict_rows(named, shape) == [[5, 6, 7]]  # in order, as evaluate --data takes it
    assert _predict_rows(_write(tmp_path / "plain.csv", "5,6,7\n"), shape) == [[5, 6, 7]]
    wide = _write(tmp_path / "wide.csv", "a,b,c,label\n5,6,7,p\n")
    with pytest.raises(InputImageError, match=r"has a header of 4 columns; the model records "
                       r"no feature names, so it takes a table's columns in order, and it "
                       r"takes 3: give its 3 feature columns, in the order it was fitted on"):
        load_inputs([str(wide)], shape)
    (tmp_path / "photos").mkdir()
    with pytest.raises(InputImageError, match=r"photos' is a folder; give CSV or \.npy files of "
                                              r"rows of the model's 3 features"):
        load_inputs([str(tmp_path / "photos")], shape)


def test_predict_reads_every_row_by_the_header_and_names_a_short_one(tmp_path):
    shape = _shape("a", "b")
    short = _write(tmp_path / "short.csv", "b,a,label\n0.25,1.5,pos\n0.25,1.5\n")
    assert _predict_rows(short, shape) == [[1.5, 0.25]] * 2  # the label cell may be left out
    lacking = _write(tmp_path / "lacking.csv", "b,label,a\n0.2,pos,1.5\n0.2,pos\n")
    with pytest.raises(InputImageError, match=r"data row 2 lacks the feature column\(s\) 'a' \(it "
                                              r"has 2 fields, the header 3\)"):
        load_inputs([str(lacking)], shape)
    longer = _write(tmp_path / "longer.csv", "b,a\n0.2,1.5\n0.2,1.5,9\n")
    with pytest.raises(InputImageError, match="data row 2 has 3 fields, more than the "
                                              "header's 2"):
        load_inputs([str(longer)], shape)


def test_predict_refuses_a_header_that_cannot_say_which_column_is_which(tmp_path):
    twice = _write(tmp_path / "twice.csv", "a,b,a\n1,2,3\n")
    with pytest.raises(InputImageError, match="its header names the column 'a' twice"):
        load_inputs([str(twice)], _shape("a", "b"))
    with pytest.raises(InputImageError, match="the model has two features named 'a'"):
        load_inputs([str(_write(tmp_path / "ab.csv", "a,a\n5,-5\n"))], _shape("a", "a"))
    headless = _write(tmp_path / "headless.csv", "5,-5\n")
    assert _predict_rows(headless, _shape("a", "a")) == [[5, -5]]


def test_predict_strips_a_bom_from_the_header(tmp_path):
    bom = _write(tmp_path / "bom.csv", "b,a\n2,1\n", encoding="utf-8-sig")
    assert _predict_rows(bom, _shape("a", "b")) == [[1, 2]]


def test_a_fifo_given_as_a_table_is_called_a_fifo(tmp_path):
    import os

    from softreg.core.errors import DataNotFoundError
    from softreg.data.tables import existing_file

    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataNotFoundError, match=r"is a FIFO \(named pipe\), not a regular file"):
        existing_file(str(fifo), "csv:rows.csv")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        existing_file(str(tmp_path / "absent.csv"), "csv:absent.csv")


# ----------------------------------------------------------------------------- second review


def test_a_parquet_category_without_rows_is_no_class(tmp_path):
    """pandas keeps every category after rows are filtered out: the unused one became a class
    of the model (a phantom output, another loss), and ``load_split`` then gave labels 0, 2, 3
    that ``save(data=...)`` could not match to the data's four classes."""
    need("pyarrow")
    pd = need("pandas")
    rng = np.random.default_rng(0)
    words = rng.choice(["setosa", "versicolor", "virginica"], 60)
    X = rng.normal(size=(60, 2)) + (words == "setosa")[:, None] * 3
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "label": pd.Categorical(
        words, categories=["virginica", "unused", "setosa", "versicolor", " "])})
    df.to_parquet(tmp_path / "words.parquet", index=False)
    spec = f"parquet:{tmp_path / 'words.parquet'}"
    ds = load(spec)
    assert ds.class_names == ("setosa", "versicolor", "virginica")
    names = np.array(ds.class_names)
    np.testing.assert_array_equal(names[ds.y_train], words)
    numbers = pd.DataFrame({"a": X[:, 0], "label": pd.Categorical(
        np.where(words == "setosa", 10, 2), categories=[10, 7, 2])})  # sorted as numbers
    numbers.to_parquet(tmp_path / "numbers.parquet", index=False, row_group_size=16)
    ds = load(f"parquet:{tmp_path / 'numbers.parquet'}")
    assert ds.class_names == ("2", "10")
    np.testing.assert_array_equal(ds.y_train, (words == "setosa").astype(np.int64))

    from softreg import SoftmaxRegression
    from softreg.estimator import load_split

    X_train, y_train = load_split(spec)
    assert set(np.unique(y_train)) == {0, 1, 2}
    est = SoftmaxRegression().fit(X_train, y_train)
    est.save(tmp_path / "est.safetensors", data=spec)  # matched the data's classes by index


PANDAS_NULLABLE = ("boolean", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32",
                   "UInt64", "Float32", "Float64")


def test_a_null_in_a_nullable_parquet_feature_is_a_missing_value_of_every_type(tmp_path):
    """A nullable boolean column with a null said "cannot read ... as Parquet (ufunc 'isfinite'
    not supported ...)" of a valid file; Int64 and Float64 said NaN or inf, by index."""
    need("pyarrow")
    pd = need("pandas")
    for dtype in PANDAS_NULLABLE:
        values = pd.array([i % 2 == 0 if dtype == "boolean" else i % 3 for i in range(12)],
                          dtype=dtype)
        df = pd.DataFrame({"a": np.arange(12.0), "f": values, "label": np.arange(12) % 2})
        df.to_parquet(tmp_path / "full.parquet", index=False)
        ds = load(f"parquet:{tmp_path / 'full.parquet'}")
        np.testing.assert_array_equal(ds.X_train[:, 1], np.asarray(values, dtype=np.float32))
        df.loc[[2, 9], "f"] = pd.NA
        df.to_parquet(tmp_path / "null.parquet", index=False)
        _refused(f"parquet:{tmp_path / 'null.parquet'}", "feature column 'f' is empty (null, a "
                 "missing value) in data rows 3, 10; fill them in or drop those rows")
    df = pd.DataFrame({"a": np.arange(12.0), "f": pd.array(["x"] * 11 + [None], dtype="string"),
                       "label": np.arange(12) % 2})
    df.to_parquet(tmp_path / "text.parquet", index=False)
    _refused(f"parquet:{tmp_path / 'text.parquet'}", "feature column 'f' is not numeric")


def test_data_messages_count_rows_from_1_and_name_a_table_column(tmp_path):
    """The same 4th row was "row 3, feature 2" for a NaN feature and "data row 4" for a NaN
    label; a Parquet table's column was "feature 2", not its name."""
    need("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from softreg.data import from_arrays

    X = np.arange(48, dtype=np.float64).reshape(12, 4)
    y = np.arange(12) % 2
    nan = X.copy()
    nan[3, 2] = np.nan
    np.savez(tmp_path / "x.npz", X=nan, y=y)
    _refused(f"npz:{tmp_path / 'x.npz'}", "the training features hold NaN or inf (1 value(s), "
             "the first in data row 4, feature 3; rows and features counted from 1)")
    np.savez(tmp_path / "y.npz", X=X, y=np.where(np.arange(12) == 3, np.nan, y))
    _refused(f"npz:{tmp_path / 'y.npz'}", "is NaN in data row 4; every row needs a label")
    np.savez(tmp_path / "test.npz", X_train=X, y_train=y, X_test=X[:4],
             y_test=np.array(["1", "0", " ", "1"]))
    _refused(f"npz:{tmp_path / 'test.npz'}", "label column 'y_test' is empty in data row 3; "
                                             "every row needs a label")  # was "data row 15"
    table = {name: X[:, k] for k, name in enumerate(("sl", "sw", "pl", "pw"))}
    pq.write_table(pa.table({**table, "pl": nan[:, 2], "label": y}),  # a NaN, not a null
                   tmp_path / "nan.parquet")
    _refused(f"parquet:{tmp_path / 'nan.parquet'}", "the training features hold NaN or inf "
             "(1 value(s), the first in data row 4, feature column 'pl'); fill or drop them")
    pq.write_table(pa.table({**table, "pl": pa.array(nan[:, 2], from_pandas=True), "label": y}),
                   tmp_path / "null.parquet")  # pandas writes NaN so: a null
    _refused(f"parquet:{tmp_path / 'null.parquet'}", "feature column 'pl' is empty (null, a "
             "missing value) in data row 4; fill it in or drop the row")
    with pytest.raises(DataError, match=r"the test features hold NaN or inf \(1 value\(s\), the "
                                        r"first in data row 1, feature column 'c'\)"):
        from_arrays(X[:, :3], y, np.array([[1.0, 2.0, np.inf]]), y[:1],
                    feature_names=["a", "b", "c"])


def test_a_csv_of_integers_without_a_header_is_told_so(tmp_path):
    """np.savetxt of digits: "the column name '0' is given twice" said nothing of the header
    row the first data row had become."""
    rows = "".join(",".join(str((i * 7 + j * 3) % 5) for j in range(6)) + f",{i % 2}\n"
                   for i in range(12))
    path = _write(tmp_path / "digits.csv", rows)
    _refused(f"csv:{path}", "the column name '0' is given twice (columns 1 and 6); the first "
             "row, read as the column names, is all numbers: it looks like a data row; add a "
             "header row naming the columns (the label column among them)")
    words = _write(tmp_path / "words.csv", "".join(f"{i % 3},{i % 3},{'xy'[i % 2]}\n"
                                                    for i in range(12)))
    _refused(f"csv:{words}", "the column name '0' is given twice (columns 1 and 2); the first "
             "row, read as the column names, is all numbers but for 'x': it looks like a data "
             "row; add a header row")
    named = _write(tmp_path / "named.csv", "a,1,1,label\n" + "1,2,3,0\n" * 12)
    _refused(f"csv:{named}", "the column name '1' is given twice (columns 2 and 3); give each "
             "column its own name")


def test_predict_finds_a_column_whose_name_differs_only_by_surrounding_spaces(tmp_path):
    """Parquet and the estimator keep a name such as ' sl '; a CSV header of it, written by
    pandas (' sl ') or by hand ('sl'), is that column."""
    shape = _shape(" sl ", "sw")
    exact = _write(tmp_path / "exact.csv", " sl ,sw\n1,2\n")
    assert _predict_rows(exact, shape) == [[1, 2]]
    loose = _write(tmp_path / "loose.csv", "sw,sl\n2,1\n")
    assert _predict_rows(loose, shape) == [[1, 2]]
    # names the model tells apart by their spaces are taken exactly
    both = _shape("a", "a ")
    assert _predict_rows(_write(tmp_path / "both.csv", "a ,a\n2,1\n"), both) == [[1, 2]]


def test_predict_refuses_a_column_match_by_spaces_that_is_ambiguous_and_quotes_names(tmp_path):
    two = _write(tmp_path / "two.csv", " a,a ,b\n1,2,3\n")
    with pytest.raises(InputImageError, match=r"differ from the model's feature 'a' only by "
                                              r"surrounding spaces"):
        load_inputs([str(two)], _shape("a", "b"))
    one = _write(tmp_path / "one.csv", "a,b\n1,2\n")  # the model's 'a' and 'a ': which is it?
    with pytest.raises(InputImageError) as caught:
        load_inputs([str(one)], _shape("a", "a ", "b"))
    assert "'a '" in str(caught.value) and len(str(caught.value).splitlines()) == 1
    lacking = _write(tmp_path / "lacking.csv", "x,sw\n1,2\n")
    with pytest.raises(InputImageError, match=r"lacks the model's feature column\(s\) ' sl '$"):
        load_inputs([str(lacking)], _shape(" sl ", "sw"))
