"""``softreg evaluate CKPT``: accuracy, per-class accuracy and confusion matrix of a checkpoint."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
from pathlib import Path
from typing import Any

from softreg.cli.train import add_data_args, add_labels_arg


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on the test (or train) split",
                       description="Evaluate a softreg checkpoint with any framework.")
    p.add_argument("checkpoint", help="a .safetensors checkpoint, or a run folder (its final "
                   "model: the best epoch when early stopping restored it)")
    p.add_argument("--framework", default="numpy",
                   help="framework that runs the evaluation [%(default)s]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda [%(default)s]")
    p.add_argument("--split", default="test", choices=("test", "train"),
                   help="the split scored: test, or train: the part the model trained on "
                   "(without the run's validation examples; with --data, that data's whole "
                   "training part) [%(default)s]")
    p.add_argument("--png", help="confusion-matrix PNG (a name ending in .png); an existing "
                   "file is refused; a name ending in / is a folder, made if missing, that gets "
                   "the default name; never in another run's or a sweep's folder, nor over a "
                   "file of a folder of softreg's but this figure "
                   "[next to the checkpoint: evaluate-SPLIT-confusion.png, replaced on each "
                   "evaluation in a run or sweep folder of softreg's, elsewhere only with "
                   "--overwrite]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG")
    add_labels_arg(p)
    add_data_args(p, note="; default: the data the checkpoint was trained on")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    from softreg.core.errors import ConfigError
    from softreg.plots.labels import figure_text
    from softreg.runfiles import checkpoint
    from softreg.safety import fileio, runfolder, writegate

    # --labels ko without a Hangul font is refused before any work
    text = None if args.no_figures else figure_text(args.labels)
    where = Path(args.checkpoint)
    folder = where if where.is_dir() else where.parent
    name = f"evaluate-{args.split}-confusion.png"
    png = Path(args.png) if args.png else folder / name
    # a name ending in a separator is a folder (which Path() would drop): the default name in
    # it, never a file of the folder's name; the write makes the folder
    in_folder = bool(args.png) and args.png.endswith(tuple(s for s in (os.sep, os.altsep) if s))
    if in_folder:
        png = png / name
    # the default name is replaced only in softreg's own folders (a run's, a sweep's)
    replace_png = args.overwrite or (not args.png and runfolder.owned_file(png))
    if text is not None:  # first
        if in_folder:
            writegate.check_folder(png.parent, "--png")
        if not (args.png or replace_png) and writegate.describe(png) == "a regular file":
            raise ConfigError(
                f"the confusion figure's default file {str(png)!r} already exists, and softreg "
                "replaces it by itself only in its own run and sweep folders: pass --overwrite "
                "to replace it, --png PATH to write another file, or --no-figures")
        # not among another run's or a sweep's files, where it passes for their model's figure
        model = where / checkpoint.LAST if where.is_dir() else where
        runfolder.refuse_other_model_folder(
            png, model, f"evaluating {str(where)!r} there would put its confusion figure among "
            "that folder's files, where it passes for the folder's own model's", "--png")
        refuse_own_file(png)
        fileio.refuse_existing(png, "--png", overwrite=replace_png, suffix=".png")
        if not png.name.lower().endswith(".png"):
            raise ConfigError(f"--png {str(png)!r} does not end in .png, and the figure is a "
                              f"PNG; give e.g. --png {str(png.with_name(png.name + '.png'))!r}")
        fileio.check_writable(png, "--png")  # not after the whole evaluation
    return _evaluate(args, png, replace_png, text)


# What evaluate writes in a folder of softreg's: its own figure, by the name it gives it.
FIGURE_NAMES = ("evaluate-*-confusion.png", "weights/evaluate-*-confusion.png")


def refuse_own_file(png: Path) -> None:
    """Refuse a ``--png`` that names one of the files of the folder of softreg's it lies in
    (a run's report.md, curves.png, ...; a study's summary.md) but evaluate's own figure:
    the figure would replace the file, or pass for it. (A folder's state files, its
    checkpoint or config.json, are refused by the write gate, with its own message.)

    Raises:
        ConfigError: naming ``png``, the folder and its kind, and the names evaluate writes.
    """
    from softreg.core.errors import ConfigError
    from softreg.safety import folders, runfolder
    from softreg.safety.textsafe import printable

    if folders.state_file(png) is not None:
        return
    found = runfolder.model_folder(png) or folders.enclosing(png)
    if found is None:
        return
    folder, kind = found
    kind = kind if kind in runfolder.OWN_FILES else "train"  # an unreadable marker: a run's
    try:
        rel = Path(os.path.realpath(png)).relative_to(folder).as_posix()
    except ValueError:
        return
    if not runfolder.is_own(kind, rel) or any(fnmatch.fnmatchcase(rel, p) for p in FIGURE_NAMES):
        return
    raise ConfigError(f"--png {str(png)!r} is a file of {str(folder)!r}, a folder of softreg's "
                      f"{kind} command ({printable(rel)}); evaluate writes only its own figure "
                      "there, evaluate-SPLIT-confusion.png: choose another --png (--overwrite "
                      "or not)")


def _folder_lock(png: Path) -> contextlib.AbstractContextManager[object]:
    """The lock of the softreg folder ``png`` goes into (a run's, or a sweep's for
    ``weights/...``); none for another folder."""
    from softreg.safety import runfolder

    for folder in (png.parent, png.parent.parent):
        if runfolder.marker_kind(folder) in runfolder.OWN_FILES:
            return runfolder.adding_to(folder)
    return contextlib.nullcontext()


def _evaluate(args: argparse.Namespace, png: Path, replace_png: bool, text: Any) -> int:
    import numpy as np

    from softreg.backends import get_backend
    from softreg.core.metrics import MATRIX_CLASSES, Confusion, format_per_class
    from softreg.core.numerics import cross_entropy
    from softreg.runfiles import checkpoint
    from softreg.runfiles.checkpoint_meta import origin
    from softreg.safety import fileio
    from softreg.safety.textsafe import printable

    path, ck = checkpoint.load_model(args.checkpoint)
    backend = get_backend(args.framework, args.device)
    X, y, part = checkpoint_split(ck, str(path), args)
    # The figure goes into a run's (or sweep's) folder: held from here (bad data was refused
    # above, touching nothing), so that a training run still writing there stops this command
    # with one line, and the figure never meets its writes.
    with _folder_lock(png) if text is not None else contextlib.nullcontext():
        class_names = ck.shape.class_names
        backend.set_params(ck.W, ck.b)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
            logits = np.asarray(backend.logits(X))  # (N, C)
        what = "images" if ck.shape.image_shape is not None else "examples"
        checkpoint.check_logits(logits, ck, str(path), f"{args.split} {what}")
        # Loss from the logits, max-subtracted in float64: no overflow, however large they are.
        loss = float(cross_entropy(logits.astype(np.float64), y))
        pred = logits.argmax(axis=1)  # (N,)
        cm = Confusion.of(y, pred, len(class_names))
        # The metadata was checked on load; printed through printable() all the same.
        print(printable(f"checkpoint: {path} ({origin(ck.meta)}); evaluated with {backend.name} "
                        f"on {backend.device}"))
        print(f"{args.split}: accuracy {float(np.mean(pred == y)):.4f}  loss {loss:.4f}  "
              f"({len(y)} {what}){part}")
        absent = [name for name, n in zip(class_names, cm.support, strict=True) if n == 0]
        if absent:  # data of some of the model's classes (matched by name)
            from softreg.fitting.splits import listed

            print(printable(f"no {what} in the {args.split} split of {len(absent)} of the "
                            f"model's {len(class_names)} classes: {listed(absent, 5)} (no "
                            "accuracy; their rows of the confusion matrix are empty)"))
        print("per-class accuracy:")
        for line in format_per_class(cm.per_class_accuracy(), class_names).splitlines():
            print(printable(line))  # class names come from the data's files
        print("confusion matrix (rows: true class, columns: predicted):")
        for line in cm.text(class_names).splitlines():
            print(printable(line))
        if text is not None and cm.matrix is None:
            print(f"no confusion matrix figure: {len(class_names):,} classes, more than "
                  f"{MATRIX_CLASSES:,}")
        elif text is not None:
            from softreg.plots.confusion import plot_confusion

            title = text.confusion_title.format(split=text.splits[args.split])
            # a path the user named may hold their own file: refused unless --overwrite
            fig_text = text.for_classes(class_names)
            matrix = cm.matrix

            def draw(tmp: Path) -> None:
                assert matrix is not None
                plot_confusion(matrix, fig_text.class_names, tmp, title=title, text=fig_text)

            fileio.write_new(png, draw, overwrite=replace_png, flag="--png", suffix=".png")
            print(f"confusion matrix figure: {png}")
        return 0


def checkpoint_split(ck: Any, where: str, args: argparse.Namespace) -> tuple[Any, Any, str]:
    """The ``--split`` of the checkpoint's own data (refused unless its content is the one the
    checkpoint records) or of ``--data`` (refused unless it has the model's shape, and classes
    among the model's: some of them, one even, are enough) as the raw features its weights
    take, the labels as the model's class indices (matched by name), and words for which
    examples they are ("" for the test split).

    ``train`` of the run's own data is the part the model trained on: without the validation
    examples its run held out (drawn again as it drew them: its ``val_split`` and
    ``val_seed``); of ``--data`` (or a checkpoint without a run's settings, a saved
    estimator's), that data's whole training part.

    Raises:
        ConfigError: data of another shape, or with a class the model lacks; the checkpoint's
            own data changed; a test split drawn from too few examples to hold one.
    """
    from dataclasses import replace

    from softreg.cli.train import check_data_flags, data_settings
    from softreg.fitting.splits import model_splits
    from softreg.runfiles.checkpoint_meta import data_check, data_config

    given = data_settings(args)
    config = replace(data_config(ck.meta, where, given), patience=0)
    own = "data" not in given
    if args.split != "train" or not own:  # the run's validation part is of its own data
        config = replace(config, val_split=0.0)
    check_data_flags(args, config.data, recorded=own)
    splits = model_splits(ck.shape, config, args.data_dir, args.offline, f"checkpoint {where!r}",
                          data_check(ck.meta, given))
    split = splits[args.split]
    if args.split != "train":
        return split.X, split.y, ""
    if not own:
        return split.X, split.y, ", the training part of the data given (--data)"
    if not isinstance(ck.meta.get("config"), dict):  # a saved estimator's: no run to tell
        return split.X, split.y, ", the data's training part"
    what = "images" if ck.shape.image_shape is not None else "examples"
    part = ", the training part the model trained on"
    if "val" in splits:
        part += f": the run's {len(splits['val'].y)} validation {what} are left out"
    return split.X, split.y, part
