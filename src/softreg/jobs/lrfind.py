"""``softreg lr-find``: the learning-rate range test, as one pack of learning rates.

The range test of fastai and Lightning raises the learning rate step by step within one short
run and plots the loss against it. Here every learning rate is its own model, and all of them
train together for a short while (one pack: the same batches, one pass): ``num`` rates spaced
evenly in log scale from ``lo`` to ``hi``, each for ``epochs`` epochs from the same initial
weights. Each rate's loss is its validation loss after training (its mean train loss of the
last epoch without a validation split); rates that diverge are marked.

The suggestion is the rate with the lowest loss. It says how it chose, and how close the
divergence edge is: the next larger rate's loss, or that it diverged. An interrupted test
(Ctrl-C, SIGTERM) suggests nothing: its rates did not train their epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from softreg.core.config import TrainConfig, check_lr
from softreg.core.errors import ConfigError
from softreg.epochs.history import Status
from softreg.safety import stopsignals
from softreg.safety.limits import MAX_RATES, check_count


@dataclass
class LrFind:
    """A range test's learning rates, losses (NaN: diverged), the suggestion and why."""

    lrs: list[float]
    losses: list[float]
    loss_name: str
    suggested: float | None
    how: str


def check_range(lo: float, hi: float, num: int) -> None:
    """Refuse a range that is not 0 < lo < hi with at least two rates, or whose ends float32
    cannot hold as learning rates (every rate tried lies between them).

    Raises:
        ConfigError: naming the values (the options, for an end out of float32's range) and
            what to write.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ConfigError(f"lr-find needs 0 < --min-lr < --max-lr, got {lo:g} and {hi:g}; "
                          "e.g. --min-lr 1e-3 --max-lr 10")
    for value, option in ((lo, "--min-lr"), (hi, "--max-lr")):  # the rates in between fit too
        check_lr(value, option, "e.g. --min-lr 1e-3 --max-lr 10")
    if num < 2:
        raise ConfigError(f"lr-find needs --num >= 2 learning rates, got {num}; e.g. --num 16")
    check_count(num, MAX_RATES, "--num", "try fewer learning rates, e.g. --num 16")


def lr_find(config: TrainConfig, lo: float = 1e-3, hi: float = 10.0, num: int = 16,
            *, data_dir: str | None = None, offline: bool = False) -> LrFind:
    """Train ``num`` log-spaced learning rates from ``lo`` to ``hi`` as one pack.

    ``config`` gives everything else (epochs: how long each rate trains; its schedule and
    early stopping are turned off: the test compares plain constant rates).

    Raises:
        ConfigError: a bad range (:func:`check_range`).
        KeyboardInterrupt: Ctrl-C (:class:`~softreg.safety.stopsignals.Terminated`: SIGTERM)
            during the training: a rate's loss after fewer epochs is no result.
    """
    from softreg.fitting.pack_plan import fit_many
    from softreg.fitting.splits import prepare_splits

    check_range(lo, hi, num)
    lrs = [float(v) for v in np.geomspace(lo, hi, num)]
    base = replace(config, lr_schedule="constant", patience=0)
    splits = prepare_splits(base, data_dir=data_dir, offline=offline)
    with_val = "val" in splits
    with stopsignals.sigterm_as_interrupt() as received:
        results = fit_many([replace(base, lr=lr) for lr in lrs], splits,
                           eval_splits=("val",) if with_val else ())
    if any(r.history.status == Status.INTERRUPTED for r in results):
        raise stopsignals.Terminated("SIGTERM") if received.sigterm else KeyboardInterrupt
    name = "val_loss" if with_val else "train_loss"
    losses = []
    for r in results:
        last = r.history.last
        if r.history.status == Status.DIVERGED or last is None:
            losses.append(math.nan)
        elif with_val:
            losses.append(float(last.val_loss))
        else:  # the trained model's loss on the training split: the epoch's own train loss is
            # a running mean over its batches (an epoch of one batch: the first weights' loss,
            # the same for every rate)
            losses.append(float(r.trainer.evaluate("train").mean_loss))
    return LrFind(lrs, losses, name, *_suggest(lrs, losses, name, base.epochs))


def _suggest(lrs: list[float], losses: list[float], name: str,
             epochs: int) -> tuple[float | None, str]:
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    diverged = len(lrs) - len(finite)
    if not finite:
        return None, (f"every learning rate from {lrs[0]:.3g} to {lrs[-1]:.3g} diverged; "
                      "try a lower range, e.g. --max-lr 0.1")
    best = min(finite, key=lambda i: losses[i])
    how = (f"chose lr {lrs[best]:.3g}: the lowest {name.replace('_', ' ')} "
           f"({losses[best]:.4f}) after {epochs} epoch(s) among {len(lrs)} rates from "
           f"{lrs[0]:.3g} to {lrs[-1]:.3g} ({diverged} diverged)")
    if best + 1 < len(lrs):
        nxt = losses[best + 1]
        edge = "diverged" if not math.isfinite(nxt) else f"had {name.replace('_', ' ')} {nxt:.4f}"
        how += f"; the next larger rate, {lrs[best + 1]:.3g}, {edge}"
    else:
        how += "; it is the largest rate tried: the best may lie higher (raise --max-lr)"
    return lrs[best], how


def format_lr_find(result: LrFind) -> str:
    """The table of rates and losses, then the suggestion and how it was chosen."""
    lines = [f"{'lr':>10} {result.loss_name:>12}"]
    for lr, loss in zip(result.lrs, result.losses, strict=True):
        mark = "  <- suggested" if lr == result.suggested else ""
        lines.append(f"{lr:>10.4g} {'diverged' if math.isnan(loss) else f'{loss:.4f}':>12}{mark}")
    lines.append(f"suggested lr: {result.suggested:.3g}" if result.suggested is not None
                 else "no suggestion")
    lines.append(result.how)
    return "\n".join(lines)
