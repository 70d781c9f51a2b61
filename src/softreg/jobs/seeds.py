"""Many seeds of one configuration in one pack, and the spread of their results.

``softreg train --seeds 0-15`` trains the same settings with 16 seeds (initial weights and
example order) together (:func:`softreg.fitting.pack_plan.fit_many`) and reports each metric as mean
± standard deviation across the seeds: epoch-to-epoch noise of about ±0.005 in test accuracy
is only visible as such with several seeds. Files in the output folder::

    seeds.csv      one row per seed: status, epochs, final metrics
    summary.json   the configuration, the rows, mean and sd of each metric
    curves.png     mean curve of each metric with a ±1 sd band across seeds
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from softreg.core.config import TrainConfig, recorded_data
from softreg.core.errors import ConfigError
from softreg.epochs.history import Status
from softreg.fitting.trainer import FitResult
from softreg.safety import fileio, runfolder, writegate
from softreg.safety.limits import MAX_SEEDS, check_count

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
COLUMNS = ("seed", "status", "epochs_run", "model_epoch", *METRICS)


def parse_seeds(text: str) -> list[int]:
    """Read ``0-15``, ``0,3,7`` or ``0-3,8`` as a list of distinct seeds, in order.

    Raises:
        ConfigError: a part that is not a seed or a range ``lo-hi``, a descending range, or
            no seed at all.
    """
    seeds: dict[int, None] = {}  # distinct, in order
    for part in (p.strip() for p in text.split(",")):
        lo_text, dash, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise ConfigError(f"--seeds: cannot read {part!r} as a seed or a range lo-hi; "
                              "write e.g. 0-15 or 0,1,2") from None
        if lo < 0 or hi < 0:  # ("0--3" reads as 0 to -3)
            raise ConfigError(f"--seeds: seeds are >= 0, got {min(lo, hi)} in {part!r}; "
                              "write e.g. 0-15")
        if hi < lo:
            raise ConfigError(f"--seeds: {part!r} is a descending range; write it low-high, "
                              f"e.g. {hi}-{lo}")
        # bounded before the range is made; counted as distinct seeds (0-600,0-600 is 601)
        new = hi - lo + 1 - sum(1 for s in seeds if lo <= s <= hi)
        check_count(len(seeds) + new, MAX_SEEDS, "the number of --seeds",
                    "train fewer seeds, e.g. --seeds 0-15")
        seeds.update(dict.fromkeys(range(lo, hi + 1)))
    return list(seeds)


def seed_rows(seeds: Sequence[int], results: Sequence[FitResult]) -> list[dict[str, Any]]:
    """One row per seed: how it ended and the final model's metrics (NaN where absent)."""
    rows = []
    for seed, result in zip(seeds, results, strict=True):
        last = result.history.last
        row: dict[str, Any] = {"seed": seed, "status": result.history.status,
                               "epochs_run": len(result.history),
                               "model_epoch": result.model_epoch}
        row["train_loss"] = last.train_loss if last else math.nan
        row["train_acc"] = last.train_acc if last else math.nan
        for split in ("val", "test"):
            try:
                totals = result.trainer.evaluate(split)
                row[f"{split}_loss"], row[f"{split}_acc"] = totals.mean_loss, totals.accuracy
            except ConfigError:  # no such split in this run
                row[f"{split}_loss"] = row[f"{split}_acc"] = math.nan
        rows.append(row)
    return rows


def spread(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation and count of each metric over the finite values of the
    seeds that trained (a diverged seed's model is its last good epoch's, often its first
    weights: its test accuracy of 0.03 weighed in the mean beside its training metrics' NaN)."""
    out = {}
    trained = [r for r in rows if r["status"] in (Status.COMPLETED, Status.EARLY_STOPPED)]
    for name in METRICS:
        values = np.array([r[name] for r in trained], dtype=float)
        values = values[np.isfinite(values)]
        sd = float(values.std(ddof=1)) if values.size > 1 else math.nan
        out[name] = {"mean": float(values.mean()) if values.size else math.nan, "sd": sd,
                     "n": int(values.size)}
    return out


def train_seeds(config: TrainConfig, seeds: Sequence[int], out: Path, *,
                data_dir: str | None = None, offline: bool = False,
                figures: bool = True,
                overwrite: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train ``config`` once per seed in one pack; write ``out``; return rows and summary.

    ``out`` is claimed as a softreg "seeds" folder (:mod:`softreg.safety.runfolder`): new, empty or
    one of its own; ``overwrite`` replaces an earlier seeds folder there.

    Raises:
        ConfigError: no seed given.
        FolderError: ``out`` holds other files, or is in use.
    """
    from softreg.fitting.pack_plan import fit_many
    from softreg.fitting.splits import prepare_splits

    if not seeds:
        raise ConfigError("--seeds: no seed given; write e.g. 0-15")
    configs = [replace(config, seed=s) for s in seeds]
    writegate.check_outside(out)  # before the data is read (claim checks it again)
    splits = prepare_splits(config, data_dir=data_dir, offline=offline)
    with runfolder.held(out, "seeds", "overwrite" if overwrite else "new"):
        results = fit_many(configs, splits)
        return _write(config, seeds, results, out, figures)


def _write(config: TrainConfig, seeds: Sequence[int], results: list[FitResult], out: Path,
           figures: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = seed_rows(seeds, results)
    # the data as a run's config.json records it: a file's path absolute
    recorded = replace(config, data=recorded_data(config.data))
    summary = {"config": recorded.to_dict(), "seeds": list(seeds), "spread": spread(rows),
               "rows": rows}
    lines = [",".join(COLUMNS)]
    lines += [",".join(_cell(r[c]) for c in COLUMNS) for r in rows]
    fileio.write_text(out / "seeds.csv", "\n".join(lines) + "\n")
    fileio.write_json(out / "summary.json", summary)
    if figures:
        from softreg.plots.packs import plot_seed_band

        plot_seed_band([r.history for r in results], out / "curves.png")
    return rows, summary


def format_seeds(rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The per-seed table and a mean ± sd line per metric."""
    shown = [m for m in METRICS if summary["spread"][m]["n"]]
    head = f"{'seed':>5} {'status':>13} " + " ".join(f"{m:>10}" for m in shown)
    lines = [head]
    for r in rows:
        lines.append(f"{r['seed']:>5} {r['status']:>13} "
                     + " ".join(f"{r[m]:>10.4f}" for m in shown))
    for m in shown:
        s = summary["spread"][m]
        lines.append(f"{m}: {s['mean']:.4f} ± {s['sd']:.4f} (mean ± sd over {s['n']} seeds)")
    left = [r["seed"] for r in rows if r["status"] not in (Status.COMPLETED,
                                                           Status.EARLY_STOPPED)]
    if left:
        lines.append(f"left out of the mean ± sd: seed(s) {', '.join(map(str, left))}, which "
                     "did not train to the end (diverged or interrupted)")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)
