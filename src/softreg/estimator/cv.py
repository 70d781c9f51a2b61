"""``SoftmaxRegressionCV``: every C on every fold fitted as one pack, then a refit at the best C."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    get_routing_for_object,
    process_routing,
)
from sklearn.utils.validation import (
    _check_method_params,
    _check_sample_weight,
    check_is_fitted,
)

from softreg.estimator import lbfgs, prepare
from softreg.estimator.base import F64, LinearSoftmax, check_fit_input, encode_labels
from softreg.estimator.classifier import SoftmaxRegression
from softreg.estimator.folds import (
    fold_masks,
    fold_scorer,
    grid,
    grouped,
    paths,
    splits,
    takes_sample_weight,
)
from softreg.estimator.objective import logits


class SoftmaxRegressionCV(LinearSoftmax):
    """Softmax regression choosing C by cross-validation, like ``LogisticRegressionCV``.

    All ``len(Cs) * folds`` fits share each pass over X (one pack, each model with its own
    L-BFGS memory and line search); on dense float64 X, where it pays, their products run in
    float32 first, and each fit is checked, and finished where it must be, in float64
    (:func:`softreg.estimator.prepare.minimize`'s ``rough``). C is chosen by the folds' mean
    score, then the model is refitted on all the data from the folds' mean weights at that C,
    in X's dtype.

    Args:
        Cs: a number of C values on a log grid from 1e-4 to 1e4, or the values themselves.
        cv: folds, as scikit-learn's ``check_cv`` reads it (default 5 stratified folds); a
            group splitter takes ``fit(..., groups=...)``.
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
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **params: Any) -> SoftmaxRegressionCV:
        """Cross-validate every C, choose one, refit; returns self.

        Args:
            X, y: the rows (n, d) and their labels (n,).
            sample_weight: each row's weight (n,), in the folds' fits, the refit and the
                held-out scores (as ``LogisticRegressionCV``'s; class_weight is not in the
                scores).
            **params: ``groups=`` for a group splitter (``GroupKFold``, ...); with
                scikit-learn's metadata routing enabled, whatever ``cv`` and ``scoring``
                request.

        Raises:
            ValueError: an argument that no splitter or scorer takes, or a split that cannot be
                fitted or scored (no rows, or rows of weight 0 only).
        """
        self._validate_params()  # bad parameters: refused with the model kept, as scikit-learn
        with self._fitting():  # a refused fit leaves no fitted attribute (classes_ included)
            self._forget_fit()
            self._fit(X, y, sample_weight, params)
        return self

    def _fit(self, X: Any, y: Any, sample_weight: Any, params: dict[str, Any]) -> None:
        X, y, sw = check_fit_input(self, X, y, sample_weight)
        classes, codes = encode_labels(y, type(self).__name__)
        self.classes_ = classes
        weights = prepare.row_weights(sw, self.class_weight, classes, y, codes)
        Cs = grid(self.Cs)
        split_params, score_params = self._route(y, sample_weight, params)
        folds = splits(self.cv, X, y, split_params)
        score = self._fold_scoring(X, y, codes, folds, len(Cs), score_params)
        masks = fold_masks(folds, weights, len(Cs))
        order = grouped(masks)
        prob = prepare.problem(X if order is None else X[order],
                               codes if order is None else codes[order],
                               masks if order is None else masks[:, order],
                               np.tile(Cs, len(folds)), len(classes), self.standardize,
                               scale_weights=sw if order is None else sw[order])
        res = self._minimize(prob, np.zeros((len(masks), prob.size)), rough=True)
        grid_shape = (len(folds), 1, len(Cs))  # the axis of one L1 ratio, as scikit-learn's
        self.Cs_, self.l1_ratios_, self.l1_ratio_ = Cs, np.array([0.0]), 0.0
        self.n_iter_ = res.n_iter.reshape(grid_shape).astype(np.int32)
        scores = score(prob, res.theta)
        self.scores_ = scores.reshape(grid_shape)
        self.coefs_paths_ = paths(*prob.effective(res.theta)).reshape(*grid_shape, -1,
                                                                        X.shape[1] + 1)
        fits = res.theta.reshape(len(folds), len(Cs), -1)
        refit = None
        if self.refit:  # the C of the best mean score, refitted from the folds' mean there
            best = int(np.argmax(scores.mean(axis=0)))
            self.C_ = float(Cs[best])
            prob = prepare.problem(X, codes, weights[None], np.array([self.C_]), len(classes),
                                   self.standardize, scale_weights=sw)
            refit = self._minimize(prob, fits[:, best].mean(axis=0)[None])
            theta = refit.theta
        else:  # as LogisticRegressionCV: each fold's fit at its own best C, averaged
            each = np.argmax(scores, axis=1)
            self.C_ = float(np.mean(Cs[each]))
            theta = fits[np.arange(len(folds)), each].mean(axis=0)[None]
        self._warn_stopped(res, refit, X)
        W_eff, b_eff = prob.effective(theta)
        self._set_model(W_eff[0], b_eff[0])

    def get_metadata_routing(self) -> Any:
        """Where ``fit``'s metadata goes under scikit-learn's metadata routing: to ``cv``'s
        ``split`` and to the scorer of the folds (``scoring=None``, accuracy, weighs by
        sample_weight itself, as ``LogisticRegression.score``). ``score`` takes sample_weight
        itself and gives it to the scorer."""
        router = MetadataRouter(owner=type(self).__name__).add_self_request(self).add(
            splitter=self.cv, method_mapping=MethodMapping().add(caller="fit", callee="split"))
        if self.scoring is not None:
            router.add(scorer=get_scorer(self.scoring),
                       method_mapping=MethodMapping().add(caller="fit", callee="score"))
        return router

    def _route(self, y: Any, sample_weight: Any,
               params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The splitter's keyword arguments and the scorer's (the whole rows' metadata)."""
        weighed = {} if sample_weight is None else {"sample_weight": sample_weight}
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
            return (routed.splitter.split,
                    weighed if self.scoring is None else routed.scorer.score)
        other = sorted(set(params) - {"groups"})
        if other:
            raise ValueError(
                f"SoftmaxRegressionCV.fit takes groups (for a group splitter) and no other "
                f"keyword argument, got {other}; to route others to cv and scoring, enable "
                "metadata routing: sklearn.set_config(enable_metadata_routing=True)")
        if params.get("groups") is not None and not get_routing_for_object(
                check_cv(self.cv, y, classifier=True)).consumes("split", ["groups"]):
            raise ValueError(f"groups is given but cv={self.cv!r} does not split by groups; use "
                             "a group splitter (GroupKFold, LeaveOneGroupOut, ...) or leave "
                             "groups out")
        return params, weighed

    def _fold_scoring(self, X: Any, y: Any, codes: Any, folds: list[tuple[Any, Any]],
                      n_cs: int, score_params: dict[str, Any]) -> Any:
        """``score(prob, theta)``: (n_folds, n_Cs) each fit's score on its fold's test rows;
        checked here, before any fit.

        The test rows' sample_weight (``score_params``) weighs the score, as in
        ``LogisticRegressionCV``.

        Raises:
            ValueError: a split whose test rows all weigh 0, or a scoring callable that takes
                no sample_weight while the rows have some.
        """
        sw = score_params.get("sample_weight")
        if sw is not None:
            sw = _check_sample_weight(sw, X, dtype=np.float64)
            score_params = {**score_params, "sample_weight": sw}
            for f, (_, test) in enumerate(folds):
                if not sw[test].sum() > 0:
                    raise ValueError(f"split {f}'s test rows all have sample_weight 0: there "
                                     "is nothing to score; give some of them a positive weight")
        if self.scoring in (None, "accuracy"):
            return lambda prob, theta: self._accuracy(prob, theta, folds, X, codes, n_cs, sw)
        scorer = fold_scorer(self.scoring, self.classes_)
        if sw is not None and not takes_sample_weight(scorer):
            raise ValueError(f"scoring={self.scoring!r} takes no sample_weight, and the held-out "
                             "rows are scored with their sample_weight (as in "
                             "LogisticRegressionCV); give it a sample_weight=None parameter, or "
                             "fit without sample_weight")
        fold_params = [_check_method_params(X, score_params, indices=test) for _, test in folds]

        def score(prob: Any, theta: F64) -> F64:
            W_eff, b_eff = prob.effective(theta)
            scores = np.zeros((len(folds), n_cs))
            for f, (_, test) in enumerate(folds):
                for j in range(n_cs):
                    k = f * n_cs + j
                    model = SoftmaxRegression()  # the fold's model, for the scorer
                    model.classes_, model.n_features_in_ = self.classes_, X.shape[1]
                    model._set_model(W_eff[k], b_eff[k])
                    scores[f, j] = scorer(model, X[test], y[test], **fold_params[f])
            return scores

        return score

    def _accuracy(self, prob: Any, theta: F64, folds: list[tuple[Any, Any]], X: Any,
                  codes: Any, n_cs: int, sw: F64 | None) -> F64:
        """(n_folds, n_Cs) held-out accuracy of each fit, weighed by ``sw`` (None: unweighed),
        from predict's own logits, without a scorer's checks."""
        W_eff, b_eff = prob.effective(theta)
        d, c = W_eff.shape[1], W_eff.shape[2]
        scores = np.zeros((len(folds), n_cs))
        for f, (_, test) in enumerate(folds):  # the fold's Cs side by side: one product
            models = slice(f * n_cs, (f + 1) * n_cs)
            W = W_eff[models].transpose(1, 0, 2).reshape(d, n_cs * c)
            Z = logits(X[test], W, b_eff[models].ravel()).reshape(len(test), n_cs, c)
            right = np.argmax(Z, axis=2) == codes[test][:, None]  # (test rows, n_cs)
            scores[f] = right.mean(axis=0) if sw is None else sw[test] @ right / sw[test].sum()
        return scores

    def _minimize(self, prob: Any, theta0: F64, rough: bool = False) -> lbfgs.Result:
        return prepare.minimize(prob, theta0, self.framework, self.device, tol=self.tol,
                                max_iter=self.max_iter, verbose=self.verbose, rough=rough)

    def _warn_stopped(self, res: lbfgs.Result, refit: lbfgs.Result | None, X: Any) -> None:
        """One ConvergenceWarning for the fit, of the folds' fits and the refit that ended before
        the gradient fell to tol, by the lone fit's rule and in its words: those stopped at
        max_iter are told to raise it; those that ended where no step lowered the objective
        (``lbfgs.Result.lost``: its floating-point floor at this tol, or badly scaled X) are
        told what fits that (:meth:`_floor_advice`), never to raise max_iter, which they did
        not reach."""
        def ends(r: lbfgs.Result | None) -> tuple[int, int]:  # (at max_iter, at the floor)
            if r is None:
                return 0, 0
            lost = np.zeros(len(r.converged), bool) if r.lost is None else r.lost
            return int((~r.converged & ~lost).sum()), int((~r.converged & lost).sum())

        folds, last = ends(res), ends(refit)
        fits = len(res.converged)

        def which(k: int) -> str:
            return " and ".join(([f"{folds[k]} of {fits} cross-validation fits"] if folds[k]
                                 else [])
                                + ([f"the refit at C={self.C_:.4g}"] if last[k] else []))

        said = []
        if folds[0] or last[0]:
            said.append(f"{which(0)} stopped before the gradient fell to tol={self.tol} (at "
                        f"max_iter={self.max_iter}, the iterations a fit may take); raise "
                        f"max_iter (the largest Cs converge slowest){self._scale_advice()}")
        if folds[1] or last[1]:
            said.append(f"{which(1)} ended where no step lowered the objective any further "
                        "(within its rounding, or in the line search's "
                        f"{lbfgs.MAX_BACKTRACKS} trials) before the gradient fell to "
                        f"tol={self.tol}: {self._floor_advice(X)}")
        if said:
            warnings.warn("SoftmaxRegressionCV: " + "; ".join(said), ConvergenceWarning,
                          stacklevel=4)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The ``scoring`` of the model on X, y (accuracy when it is None), as
        ``LogisticRegressionCV.score`` does, with the folds' scorer (for two classes the last is
        the positive one)."""
        if self.scoring is None:
            return float(super().score(X, y, sample_weight=sample_weight))
        check_is_fitted(self, "_W")
        scorer = fold_scorer(self.scoring, self.classes_)  # as the folds were scored: f1 of
        # two string classes takes the last as the positive one (get_scorer's pos_label=1 failed)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return float(scorer(self, X, y, **kwargs))
