"""Lazy imports of optional libraries, with one clear message when they are missing or broken.

A framework is imported only when the user asks for it, through :func:`import_framework`; what
each framework needs for that (its extra, its own importer, its own failure message) is in its
entry of :mod:`softreg.core.frameworks`.

In a process the command line owns (:func:`own_process`), a framework's first import runs with
the garbage collector paused and its objects frozen after it (:func:`gc.freeze`): PyTorch
leaves about 170,000 objects that live as long as the process, and every full collection
(three in a ``softreg train``: during the import, after training, at exit) walked them all.
A library caller's process is left as it is: freezing would also pin the caller's objects.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from types import ModuleType

from softreg.core import frameworks
from softreg.core.errors import FrameworkUnavailableError

# module name -> (extra to install, human name); the frameworks' entries come from the registry
_EXTRAS: dict[str, tuple[str, str]] = {
    **{fw.module: (fw.extra, fw.title) for fw in frameworks.TABLE if fw.extra is not None},
    "matplotlib": ("plot", "matplotlib"),
    "pooch": ("download", "pooch"),
    "tqdm": ("progress", "tqdm"),
    "safetensors": ("checkpoint", "safetensors"),
    "PIL": ("image", "Pillow"),
    "onnx": ("onnx", "ONNX"),
    "tensorboard": ("tensorboard", "TensorBoard"),
    "ray": ("ray", "Ray"),
    "sklearn": ("sklearn", "scikit-learn"),
    "pyarrow": ("parquet", "pyarrow"),
}


def install_hint(module: str) -> str:
    """Return the exact pip command that installs ``module`` for softreg."""
    extra, _ = _EXTRAS.get(module, (module, module))
    return f"pip install 'softreg[{extra}]'"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`FrameworkUnavailableError` saying what to install.

    Args:
        module: top-level module name, e.g. ``"torch"`` or ``"matplotlib"``.

    Returns:
        The imported module.

    Raises:
        FrameworkUnavailableError: the module is not installed, or fails while importing.
    """
    _, human = _EXTRAS.get(module, (module, module))
    try:
        return importlib.import_module(module)
    except Exception as exc:  # MXNet on new NumPy raises AttributeError; broken builds OSError
        framework = frameworks.by_module(module)
        own_hint = framework.import_hint if framework is not None else None
        hint = own_hint(exc) if own_hint is not None else None
        if hint is not None:
            raise FrameworkUnavailableError(hint) from exc
        if isinstance(exc, ImportError):
            raise FrameworkUnavailableError(
                f"{human} is not installed ({exc}); install it with: {install_hint(module)}"
            ) from exc
        raise FrameworkUnavailableError(
            f"{human} is installed but broken: importing it raised {exc!r}; "
            f"reinstall it with: {install_hint(module)}"
        ) from exc


_OWN_PROCESS: ContextVar[bool] = ContextVar("softreg_own_process", default=False)


@contextlib.contextmanager
def own_process() -> Iterator[None]:
    """Within this block the process is the command line's: a framework's first import
    freezes what it leaves for the garbage collector (see the module's docstring)."""
    token = _OWN_PROCESS.set(True)
    try:
        yield
    finally:
        _OWN_PROCESS.reset(token)


def import_framework(name: str) -> ModuleType:
    """Import the framework ``name`` (or an alias) the way its registry entry says.

    Raises:
        ConfigError: the name is not a known framework.
        FrameworkUnavailableError: the framework is not installed, or fails while importing.
    """
    framework = frameworks.get_framework(name)
    if framework.module in sys.modules or not _OWN_PROCESS.get():
        return _import(framework)
    collecting = gc.isenabled()
    gc.disable()  # no collection while ~170,000 objects that stay are made (two, for torch)
    try:
        return _import(framework)
    finally:
        gc.freeze()  # later collections, and the one at exit, skip them
        if collecting:
            gc.enable()


def _import(framework: frameworks.Framework) -> ModuleType:
    if framework.importer is None:
        return require(framework.module)
    module, function = framework.importer.split(":")
    imported: ModuleType = getattr(importlib.import_module(module), function)()
    return imported
