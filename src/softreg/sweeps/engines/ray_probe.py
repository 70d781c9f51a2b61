"""What a Ray node can import: run there as a tiny task before a sweep is submitted.

Ray ships this module's function by value (its code travels with the task), so it runs on a
node where softreg itself is missing and says so, instead of failing to unpickle. Keep it
free of softreg imports and of anything beyond the standard library.
"""

from __future__ import annotations

import importlib
import platform
import socket
from importlib import metadata

# The distribution that provides a module, where their names differ.
_DISTRIBUTIONS = {"PIL": "pillow"}


def node_report(modules: list[str]) -> dict[str, object]:
    """This machine's name, its Python, and for each module its version or why it fails.

    Args:
        modules: top-level module names, e.g. ``["softreg", "numpy", "safetensors"]``.

    Returns:
        ``{"host": name, "python": "3.11.7", "modules": {name: [version, error]}}``: the
        version is None when it cannot be told, the error None when the import worked.
    """
    found: dict[str, list[str | None]] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # missing, or broken (MXNet beside a new NumPy)
            found[name] = [None, f"{type(exc).__name__}: {exc}"]
            continue
        version = getattr(module, "__version__", None)
        if not isinstance(version, str):
            try:
                version = metadata.version(_DISTRIBUTIONS.get(name, name))
            except metadata.PackageNotFoundError:
                version = None
        found[name] = [version, None]
    return {"host": socket.gethostname(), "python": platform.python_version(),
            "modules": found}
