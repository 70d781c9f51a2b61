"""Framework backends for softreg's own linear softmax-regression model.

Each backend module (named by its framework's entry in :mod:`softreg.frameworks`) has the same
shape: a ``create_backend(device)`` factory returning an object that satisfies
:class:`softreg.backends.base.LinearBackend`. The core never imports a framework; it calls
:func:`get_backend`, which imports the chosen module lazily.
"""

from __future__ import annotations

import importlib

from softreg.backends.base import LinearBackend, PackedBackend
from softreg.frameworks import get_framework


def get_backend(framework: str, device: str = "auto") -> LinearBackend:
    """Create the backend for ``framework`` (name or alias) on ``device``.

    Raises:
        ConfigError: unknown framework or device.
        FrameworkUnavailableError: the framework is not installed or broken.
    """
    module = importlib.import_module(get_framework(framework).backend)
    backend: LinearBackend = module.create_backend(device)
    return backend


def get_packed_backend(framework: str, device: str = "auto") -> PackedBackend:
    """A backend that trains K models in one pass (:class:`PackedBackend`).

    A framework whose registry entry says ``packed`` (NumPy, PyTorch) has a packed kernel; the
    others (TensorFlow, MXNet) train a pack one model at a time behind the same interface
    (:mod:`softreg.backends.one_at_a_time`).

    Raises:
        ConfigError: unknown framework or device.
        FrameworkUnavailableError: the framework is not installed or broken.
    """
    backend = get_backend(framework, device)
    if get_framework(framework).packed and isinstance(backend, PackedBackend):
        return backend
    from softreg.backends.one_at_a_time import OneAtATime

    return OneAtATime(backend)
