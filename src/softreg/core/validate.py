"""Argument checks shared across softreg, and the declaration of a setting's constraints.

One integer rule (``is_int`` / ``check_int``) serves every count, size and seed; a
:class:`Setting` declares, once, what a :class:`~softreg.core.config.TrainConfig` field accepts and
how it is described on the command line (``softreg.cli.settings`` builds the flags from it).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from softreg.core.errors import ConfigError


def is_int(value: Any, minimum: int, *, numpy_ok: bool = False) -> bool:
    """Whether ``value`` is an integer (never a bool) that is ``>= minimum``.

    Args:
        value: anything.
        minimum: the smallest value accepted.
        numpy_ok: also accept NumPy integers (any :class:`numbers.Integral`).
    """
    kind = numbers.Integral if numpy_ok else int
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return int(value) >= minimum


def check_int(value: Any, name: str, minimum: int, hint: str = "") -> None:
    """Refuse anything but an integer ``>= minimum`` (a bool is not an integer here).

    Raises:
        ConfigError: ``"NAME must be an integer >= MIN, got VALUE; HINT"`` (without the
            ``; HINT`` part when ``hint`` is empty).
    """
    if not is_int(value, minimum):
        tail = f"; {hint}" if hint else ""
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}{tail}")


def check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> None:
    """Refuse a value that is not one of ``allowed``.

    Raises:
        ConfigError: ``"unknown NAME VALUE; choose one of: A, B"``.
    """
    if value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")


@dataclass(frozen=True)
class Setting:
    """What one configuration field accepts, and how its flag describes it.

    Exactly one rule applies: ``minimum`` (an integer setting), ``choices`` (a name from a
    list) or ``check`` (any other rule, called with the value).

    Attributes:
        help: the flag's description, without its default (e.g. ``"learning rate"``); for a
            setting with ``choices`` and no help, the choices joined by `` | ``.
        minimum: an integer setting: the smallest value accepted.
        maximum: an integer setting: the largest value accepted (None: no bound).
        hint: an integer setting: what to do, ending its error message.
        choices: the names accepted.
        check: raises :class:`~softreg.core.errors.ConfigError` for a value it refuses.
        convert: maps the value given to the one stored (e.g. a framework alias to its name).
        axis: a sweepable setting: how ``softreg sweep`` describes a list of its values.
        shown: the format of its default in ``--help`` (e.g. ``".4g"``).
    """

    help: str = ""
    minimum: int | None = None
    maximum: int | None = None
    hint: str = ""
    choices: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = None
    convert: Callable[[Any], Any] | None = None
    axis: str = ""
    shown: str = ""

    def validate(self, name: str, value: Any) -> None:
        """Raise :class:`~softreg.core.errors.ConfigError` if ``value`` breaks its rule."""
        if self.minimum is not None:
            check_int(value, name, self.minimum, self.hint)
            if self.maximum is not None and value > self.maximum:
                tail = f"; {self.hint}" if self.hint else ""
                raise ConfigError(f"{name} must be at most {self.maximum:,}, got {value!r}{tail}")
        elif self.choices:
            check_choice(value, name, self.choices)
        elif self.check is not None:
            self.check(value)

    def describe(self) -> str:
        """The flag's description: ``help``, or the choices joined by `` | ``."""
        return self.help or " | ".join(self.choices)
