"""The work of a sweep, trained in memory: in this process, a worker process or a Ray task.

A unit of work is a list of configurations trained by one call of :func:`run_unit` (see
:mod:`softreg.sweeps.engines`). Workers of the local engine are started with ``spawn``: each
imports softreg afresh, prepares the data once per (validation split, validation seed,
standardisation) and keeps it for the next configuration. A Ray task receives the prepared
splits from the object store instead (:class:`FixedSplits`) and reads no file.
Everything crossing a process boundary is a plain dict (picklable; JSON-able but for the
weights' bytes that a Ray task sends back, see :func:`run_config`).
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, Protocol

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError, SoftregError
from softreg.epochs.history import History, Status
from softreg.fitting.splits import DATA_KEY_NAMES, Split, data_key, data_meta, prepare_splits
from softreg.fitting.trainer import FitResult, fit
from softreg.runfiles import checkpoint
from softreg.sweeps.search import config_key, setting_key

_WORKER_CACHE: SplitCache | None = None  # set in worker processes by init_worker
# A worker process told to stop (SIGINT, see init_worker) starts no more units; _BUSY: it is
# inside a unit, where the first stop interrupts the training.
_STOP = False
_BUSY = False

# The result field that carries a model's safetensors bytes back to the driver (out=None).
WEIGHTS_DATA = "weights_data"


class SplitSource(Protocol):
    """Where a configuration's prepared splits come from."""

    def get(self, config: TrainConfig) -> dict[str, Split]:
        """The splits for ``config``'s data settings."""
        ...


class SplitCache:
    """The prepared splits of the most recent data settings (one copy: ~190 MB)."""

    def __init__(self, data_dir: str | None = None, offline: bool = False) -> None:
        self.data_dir = data_dir
        self.offline = offline
        self.key: tuple[Any, ...] | None = None
        self.splits: dict[str, Split] = {}

    def get(self, config: TrainConfig) -> dict[str, Split]:
        """Splits for ``config``: reused when its split and standardisation settings match."""
        key = data_key(config)
        if key != self.key:
            self.key, self.splits = None, {}  # free the old copy before loading the next
            self.splits = prepare_splits(config, data_dir=self.data_dir, offline=self.offline)
            self.key = key
        return self.splits


class FixedSplits:
    """Splits prepared once elsewhere (by the driver) for one data key.

    Raises:
        ConfigError: from :meth:`get`, for a configuration of other data settings.
    """

    def __init__(self, key: tuple[Any, ...], splits: dict[str, Split]) -> None:
        self.key = tuple(key)
        self.splits = splits

    def get(self, config: TrainConfig) -> dict[str, Split]:
        """The splits, if ``config``'s data settings are the ones they were prepared for."""
        if data_key(config) != self.key:
            raise ConfigError(f"the splits were prepared for ({', '.join(DATA_KEY_NAMES)}) "
                              f"= {self.key}, not {data_key(config)}; send each unit of work "
                              "the splits of its own data settings")
        return self.splits


def init_worker(data_dir: str | None, offline: bool, parent: int | None = None) -> None:
    """Initialiser of a worker process: its own data cache, its stop on SIGINT (:func:`_stop`;
    the signal is taken from here on, see :func:`softreg.sweeps.engines.local.sigint_held`),
    and, given the driver's pid ``parent``, an end with it
    (:func:`softreg.safety.lifeline.die_with_parent`). (Its BLAS/OpenMP thread count comes from
    the environment it is spawned with: :class:`softreg.sweeps.engines.local.thread_env`.)"""
    global _WORKER_CACHE
    if parent is not None:
        from softreg.safety.lifeline import die_with_parent

        die_with_parent(parent)
    signal.signal(signal.SIGINT, _stop)
    if hasattr(signal, "pthread_sigmask"):  # held back while the pool spawned this process
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _WORKER_CACHE = SplitCache(data_dir, offline)


def _stop(signum: int, frame: object) -> None:
    """SIGINT in a worker process (Ctrl-C at the terminal, or the driver passing on its own
    stop): the unit it trains stops after the current epoch, with its finished configurations
    (as Ctrl-C stops a run), and a unit queued for it is not started. Only the first stop
    interrupts: a second one (the terminal's and the driver's) would cut short the saving of
    the first; one that comes while the worker waits for work changes nothing but the flag
    (a KeyboardInterrupt there would kill the worker)."""
    global _STOP
    first = not _STOP
    _STOP = True
    if first and _BUSY:
        raise KeyboardInterrupt


def run_unit_in_worker(config_dicts: list[dict[str, Any]], out: str) -> list[dict[str, Any]]:
    """Entry point of a worker process of the local engine (see :func:`run_unit`).

    Raises:
        KeyboardInterrupt: the worker was told to stop before the unit started (its
            configurations are trained by the next run of the sweep).
    """
    global _BUSY
    _BUSY = True
    try:
        if _STOP:
            raise KeyboardInterrupt
        cache = _WORKER_CACHE if _WORKER_CACHE is not None else SplitCache()
        return run_unit(config_dicts, Path(out), cache)
    finally:
        _BUSY = False


def run_unit(config_dicts: list[dict[str, Any]], out: Path | None,
             splits: SplitSource) -> list[dict[str, Any]]:
    """Train a unit of work: one configuration, or a pack of them in one pass; their results
    in order. See :func:`run_config` for ``out`` and for each result."""
    if len(config_dicts) == 1:
        return [run_config(config_dicts[0], out, splits)]
    return run_pack(config_dicts, out, splits)


def failed_result(config_dict: dict[str, Any], message: str) -> dict[str, Any]:
    """The result of a configuration that could not be trained, saying why in ``message``."""
    config = TrainConfig.from_dict(config_dict)
    row = _row(config, config_key(config), Status.FAILED, 0, 0, None, {}, 0.0)
    row["message"] = message
    return {"row": row, "config": config_dict, "history": History().to_dict()}


def run_config(config_dict: dict[str, Any], out: Path | None, cache: SplitSource,
               name: str | None = None) -> dict[str, Any]:
    """Train one configuration, save its weights, and return its result.

    Returns:
        ``{"row": metrics row, "config": settings, "history": history dict}``. The row's
        ``status`` is the run's (``completed``, ``early_stopped``, ``diverged``,
        ``interrupted``) or ``failed``: a softreg error (e.g. a framework not installed) or
        any other exception of the framework (e.g. a torch ``RuntimeError``), so that one
        configuration cannot end the whole sweep; its ``message`` says why. Ctrl-C is not
        caught. Weights go to ``out/weights/<name or key>.safetensors`` (the row's
        ``weights``); with ``out=None`` nothing is written and the result carries the file's
        bytes under :data:`WEIGHTS_DATA` instead, for the driver to write (a Ray task).
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
        return failed_result(config_dict, str(exc) if isinstance(exc, SoftregError)
                             else f"{type(exc).__name__}: {exc}")
    history = result.history
    model_epoch = result.model_epoch
    data = data_meta(splits)
    row = _row(config, key, history.status, len(history), model_epoch, history, metrics,
               seconds, data)
    row["message"] = history.message
    row["weights"] = f"weights/{name or key}.safetensors"
    done: dict[str, Any] = {"row": row, "config": config_dict, "history": history.to_dict()}
    _store_weights(done, out, _checkpoint(result, config, model_epoch, key, data))
    return done


def _store_weights(done: dict[str, Any], out: Path | None, ckpt: checkpoint.Checkpoint) -> None:
    """Write a result's weights to ``out / row["weights"]``, or with ``out=None`` put the
    file's bytes into the result under :data:`WEIGHTS_DATA` for the driver to write."""
    if out is None:
        done[WEIGHTS_DATA] = checkpoint.encode(ckpt, done["row"]["weights"])
    else:
        checkpoint.save(out / done["row"]["weights"], ckpt)


def run_pack(config_dicts: list[dict[str, Any]], out: Path | None,
             cache: SplitSource) -> list[dict[str, Any]]:
    """Train configurations sharing a pack (:func:`~softreg.fitting.pack_plan.plan_packs`) at once.

    Returns one result per configuration, as :func:`run_config` does (``out`` too), in the
    order given;
    each row's ``seconds`` is its share of the pack's training time. An exception fails every
    configuration of the pack (none is saved; the next run of the sweep tries them again).
    """
    from softreg.backends import get_packed_backend
    from softreg.fitting.pack import train_pack

    configs = [TrainConfig.from_dict(d) for d in config_dicts]
    try:
        splits = cache.get(configs[0])
        backend = get_packed_backend(configs[0].framework, configs[0].device)
        fitted = train_pack(configs, splits, backend,
                            eval_splits=("val",) if "val" in splits else ())
        metrics = [{split: r.trainer.evaluate(split) for split in splits if split != "train"}
                   for r in fitted]
    except Exception as exc:  # not BaseException: Ctrl-C still stops the sweep
        why = str(exc) if isinstance(exc, SoftregError) else f"{type(exc).__name__}: {exc}"
        return [failed_result(d, why) for d in config_dicts]
    results = []
    data = data_meta(splits)
    for config, config_dict, result, totals in zip(configs, config_dicts, fitted, metrics,
                                                   strict=True):
        key, history = config_key(config), result.history
        seconds = sum(r.seconds for r in history.records)
        row = _row(config, key, history.status, len(history), result.model_epoch, history,
                   totals, seconds, data)
        row["message"] = history.message
        done: dict[str, Any] = {"row": row, "config": config_dict, "history": history.to_dict()}
        if history.status != Status.INTERRUPTED:
            row["weights"] = f"weights/{key}.safetensors"
            _store_weights(done, out, _checkpoint(result, config, result.model_epoch, key,
                                                  data))
        results.append(done)
    return results


# The settings a result row repeats from its configuration, by the configuration's names (a
# sweep's reader checks each against the configuration stored beside it).
ROW_SETTINGS = ("framework", "lr", "batch_size", "epochs", "weight_decay", "seed", "lr_schedule",
                "standardize", "val_split", "patience")
# The other settings of a configuration's key but its data settings (which every configuration
# of a sweep folder shares, and sweep.json records): rows repeat them too, so that configurations
# merged into one folder that differ only in one of them can be told apart. A result file from
# before they were written lacks them: its reader takes them from the configuration beside it.
MORE_SETTINGS = ("device", "init_std", "val_seed", "monitor", "max_loss")


def _row(config: TrainConfig, key: str, status: str, epochs_run: int, model_epoch: int,
         history: History | None, metrics: dict[str, Any], seconds: float,
         data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A result's metrics row: its settings (``setting``: all of them but the seed, see
    :func:`~softreg.sweeps.search.setting_key`), how it ended, its metrics, and the content
    fingerprint of the data it trained on (``data_fingerprint``, from ``data``: what
    :func:`~softreg.fitting.splits.data_meta` says; None when unknown), which a resumed sweep
    compares with the data as it is then."""
    last = history.last if history is not None else None
    row: dict[str, Any] = {"key": key, "setting": setting_key(config)}
    for name in ROW_SETTINGS + MORE_SETTINGS:
        row[name] = getattr(config, name)
    fingerprint = (data or {}).get("data_fingerprint")
    row["data_fingerprint"] = fingerprint if isinstance(fingerprint, str) else None
    row.update(status=status, epochs_run=epochs_run, model_epoch=model_epoch,
               train_loss=last.train_loss if last else math.nan,
               train_acc=last.train_acc if last else math.nan)
    for split in ("val", "test"):
        totals = metrics.get(split)
        row[f"{split}_loss"] = totals.mean_loss if totals is not None else math.nan
        row[f"{split}_acc"] = totals.accuracy if totals is not None else math.nan
    row["seconds"] = seconds
    return row


def _checkpoint(result: FitResult, config: TrainConfig, epoch: int, key: str,
                data: dict[str, Any]) -> checkpoint.Checkpoint:
    W, b = result.trainer.snapshot()
    meta = {"framework": config.framework, "epoch": epoch, "config": config.to_dict(),
            **data, "sweep_key": key}
    return checkpoint.Checkpoint(W, b, meta)
