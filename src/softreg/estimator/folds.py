"""The folds of a cross-validation, for :class:`~softreg.estimator.cv.SoftmaxRegressionCV`:
the splits, each fit's row weights, the rows' order that keeps a fold's rows together, the
grid of C, and the scorer that scores a fold's fits as ``LogisticRegressionCV`` does."""

from __future__ import annotations

import inspect
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.metrics import get_scorer, make_scorer
from sklearn.model_selection import check_cv

from softreg.estimator.base import F64, sklearn_rows
from softreg.estimator.objective import MAX_BLOCKS


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


def grid(Cs: Any) -> F64:
    """The C values to try: ``Cs`` of them from 1e-4 to 1e4, or ``Cs`` themselves.

    Raises:
        ValueError: none, or one that is not positive (NaN included; inf, no penalty, is a C).
    """
    values = (np.logspace(-4, 4, Cs) if isinstance(Cs, Integral)
              else np.asarray(Cs, dtype=np.float64).ravel())
    if values.size == 0 or not np.all(values > 0):
        raise ValueError(f"Cs must be positive values or a count of them, got {Cs!r}")
    return values


def splits(cv: Any, X: Any, y: Any, split_params: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The (train, test) row indices of each split of ``cv``; boolean masks become indices.

    Raises:
        ValueError: no splits, or a split with no training or no test rows.
    """
    rows = np.arange(X.shape[0])
    folds = []
    for f, split in enumerate(check_cv(cv, y, classifier=True).split(X, y, **split_params)):
        train, test = (rows[np.asarray(s)] if np.size(s) else rows[:0] for s in split)
        if not len(train):
            raise ValueError(f"cv gave split {f} no training rows; every split needs rows to "
                             "fit on")
        if not len(test):
            raise ValueError(f"cv gave split {f} no test rows; every split needs rows to score "
                             "its fits on")
        folds.append((train, test))
    if not folds:
        raise ValueError(f"cv={cv!r} gave no splits; give a number of folds, a splitter such as "
                         "StratifiedKFold, or a list of (train, test) index pairs (a generator "
                         "is used up by one fit)")
    return folds


def fold_masks(folds: list[tuple[Any, Any]], weights: F64, n_cs: int) -> F64:
    """(folds * n_cs, rows) each model's row weights: a row's weight times the number of
    times its split lists it for training (the fit on ``X[train]``, as scikit-learn's), so 0
    off the training rows.

    Raises:
        ValueError: a split's training rows all weigh 0.
    """
    masks = np.zeros((len(folds) * n_cs, len(weights)))  # model (fold, C) per row
    for f, (train, _) in enumerate(folds):
        masks[f * n_cs:(f + 1) * n_cs] = np.bincount(train, minlength=len(weights)) * weights
        if not masks[f * n_cs].sum() > 0:
            raise ValueError(f"split {f}'s training rows all weigh 0 (sample_weight times "
                             "class_weight); give some of them a positive weight")
    return masks


def fold_scorer(scoring: Any, classes: Any) -> Any:
    """The scorer of the held-out folds: ``scoring``'s, told every class (``labels``, for a
    fold that lacks one) and, for two classes, the last as the positive one (``pos_label``),
    as ``LogisticRegressionCV`` tells them; the scorer's own arguments are kept.

    (``LogisticRegressionCV`` tells ``pos_label`` only to a score function that also takes
    ``labels``: ``average_precision`` then fails on string labels. Here any that takes it.)
    """
    scorer = get_scorer(scoring)
    func = getattr(scorer, "_score_func", None)
    takes = inspect.signature(func).parameters if func is not None else {}
    told = {"labels": classes} if "labels" in takes else {}
    if len(classes) == 2 and "pos_label" in takes:
        told["pos_label"] = classes[-1]
    if not told or told.keys() <= scorer._kwargs.keys():  # nothing to tell, or told already
        return scorer
    return make_scorer(func, greater_is_better=scorer._sign > 0,
                       response_method=scorer._response_method, **{**told, **scorer._kwargs})


def takes_sample_weight(scorer: Any) -> bool:
    """Whether the scorer (its score function, for a scikit-learn scorer) takes sample_weight."""
    try:
        params = inspect.signature(getattr(scorer, "_score_func", scorer)).parameters
    except (TypeError, ValueError):  # no signature to read: let the call tell
        return True
    return "sample_weight" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
