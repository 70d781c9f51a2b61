"""Which folders are softreg's: the marker a command leaves in its folder, and the files that
hold such a folder's state. The write gate (:mod:`softreg.safety.fileio`) asks here, below the
folders' own bookkeeping (:mod:`softreg.safety.runfolder`), which writes through the gate."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from softreg.core.errors import SoftregError
from softreg.safety import readback

MARKER = ".softreg-run"
MARKER_LIMIT = 4096  # a marker is about 60 bytes


def marker_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind a folder's marker declares, or None when it has no readable marker."""
    try:
        data = readback.read_json(Path(path) / MARKER, "folder marker", limit=MARKER_LIMIT)
    except SoftregError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


# The files that hold a folder's state, which its own command writes and then reads back
# (--resume, evaluate, explain, a sweep's refit): an output a user names (an export, a figure,
# a saved estimator) never replaces one, --overwrite or not.
STATE_FILES: dict[str, tuple[str, ...]] = {
    "train": ("config.json", "metrics.csv", "history.json", "checkpoint.safetensors",
              "best.safetensors", "calibration.json"),
    "sweep": ("sweep.json", "results.csv", "best.json", "results/*.json",
              "weights/*.safetensors", "refit/*.json"),
    "study": ("study.json", "*/metrics.csv", "*/history.json"),
    "seeds": ("seeds.csv", "summary.json"),
    "explain": ("calibration.json",),
}


def enclosing(path: str | os.PathLike[str]) -> tuple[Path, str] | None:
    """The nearest folder of softreg's (a marker there, readable or not: its kind, else "run")
    holding ``path``, itself included, links and ``..`` resolved; None when there is none
    (or no working folder to resolve a relative path by)."""
    try:
        real = Path(os.path.realpath(path))
    except OSError:
        return None
    for folder in (real, *real.parents):
        if (folder / MARKER).exists():
            return folder, marker_kind(folder) or "run"
    return None


def state_file(path: str | os.PathLike[str]) -> tuple[Path, str] | None:
    """The folder and kind whose state file (:data:`STATE_FILES`) ``path`` is, or None."""
    found = enclosing(path)
    if found is None:
        return None
    folder, kind = found
    rel = Path(os.path.realpath(path)).relative_to(folder).as_posix()
    patterns = STATE_FILES.get(kind, STATE_FILES["train"])  # an unreadable marker: a run's
    return found if any(fnmatch.fnmatchcase(rel, p) for p in patterns) else None
