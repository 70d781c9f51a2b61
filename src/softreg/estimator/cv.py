"""``SoftmaxRegressionCV``: every C on every fold fitted as one pack, then a refit at the best C."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions

from softreg.estimator import lbfgs, prepare
from softreg.estimator.base import (
    F64,
    LinearSoftmax,
    check_fit_input,
    encode_labels,
    sklearn_rows,
)
from softreg.estimator.classifier import SoftmaxRegression
from softreg.estimator.objective import MAX_BLOCKS, logits


def grouped(masks: F64) -> Any:
    """An order of the rows that puts rows weighed by the same models side by side, or None.

    Sorted so, the pack's objective can multiply each fold's rows by the models trained on them
    only (:func:`~softreg.estimator.objective.row_blocks`): with 5 folds, 4/5 of the products of
    the unsorted rows (on a small problem, where the blocks' fixed cost is the larger,
    :func:`~softreg.estimator.objective.split_pays` keeps one block). The sorted copy of X
    costs one X; with more groups of rows than the objective would split (splitters whose test
    sets overlap), the rows stay as they are.
    """
    used = masks != 0
    order = np.lexsort(used)
    sorted_used = used[:, order]
    runs = 1 + int((sorted_used[:, 1:] != sorted_used[:, :-1]).any(axis=0).sum())
    return order if runs <= MAX_BLOCKS else None


def paths(W: F64, b: F64) -> F64:
    """Each model's ``coef_`` with its intercepts as a last column, (K, rows, d + 1), from
    weights (K, d, c) and intercepts (K, c) acting on X (one row for two classes)."""
    coef, intercept = sklearn_rows(W.transpose(0, 2, 1), b)
    return np.concatenate([coef, intercept[:, :, None]], axis=2)


class SoftmaxRegressionCV(LinearSoftmax):
    """Softmax regression choosing C by cross-validation, like ``LogisticRegressionCV``.

    All ``len(Cs) * folds`` fits share each pass over X (one pack, each model with its own
    L-BFGS memory and line search); C is chosen by the folds' mean score, then the model is
    refitted on all the data from the folds' mean weights at that C.

    Args:
        Cs: a number of C values on a log grid from 1e-4 to 1e4, or the values themselves.
        cv: folds, as scikit-learn's ``check_cv`` reads it (default 5 stratified folds).
        scoring: a scikit-learn scorer name or callable; ``None`` is accuracy. ``score``
            reports it too, as ``LogisticRegressionCV.score`` does.
        refit: refit at the C of the best mean score on all the data; otherwise, as
            ``LogisticRegressionCV``, average each fold's fit at that fold's best C (``C_``
            is then the mean of those C).
        max_iter, tol, class_weight, verbose, framework, device, standardize: as in
            :class:`~softreg.estimator.SoftmaxRegression`.

    The attributes have the shapes of ``LogisticRegressionCV(use_legacy_attributes=False)``,
    scikit-learn's default from 1.10 (its axis of one L1 ratio kept: L2 is ratio 0).

    Attributes:
        Cs_: (n_Cs,) the values tried. C_: the chosen C (a float).
        scores_: (n_folds, 1, n_Cs) held-out scores.
        n_iter_: (n_folds, 1, n_Cs) iterations of each fold's fit.
        coefs_paths_: (n_folds, 1, n_Cs, n_classes, n_features + 1) each fold's fit, its
            ``coef_`` and then its intercepts as the last column (one row for two classes).
        l1_ratios_: ``[0.0]``; l1_ratio_: 0.0.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "verbose": ["verbose"],
        "framework": [StrOptions(set(prepare.FRAMEWORKS))],
        "device": [str],
        "standardize": ["boolean"],
    }

    def __init__(self, Cs: Any = 10, *, cv: Any = None, scoring: Any = None, refit: bool = True,
                 max_iter: int = 100, tol: float = 1e-4, class_weight: Any = None,
                 verbose: int = 0, framework: str = "numpy", device: str = "cpu",
                 standardize: bool = False):
        self.Cs = Cs
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.verbose = verbose
        self.framework = framework
        self.device = device
        self.standardize = standardize

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegressionCV:
        """Cross-validate every C, choose one, refit; returns self."""
        self._validate_params()
        X, y, sw = check_fit_input(self, X, y, sample_weight)
        classes, codes = encode_labels(y, type(self).__name__)
        self.classes_ = classes
        sw = prepare.row_weights(sw, self.class_weight, classes, y, codes)
        Cs = (np.logspace(-4, 4, self.Cs) if isinstance(self.Cs, Integral)
              else np.asarray(self.Cs, dtype=np.float64).ravel())
        if Cs.size == 0 or np.any(Cs <= 0):
            raise ValueError(f"Cs must be positive values or a count of them, got {self.Cs!r}")
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
        masks = np.zeros((len(folds) * len(Cs), X.shape[0]))  # model (fold, C) per row
        for f, (train, _) in enumerate(folds):
            masks[f * len(Cs):(f + 1) * len(Cs), train] = sw[train]
        order = grouped(masks)
        prob = prepare.problem(X if order is None else X[order],
                               codes if order is None else codes[order],
                               masks if order is None else masks[:, order],
                               np.tile(Cs, len(folds)), len(classes), self.standardize)
        res = self._minimize(prob, np.zeros((len(masks), prob.size)))
        grid = (len(folds), 1, len(Cs))  # the axis of one L1 ratio, as scikit-learn's
        self.Cs_, self.l1_ratios_, self.l1_ratio_ = Cs, np.array([0.0]), 0.0
        self.n_iter_ = res.n_iter.reshape(grid).astype(np.int32)
        scores = self._score_folds(prob, res.theta, folds, X, y, codes, len(Cs))
        self.scores_ = scores.reshape(grid)
        self.coefs_paths_ = paths(*prob.effective(res.theta)).reshape(*grid, -1, X.shape[1] + 1)
        fits = res.theta.reshape(len(folds), len(Cs), -1)
        if self.refit:  # the C of the best mean score, refitted from the folds' mean there
            best = int(np.argmax(scores.mean(axis=0)))
            self.C_ = float(Cs[best])
            prob = prepare.problem(X, codes, sw[None], np.array([self.C_]), len(classes),
                                   self.standardize)
            theta = self._minimize(prob, fits[:, best].mean(axis=0)[None]).theta
        else:  # as LogisticRegressionCV: each fold's fit at its own best C, averaged
            each = np.argmax(scores, axis=1)
            self.C_ = float(np.mean(Cs[each]))
            theta = fits[np.arange(len(folds)), each].mean(axis=0)[None]
        W_eff, b_eff = prob.effective(theta)
        self._set_model(W_eff[0], b_eff[0])
        return self

    def _minimize(self, prob: Any, theta0: F64) -> lbfgs.Result:
        res = prepare.minimize(prob, theta0, self.framework, self.device, tol=self.tol,
                               max_iter=self.max_iter, verbose=self.verbose)
        if not res.converged.all():
            warnings.warn(
                f"SoftmaxRegressionCV: {int((~res.converged).sum())} of {len(theta0)} fits "
                f"stopped at max_iter={self.max_iter} before the gradient fell to "
                f"tol={self.tol}; raise max_iter, or scale X (standardize=True or a "
                "StandardScaler)", ConvergenceWarning, stacklevel=3)
        return res

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The ``scoring`` of the model on X, y (accuracy when it is None), as
        ``LogisticRegressionCV.score`` does."""
        if self.scoring is None:
            return float(super().score(X, y, sample_weight=sample_weight))
        scorer = get_scorer(self.scoring)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return float(scorer(self, X, y, **kwargs))

    def _score_folds(self, prob: Any, theta: F64, folds: list[Any], X: Any, y: Any,
                     codes: Any, n_cs: int) -> F64:
        """(n_folds, n_Cs) held-out scores of each fit."""
        W_eff, b_eff = prob.effective(theta)
        scores = np.zeros((len(folds), n_cs))
        if self.scoring in (None, "accuracy"):  # predict's own logits, without a scorer's checks
            d, c = W_eff.shape[1], W_eff.shape[2]
            for f, (_, test) in enumerate(folds):  # the fold's Cs side by side: one product
                models = slice(f * n_cs, (f + 1) * n_cs)
                W = W_eff[models].transpose(1, 0, 2).reshape(d, n_cs * c)
                Z = logits(X[test], W, b_eff[models].ravel()).reshape(len(test), n_cs, c)
                scores[f] = (np.argmax(Z, axis=2) == codes[test][:, None]).mean(axis=0)
            return scores
        scorer = get_scorer(self.scoring)
        for f, (_, test) in enumerate(folds):
            for j in range(n_cs):
                k = f * n_cs + j
                model = SoftmaxRegression()  # the fold's model, for the scorer
                model.classes_, model.n_features_in_ = self.classes_, X.shape[1]
                model._set_model(W_eff[k], b_eff[k])
                scores[f, j] = scorer(model, X[test], y[test])
        return scores

