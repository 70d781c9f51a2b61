"""Where a sweep's work runs: the engines.

A sweep hands an engine its *units of work*, each a list of configuration dicts trained by one
call of :func:`softreg.sweeps.worker.run_unit` (a pack of configurations, or a single one), and
the engine yields each unit's results as the unit finishes, in the order they finish. A result
is what :func:`softreg.sweeps.worker.run_config` returns, with its weights file already written
under the sweep folder. The sweep writes everything else (results, tables, figures), so the
folder is the same whichever engine trained it.

* ``local`` (:mod:`softreg.sweeps.engines.local`): this process, or a pool of ``jobs`` worker
  processes on this machine. Nothing to start, nothing to install.
* ``ray`` (:mod:`~softreg.sweeps.engines.ray_engine`): a Ray task per unit, on a running Ray cluster
  (``address``) or on a local one started for the sweep and stopped after it.

An engine is a context manager: entering it starts or connects to what it runs on, leaving it
stops what it started and cancels what is still running.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol, TextIO

from softreg.core.errors import ConfigError
from softreg.safety.stopsignals import Terminated

ENGINES = ("local", "ray")

Unit = list[dict[str, Any]]  # configuration dicts trained by one call of run_unit
Result = dict[str, Any]  # {"row", "config", "history"}: see sweep_worker.run_config


class Engine(Protocol):
    """What a sweep needs of an engine (see the module docstring)."""

    name: str

    def __enter__(self) -> Engine:
        """Start or connect to what the engine runs on."""
        ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Cancel what still runs; stop what :meth:`__enter__` started."""
        ...

    def describe(self) -> dict[str, Any]:
        """The engine and what it runs on, for ``sweep.json`` (JSON-able)."""
        ...

    @property
    def slots(self) -> int:
        """How many units can train at once (once entered): split work into at least this."""
        ...

    def run(self, units: Sequence[Unit], out: Path) -> Generator[list[Result], None, None]:
        """Train ``units``; yield each unit's results as it finishes (weights written).

        A KeyboardInterrupt thrown in (``throw``: the sweep was stopped while it recorded a
        result) stops the engine's work as one raised inside it does.
        """
        ...


def check_engine(engine: str, address: str | None, gpus_per_task: float = 1.0) -> None:
    """Refuse an unknown engine, an address for an engine that takes none, a bad GPU share.

    Raises:
        ConfigError: the message names the setting and its allowed values.
    """
    check_gpu_share(gpus_per_task)
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if address is not None and engine != "ray":
        raise ConfigError(f"--address {address!r} is for --engine ray (a Ray cluster); the "
                          f"{engine} engine runs on this machine: drop --address or add "
                          "--engine ray")
    if address is not None and address != "auto":  # its form, before any folder is made
        from softreg.sweeps.engines.ray_cluster import host_port

        host_port(address)


def check_gpu_share(gpus_per_task: float) -> None:
    """Refuse a GPU share per task that Ray would not take.

    Raises:
        ConfigError: not a fraction in (0, 1] or a whole number of GPUs.
    """
    share = gpus_per_task
    if (isinstance(share, bool) or not isinstance(share, int | float)
            or not (0 < share <= 1 or (share > 1 and float(share).is_integer()))):
        raise ConfigError(f"gpus_per_task (--task-gpus) must be a fraction in (0, 1] or a "
                          f"whole number of GPUs, got {share!r}")


def make_engine(engine: str, *, jobs: int = 1, address: str | None = None,
                data_dir: str | None = None, offline: bool = False,
                gpus_per_task: float = 1.0, stream: TextIO | None = None) -> Engine:
    """The engine called ``engine``. Nothing is started or imported before it is entered.

    Args:
        engine: ``local`` or ``ray``.
        jobs: worker processes (local), or CPUs of the local Ray cluster started when there
            is no ``address``.
        address: the Ray cluster to connect to (``auto``, ``host:port``, ``ray://host:10001``);
            ``None``: the ``RAY_ADDRESS`` environment variable, else a local cluster.
        data_dir, offline: where the Fashion-MNIST files are (see ``softreg.data``).
        gpus_per_task: the share of a GPU each Ray task declares when its configurations
            train on ``cuda`` (a fraction lets several tasks share one GPU).
        stream: where the engine's progress lines go (None: nowhere).

    Raises:
        ConfigError: see :func:`check_engine`.
    """
    check_engine(engine, address, gpus_per_task)
    if engine == "ray":
        from softreg.sweeps.engines.ray_engine import RayEngine

        return RayEngine(address=address, cpus=jobs, data_dir=data_dir, offline=offline,
                         gpus_per_task=gpus_per_task, stream=stream)
    from softreg.sweeps.engines.local import LocalEngine

    return LocalEngine(jobs=jobs, data_dir=data_dir, offline=offline, stream=stream)


@contextlib.contextmanager
def sigterm_kept() -> Iterator[None]:
    """Within the block, a KeyboardInterrupt caused by SIGTERM stays :class:`Terminated`.

    A stop can reach the sweep as a plain KeyboardInterrupt after SIGTERM: Ray checks for
    signals while it waits and raises one for whatever the handler raised, and a configuration
    that SIGTERM interrupted stops the sweep with one. softreg's handler (see
    :mod:`softreg.safety.stopsignals`) is wrapped to remember that SIGTERM came, so the command
    still exits with 143.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    seen = []

    def remember(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGTERM, remember)
    try:
        yield
    except KeyboardInterrupt as exc:
        if seen and not isinstance(exc, Terminated):
            raise Terminated("SIGTERM") from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
