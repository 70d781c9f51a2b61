"""SIGTERM handled like Ctrl-C: the run stops at once, keeps its files, and says why.

A batch system, ``kill`` or ``timeout`` ends a process with SIGTERM. By default that kills
Python on the spot, with nothing written. Within :func:`sigterm_as_interrupt` it raises
:class:`Terminated` instead, a ``KeyboardInterrupt``, so every place that saves its state on
Ctrl-C does the same for SIGTERM; the command then exits with 143 (128 + 15), as a shell
expects of a process ended by SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


class Received:
    """What :func:`sigterm_as_interrupt` saw: ``sigterm`` is True once SIGTERM arrived."""

    def __init__(self) -> None:
        self.sigterm = False

    @property
    def exit_code(self) -> int:
        """The exit code of a run stopped early: 143 after SIGTERM, else 130 (Ctrl-C)."""
        return EXIT_SIGTERM if self.sigterm else EXIT_SIGINT


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[Received]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere a
    no-op, since Python delivers signals to the main thread)."""
    received = Received()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def _raise(signum: int, frame: FrameType | None) -> None:
        received.sigterm = True
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code(exc: BaseException) -> int:
    """The exit code for an interruption: 143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
