"""A dataset as softreg trains on it, whatever its source: raw arrays, class names, a shape.

:class:`Dataset` is what every source produces (the IDX family, image folders, tables, ``.npz``
files, scikit-learn's bundled sets, arrays in Python): a training split and, when the source
has one, a test split, each as raw features X and integer labels y; the class names; the image
shape when the examples are images (None for a table); and a fingerprint of the content, which
checkpoints record so that a model is evaluated on the data it was trained on.

Every check a source's data must pass is here, once (:func:`checked`): at least two classes,
class names a checkpoint can record, labels in range, finite features, a test split with no
class the training split lacks. Data read to score a trained model (``softreg evaluate`` and
``explain`` with ``--data``: ``scoring``) trains nothing, so one class is enough there and its
test split may hold classes its training split lacks; the caller matches its classes to the
model's by name (:func:`softreg.fitting.splits.model_data`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import DataError
from softreg.core.shape import ModelShape
from softreg.safety.textsafe import printable, shown

# How a dataset's features become the model's inputs: image pixels divided by 255 (uint8), or
# a table's numbers as they are (then standardised with the training split's statistics).
IMAGES, TABLE = "pixels/255", "raw"
# A test split drawn from the training data when the source has none, stratified and seeded
# with this seed (apart from --seed and --val-seed: every run of a spec tests on the same rows).
TEST_SEED = 0
# A checkpoint records the class names twice (``class_names`` and ``model_shape``) and a
# table's feature names once, JSON in JSON, in its header, which softreg reads only up to
# safety.tensorfile.MAX_HEADER bytes. The names may take 512 KiB of it; the rest is for the
# configuration, the history (at most about 330 bytes an epoch, up to core.config.MAX_EPOCHS
# epochs: 10 MB) and the other fields. Checked when the data is loaded, so that no run ends
# with a checkpoint softreg cannot read.
NAMES_BYTES = 1 << 19
# A class name takes at least 7 bytes of header in each of its two places (one character, its
# two escaped quotes and the separator ", "): the most classes the names' share can hold.
MAX_DATA_CLASSES = NAMES_BYTES // (2 * 7)


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of raw features and integer labels, with what describes them.

    Attributes:
        X_train: (N, ...) raw features: uint8 pixels (N, H, W[, C]) for images, float32
            (N, D) for a table. y_train: (N,) int64 labels in [0, C).
        X_test, y_test: the source's own test split, or None (then ``--test-split``).
        class_names: the name of each class, in label order.
        image_shape: (H, W) or (H, W, C) for images, None for a table.
        spec: the spec the data was loaded from (``fashion-mnist``, ``csv:FILE``...), with a
            file's path made absolute by :func:`softreg.data.load`: what checkpoints record.
        fingerprint: a sha256 of the content (features and labels of both splits).
        feature_names: a table's column names (empty for images).
    """

    X_train: npt.NDArray[Any]
    y_train: npt.NDArray[np.int64]
    X_test: npt.NDArray[Any] | None
    y_test: npt.NDArray[np.int64] | None
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...] | None
    spec: str
    fingerprint: str
    feature_names: tuple[str, ...] = ()

    @property
    def scaling(self) -> str:
        """``pixels/255`` for images, ``raw`` for a table."""
        return TABLE if self.image_shape is None else IMAGES

    @property
    def shape(self) -> ModelShape:
        """The model shape this data states."""
        features = math.prod(self.X_train.shape[1:])
        return ModelShape(self.class_names, int(features), self.image_shape, self.feature_names)

    def info(self) -> dict[str, Any]:
        """What a checkpoint records about its data (``checkpoint_meta`` checks each field)."""
        return {"data": self.spec, "data_fingerprint": self.fingerprint,
                "model_shape": self.shape.to_dict(), "class_names": list(self.class_names),
                "scaling": self.scaling}


class VerifiedPair(tuple[npt.NDArray[Any], npt.NDArray[Any]]):
    """``(images, labels)`` of one split, as a loader that verified them returns them.

    It unpacks like the plain pair; ``sha256`` holds the content hash each array was checked
    against (their :func:`part_digest`), so :func:`checked` need not hash them again. A loader
    that verified nothing returns a plain tuple, and the arrays are hashed.
    """

    sha256: tuple[str, str]

    def __new__(cls, images: npt.NDArray[Any], labels: npt.NDArray[Any],
                sha256: tuple[str, str]) -> VerifiedPair:
        pair = super().__new__(cls, (images, labels))
        pair.sha256 = sha256
        return pair

    def __getnewargs__(self) -> tuple[Any, ...]:  # pickle and copy rebuild it whole
        return (self[0], self[1], self.sha256)


def part_digest(a: npt.NDArray[Any]) -> str:
    """The sha256 one part of a dataset (features or labels of a split) contributes to its
    fingerprint.

    Unsigned bytes (images, and integer labels in [0, 256)) are hashed as the IDX file that
    holds them (header + bytes): for a file checked against a dataset table, that is the
    content sha256 the table states, so a verified loader's hashes stand in for this one.
    Anything else is hashed with its dtype and shape.
    """
    c = np.ascontiguousarray(a)
    if c.dtype != np.uint8 and c.ndim == 1 and np.issubdtype(c.dtype, np.integer) and (
            c.size == 0 or (int(c.min()) >= 0 and int(c.max()) < 256)):
        c = c.astype(np.uint8)  # labels: the same as the uint8 labels of an IDX file
    if c.dtype == np.uint8 and 1 <= c.ndim <= 255:
        head = (0x0800 | c.ndim).to_bytes(4, "big")  # IDX magic: unsigned byte, ndim
        h = hashlib.sha256(head + b"".join(int(d).to_bytes(4, "big") for d in c.shape))
    else:
        h = hashlib.sha256(f"{c.dtype.str}{c.shape};".encode())
    h.update(c.data)
    return h.hexdigest()


def fingerprint(*arrays: npt.NDArray[Any] | None,
                digests: Sequence[str | None] | None = None) -> str:
    """sha256 over the :func:`part_digest` of each of ``arrays`` (None counts as absent).

    Args:
        arrays: the parts, in order (X_train, y_train, X_test, y_test).
        digests: for each part, its :func:`part_digest` when already known (a loader verified
            that content against a table), else None: that part is hashed here.
    """
    known = list(digests) if digests is not None else [None] * len(arrays)
    if len(known) != len(arrays):
        raise ValueError(f"fingerprint needs one digest (or None) per array: {len(arrays)} "
                         f"arrays, {len(known)} digests")
    h = hashlib.sha256(b"softreg data fingerprint 2;")
    for a, digest in zip(arrays, known, strict=True):
        if a is None:
            h.update(b"none;")
            continue
        h.update(f"{digest or part_digest(a)};".encode())
    return h.hexdigest()


def checked(X_train: npt.ArrayLike, y_train: npt.ArrayLike, X_test: npt.ArrayLike | None,
            y_test: npt.ArrayLike | None, class_names: tuple[str, ...],
            image_shape: tuple[int, ...] | None, spec: str,
            feature_names: tuple[str, ...] = (),
            digests: Sequence[str | None] | None = None, scoring: bool = False) -> Dataset:
    """A :class:`Dataset` of these arrays once they pass every check; the fingerprint is made.

    ``digests`` are the content hashes a loader verified these very arrays against (one per
    array, None where it verified nothing, see :func:`fingerprint`); the parts they cover are
    not hashed again. Without them every part is hashed.

    ``scoring``: the data scores a model trained on other data (``evaluate``, ``explain``),
    and trains nothing: one class is enough (a file of one class's examples, to see how the
    model does on them), in either split, and the test split may hold classes the training
    split lacks. The other checks are the same; the fingerprint too.

    Raises:
        DataError: shapes that disagree, fewer than 2 classes (none, ``scoring``), class
            names a checkpoint cannot record (see :func:`_check_names`), a label outside
            [0, len(class_names)) or not an integer, NaN or inf in a table's features, a
            training split of one class or a test split with a class the training split lacks
            (not when ``scoring``), or an empty split.
    """
    Xtr, ytr = _split(X_train, y_train, "training", spec, image_shape, feature_names)
    Xte = yte = None
    if (X_test is None) != (y_test is None):
        raise DataError(f"{spec}: a test split needs both its features and its labels")
    if X_test is not None and y_test is not None:
        Xte, yte = _split(X_test, y_test, "test", spec, image_shape, feature_names)
        if Xte.shape[1:] != Xtr.shape[1:]:
            raise DataError(f"{spec}: the test examples have shape {Xte.shape[1:]}, the "
                            f"training examples {Xtr.shape[1:]}; both splits need the same")
    _check_names(tuple(class_names), tuple(feature_names), spec)
    if len(class_names) < (1 if scoring else 2):
        raise DataError(f"{spec}: found {len(class_names)} class(es) "
                        f"({', '.join(class_names) or 'none'}); a classifier needs at least 2")
    for y, part in ((ytr, "training"), (yte, "test")):
        if y is not None and y.size and (y.min() < 0 or y.max() >= len(class_names)):
            raise DataError(f"{spec}: the {part} labels must be in [0, {len(class_names)}) for "
                            f"{len(class_names)} classes, got {int(y.min())} to {int(y.max())}")
    # labels are in [0, C) here: a count per class (np.unique would sort them)
    seen = np.bincount(ytr, minlength=len(class_names)) > 0
    present = np.flatnonzero(seen)
    if present.size < 2 and not scoring:
        raise DataError(f"{spec}: the training split holds one class only "
                        f"({class_names[int(present[0])]!r}); a classifier needs at least 2")
    if yte is not None and not scoring:
        missing = np.flatnonzero((np.bincount(yte, minlength=len(class_names)) > 0) & ~seen)
        if missing.size:
            names = ", ".join(repr(class_names[int(k)]) for k in missing[:5])
            raise DataError(f"{spec}: the test split has class(es) {names} that the training "
                            "split lacks; a model cannot learn a class it never sees")
    return Dataset(Xtr, ytr, Xte, yte, tuple(class_names), image_shape, spec,
                   fingerprint(Xtr, ytr, Xte, yte, digests=digests), tuple(feature_names))


def _header_bytes(names: tuple[str, ...]) -> int:
    """The bytes ``names`` take in a checkpoint's header: a JSON list, as a JSON string."""
    return len(json.dumps(json.dumps(list(names))))


def _check_names(class_names: tuple[str, ...], feature_names: tuple[str, ...],
                 spec: str) -> None:
    """Refuse class names that a checkpoint cannot record, before any training.

    Raises:
        DataError: more than :data:`MAX_DATA_CLASSES` classes; an empty, repeated or
            non-printable class name (a newline or tab in a folder name); names that take more
            than :data:`NAMES_BYTES` of the checkpoint's header.
    """
    if len(class_names) > MAX_DATA_CLASSES:
        raise DataError(f"{spec}: {len(class_names):,} classes are more than the "
                        f"{MAX_DATA_CLASSES:,} a softreg checkpoint can name; merge classes or "
                        "train on fewer")
    for name in class_names:
        if not isinstance(name, str) or not name or not name.isprintable():
            raise DataError(f"{spec}: class name {shown(name)} is not printable text (a newline, "
                            "a tab or another control character, or empty), which a checkpoint "
                            "cannot record; rename that class (its folder or label value)")
    if len(set(class_names)) < len(class_names):
        twice = next(n for i, n in enumerate(class_names) if n in class_names[:i])
        raise DataError(f"{spec}: class name {shown(twice)} is given for two classes; give "
                        "each class its own name")
    classes, features = _header_bytes(class_names), _header_bytes(feature_names)
    if 2 * classes + features > NAMES_BYTES:
        longest = max(map(len, class_names), default=0)
        what = (f"the {len(class_names):,} class names (the longest {longest:,} characters) "
                f"take {2 * classes:,} bytes of checkpoint metadata (it records them twice")
        what += f"; the feature names take {features:,} more)" if feature_names else ")"
        raise DataError(f"{spec}: {what}, more than the {NAMES_BYTES:,} bytes a softreg "
                        "checkpoint has for names; shorten the names or use fewer classes")


# How a message about data points at a row and a column, in every source: "data row N" counts
# the rows of data from 1 (the first row of data is data row 1, as a spreadsheet user counts;
# a header is no data row), in features and labels alike, each split counted on its own. A
# CSV message names the file's "line N" instead, as an editor shows it: that counts the header
# line too (and any blank line), so a plain CSV's data row 1 is on line 2. A table's column is
# named by its name; an array's column (an .npz, arrays in Python) has no name and is
# "feature N", counted from 1 as well, and such a message says so.
COUNTED_FROM_1 = "rows and features counted from 1"


def data_rows(rows: Sequence[int] | npt.NDArray[np.integer[Any]]) -> str:
    """0-based row indices as a message names them: ``data row 4``, ``data rows 3, 10``, the
    first five and how many more (see the convention above)."""
    shown_rows = ", ".join(str(int(r) + 1) for r in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"data row{'s' * (len(rows) > 1)} {shown_rows}{more}"


def columns_named(want: Sequence[str], got: Sequence[str]) -> list[list[int]]:
    """The columns of ``got`` (a table's names) of each name of ``want`` (a model's feature
    names): those of its very name, else those whose name differs from it only by surrounding
    spaces (a CSV reader strips a header's; Parquet and a DataFrame keep them); an empty list
    where there is none. ``softreg predict`` and ``evaluate --data`` find a model's columns so.
    """
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for j, name in enumerate(got):
        exact.setdefault(name, []).append(j)
        loose.setdefault(name.strip(), []).append(j)
    return [exact.get(n) or loose.get(n.strip(), []) for n in want]


def cell_number(text: str) -> float:
    """A text cell's number (a CSV file's, a row given to ``softreg predict``), as ``float``
    reads it, but for digits grouped by underscores: ``float("5_1")`` is 51 (Python's literal
    syntax), and no table writer means a cell so.

    Raises:
        ValueError: the text is not a number.
    """
    if "_" in text:
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def as_float32(values: npt.ArrayLike) -> tuple[npt.NDArray[np.float32],
                                               tuple[tuple[int, ...], bool] | None]:
    """``values`` as C-ordered float32 (features are trained in float32), and where its first
    value is that is not a finite float32, with whether it was a finite number beyond float32's
    range (about 3.4e38; the cast made it inf) rather than NaN or inf; None when all are finite.
    No NumPy warning: the callers say it in their own words."""
    src = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(src, dtype=np.float32)
    bad = ~np.isfinite(out)
    if not bad.any():
        return out, None
    pos = tuple(int(v[0]) for v in np.nonzero(bad))
    return out, (pos, bool(np.isfinite(src[pos])))


def _split(X: npt.ArrayLike, y: npt.ArrayLike, part: str, spec: str,
           image_shape: tuple[int, ...] | None, feature_names: Sequence[str] = (),
           ) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """One split's features and labels, checked; a non-finite feature is named by its data row
    and its column's name (``feature_names``, when there is one a column), else its number."""
    Xa, ya = np.asarray(X), np.asarray(y)
    if Xa.dtype == object or ya.dtype == object:
        raise DataError(f"{spec}: the {part} arrays hold Python objects (dtype object); give "
                        "numbers")
    if ya.ndim != 1 or Xa.ndim < 2 or len(Xa) != len(ya):
        raise DataError(f"{spec}: the {part} split must be X (N, features...) and y (N,), got "
                        f"X {Xa.shape} and y {ya.shape}")
    if len(ya) == 0:
        raise DataError(f"{spec}: the {part} split is empty; it needs at least one example")
    whole = np.issubdtype(ya.dtype, np.floating) and bool(np.all(ya == np.round(ya)))
    if not np.issubdtype(ya.dtype, np.integer) and not whole:
        raise DataError(f"{spec}: the {part} labels must be integers, got dtype {ya.dtype}")
    if image_shape is not None:
        if tuple(Xa.shape[1:]) != tuple(image_shape) or Xa.dtype != np.uint8:
            raise DataError(f"{spec}: the {part} images must be uint8 of shape "
                            f"{tuple(image_shape)}, got {Xa.dtype} {Xa.shape[1:]}")
        return Xa, ya.astype(np.int64, copy=False)
    if not (np.issubdtype(Xa.dtype, np.number) or Xa.dtype == bool):
        raise DataError(f"{spec}: the {part} features must be numbers, got dtype {Xa.dtype}")
    Xf, unfit = as_float32(Xa.reshape(len(Xa), -1))
    if unfit is not None:
        (row, col), beyond = unfit
        count = int((~np.isfinite(Xf)).sum())
        named = len(feature_names) == Xf.shape[1]
        where = (f"{data_rows([row])}, feature column {printable(feature_names[col])!r}" if named
                 else f"{data_rows([row])}, feature {col + 1}")
        counted = "" if named else f"; {COUNTED_FROM_1}"
        if beyond:
            raise DataError(f"{spec}: the {part} features hold a value beyond float32's range "
                            f"({count} value(s), the first in {where}: "
                            f"{Xa.reshape(len(Xa), -1)[row, col]:.4g}{counted}), which softreg "
                            "trains in; scale the feature first")
        raise DataError(f"{spec}: the {part} features hold NaN or inf ({count} value(s), the "
                        f"first in {where}{counted}); fill or drop them first")
    return Xf, ya.astype(np.int64)


def from_arrays(X: npt.ArrayLike, y: npt.ArrayLike, X_test: npt.ArrayLike | None = None,
                y_test: npt.ArrayLike | None = None, *,
                class_names: tuple[str, ...] | list[str] | None = None,
                image_shape: tuple[int, ...] | None = None, name: str = "arrays",
                feature_names: tuple[str, ...] | list[str] = ()) -> Dataset:
    """A dataset of arrays in Python: what ``softreg.data.from_arrays`` gives ``fit_many``.

    Args:
        X, y: training features (N, D) (or uint8 images (N, H, W[, C]) with ``image_shape``)
            and labels (N,): integers in [0, C) with ``class_names``; without them, any
            integers, strings or bytes, whose sorted distinct values are the classes.
        X_test, y_test: a test split, or None (then one is drawn, see ``--test-split``).
        class_names: the names of the C classes; default: the labels' distinct values (of
            both splits) as text, in sorted order (numbers by value), as a CSV's labels.
        image_shape: (H, W) or (H, W, C) for uint8 images, None for a table.
        name: the spec recorded in checkpoints (``arrays:<name>``).
        feature_names: a name per feature (tables), for ``explain``.

    Raises:
        DataError: as :func:`checked`; labels of two kinds (text and numbers); more distinct
            labels than :data:`MAX_DATA_CLASSES`.
    """
    spec = name if name.startswith("arrays") else f"arrays:{name}"
    if class_names is None:
        y, y_test, class_names = labels_by_value(y, y_test, spec)
    return checked(X, y, X_test, y_test, tuple(class_names),
                   None if image_shape is None else tuple(image_shape), spec,
                   tuple(feature_names))


def labels_by_value(y: npt.ArrayLike, y_test: npt.ArrayLike | None, spec: str
              ) -> tuple[npt.ArrayLike, npt.ArrayLike | None, tuple[str, ...]]:
    """Labels given as values -> indices of their sorted distinct values, and those as names.

    Integer labels (or floats holding whole numbers) are classed by value, text and bytes
    (decoded as UTF-8) as strings: the rule of :func:`from_arrays`, for any source of labels
    as arrays. Labels of another kind, or not one per example, are returned as they are, with
    no names, for :func:`checked` to refuse in its words.

    Raises:
        DataError: text labels in one split and numbers in the other; labels that are not
            UTF-8; more distinct values than a checkpoint can name.
    """
    parts = [np.asarray(y)] + ([] if y_test is None else [np.asarray(y_test)])
    text = [v.dtype.kind in "US" for v in parts]
    if any(v.ndim != 1 for v in parts):
        return y, y_test, ()
    if any(text) and not all(text):
        raise DataError(f"{spec}: y holds {'text' if text[0] else 'numbers'} and y_test "
                        f"{'text' if text[1] else 'numbers'}; give the labels of both splits "
                        "the same kind")
    if all(text):
        try:
            parts = [np.char.decode(v, "utf-8") if v.dtype.kind == "S" else v for v in parts]
        except UnicodeDecodeError as exc:
            raise DataError(f"{spec}: bytes labels must be UTF-8 text ({exc})") from None
    elif all(np.issubdtype(v.dtype, np.integer)
             or (np.issubdtype(v.dtype, np.floating) and bool(np.all(v == np.round(v))))
             for v in parts):
        parts = [v.astype(np.int64) for v in parts]
    else:  # not labels (floats with fractions, booleans, objects): checked says so
        return y, y_test, ()
    values, index = np.unique(np.concatenate(parts), return_inverse=True)
    if len(values) > MAX_DATA_CLASSES:  # before a name is made for each (a regression target?)
        raise DataError(f"{spec}: the labels take {len(values):,} distinct values, more than "
                        f"the {MAX_DATA_CLASSES:,} classes a softreg checkpoint can name; give "
                        "class labels, not measurements")
    names = tuple(str(v) for v in values.tolist())
    index = index.astype(np.int64).reshape(-1)
    n = len(parts[0])
    return index[:n], (None if y_test is None else index[n:]), names
