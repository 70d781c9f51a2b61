"""Ends what is left of a local Ray cluster once the sweep that started it is gone.

A local cluster's ``gcs_server`` and ``raylet`` end with the driver, but the raylet's agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) and its workers outlive a ``kill -9`` of the
driver. So right after starting a local cluster the driver starts this small process (in a
session of its own, so Ctrl-C at the terminal does not reach it) with a pipe as its standard
input: the pipe's end closes when the driver exits, however it exits. The reaper then sends
``SIGKILL`` to every process that holds a file of the cluster's session folder open (its logs,
its sockets): found by pid from ``/proc``, never by name.

Run as ``python -m softreg.sweeps.engines.ray_reaper SESSION_DIR DRIVER_PID``; only the standard
library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path


def session_pids(session: str, proc: str = "/proc") -> list[int]:
    """Pids of the processes (not this one) with a file of ``session`` open, or it as cwd."""
    root = session.rstrip("/") + "/"
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            links = [os.readlink(f"{proc}/{entry}/cwd")]
            links += [os.readlink(f"{proc}/{entry}/fd/{fd}")
                      for fd in os.listdir(f"{proc}/{entry}/fd")]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(link == session or link.startswith(root) for link in links):
            found.append(int(entry))
    return found


def reap(session: str, spare: int = -1) -> list[int]:
    """SIGKILL the processes of ``session`` (see :func:`session_pids`) but ``spare`` (the
    driver, when it is still alive); return their pids."""
    pids = [p for p in session_pids(session) if p != spare]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def start(session: str) -> tuple[subprocess.Popen[bytes], int] | None:
    """Start the reaper of ``session``; return it and the pipe end the driver keeps open
    (closed by the driver, or by the kernel when the driver dies). None off Linux."""
    if not Path("/proc/self/fd").is_dir():
        return None
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "softreg.sweeps.engines.ray_reaper", session,
                                 str(os.getpid())],
                                stdin=read_end, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                close_fds=True)
    finally:
        os.close(read_end)
    return proc, write_end


def main(argv: list[str]) -> int:
    """Wait for the driver's pipe to close, then reap its session."""
    if len(argv) != 2 or not argv[1].isdigit():
        return 2
    while True:
        try:
            if not os.read(0, 4096):
                break
        except InterruptedError:  # pragma: no cover - retried by Python itself
            continue
        except OSError:
            break
    reap(argv[0], spare=int(argv[1]))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process
    sys.exit(main(sys.argv[1:]))
