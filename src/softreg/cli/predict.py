"""``softreg predict CKPT IMAGE...``: top-k classes with softmax probabilities."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path
from typing import Any

DEFAULT_TOP_K = 3  # classes shown per input when --top-k is not given (at most the model's)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("predict", help="classify images or table rows with a checkpoint",
                       description="Classify inputs of the model's data: images of its shape "
                       "(PNG, JPEG, PGM or .npy; for Fashion-MNIST 28x28 grayscale, a light "
                       "object on a dark background; a picture of any size for a run trained "
                       "with --image-size, resized as its training images were), or for a "
                       "table a .npy row (D,) or rows (n, D), or a CSV of rows (with a header "
                       "of the feature names, or none).")
    p.add_argument("checkpoint", help="a .safetensors checkpoint, or a run folder (its final "
                   "model: the best epoch when early stopping restored it)")
    p.add_argument("images", nargs="+", help="image files, or .npy / CSV files of rows")
    p.add_argument("--top-k", type=int, default=None,
                   help=f"classes to show per image [{DEFAULT_TOP_K}, or every class when the "
                   "model has fewer]")
    p.add_argument("--framework", default="numpy", help="[%(default)s]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda [%(default)s]")
    p.add_argument("--json", action="store_true",
                   help="print JSON instead of text: per input, its top classes, each with "
                   "'class' (the class name; a saved estimator's text label exactly, which "
                   "the text output shows escaped), 'label' (a saved estimator's label with "
                   "its type: a string, number or boolean; a run's class name), 'index' and "
                   "'probability'")
    p.add_argument("--calibrated", action="store_true",
                   help="divide the logits by the temperature 'softreg explain' fitted on the "
                   "run's validation split (its calibration.json)")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration.json to use with --calibrated [the run folder's; for a "
                   "checkpoint file, the one in <name>-explain next to it, else the one "
                   "beside it]")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from softreg.backends import get_backend
    from softreg.core.errors import ConfigError
    from softreg.core.numerics import softmax
    from softreg.data.inputs import load_inputs
    from softreg.runfiles import checkpoint
    from softreg.safety.textsafe import printable

    path, ck = checkpoint.load_model(args.checkpoint)
    shape = ck.shape  # the data's: class names, features, image shape
    class_names = shape.class_names
    # the default shows at most every class (a two-class model has 2); a --top-k given is
    # the user's and is checked
    top_k = min(DEFAULT_TOP_K, len(class_names)) if args.top_k is None else args.top_k
    if not 1 <= top_k <= len(class_names):
        raise ConfigError(f"--top-k must be between 1 and {len(class_names)}, got {top_k}")
    temperature = _temperature(args, ck) if args.calibrated or args.calibration else None
    labels = _labels(ck, str(path)) if args.json else None  # an estimator's own labels
    # (n, D); all read before any work
    names, X = load_inputs(args.images, shape, resize=_resizes(ck, str(path)))
    backend = get_backend(args.framework, args.device)
    backend.set_params(ck.W, ck.b)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        logits = np.asarray(backend.logits(X))  # (n, C)
    checkpoint.check_logits(logits, ck, str(path),
                            "images" if shape.image_shape is not None else "inputs")
    # (n, C), max-subtracted in float64: no overflow
    probs = softmax(logits.astype(np.float64) / (temperature or 1.0), axis=-1)
    results: list[dict[str, Any]] = []
    for image, row in zip(names, probs, strict=True):
        top = np.argsort(-row, kind="stable")[:top_k]
        results.append({"image": image, "top": [
            {"class": class_names[int(k)], "index": int(k), "probability": float(row[k])}
            for k in top]})
    if temperature is not None:
        for res in results:
            res["temperature"] = temperature
    if args.json:
        for res in results:  # the labels themselves: JSON carries any text exactly
            res["top"] = [_with_label(t, labels) for t in res["top"]]
        print(json.dumps(results, indent=2))
        return 0
    if temperature is not None:
        print(f"calibrated: logits divided by the temperature T = {temperature:.4f}")
    for res in results:
        ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in res["top"])
        print(printable(f"{res['image']}: {ranked}"))
    return 0


def _labels(ck: Any, where: str) -> list[tuple[str | None, Any]] | None:
    """A saved estimator's own label of each class (checkpoint row): a text label exactly
    (None for a label of another type: its class name stands for it as before, e.g. the data's
    name of a class index) and the label as a JSON value (text, a number or a boolean; a date
    or a duration as its text). None for a run's checkpoint, whose class names are all it
    records of its labels.

    The checkpoint's class names are made printable (an empty label shows as ``''``, a tab as
    ``\\x09``) for the text output; the estimator's metadata (read with the checkpoint) records
    the labels exactly, as :func:`softreg.estimator.persist.load_estimator` reads them.

    Raises:
        CheckpointError: estimator metadata that does not give one label per class.
    """
    import math

    import numpy as np

    from softreg.core.errors import CheckpointError
    from softreg.estimator import persist
    from softreg.runfiles.checkpoint_meta import ESTIMATOR

    state = ck.meta.get(ESTIMATOR)
    if not isinstance(state, dict):
        return None
    try:
        classes = persist.saved_labels(state["classes"])
        rows = [int(r) for r in state["rows"]] if isinstance(state["rows"], list) else None
        if rows is None or sorted(rows) != list(range(ck.shape.classes)) or len(classes) != len(
                rows):
            raise ValueError(f"its labels and rows do not name the model's {ck.shape.classes} "
                             "classes one each")
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise CheckpointError(f"{where!r}: its estimator metadata is unreadable ({exc}); save "
                              "the estimator again") from exc

    def label(value: Any) -> tuple[str | None, Any]:
        if isinstance(value, str):  # np.str_ too: a text label
            return str(value), str(value)
        kind = np.asarray(value).dtype.kind
        if kind == "b":
            return None, bool(value)
        if kind in "iu":
            return None, int(value)
        if kind == "f" and math.isfinite(float(value)):
            return None, float(value)
        return None, str(value)  # a date, a duration, a float that JSON lacks: as text

    out: list[tuple[str | None, Any]] = [(None, None)] * len(rows)
    for value, row in zip(classes, rows, strict=True):
        out[row] = label(value)
    return out


def _with_label(entry: dict[str, Any],
                labels: list[tuple[str | None, Any]] | None) -> dict[str, Any]:
    """A --json entry: "class", the class's name (a saved estimator's text label exactly);
    "label", a saved estimator's label as a JSON value (a run's class name); then its index
    and probability."""
    text, value = (None, entry["class"]) if labels is None else labels[entry["index"]]
    return {"class": entry["class"] if text is None else text, "label": value,
            "index": entry["index"],
            "probability": entry["probability"]}


def _resizes(ck: Any, where: str) -> bool:
    """Whether the checkpoint's run resized its training pictures to the model's size (its
    ``--image-size``, recorded in its configuration, read as ``evaluate`` reads its data
    settings): predict then resizes a picture the same way. Its ``--grayscale`` is the model's
    shape already (one channel), which decides how a picture is decoded. A checkpoint that
    records no such setting (a run without it, a saved estimator, an older checkpoint) takes
    pictures of the model's size only."""
    from softreg.core.errors import ConfigError
    from softreg.data.spec import parse_image_size
    from softreg.runfiles.checkpoint_meta import data_config

    image_shape = ck.shape.image_shape
    if image_shape is None:
        return False
    try:
        size = parse_image_size(data_config(ck.meta, where, {}).image_size)
    except ConfigError:  # an estimator saved without its data: no data settings
        return False
    return size is not None and tuple(size) == tuple(image_shape[:2])


def _temperature(args: argparse.Namespace, ck: Any) -> float:
    """The fitted temperature for this checkpoint's weights: the run's calibration.json for
    a run folder; for a file, that of ``<stem>-explain/`` next to it (explain's folder for
    it), else the calibration.json next to it."""
    from softreg.explain.calibration import FILE_NAME, load_temperature, refit_elsewhere
    from softreg.jobs.explain import explain_folder
    from softreg.runfiles import checkpoint

    if args.calibration:
        own = _own_calibration(Path(args.checkpoint), ck)
        refit = (f"{str(own)!r} fits these weights: predict with --calibrated and without "
                 "--calibration" if own is not None and not _same_file(own, args.calibration)
                 else refit_elsewhere(args.checkpoint))
        return load_temperature(args.calibration, ck.W, ck.b, refit)
    where = Path(args.checkpoint)
    if where.is_dir():
        return load_temperature(str(where / FILE_NAME), ck.W, ck.b)
    # 'softreg explain FILE' of a checkpoint outside a run folder writes <stem>-explain/:
    # made for this very file, it comes before whatever calibration.json is beside it
    explained = explain_folder(where) / FILE_NAME
    if explained.exists():
        return load_temperature(str(explained), ck.W, ck.b)
    if _explained_in_place(where):
        outside = not (where.parent / checkpoint.LAST).is_file()  # a file of its own
        how = (f"run 'softreg explain {shlex.quote(args.checkpoint)}' (a model trained with a "
               "validation split) to fit one for it, then predict again with --calibrated"
               if outside else None)
        return load_temperature(str(where.parent / FILE_NAME), ck.W, ck.b, how=how)
    # a run's other checkpoint: 'softreg explain RUN' fits the temperature of its final model
    return load_temperature(str(where.parent / FILE_NAME), ck.W, ck.b,
                            refit_elsewhere(args.checkpoint))


def _own_calibration(where: Path, ck: Any) -> Path | None:
    """The calibration file plain ``--calibrated`` reads for the checkpoint ``where`` (a run
    folder's, ``<stem>-explain/``'s, or the one beside the file), when it holds a temperature
    fitted for these very weights; None otherwise."""
    from softreg.core.errors import ConfigError
    from softreg.explain.calibration import FILE_NAME, load_temperature
    from softreg.jobs.explain import explain_folder

    if where.is_dir():
        path = where / FILE_NAME
    else:
        path = explain_folder(where) / FILE_NAME
        if not path.exists():
            path = where.parent / FILE_NAME
    try:
        load_temperature(str(path), ck.W, ck.b)
    except ConfigError:
        return None
    return path


def _same_file(a: Path, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _explained_in_place(path: Path) -> bool:
    """Whether ``softreg explain FILE`` fits the temperature predict reads for the file
    ``path``: outside a run folder (it writes ``<stem>-explain/``), and for a run's final
    model (the run's calibration.json); not for a run's other checkpoint, nor in a run folder
    that cannot be read."""
    from softreg.core.errors import CheckpointError
    from softreg.runfiles import checkpoint

    if not (path.parent / checkpoint.LAST).is_file():
        return True
    try:
        final, _ = checkpoint.load_model(path.parent)
    except CheckpointError:
        return False
    return final.resolve() == path.resolve()
