"""``softreg train``: train a softmax regression (defaults: the chapter's configuration)."""

from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softreg.cli.settings import MAX_LOSS_NOTE, add_setting, flag
from softreg.core.config import DATA_SETTINGS, TrainConfig
from softreg.core.errors import ConfigError
from softreg.core.frameworks import canonical_framework
from softreg.epochs.history import Status

if TYPE_CHECKING:
    from softreg.jobs.run import RunResult


def add_data_args(p: argparse.ArgumentParser, settings: bool = True, note: str = "") -> None:
    """``--data-dir`` and ``--offline``; with ``settings`` also the data settings (``--data``,
    ``--test-split``, ``--label-column``, ``--image-size``, ``--grayscale``), whose flags
    default to None (a flag not given is not a setting given; ``note`` follows --data's help)."""
    if settings:
        for name in DATA_SETTINGS:
            if name == "grayscale":
                p.add_argument("--grayscale", action="store_true", default=None,
                               help="read a folder's colour images as grayscale")
            else:
                add_setting(p, name, default=None, note=note if name == "data" else "")
    p.add_argument("--data-dir", help="folder with a named dataset's four IDX files (.gz or "
                   "not)")
    p.add_argument("--offline", action="store_true", help="never download; local files only")


def data_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The data settings given on the command line (those left out are not included); a flag
    the data given would ignore is refused (:func:`check_data_flags`)."""
    given = {name: getattr(args, name) for name in DATA_SETTINGS
             if getattr(args, name, None) is not None}
    if "data" in given:
        check_data_flags(args, given["data"])
    return given


# The data flags that only some data reads, and which data that is.
_ONLY_FOR = (("label_column", "--label-column", ("csv", "parquet"), "a table's (csv:, parquet:)"),
             ("image_size", "--image-size", ("folder",), "an image folder's (folder:)"),
             ("grayscale", "--grayscale", ("folder",), "an image folder's (folder:)"),
             ("data_dir", "--data-dir", ("named",), "a named dataset's"))


def check_data_flags(args: argparse.Namespace, data: str, recorded: bool = False) -> None:
    """Refuse a data flag that ``data`` would ignore (``--label-column`` for image folders,
    ``--image-size`` for a table, ``--data-dir`` for anything but a named dataset): it was
    given for a reason, and was ignored without a word. ``recorded``: ``data`` is the data a
    checkpoint records (evaluate and explain without ``--data``).

    Raises:
        ConfigError: such a flag, naming it and the data it is for.
    """
    from softreg.data.spec import parse

    try:
        kind = parse(data).kind
    except ConfigError:
        return  # the data itself is refused where it is read, in its own words
    for name, option, kinds, whose in _ONLY_FOR:
        if getattr(args, name, None) not in (None, "", False) and kind not in kinds:
            which = (f"the data the model was trained on ({data})" if recorded
                     else f"--data {data}")
            raise ConfigError(f"{option} is {whose} setting, and {which} is not one: it "
                              f"would be ignored; leave {option} out")


def add_labels_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", default="en", choices=("en", "ko"),
                   help="language of the figures' class names and titles; ko needs a font "
                   "with Hangul (apt-get install fonts-nanum) [%(default)s]")


# what a setting's flag means for train in particular
_TRAIN_NOTES = {"epochs": "; with --resume: the total to reach (not below the epochs done; "
                          "a cosine or step schedule, or an early-stopped run, keeps its own)",
                "patience": " (needs --val-split)",
                "max_loss": MAX_LOSS_NOTE}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train softmax regression on Fashion-MNIST (or other data: "
                       "--data). Defaults are the d2l chapter's: torch, batch 256, lr 0.1, 10 "
                       "epochs, N(0, 0.01) weights.")
    # The settings default to None, not to TrainConfig's values, so that --resume can tell a
    # flag that was given from one that was not.
    for name in ("framework", "epochs", "batch_size", "lr", "seed", "device", "weight_decay",
                 "lr_schedule", "val_split", "val_seed", "patience", "monitor", "max_loss"):
        add_setting(p, name, default=None, note=_TRAIN_NOTES.get(name, ""))
    p.add_argument("--out", help="run folder [runs/<framework>-<time>]")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR with its own settings; only --epochs and "
                   "--device may change")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also log each epoch's metrics and weight templates to TensorBoard "
                   "event files in DIR (needs: pip install 'softreg[tensorboard]')")
    add_labels_arg(p)
    p.add_argument("--quiet", action="store_true", help="no per-epoch table")
    p.add_argument("--verbose", action="store_true", help="show framework log messages")
    p.add_argument("--seeds", metavar="LIST",
                   help="train one model per seed, together in one pack, e.g. 0-15 or 0,3,7; "
                   "reports mean ± sd across seeds (softreg.jobs.seeds)")
    add_data_args(p)
    p.set_defaults(run=run)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig settings given on the command line (those left out are not included)."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig)
            if getattr(args, f.name, None) is not None}


def run(args: argparse.Namespace) -> int:
    from softreg.jobs.run import print_summary, train_run
    from softreg.safety.runfolder import default_stem, made_folder

    if args.verbose:
        os.environ["SOFTREG_VERBOSE"] = "1"
    if args.seeds is not None:
        from softreg.cli.seeds import run_seeds

        if args.tensorboard is not None:  # refused rather than ignored
            raise ConfigError("--tensorboard cannot be used with --seeds (one log per seed is "
                              "not supported); drop --tensorboard, or train each seed with "
                              "--seed N --tensorboard DIR")
        config = TrainConfig(**given_settings(args))
        check_data_flags(args, config.data)
        return run_seeds(args, config)
    if args.resume:
        result = _resume(args)
    else:
        config = TrainConfig(**given_settings(args))
        check_data_flags(args, config.data)
        # runs/<framework>-<time>, made now (two runs started in one second get two) and
        # removed again when the run is refused before it writes there (its data unreadable)
        folder = (contextlib.nullcontext(Path(args.out)) if args.out
                  else made_folder("runs", default_stem(config.framework)))
        with folder as out:
            result = train_run(config, out, data_dir=args.data_dir, offline=args.offline,
                               overwrite=args.overwrite, figures=not args.no_figures,
                               quiet=args.quiet, tensorboard_dir=args.tensorboard,
                               labels=args.labels)
    print_summary(result)
    status = result.history.status
    if status == Status.DIVERGED:
        return 3
    if status == Status.INTERRUPTED:
        print(f"resumable checkpoint saved to {result.files['checkpoint']}; continue with: "
              f"softreg train --resume {result.out_dir}")
        return result.stop_exit_code
    return 0


def _resume(args: argparse.Namespace) -> RunResult:
    from softreg.jobs.run import train_run

    # The flags are checked against the saved settings as soon as the (locked) run's
    # checkpoint is read, before anything is trained or written.
    return train_run(None, Path(args.resume), resume=True, resume_epochs=args.epochs,
                     resume_device=args.device, data_dir=args.data_dir, offline=args.offline,
                     figures=not args.no_figures, quiet=args.quiet,
                     tensorboard_dir=args.tensorboard, labels=args.labels,
                     check_resume=lambda saved: check_resume_flags(args, saved),
                     resume_label_column=args.label_column)


def check_resume_flags(args: argparse.Namespace, saved: TrainConfig) -> None:
    """Refuse flags that ``--resume`` would otherwise ignore.

    A resumed run keeps its saved settings except those in
    :data:`softreg.jobs.run.RESUME_MAY_CHANGE`; a setting given with the value it already has is
    accepted: ``--data`` naming the run's file however its path is written
    (:func:`softreg.core.config.same_data`; ``saved.data`` is the spec its checkpoint
    records), and ``--label-column`` naming a column the run's default may have found, which
    the run's data is then read with (:func:`softreg.jobs.run.found_label_column`).

    Raises:
        ConfigError: ``--out`` names another folder, ``--overwrite`` is given, or a setting
            differs from the resumed run's (both values shown).
    """
    from softreg.core.config import same_data
    from softreg.jobs.run import RESUME_MAY_CHANGE, found_label_column, resume_differs

    if args.out is not None and Path(args.out) != Path(args.resume):
        raise ConfigError(
            f"--out {args.out} cannot be used with --resume {args.resume}: a resumed run stays "
            "in its own folder; drop --out, or drop --resume to start a new run there")
    if args.overwrite:
        raise ConfigError(
            f"--overwrite cannot be used with --resume {args.resume}: it would replace the run "
            "that --resume continues; drop one of the two")
    differ = []
    for name, value in given_settings(args).items():
        if name in RESUME_MAY_CHANGE:
            continue
        old = getattr(saved, name)
        if name == "framework":
            same = canonical_framework(value) == old
        elif name == "data":
            same = same_data(value, old)
        elif name == "label_column":
            same = value == old or found_label_column(saved, value)
        elif name == "max_loss":  # a number given is not the default, 100 ln C, even 100 ln 10
            same = replace(saved, max_loss=value) == saved
        else:
            same = value == old
        if not same:
            differ.append((flag(name), value, name, old))
    if differ:
        raise resume_differs(differ)
