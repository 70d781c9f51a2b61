"""The search space of a sweep: which settings vary, and the configurations to train.

A sweep varies some :class:`~softreg.core.config.TrainConfig` fields (the *axes*) around a base
configuration that fixes the rest. Grid search trains every combination; random search draws
``trials`` of them: from the value lists (without repeats), or from ``lo:hi`` ranges
(log-uniform for the learning rate and weight decay, uniform integers for epochs, batch size
and seed). Each configuration is named by a stable hash of its settings, which is how an
interrupted sweep knows what it has already done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from softreg.core.config import SWEEP_AXES, TrainConfig
from softreg.core.errors import ConfigError
from softreg.core.validate import check_int
from softreg.safety.limits import MAX_CONFIGS, check_count

# Sweepable TrainConfig fields and the type a command-line value is read as.
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
_FIELD_TYPES = {f.name: str(f.type) for f in fields(TrainConfig)}
AXES: dict[str, type] = {name: _TYPES[_FIELD_TYPES[name]] for name in SWEEP_AXES}
SEARCHES = ("grid", "random")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Range:
    """A ``lo:hi`` interval to draw from in a random search (ints for an integer axis)."""

    lo: float | int
    hi: float | int


AxisValues = tuple[Any, ...] | Range


@dataclass(frozen=True)
class SearchSpace:
    """Axes to vary around ``base``, and how to search them.

    Attributes:
        base: the fixed settings (and the value of every axis not given).
        axes: field name -> tuple of values, or a :class:`Range` (random search only).
        search: ``grid`` or ``random``.
        trials: number of configurations a random search draws.
        search_seed: seeds the random draw (independent of the training seeds).
    """

    base: TrainConfig
    axes: dict[str, AxisValues] = field(default_factory=dict)
    search: str = "grid"
    trials: int = 20
    search_seed: int = 0

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ConfigError(f"unknown search {self.search!r}; choose one of: grid, random")
        check_int(self.trials, "trials", 1)
        check_int(self.search_seed, "search_seed", 0, "use a non-negative --search-seed")
        check_count(self.trials, MAX_CONFIGS, "--trials", "draw fewer configurations")
        for name, values in self.axes.items():
            if name not in AXES:
                raise ConfigError(f"cannot sweep {name!r}; sweepable: {', '.join(AXES)}")
            if isinstance(values, Range) and self.search == "grid":
                raise ConfigError(f"the range {values.lo:g}:{values.hi:g} for {name} needs "
                                  "--search random; a grid needs a list of values")
            for value in _values_to_check(name, values):
                _check_value(self.base, name, values, value)

    def varied(self) -> list[str]:
        """Names of the axes with more than one value (or a range)."""
        return [n for n, v in self.axes.items() if isinstance(v, Range) or len(v) > 1]


def _values_to_check(name: str, values: AxisValues) -> tuple[Any, ...]:
    """Every value of a list; the ends of a range (its low end unless it is 0).

    A random search draws only some values of a list, and trains the draws one by one: checking
    each value first refuses an invalid one before any work, whether or not it would be drawn.
    A range starting at 0 is drawn uniformly and never gives exactly 0, so 0 is not checked; a
    range reaching below 0 is checked at its low end, so that it is refused whatever the draw.
    """
    if not isinstance(values, Range):
        return values
    if AXES[name] is int:
        return math.ceil(values.lo), math.floor(values.hi)
    return (values.lo, values.hi) if values.lo != 0 else (values.hi,)


def _check_value(base: TrainConfig, name: str, values: AxisValues, value: Any) -> None:
    """Refuse the whole sweep for one bad value of axis ``name``; a bad end of a range is
    refused as the range the user typed (a drawn value would name a number never typed).

    Raises:
        ConfigError: the value is not valid for the setting.
    """
    try:
        replace(base, **{name: value})
    except ConfigError as exc:
        if not isinstance(values, Range):
            raise
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag}: the range {values.lo:g}:{values.hi:g} reaches {value:g}, "
                          f"which is refused: {exc}") from None


def parse_axis(name: str, text: str) -> AxisValues:
    """Read a command-line value list ``"0.01,0.1"`` (or a range ``"0.01:1"``) for ``name``.

    Raises:
        ConfigError: unknown axis, empty list, unreadable value or bad range.
    """
    kind = AXES.get(name)
    if kind is None:
        raise ConfigError(f"cannot sweep {name!r}; sweepable: {', '.join(AXES)}")
    flag = "--" + name.replace("_", "-")
    if ":" in text and kind in (int, float):
        lo, hi = (_read(flag, kind, part) for part in text.split(":", 1))
        if not lo < hi:
            raise ConfigError(f"{flag}: a range lo:hi needs lo < hi, got {text!r}")
        if kind is int:  # drawn exactly, by 64-bit integers (as floats, 2**53 + 1 was not)
            if not (lo >= -(2**63) and hi < 2**63 - 1):
                raise ConfigError(f"{flag}: the range {text!r} is beyond 64-bit integers; give "
                                  "a narrower one")
            return Range(lo, hi)
        return Range(float(lo), float(hi))
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise ConfigError(f"{flag}: no values in {text!r}; give a comma-separated list")
    for place, part in enumerate(parts, start=1):  # "0.1,,1" is a typo, not the list 0.1,1
        if not part:
            raise ConfigError(f"{flag}: item {place} of {text!r} is empty; give a "
                              f"comma-separated list such as {_EXAMPLES.get(kind, 'off,on')}")
    if name == "seed":
        return tuple(dict.fromkeys(_seeds(flag, parts)))
    return tuple(dict.fromkeys(_read(flag, kind, p) for p in parts))


_EXAMPLES = {float: "0.01,0.1", int: "64,256"}


def _seeds(flag: str, parts: list[str]) -> list[int]:
    """The seeds of a list's items, each a seed or a range ``lo-hi`` (both ends in it), as
    ``train --seeds`` reads them; bounded before a range is expanded.

    Raises:
        ConfigError: an item that is neither, a descending range, or too many seeds.
    """
    seeds: list[int] = []
    for part in parts:
        lo_text, dash, hi_text = part.partition("-")
        if not dash or not lo_text:  # a seed (a negative one is refused by its check)
            seeds.append(_read(flag, int, part))
            continue
        try:
            lo, hi = int(lo_text), int(hi_text)
        except ValueError:
            raise ConfigError(f"{flag}: cannot read {part!r} as a seed or a range lo-hi; give "
                              "a comma-separated list such as 0,1,2 or 0-3") from None
        if hi < lo:
            raise ConfigError(f"{flag}: {part!r} is a descending range; write it low-high, "
                              f"e.g. {hi}-{lo}")
        check_count(len(seeds) + hi - lo + 1, MAX_CONFIGS, f"the seeds of {flag}",
                    "give fewer seeds")
        seeds += range(lo, hi + 1)
    return seeds


def _read(flag: str, kind: type, text: str) -> Any:
    if flag == "--framework":  # an alias is its framework (torch,pytorch is one value)
        from softreg.core.frameworks import canonical_framework

        return canonical_framework(text)
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        return kind(text)
    except ValueError:
        what = {int: "an integer", float: "a number", bool: "on or off"}.get(kind, "a value")
        raise ConfigError(f"{flag}: cannot read {text!r} as {what}; give a comma-separated "
                          f"list such as {_EXAMPLES.get(kind, 'off,on')}") from None


def configurations(space: SearchSpace) -> list[TrainConfig]:
    """All configurations of a grid search, or the draws of a random one (no duplicates).

    Every configuration is validated here, before anything is trained.
    """
    if space.search == "grid" or not space.axes:
        names = list(space.axes)
        lists = [v for v in space.axes.values() if not isinstance(v, Range)]  # grids: no ranges
        check_count(math.prod(len(v) for v in lists), MAX_CONFIGS, "the grid's size",
                    "give fewer values, or use --search random --trials N")
        combos = itertools.product(*lists)
        settings = [dict(zip(names, combo, strict=True)) for combo in combos]
    else:
        settings = _draw(space)
    configs: dict[str, TrainConfig] = {}
    for values in settings:
        config = replace(space.base, **values)
        configs.setdefault(config_key(config), config)
    return list(configs.values())


def _draw(space: SearchSpace) -> list[dict[str, Any]]:
    rng = np.random.default_rng([space.search_seed, 7])
    names = list(space.axes)
    if not any(isinstance(space.axes[n], Range) for n in names):
        lists = [tuple(space.axes[n]) for n in names]  # type: ignore[arg-type]
        check_count(math.prod(len(v) for v in lists), MAX_CONFIGS * 100,
                    "the combinations to draw from", "give fewer values, or ranges lo:hi")
        combos = list(itertools.product(*lists))
        picks = rng.permutation(len(combos))[: space.trials]
        return [dict(zip(names, combos[i], strict=True)) for i in sorted(picks)]
    return [{n: _sample(rng, n, space.axes[n]) for n in names} for _ in range(space.trials)]


def _sample(rng: np.random.Generator, name: str, values: AxisValues) -> Any:
    if not isinstance(values, Range):
        return values[int(rng.integers(len(values)))]
    lo, hi = values.lo, values.hi
    if AXES[name] is int:
        return int(rng.integers(int(lo), int(hi) + 1))
    if lo > 0:  # scale parameters: every decade is equally likely
        return float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def describe_draws(space: SearchSpace) -> list[str]:
    """One line per range of a random search, saying how its values are drawn."""
    lines = []
    for name, values in space.axes.items():
        if not isinstance(values, Range):
            continue
        flag = "--" + name.replace("_", "-")
        if AXES[name] is int:
            how = "uniformly among the integers of"
        elif values.lo > 0:
            how = "log-uniformly (every decade equally likely) from"
        else:
            how = ("uniformly from (a range from 0 or below cannot be log-uniform; start it "
                   "above 0 to draw every decade equally)")
        lines.append(f"{flag}: drawn {how} [{values.lo:g}, {values.hi:g}]")
    return lines


def config_key(config: TrainConfig) -> str:
    """A stable 12-hex-digit name for a configuration: a hash of its settings.

    The data settings count only where they differ from their defaults, so a configuration on
    the chapter's data keeps the key it had before softreg read other data (old sweep folders
    resume as they were).
    """
    return _digest(_key_settings(config))


def setting_key(config: TrainConfig) -> str:
    """A stable 12-hex-digit name for a configuration's settings but its seed: configurations
    that differ in their seed alone share it, and are averaged as the seeds of one setting
    (:mod:`softreg.sweeps.selection`). Every other setting counts (the data and how it is read,
    ``monitor``, ``max_loss``, ``init_std``, ``device``, ...): each can change the result."""
    settings = _key_settings(config)
    del settings["seed"]
    return _digest({"setting": settings})  # never equal to a configuration's key


def _key_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a key hashes: the data settings only where they are not the defaults."""
    from softreg.core.config import DATA_SETTINGS

    settings = config.to_dict()
    for f in fields(config):
        if f.name in DATA_SETTINGS and settings[f.name] == f.default:
            del settings[f.name]
    return settings


def _digest(settings: dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def describe(settings: Mapping[str, Any], names: Sequence[str]) -> str:
    """``"lr=0.1 batch_size=256"``: the values of ``names`` in ``settings`` (a config dict)."""
    return " ".join(f"{n}={settings[n]}" for n in names)
