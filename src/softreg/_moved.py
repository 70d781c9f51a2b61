"""Old import paths of the modules that moved into layer packages after 0.1.0, kept for a while.

Up to 0.1.0 the modules sat flat in ``softreg`` (``softreg.checkpoint``, ``softreg.config``...).
Importing one by its old name still works: it gives the module at its new place (the same
object) and warns with :class:`DeprecationWarning` once, naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

# old name under ``softreg.`` -> new name under ``softreg.`` (a package's modules follow it)
MOVED = {
    "errors": "core.errors", "validate": "core.validate", "frameworks": "core.frameworks",
    "config": "core.config", "shape": "core.shape", "numerics": "core.numerics",
    "metrics": "core.metrics", "_optional": "core.optional",
    "writegate": "safety.writegate", "readback": "safety.readback", "limits": "safety.limits",
    "lifeline": "safety.lifeline", "fileio": "safety.fileio", "runfolder": "safety.runfolder",
    "stopsignals": "safety.stopsignals", "textsafe": "safety.textsafe",
    "tensorfile": "safety.tensorfile",
    "loop": "epochs.loop", "history": "epochs.history", "progress": "epochs.progress",
    "training": "fitting.trainer", "pack": "fitting.pack", "pack_plan": "fitting.pack_plan",
    "splits": "fitting.splits",
    "checkpoint": "runfiles.checkpoint", "checkpoint_meta": "runfiles.checkpoint_meta",
    "tblog": "runfiles.tblog", "report": "jobs.report", "explain.runner": "jobs.explain",
    "run": "jobs.run", "seeds": "jobs.seeds", "lrfind": "jobs.lrfind", "study": "jobs.study",
    "search": "sweeps.search", "sweep": "sweeps.sweep", "sweep_merge": "sweeps.merge",
    "sweep_worker": "sweeps.worker", "selection": "sweeps.selection",
    "engines": "sweeps.engines",
    "images": "data.images", "inputs": "data.inputs",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new} after softreg 0.1.0; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        # the module is the one at its new place, already executed
        return None


class _OldPaths(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        package, _, name = fullname.partition(".")
        if package != "softreg":
            return None
        for old, new in MOVED.items():
            if name == old or name.startswith(old + "."):
                new_name = f"softreg.{new}{name[len(old):]}"
                return importlib.machinery.ModuleSpec(fullname, _Alias(new_name))
        return None


def install() -> None:
    """Make the old module paths importable (once per process)."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        # first: a moved package's modules must not load a second time under the old name
        sys.meta_path.insert(0, _OldPaths())
