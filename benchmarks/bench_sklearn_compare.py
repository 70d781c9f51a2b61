"""Test accuracy of softreg beside scikit-learn's LogisticRegression, on the same splits.

For each dataset, softreg prepares its splits once (``--data`` spec, the stratified test split
of seed 0 for data without one, tables standardised with the training split's statistics);
scikit-learn's multinomial LogisticRegression (lbfgs, its default L2 penalty C=1) is fitted on
exactly the same standardised training rows and scored on the same test rows. softreg trains
with the NumPy backend, minibatch SGD (settings printed). Both run in this one process, one
dataset after the other, so the comparison is side by side.

Run: ``python benchmarks/bench_sklearn_compare.py [--data sklearn:digits,sklearn:iris,...]
[--epochs 100]``; named datasets (``mnist``, ``fashion-mnist``) when their files are here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from softreg.core.config import TrainConfig
from softreg.core.errors import SoftregError
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import fit

DEFAULT = "sklearn:digits,sklearn:iris,sklearn:wine,sklearn:breast_cancer"


def compare(spec: str, epochs: int, batch_size: int, lr: float) -> dict[str, object]:
    """Both models' test accuracy on ``spec``'s splits, and the split sizes."""
    from sklearn.linear_model import LogisticRegression

    config = TrainConfig(framework="numpy", data=spec, epochs=epochs, batch_size=batch_size,
                         lr=lr, standardize=True)
    splits = prepare_splits(config, offline=True)
    train, test = splits["train"], splits["test"]
    t0 = time.perf_counter()
    result = fit(config, splits, eval_splits=())
    ours_s = time.perf_counter() - t0
    ours = result.trainer.evaluate("test").accuracy
    t0 = time.perf_counter()
    sk = LogisticRegression(max_iter=5000).fit(train.X, train.y)
    sk_s = time.perf_counter() - t0
    theirs = float(np.mean(sk.predict(test.X) == test.y))
    return {"data": spec, "train": len(train.y), "test": len(test.y),
            "classes": int(train.shape.classes if train.shape else 0),
            "features": int(train.X.shape[1]), "softreg": ours, "sklearn": theirs,
            "softreg_s": ours_s, "sklearn_s": sk_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT, help="comma-separated specs [%(default)s]")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    args = ap.parse_args()
    print(f"softreg: numpy backend, SGD, {args.epochs} epochs, batch {args.batch_size}, "
          f"lr {args.lr}, standardised inputs; scikit-learn: LogisticRegression(lbfgs, C=1)")
    print("| data | classes | features | train / test | softreg acc | sklearn acc | "
          "softreg s | sklearn s |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in args.data.split(","):
        try:
            r = compare(spec, args.epochs, args.batch_size, args.lr)
        except SoftregError as exc:
            print(f"| {spec} | skipped: {str(exc).splitlines()[0][:80]} |")
            continue
        print(f"| {r['data']} | {r['classes']} | {r['features']} | {r['train']} / {r['test']} "
              f"| {r['softreg']:.4f} | {r['sklearn']:.4f} | {r['softreg_s']:.2f} | "
              f"{r['sklearn_s']:.2f} |")


if __name__ == "__main__":
    main()
