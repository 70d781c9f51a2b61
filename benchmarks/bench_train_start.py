"""The start of `softreg train`, piece by piece: the framework import and the data, side by side.

Prints, each in fresh processes, in alternating rounds (medians, and the median of the rounds'
ratios):

* ``import torch`` and exit, as a plain process and as the command line now does it (garbage
  collector paused during the import, its objects frozen after it: ``_optional.own_process``);
* the backend and the prepared splits of the chapter's configuration, made one after the
  other (as before) and with the data read in a second thread while PyTorch imports
  (``run.backend_and_splits``).

The second needs a core to spare: on a machine whose cores are all busy the two take the same
time or the thread loses a little; on an idle 2-core machine it should save about the data's
time (0.4-0.5 s). Run: ``python benchmarks/bench_train_start.py [--rounds 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _record import record

IMPORTS = {
    "plain": "import torch",
    "frozen": "from softreg import _optional\nwith _optional.own_process():\n"
              "    _optional.import_framework('torch')",
}

PHASE = """
import sys, time
from softreg.jobs import run
from softreg.core.optional import own_process
from softreg.backends import for_single_run, get_backend
from softreg.core.config import TrainConfig
from softreg.fitting.splits import prepare_splits
config = TrainConfig(framework="torch")
with own_process():
    t0 = time.perf_counter()
    if sys.argv[1] == "threaded":
        run.backend_and_splits(config, None, False)
    else:
        for_single_run(get_backend("torch", "auto"))
        prepare_splits(config)
    print(time.perf_counter() - t0)
"""


def wall(code: str, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def phase(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PHASE, mode], check=True, capture_output=True,
                         text=True)
    return float(out.stdout.split()[-1])


def compare(what: str, names: tuple[str, str], rounds: int, run: object) -> float:
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            times[n].append(run(n))  # type: ignore[operator]
    ratios = [a / b for a, b in zip(times[names[1]], times[names[0]], strict=True)]
    print(f"{what}, {rounds} alternating rounds: " + ", ".join(
        f"{n} median {statistics.median(v):.3f} s (min {min(v):.3f})" for n, v in times.items())
        + f": {names[1]} takes {statistics.median(ratios):.2f} of {names[0]}'s time")
    return statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    ratio = compare("import torch and exit", ("plain", "frozen"), args.rounds,
                    lambda n: wall(IMPORTS[n]))
    record("import torch and exit: gc paused and frozen / plain", ratio, better="lower")
    ratio = compare("backend + chapter data", ("sequential", "threaded"), args.rounds, phase)
    record("softreg train's backend + data: data thread / one after the other", ratio,
           better="lower")


if __name__ == "__main__":
    main()
