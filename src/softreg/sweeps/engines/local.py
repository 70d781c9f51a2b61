"""The local engine: units of work in this process, or in a pool of worker processes.

With ``jobs == 1`` (or a single unit) the units run here, one after another, sharing one data
cache. Otherwise a pool of ``jobs`` processes, started with ``spawn`` (a fresh interpreter per
worker: ``fork`` is unsafe with framework threads and CUDA), each with its own data cache and
an equal share of the cores for BLAS/OpenMP threads.

A stop of the driver (Ctrl-C, SIGTERM) is passed on to the workers as SIGINT, so that they stop
as a run does (after the current epoch) whether or not the signal reached them too (``kill PID``
and a batch system's SIGTERM reach the driver alone); units not started are dropped, and the
results of every unit that ended are handed back before the stop goes on.
"""

from __future__ import annotations

import contextlib
import os
import signal
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

    def run(self, units: Sequence[Unit], out: Path) -> Generator[list[Result], None, None]:
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
        pool = cf.ProcessPoolExecutor(max_workers=min(self.jobs, len(units)), mp_context=ctx,
                                      initializer=sweep_worker.init_worker,
                                      initargs=(self.data_dir, self.offline, os.getpid()))
        futures: dict[cf.Future[list[Result]], Unit] = {}
        lost: list[Unit] = []
        collected = set()
        try:
            # children inherit both when spawned (during the submits)
            with thread_env(threads), sigint_held():
                for unit in units:
                    futures[pool.submit(self.work, unit, str(out))] = unit
            for fut in cf.as_completed(futures):
                collected.add(fut)
                try:
                    results = fut.result()
                except BrokenProcessPool:
                    lost.append(futures[fut])
                    continue
                yield results
        except GeneratorExit:  # the sweep stopped reading: the workers stop too, promptly
            _stop_pool(pool, [])
            raise
        except BaseException:
            ended = _stop_pool(pool, [f for f in futures if f not in collected])
            if ended:  # one list: the sweep records its finished results before the stop
                yield [r for results in ended for r in results]
            raise
        pool.shutdown(wait=True)
        order = {id(u): i for i, u in enumerate(units)}
        return sorted(lost, key=lambda u: order[id(u)])


def _stop_pool(pool: Any, futures: list[Any]) -> list[list[Result]]:
    """Stop ``pool`` on an interruption of the driver; return the results of the units of
    ``futures`` that ended meanwhile (finished, or stopped with their finished configurations).

    Units not yet handed to a worker are cancelled; the workers get SIGINT (see
    :func:`softreg.sweeps.worker._stop`): a running unit stops after its current epoch and
    returns, one queued for a worker is not started. A second Ctrl-C while this waits stops
    the wait (the workers end with the driver).
    """
    import concurrent.futures as cf

    # the pool's own record of its worker processes (private, the only one it keeps, and
    # dropped by shutdown)
    workers = list((getattr(pool, "_processes", None) or {}).values())
    # cancelled here, not by shutdown(cancel_futures=True): a future the pool cancels is never
    # done for cf.wait
    started = [f for f in futures if not f.cancel()]
    pool.shutdown(wait=False)
    for proc in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
    cf.wait(started)
    pool.shutdown(wait=True)
    return [f.result() for f in started if f.exception() is None]


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Within the block, SIGINT is held back (blocked) in this thread. A worker process spawned
    meanwhile inherits the block and takes a Ctrl-C only once its handler is in place
    (:func:`softreg.sweeps.worker.init_worker` lifts it; before that, the signal would end the
    fresh interpreter with a traceback); this process takes one that came meanwhile when the
    block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # not on this platform: as it was
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


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
