"""Lazy matplotlib access that works in Jupyter, in a terminal and on a headless machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from softreg import fileio
from softreg._optional import require


def in_notebook() -> bool:
    """True when running inside a Jupyter/IPython kernel (figures can be shown inline)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def pyplot() -> Any:
    """Import ``matplotlib.pyplot``; outside a notebook force the file-only Agg backend."""
    mpl = require("matplotlib")
    if not in_notebook() and "matplotlib.pyplot" not in sys.modules:
        mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Atomically save ``fig`` as PNG at ``path`` and close it; return the path."""
    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
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
