"""Lazy matplotlib access that works in Jupyter, in a terminal and on a headless machine."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from softreg.core.errors import WriteError
from softreg.core.optional import require
from softreg.safety import fileio


def in_notebook() -> bool:
    """True when running inside a Jupyter/IPython kernel (figures can be shown inline)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    # a kernel's shell is ipykernel's ZMQInteractiveShell or a subclass (Colab's is "Shell");
    # the terminal's TerminalInteractiveShell cannot show images
    return shell is not None and any(c.__name__ == "ZMQInteractiveShell"
                                     for c in type(shell).__mro__)


def pyplot() -> Any:
    """Import ``matplotlib.pyplot``; outside a notebook, with no backend chosen (``MPLBACKEND``,
    ``matplotlib.use``, matplotlibrc), the file-only Agg backend: a backend the program chose
    is its own, kept (its ``plt.show()`` still shows)."""
    mpl = require("matplotlib")
    chosen = getattr(mpl.rcParams, "_get_backend_or_none", lambda: None)()
    if not in_notebook() and "matplotlib.pyplot" not in sys.modules and chosen is None:
        mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` that pyplot does not track (nothing global to close or show)."""
    require("matplotlib")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def show_inline(fig: Any, text: str, handle: Any = None) -> Any:
    """Show ``fig`` as a PNG output of the running notebook cell; return its display handle.

    With a ``handle`` from an earlier call, that output is replaced in place instead. The PNG
    is rendered here, not by the notebook's matplotlib backend, so the output is an image
    whatever backend is active (one without a PNG formatter shows only "<Figure size ...>"),
    and ``text`` is what a text-only view of the notebook shows instead of the image.
    """
    from IPython.display import display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    bundle = {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": text}
    if handle is None:
        return display(bundle, raw=True, display_id=True)
    handle.update(bundle, raw=True)
    return handle


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Atomically save ``fig`` as PNG at ``path`` and close it; return the path."""
    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:  # a figure pyplot tracks; new_figure's are not (nothing to import)
        plt.close(fig)
    return Path(path)


def figure_path(stem: str) -> Path:
    """The first PNG path of ``stem`` that is free now (see :func:`reserve_figure_path`).

    Figures go to ``$SOFTREG_FIGURE_DIR`` if set, else ``./softreg-figures``; an existing file
    is never overwritten (``stem-2.png``, ``stem-3.png``... are used instead). The name is not
    held: to write a figure there, use :func:`save_new_figure`, which reserves it.
    """
    for candidate in _candidates(stem):
        if not os.path.lexists(candidate):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover - the candidates never end


def _candidates(stem: str) -> Iterator[Path]:
    folder = Path(os.environ.get("SOFTREG_FIGURE_DIR", "softreg-figures"))
    yield folder / f"{stem}.png"
    n = 2
    while True:
        yield folder / f"{stem}-{n}.png"
        n += 1


def reserve_figure_path(stem: str) -> Path:
    """Create and return a fresh, empty PNG path for ``stem`` (the folder of :func:`figure_path`).

    The file is created exclusively (``O_EXCL``): two processes (or two calls) picking a name
    at the same time get different names, and no existing file or link is ever taken. The
    caller writes the figure onto it or removes it.

    Raises:
        WriteError: the folder cannot be made or written in.
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    for candidate in _candidates(stem):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(candidate, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise WriteError(f"cannot write a figure in {str(candidate.parent)!r}: "
                             f"{exc.strerror or exc}; set SOFTREG_FIGURE_DIR to a folder you "
                             "can write to") from exc
        os.close(fd)
        return candidate
    raise AssertionError("unreachable")  # pragma: no cover - the candidates never end


def save_new_figure(fig: Any, stem: str, dpi: int = 110) -> Path:
    """Save ``fig`` as a fresh ``stem[-n].png`` (see :func:`reserve_figure_path`); return it.

    The reserved name is written atomically; if the save fails, the empty placeholder is
    removed (only while it is still the one made here).
    """
    path = reserve_figure_path(stem)
    made = os.lstat(path)
    try:
        return save_figure(fig, path, dpi=dpi)
    except BaseException:
        with contextlib.suppress(OSError):
            now = os.lstat(path)
            if (now.st_dev, now.st_ino) == (made.st_dev, made.st_ino) and now.st_size == 0:
                path.unlink()
        raise
