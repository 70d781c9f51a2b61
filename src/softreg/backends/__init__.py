"""Framework backends for softreg's own linear softmax-regression model.

Each module here (``numpy``, ``torch``, ``tensorflow``, ``mxnet``) has the same shape: a
``create_backend(device)`` factory returning an object that satisfies
:class:`softreg.backends.base.LinearBackend`. The core never imports a framework; it calls
:func:`get_backend`, which imports the chosen module lazily.
"""

from __future__ import annotations

import importlib

from softreg._optional import canonical_framework
from softreg.backends.base import LinearBackend, PackedBackend


def get_backend(framework: str, device: str = "auto") -> LinearBackend:
    """Create the backend for ``framework`` (name or alias) on ``device``.

    Raises:
        ConfigError: unknown framework or device.
        FrameworkUnavailableError: the framework is not installed or broken.
    """
    name = canonical_framework(framework)
    module = importlib.import_module(f"softreg.backends.{name}_backend")
    backend: LinearBackend = module.create_backend(device)
    return backend


def get_packed_backend(framework: str, device: str = "auto") -> PackedBackend:
    """A backend that trains K models in one pass (:class:`PackedBackend`).

    NumPy and PyTorch have a packed kernel; TensorFlow and MXNet train a pack one model at a
    time behind the same interface (:mod:`softreg.backends.one_at_a_time`).

    Raises:
        ConfigError: unknown framework or device.
        FrameworkUnavailableError: the framework is not installed or broken.
    """
    backend = get_backend(framework, device)
    if isinstance(backend, PackedBackend):
        return backend
    from softreg.backends.one_at_a_time import OneAtATime

    return OneAtATime(backend)
