"""``softreg sweep``: train many configurations, choose the best by validation accuracy.

Layout of a sweep folder::

    sweep.json                    the search space and its configurations (after a merge,
                                  also the earlier sweeps' spaces and the axes' union)
    results/<key>.json            one finished configuration: settings, metrics, history
    weights/<key>.safetensors     its model (raw-pixel weights; ``softreg evaluate`` reads it)
    results.csv                   every finished configuration, the best by the criterion first
    best.json                     the chosen configuration, what it was chosen on (``select``)
                                  and its refit, with ``refit``
    heatmap.png curves.png        the criterion over lr x batch size; learning curves

A configuration counts as finished once its ``results/<key>.json`` exists (written atomically
when it ends), so rerunning an interrupted sweep into the same folder skips those. Diverged
configurations are finished too: they are recorded as ``diverged`` and never chosen. A result
is tied to the data it was trained on: its file records the data's content fingerprint, and a
rerun after the data changed is refused (:class:`SameData`) rather than mixing old and new.

Model selection looks at the validation split only, by a criterion the user picks
(:mod:`softreg.sweeps.selection`: the validation loss by default, averaged over seeds when the sweep
varies them). Test metrics are recorded for every configuration, for the reader, and never
used to choose.

A configuration's numbers depend on the configuration alone (on one machine and library
version): not on the engine, ``jobs``, the packs or a resume (see :mod:`softreg.fitting.pack`), and
the files list rows in an order fixed by their values and keys.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, TextIO

from softreg.core.config import DATA_SETTINGS, TrainConfig, recorded_data
from softreg.core.errors import CheckpointError, ConfigError, HistoryError
from softreg.core.validate import check_int
from softreg.epochs.history import SELECTABLE, History, Status
from softreg.fitting.pack_plan import balance, current_packing, default_pack_memory, plan_packs
from softreg.fitting.splits import (
    data_key,
    load_dataset,
    prepare_splits,
    refuse_changed,
)
from softreg.runfiles import checkpoint
from softreg.safety import fileio, readback, runfolder, stopsignals, writegate
from softreg.safety.textsafe import printable
from softreg.sweeps import engines, selection
from softreg.sweeps import merge as sweep_merge
from softreg.sweeps.engines import sigterm_kept
from softreg.sweeps.search import SearchSpace, config_key, configurations, describe, setting_key
from softreg.sweeps.worker import MORE_SETTINGS, ROW_SETTINGS, SplitCache, run_config

# results.csv's columns. The settings of a configuration's key that came later
# (MORE_SETTINGS: device, init_std, val_seed, monitor, max_loss) are at the end, so that the
# columns before them keep their places for readers of older tables; the data settings are
# not columns: every configuration of a folder shares them (sweep.json records them).
COLUMNS = (
    "key", "framework", "lr", "batch_size", "epochs", "weight_decay", "seed", "lr_schedule",
    "standardize", "val_split", "patience", "status", "epochs_run", "model_epoch",
    "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds",
    *MORE_SETTINGS,
)


@dataclass
class SweepResult:
    """A finished sweep: its rows (best first), the best row and its refit, if any."""

    out_dir: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    refit: dict[str, Any] | None
    skipped: int
    seconds: float
    files: dict[str, Path]
    selection: dict[str, Any] | None = None


def select_best(rows: Sequence[dict[str, Any]],
                select: str = selection.DEFAULT) -> dict[str, Any] | None:
    """The row chosen by criterion ``select`` (:func:`softreg.sweeps.selection.select`).

    Diverged or failed configurations are never chosen; test metrics are never looked at.
    """
    return selection.select(rows, select)[0]


def run_sweep(
    space: SearchSpace,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    data_dir: str | None = None,
    offline: bool = False,
    refit: bool = False,
    figures: bool = True,
    quiet: bool = False,
    stream: TextIO | None = None,
    engine: str = "local",
    address: str | None = None,
    gpus_per_task: float = 1.0,
    select: str = selection.DEFAULT,
    data_shapes: DataShapes | None = None,
) -> SweepResult:
    """Train every configuration of ``space`` not yet finished in ``out_dir``, then report.

    Args:
        space: the search space; its base config must hold out a validation split.
        out_dir: the sweep folder (created; an existing one is resumed).
        jobs: worker processes (1 = train in this process); with ``engine="ray"`` and no
            address, the CPUs of the local Ray cluster.
        data_dir, offline: where the Fashion-MNIST files are (see ``softreg.data``).
        refit: retrain the chosen configuration on the whole training set (train + val).
        figures: write heatmap.png and curves.png.
        quiet: no progress lines.
        stream: where progress goes (default stdout).
        engine: ``local`` (this machine) or ``ray`` (see :mod:`softreg.sweeps.engines`).
        address: the Ray cluster (``auto``, ``host:port``, ``ray://host:10001``); without
            one, ``RAY_ADDRESS`` or a local cluster started for the sweep.
        gpus_per_task: the GPU share each Ray task declares for ``cuda`` configurations.
        select: the criterion that chooses (:data:`softreg.sweeps.selection.CRITERIA`).
        data_shapes: the data's model shapes as :func:`check_data` read them (that call's
            return value), so that the data is not read again; by default read here.

    Raises:
        ConfigError: no validation split, a bad ``jobs``, an invalid configuration, or
            ``out_dir`` is a file (checked before anything is written; see
            :func:`check_sweep`); data that cannot be read, or packs that cannot hold one of
            its models (checked before the folder is made or claimed, see
            :func:`check_data`); a folder of a sweep that cannot be merged with this one
            (:func:`softreg.sweeps.merge.merge`), or whose finished configurations were
            trained on data that has changed since (:class:`SameData`; both before anything
            is trained); the chosen configuration's weights file (or a reused refit's) is
            missing, a link or unreadable (:func:`check_weights`).
        EngineError: the Ray cluster does not answer, or its nodes lack softreg or a framework.
        KeyboardInterrupt: after Ctrl-C (:class:`~softreg.safety.stopsignals.Terminated`
            after SIGTERM), once the finished configurations are saved; or during the refit,
            which is then not recorded (the next run trains it again).
    """
    s = stream if stream is not None else sys.stdout
    selection.criterion(select)  # an unknown criterion is refused before any work
    configs = check_sweep(space, out_dir, jobs, engine=engine, address=address,
                          gpus_per_task=gpus_per_task)
    out = Path(out_dir)
    # read before the folder is claimed: a sweep refused for its data (or for packs too
    # small for its models) leaves no folder of its own and no file in the user's
    shapes = check_data(configs, data_dir, offline, engine=engine, jobs=jobs,
                        shapes=data_shapes)
    jobs = usable_jobs(jobs, s if not quiet else None)
    eng = engines.make_engine(engine, jobs=jobs, address=address, data_dir=data_dir,
                              offline=offline, gpus_per_task=gpus_per_task,
                              stream=None if quiet else s)
    with runfolder.held(out, "sweep", "add"), stopsignals.sigterm_as_interrupt(), \
            sigterm_kept(), contextlib.ExitStack() as started:
        # the data as the folder names it (a file's path absolute, or as an earlier sweep there
        # held the same file): the configurations' keys do not depend on how it was typed
        space, configs = _with_data(space, configs,
                                    sweep_merge.folder_data(out, recorded_data(space.base.data)))
        # another sweep's configurations there: merged (or refused), never silently dropped
        configs, merging = sweep_merge.merge(out, configs)
        by_key = {config_key(c): c for c in configs}
        keys = set(by_key)
        done = {k: v for k, v in _load_rows(out).items() if k in keys}
        same_data = SameData(out, data_dir, offline)
        for key, row in sorted(done.items()):  # refused before anything is trained or written
            same_data.check(by_key[key], row, out / "results" / f"{key}.json")
        if merging and not quiet:
            print(merging, file=s)
        remove_orphans(out, keys)  # keys: this sweep's and those planned there before
        # one data setting after another
        todo = sorted((c for c in configs if config_key(c) not in done), key=data_key)
        # planned (configurations planned there before included) before sweep.json is written
        packs = _plan(todo, engine, jobs, shapes)
        if todo:  # the engine starts (or connects to its cluster) only when there is work
            started.enter_context(eng)
        spec = _spec(space, configs)
        this_run = {k: spec[k] for k in sweep_merge.RUN_KEYS}
        runs = sweep_merge.earlier_runs(out, this_run)
        if runs:  # another command's configurations are in this folder too: say both
            spec["earlier_runs"] = runs
            spec["axes_union"] = sweep_merge.axes_union(configs, [*runs, this_run])
        fileio.write_json(out / "sweep.json", {**spec, "engine": eng.describe()})
        if done and not quiet:
            print(f"resuming {out}: {len(done)} of {len(configs)} configurations already "
                  "finished, skipped", file=s)
        t0 = time.perf_counter()
        names = space.varied()
        try:
            rows = _train_all(todo, packs, out, eng)
            for i, row in enumerate(rows, start=len(done) + 1):
                done[row["key"]] = row
                if not quiet:
                    print(f"[{i}/{len(configs)}] {describe(row, names) or row['key']}: "
                          f"{_status_text(row)}", file=s, flush=True)
        except KeyboardInterrupt:
            # What finished stays usable: its table now (a pack records its finished
            # configurations before it stops the sweep), the rest on the next run.
            finished = {k: v for k, v in _load_rows(out).items() if k in keys}
            write_results_csv(out / "results.csv",
                              _sorted_rows(list(finished.values()), select))
            remove_orphans(out, keys)
            raise
        return _finish(space, out, list(done.values()), len(configs) - len(todo),
                       time.perf_counter() - t0, refit=refit, figures=figures,
                       same_data=same_data, select=select)


def _with_data(space: SearchSpace, configs: list[TrainConfig],
               data: str) -> tuple[SearchSpace, list[TrainConfig]]:
    """``space`` and its ``configs`` with the data setting ``data`` (the same data, named as
    the sweep folder records it)."""
    if data == space.base.data:
        return space, configs
    return (replace(space, base=replace(space.base, data=data)),
            [replace(c, data=data) for c in configs])


def usable_jobs(jobs: int, stream: TextIO | None) -> int:
    """``jobs`` capped at the cores this process may use, saying so on ``stream``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, cores or 1)
    if jobs > cores:
        if stream is not None:
            print(f"--jobs {jobs} is more than the {cores} usable cores: running {cores} "
                  "workers (more would only wait for each other and use more memory)",
                  file=stream)
        return cores
    return jobs


def remove_orphans(out: Path, planned: set[str]) -> list[Path]:
    """Delete the weights of configurations that never finished (no results/<key>.json).

    Only ``weights/<key>.safetensors`` for a key in ``planned`` (configurations softreg's own
    records hold: this sweep's, merged with the previous sweep.json's) is a candidate, and only as a
    regular file in a real ``weights`` folder (see :mod:`softreg.safety.writegate`): a file the user
    put there, or a link, is left alone.
    """
    removed = []
    results = writegate.real_folder(out, "results")
    finished = {p.stem for p in results.glob("*.json")} if results is not None else set()
    for key in sorted(planned - finished):
        rel = f"weights/{key}.safetensors"
        if writegate.remove_own_file(out, rel):
            removed.append(out / rel)
    return removed


class SameData:
    """Refuses to reuse a sweep's results (or its refit) trained on data whose content is not
    the data's content now.

    A result file records the content fingerprint of the data it was trained on (an older one
    does not: its weights file does). Each data setting is read once, the first time a result
    of it is checked, and its fingerprint compared. A refusal rather than a retraining: the
    folder's table and choice are of one dataset, and a change of the data is often not meant
    (a file regenerated, a relative path read from another folder), so the user is told, as
    ``train --resume`` does, and decides: restore the data, or sweep it into another folder.
    """

    def __init__(self, out: Path, data_dir: str | None, offline: bool) -> None:
        self.out = out
        self.data_dir = data_dir
        self.offline = offline
        self.now: dict[tuple[Any, ...], str] = {}  # data settings -> fingerprint now

    def check(self, config: TrainConfig, row: dict[str, Any], path: Path) -> None:
        """Refuse ``row`` (of the result file ``path``, trained with ``config``) when its data
        changed since.

        Raises:
            ConfigError: the data's fingerprint is not the recorded one (naming the data and
                what to do), or an older result's weights cannot be read to tell.
        """
        recorded = self._recorded(row, path)
        if recorded is None:  # data without a fingerprint: nothing to compare
            return
        which = tuple(getattr(config, name) for name in DATA_SETTINGS)
        if which not in self.now:
            self.now[which] = load_dataset(config, self.data_dir, self.offline).fingerprint
        refuse_changed(config.data, self.now[which], recorded, f"the sweep in {str(self.out)!r}",
                       "choose another --out to sweep the data as it is now")

    def _recorded(self, row: dict[str, Any], path: Path) -> str | None:
        if "data_fingerprint" in row:  # NaN: JSON null, no fingerprint known
            value = row["data_fingerprint"]
            return value if isinstance(value, str) else None
        try:  # a result file older than the field: its weights record the fingerprint
            meta = checkpoint.load(self.out / row["weights"]).meta
        except CheckpointError as exc:
            raise ConfigError(f"{exc}; the data of {str(path)!r} cannot be checked without its "
                              "weights: delete that file to train its configuration again") \
                from None
        value = meta.get("data_fingerprint")
        return value if isinstance(value, str) else None


class DataShapes:
    """The model shape (C, D) of each data setting of a sweep's configurations, each read once.

    Each source is loaded (a named dataset found, downloaded where it is online and missing,
    and verified), which refuses data that cannot be read, and split as its configurations
    split it (:func:`~softreg.fitting.splits.prepare_splits`), which refuses a ``--val-split``
    or ``--test-split`` that leaves a part empty: refusals that every one of its
    configurations would meet, found before the sweep makes or claims its folder (a named
    dataset missing offline left an empty sweep folder behind when only its table was read).
    """

    def __init__(self, data_dir: str | None = None, offline: bool = False) -> None:
        self.data_dir = data_dir
        self.offline = offline
        self.known: dict[tuple[Any, ...], tuple[int, int]] = {}
        # the data last loaded, by its data settings: a --val-split or --val-seed axis splits
        # one load several ways, not a load each (dropped by forget, once the checks are done)
        self._loaded: tuple[tuple[Any, ...], Any] | None = None

    def __call__(self, config: TrainConfig) -> tuple[int, int]:
        which = (*(getattr(config, name) for name in DATA_SETTINGS), config.val_split,
                 config.val_seed)
        if which not in self.known:
            self.known[which] = self._read(config)
        return self.known[which]

    def _read(self, config: TrainConfig) -> tuple[int, int]:
        key = tuple(getattr(config, name) for name in DATA_SETTINGS)
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = (key, load_dataset(config, self.data_dir, self.offline))
        dataset = self._loaded[1]
        prepare_splits(config, dataset=dataset, scale=False)  # (a copy, dropped at once)
        return dataset.shape.weights

    def forget(self) -> None:
        """Drop the data last loaded (the shapes stay): the sweep's own processes read it."""
        self._loaded = None


def check_data(configs: Sequence[TrainConfig], data_dir: str | None = None,
               offline: bool = False, *, engine: str = "local", jobs: int = 1,
               shapes: DataShapes | None = None) -> DataShapes:
    """Read the data of ``configs`` and plan their packs (:func:`~softreg.fitting.pack_plan.
    current_packing`) for its model shape, without writing anything; return the shapes read.

    :func:`run_sweep` calls this before it makes or claims its folder; call it yourself after
    :func:`check_sweep` to refuse bad data before printing anything about the sweep (and pass
    its return value to :func:`run_sweep` as ``data_shapes``).

    Raises:
        ConfigError, DataError, DataNotFoundError: the data cannot be read (as
            :func:`~softreg.fitting.splits.load_dataset`); a pack memory budget that does not
            hold one model of the data's shape (:func:`~softreg.fitting.pack_plan.plan_packs`).
    """
    shapes = shapes if shapes is not None else DataShapes(data_dir, offline)
    try:
        for config in configs:
            shapes(config)
    finally:
        shapes.forget()
    _plan(list(configs), engine, usable_jobs(jobs, None), shapes)
    return shapes


def _plan(configs: list[TrainConfig], engine: str, jobs: int,
          shapes: DataShapes) -> list[list[int]] | None:
    """The packs of ``configs`` (indices), sized for the data's model shape; None when the
    sweep trains one configuration at a time (:func:`~softreg.fitting.pack_plan.packing`)."""
    settings = current_packing()
    if not settings.enabled or not configs:
        return None
    # without --pack-memory, each local worker gets its share of this machine's memory
    # (a Ray task runs on a node of its own: it plans with that node's whole share)
    workers = jobs if engine == "local" else 1
    memory = settings.memory if settings.memory is not None else default_pack_memory(workers)
    return plan_packs(configs, settings.max_models, memory, shapes)


def check_sweep(space: SearchSpace, out_dir: str | Path, jobs: int, *, engine: str = "local",
                address: str | None = None, gpus_per_task: float = 1.0) -> list[TrainConfig]:
    """Check a sweep's settings without writing anything; return its configurations.

    :func:`run_sweep` calls this first; call it yourself to refuse bad settings before
    printing anything about the sweep.

    Raises:
        ConfigError: no validation split, a bad ``jobs``, an unknown engine, an address for
            the local engine, a bad GPU share, an invalid configuration, or ``out_dir`` is a
            file.
    """
    engines.check_engine(engine, address, gpus_per_task)
    if not space.base.val_split:
        raise ConfigError("a sweep chooses by validation accuracy and needs a validation split; "
                          "add e.g. --val-split 0.1 (the test set is never used to choose)")
    check_int(jobs, "jobs", 1)
    configs = configurations(space)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a folder")
    return configs


def _train_all(todo: list[TrainConfig], packs: list[list[int]] | None, out: Path,
               engine: engines.Engine) -> Iterator[dict[str, Any]]:
    """Train ``todo`` on ``engine``; yield each row as it finishes (its result file written).

    A unit of work is a pack of ``packs`` (:func:`_plan`: planned by what they share and sized
    for the data's model shape (:class:`DataShapes`), then split here until every slot of the
    engine has one) or, unpacked (``packs`` None), one configuration.
    """
    if packs is not None and todo:
        units = [[todo[i].to_dict() for i in pack] for pack in balance(packs, engine.slots)]
    else:
        units = [[c.to_dict()] for c in todo]
    run = engine.run(units, out)
    for results in run:
        try:
            yield from _record_pack(out, results)
        except KeyboardInterrupt as stop:
            # Stopped while recording (or by a unit's interrupted result): the engine stops
            # too and hands back the units that ended meanwhile, recorded before the stop goes
            # on (with none, it raises the stop again).
            yield from _record_pack(out, run.throw(stop))
            raise


def _record(out: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Save a finished configuration's result file; an interrupted one stops the sweep.

    A failed one (e.g. its framework is not installed) is reported but not saved, so that
    the next run of the sweep tries it again.
    """
    status = result["row"]["status"]
    for name in MORE_SETTINGS:  # a worker of an older softreg (a Ray node's) did not write them
        result["row"].setdefault(name, result["config"].get(name))
    if status == Status.INTERRUPTED:
        raise KeyboardInterrupt
    if status == Status.FAILED:
        failed: dict[str, Any] = result["row"]
        return failed
    fileio.write_json(out / "results" / f"{result['row']['key']}.json", result)
    row: dict[str, Any] = result["row"]
    return row


def _record_pack(out: Path, results: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Record a unit's results; its interrupted ones last, so every finished one is kept."""
    ordered = sorted(results, key=lambda r: r["row"]["status"] == Status.INTERRUPTED)
    for result in ordered:
        yield _record(out, result)


def _status_text(row: dict[str, Any]) -> str:
    if row["status"] in SELECTABLE:
        return f"val_acc {row['val_acc']:.4f}  {row['status']}  ({row['seconds']:.1f} s)"
    # "training diverged in epoch 3: ..." -> its first clause; a failure keeps its whole text
    message = printable(row.get("message", ""))  # may come from a results file: escaped
    return message.split(":")[0] if row["status"] == Status.DIVERGED else f"failed: {message}"


def _spec(space: SearchSpace, configs: list[TrainConfig]) -> dict[str, Any]:
    axes = {n: (list(v) if isinstance(v, tuple) else {"lo": v.lo, "hi": v.hi})
            for n, v in space.axes.items()}
    return {"search": space.search, "trials": space.trials, "search_seed": space.search_seed,
            "base": space.base.to_dict(), "axes": axes,
            "configurations": {config_key(c): c.to_dict() for c in configs}}


def _load_rows(out: Path) -> dict[str, dict[str, Any]]:
    """The finished configurations' rows, each file checked (see :func:`_read_row`)."""
    rows: dict[str, dict[str, Any]] = {}
    results = writegate.real_folder(out, "results")
    for path in sorted(results.glob("*.json")) if results is not None else ():
        row = _read_row(path, out)
        if row["key"] != path.stem:
            _bad_row(path, "key", row["key"], f"the file's name, {path.stem!r}")
        rows[str(row["key"])] = row
    return rows


# The fields of a result row and what each must be: settings and metrics (None for NaN).
_TEXT = ("key", "framework", "lr_schedule", "status")
_INTS = ("batch_size", "epochs", "seed", "patience", "epochs_run", "model_epoch")
_NUMBERS = ("lr", "weight_decay", "val_split", "train_loss", "train_acc", "val_loss", "val_acc",
            "test_loss", "test_acc", "seconds")
ROW_STATUSES = (Status.COMPLETED, Status.EARLY_STOPPED, Status.DIVERGED)
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")  # a data fingerprint: see softreg.data.dataset


# Ranges of the metrics a result row may claim (a tampered 99 is refused, not chosen).
_RANGES = {"train_acc": (0.0, 1.0), "val_acc": (0.0, 1.0), "test_acc": (0.0, 1.0),
           "train_loss": (0.0, None), "val_loss": (0.0, None), "test_loss": (0.0, None),
           "seconds": (0.0, None), "lr": (0.0, None), "weight_decay": (0.0, None),
           "val_split": (0.0, 1.0), "epochs_run": (0, None), "model_epoch": (0, None)}


def read_result(path: Path, out: Path | None = None) -> dict[str, Any]:
    """A result file of a sweep, read through :mod:`softreg.safety.readback` and checked: its row
    (see :func:`_read_row`), its ``config`` (whose key must be the row's), its ``history``.

    Raises:
        ConfigError: naming the file and the field that is wrong.
    """
    fix = "; delete it to train that configuration again"
    try:
        data = readback.read_json(path, "result file")
    except ConfigError as exc:
        raise ConfigError(f"{exc}{fix}") from None
    if not isinstance(data, dict):
        _bad_row(path, "(the file)", data, "a JSON object")
    _check_row(path, data.get("row"), out)
    config = data.get("config")
    if not isinstance(config, dict):
        _bad_row(path, "config", config, "an object")
    try:
        settings = TrainConfig.from_dict(config)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{str(path)!r}: its config cannot be read ({printable(exc)}){fix}") \
            from None
    key = config_key(settings)
    if key != data["row"]["key"]:
        _bad_row(path, "key", data["row"]["key"], f"the key of its config, {key!r}")
    for name in ROW_SETTINGS:  # the table shows the row's settings: they must be the config's
        wanted = getattr(settings, name)
        if data["row"].get(name) != wanted:
            _bad_row(path, name, data["row"].get(name), f"its config's, {wanted!r}")
    for name in MORE_SETTINGS:  # a file written before rows held them: from its config
        wanted = getattr(settings, name)
        if data["row"].setdefault(name, wanted) != wanted:
            _bad_row(path, name, data["row"][name], f"its config's, {wanted!r}")
    # which rows are the seeds of one setting: from the config, whatever the file says (an
    # older file has no "setting")
    data["row"]["setting"] = setting_key(settings)
    try:
        History.from_dict(data.get("history"))
    except HistoryError as exc:
        raise ConfigError(f"{str(path)!r}: field 'history': {printable(exc)}{fix}") from None
    return data


def _read_row(path: Path, out: Path | None = None) -> dict[str, Any]:
    """The metrics row of a result file (JSON null, written for NaN, back to NaN).

    Raises:
        ConfigError: the file is not JSON, or a field is missing, of the wrong type or out
            of its range, or its weights path leaves the sweep folder; the message names the
            file and the field.
    """
    data = read_result(path, out)
    row: dict[str, Any] = data["row"]
    return {k: (math.nan if v is None else v) for k, v in row.items()}


def _check_row(path: Path, row: Any, out: Path | None) -> None:
    """Types and ranges of a result row's fields (see :func:`read_result`)."""
    if not isinstance(row, dict):
        _bad_row(path, "row", row, "an object")
    for name in _TEXT:
        if not isinstance(row.get(name), str):
            _bad_row(path, name, row.get(name), "a string")
    if row["status"] not in ROW_STATUSES:
        _bad_row(path, "status", row["status"], " or ".join(ROW_STATUSES))
    for name in _INTS:
        if type(row.get(name)) is not int:
            _bad_row(path, name, row.get(name), "an integer")
    for name in _NUMBERS:
        value = row.get(name)
        if value is not None and (type(value) not in (int, float)):
            _bad_row(path, name, value, "a number")
    if type(row.get("standardize")) is not bool:
        _bad_row(path, "standardize", row.get("standardize"), "true or false")
    fingerprint = row.get("data_fingerprint")  # absent in a file older than the field
    if fingerprint is not None and not (isinstance(fingerprint, str)
                                        and _FINGERPRINT.fullmatch(fingerprint)):
        _bad_row(path, "data_fingerprint", fingerprint, "a sha256 in hexadecimal, or null")
    for name, (lo, hi) in _RANGES.items():
        value = row.get(name)
        if isinstance(value, int | float) and not math.isnan(value) and (
                value < lo or (hi is not None and value > hi)):  # -inf, or inf where bounded
            _bad_row(path, name, value, f"in [{lo}, {'inf' if hi is None else hi}]")
    weights = row.get("weights")
    where = f"{str(path)!r}: field 'weights'"
    folder = out if out is not None else path.parent.parent
    target = readback.inside(folder, weights, where)
    if target.parent != folder / "weights" or target.suffix != ".safetensors":
        _bad_row(path, "weights", weights, "weights/<name>.safetensors in the sweep folder")


def _bad_row(path: Path, field: str, value: Any, wanted: str) -> NoReturn:
    raise ConfigError(f"{str(path)!r}: field {field!r} must be {wanted}, got "
                      f"{printable(repr(value))[:80]}; delete the file to train that "
                      "configuration again")


def _sorted_rows(rows: list[dict[str, Any]],
                 select: str = selection.DEFAULT) -> list[dict[str, Any]]:
    """The best setting by the criterion first (its seeds by their own value), then the
    rest; unselectable last; equal values by key: one order for the same rows, however
    they were trained."""
    crit = selection.criterion(select)
    scores = selection.setting_scores(rows, select)
    sign = 1.0 if crit.lower else -1.0

    def rank(r: dict[str, Any]) -> tuple[Any, ...]:
        score = selection.row_score(r, scores)
        own = crit.value(r)
        return (math.isnan(score), r["status"] not in SELECTABLE,
                sign * score if not math.isnan(score) else 0.0,
                sign * own if math.isfinite(own) else math.inf, r["key"])

    return sorted(rows, key=rank)


def _finish(space: SearchSpace, out: Path, rows: list[dict[str, Any]], skipped: int,
            seconds: float, *, refit: bool, figures: bool, same_data: SameData,
            select: str = selection.DEFAULT) -> SweepResult:
    rows = _sorted_rows(rows, select)
    best, chosen_on = selection.select(rows, select)
    if best is not None:  # read back before the table and the choice report it as usable
        check_weights(out, best["weights"], out / "results" / f"{best['key']}.json",
                      "the chosen configuration")
    files = {"results": write_results_csv(out / "results.csv", rows)}
    choice: dict[str, Any] = {"best": best, "select": chosen_on, "refit": None}
    # the choice first: it stands if the refit is interrupted
    files["best"] = fileio.write_json(out / "best.json", choice)
    refit_row = None
    if best is not None and refit:
        refit_row = choice["refit"] = _refit(out, best, same_data)
        fileio.write_json(out / "best.json", choice)
    if figures and rows:
        from softreg.plots.sweep import plot_heatmap, plot_sweep_curves

        histories = {r["key"]: _history(out, r["key"]) for r in rows
                     if r["status"] != Status.FAILED}
        crit = selection.criterion(select)
        files["heatmap"] = plot_heatmap(selection.heatmap_grid(rows, select), out / "heatmap.png",
                                        best=best, label=crit.label, lower=crit.lower)
        files["curves"] = plot_sweep_curves(rows, histories, out / "curves.png", best=best)
    return SweepResult(out, rows, best, refit_row, skipped, seconds, files, chosen_on)


def _refit(out: Path, best: dict[str, Any], same_data: SameData) -> dict[str, Any]:
    """Retrain the chosen settings on train + val, for the epochs that the choice used.

    A refit of an earlier run is reused if its data is still the same. Only a refit that ended
    (completed or diverged) is recorded: a failed one is reported and tried again by the next
    run, an interrupted one stops the sweep (KeyboardInterrupt) and is trained again next time.
    """
    config = TrainConfig.from_dict(_stored_config(out, best["key"]))
    # With early stopping on, the chosen model is the best epoch's, however the run ended.
    epochs = int(best["model_epoch"]) if config.patience else config.epochs
    config = replace(config, val_split=0.0, patience=0, epochs=epochs)
    path = out / "refit" / f"{config_key(config)}.json"
    if path.is_file():
        row = _read_row(path)
        if row["key"] != path.stem:  # a refit of other settings, filed under these
            _bad_row(path, "key", row["key"], f"the key its file is named by, {path.stem!r}")
        if writegate.describe(out / row["weights"]) != "a regular file":
            _bad_row(path, "weights", row["weights"], "a weights file in the sweep folder "
                     "(it is not there)")
        check_weights(out, row["weights"], path, "the refit")
        same_data.check(config, row, path)
        return row
    result = run_config(config.to_dict(), out, SplitCache(same_data.data_dir, same_data.offline),
                        name=f"refit-{best['key']}")
    refit_row: dict[str, Any] = result["row"]
    if refit_row["status"] in (Status.INTERRUPTED, Status.FAILED):
        if "weights" in refit_row:  # an interrupted model is no refit: not left as one
            writegate.remove_own_file(out, refit_row["weights"])
        if refit_row["status"] == Status.INTERRUPTED:
            raise KeyboardInterrupt
        return refit_row
    fileio.write_json(path, result)
    return refit_row


def check_weights(out: Path, weights: str, result: Path, whose: str) -> None:
    """Read ``out / weights``, the model that ``result`` (the result file of ``whose``) names,
    through the checkpoint reader before the sweep reports it: the result file was trusted
    for its model, and a weights file damaged, or replaced by a link, was reported as usable.

    Raises:
        ConfigError: the file is missing, a symbolic link (or anything but a regular file), or
            not a checkpoint softreg can read; the message names it and how to train it again.
    """
    path = out / weights
    again = f"then rerun the sweep: it trains {whose} again"
    kind = writegate.describe(path)  # lstat: a link is a link, as every command says
    if kind is None:
        raise ConfigError(f"the weights file of {whose}, {str(path)!r}, does not exist; delete "
                          f"{str(result)!r}, {again}")
    if kind != "a regular file":
        raise ConfigError(f"the weights file of {whose}, {str(path)!r}, is {kind}, not the file "
                          f"the sweep wrote; remove it and {str(result)!r}, {again}")
    try:
        checkpoint.load(path)
    except CheckpointError as exc:
        raise ConfigError(f"the weights file of {whose} cannot be read: {exc}; delete it and "
                          f"{str(result)!r}, {again}") from None


def _stored_config(out: Path, key: str) -> dict[str, Any]:
    config: dict[str, Any] = read_result(out / "results" / f"{key}.json", out)["config"]
    return config


def _history(out: Path, key: str) -> dict[str, Any]:
    history: dict[str, Any] = read_result(out / "results" / f"{key}.json", out)["history"]
    return history


def write_results_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Atomically write ``rows`` as CSV with :data:`COLUMNS` (NaN as an empty cell)."""
    lines = [",".join(COLUMNS)]
    for row in rows:
        cells = []
        for col in COLUMNS:
            value = row.get(col, "")
            if isinstance(value, float):
                cells.append("" if math.isnan(value) else f"{value:.6g}")
            else:
                cells.append(str(value))
        lines.append(",".join(cells))
    return fileio.write_text(path, "\n".join(lines) + "\n")


def format_best(result: SweepResult) -> str:
    """The closing lines: the chosen configuration, its validation and test accuracy."""
    best = result.best
    if best is None:
        return "no configuration finished without diverging; lower the learning rates"
    # the settings of the table's first columns, and any other that the folder's
    # configurations do not share (merged sweeps of another --max-loss or --device)
    varied = [n for n in MORE_SETTINGS if len({repr(r.get(n)) for r in result.rows}) > 1]
    settings = " ".join(f"{c}={best.get(c)}" for c in (*COLUMNS[1:11], *varied))
    chosen_on = result.selection or selection.select(result.rows)[1]
    lines = [f"best by {selection.describe(chosen_on)}: {settings}",
             f"  val_acc {best['val_acc']:.4f}  test_acc {best['test_acc']:.4f}  "
             f"(model of epoch {best['model_epoch']}, {best['status']}; "
             f"weights: {result.out_dir / best['weights']})"]
    if result.refit is not None and result.refit["status"] == Status.FAILED:
        lines.append(f"  refit on train+val failed: {result.refit.get('message', '')} (the next "
                     "run of the sweep tries it again)")
    elif result.refit is not None:
        lines.append(f"  refit on train+val ({result.refit['epochs_run']} epochs): test_acc "
                     f"{result.refit['test_acc']:.4f}  "
                     f"(weights: {result.out_dir / result.refit['weights']})")
    return "\n".join(printable(line) for line in lines)  # rows are read from files
