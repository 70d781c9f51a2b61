"""softreg.SoftmaxRegression against scikit-learn's LogisticRegression, side by side in one run.

Sections (``--only`` picks some): ``fmnist`` (C=1 lbfgs fit: time to reach scikit-learn's final
objective, evaluations and iterations of both, test accuracy, each evaluation's cost against its
floor), ``passes`` (evaluations to scikit-learn's objective in the model's own coordinates and
in the centred ones: deterministic counts, whatever the machine's load), ``digits`` and ``sparse``
(a hashed text-like set) against LogisticRegression's solvers, ``cv`` (SoftmaxRegressionCV
against LogisticRegressionCV, Cs=10, cv=5: iris, wine and breast cancer standardised, digits,
a Fashion-MNIST subset) and ``memory`` (peak memory of a Fashion-MNIST fit
from float32 input, each fit in a fresh process). Every figure is measured in this run; the
ratios compare runs taken in alternation on the same machine. ``--quick`` uses subsets (sizes
printed) so that the whole benchmark takes a few minutes; without it the scikit-learn
Fashion-MNIST fit alone takes minutes.

    python benchmarks/bench_sklearn.py --quick
    python benchmarks/bench_sklearn.py --only fmnist,memory
    python benchmarks/bench_sklearn.py --only gpu        # CUDA rows (benchmarks/gpu_check.sh)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from _record import record
from scipy.special import logsumexp

warnings.filterwarnings("ignore", category=FutureWarning)


def fashion(n_train: int | None) -> tuple[Any, Any, Any, Any]:
    from softreg.data import load_fashion_mnist

    xtr, ytr = load_fashion_mnist("train", offline=True)
    xte, yte = load_fashion_mnist("test", offline=True)
    n = len(ytr) if n_train is None else n_train

    def scale(x: Any) -> Any:
        return (x.reshape(len(x), -1) / np.float32(255)).astype(np.float32)

    return scale(xtr[:n]), ytr[:n].astype(np.int64), scale(xte), yte.astype(np.int64)


def objective(X: Any, y: Any, coef: Any, intercept: Any, C: float) -> float:
    """LogisticRegression's multinomial objective in float64, rows in chunks (no copy of X)."""
    coef, intercept = np.atleast_2d(coef).astype(np.float64), np.ravel(intercept)
    if coef.shape[0] == 1:  # binary: the logistic objective
        coef, intercept = np.vstack([0 * coef[0], coef[0]]), np.array([0.0, intercept[0]])
        penalty = 0.5 * float(np.sum(coef[1] ** 2))
    else:
        penalty = 0.5 * float(np.sum(coef**2))
    total = 0.0
    for s in range(0, X.shape[0], 8192):
        Z = np.asarray(X[s:s + 8192] @ coef.T, dtype=np.float64) + intercept
        total += float(np.sum(logsumexp(Z, axis=1) - Z[np.arange(len(Z)), y[s:s + 8192]]))
    n = X.shape[0]
    return total / n + penalty / (C * n)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median_time(fn: Callable[[], Any], rounds: int = 5) -> float:
    fn()
    return float(np.median([timed(fn)[0] for _ in range(rounds)]))


def reach(model: Any, target: float) -> float | None:
    """Seconds into the fit at which the objective first fell to ``target`` (None: never)."""
    for seconds, f in model.objective_curve_:
        if f <= target * (1 + 1e-9):
            return float(seconds)
    return None


def fmnist(args: argparse.Namespace) -> None:
    from sklearn.linear_model import LogisticRegression

    from softreg.estimator import SoftmaxRegression, prepare

    X, y, Xte, yte = fashion(args.n_fmnist)
    print(f"\n== Fashion-MNIST lbfgs, C=1: {X.shape[0]} x {X.shape[1]} float32, 10 classes ==")
    ours: dict[str, list[Any]] = {"numpy": [], "torch": []}

    evals: dict[str, int] = {}
    reached: dict[str, int | None] = {}

    def run_ours(target: float = -np.inf) -> None:
        for fw in ours:
            with counting(target) as made:
                t, m = timed(lambda fw=fw: SoftmaxRegression(C=1.0, framework=fw, tol=1e-5,
                                                           max_iter=2000).fit(X, y))
            ours[fw].append((t, m))
            evals[fw], reached[fw] = made[-1].n, made[-1].reached

    run_ours()
    with sklearn_evaluations() as sk_runs:
        t_sk, sk = timed(lambda: LogisticRegression(C=1.0, max_iter=1000).fit(X, y))
    f_sk = objective(X, y, sk.coef_, sk.intercept_, 1.0)
    run_ours(f_sk)
    acc_sk = sk.score(Xte, yte)
    sk_evals, sk_iters = sk_runs[-1]
    print(f"scikit-learn lbfgs: {t_sk:.1f} s, {sk_evals} evaluations, {sk_iters} iterations, "
          f"objective {f_sk:.6f}, test accuracy {acc_sk:.4f}")
    for fw, runs in ours.items():
        t_reach = np.median([reach(m, f_sk) or np.nan for _, m in runs])
        t_fit = np.median([t for t, _ in runs])
        m = runs[-1][1]
        f = objective(X, y, m.coef_, m.intercept_, 1.0)
        print(f"softreg {fw:5s}: reaches it in {t_reach:.1f} s ({t_sk / t_reach:.1f}x faster) "
              f"after {reached[fw]} evaluations; full fit {t_fit:.1f} s, {evals[fw]} "
              f"evaluations, {int(m.n_iter_[0])} iterations, objective {f:.6f}, "
              f"test accuracy {m.score(Xte, yte):.4f} ({m.score(Xte, yte) - acc_sk:+.4f})")
        record(f"SoftmaxRegression {fw} vs LogisticRegression lbfgs, Fashion-MNIST "
               f"{X.shape[0]} (time to its objective)", t_sk / t_reach,
               target=5.0 if fw == "torch" else None)
    prob = prepare.problem(X, y.astype(np.intp), np.ones((1, len(y))), np.array([1.0]), 10,
                           False)
    last = ours["numpy"][-1][1]
    theta = prob.theta(last._W, last._b)  # (1, p): the fitted model in the problem's terms
    W = np.ascontiguousarray(theta[0, : 784 * 10].reshape(784, 10), np.float32)
    G = np.ones((len(y), 10), np.float32)
    floor = median_time(lambda: X @ W) + median_time(lambda: X.T @ G)
    read = median_time(lambda: X.max())
    for fw in ours:
        fun = prepare.objective(prob, fw, "cpu")
        cost = median_time(lambda fun=fun: fun(theta, np.array([0])))
        print(f"evaluation {fw:5s}: {cost * 1e3:.1f} ms; floor (X@W + X.T@G, numpy float32) "
              f"{floor * 1e3:.1f} ms, one read of X {read * 1e3:.1f} ms: {cost / floor:.2f}x "
              "the floor")


class TargetReachedError(Exception):
    """Raised by a :class:`Counted` objective with ``stop`` once the target is reached."""


class Counted:
    """An objective that counts its evaluations (each one pass over X for every model still
    running) and notes the first at which model 0's objective fell to ``target`` (with
    ``stop``: ends the fit there, raising :class:`TargetReachedError`)."""

    def __init__(self, fun: Any, target: float = -np.inf, stop: bool = False) -> None:
        self.fun, self.target, self.n, self.reached, self.stop = fun, target, 0, None, stop
        self.models = 0  # evaluations of one model: a pack's evaluation counts its models
        self.seconds = 0.0  # spent in the evaluations

    def __call__(self, theta: Any, idx: Any, *out: Any) -> Any:
        start = time.perf_counter()
        f, g = self.fun(theta, idx, *out)
        self.seconds += time.perf_counter() - start
        self.n += 1
        self.models += len(idx)
        if self.reached is None and idx[0] == 0 and f[0] <= self.target * (1 + 1e-9):
            self.reached = self.n
            if self.stop:
                raise TargetReachedError
        return f, g


def counting(target: float = -np.inf) -> Any:
    """A context in which every softreg fit's objective is :class:`Counted`; yields the list
    of the objectives made (one per L-BFGS run: a CV fit makes two, the pack and the refit)."""
    import contextlib
    from unittest import mock

    from softreg.estimator import prepare

    made: list[Counted] = []
    original = prepare.objective

    def objective(*a: Any, **kw: Any) -> Counted:
        made.append(Counted(original(*a, **kw), target))
        return made[-1]

    @contextlib.contextmanager
    def patched() -> Any:
        with mock.patch.object(prepare, "objective", objective):
            yield made

    return patched()


def sklearn_evaluations() -> Any:
    """A context that records scipy's L-BFGS-B evaluations and iterations of each
    scikit-learn fit run inside it (LogisticRegression calls scipy.optimize.minimize)."""
    import contextlib
    from unittest import mock

    import scipy.optimize

    runs: list[tuple[int, int]] = []
    original = scipy.optimize.minimize

    def minimize(*a: Any, **kw: Any) -> Any:
        res = original(*a, **kw)
        runs.append((int(res.nfev), int(res.nit)))
        return res

    @contextlib.contextmanager
    def patched() -> Any:
        with mock.patch.object(scipy.optimize, "minimize", minimize):
            yield runs

    return patched()


def passes(args: argparse.Namespace) -> None:
    """Evaluations (passes over X) to reach scikit-learn's objective: deterministic counts,
    softreg's earlier L-BFGS (the model's own coordinates, 10 pairs), each change alone, and
    the solver now (centred, 30 pairs)."""
    import contextlib
    from unittest import mock

    from softreg.estimator import prepare

    X, y, _, _ = fashion(args.n_fmnist)
    target = args.target if args.n_fmnist is None else None
    print(f"\n== evaluations to scikit-learn's objective, Fashion-MNIST C=1 ({X.shape[0]} rows), "
          "torch ==")
    if target is None:
        from sklearn.linear_model import LogisticRegression

        with sklearn_evaluations() as runs:
            sk = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
        target = objective(X, y, sk.coef_, sk.intercept_, 1.0)
        print(f"scikit-learn lbfgs: {runs[-1][0]} evaluations, {runs[-1][1]} iterations, "
              f"objective {target:.8f}")
    else:
        print(f"target: {target} (scikit-learn's final objective on the full set: 640 "
              "iterations; --n-fmnist N measures it on a subset)")
    prob = prepare.problem(X, y.astype(np.intp), np.ones((1, len(y))), np.array([1.0]), 10,
                           False)
    fun = prepare.objective(prob, "torch", "cpu")
    for label, centre, memory in (("earlier: own coordinates, 10 pairs", False, 10),
                                  ("own coordinates, 30 pairs", False, 30),
                                  ("centred, 10 pairs", True, 10),
                                  ("now: centred, 30 pairs", True, None)):
        counted = Counted(fun, target, stop=True)
        with mock.patch.object(prepare, "objective", lambda *a, c=counted: c), \
                contextlib.suppress(TargetReachedError):
            prepare.minimize(prob, np.zeros((1, prob.size)), "torch", "cpu", tol=1e-5,
                             max_iter=2000, centre=centre, memory=memory)
        print(f"softreg {label:35s}: reaches it after {counted.reached} evaluations")
    passes_sparse_and_cv()


def passes_sparse_and_cv() -> None:
    """The same comparison, earlier solver against now, to the fit's own end: the quick sparse
    set (tol 1e-6, the optimum is the same) and SoftmaxRegressionCV on digits."""
    import functools
    from unittest import mock

    from sklearn.datasets import load_digits

    from softreg.estimator import SoftmaxRegressionCV, prepare

    X, y = text_like(20000, 2**16, 100, 20)
    print(f"\n== evaluations to the end of the fit (tol 1e-6): sparse {X.shape[0]} x "
          f"{X.shape[1]}, {X.nnz / X.shape[0]:.0f} non-zeros a row, 20 classes, numpy ==")
    prob = prepare.problem(X, y.astype(np.intp), np.ones((1, len(y))), np.array([1.0]), 20,
                           False)
    for label, centre, memory in (("earlier: own coordinates, 10 pairs", False, 10),
                                  ("now: centred", True, None)):
        res = prepare.minimize(prob, np.zeros((1, prob.size)), "numpy", "cpu", tol=1e-6,
                               max_iter=3000, centre=centre, memory=memory)
        print(f"softreg {label:35s}: {res.n_evals} evaluations, {int(res.n_iter[0])} "
              f"iterations, objective {res.f[0]:.8f}")
    Xd, yd = load_digits(return_X_y=True)
    print("\n== SoftmaxRegressionCV(Cs=10, cv=5) on digits / 16, numpy: evaluations ==")
    original = prepare.minimize
    for label, centre, memory in (("earlier: own coordinates, 10 pairs", False, 10),
                                  ("now: centred", True, None)):
        earlier = functools.partial(original, centre=centre, memory=memory)
        with mock.patch.object(prepare, "minimize", earlier), counting() as made, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = SoftmaxRegressionCV(Cs=10, cv=5).fit(Xd / 16.0, yd)
        print(f"softreg {label:35s}: {made[0].n} evaluations of the pack of 50, "
              f"{made[-1].n} of the refit, C_ {m.C_:.4g}")


def digits(args: argparse.Namespace) -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    compare("digits (1797 x 64, pixels/16, float64)", X / 16.0, y, C=1.0,
            solvers=("lbfgs", "newton-cg", "newton-cholesky"), rounds=3)


def sparse(args: argparse.Namespace) -> None:
    X, y = text_like(*args.sparse)
    compare(f"sparse text-like ({X.shape[0]} x {X.shape[1]}, {X.nnz / X.shape[0]:.0f} non-zeros "
            f"a row, {int(y.max()) + 1} classes, float32 CSR)", X, y, C=1.0,
            solvers=("lbfgs", "saga"), rounds=1)


def text_like(n: int, d: int, nnz: int, c: int) -> tuple[Any, Any]:
    """A synthetic hashed bag of words: n rows, d columns, about nnz non-zeros a row."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    y = rng.integers(0, c, n)
    # each class prefers its own 2,000 hashed "words"; the rest of a row is common words
    topical = rng.integers(0, 2000, (n, nnz // 4)) + (y[:, None] * 7919) % (d - 2000)
    common = rng.zipf(1.3, (n, nnz - nnz // 4)) % d
    cols = np.concatenate([topical, common], axis=1)
    rows = np.repeat(np.arange(n), nnz)
    X = sp.csr_matrix((np.ones(n * nnz, np.float32), (rows, cols.ravel())), shape=(n, d))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    return X, y


def compare(title: str, X: Any, y: Any, C: float, solvers: tuple[str, ...],
            rounds: int) -> None:
    from sklearn.linear_model import LogisticRegression

    from softreg.estimator import SoftmaxRegression

    print(f"\n== {title}, C={C} ==")
    # softreg's fits first, their traces compared once scikit-learn's objectives are known: each
    # fit then starts right after the previous one freed its memory. A fit that starts after a
    # pause pays for fresh memory, which this VM makes slow to touch (several ms a MB); after
    # the minute or two of saga the 100,000-row sparse fit took 12-14 s against 6-8 s.
    runs = [timed(lambda: SoftmaxRegression(C=C, tol=1e-6, max_iter=3000).fit(X, y))
            for _ in range(rounds)]
    best: tuple[float, str, float] | None = None
    for solver in solvers:
        t, sk = timed(lambda s=solver: LogisticRegression(C=C, solver=s, max_iter=1000).fit(X, y))
        f = objective(X, y, sk.coef_, sk.intercept_, C)
        print(f"scikit-learn {solver:15s}: {t:.2f} s, objective {f:.6f}, "
              f"{int(np.max(sk.n_iter_))} iterations")
        if best is None or t < best[0]:
            best = (t, solver, f)
    assert best is not None
    t_sk, name, f_sk = best
    for t, m in runs:
        t_reach = reach(m, f_sk)
        f = objective(X, y, m.coef_, m.intercept_, C)
        shown = "never" if t_reach is None else f"{t_reach:.2f} s ({t_sk / t_reach:.1f}x faster)"
        print(f"softreg numpy: reaches {name}'s objective in {shown}; full fit {t:.2f} s, "
              f"objective {f:.6f}, {int(m.n_iter_[0])} iterations")
        if t_reach is not None:
            record(f"SoftmaxRegression vs LogisticRegression {name}, {title.split(' (')[0]} "
                   "(time to its objective)", t_sk / t_reach)


def cv(args: argparse.Namespace) -> None:
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    from softreg.estimator import SoftmaxRegressionCV, kernels

    Xd, yd = load_digits(return_X_y=True)
    X, y, _, _ = fashion(args.n_cv)
    first_fit()
    # the small tables that LogisticRegressionCV is most often run on, standardised as
    # scikit-learn advises: no target of the issue, reported beside the two that have one
    small = []
    for name, load in (("iris", load_iris), ("wine", load_wine),
                       ("breast cancer", load_breast_cancer)):
        Xs, ys = load(return_X_y=True)
        small.append((name, StandardScaler().fit_transform(Xs), ys, 5, None))
    # small sets' fits take a fraction of a second: the median of 5 runs of each, after one
    # untimed run of each (first calls' imports); Fashion-MNIST's: one run of each
    for title, A, b, rounds, target in (*small, ("digits", Xd / 16.0, yd, 5, 10.0),
                                        (f"Fashion-MNIST {len(y)}", X, y, 1, 10.0)):
        print(f"\n== CV, Cs=10, cv=5: {title} ({A.shape[0]} x {A.shape[1]}), "
              f"{'median of ' + str(rounds) + ' runs' if rounds > 1 else 'one run'} ==")

        def runs(fit: Callable[[], Any], rounds: int = rounds) -> tuple[float, Any]:
            if rounds == 1:
                return timed(fit)
            fit()
            times, outs = zip(*(timed(fit) for _ in range(rounds)), strict=True)
            return float(np.median(times)), outs[-1]

        with sklearn_evaluations() as sk_runs:
            t_sk, sk = runs(lambda A=A, b=b: LogisticRegressionCV(
                Cs=10, cv=5, l1_ratios=(0.0,), scoring="accuracy",
                use_legacy_attributes=False).fit(A, b))
        c_sk = float(np.ravel(sk.C_)[0])
        print(f"scikit-learn LogisticRegressionCV: {t_sk:.2f} s, C_ {c_sk:.4g}; "
              f"{sum(e for e, _ in sk_runs) // (1 + rounds if rounds > 1 else 1)} evaluations "
              f"of one model each over {len(sk_runs) // (1 + rounds if rounds > 1 else 1)} fits")
        # NumPy with the numba kernels where they are installed (softreg[fast]), NumPy alone,
        # and torch
        variants = [("numpy", "numpy", True)] if kernels.enabled() else []
        for label, fw, on in (*variants, ("numpy, no numba", "numpy", False),
                              ("torch", "torch", False)):
            if fw == "torch":
                import torch  # noqa: F401  (its import, about 1 s, is not the fit's)
            with warnings.catch_warnings(), counting() as made, numba_switch(on):
                warnings.simplefilter("ignore")
                t, m = runs(lambda A=A, b=b, fw=fw: SoftmaxRegressionCV(
                    Cs=10, cv=5, framework=fw).fit(A, b))
            same = np.isclose(m.C_, c_sk)
            print(f"softreg SoftmaxRegressionCV {label}: {t:.2f} s ({t_sk / t:.1f}x faster), "
                  f"C_ {m.C_:.4g} ({'same' if same else 'DIFFERENT'}); evaluations: "
                  f"{made[0].n} of the pack of {m.n_iter_.size} (most iterations of one "
                  f"member {int(m.n_iter_.max())}), {made[-1].n} of the refit")
            record(f"SoftmaxRegressionCV {label} vs LogisticRegressionCV, {title}", t_sk / t,
                   target=target)
            if fw == "numpy" and on == kernels.enabled() and title == "digits":
                cv_floor(A, b, made[0].models, t_sk / 10)
                fit_parts(lambda A=A, b=b: SoftmaxRegressionCV(Cs=10, cv=5).fit(A, b))


@contextlib.contextmanager
def numba_switch(on: bool) -> Iterator[None]:
    """softreg's numba kernels on (where installed) or off, for the ``with`` block."""
    before = os.environ.get("SOFTREG_NUMBA")
    os.environ["SOFTREG_NUMBA"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOFTREG_NUMBA"]
        else:
            os.environ["SOFTREG_NUMBA"] = before


def first_fit() -> None:
    """The first CV fit on digits in a fresh process, numba's kernels on and off: what the
    kernels' start costs (numba's import, their load from its cache) beside the fit itself."""
    code = ("import time, warnings; from sklearn.datasets import load_digits; "
            "from softreg.estimator import SoftmaxRegressionCV; "
            "X, y = load_digits(return_X_y=True); warnings.simplefilter('ignore'); "
            "t = time.perf_counter(); SoftmaxRegressionCV(Cs=10, cv=5).fit(X / 16, y); "
            "print(time.perf_counter() - t)")
    took = {}
    for on in (True, False):
        with numba_switch(on):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, env=dict(os.environ))
        took[on] = float(out.stdout.split()[-1])
    print(f"the first CV fit on digits in a fresh process: {took[True]:.2f} s with numba's "
          f"kernels (their start: numba's import, and their load from its cache or their "
          f"compilation), {took[False]:.2f} s without")


def cv_floor(X: Any, y: Any, model_evals: int, budget: float) -> None:
    """What one evaluation of a CV pack (every C on every fold, 5 folds, 10 Cs) costs against
    its two products and its exp alone, at the blocks' shapes (outputs into arrays made once,
    as the objective's are), and what the fit's ``model_evals`` evaluations of one model take
    at those costs against ``budget`` (the target's share of scikit-learn's time). The pack is
    the one the fit's first phase evaluates: float32 products, logits class-major
    (softreg.estimator.pack)."""
    from sklearn.model_selection import check_cv

    from softreg.estimator import prepare
    from softreg.estimator.folds import grouped

    Cs = np.logspace(-4, 4, 10)
    folds = list(check_cv(5, y, classifier=True).split(X, y))
    masks = np.zeros((len(folds) * len(Cs), len(y)))
    for f, (train, _) in enumerate(folds):
        masks[f * len(Cs):(f + 1) * len(Cs), train] = 1.0
    order = grouped(masks)
    prob = prepare.problem(X[order], y[order].astype(np.intp), masks[:, order],
                           np.tile(Cs, len(folds)), 10, False)
    fun = prepare.objective(prob, "numpy", "cpu", rough=True)
    rng = np.random.default_rng(0)
    K = len(masks)
    theta, every = rng.normal(0, 0.3, (K, prob.size)), np.arange(K)
    evaluation = median_time(lambda: fun(theta, every), rounds=50)
    blocks = [fun.Xa[b.start:b.stop] for b in fun.plan(every)]
    width = (K - len(Cs)) * 10  # a block's models x classes
    W = rng.normal(size=(width, fun.Xa.shape[1])).astype(np.float32)
    G = [rng.normal(size=(width, len(x))).astype(np.float32) for x in blocks]
    Z = [np.empty((width, len(x)), np.float32) for x in blocks]
    gW = [np.empty((width, fun.Xa.shape[1]), np.float32) for _ in blocks]
    products = median_time(lambda: [(np.matmul(W, x.T, out=z), np.matmul(g, x, out=o))
                                    for x, g, z, o in zip(blocks, G, Z, gW, strict=True)],
                           rounds=50)
    shifted = [g - 5.0 for g in G]
    exp = median_time(lambda: [np.exp(e, out=z) for e, z in zip(shifted, Z, strict=True)],
                      rounds=50)
    logits = sum(len(x) for x in blocks) * width
    print(f"one evaluation of the {K} models (float32 products, class-major): "
          f"{evaluation * 1e3:.2f} ms; its two products alone {products * 1e3:.2f} ms, exp "
          f"alone {exp * 1e3:.2f} ms; beyond the products "
          f"{(evaluation - products) / logits * 1e9:.1f} ns a logit ({logits} logits)")
    per_model = model_evals / K
    print(f"the fit's {model_evals} evaluations of one model at these costs: all "
          f"{evaluation * per_model * 1e3:.0f} ms, products {products * per_model * 1e3:.0f} ms, "
          f"exp {exp * per_model * 1e3:.0f} ms; 10x scikit-learn allows {budget * 1e3:.0f} ms")


def fit_parts(fit: Callable[[], Any], rounds: int = 5) -> None:
    """Where a fit's time goes: each L-BFGS run's evaluations and own work (directions, line
    searches, the change of coordinates): the folds' pack, and the refit; and the rest
    (set-up, the float64 check of the pack's first phase, scoring); the fit with the median
    time of ``rounds``."""
    from unittest import mock

    from softreg.estimator import prepare

    original = prepare.lbfgs.minimize
    runs = []
    for _ in range(rounds):
        solver: list[float] = []

        def minimize(*a: Any, solver: list[float] = solver, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                solver.append(time.perf_counter() - start)

        with counting() as made, mock.patch.object(prepare.lbfgs, "minimize", minimize), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total, _ = timed(fit)
        runs.append((total, [c.seconds for c in made], solver))
    total, evals, solver = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    names = ["the pack"] + ["the pack's float64 rest"] * (len(solver) - 2) + ["the refit"]
    parts = "; ".join(f"{name} {s * 1e3:.0f} ms (evaluations {e * 1e3:.0f}, L-BFGS "
                      f"{(s - e) * 1e3:.0f})"
                      for name, s, e in zip(names, solver, evals, strict=True))
    print(f"a fit in parts (median of {rounds}): {total * 1e3:.0f} ms; {parts}; the set-up, "
          f"the float64 check and scoring {(total - sum(solver)) * 1e3:.0f} ms")


def gpu(args: argparse.Namespace) -> None:
    """CUDA rows (benchmarks/gpu_check.sh): the full fit on the GPU, against a target objective."""
    from softreg.estimator import SoftmaxRegression

    X, y, Xte, yte = fashion(args.n_fmnist)
    print(f"\n== Fashion-MNIST lbfgs on {args.device}, C=1: {X.shape[0]} x {X.shape[1]}; target "
          f"objective {args.target} (scikit-learn's final one) ==")
    for run in ("first (includes CUDA start-up)", "second"):
        with counting(args.target) as made:
            t, m = timed(lambda: SoftmaxRegression(C=1.0, framework="torch", device=args.device,
                                                   tol=1e-5, max_iter=2000).fit(X, y))
        t_reach = reach(m, args.target)
        shown = "never" if t_reach is None else f"{t_reach:.2f} s"
        print(f"{run}: reaches the target in {shown} (after {made[-1].reached} evaluations); "
              f"full fit {t:.2f} s, {made[-1].n} evaluations, {int(m.n_iter_[0])} iterations, "
              f"objective {objective(X, y, m.coef_, m.intercept_, 1.0):.6f}, test accuracy "
              f"{m.score(Xte, yte):.4f}")
    gpu_cv(args, X, y)


def gpu_cv(args: argparse.Namespace, X: Any, y: Any) -> None:
    """CV packs on the GPU: digits beside LogisticRegressionCV (on this machine's CPU), and
    10,000 Fashion-MNIST rows (scikit-learn's side there takes minutes: not run here)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegressionCV

    from softreg.estimator import SoftmaxRegressionCV

    Xd, yd = load_digits(return_X_y=True)
    sets = (("digits", Xd / 16.0, yd, 5), ("Fashion-MNIST 10000", X[:10000], y[:10000], 1))
    for title, A, b, rounds in sets:
        def fit(A: Any = A, b: Any = b) -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return SoftmaxRegressionCV(Cs=10, cv=5, framework="torch",
                                           device=args.device).fit(A, b)

        fit()  # the first run's kernels and allocations are not the fit's
        times, fits = zip(*(timed(fit) for _ in range(rounds)), strict=True)
        t, m = float(np.median(times)), fits[-1]
        line = (f"\n== CV on {args.device}, Cs=10, cv=5: {title} ({A.shape[0]} x {A.shape[1]}) "
                f"==\nsoftreg SoftmaxRegressionCV torch on {args.device}: {t:.2f} s "
                f"({'median of ' + str(rounds) if rounds > 1 else 'one run'}), C_ {m.C_:.4g}")
        if title == "digits":
            t_sk, sk = timed(lambda A=A, b=b: LogisticRegressionCV(
                Cs=10, cv=5, l1_ratios=(0.0,), scoring="accuracy",
                use_legacy_attributes=False).fit(A, b))
            c_sk = float(np.ravel(sk.C_)[0])
            line += (f" ({'same' if np.isclose(m.C_, c_sk) else 'DIFFERENT'} C_); scikit-learn "
                     f"LogisticRegressionCV on this CPU: {t_sk:.2f} s, one run "
                     f"({t_sk / t:.1f}x)")
        print(line)


def memory_child(which: str, n: int | None) -> None:
    from sklearn.linear_model import LogisticRegression

    from softreg.estimator import SoftmaxRegression

    if which == "torch":
        import torch  # noqa: F401  (the libraries' own memory is not the fit's)
    X, y, _, _ = fashion(n)

    def fit(rows: int | None = None) -> None:
        A, b = (X, y) if rows is None else (X[:rows], y[:rows])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if which == "sklearn":
                LogisticRegression(C=1.0, max_iter=50).fit(A, b)
            else:
                SoftmaxRegression(C=1.0, max_iter=50, framework=which).fit(A, b)

    fit(200)  # a small fit first: the modules either side imports on first use are not the fit's
    # Linux: reset the peak-RSS mark, so that loading the data's temporaries do not count
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _rss("VmRSS")
    fit()
    peak = _rss("VmHWM")
    print(json.dumps({"input": X.nbytes, "extra": peak - base}))


def _rss(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def memory(args: argparse.Namespace) -> None:
    print("\n== peak memory of a Fashion-MNIST fit from float32 input (50 iterations, fresh "
          "process each, after a 200-row fit that loads the modules either side imports on "
          "first use; peak RSS beyond the RSS with the data loaded, Linux) ==")
    for which in ("sklearn", "numpy", "torch"):
        cmd = [sys.executable, __file__, "--memory-child", which]
        if args.n_fmnist:
            cmd += ["--n-fmnist", str(args.n_fmnist)]
        out = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                        check=True).stdout.strip().splitlines()[-1])
        print(f"{which:8s}: input {out['input'] / 2**20:.0f} MiB, peak beyond it "
              f"{out['extra'] / 2**20:.0f} MiB ({100 * out['extra'] / out['input']:.0f}% of it)")


SECTIONS = {"fmnist": fmnist, "passes": passes, "digits": digits, "sparse": sparse, "cv": cv,
            "memory": memory,
            "gpu": gpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="fmnist,passes,digits,sparse,cv,memory",
                    help="sections, comma-separated (gpu: the CUDA rows, not run by default)")
    ap.add_argument("--device", default="cuda", help="the gpu section's torch device")
    ap.add_argument("--target", type=float, default=0.3506383,
                    help="the gpu and passes sections' target objective (scikit-learn 1.x's "
                    "final one on the full Fashion-MNIST, measured on the CPU: 640 iterations)")
    ap.add_argument("--quick", action="store_true", help="subsets: a few minutes in all")
    ap.add_argument("--n-fmnist", type=int, default=None, help="Fashion-MNIST training rows")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit BLAS, OpenMP and torch to this many threads (both sides alike); "
                    "on a heavily shared machine 1 is steadier than the default")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args.n_fmnist)
        return
    if args.quick and args.n_fmnist is None:
        args.n_fmnist = 10000
    args.n_cv = 2000 if args.quick else 10000
    args.sparse = (20000, 2**16, 100, 20) if args.quick else (100000, 2**18, 100, 20)
    print(f"bench_sklearn: {'quick' if args.quick else 'full'} run, threads "
          f"{args.threads or 'default'}; the machine may be shared, so compare the ratios, not "
          "the seconds")
    for name in args.only.split(","):
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
