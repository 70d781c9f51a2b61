"""``softreg study overfit``: a long run without and with regularisation, explained.

The chapter asks why test accuracy stops improving, or falls, as the epochs grow. The study
trains the same model four times for many epochs (the baseline, then with weight decay,
with cosine learning-rate decay, and with early stopping on the validation loss), evaluates
the whole training part, the validation part and the test set after every epoch, and writes:

    overfit.png     train / validation / test accuracy of each variant, and the
                    generalisation gap (train minus test accuracy)
    summary.md      a short text written from the runs' own numbers
    <variant>/      metrics.csv and history.json of each variant
    study.json      every number the summary uses

Early stopping and the closing recommendation use the validation split only; the test curves
are shown so the reader can see what the choice would have been worth. A variant that diverges
is reported as such and never recommended.

The folder's files are replaced only once the new study has finished: an interrupted study
(Ctrl-C, SIGTERM) writes nothing, and the previous study's files stay as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from softreg.core.config import TrainConfig, recorded_data
from softreg.core.errors import ConfigError
from softreg.epochs.history import History, Status
from softreg.fitting.pack_plan import fit_many
from softreg.fitting.splits import Split, prepare_splits
from softreg.fitting.trainer import FitResult
from softreg.safety import fileio, runfolder, stopsignals, writegate


@dataclass(frozen=True)
class Variant:
    """One run of the study: a name, a one-line description and its configuration."""

    name: str
    label: str
    config: TrainConfig


@dataclass
class VariantResult:
    """A finished variant: its history (train metrics evaluated after each epoch) and model."""

    variant: Variant
    history: History
    model_epoch: int
    val_acc: float
    test_acc: float


def variants(base: TrainConfig, weight_decay: float, patience: int) -> list[Variant]:
    """The four runs: baseline, weight decay, cosine learning-rate decay, early stopping."""
    if not base.val_split:
        raise ConfigError("the overfitting study needs a validation split, e.g. 0.1")
    if base.epochs < 1:
        raise ConfigError(f"the overfitting study needs at least 1 epoch, got epochs "
                          f"{base.epochs}; use many, e.g. --epochs 100")
    plain = replace(base, weight_decay=0.0, lr_schedule="constant", patience=0)
    return [
        Variant("baseline", f"constant lr {base.lr:g}, no weight decay", plain),
        Variant("weight_decay", f"weight decay {weight_decay:g}",
                replace(plain, weight_decay=weight_decay)),
        Variant("cosine", "cosine learning-rate decay", replace(plain, lr_schedule="cosine")),
        Variant("early_stopping", f"early stopping (patience {patience}, {base.monitor})",
                replace(plain, patience=patience)),
    ]


def subsample(splits: dict[str, Split], train_size: int, seed: int) -> dict[str, Split]:
    """Keep exactly ``train_size`` images of the training part, stratified and seeded (val and
    test kept): each class its share, rounded so that the shares add up (the largest
    remainders round up; the per-class rounding of a split trained 10 images for 11, 20 for 17,
    and refused 1,294 of 1,295)."""
    train = splits["train"]
    n = len(train.y)
    if n <= 10:
        raise ConfigError(f"train_size {train_size} is refused: the training part holds only "
                          f"{n} examples, and a subset keeps at least 10, fewer than all; leave "
                          "it out to use all of them")
    if not 10 <= train_size < n:
        raise ConfigError(f"train_size must be between 10 and {n - 1}, fewer than the {n} "
                          f"examples of the training part, got {train_size}; leave it out to "
                          "use all of them")
    classes, counts = np.unique(train.y, return_counts=True)
    share = counts * (train_size / n)
    quota = np.floor(share).astype(np.int64)
    up = np.argsort(-(share - quota), kind="stable")[: train_size - int(quota.sum())]
    quota[up] += 1
    rng = np.random.default_rng([seed, 2])
    keep = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(train.y == c), int(k), replace=False)
        for c, k in zip(classes, quota, strict=True)]))
    return {**splits, "train": Split(train.X[keep], train.y[keep], train.standardizer)}


def run_study(
    base: TrainConfig,
    out_dir: str | Path,
    *,
    weight_decay: float = 1e-3,
    patience: int = 10,
    train_size: int | None = None,
    data_dir: str | None = None,
    offline: bool = False,
    figures: bool = True,
    stream: TextIO | None = None,
) -> tuple[list[VariantResult], str]:
    """Train the four variants of :func:`variants` and write the study folder.

    Returns:
        The variants' results and the summary text (also written to ``summary.md``).

    Raises:
        KeyboardInterrupt: Ctrl-C (:class:`~softreg.safety.stopsignals.Terminated`: SIGTERM)
            during the training; nothing was written.
    """
    todo = variants(base, weight_decay, patience)
    writegate.check_outside(Path(out_dir))  # before the data is read (claim checks it again)
    splits = prepare_splits(base, data_dir=data_dir, offline=offline)
    if train_size is not None:
        splits = subsample(splits, train_size, base.seed)
    # "add": the previous study's files stay until the new ones replace them (_write)
    with runfolder.held(out_dir, "study", "add"):
        results = _train_variants(todo, splits, base, stream)
        text = summarize(results, n_train=len(splits["train"].y))
        _write(Path(out_dir), results, text, base, len(splits["train"].y), figures)
        return results, text


def _train_variants(todo: list[Variant], splits: dict[str, Split], base: TrainConfig,
                    stream: TextIO | None) -> list[VariantResult]:
    """Train the variants as one pack.

    Raises:
        KeyboardInterrupt: the training was interrupted (the variants did not run their
            epochs: nothing to compare).
    """
    if stream is not None:
        print(f"training {', '.join(v.name for v in todo)} together (one pack, the same "
              f"batches), {base.epochs} epochs", file=stream, flush=True)
    with stopsignals.sigterm_as_interrupt() as received:
        packed = fit_many([v.config for v in todo], splits,
                          eval_splits=("train", "val", "test"))
    if any(fitted.history.status == Status.INTERRUPTED for fitted in packed):
        if stream is not None:
            done = max(len(fitted.history) for fitted in packed)
            print(f"interrupted after {done} of {base.epochs} epochs: no study written (the "
                  "folder keeps what it held)", file=stream, flush=True)
        raise stopsignals.Terminated("SIGTERM") if received.sigterm else KeyboardInterrupt
    return [_result(variant, fitted) for variant, fitted in zip(todo, packed, strict=True)]


def _write(out: Path, results: list[VariantResult], text: str, base: TrainConfig,
           train_size: int, figures: bool) -> None:
    """Replace the study folder's files with this study's: the text files together, then the
    figure (or, without figures, the previous study's figure goes: it is of other runs)."""
    files = {}
    for r in results:
        files.update(r.history.files(out / r.variant.name))
    files[out / "summary.md"] = text.encode("utf-8")
    def recorded(config: TrainConfig) -> dict[str, object]:  # a file's path absolute, as
        return replace(config, data=recorded_data(config.data)).record()  # config.json's

    files[out / "study.json"] = fileio.json_bytes({
        "base": recorded(base), "train_size": train_size,
        "variants": [{"name": r.variant.name, "config": recorded(r.variant.config),
                      "model_epoch": r.model_epoch, "val_acc": r.val_acc,
                      "test_acc": r.test_acc, "history": r.history.to_dict()}
                     for r in results]})
    fileio.write_together(files)
    if figures:
        from softreg.plots.study import plot_overfit

        plot_overfit([(r.variant.label, r.history, r.model_epoch) for r in results],
                     out / "overfit.png")
    else:
        writegate.remove_own_file(out, "overfit.png")


def _result(variant: Variant, fitted: FitResult) -> VariantResult:
    val = fitted.trainer.evaluate("val").accuracy
    test = fitted.trainer.evaluate("test").accuracy
    return VariantResult(variant, fitted.history, fitted.model_epoch, val, test)


def _gap(history: History) -> list[float]:
    return [r.train_acc - r.test_acc for r in history.records]


def summarize(results: Sequence[VariantResult], n_train: int) -> str:
    """The study's conclusions, in words, from its own numbers."""
    base = results[0]
    h = base.history
    if not h.records:
        why = f": {h.message}" if h.message else "."
        return f"# Overfitting study\n\nThe baseline did not finish an epoch{why}\n"
    test = h.column("test_acc")
    train = h.column("train_acc")
    peak = int(np.argmax(test))
    gap = _gap(h)
    tail = _tail(test)
    lines = [
        "# Overfitting study", "",
        f"{len(h)} epochs on {n_train} training images; batch size "
        f"{base.variant.config.batch_size}, {base.variant.config.framework}. Train accuracy "
        "is measured on the whole training part after each epoch; the gap is train minus "
        "test accuracy.", "",
        f"**Baseline** ({base.variant.label}): train accuracy went from "
        f"{train[0]:.4f} to {train[-1]:.4f}. Test accuracy was "
        f"highest, {test[peak]:.4f}, in epoch {peak + 1} and ended at {test[-1]:.4f}; the gap "
        f"went from {gap[0]:.4f} to {gap[-1]:.4f}. Over the last {len(tail)} epochs test "
        f"accuracy moved within {min(tail):.4f}..{max(tail):.4f}.", "",
        _verdict(test, train, gap, tail, n_train), "",
    ]
    for r in results[1:]:
        lines += [_variant_line(r, base), ""]
    finished = [r for r in results if r.history.status != Status.DIVERGED]
    if not finished:
        return "\n".join([*lines, "Every variant diverged: no variant to recommend; lower the "
                          "learning rate.", ""])
    best = max(finished, key=lambda r: r.val_acc)
    lines += [f"By validation accuracy (the test set is not used to choose) the best "
              f"variant is **{best.variant.label}**: validation {best.val_acc:.4f}, test "
              f"{best.test_acc:.4f} (baseline: validation {base.val_acc:.4f}, test "
              f"{base.test_acc:.4f}).", ""]
    return "\n".join(lines)


def _tail(values: list[float]) -> list[float]:
    """The last epochs, whose scatter stands for the noise: a fifth of the run, at least 5."""
    return values[-max(5, len(values) // 5):]


def _noise(tail: list[float]) -> float:
    """Spread of ``tail`` about its least-squares line: the scatter, not a steady trend."""
    x = np.arange(len(tail), dtype=np.float64)
    y = np.asarray(tail, dtype=np.float64)
    residual = y - np.polyval(np.polyfit(x, y, 1), x)  # (len(tail),)
    return float(residual.max() - residual.min())


def _verdict(test: list[float], train: list[float], gap: list[float], tail: list[float],
             n_train: int) -> str:
    """What the baseline's curves show, claiming only what the numbers support.

    A fall of test accuracy from its peak counts only when it is larger than the noise, the
    scatter of the last epochs about their trend; overfitting also needs train accuracy to
    have risen since the test peak.
    """
    if len(test) < 5:
        return (f"{len(test)} epoch(s) are too few to tell a trend from the noise of the "
                "test accuracy; train for more epochs.")
    peak = int(np.argmax(test))
    if peak == len(test) - 1:
        return (f"Test accuracy was highest in the last epoch, {test[-1]:.4f}: it had not "
                "stopped improving; more epochs may still help.")
    drop, noise = test[peak] - test[-1], _noise(tail)
    if drop <= noise:
        text = (f"Test accuracy stopped improving rather than falling: peak minus final, "
                f"{drop:.4f}, is within the noise (over the last {len(tail)} epochs it "
                f"scattered over {noise:.4f} about its trend), which is what SGD at a constant "
                "learning rate leaves.")
        if n_train >= 20000:
            text += (f" A linear model (7,850 parameters) has little room to overfit {n_train} "
                     "images; --train-size 1000 --batch-size 16 gives it more.")
        return text
    fell = (f"Test accuracy fell by {drop:.4f} after its peak in epoch {peak + 1}, more than "
            f"the noise (over the last {len(tail)} epochs it scattered over {noise:.4f} about "
            "its trend),")
    if train[-1] > train[peak]:
        return (f"{fell} while train accuracy rose from {train[peak]:.4f} to {train[-1]:.4f} "
                f"and the gap grew from {gap[peak]:.4f} to {gap[-1]:.4f}: the model fits "
                "details of the training images that do not carry over (overfitting). "
                "Regularisation or stopping at the peak is the fix.")
    return (f"{fell} but train accuracy did not rise after that epoch ({train[peak]:.4f} to "
            f"{train[-1]:.4f}): the model got no better on the training images either, so "
            "this is not overfitting. A smaller or decaying learning rate is the first thing "
            "to try.")


def _variant_line(r: VariantResult, base: VariantResult) -> str:
    h = r.history
    if h.status == Status.DIVERGED:
        # "training diverged in epoch 3: the mean train loss is ...": its first clause
        why = h.message.split(":")[0] if h.message else "training diverged"
        kept = f"its model is of epoch {len(h)}, the last good one" if h.records else \
            "no epoch finished"
        return f"**{r.variant.label}**: {why}, so it is not compared or recommended ({kept})."
    test = h.column("test_acc")
    tail = _tail(test)
    text = (f"**{r.variant.label}**: final test accuracy {r.test_acc:.4f} (baseline "
            f"{base.test_acc:.4f}), gap {_gap(h)[-1]:.4f} (baseline {_gap(base.history)[-1]:.4f}),"
            f" last-epochs spread {max(tail) - min(tail):.4f}.")
    if h.status == Status.EARLY_STOPPED:
        text += (f" It stopped after epoch {len(h)} and restored epoch {r.model_epoch}: "
                 f"{len(h) / max(len(base.history), 1):.0%} of the baseline's training time.")
    elif r.variant.config.patience and h.status == Status.COMPLETED:
        text += (f" It never stopped: {r.variant.config.monitor} reached a new best at least "
                 f"once every {r.variant.config.patience} epochs; its final model is still the "
                 f"best epoch, {r.model_epoch}.")
    return text

