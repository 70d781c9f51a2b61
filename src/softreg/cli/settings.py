"""Command-line flags built from :class:`~softreg.core.config.TrainConfig`'s declared settings.

Each setting's flag name, type and description come from its field (see
:class:`softreg.core.validate.Setting`); a command chooses which settings it offers, their
defaults, and a note of its own.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, fields
from typing import Any

from softreg.core.config import TrainConfig
from softreg.core.validate import Setting

_FIELDS: dict[str, Field[Any]] = {f.name: f for f in fields(TrainConfig)}
_TYPES: dict[str, Any] = {"int": int, "float": float, "str": None, "bool": None}
CONFIG_DEFAULT: Any = object()  # a flag not given takes TrainConfig's default


def flag(name: str) -> str:
    """The flag of setting ``name``: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def setting(name: str) -> Setting:
    """The declaration of the TrainConfig field ``name``."""
    declared: Setting = _FIELDS[name].metadata["setting"]
    return declared


# --max-loss's help after its default (shown for 10 classes): the rule behind it.
MAX_LOSS_NOTE = (" for 10 classes: the default is 100 ln C for C classes (100 times the loss of "
                 "uniform guessing); a number given is the limit as it is")


def add_setting(p: argparse.ArgumentParser, name: str, *, default: Any = CONFIG_DEFAULT,
                note: str = "") -> None:
    """Add the flag of setting ``name``; its help is ``DESCRIPTION [DEFAULT]NOTE``.

    Args:
        p: the parser.
        name: a TrainConfig field.
        default: the flag's default: TrainConfig's unless given; None (a flag not given
            stays None, so that train's --resume can tell) shows TrainConfig's in the help.
        note: text after the default, e.g. ``"; with --resume: the total to reach"``.
    """
    declared = setting(name)
    if default is CONFIG_DEFAULT:
        default = _config_default(name)
    shown = default if default is not None else _config_default(name)
    text = f"{declared.describe()} [{format(shown, declared.shown)}]{note}"
    p.add_argument(flag(name), type=_TYPES[str(_FIELDS[name].type)], default=default,
                   help=text.replace("%", "%%"))


def add_axis_flags(p: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """Add ``--NAME LIST`` (dest ``axis_NAME``) for each sweepable setting in ``names``."""
    for name in names:
        declared = setting(name)
        p.add_argument(flag(name), dest=f"axis_{name}", metavar="LIST",
                       help=f"{declared.axis} [{_config_default(name)}]".replace("%", "%%"))


def _config_default(name: str) -> Any:
    value = _FIELDS[name].default
    return None if value is MISSING else value
