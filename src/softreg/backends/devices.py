"""Device-name checks shared by the backends (no framework imported here)."""

from __future__ import annotations

from softreg.config import DEVICES
from softreg.errors import ConfigError


def check_device(device: str, framework: str, gpu_available: bool) -> str:
    """Resolve ``auto``/``cpu``/``cuda`` to ``cpu`` or ``cuda`` for ``framework``.

    Raises:
        ConfigError: unknown device, or ``cuda`` asked for where the framework sees no GPU.
    """
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if device == "cuda" and not gpu_available:
        raise ConfigError(
            f"CUDA was requested but {framework} sees no CUDA GPU on this machine; "
            "use --device cpu (or --device auto)"
        )
    if device == "auto":
        return "cuda" if gpu_available else "cpu"
    return device
