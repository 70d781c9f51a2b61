"""One configuration of a sweep, trained in memory: in this process or in a worker process.

Worker processes are started with ``spawn``: each imports softreg afresh, prepares the data
once per (validation split, validation seed, standardisation) and keeps it for the next
configuration.
Everything crossing the process boundary is a plain dict (picklable, JSON-able).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from softreg import checkpoint
from softreg.config import TrainConfig
from softreg.errors import SoftregError
from softreg.history import History
from softreg.search import config_key
from softreg.training import FitResult, Split, fit, prepare_splits

_WORKER_CACHE: SplitCache | None = None  # set in worker processes by init_worker


class SplitCache:
    """The prepared splits of the most recent data settings (one copy: ~190 MB)."""

    def __init__(self, data_dir: str | None = None, offline: bool = False) -> None:
        self.data_dir = data_dir
        self.offline = offline
        self.key: tuple[Any, ...] | None = None
        self.splits: dict[str, Split] = {}

    def get(self, config: TrainConfig) -> dict[str, Split]:
        """Splits for ``config``: reused when its split and standardisation settings match."""
        key = (config.val_split, config.val_seed, config.standardize)
        if key != self.key:
            self.key, self.splits = None, {}  # free the old copy before loading the next
            self.splits = prepare_splits(config, data_dir=self.data_dir, offline=self.offline)
            self.key = key
        return self.splits


def init_worker(data_dir: str | None, offline: bool, threads: int) -> None:
    """Initialiser of a worker process: its own data cache."""
    global _WORKER_CACHE
    _WORKER_CACHE = SplitCache(data_dir, offline)


def run_in_worker(config_dict: dict[str, Any], out: str) -> dict[str, Any]:
    """Entry point of a worker process (see :func:`run_config`)."""
    cache = _WORKER_CACHE if _WORKER_CACHE is not None else SplitCache()
    return run_config(config_dict, Path(out), cache)


def run_config(config_dict: dict[str, Any], out: Path, cache: SplitCache,
               name: str | None = None) -> dict[str, Any]:
    """Train one configuration, save its weights, and return its result.

    Returns:
        ``{"row": metrics row, "config": settings, "history": history dict}``. The row's
        ``status`` is the run's (``completed``, ``early_stopped``, ``diverged``,
        ``interrupted``) or ``failed``: a softreg error (e.g. a framework not installed) or
        any other exception of the framework (e.g. a torch ``RuntimeError``), so that one
        configuration cannot end the whole sweep; its ``message`` says why. Ctrl-C is not
        caught. Weights go to ``out/weights/<name or key>.safetensors``.
    """
    config = TrainConfig.from_dict(config_dict)
    key = config_key(config)
    try:
        splits = cache.get(config)
        t0 = time.perf_counter()
        # Only the validation split each epoch: the test set is evaluated once, at the end.
        result = fit(config, splits, eval_splits=("val",) if "val" in splits else ())
        seconds = time.perf_counter() - t0
        metrics = {split: result.trainer.evaluate(split) for split in splits
                   if split != "train"}
    except Exception as exc:  # not BaseException: Ctrl-C still stops the sweep
        row = _row(config, key, "failed", 0, 0, None, {}, 0.0)
        row["message"] = (str(exc) if isinstance(exc, SoftregError)
                          else f"{type(exc).__name__}: {exc}")
        return {"row": row, "config": config_dict, "history": History().to_dict()}
    history = result.history
    model_epoch = result.model_epoch
    row = _row(config, key, history.status, len(history), model_epoch, history, metrics,
               seconds)
    row["message"] = history.message
    row["weights"] = f"weights/{name or key}.safetensors"
    _save_weights(out / row["weights"], result, config, model_epoch, key)
    return {"row": row, "config": config_dict, "history": history.to_dict()}


def run_pack(config_dicts: list[dict[str, Any]], out: Path,
             cache: SplitCache) -> list[dict[str, Any]]:
    """Train configurations sharing a pack (:func:`softreg.pack_plan.plan_packs`) in one pass.

    Returns one result per configuration, as :func:`run_config` does, in the order given;
    each row's ``seconds`` is its share of the pack's training time. An exception fails every
    configuration of the pack (none is saved; the next run of the sweep tries them again).
    """
    from softreg.backends import get_packed_backend
    from softreg.pack import train_pack

    configs = [TrainConfig.from_dict(d) for d in config_dicts]
    try:
        splits = cache.get(configs[0])
        backend = get_packed_backend(configs[0].framework, configs[0].device)
        fitted = train_pack(configs, splits, backend,
                            eval_splits=("val",) if "val" in splits else ())
        metrics = [{split: r.trainer.evaluate(split) for split in splits if split != "train"}
                   for r in fitted]
    except Exception as exc:  # not BaseException: Ctrl-C still stops the sweep
        return [_failed(c, d, exc) for c, d in zip(configs, config_dicts, strict=True)]
    results = []
    for config, config_dict, result, totals in zip(configs, config_dicts, fitted, metrics,
                                                   strict=True):
        key, history = config_key(config), result.history
        seconds = sum(r.seconds for r in history.records)
        row = _row(config, key, history.status, len(history), result.model_epoch, history,
                   totals, seconds)
        row["message"] = history.message
        if history.status != "interrupted":
            row["weights"] = f"weights/{key}.safetensors"
            _save_weights(out / row["weights"], result, config, result.model_epoch, key)
        results.append({"row": row, "config": config_dict, "history": history.to_dict()})
    return results


def run_pack_in_worker(config_dicts: list[dict[str, Any]], out: str) -> list[dict[str, Any]]:
    """Entry point of a worker process (see :func:`run_pack`)."""
    cache = _WORKER_CACHE if _WORKER_CACHE is not None else SplitCache()
    return run_pack(config_dicts, Path(out), cache)


def _failed(config: TrainConfig, config_dict: dict[str, Any], exc: Exception) -> dict[str, Any]:
    row = _row(config, config_key(config), "failed", 0, 0, None, {}, 0.0)
    row["message"] = (str(exc) if isinstance(exc, SoftregError)
                      else f"{type(exc).__name__}: {exc}")
    return {"row": row, "config": config_dict, "history": History().to_dict()}


def _row(config: TrainConfig, key: str, status: str, epochs_run: int, model_epoch: int,
         history: History | None, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    last = history.last if history is not None else None
    row: dict[str, Any] = {"key": key}
    for name in ("framework", "lr", "batch_size", "epochs", "weight_decay", "seed",
                 "lr_schedule", "standardize", "val_split", "patience"):
        row[name] = getattr(config, name)
    row.update(status=status, epochs_run=epochs_run, model_epoch=model_epoch,
               train_loss=last.train_loss if last else math.nan,
               train_acc=last.train_acc if last else math.nan)
    for split in ("val", "test"):
        totals = metrics.get(split)
        row[f"{split}_loss"] = totals.mean_loss if totals is not None else math.nan
        row[f"{split}_acc"] = totals.accuracy if totals is not None else math.nan
    row["seconds"] = seconds
    return row


def _save_weights(path: Path, result: FitResult, config: TrainConfig, epoch: int,
                  key: str) -> None:
    from softreg.data import CLASS_NAMES

    W, b = result.trainer.snapshot()
    meta = {"framework": config.framework, "epoch": epoch, "config": config.to_dict(),
            "class_names": list(CLASS_NAMES), "sweep_key": key}
    checkpoint.save(path, checkpoint.Checkpoint(W, b, meta))
