"""``softreg predict CKPT IMAGE...``: top-k classes with softmax probabilities."""

from __future__ import annotations

import argparse
import json


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
    X = np.stack([load_image(p) for p in args.images])  # (n, 784); all read before any work
    backend = get_backend(args.framework, args.device)
    backend.set_params(ck.W, ck.b)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        logits = np.asarray(backend.logits(X))  # (n, 10)
    checkpoint.check_logits(logits, ck, str(path), "images")
    probs = softmax(logits.astype(np.float64), axis=-1)  # (n, 10), max-subtracted: no overflow
    results = []
    for image, row in zip(args.images, probs, strict=True):
        top = np.argsort(-row, kind="stable")[: args.top_k]
        results.append({"image": image, "top": [
            {"class": CLASS_NAMES[int(k)], "index": int(k), "probability": float(row[k])}
            for k in top]})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for res in results:
        ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in res["top"])
        print(printable(f"{res['image']}: {ranked}"))
    return 0
