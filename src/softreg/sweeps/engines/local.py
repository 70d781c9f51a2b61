"""The local engine: units of work in this process, or in a pool of worker processes.

With ``jobs == 1`` (or a single unit) the units run here, one after another, sharing one data
cache. Otherwise a pool of ``jobs`` processes, started with ``spawn`` (a fresh interpreter per
worker: ``fork`` is unsafe with framework threads and CUDA), each with its own data cache and
an equal share of the cores for BLAS/OpenMP threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from softreg.sweeps import worker as sweep_worker
from softreg.sweeps.engines import Result, Unit


class LocalEngine:
    """Units of work on this machine (see the module docstring)."""

    name = "local"

    def __init__(self, jobs: int = 1, data_dir: str | None = None,
                 offline: bool = False, stream: TextIO | None = None) -> None:
        self.jobs = jobs
        self.data_dir = data_dir
        self.offline = offline
        self.stream = stream
        # what a worker process runs on a unit (module-level: it is pickled by reference)
        self.work: Callable[[Unit, str], list[Result]] = sweep_worker.run_unit_in_worker

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None  # a pool is shut down by run() itself, however it ends

    def describe(self) -> dict[str, Any]:
        """``{"name": "local", "jobs": N}``."""
        return {"name": self.name, "jobs": self.jobs}

    @property
    def slots(self) -> int:
        """The worker processes: ``jobs``."""
        return self.jobs

    def run(self, units: Sequence[Unit], out: Path) -> Iterator[list[Result]]:
        """Train ``units``; yield each unit's results as it finishes (weights written)."""
        if self.jobs == 1 or len(units) <= 1:
            cache = sweep_worker.SplitCache(self.data_dir, self.offline)
            for unit in units:
                yield sweep_worker.run_unit(unit, out, cache)
            return
        yield from self._run_pool(units, out)

    def _run_pool(self, units: Sequence[Unit], out: Path) -> Iterator[list[Result]]:
        """Units in a pool of worker processes. A worker that dies (killed, as the OOM killer
        does) breaks the pool: the units it lost are tried once more in a new pool (those lost
        again, each in a pool of its own), then recorded as failed, so that what finished is
        always reported."""
        lost = yield from self._pool_once(units, out)
        if lost:
            configs = sum(len(u) for u in lost)
            if self.stream is not None:
                print(f"a worker process died; trying its {configs} configuration(s) once "
                      "more", file=self.stream)
            lost = yield from self._pool_once(lost, out)
        # Lost again: a dying worker also takes the units waiting in its pool down. Each alone
        # in a pool of its own tells the unit that kills its worker from its bystanders.
        alone: list[Unit] = []
        for unit in lost if len(lost) > 1 else ():
            alone += yield from self._pool_once([unit], out)
        lost = alone if len(lost) > 1 else lost
        for unit in lost:
            yield [sweep_worker.failed_result(
                c, "its worker process died twice (killed, e.g. by the out-of-memory killer: "
                "lower --jobs or --pack-memory)") for c in unit]

    def _pool_once(self, units: Sequence[Unit],
                   out: Path) -> Generator[list[Result], None, list[Unit]]:
        """Run ``units`` in one pool; return those whose worker died before they finished."""
        import concurrent.futures as cf
        import multiprocessing
        from concurrent.futures.process import BrokenProcessPool

        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        ctx = multiprocessing.get_context("spawn")
        with thread_env(threads):  # children inherit it when spawned (during the submits)
            pool = cf.ProcessPoolExecutor(max_workers=min(self.jobs, len(units)), mp_context=ctx,
                                          initializer=sweep_worker.init_worker,
                                          initargs=(self.data_dir, self.offline, os.getpid()))
            futures = {pool.submit(self.work, unit, str(out)): unit for unit in units}
        lost: list[Unit] = []
        try:
            for fut in cf.as_completed(futures):
                try:
                    results = fut.result()
                except BrokenProcessPool:
                    lost.append(futures[fut])
                    continue
                yield results
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        order = {id(u): i for i, u in enumerate(units)}
        return sorted(lost, key=lambda u: order[id(u)])


class thread_env:  # noqa: N801  (used as a context manager, reads like one)
    """Set the BLAS/OpenMP thread counts in os.environ for child processes, then restore."""

    NAMES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for name in self.NAMES:
            self.saved[name] = os.environ.get(name)
            os.environ[name] = str(self.threads)

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
