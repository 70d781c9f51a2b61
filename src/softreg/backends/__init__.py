"""Framework backends for softreg's own linear softmax-regression model.

Each backend module (named by its framework's entry in :mod:`softreg.core.frameworks`) has the same
shape: a ``create_backend(device)`` factory returning an object that satisfies
:class:`softreg.backends.base.LinearBackend`. The core never imports a framework; it calls
:func:`get_backend`, which imports the chosen module lazily.
"""

from __future__ import annotations

import importlib

from softreg.backends.base import LinearBackend, PackedBackend
from softreg.core.frameworks import get_framework


def get_backend(framework: str, device: str = "auto") -> LinearBackend:
    """Create the backend for ``framework`` (name or alias) on ``device``.

    Raises:
        ConfigError: unknown framework or device.
        FrameworkUnavailableError: the framework is not installed or broken.
    """
    module = importlib.import_module(get_framework(framework).backend)
    backend: LinearBackend = module.create_backend(device)
    return backend


def for_single_run(backend: LinearBackend) -> LinearBackend:
    """Let ``backend`` train one run alone on the framework's own thread count.

    Packs (and so sweeps, ``--seeds``, ``study``, ``lr-find``, ``fit_many``) hold PyTorch to
    one CPU thread, which makes a model's numbers the same in any pack; ``softreg train`` runs
    one model and is faster on PyTorch's default threads on an idle machine (the chapter's 10
    epochs: 0.66 s against 0.79 s on one thread, 2 cores). Its numbers may then differ in the
    last bits from the same configuration trained in a pack. Other backends are returned as
    they are.
    """
    if hasattr(backend, "threads"):
        backend.threads = None
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
