"""Importing TensorFlow quietly: one place for the log settings of the backend and the facade.

TensorFlow 2.21 writes C++ log lines to file descriptor 2 while it imports and when it first
looks for a GPU ("Could not find cuda drivers", "failed call to cuInit", ...). Some are printed
before absl's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` alone does not hide them: unless
``SOFTREG_VERBOSE=1`` (set by ``softreg train --verbose``), the import and the first GPU query
run with file descriptor 2 pointed at ``/dev/null``. Python exceptions are unaffected: a failed
import still raises, and :func:`softreg.core.optional.require` turns it into one clear message.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from softreg.core.optional import require


def verbose() -> bool:
    """True when the user asked to see framework log messages (``SOFTREG_VERBOSE=1``)."""
    return os.environ.get("SOFTREG_VERBOSE", "") == "1"


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for the block (C++ logs bypass ``sys.stderr``).

    Does nothing in verbose mode, or where descriptor 2 cannot be duplicated.
    """
    if verbose():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_triton_first() -> None:
    """Load Triton before TensorFlow where both are installed and neither is loaded yet.

    TensorFlow's wheels since 2.20 load their library with ``RTLD_GLOBAL``, which puts their
    statically linked LLVM into the process's global symbols. Triton, which PyPI's Linux builds
    of PyTorch bring and which ``torch.optim`` and ``torch.compile`` import on first use, then
    binds to that LLVM and crashes the interpreter (tensorflow/tensorflow#124205): the chapter's
    ``torch.optim.SGD`` after a TensorFlow run in the same notebook kernel, for one. Loaded
    first, Triton keeps its own. Costs about 0.2 s, and only where Triton is installed.
    """
    if "tensorflow" in sys.modules or "triton" in sys.modules:
        return
    if importlib.util.find_spec("triton") is None:
        return
    with contextlib.suppress(Exception):  # a broken Triton is torch's business, not TF's
        importlib.import_module("triton")


def import_tensorflow() -> ModuleType:
    """Import TensorFlow (and its Keras) without log spam unless ``SOFTREG_VERBOSE=1``.

    Triton is loaded first where it is installed (:func:`load_triton_first`).

    Raises:
        FrameworkUnavailableError: TensorFlow is not installed or fails to import.
    """
    load_triton_first()
    if verbose():
        return require("tensorflow")
    # Respect a level the user chose; 3 hides INFO, WARNING and ERROR lines of the runtime.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        tf = require("tensorflow")
        tf.keras  # noqa: B018  (Keras loads lazily and logs again when it does)
    tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    gpu_available(tf)  # the first GPU query logs CUDA errors on machines without one
    return tf


@functools.lru_cache(maxsize=1)
def gpu_available(tf: ModuleType) -> bool:
    """Whether TensorFlow sees a GPU (asked once: the first query logs CUDA errors)."""
    with quiet_stderr():
        return bool(tf.config.list_physical_devices("GPU"))
