"""The PyTorch step's denormal guard, measured side by side in one run.

A confident model's softmax gives probabilities far below 1e-38; times the step's -lr / m they
are denormal float32 numbers, and a matrix product that meets denormals runs several times
slower on x86. The step raises log-probabilities below ``torch_backend.LOG_TINY`` (-60) to it
before the softmax of the gradient. This benchmark trains the batch-64 row of
``bench_sweep.py``'s grid (9 models: 3 learning rates x 3 weight decays, standardised pixels,
cosine schedule) as one pack, with the guard and without it (``LOG_TINY = -inf``: the same
operations, nothing raised), in alternating rounds on the same prepared data, and prints each
round's times, the median ratio, and how far the two runs' validation accuracies differ.

Then what the guard costs where nothing is that small: the chapter's single run (batch 256,
lr 0.1, raw pixels, 10 epochs), with and without it, in alternating rounds (CPU seconds).

Run: ``python benchmarks/bench_denormal.py [--epochs 10] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace

import torch

from softreg.backends import torch_backend
from softreg.config import TrainConfig
from softreg.pack_plan import fit_many
from softreg.splits import prepare_splits

sys.path.insert(0, os.path.dirname(__file__))
from bench_sweep import BASE, GRID  # the same grid, by construction


def timed(configs: list[TrainConfig], splits: dict, log_tiny: float) -> tuple[float, list[float]]:
    saved = torch_backend.LOG_TINY
    torch_backend.LOG_TINY = log_tiny
    try:
        t0 = time.perf_counter()
        results = fit_many(configs, splits)
        seconds = time.perf_counter() - t0
    finally:
        torch_backend.LOG_TINY = saved
    return seconds, [r.history.last.val_acc for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = TrainConfig(framework="torch", device="cpu", **{**BASE, "epochs": args.epochs},
                       batch_size=args.batch_size)
    configs = [replace(base, lr=lr, weight_decay=wd)
               for lr in GRID["lr"] for wd in GRID["weight_decay"]]
    splits = prepare_splits(base, offline=True)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; one torch thread; "
          f"a pack of {len(configs)} at batch {args.batch_size}, {args.epochs} epochs")
    fit_many(configs[:1], splits)  # warm-up
    ratios = []
    for i in range(args.rounds):
        with_guard, acc_with = timed(configs, splits, torch_backend.LOG_TINY)
        without, acc_without = timed(configs, splits, float("-inf"))
        ratios.append(without / with_guard)
        diff = max(abs(a - b) for a, b in zip(acc_with, acc_without, strict=True))
        print(f"  round {i + 1}: guard {with_guard:.2f} s, no guard {without:.2f} s: "
              f"{ratios[-1]:.2f}x; largest val acc difference {diff:.4f}")
    print(f"median: the guard is {statistics.median(ratios):.2f}x faster "
          f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")
    chapter_cost(args.rounds * 4)


def chapter_cost(rounds: int) -> None:
    from softreg.training import fit

    chapter = TrainConfig(framework="torch", device="cpu")
    splits = prepare_splits(chapter, offline=True)
    fit(chapter, splits)  # warm-up
    saved, ratios, same = torch_backend.LOG_TINY, [], True
    try:
        for _ in range(rounds):
            seconds, weights = [], []
            for log_tiny in (saved, float("-inf")):
                torch_backend.LOG_TINY = log_tiny
                t0 = time.process_time()
                result = fit(chapter, splits)
                seconds.append(time.process_time() - t0)
                weights.append(result.trainer.snapshot()[0])
            ratios.append(seconds[0] / seconds[1])
            same = same and bool((weights[0] == weights[1]).all())
    finally:
        torch_backend.LOG_TINY = saved
    print(f"the chapter's single run, {rounds} alternating rounds, CPU time with the guard / "
          f"without: median {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-"
          f"{max(ratios):.3f}); the same weights both ways: {same}")


if __name__ == "__main__":
    main()
