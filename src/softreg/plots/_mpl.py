"""Lazy matplotlib access that works in Jupyter, in a terminal and on a headless machine."""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path
from typing import Any

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
    """A fresh PNG path for a figure made by a d2l-style helper outside Jupyter.

    Figures go to ``$SOFTREG_FIGURE_DIR`` if set, else ``./softreg-figures``; an existing file
    is never overwritten (``stem-2.png``, ``stem-3.png``... are used instead).
    """
    folder = Path(os.environ.get("SOFTREG_FIGURE_DIR", "softreg-figures"))
    candidate = folder / f"{stem}.png"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}.png"
        n += 1
    return candidate
