"""A training run and its folder: config, metrics, figures, report and checkpoints.

Layout of a run folder::

    config.json          the configuration as given (``device`` as asked, e.g. ``auto``; the
                         device used is in report.md and the checkpoints' ``device_used``),
                         a data file's or folder's path made absolute
    metrics.csv          one row per epoch
    history.json         the same, plus how the run ended
    checkpoint.safetensors  the last epoch's weights with its epoch, resumable (rewritten
                         after every epoch, at a pace past EVERY_EPOCH_UP_TO); what --resume
                         continues
    best.safetensors     best weights by the validation metric, labelled with the best epoch
                         (with --val-split)
    curves.png predictions.png confusion.png report.md
    mistakes.png confused.png reliability.png templates.png calibration.json
                         the explain sections of report.md (see softreg.explain)

The final model (test accuracy, report, figures, and what ``evaluate``/``predict`` use when
given the folder) is the best epoch's when early stopping is on (``--patience``), however the
run ended; otherwise the last epoch's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from softreg.backends import for_single_run, get_backend
from softreg.backends.base import LinearBackend
from softreg.core.config import PER_CLASS, TrainConfig, is_per_class, recorded_data
from softreg.core.errors import ConfigError, DataError, FolderError, SoftregError
from softreg.epochs.history import EpochRecord, History, Status
from softreg.epochs.loop import EpochCallback
from softreg.epochs.progress import EpochProgress
from softreg.fitting.splits import (
    RawParams,
    data_meta,
    prepare_splits,
    refuse_changed,
    splits_shape,
)
from softreg.fitting.trainer import (
    EarlyStopping,
    LinearTrainer,
    Params,
    Resume,
    start_fit,
)
from softreg.runfiles import checkpoint
from softreg.runfiles.checkpoint_meta import recorded_spec
from softreg.safety import fileio, readback, runfolder, stopsignals, writegate
from softreg.safety.textsafe import printable

if TYPE_CHECKING:
    from softreg.runfiles.tblog import TensorBoardLog

CKPT = checkpoint.LAST
BEST = checkpoint.BEST
# A run writes its files (metrics.csv, history.json, the checkpoint) after every epoch while its
# history holds up to this many epochs. Each file holds every epoch's record, so a write takes
# longer as the run goes on: past this, the files are written once the epochs since the last
# write have taken WRITE_SHARE times as long as that write took. Writing then stays under about
# a tenth of a long run (2,000 full-batch epochs on iris took 157 s writing after every epoch,
# 3.0 s so), and a killed run loses at most the epochs of about ten writes' time; the files of
# the run's end are always written (_finish).
EVERY_EPOCH_UP_TO = 100
WRITE_SHARE = 9.0


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
    stop_exit_code: int = stopsignals.EXIT_SIGINT  # an interrupted run's: 143 after SIGTERM
    already_finished: bool = False  # a resume with nothing left to train: no epoch trained


@dataclass
class _Resume:
    config: TrainConfig  # with the new --epochs/--device, if given
    saved_config: TrainConfig  # as the checkpoint holds it
    start: Resume  # weights, history and early-stopping state to continue from
    data: str  # the data spec the checkpoint records (a file's path absolute), else config's
    fingerprint: str | None  # the data's content when the run started; None: not recorded

    @property
    def epoch(self) -> int:
        return self.start.epoch

    @property
    def history(self) -> History:
        return self.start.history


def check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """First checks of ``--out`` (or ``--resume``), before anything is read or written.

    The full checks (whose folder it is, whether another process writes in it) are made when
    the folder is claimed (:func:`softreg.safety.runfolder.claim`).
    """
    # A run stopped (kill -9, a crash) before its first epoch ended leaves config.json and no
    # checkpoint: there is nothing to resume, and only --overwrite starts it again.
    unsaved = ((out_dir / "config.json").is_file() and (out_dir / runfolder.MARKER).exists()
               and not (out_dir / CKPT).exists())
    if resume:
        if unsaved:
            raise ConfigError(f"cannot resume: the run in {str(out_dir)!r} saved no epoch (it "
                              "stopped before its first epoch ended); start it again with "
                              f"its settings and --out {str(out_dir)!r} --overwrite")
        if not (out_dir / CKPT).is_file():
            raise ConfigError(f"cannot resume: {str(out_dir / CKPT)!r} does not exist; "
                              "pass the run folder of an earlier 'softreg train --out DIR'")
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {str(out_dir)!r} exists and is not a folder")
    writegate.check_outside(out_dir)  # before the data is read (claim checks it again)
    if unsaved and not overwrite:
        raise ConfigError(f"{str(out_dir)!r} holds a run that saved no epoch (it stopped before "
                          "its first epoch ended, or is still in it), so it cannot be resumed; "
                          "choose another --out, or start it again with --overwrite")


# The settings a resumed run may change: the total number of epochs to reach, and the device
# (a checkpoint holds plain arrays, not tied to where they were computed). The total has limits
# (check_new_total): a resume must still be the run its config.json describes.
RESUME_MAY_CHANGE = ("epochs", "device")
# What an empty setting means, for a message that shows it.
_EMPTY_MEANS = {"label_column": "the column named label, class, target or y",
                "image_size": "the images as they are"}


def setting_text(name: str, value: Any) -> str:
    """``value`` of the setting ``name`` as a message shows it: an empty one as ``''`` and
    what it means (``label_column '' (the default: the column named label, ...)``), the
    default ``max_loss`` as its rule (its number depends on the data's classes)."""
    if name == "max_loss" and is_per_class(value):
        return f"{PER_CLASS} (the default: 100 times the loss of uniform guessing)"
    if value != "":
        return str(value)
    means = _EMPTY_MEANS.get(name)
    return f"'' (the default: {means})" if means else "''"


def resume_differs(differ: list[tuple[str, Any, str, Any]]) -> ConfigError:
    """The refusal of settings given with ``--resume`` that differ from the run's:
    ``differ`` holds (flag, value given, setting, the run's value) for each."""
    what = "; ".join(f"{flag} {setting_text(name, value)} differs from the resumed run's "
                     f"{name} {setting_text(name, old)}" for flag, value, name, old in differ)
    flags = " and ".join(flag for flag, *_ in differ)
    return ConfigError(f"{what}; a resumed run keeps its settings: drop {flags} or start a new "
                       "run with --out")


def found_label_column(saved: TrainConfig, given: str) -> bool:
    """Whether ``given``, a label column named with ``--resume``, may be the column the run's
    default (``label_column`` "") found in its table: one of the names that default takes.
    The run's data is then read with it, and must be the data the run recorded (its
    fingerprint; another column is refused as a setting that differs)."""
    from softreg.data.spec import parse
    from softreg.data.tables import LABEL_COLUMNS

    try:
        table = parse(saved.data).kind in ("csv", "parquet")
    except ConfigError:
        return False
    return table and saved.label_column == "" and given in LABEL_COLUMNS


def check_new_total(out_dir: Path, saved: TrainConfig, done: int, history: History,
                    epochs: int) -> None:
    """Refuse a new total of epochs, ``epochs``, that the run in ``out_dir`` cannot reach as
    one uninterrupted run with that total would have.

    Raises:
        ConfigError: ``epochs`` is below the ``done`` epochs; or differs from the saved total
            while the lr schedule is planned over that total (cosine, step: the lr of the
            epochs to come would not follow the epochs done), or the run stopped early (a run
            with more epochs stops at the same epoch).
    """
    if epochs == saved.epochs:
        return
    where = f"the run in {str(out_dir)!r}"
    if epochs < done:
        raise ConfigError(f"--epochs {epochs} is below the {done} epochs {where} has done; "
                          f"pass --epochs {saved.epochs} (its own total) or more, or drop it")
    if history.status == Status.EARLY_STOPPED:
        raise ConfigError(f"{where} stopped early after {done} epochs; --epochs {epochs} cannot "
                          "extend it (with more epochs it would have stopped at the same one): "
                          "drop --epochs, or start a new run with a larger --patience")
    if saved.lr_schedule != "constant":
        raise ConfigError(f"--epochs {epochs} would re-plan the {saved.lr_schedule} lr schedule "
                          f"of {where} over a new total (its lr would no longer follow the "
                          f"{saved.epochs} epochs it was planned for); resume with "
                          f"--epochs {saved.epochs} or drop it, or start a new run with "
                          f"--epochs {epochs}")


def load_resume(out_dir: Path, epochs: int | None, device: str | None = None) -> _Resume:
    """Read the checkpoint of an interrupted run; ``epochs`` may extend its total.

    Raises:
        CheckpointError: the checkpoint cannot be read, holds no resumable state, or any of
            its metadata is not what softreg writes (see :mod:`softreg.runfiles.checkpoint_meta`).
        ConfigError: ``device`` is unknown, or ``epochs`` a total the run cannot take
            (:func:`check_new_total`).
    """
    state = checkpoint.read_run_state(out_dir / CKPT)
    config = saved = state.config
    if epochs is not None:
        check_new_total(out_dir, saved, state.epoch, state.history, epochs)
        config = replace(config, epochs=epochs)
    if device is not None:
        config = replace(config, device=device)  # validated again: e.g. an unknown device
    best = state.best_params
    start = Resume(_carrying(state.params, state.trained), state.history, state.epoch,
                   state.early_stopping,
                   None if best is None else _carrying(best, state.best_trained))
    return _Resume(config, saved, start, recorded_spec(state.data, config.data),
                   state.data_fingerprint)


def _carrying(params: Params, trained: Params | None) -> Params:
    """``params`` with the weights they were folded from, which a restore puts back exactly
    (:class:`softreg.fitting.splits.RawParams`), when the checkpoint holds them."""
    if trained is None:
        return params
    return RawParams((params[0], params[1]), (trained[0], trained[1]))


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
               epoch: int, stopper: EarlyStopping | None, device_used: str,
               data: dict[str, Any], best: bool = False, model_file: str | None = None) -> Path:
    return fileio.write_bytes(path, _ckpt_bytes(params, config, history, epoch, stopper,
                                                device_used, data, best, model_file))


def _ckpt_bytes(params: Params, config: TrainConfig, history: History, epoch: int,
                stopper: EarlyStopping | None, device_used: str, data: dict[str, Any],
                best: bool = False, model_file: str | None = None) -> bytes:
    meta: dict[str, Any] = {
        "framework": config.framework, "epoch": epoch, "config": config.record(),
        "device_used": device_used,  # what config["device"] (e.g. "auto") resolved to
        **data,  # the data's spec, fingerprint, model shape, class names and scaling
        "history": history.to_dict(),
    }
    if model_file is not None:
        meta["model_file"] = model_file  # which file of the folder holds the final model
    extra = {}
    if stopper is not None:
        meta["early_stopping"] = stopper.state()
        if stopper.best_params is not None and not best:
            extra = {"best_W": stopper.best_params[0], "best_b": stopper.best_params[1],
                     **_trained("best_trained_", stopper.best_params)}
    if not best:  # a resumable checkpoint: what a resume continues from, exactly
        extra.update(_trained("trained_", params))
    return checkpoint.encode(checkpoint.Checkpoint(params[0], params[1], meta, extra))


def _trained(pair: str, params: Params) -> dict[str, Any]:
    """The weights for standardised inputs that ``params`` were folded from, as the tensors
    ``<pair>W``, ``<pair>b`` (none for a run without a standardisation)."""
    trained = getattr(params, "trained", None)
    return {} if trained is None else {f"{pair}W": trained[0], f"{pair}b": trained[1]}


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
    tensorboard_dir: str | Path | None = None,
    labels: str = "en",
    check_resume: Callable[[TrainConfig], None] | None = None,
    resume_label_column: str | None = None,
) -> RunResult:
    """Train (or resume) a run into ``out_dir`` and write all its files.

    With ``resume`` the run's own config is read from its checkpoint (``config`` is ignored and
    may be None); ``resume_epochs`` changes its total number of epochs and ``resume_device``
    where it trains (see :data:`RESUME_MAY_CHANGE`). Bad settings are refused before any data
    is read. The folder is claimed for the run's life (:mod:`softreg.safety.runfolder`): a new run
    needs an absent, empty or softreg-made folder, and ``overwrite`` first removes every file
    of the run it replaces. After every epoch (at a pace past :data:`EVERY_EPOCH_UP_TO`) the
    checkpoint, ``metrics.csv`` and ``history.json`` are written together. A diverged,
    interrupted or terminated (SIGTERM) run still writes its files and keeps the last good
    weights in ``checkpoint.safetensors``.
    With ``tensorboard_dir`` every epoch is also logged there (see :mod:`softreg.runfiles.tblog`).
    ``labels`` is the language of the figures' words ("en", or "ko": needs a Hangul font).
    ``check_resume`` is given the resumed run's saved settings as soon as they are read (the
    checkpoint is read once; its ``data`` is the spec the checkpoint records, a file's path
    absolute), to refuse flags that would change them. ``resume_label_column``: a label
    column named with the resume, where the run found its own by default
    (:func:`found_label_column`): the data is read with it, and another column than the run's
    is refused (:func:`resume_differs`).
    A new run's ``config.json`` and checkpoints hold its data spec with a file's path made
    absolute (:func:`softreg.core.config.recorded_data`); its data is read as given.
    """
    out = Path(out_dir)
    if figures:  # --labels ko without a Hangul font is refused before anything else
        from softreg.plots.labels import figure_text

        figure_text(labels)
    check_out_dir(out, resume, overwrite)
    if tensorboard_dir is not None:  # a missing package or bad folder stops the run here
        from softreg.core.optional import require
        from softreg.runfiles.tblog import check_logdir

        require("tensorboard")
        check_logdir(Path(tensorboard_dir), out)  # before its first event file is made
    outputs = _Outputs(figures, quiet, stream, labels, tensorboard_dir)
    if not resume:  # a resume opens it once it knows an epoch is left (_claim_and_train)
        outputs.open_tb()
    try:
        return _claim_and_train(config, out, data_dir, offline, resume, resume_epochs,
                                resume_device, overwrite, outputs, check_resume,
                                resume_label_column)
    finally:
        if outputs.tb is not None:
            outputs.tb.close()


@dataclass
class _Outputs:
    """What a run writes besides its run files, and where it reports."""

    figures: bool
    quiet: bool
    stream: TextIO | None
    labels: str
    tensorboard_dir: str | Path | None = None
    tb: TensorBoardLog | None = None

    def open_tb(self) -> None:
        """Open the ``--tensorboard`` event file (once), for a run that trains: a finished run
        resumed trains nothing, and an event file without an epoch is only clutter."""
        if self.tensorboard_dir is not None and self.tb is None:
            from softreg.runfiles.tblog import TensorBoardLog

            self.tb = TensorBoardLog(self.tensorboard_dir)


def _claim_and_train(config: TrainConfig | None, out: Path, data_dir: str | None,
                     offline: bool, resume: bool, resume_epochs: int | None,
                     resume_device: str | None, overwrite: bool, outputs: _Outputs,
                     check_resume: Callable[[TrainConfig], None] | None,
                     resume_label_column: str | None = None) -> RunResult:
    if resume:
        with runfolder.held(out, "train", "resume"):
            state = load_resume(out, resume_epochs, resume_device)
            if check_resume is not None:  # the data: the file the checkpoint records
                check_resume(replace(state.saved_config, data=state.data))
            check_agree(out, state)
            done = finished(state)
            if not done:  # before the data is read: a log folder that cannot be written stops here
                outputs.open_tb()
            # the data the run started on: its recorded spec, its content unchanged
            reading = replace(state.config, data=state.data)
            if (resume_label_column is not None
                    and found_label_column(state.saved_config, resume_label_column)):
                reading = replace(reading, label_column=resume_label_column)
            backend, splits = _resumed_data(reading, state.saved_config, data_dir, offline)
            check_same_data(splits, state.fingerprint, state.data, out)
            if done:  # (once its data is accepted: a refusal is its one line)
                print(f"softreg: {_nothing_left(out, state)}; its files are written again",
                      file=sys.stderr)
            fileio.write_json(out / "config.json", state.config.record())
            result = _train(state.config, backend, splits, out, state, outputs)
            result.already_finished = done
            return result
    if config is None:
        raise ConfigError("train_run needs a TrainConfig unless resume=True")
    backend, splits = backend_and_splits(config, data_dir, offline)
    # what config.json and the checkpoints hold: a file's path absolute, as its data records it
    config = replace(config, data=recorded_data(config.data))
    with runfolder.held(out, "train", "overwrite" if overwrite else "new"):
        fileio.write_json(out / "config.json", config.record())
        return _train(config, backend, splits, out, None, outputs)


def _resumed_data(reading: TrainConfig, saved: TrainConfig, data_dir: str | None,
                  offline: bool) -> tuple[LinearBackend, dict[str, Any]]:
    """:func:`backend_and_splits` of a resumed run's data, ``reading``: read with a label
    column given with the resume (:func:`found_label_column`) that the table lacks, the data
    is refused as a setting that differs, where the run's own setting reads it.

    Raises:
        ConfigError: that label column differs from the run's.
        DataError, DataNotFoundError: as :func:`prepare_splits`.
    """
    try:
        return backend_and_splits(reading, data_dir, offline)
    except DataError:
        if reading.label_column == saved.label_column:
            raise
        # the run's own setting reads the data (its error, if not, is the data's own)
        prepare_splits(replace(reading, label_column=saved.label_column), data_dir=data_dir,
                       offline=offline)
        raise resume_differs([("--label-column", reading.label_column, "label_column",
                               saved.label_column)]) from None


def finished(state: _Resume) -> bool:
    """Whether a resumed run has nothing left to train: its epochs are done, or it stopped
    early (early stopping would stop it again at once; its state says so)."""
    return (state.epoch >= state.config.epochs
            or state.history.status == Status.EARLY_STOPPED)


def _nothing_left(out: Path, state: _Resume) -> str:
    where = f"the run in {str(out)!r}"
    if state.history.status == Status.EARLY_STOPPED:
        return (f"{where} stopped early after {state.epoch} epochs: nothing left to train "
                "(to train further, start a new run with a larger --patience)")
    more = (f"pass --epochs N with N > {state.epoch} to train further"
            if state.config.lr_schedule == "constant" else
            f"its {state.config.lr_schedule} lr schedule is planned over its {state.epoch} "
            "epochs: to train longer, start a new run with a larger --epochs")
    return f"{where} has done {state.epoch} of {state.config.epochs} epochs: nothing left " \
           f"to train ({more})"


def backend_and_splits(config: TrainConfig, data_dir: str | None,
                       offline: bool) -> tuple[LinearBackend, dict[str, Any]]:
    """The run's backend and its prepared splits, the data read while the framework imports.

    Importing PyTorch takes about 1.5 s of one core; reading and converting Fashion-MNIST
    about 0.5 s, mostly in NumPy, hashlib and page faults, which release the GIL. So the data
    is prepared in a second thread meanwhile. When the backend can still be refused after its
    import (``--device cuda``) or its module is not even installed, nothing is read before it is
    created: those errors come first, as they always did. If the backend fails anyway, the
    data thread is waited for (it may be writing the decoded cache) and its result dropped.

    Raises:
        ConfigError, FrameworkUnavailableError: as :func:`get_backend`.
        DataError, DataNotFoundError: as :func:`prepare_splits`.
    """
    import importlib.util
    import threading

    from softreg.core.frameworks import get_framework

    module = get_framework(config.framework).module
    if config.device == "cuda" or importlib.util.find_spec(module) is None:
        backend = for_single_run(get_backend(config.framework, config.device))
        return backend, prepare_splits(config, data_dir=data_dir, offline=offline)
    result: dict[str, Any] = {}

    def prepare() -> None:
        try:
            result["splits"] = prepare_splits(config, data_dir=data_dir, offline=offline)
        except BaseException as exc:  # handed to the main thread below
            result["error"] = exc

    reader = threading.Thread(target=prepare, name="softreg-data", daemon=True)
    reader.start()
    try:
        backend = for_single_run(get_backend(config.framework, config.device))
    finally:
        reader.join()
    if "error" in result:
        raise result["error"]
    return backend, result["splits"]


def _clock() -> float:
    """Seconds, for the files' writing pace (a test may give its own clock)."""
    return time.perf_counter()


def _train(config: TrainConfig, backend: LinearBackend, splits: dict[str, Any], out: Path,
           state: _Resume | None, outputs: _Outputs) -> RunResult:
    """:func:`softreg.fitting.trainer.start_fit`'s run, with the files, of a folder that is held."""
    from softreg.jobs.report import far_columns, far_warning

    job = start_fit(config, splits, backend=backend, resume=state.start if state else None)
    data = data_meta(splits)
    warning = far_warning(far_columns(splits))
    if warning:
        print(f"softreg: warning: {warning}", file=sys.stderr)
    trainer, stopper = job.trainer, job.stopper
    if outputs.tb is not None:
        outputs.tb.watch(trainer.snapshot, splits_shape(splits))
    progress = EpochProgress(config.epochs, with_val="val" in splits, stream=outputs.stream,
                             quiet=outputs.quiet, initial=job.start_epoch)

    last_write = {"end": _clock(), "took": 0.0}

    def after_epoch(rec: EpochRecord, hist: History) -> bool:
        # After early stopping has seen the epoch. The derived files first, the checkpoint
        # (what --resume reads) last; past a long history, not after every epoch (WRITE_SHARE).
        start = _clock()
        if (len(hist) <= EVERY_EPOCH_UP_TO
                or start - last_write["end"] >= WRITE_SHARE * last_write["took"]):
            files = hist.files(out)
            files[out / CKPT] = _ckpt_bytes(trainer.snapshot(), config, hist, rec.epoch,
                                            stopper, backend.device, data)
            fileio.write_together(files)
            end = _clock()
            last_write.update(end=end, took=end - start)
        progress.update(rec)
        return False

    callbacks: list[EpochCallback] = [after_epoch, *([outputs.tb] if outputs.tb else [])]
    t0 = time.perf_counter()
    with stopsignals.sigterm_as_interrupt() as received:
        try:
            # the last epoch's weights stay in the trainer: _finish saves them before it
            # puts the best epoch's back. An early-stopped run is not run again: its epochs
            # (none) would mark it completed.
            if state is None or state.history.status != Status.EARLY_STOPPED:
                job.run(callbacks=callbacks, finish=False)
        finally:
            progress.close()
        seconds = time.perf_counter() - t0
        result = _finish(config, trainer, stopper, job.history, out, seconds, outputs.figures,
                         splits, outputs.labels, warning)
        result.stop_exit_code = received.exit_code
        return result


def check_same_data(splits: dict[str, Any], recorded: str | None, spec: str, out: Path) -> None:
    """Refuse to resume on data whose content is not what the run started on.

    Raises:
        ConfigError: the data's fingerprint is not the one the checkpoint records (a
            checkpoint without one is not checked).
    """
    got = data_meta(splits).get("data_fingerprint")
    if isinstance(got, str):
        refuse_changed(spec, got, recorded, f"the run in {str(out)!r}",
                       "start a new run on the data as it is now")


def check_agree(out: Path, state: _Resume) -> None:
    """Refuse to resume a folder whose files tell different stories.

    ``config.json`` must hold the checkpoint's settings, and ``history.json`` and
    ``metrics.csv`` the checkpoint's epochs, or one epoch more (a kill between the renames of
    one epoch's files: that epoch is trained again). A missing one is written again from the
    checkpoint.

    Raises:
        FolderError: naming the file that disagrees with ``checkpoint.safetensors``.
    """
    saved = state.saved_config
    problems = []
    try:
        if not (out / "config.json").exists():
            raise FileNotFoundError
        config = TrainConfig.from_dict(readback.read_json(out / "config.json", "config.json"))
        # A resume may have written its new --epochs/--device before its first epoch ended.
        if replace(config, **{k: getattr(saved, k) for k in RESUME_MAY_CHANGE}) != saved:
            problems.append("config.json holds other settings")
    except FileNotFoundError:
        pass  # the checkpoint holds the settings, and the resume writes config.json from them
        # (refused as "files disagree", with --overwrite advised: that would drop the run)
    except (ValueError, TypeError, SoftregError) as exc:
        problems.append(f"config.json cannot be read ({printable(exc)})")
    ours = state.start.history.to_csv().splitlines()
    try:
        if not (out / "history.json").exists():
            raise FileNotFoundError
        theirs = History.from_dict(readback.read_json(out / "history.json", "history.json"))
        if not _prefix_or_one_more(ours, theirs.to_csv().splitlines()):
            problems.append("history.json holds other epochs")
    except FileNotFoundError:
        pass  # a run killed before its first epoch was saved has none; written from here
    except (ValueError, TypeError, KeyError, AttributeError, SoftregError) as exc:
        problems.append(f"history.json cannot be read ({printable(exc)})")
    try:
        if not (out / "metrics.csv").exists():
            raise FileNotFoundError
        csv = readback.read_bytes(out / "metrics.csv", readback.JSON_LIMIT,
                                  "metrics.csv").decode("utf-8").splitlines()
        if not _prefix_or_one_more(ours, csv):
            problems.append("metrics.csv holds other epochs")
    except FileNotFoundError:
        pass
    except (OSError, ValueError, SoftregError) as exc:
        problems.append(f"metrics.csv cannot be read ({printable(exc)})")
    if problems:
        raise FolderError(
            f"cannot resume {str(out)!r}: its files disagree with {CKPT} ({'; '.join(problems)})"
            "; it may mix two runs: start a new run with --out, or replace this one with "
            "--overwrite")


def _prefix_or_one_more(ours: list[str], theirs: list[str]) -> bool:
    return theirs[:len(ours)] == ours and len(theirs) - len(ours) in (0, 1)


def _finish(config: TrainConfig, trainer: LinearTrainer, stopper: EarlyStopping | None,
            history: History, out: Path, seconds: float, figures: bool,
            splits: dict[str, Any], labels: str = "en", warning: str = "") -> RunResult:
    from softreg.jobs.report import write_outputs

    done = history.last.epoch if history.last else 0
    last = trainer.snapshot()  # the last epoch's weights: what --resume continues from
    restored = stopper.finish(history) if stopper is not None else False
    model_epoch = stopper.best_epoch if stopper is not None and restored else done
    if stopper is not None and stopper.best_params is not None:
        _save_ckpt(out / BEST, stopper.best_params, config, history, stopper.best_epoch,
                   stopper, trainer.backend.device, data_meta(splits), best=True)
    ckpt_path = _save_ckpt(out / CKPT, last, config, history, done, stopper,
                           trainer.backend.device, data_meta(splits),
                           model_file=BEST if restored else CKPT)
    test = trainer.evaluate("test")
    # After Ctrl-C the user wants out: keep the checkpoint and metrics, skip the figures.
    figures = figures and history.status != Status.INTERRUPTED
    files = write_outputs(out, config, history, trainer.backend, splits["test"], figures,
                          model_epoch=model_epoch, best_restored=restored,
                          val=splits.get("val"), labels=labels, warning=warning)
    files["checkpoint"] = ckpt_path
    if (out / BEST).exists():
        files["best"] = out / BEST
    return RunResult(config, history, out, seconds, trainer.backend.device, test.mean_loss,
                     test.accuracy, files, model_epoch, restored)


def print_summary(result: RunResult, stream: TextIO | None = None) -> None:
    """Final lines after training: metrics, status and where the files are."""
    s = stream if stream is not None else sys.stdout
    last = result.history.last
    if last is not None:
        # Name the evaluated weights only when they are not the last epoch's; then every
        # number of the line is that epoch's (the train loss and accuracy as it logged them)
        which = (f" (weights of the best epoch {result.model_epoch} by {result.config.monitor})"
                 if result.best_restored else "")
        if result.best_restored:
            last = next((r for r in result.history.records if r.epoch == result.model_epoch),
                        last)
        # a finished run resumed trained nothing now: no time to report
        took = ("already finished: nothing trained now" if result.already_finished
                else f"{result.seconds:.2f} s")
        print(f"final: train loss {last.train_loss:.4f}  train acc {last.train_acc:.4f}  "
              f"test acc {result.test_acc:.4f}{which}  ({len(result.history)} epochs, "
              f"{took}, {result.config.framework} on {result.device})", file=s)
    else:
        print(f"final: test acc {result.test_acc:.4f} with the initial weights (no epoch "
              f"trained; {result.config.framework} on {result.device})", file=s)
    if result.history.message:
        print(result.history.message, file=s)
    print(f"run folder: {result.out_dir}  (report: {result.out_dir / 'report.md'})", file=s)
    stale = older_outputs(result)
    if stale:  # a resumed run's exports and explanation describe the model it continued from
        print(f"note: {', '.join(stale)} in the run folder describe an earlier model than its "
              "checkpoint now holds (they were made before this training); run softreg export "
              "or softreg explain again for this one", file=s)


def older_outputs(result: RunResult) -> list[str]:
    """The files that ``softreg export`` and ``softreg explain`` wrote into the run folder
    before the run's checkpoint was last saved (a resumed run's): they describe the model it
    continued from, not the one it holds now."""
    from softreg.export import FORMATS

    ckpt = result.files.get("checkpoint")
    if result.already_finished or ckpt is None or not ckpt.exists():  # the model unchanged
        return []
    saved = ckpt.stat().st_mtime
    names = [name for _, name in FORMATS.values()] + ["explain.md"]
    return [n for n in names if (result.out_dir / n).is_file()
            and (result.out_dir / n).stat().st_mtime < saved]
