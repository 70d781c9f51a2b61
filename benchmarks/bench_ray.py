"""The same sweep on the local engine and on a local Ray cluster, side by side.

64 configurations (4 learning rates x 4 weight decays x 4 seeds; batch 256, 10 epochs, 10%
validation split) on the local engine (``--jobs`` worker processes) and on a local Ray cluster
of as many CPUs, one configuration per Ray task. The cluster's start-up is timed apart from the
sweep; the overhead ratio compares the sweeps' wall times (target: Ray <= 1.3x local). Both
sweeps must give the same rows and the same choice.

Run: ``python benchmarks/bench_ray.py [--jobs 2] [--framework numpy] [--epochs 10]``
(needs ``pip install 'softreg[ray]'`` and the Fashion-MNIST files; about 3 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time

from _record import record

from softreg.core.config import TrainConfig
from softreg.sweeps.search import SearchSpace
from softreg.sweeps.sweep import COLUMNS, SweepResult, run_sweep

TARGET = 1.3
GRID = {"lr": (0.03, 0.1, 0.3, 1.0), "weight_decay": (0.0, 1e-4, 1e-3, 1e-2),
        "seed": (0, 1, 2, 3)}


def _timed_sweep(space: SearchSpace, jobs: int, engine: str) -> tuple[SweepResult, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_sweep(space, tmp, jobs=jobs, offline=True, figures=False, quiet=True,
                           engine=engine)
        return result, time.perf_counter() - t0


def _differences(a: SweepResult, b: SweepResult) -> int:
    """Cells (but the seconds) that differ by more than float32 rounding."""
    theirs = {r["key"]: r for r in b.rows}
    bad = 0
    for row in a.rows:
        other = theirs.get(row["key"], {})
        for col in COLUMNS:
            x, y = row[col], other.get(col)
            if col == "seconds":
                continue
            if isinstance(x, float) and isinstance(y, float):
                bad += not (math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
                            or (math.isnan(x) and math.isnan(y)))
            else:
                bad += x != y
    return bad + abs(len(a.rows) - len(b.rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="local workers = Ray cluster CPUs")
    ap.add_argument("--framework", default="numpy")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    import ray

    base = TrainConfig(framework=args.framework, batch_size=256, epochs=args.epochs,
                       val_split=0.1)
    space = SearchSpace(base=base, axes=dict(GRID))
    n = math.prod(len(v) for v in GRID.values())
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} (before)")
    print(f"sweep: {n} configurations, {args.framework}, batch 256, {args.epochs} epochs, "
          f"{args.jobs} workers")

    local, local_s = _timed_sweep(space, args.jobs, "local")
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=args.jobs, include_dashboard=False,
             logging_level=logging.WARNING)
    start_s = time.perf_counter() - t0
    try:  # the sweep uses this process's cluster: its time is the sweep's alone
        on_ray, ray_s = _timed_sweep(space, args.jobs, "ray")
    finally:
        t0 = time.perf_counter()
        ray.shutdown()
        stop_s = time.perf_counter() - t0

    print(f"{'engine':<8} {'wall s':>8} {'configs/s':>10}")
    print(f"{'local':<8} {local_s:>8.1f} {n / local_s:>10.2f}")
    print(f"{'ray':<8} {ray_s:>8.1f} {n / ray_s:>10.2f}   (cluster start-up {start_s:.1f} s "
          f"and shutdown {stop_s:.1f} s apart)")
    ratio = ray_s / local_s
    print(f"overhead ratio ray/local: {ratio:.2f} ({'within' if ratio <= TARGET else 'OVER'} "
          f"the {TARGET}x target); with start-up and shutdown: "
          f"{(ray_s + start_s + stop_s) / local_s:.2f}")
    record("Ray engine vs local engine, sweep wall time", ratio, better="lower", target=TARGET)
    same_best = (local.best or {}).get("key") == (on_ray.best or {}).get("key")
    print(f"rows differing beyond float32 rounding: {_differences(local, on_ray)}; same best: "
          f"{same_best}")
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
