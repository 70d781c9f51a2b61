"""Calibration of a classifier's probabilities: reliability bins, expected calibration error,
negative log-likelihood, and temperature scaling fitted by a 1-D minimisation.

A model is calibrated when, among the images it labels with top probability ``p``, a share ``p``
is right. The expected calibration error (ECE) measures the gap with :data:`N_BINS` equal-width
bins of the top probability: bin ``k`` holds confidences in ``(k/15, (k+1)/15]`` (a confidence of
exactly 0 goes to bin 0), and

    ECE = sum over bins of (n_bin / N) * |accuracy_bin - mean confidence_bin|.

Temperature scaling divides every logit by one scalar ``T > 0`` chosen to minimise the NLL of a
validation set; the predicted class never changes, only how sure the model claims to be.
Everything here is NumPy; log-probabilities come from the logits (:mod:`softreg.core.numerics`).
"""

from __future__ import annotations

import hashlib
import math
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError
from softreg.core.numerics import cross_entropy, softmax
from softreg.core.validate import check_int

N_BINS = 15
# The temperatures searched: 0.05 (20 times sharper) to 20 (20 times flatter).
T_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Reliability:
    """Per-bin statistics of the top probability and the ECE they give.

    Attributes:
        edges: (n_bins + 1,) bin edges, ``k / n_bins``.
        counts: (n_bins,) images per bin.
        confidence: (n_bins,) mean top probability per bin (NaN for an empty bin).
        accuracy: (n_bins,) share of right predictions per bin (NaN for an empty bin).
        ece: the expected calibration error.
    """

    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float64]
    accuracy: npt.NDArray[np.float64]
    ece: float


def _check(probs: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[npt.NDArray[np.float64],
                                                                 npt.NDArray[np.int64]]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ConfigError(f"probabilities must be a non-empty (N, classes) array, got shape "
                          f"{p.shape}")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"labels must be {p.shape[0]} integers (one per row), got shape "
                          f"{y.shape} and dtype {y.dtype}")
    return p, y.astype(np.int64)


def reliability(probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = N_BINS) -> Reliability:
    """Bin the top probability of each row of ``probs`` (N, C) and compare with the labels.

    The predicted class is the first maximum of a row, as ``argmax`` picks it.

    Raises:
        ConfigError: ``probs`` not a non-empty 2-D array, labels not one integer per row, or
            ``n_bins`` not a positive integer.
    """
    check_int(n_bins, "n_bins", 1)
    p, y = _check(probs, labels)
    pred = p.argmax(axis=1)  # (N,)
    conf = p[np.arange(len(p)), pred]  # (N,)
    correct = (pred == y).astype(np.float64)
    edges = np.arange(n_bins + 1, dtype=np.float64) / n_bins  # exact k/n, unlike linspace
    # searchsorted "left" puts c in bin k when edges[k] < c <= edges[k + 1]
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    right = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / np.maximum(counts, 1), np.nan)
        acc = np.where(counts > 0, right / np.maximum(counts, 1), np.nan)
    gaps = np.abs(acc - mean_conf)[counts > 0]
    ece = float(np.sum(counts[counts > 0] / len(p) * gaps))
    return Reliability(edges, counts, mean_conf, acc, ece)


def expected_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike,
                               n_bins: int = N_BINS) -> float:
    """The ECE of ``probs`` (N, C) against ``labels`` with ``n_bins`` equal-width bins."""
    return reliability(probs, labels, n_bins).ece


def negative_log_likelihood(logits: npt.ArrayLike, labels: npt.ArrayLike,
                            temperature: float = 1.0) -> float:
    """Mean ``-log softmax(logits / T)[label]``, computed in float64 from the logits."""
    z = np.asarray(logits, dtype=np.float64) / temperature  # (N, C)
    return float(cross_entropy(z, labels, reduction="mean"))


def probabilities(logits: npt.ArrayLike, temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """``softmax(logits / T)`` in float64, (N, C)."""
    return np.asarray(softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1))


def golden_section(f: Callable[[float], float], lo: float, hi: float,
                   tol: float = 1e-7) -> float:
    """The minimiser of a unimodal ``f`` on ``[lo, hi]``, to within ``tol``.

    Each step keeps the part of the bracket holding the lower of two inner points placed at
    the golden ratio, so one new evaluation shrinks the bracket by 0.618.
    """
    shrink = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - shrink * (b - a), a + shrink * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - shrink * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + shrink * (b - a)
            fd = f(d)
    return (a + b) / 2.0


def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike,
                    bounds: tuple[float, float] = T_RANGE) -> float:
    """The temperature ``T`` in ``bounds`` that minimises the NLL of ``softmax(logits / T)``.

    The NLL is convex in ``1 / T`` (the logits scale linearly), so it has one minimum along
    ``log T`` too; a golden-section search on ``log T`` finds it.

    Raises:
        ConfigError: no logits, labels not one integer per row, or bad bounds.
    """
    z, y = _check(logits, labels)
    lo, hi = bounds
    if not 0 < lo < hi or not math.isfinite(hi):
        raise ConfigError(f"temperature bounds must satisfy 0 < low < high, got {bounds}")
    u = golden_section(lambda s: negative_log_likelihood(z, y, math.exp(s)),
                       math.log(lo), math.log(hi))
    return math.exp(u)


def at_bound(temperature: float | None, bounds: tuple[float, float] = T_RANGE) -> float | None:
    """The bound of the search that ``temperature`` stopped at (within the search's
    resolution), or None: there the NLL still falls beyond the range."""
    if temperature is None:
        return None
    for bound in bounds:
        if abs(math.log(temperature / bound)) < 1e-6:
            return bound
    return None


def model_digest(W: npt.ArrayLike, b: npt.ArrayLike) -> str:
    """sha256 of the float32 bytes of W then b: ties a calibration to the weights it fits."""
    h = hashlib.sha256()
    for arr in (W, b):
        h.update(np.ascontiguousarray(arr, dtype="<f4").tobytes())
    return h.hexdigest()


FORMAT = "softreg-calibration"
FILE_NAME = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """Test NLL and ECE of a model, and with a validation set its fitted temperature.

    The ``*_scaled`` fields are those of ``softmax(logits / temperature)``; they, the
    temperature and the validation fields are None without a validation set.
    """

    test_nll: float
    test_ece: float
    test_size: int
    temperature: float | None = None
    test_nll_scaled: float | None = None
    test_ece_scaled: float | None = None
    val_nll: float | None = None
    val_nll_scaled: float | None = None
    val_size: int = 0
    n_bins: int = N_BINS


def calibrate(test_logits: npt.ArrayLike, test_y: npt.ArrayLike,
              val: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
              ) -> tuple[Calibration, Reliability, Reliability | None]:
    """Measure the test calibration; with ``val`` (logits, labels), fit a temperature on it.

    Returns:
        The numbers, the test reliability bins before scaling, and after (None without
        ``val``).
    """
    before = reliability(probabilities(test_logits), test_y)
    nll = negative_log_likelihood(test_logits, test_y)
    n_test = int(np.shape(test_y)[0])
    if val is None:
        return Calibration(nll, before.ece, n_test), before, None
    val_logits, val_y = val
    t = fit_temperature(val_logits, val_y)
    after = reliability(probabilities(test_logits, t), test_y)
    cal = Calibration(nll, before.ece, n_test, t, negative_log_likelihood(test_logits, test_y, t),
                      after.ece, negative_log_likelihood(val_logits, val_y),
                      negative_log_likelihood(val_logits, val_y, t), int(np.shape(val_y)[0]))
    return cal, before, after


# What fits a temperature again for a run's final model whose weights changed (a resumed run).
REFIT_RUN = "run 'softreg explain RUN' again to refit it"


def refit_elsewhere(checkpoint: str) -> str:
    """What fits a temperature for ``checkpoint`` when ``softreg explain RUN`` fits none for
    it: a run's checkpoint that is not its final model, or a calibration file named
    elsewhere (``--calibration``)."""
    return (f"run 'softreg explain {shlex.quote(checkpoint)} --out DIR' to fit one for these "
            "weights, then predict with --calibrated --calibration DIR/calibration.json")


def load_temperature(path: str, W: npt.ArrayLike, b: npt.ArrayLike,
                     refit: str = REFIT_RUN, how: str | None = None) -> float:
    """The temperature a ``calibration.json`` holds for the weights ``W``, ``b``.

    Args:
        path: the calibration file.
        W, b: the checkpoint's weights.
        refit: what to do when the file was fitted for other weights: the command that fits
            one for these (default :data:`REFIT_RUN`; see :func:`refit_elsewhere`).
        how: what to do when there is no file or no temperature in it (default: explain the
            run, trained with a validation split).

    Raises:
        ConfigError: the file is missing or unreadable, holds no temperature (the run had no
            validation split), or was fitted for other weights.
    """
    from softreg.safety import readback

    how = how or ("run 'softreg explain RUN' on a run trained with a validation split "
                  "(--val-split), then predict again with --calibrated")
    if not os.path.lexists(path):
        raise ConfigError(f"no temperature: {path!r} does not exist; {how}")
    try:
        data = readback.read_json(path, "calibration file", limit=1 << 20)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {how}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path!r} is not a softreg calibration file (no format "
                          f"{FORMAT!r}); {how}")
    temperature = data.get("temperature")
    if temperature is None:
        raise ConfigError(f"no temperature in {path!r}: the run has no validation split; {how}")
    if data.get("model_sha256") != model_digest(W, b):
        raise ConfigError(f"{path!r} was fitted for other weights than this checkpoint's "
                          f"(model {data.get('model_file')!r}, epoch {data.get('model_epoch')}); "
                          f"{refit}")
    lo, hi = T_RANGE  # what fit_temperature can return: 1e-320 would give NaN probabilities
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) \
            or not math.isfinite(temperature) or not lo <= temperature <= hi:
        raise ConfigError(f"{path!r}: temperature must be a number in [{lo}, {hi}], got "
                          f"{temperature!r}; {refit}")
    return float(temperature)
