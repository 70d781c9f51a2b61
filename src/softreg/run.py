"""A training run and its folder: config, metrics, figures, report and checkpoints.

Layout of a run folder::

    config.json          the configuration as given (``device`` as asked, e.g. ``auto``; the
                         device used is in report.md and the checkpoints' ``device_used``)
    metrics.csv          one row per epoch
    history.json         the same, plus how the run ended
    checkpoint.safetensors  the last epoch's weights with its epoch, resumable (rewritten
                         after every epoch); what --resume continues
    best.safetensors     best weights by the validation metric, labelled with the best epoch
                         (with --val-split)
    curves.png predictions.png confusion.png report.md

The final model (test accuracy, report, figures, and what ``evaluate``/``predict`` use when
given the folder) is the best epoch's when early stopping is on (``--patience``), however the
run ended; otherwise the last epoch's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from softreg import checkpoint, fileio
from softreg.backends import get_backend
from softreg.config import TrainConfig
from softreg.errors import ConfigError
from softreg.history import EpochRecord, History
from softreg.loop import run_epochs
from softreg.progress import EpochProgress
from softreg.training import EarlyStopping, LinearTrainer, Params, initial_params, prepare_splits

CKPT = checkpoint.LAST
BEST = checkpoint.BEST


@dataclass
class RunResult:
    """What a run produced: its config, history, folder and final test metrics.

    ``test_loss`` and ``test_acc`` are those of the weights of epoch ``model_epoch``: the best
    epoch when ``best_restored``, the last one otherwise. ``device`` is the device actually
    used (``cpu`` or ``cuda``), whatever ``config.device`` asked for.
    """

    config: TrainConfig
    history: History
    out_dir: Path
    seconds: float
    device: str
    test_loss: float
    test_acc: float
    files: dict[str, Path]
    model_epoch: int = 0
    best_restored: bool = False


@dataclass
class _Resume:
    config: TrainConfig
    history: History
    params: Params
    epoch: int
    stopper_state: dict[str, Any] | None
    best_params: Params | None


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix a new run into a folder that already holds one (nothing is lost)."""
    if resume:
        if not (out_dir / CKPT).is_file():
            raise ConfigError(f"cannot resume: {str(out_dir / CKPT)!r} does not exist; "
                              "pass the run folder of an earlier 'softreg train --out DIR'")
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {str(out_dir)!r} exists and is not a folder")
    if (out_dir / CKPT).exists() and not overwrite:
        raise ConfigError(
            f"run folder {str(out_dir)!r} already holds a run; choose another --out, continue "
            f"it with --resume {out_dir}, or replace it with --overwrite"
        )


# The settings a resumed run may change: the total number of epochs to reach, and the device
# (a checkpoint holds plain arrays, not tied to where they were computed).
RESUME_MAY_CHANGE = ("epochs", "device")


def load_resume(out_dir: Path, epochs: int | None, device: str | None = None) -> _Resume:
    """Read the checkpoint of an interrupted run; ``epochs`` may extend its total.

    Raises:
        ConfigError: the checkpoint holds no resumable state, or ``device`` is unknown.
    """
    ck = checkpoint.load(out_dir / CKPT)
    try:
        config = TrainConfig.from_dict(ck.meta["config"])
        history = History.from_dict(ck.meta["history"])
        epoch = int(ck.meta["epoch"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{str(out_dir / CKPT)!r} has no resumable state ({exc})") from exc
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if device is not None:
        config = replace(config, device=device)  # validated again: e.g. an unknown device
    best = None
    if "best_W" in ck.extra:
        best = (ck.extra["best_W"], ck.extra["best_b"])
    return _Resume(config, history, (ck.W, ck.b), epoch, ck.meta.get("early_stopping"), best)


def saved_config(out_dir: str | Path) -> TrainConfig:
    """The configuration of the run in ``out_dir``, as its checkpoint saved it.

    Raises:
        ConfigError: ``out_dir`` holds no resumable run.
        CheckpointError: its checkpoint cannot be read.
    """
    out = Path(out_dir)
    check_out_dir(out, resume=True, overwrite=False)
    return load_resume(out, None).config


def _save_ckpt(path: Path, params: Params, config: TrainConfig, history: History,
               epoch: int, stopper: EarlyStopping | None, device_used: str, best: bool = False,
               model_file: str | None = None) -> Path:
    from softreg.data import CLASS_NAMES

    meta: dict[str, Any] = {
        "framework": config.framework, "epoch": epoch, "config": config.to_dict(),
        "device_used": device_used,  # what config["device"] (e.g. "auto") resolved to
        "class_names": list(CLASS_NAMES), "history": history.to_dict(),
    }
    if model_file is not None:
        meta["model_file"] = model_file  # which file of the folder holds the final model
    extra = {}
    if stopper is not None:
        meta["early_stopping"] = stopper.state()
        if stopper.best_params is not None and not best:
            extra = {"best_W": stopper.best_params[0], "best_b": stopper.best_params[1]}
    return checkpoint.save(path, checkpoint.Checkpoint(params[0], params[1], meta, extra))


def train_run(
    config: TrainConfig | None,
    out_dir: str | Path,
    *,
    data_dir: str | None = None,
    offline: bool = False,
    resume: bool = False,
    resume_epochs: int | None = None,
    resume_device: str | None = None,
    overwrite: bool = False,
    figures: bool = True,
    quiet: bool = False,
    stream: TextIO | None = None,
    labels: str = "en",
) -> RunResult:
    """Train (or resume) a run into ``out_dir`` and write all its files.

    With ``resume`` the run's own config is read from its checkpoint (``config`` is ignored and
    may be None); ``resume_epochs`` changes its total number of epochs and ``resume_device``
    where it trains (see :data:`RESUME_MAY_CHANGE`). Bad settings are refused before any data
    is read. A diverged or interrupted run still
    writes its files and keeps the last good weights in ``checkpoint.safetensors``.
    ``labels`` is the language of the figures' words ("en", or "ko": needs a Hangul font).
    """
    import time

    out = Path(out_dir)
    if figures:  # --labels ko without a Hangul font is refused before anything else
        from softreg.plots.labels import figure_text

        figure_text(labels)
    check_out_dir(out, resume, overwrite)
    state = load_resume(out, resume_epochs, resume_device) if resume else None
    if state is not None:
        config = state.config
    elif config is None:
        raise ConfigError("train_run needs a TrainConfig unless resume=True")
    backend = get_backend(config.framework, config.device)  # validates the device first
    splits = prepare_splits(config, data_dir=data_dir, offline=offline)
    trainer = LinearTrainer(backend, config, splits)
    trainer.restore(state.params if state else initial_params(config.seed, config.init_std))
    history = state.history if state else History()
    start = state.epoch if state else 0
    with_val = "val" in splits
    stopper = EarlyStopping(trainer, config.monitor, config.patience) if with_val else None
    if stopper is not None and state is not None and state.stopper_state:
        stopper.load_state(state.stopper_state, state.best_params)
    fileio.write_json(out / "config.json", config.to_dict())

    progress = EpochProgress(config.epochs, with_val=with_val, stream=stream, quiet=quiet,
                             initial=start)

    def after_epoch(rec: EpochRecord, hist: History) -> bool:
        stop = stopper(rec, hist) if stopper is not None else False
        _save_ckpt(out / CKPT, trainer.snapshot(), config, hist, rec.epoch, stopper,
                   backend.device)
        progress.update(rec)
        return stop

    t0 = time.perf_counter()
    try:
        history = run_epochs(
            trainer, config.epochs, start_epoch=start,
            eval_splits=("val", "test") if with_val else ("test",),
            callbacks=[after_epoch], history=history, lr_for_epoch=config.lr_at,
            max_loss=config.max_loss,
        )
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    return _finish(config, trainer, stopper, history, out, seconds, figures, splits, labels)


def _finish(config: TrainConfig, trainer: LinearTrainer, stopper: EarlyStopping | None,
            history: History, out: Path, seconds: float, figures: bool,
            splits: dict[str, Any], labels: str = "en") -> RunResult:
    from softreg.report import write_outputs

    done = history.last.epoch if history.last else 0
    last = trainer.snapshot()  # the last epoch's weights: what --resume continues from
    restored = stopper.finish(history) if stopper is not None else False
    model_epoch = stopper.best_epoch if stopper is not None and restored else done
    if stopper is not None and stopper.best_params is not None:
        _save_ckpt(out / BEST, stopper.best_params, config, history, stopper.best_epoch,
                   stopper, trainer.backend.device, best=True)
    ckpt_path = _save_ckpt(out / CKPT, last, config, history, done, stopper,
                           trainer.backend.device, model_file=BEST if restored else CKPT)
    test = trainer.evaluate("test")
    # After Ctrl-C the user wants out: keep the checkpoint and metrics, skip the figures.
    figures = figures and history.status != "interrupted"
    files = write_outputs(out, config, history, trainer.backend, splits["test"], figures,
                          model_epoch=model_epoch, best_restored=restored, labels=labels)
    files["checkpoint"] = ckpt_path
    if (out / BEST).exists():
        files["best"] = out / BEST
    return RunResult(config, history, out, seconds, trainer.backend.device, test.mean_loss,
                     test.accuracy, files, model_epoch, restored)


def default_out_dir(config: TrainConfig) -> Path:
    """``runs/<framework>-<YYYYmmdd-HHMMSS>``: a new folder for each run."""
    import datetime

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.framework}-{stamp}"


def print_summary(result: RunResult, stream: TextIO | None = None) -> None:
    """Final lines after training: metrics, status and where the files are."""
    s = stream if stream is not None else sys.stdout
    last = result.history.last
    if last is not None:
        # Name the evaluated weights only when they are not the last epoch's.
        which = (f" (weights of the best epoch {result.model_epoch} by {result.config.monitor})"
                 if result.best_restored else "")
        print(f"final: train loss {last.train_loss:.4f}  train acc {last.train_acc:.4f}  "
              f"test acc {result.test_acc:.4f}{which}  ({len(result.history)} epochs, "
              f"{result.seconds:.2f} s, {result.config.framework} on {result.device})", file=s)
    if result.history.message:
        print(result.history.message, file=s)
    print(f"run folder: {result.out_dir}  (report: {result.out_dir / 'report.md'})", file=s)
