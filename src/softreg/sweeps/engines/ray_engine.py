"""The Ray engine: each unit of work is one Ray task, on a Ray cluster.

* The cluster: the one at ``address`` (:mod:`~softreg.sweeps.engines.ray_cluster`), or a local one
  started when the engine is entered and stopped when it is left, however the sweep ends.
* Before the first unit, a tiny task on every node checks that it can import softreg and the
  sweep's frameworks, in this machine's versions: a node that cannot fails the sweep at once,
  with the pip command to run there.
* Data: the driver prepares and verifies the splits once per data key (validation split,
  validation seed, standardisation) and puts them in Ray's object store; tasks read no file.
* Results: a task returns its results with each model's safetensors bytes; the driver writes
  the weights files (atomically), so the sweep folder is the one the local engine writes.
* Faults: a task whose worker dies is retried (``max_retries``); one that still fails, or
  raises, is recorded as ``failed`` for its configurations and the others go on. Leaving the
  engine early (Ctrl-C, SIGTERM, an error) cancels what still runs.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError, SoftregError
from softreg.fitting.splits import DATA_KEY_NAMES, Split, data_key, prepare_splits
from softreg.safety import fileio
from softreg.sweeps import worker as sweep_worker
from softreg.sweeps.engines import Result, Unit, check_gpu_share, ray_cluster, sigterm_kept

PROGRESS_EVERY_S = 5.0


def train_unit(config_dicts: Unit, key: tuple[Any, ...],
               splits: dict[str, Split]) -> list[Result]:
    """The Ray task: train one unit on splits from the object store; weights come back."""
    # The object store hands out read-only arrays; training only reads them.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    return sweep_worker.run_unit(config_dicts, None, sweep_worker.FixedSplits(key, splits))


class RayEngine:
    """Units of work as Ray tasks (see the module docstring).

    Raises:
        ConfigError: ``gpus_per_task`` is not a fraction in (0, 1] or a whole number.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus: int = 1, data_dir: str | None = None,
                 offline: bool = False, gpus_per_task: float = 1.0, max_retries: int = 3,
                 stream: TextIO | None = None) -> None:
        check_gpu_share(gpus_per_task)
        self.address = ray_cluster.resolve_address(address)
        self.cpus = cpus
        self.data_dir = data_dir
        self.offline = offline
        self.gpus_per_task = float(gpus_per_task)
        self.max_retries = max_retries
        self.stream = stream
        self.ray: Any = None
        self.owned = False  # whether this engine connected (and must disconnect)
        self.attached = False  # whether it uses the connection this process already had
        self.cluster: dict[str, Any] = {}
        self.pending: dict[Any, Unit] = {}  # task -> its unit, until it is collected
        self.task_failed = False  # a task failed for good: a local cluster's logs are kept

    def __enter__(self) -> RayEngine:
        t0 = time.perf_counter()
        # quiet (no progress stream): without Ray's token authentication notice either
        self.ray, self.owned = ray_cluster.connect(self.address, self.cpus,
                                                   quiet=self.stream is None)
        self.attached = not self.owned
        try:
            self.cluster = ray_cluster.describe(self.ray)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        where = (f"connected to {self.address}" if self.address else
                 "using this process's cluster" if self.attached else "started a local cluster")
        res = self.cluster["resources"]
        self._say(f"ray: {where}: {self.cluster['nodes']} node(s), {res.get('CPU', 0):g} CPUs, "
                  f"{res.get('GPU', 0):g} GPUs ({time.perf_counter() - t0:.1f} s)")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pending, self.pending = list(self.pending), {}
        if self.owned:
            self.owned = False
            # a local cluster's folder goes with it, but for the logs of an error or of a task
            # that failed: not of Ctrl-C or SIGTERM (BaseExceptions), nor of softreg's own
            # refusals (their one line says what to do; the logs would add nothing)
            keep = self.task_failed or (isinstance(exc, Exception)
                                        and not isinstance(exc, SoftregError))
            ray_cluster.disconnect(self.ray, pending, keep=keep)  # also stops a local cluster
        elif self.ray is not None:  # another's connection: only this sweep's tasks go
            ray_cluster.cancel(self.ray, pending)

    def describe(self) -> dict[str, Any]:
        """The engine, the address and the cluster (once entered).

        The address is the one given, ``local`` for a cluster started for the sweep, or
        ``this process`` for the connection that the calling process already had.
        """
        address = self.address or ("this process" if self.attached else "local")
        return {"name": self.name, "address": address, **self.cluster}

    @property
    def slots(self) -> int:
        """The cluster's CPUs (one per task), as counted when the engine was entered."""
        return max(1, int(self.cluster.get("resources", {}).get("CPU", 1)))

    def run(self, units: Sequence[Unit], out: Path) -> Generator[list[Result], None, None]:
        """Train ``units``; yield each unit's results as it finishes (weights written).

        Raises:
            EngineError: a node lacks softreg or a framework (checked before any unit).
        """
        if not units:
            return
        with sigterm_kept():
            if any(c.get("device") == "cuda" for u in units for c in u):
                ray_cluster.check_gpus(self.ray, self.gpus_per_task)
            ray_cluster.check_nodes(self.ray, [c["framework"] for u in units for c in u])
            self._submit(units)
            yield from self._gather(units, out)

    def _gather(self, units: Sequence[Unit], out: Path) -> Iterator[list[Result]]:
        t0, last, configs = time.perf_counter(), 0.0, 0
        waiting = list(self.pending)
        while waiting:
            ready, waiting = self.ray.wait(waiting, num_returns=1)
            if waiting:  # and whatever else is ready already
                more, waiting = self.ray.wait(waiting, num_returns=len(waiting), timeout=0)
                ready += more
            for ref in ready:
                unit = self.pending.pop(ref)
                results = [self._keep_weights(out, r) for r in self._collect(ref, unit)]
                configs += len(unit)
                now = time.perf_counter() - t0
                if now - last >= PROGRESS_EVERY_S or not self.pending:
                    last = now
                    done = len(units) - len(self.pending)
                    self._say(f"ray: {done}/{len(units)} tasks done, {configs} configurations "
                              f"in {now:.1f} s ({configs / max(now, 1e-9):.2f} per second)")
                yield results

    def _submit(self, units: Sequence[Unit]) -> None:
        task = self.ray.remote(train_unit)
        data: dict[tuple[Any, ...], Any] = {}
        for unit in units:
            key = _unit_data_key(unit)
            if key not in data:  # prepared and verified once, then shared by every task
                config = TrainConfig.from_dict(unit[0])
                data[key] = self.ray.put(prepare_splits(config, self.data_dir, self.offline))
            options: dict[str, Any] = {"num_cpus": 1, "max_retries": self.max_retries}
            if any(c.get("device") == "cuda" for c in unit):
                options["num_gpus"] = self.gpus_per_task
            self.pending[task.options(**options).remote(unit, key, data[key])] = unit

    def _collect(self, ref: Any, unit: Unit) -> list[Result]:
        """A finished task's results; a task that failed fails its configurations."""
        try:
            results: list[Result] = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc
            text = (str(cause).strip().splitlines() or [""])[0]
            message = f"the Ray task failed: {type(cause).__name__}: {text}"
            self.task_failed = True
            return [sweep_worker.failed_result(c, message) for c in unit]
        return results

    def _keep_weights(self, out: Path, result: Result) -> Result:
        """Write a result's returned weights where the local engine would have written them."""
        data = result.pop(sweep_worker.WEIGHTS_DATA, None)
        if data is not None:
            row = result["row"]
            expected = f"weights/{row['key']}.safetensors"
            if row.get("weights") != expected:  # never a path a worker chose
                return sweep_worker.failed_result(
                    result["config"], f"the Ray task returned weights for "
                    f"{row.get('weights')!r}, expected {expected!r}")
            fileio.write_bytes(out / expected, data)
        return result

    def _say(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)


def _unit_data_key(unit: Unit) -> tuple[Any, ...]:
    """The data key that every configuration of ``unit`` shares.

    Raises:
        ConfigError: the unit mixes data settings (it must be split before submitting).
    """
    keys = {data_key(TrainConfig.from_dict(c)) for c in unit}
    if len(keys) != 1:
        raise ConfigError(f"a unit of work must share its data settings "
                          f"({', '.join(DATA_KEY_NAMES)}), got {sorted(keys)}; split it by data "
                          "settings")
    return keys.pop()
