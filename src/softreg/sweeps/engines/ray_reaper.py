"""Ends what is left of a local Ray cluster once the sweep that started it is gone.

A local cluster's ``gcs_server`` and ``raylet`` end with the driver, but the raylet's agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) and its workers outlive a ``kill -9`` of the
driver, and a Ctrl-C while ``ray.init`` starts them (``ray.shutdown`` leaves the agents). So
before it starts a local cluster the driver makes the cluster's own temporary folder and starts
this small process on it (in a session of its own, so Ctrl-C at the terminal does not reach it)
with a pipe as its standard input: the pipe's end closes when the driver exits, however it exits
(and the reaper watches the driver's pid too, in case a child the driver forked holds the pipe),
or when the driver is done with the cluster. The reaper then ends every process of that folder
(the ``SESSION_DIR`` below: the cluster's session folder, or a folder holding it): those that
hold a file of it open (its logs, its sockets), work in it or name it on their command line,
and their children. They are found by pid from ``/proc``, never by name.

A process may start while the others are being killed (the raylet starting a worker as the
driver dies). So the reaper first stops them (``SIGSTOP``: a stopped process starts nothing)
and looks again until no new one appears, then kills them all (``SIGKILL``), and looks once
more when they have ended.

When the driver closed the pipe itself (it is done with the cluster), the reaper then removes
the folder, if softreg made it (``softreg-ray-*``), unless the driver wrote :data:`KEEP` down
the pipe first (the sweep ended on an error, or a task failed); after a driver that died, the
folder stays too, with the cluster's logs.

Run as ``python -m softreg.sweeps.engines.ray_reaper SESSION_DIR DRIVER_PID``; only the standard
library.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

# Rounds of "stop, then look again" and of "kill, then look again" before the reaper gives up
# (each round ends only when a look finds a process it had not seen).
ROUNDS = 20
# Seconds the reaper waits for the processes it killed to end before it looks again.
WAIT_S = 10.0


def _parents(proc: str) -> dict[int, int]:
    """Every process's parent pid, read from ``/proc/PID/stat``."""
    parents = {}
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                stat = Path(f"{proc}/{entry}/stat").read_text()
            except OSError:  # gone meanwhile
                continue
            # "pid (name) state ppid ...": the name may hold spaces and ")", so split at the last
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _names(pid: int, session: str, proc: str) -> bool:
    """Whether process ``pid`` holds a file of ``session`` open, works in it, or names it."""
    root = session.rstrip("/") + "/"
    try:
        links = [os.readlink(f"{proc}/{pid}/cwd")]
        links += [os.readlink(f"{proc}/{pid}/fd/{fd}") for fd in os.listdir(f"{proc}/{pid}/fd")]
        argv = Path(f"{proc}/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile, or not ours to read
        return False
    if any(link == session or link.startswith(root) for link in links):
        return True
    # the folder as a whole argument or an option's value ("--log-dir=FOLDER/logs"), itself or
    # a path under it: never a longer name that begins with it
    named = re.compile(rb"(?:^|=)" + re.escape(os.fsencode(session.rstrip("/"))) + rb"(?:/|$)")
    return any(named.search(arg) for arg in argv)


def session_pids(session: str, proc: str = "/proc") -> list[int]:
    """Pids of the processes (not this one) of ``session``: those that hold a file of it open,
    work in it or name it on their command line, and the children of those."""
    parents = _parents(proc)
    found = {pid for pid in parents if pid != os.getpid() and _names(pid, session, proc)}
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child != os.getpid():
                found.add(child)
                todo.append(child)
    return sorted(found)


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_ended(pids: list[int], timeout: float) -> None:
    """Wait (on pidfds, no sleep) until ``pids`` have ended or ``timeout`` s have passed."""
    fds = []
    for pid in pids:
        with contextlib.suppress(OSError):
            fds.append(os.pidfd_open(pid))
    try:
        pending = list(fds)
        while pending:
            ready, _, _ = select.select(pending, [], [], timeout)
            if not ready:
                return
            pending = [fd for fd in pending if fd not in ready]
    finally:
        for fd in fds:
            os.close(fd)


def reap(session: str, spare: int = -1, proc: str = "/proc") -> list[int]:
    """End the processes of ``session`` (see :func:`session_pids`) but ``spare`` (the driver,
    when it is still alive): stop them until no new one appears, then kill them, and look
    again once they have ended. Return their pids."""
    ended: list[int] = []
    for _ in range(ROUNDS):
        stopped: list[int] = []
        for _ in range(ROUNDS):  # stop them all: a stopped process starts no other
            new = [p for p in session_pids(session, proc) if p != spare and p not in stopped]
            if not new:
                break
            _signal(new, signal.SIGSTOP)
            stopped += new
        if not stopped:
            break
        _signal(stopped, signal.SIGKILL)
        if hasattr(os, "pidfd_open"):
            _wait_ended(stopped, WAIT_S)
        ended += [p for p in stopped if p not in ended]
    return ended


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


def _wait_for_driver(driver: int) -> bool:
    """Return when the driver's pipe closes (on standard input) or the driver has ended:
    whether the driver asked for the folder to be kept (:data:`KEEP`, down the pipe).

    The pipe alone would do, but a process the driver forked without exec holds its end too:
    so the reaper also waits on the driver itself, its parent. Once the driver is no longer its
    parent, the driver has ended (perhaps before this process got as far as looking)."""
    if os.getppid() != driver:
        return True
    waits = [0]
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            waits.append(os.pidfd_open(driver))
        if os.getppid() != driver:  # it ended before its pidfd was taken (the pid may be reused)
            return True
    said = b""
    while True:
        try:
            ready, _, _ = select.select(waits, [], [])
            if any(fd != 0 for fd in ready):
                return True
            chunk = os.read(0, 4096)
            if not chunk:
                return KEEP in said
            said = (said + chunk)[-64:]
        except InterruptedError:  # pragma: no cover - retried by Python itself
            continue
        except OSError:
            return True


# The prefix of the folders that softreg makes for its local clusters (ray_cluster): the only
# folders the reaper removes.
FOLDER_PREFIX = "softreg-ray-"
# What the driver writes down the pipe before it closes it to keep the folder (its logs).
KEEP = b"keep"


def main(argv: list[str]) -> int:
    """Wait for the driver's pipe to close or the driver to end, then reap its session. When
    the driver is still alive (it closed the pipe: done with the cluster) and did not ask to
    keep it, the session's folder goes too, if it is one that softreg made; after a driver
    that died, or one that asked (an error, a failed task), it stays, with the cluster's logs
    of what happened."""
    if len(argv) != 2 or not argv[1].isdigit():
        return 2
    driver = int(argv[1])
    keep = _wait_for_driver(driver)
    reap(argv[0], spare=driver)
    folder = Path(argv[0])
    if not keep and os.getppid() == driver and folder.name.startswith(FOLDER_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process
    sys.exit(main(sys.argv[1:]))
