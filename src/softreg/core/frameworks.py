"""The framework registry: one entry per framework, and everything derived from the table.

Each :class:`Framework` says what softreg knows about a framework: its names, the pip extra that
installs it, the module that holds its backend and the one that holds its d2l facade, the devices
it can run on and how it is imported. The names accepted on the command line, the install hints,
:func:`softreg.backends.get_backend`, the device check and the CLI help all read this table, so
adding a framework is one entry here plus its backend module and its facade module.

Importing this module imports no framework: code that needs one is named by its module path
(``"package.module"`` or ``"package.module:function"``) and imported only when it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from softreg.core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
"""Every device name softreg accepts; a framework runs on some (:attr:`Framework.devices`)."""

_SEPARATE_MXNET_ENV = ".venv-mxnet/bin/pip install 'numpy==1.23.5' 'softreg[mxnet]'"


def _mxnet_numpy_hint(exc: Exception) -> str | None:
    """What to do when MXNet cannot be imported beside a NumPy too new for it, else None.

    MXNet 1.9.1 fails on NumPy >= 1.24 with an ``AttributeError`` (``np.bool`` was removed in
    1.24, ``np.PZERO`` in 2.0), not an ``ImportError``. Beside such a NumPy the fix is a separate
    environment either way: ``pip install 'softreg[mxnet]'`` here would downgrade NumPy under
    TensorFlow. The message says which case it is: MXNet not installed at all (the install
    command, in an environment of its own), or installed and failing with this NumPy.
    """
    import numpy

    try:
        major, minor = (int(part) for part in numpy.__version__.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (1, 24) and "bool" not in str(exc):
        return None
    separate = f"python -m venv .venv-mxnet && {_SEPARATE_MXNET_ENV}"
    if isinstance(exc, ImportError) and exc.name == "mxnet":  # the package itself is absent
        return (
            f"MXNet is not installed ({exc}); MXNet 1.9.1 needs numpy < 1.24 and this "
            f"environment has numpy {numpy.__version__}, so install it in an environment of "
            f"its own: {separate}"
        )
    return (
        f"MXNet 1.9.1 cannot import with numpy {numpy.__version__} ({exc}): it needs "
        f"numpy < 1.24. Use a separate environment: {separate}"
    )


@dataclass(frozen=True)
class Framework:
    """What softreg knows about one framework.

    Attributes:
        name: the canonical name, stored in configs and checkpoints (``"tensorflow"``).
        title: the name people use in prose and messages (``"TensorFlow"``).
        aliases: other names accepted for it, lower case (``("tf", "keras")``).
        help_alias: the alias the CLI help shows beside the name, if any.
        module: the top-level module to import (``"tensorflow"``).
        extra: the ``softreg[...]`` extra that installs it; None for a base dependency.
        backend: the module of its :class:`~softreg.backends.base.LinearBackend`, which
            defines ``create_backend(device)``.
        packed: whether that backend trains a pack of models in one pass
            (:class:`~softreg.backends.base.PackedBackend`); otherwise packs run one model at a
            time (:mod:`softreg.backends.one_at_a_time`).
        facade: the module of its d2l-compatible helpers (``from softreg import torch as d2l``),
            or None.
        devices: the names in :data:`DEVICES` it accepts.
        importer: ``"module:function"`` that imports the framework when a plain import is not
            enough (TensorFlow: without its log lines); None imports :attr:`module`.
        import_hint: given the exception a failed import raised, a message that replaces the
            generic "not installed" one, or None to keep it.
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    help_alias: str | None
    module: str
    extra: str | None
    backend: str
    packed: bool
    facade: str | None
    devices: tuple[str, ...] = DEVICES
    importer: str | None = None
    import_hint: Callable[[Exception], str | None] | None = None


TABLE: tuple[Framework, ...] = (
    Framework(name="torch", title="PyTorch", aliases=("pytorch",), help_alias=None,
              module="torch", extra="torch", backend="softreg.backends.torch_backend",
              packed=True, facade="softreg.torch"),
    Framework(name="tensorflow", title="TensorFlow", aliases=("tf", "keras"), help_alias="tf",
              module="tensorflow", extra="tensorflow",
              backend="softreg.backends.tensorflow_backend", packed=False,
              facade="softreg.tensorflow", importer="softreg.backends._tf:import_tensorflow"),
    Framework(name="mxnet", title="MXNet", aliases=("gluon", "mx"), help_alias="gluon",
              module="mxnet", extra="mxnet", backend="softreg.backends.mxnet_backend",
              packed=False, facade="softreg.mxnet", import_hint=_mxnet_numpy_hint),
    Framework(name="numpy", title="NumPy", aliases=("np",), help_alias=None, module="numpy",
              extra=None, backend="softreg.backends.numpy_backend", packed=True, facade=None,
              devices=("auto", "cpu")),
)

FRAMEWORKS: tuple[str, ...] = tuple(fw.name for fw in TABLE)
"""The canonical names, in the table's order."""

FRAMEWORK_ALIASES: dict[str, str] = {
    alias: fw.name for fw in TABLE for alias in (fw.name, *fw.aliases)
}
"""Every accepted name (canonical or alias) -> its canonical name."""

_BY_NAME = {fw.name: fw for fw in TABLE}


def canonical_framework(name: str) -> str:
    """Map a framework name or alias (``tf``, ``gluon``, ``pytorch``...) to its canonical name.

    Raises:
        ConfigError: the name is not a known framework.
    """
    key = name.strip().lower() if isinstance(name, str) else None  # e.g. a number in a file
    if key not in FRAMEWORK_ALIASES:
        known = ", ".join(sorted(FRAMEWORK_ALIASES))
        raise ConfigError(f"unknown framework {name!r}; choose one of: {known}")
    return FRAMEWORK_ALIASES[key]


def get_framework(name: str) -> Framework:
    """The table entry of a framework given by name or alias.

    Raises:
        ConfigError: the name is not a known framework.
    """
    return _BY_NAME[canonical_framework(name)]


def by_module(module: str) -> Framework | None:
    """The entry whose top-level module is ``module``, or None for a library that is not one."""
    return next((fw for fw in TABLE if fw.module == module), None)


def help_text() -> str:
    """The frameworks as the CLI help lists them: ``torch | tensorflow (tf) | ...``."""
    return " | ".join(f"{fw.name} ({fw.help_alias})" if fw.help_alias else fw.name
                      for fw in TABLE)


def check_device(framework: str, device: str, gpu_available: bool) -> str:
    """Resolve ``auto``/``cpu``/``cuda`` to ``cpu`` or ``cuda`` for ``framework``.

    Args:
        framework: a framework name or alias.
        device: the device asked for.
        gpu_available: whether the framework sees a CUDA GPU on this machine.

    Raises:
        ConfigError: unknown device, a device the framework cannot use, or ``cuda`` asked for
            where the framework sees no GPU.
    """
    fw = get_framework(framework)
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if device not in fw.devices:  # the only optional device is cuda
        gpu = next(other.name for other in TABLE if device in other.devices)
        raise ConfigError(
            f"device {device!r} is not available with the {fw.name} framework: {fw.title} "
            f"runs on the CPU only; use --device cpu (or auto), or pick --framework {gpu} "
            "for a GPU"
        )
    if device == "cuda" and not gpu_available:
        raise ConfigError(
            f"CUDA was requested but {fw.title} sees no CUDA GPU on this machine; "
            "use --device cpu (or --device auto)"
        )
    if device == "auto":
        return "cuda" if gpu_available and "cuda" in fw.devices else "cpu"
    return device
