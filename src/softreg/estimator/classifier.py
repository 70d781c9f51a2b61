"""``SoftmaxRegression``: multinomial logistic regression with scikit-learn's interface."""

from __future__ import annotations

import contextlib
import time
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from softreg.estimator import lbfgs, prepare, sgd
from softreg.estimator.base import F64, LinearSoftmax, check_fit_input, encode_labels

SCHEDULES = ("constant", "cosine", "step")


class SoftmaxRegression(LinearSoftmax):
    """Multinomial logistic regression fitted exactly (L-BFGS) or by minibatch SGD.

    The objective is scikit-learn's ``LogisticRegression`` one: the weighted mean cross-entropy
    plus ``||W||^2 / (2 C sum(weights))``, intercepts unpenalised; with two classes it equals the
    binary ``LogisticRegression`` at the same ``C``. Float32 input is fitted in float32.

    Args:
        C: inverse L2 strength, as in ``LogisticRegression``.
        solver: ``"lbfgs"`` (exact, deterministic) or ``"sgd"`` (minibatch, ``partial_fit``).
        max_iter: most L-BFGS iterations (lbfgs).
        tol: stop when the gradient's largest entry is at most this (lbfgs).
        class_weight: ``None``, ``"balanced"`` or a dict class -> weight.
        warm_start: start from the previous fit's weights when the classes and features match.
        random_state: the order of SGD's batches.
        verbose: print each iteration (lbfgs) or epoch (sgd).
        framework: ``"numpy"`` (dense or scipy.sparse) or ``"torch"`` (dense).
        device: ``"cpu"``, a torch device such as ``"cuda"``, or ``"auto"``: with torch, the
            GPU where torch finds one, else the CPU (NumPy: the CPU).
        standardize: fit on standardised columns (folded into the weights; X is not copied);
            ``coef_`` is always on X's own scale.
        lr, batch_size, epochs, lr_schedule: SGD's learning rate, batch size, epochs per
            ``fit`` and schedule (``constant``, ``cosine`` or ``step``, as ``softreg train``).
        early_stopping, validation_fraction, n_iter_no_change: SGD holds out that fraction of
            the rows and stops when their accuracy has not improved by ``tol`` for that many
            epochs, keeping the best epoch's weights (as ``SGDClassifier``).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "C": [Interval(Real, 0, None, closed="right")],  # inf: no penalty, as sklearn
        "solver": [StrOptions({"lbfgs", "sgd"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "framework": [StrOptions(set(prepare.FRAMEWORKS))],
        "device": [str],
        "standardize": ["boolean"],
        # the step is float64's: any positive finite rate (softreg train's float32 range and
        # its run files' 30,000 epochs are a run's limits, not the estimator's)
        "lr": [Interval(Real, 0, np.inf, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr_schedule": [StrOptions(set(SCHEDULES))],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, C: float = 1.0, *, solver: str = "lbfgs", max_iter: int = 1000,
                 tol: float = 1e-4, class_weight: Any = None, warm_start: bool = False,
                 random_state: Any = None, verbose: int = 0, framework: str = "numpy",
                 device: str = "cpu", standardize: bool = False, lr: float = 0.1,
                 batch_size: int = 256, epochs: int = 30, lr_schedule: str = "constant",
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 5):
        self.C = C
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.framework = framework
        self.device = device
        self.standardize = standardize
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegression:
        """Fit to X (n, d) and labels y (n,); returns self. A fit refused for its input leaves
        no model (nor any fitted attribute); one refused for its parameters keeps the last."""
        start = time.perf_counter()  # objective_curve_'s seconds count from here
        self._validate_params()  # bad parameters: refused with the model kept, as scikit-learn
        with self._fitting():
            warm = self._warm_model()  # before check_fit_input resets n_features_in_
            self._forget_fit()
            self._fit(X, y, sample_weight, warm, start)
        return self

    def _fit(self, X: Any, y: Any, sample_weight: Any, warm: Any, start: float) -> None:
        X, y, raw = check_fit_input(self, X, y, sample_weight)
        classes, codes = encode_labels(y, type(self).__name__)
        sw = prepare.row_weights(raw, self.class_weight, classes, y, codes)
        held = self._held_out(len(codes)) if self.solver == "sgd" else None
        if held is not None and not raw[held].sum() > 0:
            raise ValueError(f"the {int(held.sum())} rows early stopping holds out "
                             f"(validation_fraction={self.validation_fraction}) all have "
                             "sample_weight 0: there is nothing to score them by; raise "
                             "validation_fraction, change random_state, or turn early_stopping "
                             "off")
        rows = sw if held is None else np.where(held, 0.0, sw)  # held-out rows weigh 0
        prob = prepare.problem(X, codes, rows[None], np.array([float(self.C)]), len(classes),
                               self.standardize, scale_weights=raw)
        if self.solver == "sgd" and self.standardize:  # the statistics partial_fit goes on from
            self._scale_seen = sgd.Moments().plus(X, raw)
        theta0 = self._start(prob, warm, classes)
        self.classes_ = classes
        if self.solver == "lbfgs":
            theta = self._fit_lbfgs(prob, theta0, start, X)
        else:
            val = None if held is None else (X[held], codes[held], raw[held])
            theta = self._fit_sgd(prob, theta0, self.epochs, val)
        self._finish(prob, theta)

    def _sgd_only(self) -> bool:
        if self.solver != "sgd":
            raise AttributeError(f"partial_fit trains by SGD, and this estimator's solver is "
                                 f"{self.solver!r}: set solver='sgd' to train in pieces")
        return True

    @available_if(_sgd_only)
    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> SoftmaxRegression:
        """One SGD epoch over X, y; ``classes`` (all the labels there will be) on the first call.
        Only with ``solver="sgd"`` (as scikit-learn's ``MLPClassifier``: lbfgs has none).

        Each call minimises the objective of its own rows, whose penalty is
        ``||W||^2 / (2 C w)`` with ``w`` the call's rows' weight (``fit``'s is that of all the
        rows), as ``MLPClassifier.partial_fit`` scales its ``alpha`` by the batch: pieces of
        ``b`` rows of ``n`` fit as ``fit`` with ``C * b / n`` does; to fit as ``fit`` with
        ``C``, give ``C * n / b``.

        With ``standardize=True`` the columns are standardised by running statistics: those of
        every row seen so far (``fit``'s rows, then each call's, weighed by sample_weight), as
        ``StandardScaler().partial_fit`` over the stream keeps them, not by the call's rows
        alone (one row a call would centre every feature to 0: only the intercepts would
        learn). The model is kept on raw X and re-expressed in each call's statistics, so new
        statistics change no prediction; they act as the step's scaling. A model that has none
        (fitted by lbfgs, unstandardised, or loaded) starts them with the call's rows. (Kept,
        not refused: a stream read once cannot go through a StandardScaler ahead of its fit,
        and a scaler's partial_fit beside the model would change the model's predictions each
        time its statistics move.)

        A refused first call leaves no fitted attribute; a later refused call leaves the model
        as it was.

        Raises:
            ValueError: no ``classes`` on the first call, or a label outside them.
        """
        self._validate_params()
        first = not hasattr(self, "_W")  # fitted by fit, partial_fit or load: it continues
        with self._fitting() if first else contextlib.nullcontext():
            self._partial_fit(X, y, classes, sample_weight, first)
        return self

    def _partial_fit(self, X: Any, y: Any, classes: Any, sample_weight: Any,
                     first: bool) -> None:
        X, y, sw = check_fit_input(self, X, y, sample_weight, reset=first)
        if self.class_weight == "balanced":  # as SGDClassifier: a batch's counts are not the data's
            raise ValueError("class_weight='balanced' needs the whole y, which partial_fit does "
                             "not see; pass class_weight as a dict (e.g. from sklearn.utils."
                             "class_weight.compute_class_weight on all the labels)")
        if first:
            if classes is None:
                raise ValueError("partial_fit needs classes=... (every label there will be) on "
                                 "its first call")
            given = np.asarray(classes)
            if given.dtype.kind == "f" and not np.isfinite(given).all():
                raise ValueError(f"classes={given.tolist()} holds NaN or inf, which no label can "
                                 "be; give the labels y will hold")
            if given.ndim != 1 or len(np.unique(given)) < 2:
                raise ValueError(f"classes={given.tolist()} must list every label y will hold, "
                                 "at least 2 (e.g. classes=[0, 1, 2]): a classifier needs two "
                                 "classes")
            self.classes_, _ = encode_labels(given, type(self).__name__)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={np.unique(classes).tolist()} differs from the fitted "
                             f"model's classes {self.classes_.tolist()}; partial_fit continues "
                             "that model (fit anew, or leave classes out)")
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels {unknown.tolist()} that are not among the model's "
                             f"classes {self.classes_.tolist()} (given to the first partial_fit, "
                             "or fitted); a model's classes are fixed: fit anew with all of them")
        codes = np.searchsorted(self.classes_, y).astype(np.intp)
        raw = sw
        sw = prepare.row_weights(sw, self.class_weight, self.classes_, y, codes)
        prob = prepare.problem(X, codes, sw[None], np.array([float(self.C)]),
                               len(self.classes_), False)
        seen = None
        if self.standardize:  # the rows so far and this call's (kept once the call succeeds)
            seen = getattr(self, "_scale_seen", None) or sgd.Moments()
            seen = seen.plus(X, raw)
            prob = seen.scaled(prob)
        theta = (np.zeros((1, prob.size)) if first else prob.theta(self._W, self._b))
        self._finish(prob, self._fit_sgd(prob, theta, 1))
        if seen is not None:
            self._scale_seen = seen

    def _warm_model(self) -> tuple[Any, F64, F64] | None:
        """The fitted model a warm start continues from: (classes, W, b), or None."""
        if not self.warm_start or not hasattr(self, "_W"):
            return None
        return self.classes_, self._W, self._b

    def _start(self, prob: Any, warm: tuple[Any, F64, F64] | None, classes: Any) -> F64:
        """The fit's first parameters: the warm-started model's (the same classes and
        features), in this fit's scaling; else zeros."""
        if (warm is not None and np.array_equal(classes, warm[0])
                and warm[1].shape == (prob.n_features, prob.n_classes)):
            return prob.theta(warm[1], warm[2])
        return np.zeros((1, prob.size))

    def _fit_lbfgs(self, prob: Any, theta0: F64, start: float, X: Any) -> F64:
        res = prepare.minimize(prob, theta0, self.framework, self.device, tol=self.tol,
                               max_iter=self.max_iter, verbose=self.verbose, start=start)
        self.n_iter_ = res.n_iter.astype(np.int32)
        self.objective_ = float(res.f[0])
        self.objective_curve_ = np.array(res.trace)
        if res.lost is not None and res.lost[0]:
            warnings.warn(
                "SoftmaxRegression: L-BFGS could not lower the objective any further (within "
                "its rounding, or in the line search's "
                f"{lbfgs.MAX_BACKTRACKS} trials) before the gradient fell to tol={self.tol}: "
                + self._floor_advice(X), ConvergenceWarning, stacklevel=4)
        elif not res.converged[0]:
            warnings.warn(
                f"SoftmaxRegression: L-BFGS stopped at max_iter={self.max_iter} before the "
                f"gradient fell to tol={self.tol}; raise max_iter{self._scale_advice()}",
                ConvergenceWarning, stacklevel=4)
        return res.theta

    def _held_out(self, n: int) -> Any:
        """Early stopping's validation rows (a mask), drawn from random_state; None: none."""
        if not self.early_stopping:
            return None
        rng = check_random_state(self.random_state)
        held = np.zeros(n, bool)
        held[rng.permutation(n)[: max(1, round(self.validation_fraction * n))]] = True
        if held.all():
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves no rows to "
                             f"train on among {n}; lower it or turn early_stopping off")
        return held

    def _fit_sgd(self, prob: Any, theta: F64, epochs: int, val: Any = None) -> F64:
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        done = int(getattr(self, "_epochs_done", 0)) if epochs == 1 else 0
        curve: list[float] = []
        stop = sgd.EarlyStop(self.n_iter_no_change, self.tol) if val is not None else None
        for e in range(epochs):
            lr = sgd.learning_rate(self.lr, self.lr_schedule, self.epochs, (done + e) % self.epochs
                                   if epochs == 1 else e)
            theta, f = sgd.epoch(prob, theta, lr=lr, batch_size=self.batch_size, rng=rng,
                                 framework=self.framework, device=self.device)
            curve.append(f)
            if self.verbose:
                print(f"sgd epoch {e + 1}: lr {lr:.4g}, mean batch objective {f:.6g}")
            if stop is not None and stop.done(prob, theta, *val):
                break
        if stop is not None and stop.best is not None:  # the best epoch's, also when the
            theta = stop.best  # epochs ran out before the patience did
        self._epochs_done = done + epochs
        self.n_iter_ = np.array([len(curve)], np.int32)
        self.objective_curve_ = np.array(curve)
        return theta

    def _finish(self, prob: Any, theta: F64) -> None:
        W_eff, b_eff = prob.effective(theta)
        self._set_model(W_eff[0], b_eff[0])
