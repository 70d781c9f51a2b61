"""Lazy imports of optional libraries, with one clear message when they are missing or broken.

A framework is imported only when the user asks for it, through :func:`import_framework`; what
each framework needs for that (its extra, its own importer, its own failure message) is in its
entry of :mod:`softreg.core.frameworks`.
"""

from __future__ import annotations

import importlib
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


def import_framework(name: str) -> ModuleType:
    """Import the framework ``name`` (or an alias) the way its registry entry says.

    Raises:
        ConfigError: the name is not a known framework.
        FrameworkUnavailableError: the framework is not installed, or fails while importing.
    """
    framework = frameworks.get_framework(name)
    if framework.importer is None:
        return require(framework.module)
    module, function = framework.importer.split(":")
    imported: ModuleType = getattr(importlib.import_module(module), function)()
    return imported
