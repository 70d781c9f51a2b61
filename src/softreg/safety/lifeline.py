"""A worker process that ends with the process that started it.

A sweep's worker processes must not outlive their driver: after ``kill -9`` of the driver, a
worker left running would hold its memory for ever and could still write a weights file into
the sweep folder. On Linux the kernel is asked to send the worker ``SIGKILL`` when its parent
dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere, or if that call fails, a daemon thread checks
the parent's pid once a second and ends the worker when it changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_EVERY_S = 1.0


def die_with_parent(parent: int) -> str:
    """Make this process end when the process ``parent`` ends; return how (``prctl`` or
    ``watchdog``). A parent already gone ends this process at once."""
    how = "watchdog"
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
        except (OSError, AttributeError):  # no libc prctl: the watchdog does it
            pass
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)
    if how == "watchdog":
        threading.Thread(target=_watch, args=(parent,), name="softreg-lifeline",
                         daemon=True).start()
    return how


def _watch(parent: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCH_EVERY_S):
        if os.getppid() != parent:
            os._exit(1)
