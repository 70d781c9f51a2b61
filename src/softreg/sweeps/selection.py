"""How a sweep chooses: a criterion on the validation split, averaged over seeds.

A configuration's last-epoch validation accuracy at a high learning rate is a noisy draw
(SGD's noise moves it by whole examples from one epoch to the next), so a sweep chooses by a
criterion the user picks (``softreg sweep --select``):

* ``val_loss`` (the default): the validation loss of the configuration's model, lower is
  better. It is a mean over the validation set of a continuous loss, so it moves with the
  model by small amounts where the accuracy moves by whole examples. With ``--patience N``
  the model is the best epoch's by validation loss: the choice is then the best epoch's
  validation loss, with that epoch's model.
* ``val_acc``: the validation accuracy of the model (ties: lower validation loss), as
  sweeps chose before.

When the sweep varies the seed, the criterion is the mean over the seeds of each setting
(every other setting equal, the data and how it is read included: a row's ``setting``, see
:func:`softreg.sweeps.search.setting_key`): a setting is chosen, not a lucky seed. A setting is
chosen only if every one of its seeds finished without diverging; its row in ``best.json`` is
its seed with the best criterion. The test split is never looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from softreg.core.errors import ConfigError
from softreg.epochs.history import SELECTABLE, Status


@dataclass(frozen=True)
class Criterion:
    """A row's metric to choose by: ``lower`` is better or not; ``then`` breaks ties."""

    name: str
    label: str
    lower: bool
    then: str

    def value(self, row: dict[str, Any]) -> float:
        """The row's value of the metric (NaN when missing)."""
        v = row.get(self.name, math.nan)
        return float(v) if isinstance(v, int | float) else math.nan


CRITERIA = {
    "val_loss": Criterion("val_loss", "validation loss", lower=True, then="val_acc"),
    "val_acc": Criterion("val_acc", "validation accuracy", lower=False, then="val_loss"),
}
DEFAULT = "val_loss"

def criterion(name: str) -> Criterion:
    """The criterion called ``name``.

    Raises:
        ConfigError: an unknown name, listing the known ones.
    """
    if name not in CRITERIA:
        raise ConfigError(f"--select must be one of {', '.join(CRITERIA)}, got {name!r}")
    return CRITERIA[name]


def _setting(row: dict[str, Any]) -> tuple[Any, ...]:
    """The row's settings but the seed (its ``setting``); a row that does not say them is a
    setting of its own (by its key, or itself): rows are averaged only when every setting but
    the seed is known to be equal."""
    setting = row.get("setting")
    return ("setting", setting) if isinstance(setting, str) else ("row", row.get("key", id(row)))


def setting_scores(rows: Sequence[dict[str, Any]], name: str = DEFAULT
                   ) -> dict[tuple[Any, ...], tuple[float, float, int]]:
    """Each setting's (criterion, tie-breaker) means over its seeds and its seed count.

    A setting with a seed that diverged, failed or has no finite value is left out.
    """
    crit = criterion(name)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_setting(row), []).append(row)
    tie = CRITERIA[crit.then]
    scores = {}
    for setting, members in groups.items():
        values = [crit.value(r) for r in members]
        if all(r["status"] in SELECTABLE for r in members) and all(map(math.isfinite, values)):
            scores[setting] = (math.fsum(values) / len(values),
                               math.fsum(tie.value(r) for r in members) / len(members),
                               len(members))
    return scores


def row_score(row: dict[str, Any], scores: dict[tuple[Any, ...], tuple[float, float, int]]
              ) -> float:
    """The criterion of ``row``'s setting (mean over its seeds), NaN if not selectable."""
    return scores.get(_setting(row), (math.nan, math.nan, 0))[0]


def _rank(crit: Criterion, value: float, tie: float) -> tuple[float, float]:
    """A sort key, smaller is better."""
    tie_crit = CRITERIA[crit.then]
    return (value if crit.lower else -value, tie if tie_crit.lower else -tie)


def select(rows: Sequence[dict[str, Any]], name: str = DEFAULT
           ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The chosen row and what it was chosen on (for ``best.json`` and the summary).

    Returns:
        ``(row or None, {"criterion", "label", "value", "seeds"})``: ``value`` is the
        setting's criterion (a mean when ``seeds`` > 1). Ties between settings go to the
        tie-breaker, then to the smaller key, so the choice depends on the rows alone.
    """
    crit = criterion(name)
    scores = setting_scores(rows, name)
    info: dict[str, Any] = {"criterion": crit.name, "label": crit.label, "value": None,
                            "seeds": 0}
    if not scores:
        return None, info
    best_setting = min(scores, key=lambda s: (*_rank(crit, *scores[s][:2]), repr(s)))
    members = [r for r in rows if _setting(r) == best_setting]
    tie = CRITERIA[crit.then]
    best = min(members, key=lambda r: (*_rank(crit, crit.value(r), tie.value(r)), r["key"]))
    value, _, seeds = scores[best_setting]
    info.update(value=value, seeds=seeds)
    return best, info


def describe(info: dict[str, Any]) -> str:
    """``validation loss 0.4123`` or ``validation loss 0.4123 (mean over 3 seeds)``."""
    if info["value"] is None:
        return f"{info['label']}: nothing selectable"
    text = f"{info['label']} {info['value']:.4f}"
    return text + (f" (mean over {info['seeds']} seeds)" if info["seeds"] > 1 else "")


def heatmap_grid(rows: Sequence[dict[str, Any]], select: str = "val_acc"
                 ) -> tuple[list[float], list[int], Any, Any]:
    """The best value of criterion ``select`` per (lr, batch size) cell, over all other
    settings (a setting's value is the mean over its seeds).

    Returns:
        (learning rates, batch sizes, values (n_lr, n_batch) with NaN where no configuration
        can be chosen, diverged (n_lr, n_batch) bool: every configuration of the cell diverged).
    """
    import numpy as np

    crit = criterion(select)
    scores = setting_scores(rows, select)
    lrs = sorted({float(r["lr"]) for r in rows})
    batches = sorted({int(r["batch_size"]) for r in rows})
    values = np.full((len(lrs), len(batches)), np.nan)  # (n_lr, n_batch)
    diverged = np.zeros(values.shape, dtype=bool)
    seen = np.zeros(values.shape, dtype=bool)
    for r in rows:
        i, j = lrs.index(float(r["lr"])), batches.index(int(r["batch_size"]))
        if r["status"] == Status.DIVERGED and not seen[i, j]:
            diverged[i, j] = True
        if r["status"] in SELECTABLE:
            seen[i, j], diverged[i, j] = True, False
        value = row_score(r, scores)  # NaN: a seed of its setting diverged
        if r["status"] in SELECTABLE and math.isfinite(value):
            old = values[i, j]
            if math.isnan(old) or (value < old if crit.lower else value > old):
                values[i, j] = value
    return lrs, batches, values, diverged
