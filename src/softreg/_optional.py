"""Lazy imports of optional libraries, with one clear message when they are missing or broken.

A framework is imported only when the user asks for it. MXNet 1.9.1 fails on NumPy >= 1.24 with
an ``AttributeError`` (``np.bool`` was removed in 1.24, ``np.PZERO`` in 2.0), not an
``ImportError``. Whenever MXNet cannot be imported beside such a NumPy, the hint is a separate
environment: ``pip install 'softreg[mxnet]'`` there would downgrade NumPy under TensorFlow.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from softreg.errors import FrameworkUnavailableError

# module name -> (extra to install, human name)
_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "PyTorch"),
    "tensorflow": ("tensorflow", "TensorFlow"),
    "mxnet": ("mxnet", "MXNet"),
    "matplotlib": ("plot", "matplotlib"),
    "pooch": ("download", "pooch"),
    "tqdm": ("progress", "tqdm"),
    "safetensors": ("checkpoint", "safetensors"),
    "PIL": ("image", "Pillow"),
    "onnx": ("onnx", "ONNX"),
    "tensorboard": ("tensorboard", "TensorBoard"),
    "ray": ("ray", "Ray"),
}

FRAMEWORK_ALIASES: dict[str, str] = {
    "torch": "torch",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "tf": "tensorflow",
    "keras": "tensorflow",
    "mxnet": "mxnet",
    "gluon": "mxnet",
    "mx": "mxnet",
    "numpy": "numpy",
    "np": "numpy",
}

FRAMEWORKS: tuple[str, ...] = ("torch", "tensorflow", "mxnet", "numpy")


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
        hint = _mxnet_numpy_hint(exc) if module == "mxnet" else None
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


def _mxnet_numpy_hint(exc: Exception) -> str | None:
    """The separate-environment fix when NumPy is too new for MXNet 1.9.1, else None."""
    import numpy

    try:
        major, minor = (int(part) for part in numpy.__version__.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (1, 24) and "bool" not in str(exc):
        return None
    return (
        f"MXNet 1.9.1 cannot import with numpy {numpy.__version__} ({exc}): it needs "
        "numpy < 1.24. Use a separate environment: python -m venv .venv-mxnet && "
        ".venv-mxnet/bin/pip install 'numpy==1.23.5' 'softreg[mxnet]'"
    )


def canonical_framework(name: str) -> str:
    """Map a framework name or alias (``tf``, ``gluon``, ``pytorch``...) to its canonical name.

    Raises:
        ConfigError: the name is not a known framework.
    """
    from softreg.errors import ConfigError

    key = name.strip().lower() if isinstance(name, str) else None  # e.g. a number in a file
    if key not in FRAMEWORK_ALIASES:
        known = ", ".join(sorted(FRAMEWORK_ALIASES))
        raise ConfigError(f"unknown framework {name!r}; choose one of: {known}")
    return FRAMEWORK_ALIASES[key]
