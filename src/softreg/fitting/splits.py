"""Data preparation: a dataset's examples as the float32 features the backends train on.

:func:`to_features` turns uint8 images into (N, D) pixels in [0, 1]; :func:`prepare_splits`
loads the splits a configuration asks for (train, test, and a stratified validation part), and
standardises them (optionally for images, always for tables) with a :class:`Standardizer`
fitted on the training part only.
Evaluation, prediction and explanation convert images here too, without the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.config import TrainConfig
from softreg.core.shape import ModelShape, infer_shape
from softreg.data.dataset import Dataset, columns_named

# A model's weights: W (C, D) and b (C,), float32.
Params = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]



class RawParams(tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]):
    """Weights (W, b) for raw inputs folded from the weights a trainer holds for standardised
    ones, which they carry as ``trained``.

    Unfolding is not an exact inverse of folding (two float32 roundings lie between them), so
    putting folded weights back through :meth:`Standardizer.unfold` would move the model by
    an ulp here and there: a restore uses ``trained`` instead (:meth:`Standardizer.to_trained`).
    """

    trained: Params

    def __new__(cls, raw: Params, trained: Params) -> RawParams:
        params = super().__new__(cls, raw)
        params.trained = trained
        return params

    def __getnewargs__(self) -> tuple[Params, Params]:  # type: ignore[override]
        # what pickle and copy pass to __new__ (a tuple's own would be W and b alone)
        return (self[0], self[1]), self.trained


# Smallest per-pixel std used for standardising. Border pixels are almost always 0 in the
# training images; dividing by their tiny std would turn a rare stray test pixel into a huge
# input. 0.05 is about 13 grey levels.
STD_FLOOR = 0.05


@dataclass(frozen=True)
class Standardizer:
    """Per-pixel standardisation ``x' = (x - mean) / scale``, fitted on training images only.

    A linear model on standardised inputs is a linear model on raw inputs:
    ``W' x' + b' = (W' / scale) x + (b' - (W' / scale) @ mean)``. :meth:`fold` and
    :meth:`unfold` convert between the two (in float64), so everything outside the trainer
    (checkpoints, ``evaluate``, ``predict``) sees weights for raw ``[0, 1]`` pixels.
    """

    mean: npt.NDArray[np.float64]  # (D,)
    scale: npt.NDArray[np.float64]  # (D,)

    @classmethod
    def fit(cls, X: npt.NDArray[np.float32], floor: float = STD_FLOOR) -> Standardizer:
        """Mean and std (floored at ``floor``: :data:`STD_FLOOR` for pixels) of each feature
        of X (N, D). A feature that never varies (std 0 under a floor of 0) is scaled by 1."""
        mean = np.asarray(X).mean(axis=0, dtype=np.float64)  # (D,)
        sq = np.zeros_like(mean)
        for start in range(0, len(X), 8192):  # chunks: no float64 copy of all of X
            sq += np.square(X[start : start + 8192] - mean).sum(axis=0)
        std = np.sqrt(sq / max(len(X), 1))
        scale = np.maximum(std, floor)
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def apply(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Standardise X (N, D) in place and return it."""
        X -= self.mean.astype(np.float32)
        X /= self.scale.astype(np.float32)
        return X

    def fold(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> RawParams:
        """Weights for standardised inputs -> the same model on raw inputs, carrying the
        weights given (a value beyond float32's range becomes inf: see :meth:`overflow`)."""
        W_raw = np.asarray(W, dtype=np.float64) / self.scale  # (C, D)
        b_raw = np.asarray(b, dtype=np.float64) - W_raw @ self.mean  # (C,)
        with np.errstate(over="ignore"):  # the caller checks; numpy's warning says nothing
            raw = W_raw.astype(np.float32), b_raw.astype(np.float32)
        return RawParams(raw, (W, b))

    def start(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> Params:
        """Initial weights W (C, D), b (C,) drawn for standardised inputs, as a run starts
        from them: a feature whose weights for raw inputs would overflow float32 (a std below
        about 1e-40: W / std is beyond float32's range) starts at 0, so that the run reaches
        its first epoch, which then names the feature (:meth:`overflow`)."""
        with np.errstate(over="ignore"):
            raw = (np.abs(W).max(axis=0).astype(np.float64) / self.scale).astype(np.float32)
        over = ~np.isfinite(raw)  # (D,)
        if not over.any():
            return W, b
        W = W.copy()
        W[:, over] = 0
        return W, b

    def overflow(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32],
                 shape: ModelShape) -> str | None:
        """What of the finite weights W, b for standardised inputs overflows float32 once
        folded (None: nothing does); ``shape`` names the features."""
        W_raw = np.asarray(W, dtype=np.float64) / self.scale  # (C, D)
        b_raw = np.asarray(b, dtype=np.float64) - W_raw @ self.mean  # (C,)
        top = float(np.finfo(np.float32).max)
        col = np.abs(W_raw).max(axis=0)  # (D,)
        d = int(np.argmax(col))
        if col[d] > top:
            w = float(np.abs(W[:, d]).max())
            return (f"the weight {w:.4g} of feature {shape.feature_name(d)!r} is divided by "
                    f"its std {self.scale[d]:.4g} for raw inputs, and {col[d]:.4g} overflows "
                    "float32")
        if np.abs(b_raw).max() > top:
            return (f"the biases for raw inputs reach {np.abs(b_raw).max():.4g}, which "
                    "overflows float32")
        return None

    def to_trained(self, params: Params) -> Params:
        """The weights for standardised inputs of the raw-input ``params``: those they were
        folded from when they carry them (exact), else :meth:`unfold` of them."""
        kept = getattr(params, "trained", None)
        if kept is not None:
            again = self.fold(*kept)
            if all(np.array_equal(a, k) for a, k in zip(again, params, strict=True)):
                return kept
        return self.unfold(*params)

    def unfold(self, W: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> Params:
        """Weights for raw inputs -> the same model on standardised inputs."""
        W64 = np.asarray(W, dtype=np.float64)
        b_std = np.asarray(b, dtype=np.float64) + W64 @ self.mean  # (C,)
        return (W64 * self.scale).astype(np.float32), b_std.astype(np.float32)


@dataclass
class Split:
    """One split as the backends take it: X (N, D) float32, y (N,) int64.

    X holds pixels in [0, 1], or standardised pixels when ``standardizer`` is set.
    """

    X: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    standardizer: Standardizer | None = None
    shape: ModelShape | None = None  # the data's; None: inferred from the arrays
    info: dict[str, Any] | None = None  # what a checkpoint records of the data (Dataset.info)


def to_features(images: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """uint8 images (N, H, W[, C]) -> float32 features (N, D) scaled to [0, 1]."""
    flat = np.asarray(images).reshape(len(images), -1)  # (N, D)
    out = np.empty(flat.shape, dtype=np.float32)
    np.multiply(flat, np.float32(1.0 / 255.0), out=out, casting="unsafe")
    return out


def prepare_splits(
    config: TrainConfig, data_dir: str | None = None, offline: bool = False,
    dataset: Dataset | None = None, scale: bool = True,
) -> dict[str, Split]:
    """Load ``config.data`` and return ``train``, ``test`` and (with ``val_split``) ``val``.

    The validation set is a stratified part of the training set drawn with
    ``config.val_seed`` (not ``config.seed``: every training seed sees the same one); the test set
    is never used for model selection. Data without a test split of its own gives a stratified
    ``config.test_split`` of it, drawn with seed 0. With ``config.standardize``, and always
    for a table, every split is standardised with the statistics of the training part
    (validation and test examples are never looked at). Each split carries the data's model
    shape and what a checkpoint records about the data.

    Args:
        config: the run's settings (``data``, ``val_split``...).
        data_dir, offline: where a named dataset's files are.
        dataset: the data, already loaded (else :func:`load_dataset`).
        scale: False leaves every split unstandardised (pixels in [0, 1], a table's values):
            what the saved weights, which take raw inputs, are evaluated on.
    """
    from softreg.data import train_val_split
    from softreg.data.dataset import TEST_SEED

    ds = dataset if dataset is not None else load_dataset(config, data_dir, offline)
    features = to_features if ds.image_shape is not None else _table_features
    xtr, ytr = ds.X_train, np.asarray(ds.y_train, dtype=np.int64)
    if ds.X_test is None or ds.y_test is None:
        tr_idx, te_idx = train_val_split(ytr, config.test_split, TEST_SEED,
                                         name="--test-split", held_out="test")
        xte, yte = xtr[te_idx], ytr[te_idx]
        xtr, ytr = xtr[tr_idx], ytr[tr_idx]
    else:
        xte, yte = ds.X_test, np.asarray(ds.y_test, dtype=np.int64)
    splits = {"test": Split(features(xte), yte)}
    if config.val_split > 0:
        tr_idx, val_idx = train_val_split(ytr, config.val_split, config.val_seed,
                                          name="--val-split")
        splits["train"] = Split(features(xtr[tr_idx]), ytr[tr_idx])
        splits["val"] = Split(features(xtr[val_idx]), ytr[val_idx])
    else:
        splits["train"] = Split(features(xtr), ytr)
    if scale and (config.standardize or ds.image_shape is None):
        floor = STD_FLOOR if ds.image_shape is not None else 0.0
        standardizer = Standardizer.fit(splits["train"].X, floor)
        for split in splits.values():
            split.X = standardizer.apply(split.X)
            split.standardizer = standardizer
    shape, info = ds.shape, ds.info()
    for split in splits.values():
        split.shape, split.info = shape, info
    return splits


def data_meta(splits: dict[str, Split]) -> dict[str, Any]:
    """What a checkpoint records about the data of ``splits``: spec, fingerprint, model shape,
    class names, scaling; for splits made without a dataset, the class names of their shape."""
    for split in splits.values():
        if split.info is not None:
            return dict(split.info)
    shape = splits_shape(splits)
    return {"model_shape": shape.to_dict(), "class_names": list(shape.class_names)}


@dataclass(frozen=True)
class DataCheck:
    """What the data read for a checkpoint's model must be (see
    :func:`softreg.runfiles.checkpoint_meta.data_check`).

    Attributes:
        fingerprint: the content the checkpoint records, when the data read is its own (no
            ``--data``); None: not checked (other data, or a checkpoint without one).
        leave_out: ``--data`` names other data, and leaving it out would read the data the
            checkpoint names: advice worth giving when that other data does not fit.
        label_indices: the model's labels are the integers 0..C-1 (an estimator fitted on
            arrays, whose class names are ``0`` ... ``C-1``): data of C classes of other
            names has them as its class indices, in order, as for ``save(path, data=SPEC)``;
            data whose labels are such indices (its class names among the model's) is matched
            by name like any other, so that some of the indices are enough.
        test_split: the ``test_split`` the run trained with, when the data read is its own;
            None: not checked. The fingerprint covers the whole file, not the split: another
            fraction would score examples the model trained on as test ones.
    """

    fingerprint: str | None = None
    leave_out: bool = True
    label_indices: bool = False
    test_split: float | None = None


def model_data(ck_shape: ModelShape, config: TrainConfig, data_dir: str | None = None,
               offline: bool = False, where: str = "the checkpoint",
               check: DataCheck | None = None) -> Dataset:
    """The data ``config`` names, refused unless it is data the model can be scored on.

    The data is read as data to score (``scoring``, see :func:`softreg.data.dataset.checked`):
    it may hold some of the model's classes only, one even (a rare class absent from a test
    file, or a file of one class's examples on purpose), matched to the model's classes by
    name; a class the model does not have is refused. Where the model's labels are class
    indices (``check.label_indices``), data of other class names is taken in order, and so
    needs all C classes (see :func:`class_index`).

    Args:
        ck_shape: the model's shape. config: the data settings.
        data_dir, offline: where a named dataset's files are.
        where: the model, for messages.
        check: what the checkpoint says the data must be (its recorded fingerprint and test
            split, whether leaving ``--data`` out is advice, whether its labels are class
            indices); default: the shape and the class names only.

    Returns:
        The data with the model's class names and its labels the model's class indices; its
        fingerprint that of the data as read. A table's columns are in the order of the
        model's feature names (when both name them: a table's columns are matched by name, as
        ``softreg predict`` matches a CSV's, and those the model lacks are left out; without
        names, by position).

    Raises:
        ConfigError: the data's feature count or image shape differs from the model's (a
            table naming every feature of the model's may have other columns), it has a class
            the model lacks, or a table lacks one of the model's feature names; or it is the
            checkpoint's own data, but its content is not the one the checkpoint records (the
            file changed, or a relative path read another), or its test split would not be
            the run's.
        DataError, DataNotFoundError: as :func:`load_dataset`.
    """
    from softreg.core.errors import ConfigError

    check = check or DataCheck()
    ds = load_dataset(config, data_dir, offline, scoring=True)
    if check.test_split is not None and ds.X_test is None \
            and config.test_split != check.test_split:
        raise ConfigError(
            f"--test-split {config.test_split:g} is not the run's: {where} was trained with "
            f"--test-split {check.test_split:g} (another fraction puts examples it trained on "
            "in the test split); leave --test-split out, or pass --data to score other data "
            "on purpose")
    got = ds.shape
    own = ", or leave --data out to use the run's own" if check.leave_out else ""

    def said(s: ModelShape) -> str:
        names = ", ".join(s.class_names[:6]) + (", ..." if s.classes > 6 else "")
        return f"{s.features} features and {s.classes} classes ({names})"

    index = class_index(got.class_names, ck_shape.class_names, check.label_indices)
    named = bool(got.feature_names and ck_shape.feature_names)
    if got.features != ck_shape.features and not (  # a table holding every model column, and
            named and all(columns_named(ck_shape.feature_names, got.feature_names))):  # by name
        which = ""
        if named:
            extra = [n for n in got.feature_names if n not in ck_shape.feature_names]
            missing = [n for n in ck_shape.feature_names if n not in got.feature_names]
            parts = ([f"columns the model lacks: {', '.join(extra[:5])}"] if extra else []) + (
                [f"the model's columns it lacks: {', '.join(missing[:5])}"] if missing else [])
            which = f" ({'; '.join(parts)})" if parts else ""
        raise ConfigError(f"data {config.data!r} has {said(got)}{which}, but {where} was "
                          f"trained on {said(ck_shape)}; give data of the model's shape and "
                          f"classes{own}")
    if isinstance(index, list):  # the data's classes the model lacks
        if check.label_indices:
            raise ConfigError(
                f"data {config.data!r} has {said(got)}, but {where} was fitted on the class "
                f"indices 0..{ck_shape.classes - 1}: data of other class names is taken as "
                f"those indices in order, so it needs all {ck_shape.classes} classes; give "
                f"data of {ck_shape.classes} classes, or labels that are the indices (some of "
                f"them are enough){own}")
        raise ConfigError(
            f"data {config.data!r} has class(es) {listed(index, 5)} that {where} lacks: it "
            f"was trained on {said(ck_shape)}; give data of the model's classes (some of them "
            f"are enough){own}")
    refuse_changed(config.data, ds.fingerprint, check.fingerprint, where,
                   f"pass --data {config.data} to score the model on the data as it is now")
    if index is not None:  # the labels as the model's class indices (the test split drawn
        # from them next is stratified by these classes, one class or more)
        ds = replace(ds, y_train=index[ds.y_train],
                     y_test=None if ds.y_test is None else index[ds.y_test],
                     class_names=ck_shape.class_names)
    return by_feature_names(ds, ck_shape, config.data, where)


def model_splits(ck_shape: ModelShape, config: TrainConfig, data_dir: str | None = None,
                 offline: bool = False, where: str = "the checkpoint",
                 check: DataCheck | None = None) -> dict[str, Split]:
    """The splits of :func:`model_data`'s data that ``config`` asks for (:func:`prepare_splits`),
    unstandardised (the raw inputs a checkpoint's weights take), its labels the model's class
    indices: what ``evaluate`` and ``explain`` score a model on.

    Raises:
        ConfigError: as :func:`model_data`; or data so small that a split drawn from it
            (``--test-split`` of data without a test split of its own, the run's validation
            split) would hold no example.
        DataError, DataNotFoundError: as :func:`load_dataset`.
    """
    from softreg.core.errors import ConfigError

    ds = model_data(ck_shape, config, data_dir, offline, where, check)
    try:
        return prepare_splits(config, dataset=ds, scale=False)
    except ConfigError as exc:  # a split drawn class by class came out empty
        own = "" if ds.X_test is None else ", with a test split of its own"
        raise ConfigError(f"data {config.data!r} ({len(ds.y_train)} examples{own}) is too "
                          f"small to split as the model's run did: {exc}") from None


def class_index(data: tuple[str, ...], model: tuple[str, ...],
                label_indices: bool = False) -> npt.NDArray[np.int64] | list[str] | None:
    """How the classes of data to score (their names ``data``) are the model's (``model``).

    By name: each of the data's classes is the model's class of its name, so data may hold
    some of the model's classes only (a test file without a rare class, a file of one class).
    ``label_indices``: the model's labels are the class indices 0..C-1 (its names ``0`` ...
    ``C-1``, an estimator fitted on arrays). Data whose class names are among them (labels
    that are those indices, some or all) is matched by name all the same, which is by index;
    data of C classes of other names (``sklearn:iris``'s names for a model fitted on its
    targets 0, 1, 2) has them as its indices, in order, as before; data of other names and
    another count of classes cannot say which index each of its classes is, and is refused.

    Returns:
        None: the data's classes are the model's, in its order (labels as they are); an int64
        array: the model's class index of each of the data's classes; a list: the data's class
        names the model lacks (the data is refused).
    """
    if data == model:
        return None
    where = {name: i for i, name in enumerate(model)}
    extra = [name for name in data if name not in where]
    if not extra:
        return np.asarray([where[name] for name in data], dtype=np.int64)
    if label_indices and len(data) == len(model):
        # names that are not the indices say nothing of which index each class is: only all C
        # classes, in order, can be taken as them (what save(path, data=SPEC) takes); with
        # fewer, "versicolor, virginica" would silently be scored as classes 0 and 1
        return None
    return extra


def listed(names: list[str], few: int) -> str:
    """The first ``few`` of ``names`` (each shown quoted and cut), then how many more."""
    from softreg.safety.textsafe import shown

    more = f" and {len(names) - few} more" if len(names) > few else ""
    return ", ".join(shown(n, 40) for n in names[:few]) + more


def by_feature_names(ds: Dataset, ck_shape: ModelShape, spec: str, where: str) -> Dataset:
    """``ds`` with a table's columns those of the model's feature names, in its order
    (``ck_shape``: the model's shape): columns the model does not have are left out, as
    ``softreg predict`` leaves out a CSV's. Data or a model without feature names is taken by
    position (of the model's feature count), as before names were recorded.

    Raises:
        ConfigError: one of the model's feature names is not the data's (a column missing),
            or a name repeats so that columns cannot be matched by name.
    """
    from collections import Counter

    from softreg.core.errors import ConfigError

    want, got = ck_shape.feature_names, ds.feature_names
    if not want or not got or want == got:
        return ds
    found = columns_named(want, got)
    missing = [n for n, cols in zip(want, found, strict=True) if not cols]
    if missing:
        extra = [n for n in got if n not in want and n.strip() not in {w.strip() for w in want}]
        raise ConfigError(
            f"data {spec!r} lacks the feature column(s) {listed(missing, 5)} that "
            f"{where} was trained on, and has {listed(extra, 5) or 'none'} instead; give a "
            "table of the model's feature columns (in any order)")
    order = [cols[0] for cols in found]
    if len(set(want)) != len(want) or any(len(cols) > 1 for cols in found) \
            or max(Counter(order).values()) > 1:
        raise ConfigError(
            f"data {spec!r} and {where} name the same feature columns in another order (or "
            "with others), but a name repeats (or two differ only by surrounding spaces), so "
            "the columns cannot be matched by name; give them in the model's order")
    X_test = None if ds.X_test is None else ds.X_test[:, order]
    return replace(ds, X_train=ds.X_train[:, order], X_test=X_test, feature_names=want)


def refuse_changed(spec: str, fingerprint: str, recorded: str | None, where: str,
                   instead: str) -> None:
    """Refuse the data ``spec`` whose content ``fingerprint`` is not the one ``where`` records
    (``recorded``; None: nothing to compare).

    Raises:
        ConfigError: the fingerprints differ; the message ends with ``instead``, what to do
            besides restoring the data.
    """
    from softreg.core.errors import ConfigError

    if recorded is None or fingerprint == recorded:
        return
    raise ConfigError(
        f"data {spec!r} changed since {where} was made from it: its content's sha256 "
        f"fingerprint is now {fingerprint[:12]}..., where {recorded[:12]}... was recorded "
        "(its test split could now hold other examples, even training ones); restore that "
        f"data, or {instead}")


def data_shape(config: TrainConfig, data_dir: str | None = None,
               offline: bool = False) -> ModelShape:
    """The model shape ``config.data`` states: a named dataset's from its table entry (no file
    is read), any other source's by loading it (:func:`load_dataset`).

    Raises:
        ConfigError, DataError, DataNotFoundError: as :func:`load_dataset`.
    """
    import math

    from softreg.data import named
    from softreg.data.spec import parse

    parsed = parse(config.data)
    if parsed.kind == "named":
        entry = named.DATASETS[parsed.target]
        return ModelShape(entry.class_names, math.prod(entry.image_shape), entry.image_shape)
    return load_dataset(config, data_dir, offline).shape


def load_dataset(config: TrainConfig, data_dir: str | None = None,
                 offline: bool = False, scoring: bool = False) -> Dataset:
    """The :class:`~softreg.data.Dataset` that ``config.data`` names, read as it says;
    ``scoring``: to score a trained model, not to train one (one class is then enough, see
    :func:`softreg.data.dataset.checked`)."""
    from softreg.data import DataOptions, load

    return load(config.data, data_dir, offline,
                DataOptions(config.label_column, config.image_size, config.grayscale,
                            scoring))


def _table_features(X: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """A table's rows as a float32 copy (standardised in place later)."""
    return np.array(np.asarray(X).reshape(len(X), -1), dtype=np.float32)


# The settings data_key is made of, in its order.
DATA_KEY_NAMES = ("val_split", "val_seed", "standardize", "data", "test_split", "label_column",
                  "image_size", "grayscale")


def data_key(config: TrainConfig) -> tuple[Any, ...]:
    """The settings that decide a configuration's prepared splits: configurations with the
    same key train on the same data (one copy, prepared once)."""
    return tuple(getattr(config, name) for name in DATA_KEY_NAMES)


def splits_shape(splits: dict[str, Split]) -> ModelShape:
    """The model shape of prepared splits: the one the data stated, else inferred from them."""
    for split in splits.values():
        if split.shape is not None:
            return split.shape
    first = next(iter(splits.values()))
    return infer_shape(first.X, [s.y for s in splits.values()])
