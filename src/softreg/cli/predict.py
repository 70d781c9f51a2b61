"""``softreg predict CKPT IMAGE...``: top-k classes with softmax probabilities."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("predict", help="classify 28x28 images with a checkpoint",
                       description="Classify 28x28 grayscale images (PNG, PGM or .npy; light "
                       "object on a dark background, as in Fashion-MNIST).")
    p.add_argument("checkpoint", help="a .safetensors checkpoint, or a run folder (its final "
                   "model: the best epoch when early stopping restored it)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--top-k", type=int, default=3, help="classes to show per image [%(default)s]")
    p.add_argument("--framework", default="numpy", help="[%(default)s]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda [%(default)s]")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--calibrated", action="store_true",
                   help="divide the logits by the temperature 'softreg explain' fitted on the "
                   "run's validation split (its calibration.json)")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration.json to use with --calibrated [next to the checkpoint]")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from softreg import checkpoint
    from softreg.backends import get_backend
    from softreg.data import CLASS_NAMES
    from softreg.errors import ConfigError
    from softreg.images import load_image
    from softreg.numerics import softmax
    from softreg.textsafe import printable

    if not 1 <= args.top_k <= len(CLASS_NAMES):
        raise ConfigError(f"--top-k must be between 1 and {len(CLASS_NAMES)}, got {args.top_k}")
    path, ck = checkpoint.load_model(args.checkpoint)
    temperature = _temperature(args, ck) if args.calibrated or args.calibration else None
    X = np.stack([load_image(p) for p in args.images])  # (n, 784); all read before any work
    backend = get_backend(args.framework, args.device)
    backend.set_params(ck.W, ck.b)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        logits = np.asarray(backend.logits(X))  # (n, 10)
    checkpoint.check_logits(logits, ck, str(path), "images")
    # (n, 10), max-subtracted in float64: no overflow
    probs = softmax(logits.astype(np.float64) / (temperature or 1.0), axis=-1)
    results = []
    for image, row in zip(args.images, probs, strict=True):
        top = np.argsort(-row, kind="stable")[: args.top_k]
        results.append({"image": image, "top": [
            {"class": CLASS_NAMES[int(k)], "index": int(k), "probability": float(row[k])}
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
    """The fitted temperature for this checkpoint's weights (calibration.json next to it)."""
    from softreg.explain.calibration import FILE_NAME, load_temperature

    if args.calibration:
        return load_temperature(args.calibration, ck.W, ck.b)
    where = Path(args.checkpoint)
    folder = where if where.is_dir() else where.parent
    beside = folder / FILE_NAME
    # 'softreg explain FILE' of a checkpoint outside a run folder writes <stem>-explain/
    explained = where.parent / f"{where.stem}-explain" / FILE_NAME
    if not beside.exists() and not where.is_dir() and explained.exists():
        beside = explained
    return load_temperature(str(beside), ck.W, ck.b)
