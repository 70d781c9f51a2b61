"""The MXNet step with its gradient written out against the autograd step it replaced.

Since 2026-12-02 the MXNet backend computes the logits under ``autograd.record()`` only and
hands autograd the gradient of the batch-mean cross-entropy with respect to the logits,
(softmax - one_hot) / m with the denormal guard, instead of recording ``log_softmax``, ``pick``,
the sum and the division and differentiating them. This benchmark trains the chapter's run
(raw pixels, lr 0.1, batch 256) and a confident one (standardised pixels, lr 0.3) for 10
epochs with both steps, in alternating rounds on the same data (CPU seconds of the process,
MXNet's engine threads included), and prints the median ratio, the test accuracies and the
largest weight difference.

Run: ``.venv-mxnet/bin/python benchmarks/bench_mxnet_step.py [--rounds 4] [--epochs 10]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np
from _record import record

from softreg.backends import mxnet_backend
from softreg.backends.checks import check_batch_size, check_order, check_step
from softreg.core.config import TrainConfig
from softreg.epochs.loop import EpochTotals
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import fit


def autograd_epoch(self: Any, data: Any, order: Any, batch_size: int, lr: float,
                   weight_decay: float = 0.0) -> EpochTotals:
    """The step before 2026-12-02: autograd through the whole loss."""
    check_batch_size(batch_size)
    check_step(lr, weight_decay)
    rows_all = check_order(order, data.num_examples)
    nd, autograd = self.nd, self.autograd
    idx = nd.array(rows_all, ctx=self.ctx, dtype="int64")
    loss_sum = nd.zeros((1,), ctx=self.ctx, dtype="float64")
    correct = nd.zeros((1,), ctx=self.ctx, dtype="float64")
    W, b = self.W, self.b
    lr = mxnet_backend._normal_or_zero(lr)
    weight_decay = mxnet_backend._normal_or_zero(weight_decay)
    for start in range(0, rows_all.size, batch_size):
        rows = idx[start : start + batch_size]
        xb, yb = nd.take(data.X, rows), nd.take(data.y, rows)
        with autograd.record():
            logits = nd.FullyConnected(xb, W, b, num_hidden=10)
            total = -nd.pick(nd.log_softmax(logits, axis=1), yb, axis=1).sum(axis=0,
                                                                             keepdims=True)
            mean = total / yb.shape[0]
        mean.backward()
        nd.sgd_update(W, W.grad, lr=lr, wd=weight_decay, out=W)
        nd.sgd_update(b, b.grad, lr=lr, wd=0.0, out=b)
        loss_sum += total.astype("float64")
        correct += (nd.argmax(logits, axis=1) == yb).sum().astype("float64")
    return EpochTotals(float(loss_sum.asscalar()), int(correct.asscalar()), int(rows_all.size))


def compare(config: TrainConfig, rounds: int) -> None:
    splits = prepare_splits(config, offline=True)
    steps = {"written out": mxnet_backend.MxnetBackend.train_epoch, "autograd": autograd_epoch}
    fit(config, splits)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    results: dict[str, Any] = {}
    try:
        for r in range(rounds):
            for name in list(steps)[:: 1 if r % 2 == 0 else -1]:
                mxnet_backend.MxnetBackend.train_epoch = steps[name]  # type: ignore[method-assign]
                t0 = time.process_time()
                results[name] = fit(config, splits)
                seconds[name].append(time.process_time() - t0)
    finally:
        mxnet_backend.MxnetBackend.train_epoch = steps["written out"]  # type: ignore[method-assign]
    ratios = [a / w for a, w in zip(seconds["autograd"], seconds["written out"], strict=True)]
    new, old = (results[n] for n in ("written out", "autograd"))
    diff = float(np.abs(new.trainer.snapshot()[0] - old.trainer.snapshot()[0]).max())
    print(f"  written out {statistics.median(seconds['written out']):.2f} s, autograd "
          f"{statistics.median(seconds['autograd']):.2f} s (medians): the written-out step is "
          f"{statistics.median(ratios):.2f}x faster (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    record("MXNet written-out step vs autograd step", statistics.median(ratios))
    print(f"  test acc {new.history.last.test_acc:.4f} and {old.history.last.test_acc:.4f}; "
          f"train loss {new.history.last.train_loss:.6f} and {old.history.last.train_loss:.6f};"
          f" largest weight difference {diff:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # MXNet's OpenMP reads it when it loads
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    chapter = TrainConfig(framework="mxnet", device="cpu", epochs=args.epochs)
    print("the chapter's run (raw pixels, lr 0.1, batch 256):")
    compare(chapter, args.rounds)
    print("a confident run (standardised pixels, lr 0.3, batch 256):")
    compare(TrainConfig(framework="mxnet", device="cpu", epochs=args.epochs, standardize=True,
                        lr=0.3), args.rounds)


if __name__ == "__main__":
    main()
