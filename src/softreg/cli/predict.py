"""``softreg predict CKPT IMAGE...``: top-k classes with softmax probabilities."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

DEFAULT_TOP_K = 3  # classes shown per input when --top-k is not given (at most the model's)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("predict", help="classify images or table rows with a checkpoint",
                       description="Classify inputs of the model's data: images of its shape "
                       "(PNG, JPEG, PGM or .npy; for Fashion-MNIST 28x28 grayscale, a light "
                       "object on a dark background), or for a table a .npy row (D,) or rows "
                       "(n, D), or a CSV of rows (with a header of the feature names, or none).")
    p.add_argument("checkpoint", help="a .safetensors checkpoint, or a run folder (its final "
                   "model: the best epoch when early stopping restored it)")
    p.add_argument("images", nargs="+", help="image files, or .npy / CSV files of rows")
    p.add_argument("--top-k", type=int, default=None,
                   help=f"classes to show per image [{DEFAULT_TOP_K}, or every class when the "
                   "model has fewer]")
    p.add_argument("--framework", default="numpy", help="[%(default)s]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda [%(default)s]")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
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
    names, X = load_inputs(args.images, shape)  # (n, D); all read before any work
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
        print(json.dumps(results, indent=2))
        return 0
    if temperature is not None:
        print(f"calibrated: logits divided by the temperature T = {temperature:.4f}")
    for res in results:
        ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in res["top"])
        print(printable(f"{res['image']}: {ranked}"))
    return 0


def _temperature(args: argparse.Namespace, ck: Any) -> float:
    """The fitted temperature for this checkpoint's weights: the run's calibration.json for
    a run folder; for a file, that of ``<stem>-explain/`` next to it (explain's folder for
    it), else the calibration.json next to it."""
    from softreg.explain.calibration import FILE_NAME, load_temperature, refit_elsewhere
    from softreg.jobs.explain import explain_folder
    from softreg.runfiles import checkpoint

    if args.calibration:
        return load_temperature(args.calibration, ck.W, ck.b, refit_elsewhere(args.checkpoint))
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
