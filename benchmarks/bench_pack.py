"""Packed training against one model at a time, measured side by side in one run.

(a) the 18-configuration grid of ``bench_sweep.py`` (30 epochs, standardised, cosine), the
    whole sweep with its refit: in packs, then with ``--no-pack``; the wall times, their ratio,
    and whether both chose the same configuration with the same test accuracy;
(b) 64 configurations (4 learning rates x 4 weight decays x 4 seeds, batch 256, 10 epochs) as
    one packed sweep, in a child process so that its peak RSS is its own;
(c) 16 seeds of the chapter configuration: one pack (``fit_many``) against 16 single runs
    (``fit``), on the same prepared data, in alternating rounds, and the per-model cost of
    each against one run.

Part (a) also prints the floor the matrix products alone set on this machine: the forward and
update products of every step, the validation pass of every epoch and the refit's, timed here
with torch at the same shapes and summed as if the two cores shared them perfectly, with no
other cost. A target below that floor cannot be met by any scheduling of the same arithmetic.

With ``--compare SRC`` only part (a)'s packed sweep (with its refit) runs, in child
processes, alternately with this tree's softreg and with the one under SRC (e.g. another
checkout's ``src``), ``--rounds`` times each: the medians and their ratio measure a change of
the packed kernel side by side on a shared machine.

With ``--compare-kernel SRC`` the packed epoch alone is timed, this tree's backend
against the ``<framework>_backend.py`` under SRC, both in this process in alternating rounds: part
(a)'s two packs (9 models, batch 64 and 256, one epoch and a validation pass each), the other
tree's on 1 thread (as its ``--jobs 2`` workers ran) and, with ``--threads 2``, on 2 too.

Run: ``python benchmarks/bench_pack.py [--framework torch] [--jobs 2] [--skip a,b,c]
[--rounds 3] [--compare SRC] [--compare-kernel SRC]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

from _record import record

from softreg.core.config import TrainConfig
from softreg.fitting.pack_plan import Packing, packing
from softreg.sweeps.search import SearchSpace, configurations
from softreg.sweeps.sweep import run_sweep

sys.path.insert(0, os.path.dirname(__file__))
from bench_sweep import BASE, GRID  # the same grid, by construction

GRID_64 = {"lr": (0.03, 0.1, 0.3, 1.0), "weight_decay": (0.0, 1e-4, 1e-3, 1e-2),
           "seed": (0, 1, 2, 3)}
BASE_64 = {"standardize": True, "epochs": 10, "batch_size": 256, "val_split": 0.1}


def sweep(space: SearchSpace, jobs: int, packed: bool, refit: bool) -> tuple[float, object]:
    with tempfile.TemporaryDirectory() as tmp, packing(Packing(enabled=packed)):
        t0 = time.perf_counter()
        result = run_sweep(space, tmp, jobs=jobs, refit=refit, figures=False, quiet=True,
                           offline=True)
        return time.perf_counter() - t0, result


def part_a(framework: str, jobs: int) -> None:
    space = SearchSpace(base=TrainConfig(framework=framework, **BASE), axes=dict(GRID))
    t_pack, r_pack = sweep(space, jobs, True, True)
    t_one, r_one = sweep(space, jobs, False, True)
    print(f"(a) 18 configurations x 30 epochs + refit, {framework}, --jobs {jobs}: "
          f"packed {t_pack:.1f} s, --no-pack {t_one:.1f} s: {t_one / t_pack:.2f}x faster")
    record("packed sweep + refit vs --no-pack (18 configurations)", t_one / t_pack, target=4)
    for name, r in (("packed", r_pack), ("--no-pack", r_one)):
        best, refit = r.best, r.refit  # type: ignore[attr-defined]
        print(f"    {name:9s} best lr {best['lr']:g} batch {best['batch_size']} wd "
              f"{best['weight_decay']:g}: val acc {best['val_acc']:.4f} test acc "
              f"{best['test_acc']:.4f}; refit test acc {refit['test_acc']:.4f}")
    same = r_pack.best["key"] == r_one.best["key"]  # type: ignore[attr-defined]
    diff = abs(r_pack.refit["test_acc"] - r_one.refit["test_acc"])  # type: ignore[attr-defined]
    print(f"    same choice: {same}; refit test acc differs by {diff:.4f} (target <= 0.001)")
    if framework == "torch":
        print_floor(space, int(r_pack.best["batch_size"]))  # type: ignore[attr-defined]


def _product_seconds(rows: int, batch: int, repeats: int) -> tuple[float, float]:
    """Seconds of one forward (rows, 784) x (784, batch) and one update (rows, batch) x
    (batch, 784) product with torch on one thread, as the packed step runs them."""
    import torch

    W, bias = torch.randn(rows, 784) * 0.01, torch.zeros(rows, 1)
    X, G = torch.randn(batch, 784), torch.rand(rows, batch) * 1e-3
    for _ in range(max(1, repeats // 10)):  # warm-up
        torch.addmm(bias, W, X.t())
        W.addmm_(G, X, alpha=-1e-3)
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.addmm(bias, W, X.t())
    forward = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    for _ in range(repeats):
        W.addmm_(G, X, alpha=-1e-3)
    return forward, (time.perf_counter() - t0) / repeats


def product_floor(space: SearchSpace, refit_batch: int) -> tuple[float, float]:
    """The products' seconds on one core: (all the packs, the refit); see the module notes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        configs = configurations(space)
        base = configs[0]
        n_val = round(60000 * base.val_split)
        n_train = 60000 - n_val
        packs: dict[int, int] = {}
        for c in configs:
            packs[c.batch_size] = packs.get(c.batch_size, 0) + 1
        total = 0.0
        for batch, models in packs.items():
            fwd, upd = _product_seconds(10 * models, batch, 300)
            steps = -(-n_train // batch)
            val_fwd, _ = _product_seconds(10 * models, n_val, 5)
            total += base.epochs * (steps * (fwd + upd) + val_fwd)
        fwd, upd = _product_seconds(10, refit_batch, 1000)
        test_fwd, _ = _product_seconds(10, 10000, 5)
        refit = base.epochs * -(-60000 // refit_batch) * (fwd + upd) + test_fwd
        return total, refit
    finally:
        torch.set_num_threads(threads)


def print_floor(space: SearchSpace, refit_batch: int) -> None:
    cores = os.cpu_count() or 1
    packs, refit = product_floor(space, refit_batch)
    print(f"    floor: the products alone take {packs:.1f} s (packs) + {refit:.1f} s (refit) "
          f"of one core here; on {cores} cores, perfectly shared and with nothing else, at "
          f"least {(packs + refit) / cores:.1f} s (target 7 s)")


def part_b(framework: str, jobs: int) -> None:
    code = (
        "import resource, sys, time, tempfile\n"
        "sys.argv = ['bench']\n"
        "from bench_pack import GRID_64, BASE_64, sweep\n"
        "from softreg.core.config import TrainConfig\n"
        "from softreg.sweeps.search import SearchSpace\n"
        f"space = SearchSpace(base=TrainConfig(framework={framework!r}, **BASE_64), "
        "axes=dict(GRID_64))\n"
        f"t, r = sweep(space, {jobs}, True, False)\n"
        "own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(t, len(r.rows), r.best['val_acc'], own, kids)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    wall, rows, val, own, kids = proc.stdout.split()[-5:]
    peak = max(int(own), int(kids)) / 2**20  # ru_maxrss is in KiB on Linux
    print(f"(b) {rows} configurations (4 lr x 4 wd x 4 seeds, batch 256, 10 epochs), "
          f"{framework}, --jobs {jobs}: {float(wall):.1f} s packed (target <= 20 s); peak "
          f"RSS {peak:.2f} GiB (largest process; target <= 1.5 GB); best val acc "
          f"{float(val):.4f}")


def part_c(framework: str, rounds: int) -> None:
    import statistics

    from softreg.fitting.pack_plan import fit_many
    from softreg.fitting.splits import prepare_splits
    from softreg.fitting.trainer import fit

    base = TrainConfig(framework=framework, device="cpu")
    splits = prepare_splits(base, offline=True)
    configs = [replace(base, seed=s) for s in range(16)]
    fit(configs[0], splits)  # warm-up: imports, first allocations
    ones, alones, packs = [], [], []
    # alternating rounds (singles first, then the pack first, ...): the machine's slow and
    # fast stretches fall on both sides
    for r in range(rounds):
        for what in ("alone", "pack") if r % 2 == 0 else ("pack", "alone"):
            t0 = time.perf_counter()
            if what == "pack":
                packed = fit_many(configs, splits)
                packs.append(time.perf_counter() - t0)
            else:
                alone = [fit(c, splits) for c in configs]
                alones.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        one = fit(configs[0], splits)
        ones.append(time.perf_counter() - t0)
    ratios = [a / p for a, p in zip(alones, packs, strict=True)]
    t_one, t_alone, t_pack = (statistics.median(x) for x in (ones, alones, packs))
    acc = [r.history.last.test_acc for r in packed]
    print(f"(c) 16 seeds of the chapter configuration (10 epochs, batch 256), {framework}, "
          f"medians of {rounds} alternating rounds: one run {t_one:.2f} s; 16 single runs "
          f"{t_alone:.2f} s; one pack of 16 {t_pack:.2f} s: {statistics.median(ratios):.2f}x "
          f"faster (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"    per model: single {t_alone / 16 / t_one:.2f}, packed {t_pack / 16 / t_one:.2f} "
          f"of one run; test acc over seeds {sum(acc) / 16:.4f} (first seed alone "
          f"{one.history.last.test_acc:.4f}, packed {acc[0]:.4f}, "
          f"{alone[0].history.last.test_acc:.4f})")


def compare(framework: str, jobs: int, other_src: str, rounds: int) -> None:
    """Part (a)'s packed sweep, this tree against ``other_src``, in alternating rounds."""
    import statistics

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    code = ("import sys, time, softreg\n"
            "sys.argv = ['bench']\n"
            + ("import torch\ntorch.set_num_threads(1)\n"  # as main() does (--threads 1)
               if framework == "torch" else "")
            + "from bench_pack import BASE, GRID, sweep\n"
            "from softreg.core.config import TrainConfig\n"
            "from softreg.sweeps.search import SearchSpace\n"
            f"space = SearchSpace(base=TrainConfig(framework={framework!r}, **BASE), "
            "axes=dict(GRID))\n"
            # choose as the tree before --select did (its refit then trains the same settings)
            "import inspect, bench_pack, softreg.sweeps.sweep as S\n"
            "if 'select' in inspect.signature(S.run_sweep).parameters:\n"
            "    real = S.run_sweep\n"
            "    bench_pack.run_sweep = lambda *a, **k: real(*a, select='val_acc', **k)\n"
            f"t, r = sweep(space, {jobs}, True, True)\n"
            "print(t, r.best['key'], r.refit['test_acc'], softreg.__file__)\n")
    times: dict[str, list[float]] = {"this tree": [], other_src: []}
    for r in range(rounds):
        order = (here, other_src) if r % 2 == 0 else (other_src, here)
        for src in order:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [src, os.path.dirname(os.path.abspath(__file__))])}
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env=env, check=True)
            wall, key, test_acc, where = proc.stdout.split()[-4:]
            name = "this tree" if src == here else other_src
            times[name].append(float(wall))
            print(f"    round {r + 1}: {name}: {float(wall):.1f} s (best {key}, refit test acc "
                  f"{float(test_acc):.4f}; {where})", flush=True)
    mine, theirs = (statistics.median(v) for v in times.values())
    print(f"(a) packed sweep + refit, {framework}, --jobs {jobs}, medians of {rounds} "
          f"alternating rounds: this tree {mine:.1f} s, {other_src} {theirs:.1f} s: "
          f"this tree takes {mine / theirs:.3f}x the time")


def compare_kernel(other_src: str, rounds: int, threads2: bool = False,
                   framework: str = "torch") -> None:
    """Part (a)'s packed epochs with this tree's backend and with the one under SRC."""
    import importlib
    import importlib.util
    import statistics

    import numpy as np

    mine_module = importlib.import_module(f"softreg.backends.{framework}_backend")
    from softreg.fitting.pack import layout
    from softreg.fitting.splits import prepare_splits
    from softreg.fitting.trainer import epoch_order, initial_params

    spec = importlib.util.spec_from_file_location(
        f"other_{framework}_backend",
        os.path.join(other_src, "softreg", "backends", f"{framework}_backend.py"))
    assert spec is not None and spec.loader is not None
    other = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = other  # its dataclasses look their module up
    spec.loader.exec_module(other)
    base = TrainConfig(**BASE)
    splits = prepare_splits(replace(base, val_split=0.1), offline=True)
    lrs = np.array([[lr for lr in GRID["lr"] for _ in GRID["weight_decay"]]])  # (1, 9)
    wds = np.array([[wd for _ in GRID["lr"] for wd in GRID["weight_decay"]]])
    W0, b0 = initial_params(0, base.init_std)
    assert layout([0] * 9).shape == (1, 9)

    def epoch(module: object, threads: int | None, batch: int) -> float:
        if threads is not None and framework == "torch":
            import torch

            torch.set_num_threads(threads)
        be = module.create_backend("cpu")  # type: ignore[attr-defined]
        train = be.put_data(splits["train"].X, splits["train"].y)
        val = be.put_data(splits["val"].X, splits["val"].y)
        be.set_pack(np.broadcast_to(W0, (1, 9, *W0.shape)).copy(),
                    np.broadcast_to(b0, (1, 9, *b0.shape)).copy())
        order = epoch_order(0, 0, train.num_examples)[None]
        t0 = time.perf_counter()
        be.pack_totals([be.train_pack_epoch(train, order, batch, lrs, wds),
                        be.evaluate_pack(val)])
        return time.perf_counter() - t0

    kinds = {"this tree (1 thread)": (mine_module, None), "other, 1 thread": (other, 1)}
    if threads2:
        kinds["other, 2 threads"] = (other, 2)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        names = list(kinds) if r % 2 == 0 else list(reversed(kinds))
        for name in names:
            module, threads = kinds[name]
            times[name].append(sum(epoch(module, threads, b) for b in GRID["batch_size"]))
    mine = statistics.median(times["this tree (1 thread)"])
    for name, values in times.items():
        med = statistics.median(values)
        print(f"    {name}: median {med:.2f} s (rounds {min(values):.2f}-{max(values):.2f}); "
              f"this tree takes {mine / med:.3f}x its time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", default="torch")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip", default="", help="parts to skip, e.g. a,b")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of part (c)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads in this process (the refit, part c); workers get "
                    "cores / jobs. On a shared 2-core machine 2 threads wait on each other")
    ap.add_argument("--compare", metavar="SRC", default=None,
                    help="time only part (a)'s packed sweep, this tree against softreg under "
                    "SRC, in --rounds alternating rounds")
    ap.add_argument("--compare-kernel", metavar="SRC", default=None,
                    help="time only the PyTorch packed epochs of part (a), this tree's "
                    "backend against SRC's, in --rounds alternating rounds")
    args = ap.parse_args()
    if args.compare_kernel:
        compare_kernel(args.compare_kernel, args.rounds, threads2=args.threads == 2,
                       framework=args.framework)
        return
    if args.compare:
        compare(args.framework, args.jobs, args.compare, args.rounds)
        return
    if args.framework == "torch":
        import torch

        torch.set_num_threads(args.threads)
    skip = set(args.skip.split(","))
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; torch threads in "
          f"this process: {args.threads}")
    t0 = time.perf_counter()
    if "a" not in skip:
        part_a(args.framework, args.jobs)
    if "b" not in skip:
        part_b(args.framework, args.jobs)
    if "c" not in skip:
        part_c(args.framework, args.rounds)
    print(f"total {time.perf_counter() - t0:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f}; this process peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
