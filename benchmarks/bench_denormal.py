"""The training step's denormal guard (PyTorch, NumPy, MXNet), measured side by side in one run.

A confident model's softmax gives probabilities far below 1e-38; times the step's -lr / m they
are denormal float32 numbers, and a matrix product that meets denormals runs several times
slower on x86 (up to 60x in OpenBLAS). The torch step raises log-probabilities below
``torch_backend.LOG_TINY`` (-60) to it before the softmax of the gradient; the NumPy step sets
gradient entries below ``numpy_backend.GRAD_TINY`` (1e-30) to zero; the MXNet step raises them
to ``LOG_TINY`` as torch does (MXNet packs train one model at a time). This benchmark trains the
batch-64 row of
``bench_sweep.py``'s grid (9 models: 3 learning rates x 3 weight decays, standardised pixels,
cosine schedule) as one pack, with the guard and without it (``LOG_TINY = -inf`` or
``GRAD_TINY = 0``: the same operations, nothing changed), in alternating rounds on the same
prepared data, and prints each
round's times, the median ratio, and how far the two runs' validation accuracies differ.

Then what the guard costs where nothing is that small: the chapter's single run (batch 256,
lr 0.1, raw pixels, 10 epochs), with and without it, in alternating rounds (CPU seconds).

Run: ``python benchmarks/bench_denormal.py [--framework torch|numpy] [--epochs 10] [--rounds 3]``;
MXNet: ``.venv-mxnet/bin/python benchmarks/bench_denormal.py --framework mxnet``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from dataclasses import replace
from types import ModuleType

from _record import record

from softreg.core.config import TrainConfig
from softreg.fitting.pack_plan import fit_many
from softreg.fitting.splits import prepare_splits

sys.path.insert(0, os.path.dirname(__file__))
from bench_sweep import BASE, GRID  # the same grid, by construction

# framework: (its backend module, the guard's name there, the value that turns the guard off)
GUARDS = {"torch": ("softreg.backends.torch_backend", "LOG_TINY", float("-inf")),
          "numpy": ("softreg.backends.numpy_backend", "GRAD_TINY", 0.0),
          "mxnet": ("softreg.backends.mxnet_backend", "LOG_TINY", float("-inf"))}


def guard(framework: str) -> tuple[ModuleType, str, float]:
    """The backend module of ``framework`` (imported only now), its guard's name, its off."""
    module, name, off = GUARDS[framework]
    return importlib.import_module(module), name, off


def timed(configs: list[TrainConfig], splits: dict, on: bool) -> tuple[float, list[float]]:
    module, name, off = guard(configs[0].framework)
    saved = getattr(module, name)
    setattr(module, name, saved if on else off)
    try:
        t0 = time.perf_counter()
        results = fit_many(configs, splits)
        seconds = time.perf_counter() - t0
    finally:
        setattr(module, name, saved)
    return seconds, [r.history.last.val_acc for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--framework", default="torch", choices=sorted(GUARDS))
    args = ap.parse_args()
    if args.framework == "torch":
        import torch

        torch.set_num_threads(1)
    elif args.framework == "mxnet":  # MXNet's OpenMP reads it when MXNet loads
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = TrainConfig(framework=args.framework, device="cpu",
                       **{**BASE, "epochs": args.epochs}, batch_size=args.batch_size)
    configs = [replace(base, lr=lr, weight_decay=wd)
               for lr in GRID["lr"] for wd in GRID["weight_decay"]]
    splits = prepare_splits(base, offline=True)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; one thread; "
          f"{args.framework}: a pack of {len(configs)} at batch {args.batch_size}, "
          f"{args.epochs} epochs")
    fit_many(configs[:1], splits)  # warm-up
    ratios = []
    for i in range(args.rounds):
        with_guard, acc_with = timed(configs, splits, True)
        without, acc_without = timed(configs, splits, False)
        ratios.append(without / with_guard)
        diff = max(abs(a - b) for a, b in zip(acc_with, acc_without, strict=True))
        print(f"  round {i + 1}: guard {with_guard:.2f} s, no guard {without:.2f} s: "
              f"{ratios[-1]:.2f}x; largest val acc difference {diff:.4f}")
    print(f"median: the guard is {statistics.median(ratios):.2f}x faster "
          f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")
    record("denormal guard on vs off, mixed pack", statistics.median(ratios))
    chapter_cost(args.framework, args.rounds * 4)


def chapter_cost(framework: str, rounds: int) -> None:
    from softreg.fitting.trainer import fit

    chapter = TrainConfig(framework=framework, device="cpu")
    splits = prepare_splits(chapter, offline=True)
    fit(chapter, splits)  # warm-up
    module, name, off = guard(framework)
    saved, ratios, same = getattr(module, name), [], True
    try:
        for _ in range(rounds):
            seconds, weights = [], []
            for value in (saved, off):
                setattr(module, name, value)
                t0 = time.process_time()
                result = fit(chapter, splits)
                seconds.append(time.process_time() - t0)
                weights.append(result.trainer.snapshot()[0])
            ratios.append(seconds[0] / seconds[1])
            same = same and bool((weights[0] == weights[1]).all())
    finally:
        setattr(module, name, saved)
    print(f"the chapter's single run, {rounds} alternating rounds, CPU time with the guard / "
          f"without: median {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-"
          f"{max(ratios):.3f}); the same weights both ways: {same}")


if __name__ == "__main__":
    main()
