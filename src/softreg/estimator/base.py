"""What a fitted softmax model does with new X: the shared half of the two estimators."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from softreg.estimator.objective import log_softmax, logits
from softreg.estimator.persist import load_estimator, save_estimator

F64 = npt.NDArray[np.float64]
FLOATS = [np.float64, np.float32]


class LinearSoftmax(ClassifierMixin, BaseEstimator):
    """Prediction from ``_W`` (d, c) and ``_b`` (c,), the model on raw X."""

    _W: F64
    _b: F64
    classes_: npt.NDArray[Any]

    def _scale_advice(self) -> str:
        """A convergence warning's advice to scale X; none where the fit already standardises
        it (the advice would send the user round in a circle)."""
        if getattr(self, "standardize", False):
            return ""
        return ", or scale X (standardize=True or a StandardScaler)"

    def _floor_advice(self, X: Any) -> str:
        """A convergence warning's advice where no step lowered the objective before the
        gradient fell to tol: the objective's rounding (its floating-point floor) is above
        what tol asks, so raise tol; fit float64 X where X is float32 (not where it is float64
        already); and, unstandardised, scale X, as badly scaled X is the likelier cause."""
        wider = ", or fit float64 X" if X.dtype == np.float32 else ""
        if getattr(self, "standardize", False):
            return f"raise tol{wider}"
        return ("X is likely badly scaled; scale X (standardize=True or a StandardScaler)"
                f"{wider}, or raise tol")

    def _check_input(self, X: Any) -> Any:
        check_is_fitted(self, "_W")  # the model itself (a refused fit may have set classes_)
        return validate_data(self, X, accept_sparse="csr", dtype=FLOATS, reset=False)

    def _logits(self, X: Any) -> Any:
        return logits(self._check_input(X), self._W, self._b)

    def decision_function(self, X: Any) -> Any:
        """Logits (n, c); for two classes the positive class's margin (n,), as sklearn's."""
        Z = self._logits(X)
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict_log_proba(self, X: Any) -> Any:
        """Log-probabilities (n, c), from logits by log-sum-exp."""
        return log_softmax(self._logits(X))

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (n, c), columns in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> Any:
        """The most probable class of each row."""
        Z = self._logits(X)  # checks fitted first
        return self.classes_[np.argmax(Z, axis=1)]

    @property
    def coef_(self) -> F64:
        """(c, d) weights; (1, d) for two classes (the positive class's, as sklearn's).

        With three classes or more it is a view of the model: editing it in place edits the
        model, as in scikit-learn. With two it is computed (the difference of the two
        classes' weights) and read-only, so that an edit in place is refused rather than
        lost: assign ``coef_`` instead."""
        check_is_fitted(self, "_W")
        return _shown(sklearn_rows(self._W.T, self._b)[0], len(self._b))

    @coef_.setter
    def coef_(self, value: Any) -> None:
        """The weights, laid out as scikit-learn's: of a fitted model (the same features), or
        of one built from known weights once ``classes_`` is set."""
        c, rows = self._rows("coef_")
        W = np.array(value, dtype=np.float64, ndmin=2)
        known: Any = getattr(self, "n_features_in_", None)  # fitted: its features stay
        d = W.shape[-1] if known is None else int(known)
        if W.shape != (rows, d):
            raise ValueError(f"coef_ must be of shape ({rows}, {d}) for this model's {c} classes "
                             f"and {d} features, got {W.shape}")
        self._W = np.ascontiguousarray(np.stack([np.zeros(d), W[0]], axis=1) if c == 2 else W.T)
        if getattr(self, "_b", None) is None or len(self._b) != c:
            self._b = np.zeros(c)
        self.n_features_in_ = d

    @property
    def intercept_(self) -> F64:
        """(c,) intercepts; (1,) for two classes (read-only there, as ``coef_``)."""
        check_is_fitted(self, "_W")
        return _shown(sklearn_rows(self._W.T, self._b)[1], len(self._b))

    @intercept_.setter
    def intercept_(self, value: Any) -> None:
        c, rows = self._rows("intercept_")
        b = np.array(value, dtype=np.float64, ndmin=1)
        if b.shape != (rows,):
            raise ValueError(f"intercept_ must be of shape ({rows},) for this model's {c} "
                             f"classes, got {b.shape}")
        self._b = np.array([0.0, b[0]]) if c == 2 else b.copy()

    def _rows(self, name: str) -> tuple[int, int]:
        """The model's classes and the rows of its ``coef_`` (1 for two classes)."""
        classes = getattr(self, "classes_", None)
        if classes is None:
            raise AttributeError(f"set classes_ before {name}: they say how many rows it has "
                                 "(one for two classes)")
        c = len(classes)
        return c, 1 if c == 2 else c

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def save(self, path: Any, data: str | None = None, *, label_column: str | None = None,
             data_dir: Any = None, offline: bool = False, overwrite: bool = False) -> Any:
        """Write the fitted model to ``path`` as a softreg checkpoint (safetensors, no pickle).

        The file is what ``softreg evaluate/predict/explain/export`` take. ``data``: the softreg
        data spec X was read from (``softreg.estimator.load_split``), recorded so that
        ``softreg evaluate`` reads the same data; None for your own arrays (the commands then
        need ``--data``). ``label_column``: a table's label column, as given to
        ``load_split`` (recorded with the spec: the commands read the same column). A file
        already at ``path`` is replaced only with ``overwrite=True`` (the file is written
        beside it and renamed: never half written). Returns the path.

        Raises:
            FileExistsError: a file is at ``path`` and ``overwrite`` is False.
            ValueError: ``path`` is in a folder of softreg's commands (a run, a sweep), or is a
                folder or a link; ``data`` is not of the estimator's features and classes;
                ``label_column`` is given without ``data`` or for data that is not a table.
        """
        check_is_fitted(self, "_W")
        return save_estimator(self, path, data, data_dir, offline, overwrite, label_column)

    @classmethod
    def load(cls, path: Any) -> Any:
        """Read an estimator of this class written by :meth:`save`; refuses any other
        checkpoint. (A cross-validated estimator comes back as its final model: ``C_`` and
        ``scores_`` are not in the file.)"""
        return load_estimator(cls, path)

    def _set_model(self, W_eff: F64, b_eff: F64) -> None:
        self._W, self._b = np.ascontiguousarray(W_eff), np.ascontiguousarray(b_eff)

    @contextlib.contextmanager
    def _fitting(self) -> Iterator[None]:
        """A fit: whatever refuses it once its parameters are accepted (its input, a split, the
        solver), it leaves no fitted attribute, not even the ``n_features_in_`` or ``classes_``
        set before the refusal (scikit-learn's ``check_is_fitted`` then passed where predict
        did not)."""
        try:
            yield
        except BaseException:
            self._forget_fit()
            raise

    def _forget_fit(self) -> None:
        """Drop what an earlier fit learned, as a new one starts (a warm start has read its
        model first): a fit refused part-way (labels of other classes, bad sample weights, a
        splitter that takes no groups) left the old weights beside the new classes or
        features, predicting wrong labels without a word; now it leaves no model."""
        for name in [k for k in vars(self) if k in _FITTED_PRIVATE
                     or (k.endswith("_") and not k.startswith("_"))]:
            delattr(self, name)


# What a fit learns besides its public attributes (``classes_``, ``n_features_in_``, ...).
_FITTED_PRIVATE = ("_W", "_b", "_epochs_done", "_scale_seen")


def _shown(values: F64, classes: int) -> F64:
    """``values`` as ``coef_`` / ``intercept_`` give them: read-only when computed (two
    classes), where an edit in place would not reach the model."""
    if classes == 2:
        values.setflags(write=False)
    return values


def sklearn_rows(coef: F64, intercept: F64) -> tuple[F64, F64]:
    """Weights (..., c, d) and intercepts (..., c) as scikit-learn gives them: for two classes
    one row, the second class's minus the first's; otherwise as they are."""
    if coef.shape[-2] != 2:
        return coef, intercept
    return coef[..., 1:, :] - coef[..., :1, :], intercept[..., 1:] - intercept[..., :1]


def check_fit_input(est: BaseEstimator, X: Any, y: Any, sample_weight: Any,
                    reset: bool = True) -> tuple[Any, Any, F64]:
    """Validate X, y and the weights as sklearn's checks demand; float32 X stays float32."""
    X, y = validate_data(est, X, y, accept_sparse="csr", dtype=FLOATS, reset=reset,
                         y_numeric=False)
    check_classification_targets(y)
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if np.any(sw < 0):
        raise ValueError("sample_weight must be non-negative; a row with weight 0 is ignored")
    return X, y, sw


def encode_labels(y: Any, who: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """Sorted classes and each row's index among them; at least two classes are needed."""
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{who} needs samples of at least 2 classes in y, got only the class "
                         f"{classes[:1].tolist()[0]!r}; a classifier cannot learn from one class")
    return classes, codes.ravel().astype(np.intp)
