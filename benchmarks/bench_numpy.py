"""NumPy reference backend: 10 epochs of the chapter configuration, measured side by side.

Prints
* the time of 10 epochs (60000 training images, batch 256, lr 0.1) with the NumPy backend,
  training only and with the per-epoch test evaluation of
  ``softreg.epochs.loop.run_epochs`` (best of
  ``--repeats``), against the issue's budget of 1.5 s, and the final train loss and test
  accuracy for several seeds;
* the same epochs written the naive way (softmax, then log, in float64; rows gathered with
  fancy indexing; a ``float()`` per batch), with its per-epoch time and the ratio, both with
  OpenBLAS on one thread (the backend's setting, see softreg.backends.numpy_backend);
* the PyTorch backend on the same data, seeds and orders, if torch is installed.

Run: ``PYTHONPATH=src python benchmarks/bench_numpy.py [--seeds 3] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _record import record

from softreg.backends import get_backend
from softreg.backends.numpy_backend import blas_threads, openblas_thread_api
from softreg.core.config import TrainConfig
from softreg.epochs.loop import run_epochs
from softreg.fitting.splits import Split, prepare_splits, to_features
from softreg.fitting.trainer import LinearTrainer, epoch_order, initial_params

EPOCHS, BATCH, LR = 10, 256, 0.1


def train_only(framework: str, splits: dict[str, Split], seed: int) -> tuple[float, float, float]:
    """Seconds for 10 training epochs, final train loss, test accuracy."""
    backend = get_backend(framework, "cpu")
    backend.set_params(*initial_params(seed))
    train, test = backend.put_data(splits["train"].X, splits["train"].y), None
    n = train.num_examples
    t0 = time.perf_counter()
    for epoch in range(EPOCHS):
        tot = backend.train_epoch(train, epoch_order(seed, epoch, n), BATCH, LR)
    seconds = time.perf_counter() - t0
    test = backend.put_data(splits["test"].X, splits["test"].y)
    return seconds, tot.mean_loss, backend.evaluate(test).accuracy


def with_evaluation(splits: dict[str, Split], seed: int) -> tuple[float, float, float]:
    """Seconds for 10 epochs through run_epochs (test evaluated every epoch), loss, accuracy."""
    cfg = TrainConfig(framework="numpy", seed=seed, device="cpu")
    trainer = LinearTrainer(get_backend("numpy", "cpu"), cfg, splits)
    trainer.restore(initial_params(seed))
    t0 = time.perf_counter()
    hist = run_epochs(trainer, cfg.epochs)
    seconds = time.perf_counter() - t0
    last = hist.last
    if last is None:
        raise RuntimeError(f"the run recorded no epoch: {hist.status}")
    return seconds, last.train_loss, last.test_acc


def naive_epochs(splits: dict[str, Split], seed: int, epochs: int) -> tuple[float, float]:
    """Seconds per epoch and test accuracy of a straightforward from-scratch loop."""
    X, y = splits["train"].X.astype(np.float64), splits["train"].y
    W64, _ = initial_params(seed)
    W, b = W64.T.astype(np.float64), np.zeros(10)  # (784, 10), (10,)
    t0 = time.perf_counter()
    with np.errstate(all="ignore"), blas_threads(1):
        for epoch in range(epochs):
            order = epoch_order(seed, epoch, len(y))
            total = 0.0
            for start in range(0, len(y), BATCH):
                rows = order[start : start + BATCH]
                xb, yb = X[rows], y[rows]  # (batch, 784), (batch,)
                e = np.exp(xb @ W + b)  # (batch, 10)
                p = e / e.sum(axis=1, keepdims=True)
                total += float(-np.log(p[np.arange(len(yb)), yb]).sum())
                p[np.arange(len(yb)), yb] -= 1.0
                W -= LR * (xb.T @ p) / len(yb)  # (784, 10)
                b -= LR * p.sum(axis=0) / len(yb)
    seconds = (time.perf_counter() - t0) / epochs
    acc = float(((splits["test"].X @ W + b).argmax(axis=1) == splits["test"].y).mean())
    return seconds, acc


def load_splits() -> dict[str, Split]:
    """The chapter's splits through softreg.data; TEMPORARY fallback: read the IDX files."""
    try:
        return prepare_splits(TrainConfig(framework="numpy"), offline=True)
    except ImportError:  # softreg.data not merged yet
        import gzip

        def idx(name: str) -> np.ndarray:
            with gzip.open(f"/usr/share/datasets/fashion-mnist/{name}-ubyte.gz") as fh:
                raw = fh.read()
            dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)

        return {
            split: Split(to_features(idx(f"{prefix}-images-idx3")),
                         idx(f"{prefix}-labels-idx1").astype(np.int64))
            for split, prefix in (("train", "train"), ("test", "t10k"))
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-epochs", type=int, default=2)
    args = ap.parse_args()
    api = openblas_thread_api()
    threads = f"{api[0]()} OpenBLAS threads outside the backend" if api else "BLAS not OpenBLAS"
    print(f"numpy {np.__version__}, {os.cpu_count()} cores, {threads}; load average "
          f"{os.getloadavg()[0]:.2f} (other processes slow every number here)")
    splits = load_splits()
    train_only("numpy", splits, 0)  # warm-up: page in the data, BLAS buffers
    best_train = min(train_only("numpy", splits, 0)[0] for _ in range(args.repeats))
    best_eval = min(with_evaluation(splits, 0)[0] for _ in range(args.repeats))
    verdict = "within" if best_train <= 1.5 else "OVER"
    print(f"numpy backend, 10 epochs: {best_train:.3f} s training only ({verdict} the 1.5 s "
          f"budget), {best_eval:.3f} s with the per-epoch test evaluation (best of "
          f"{args.repeats})")
    accs = []
    for seed in range(args.seeds):
        _, loss, acc = with_evaluation(splits, seed)
        accs.append(acc)
        print(f"  seed {seed}: final train loss {loss:.4f}  test acc {acc:.4f}")
    print(f"  test acc over {len(accs)} seeds: mean {np.mean(accs):.4f}, min {min(accs):.4f}, "
          f"max {max(accs):.4f}")
    naive_s, naive_acc = naive_epochs(splits, 0, args.naive_epochs)
    ours = best_train / EPOCHS
    print(f"naive from-scratch NumPy loop (float64, softmax-then-log, float() per batch): "
          f"{naive_s:.3f} s/epoch over {args.naive_epochs} epochs (test acc {naive_acc:.4f})")
    print(f"numpy backend: {ours:.4f} s/epoch -> {naive_s / ours:.1f}x faster than the naive loop")
    record("NumPy backend vs a naive from-scratch NumPy loop, per epoch", naive_s / ours)
    try:
        torch_s, _, torch_acc = min(train_only("torch", splits, 0) for _ in range(args.repeats))
    except ImportError as exc:
        print(f"torch backend: skipped ({exc})")
        return
    print(f"torch backend (cpu), same data, seed and orders: {torch_s:.3f} s for 10 epochs "
          f"(test acc {torch_acc:.4f}); numpy/torch time ratio {best_train / torch_s:.2f}")


if __name__ == "__main__":
    main()
