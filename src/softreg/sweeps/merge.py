"""A sweep run again into a sweep folder: merged with what is there, or refused.

The folder's ``sweep.json`` records the configurations planned there before. Rerun with the
same configurations, a sweep resumes. With other ones, the new and the old are merged, so that
``results.csv`` and ``best.json`` cover every configuration of the folder (never a silent
summary of only the new ones), and the command says so. Configurations chosen on different
validation images (another ``val_split`` or ``val_seed``) cannot be compared: that is refused,
naming the settings.

After a merge ``sweep.json`` says both: its ``search``, ``trials``, ``search_seed``, ``base`` and
``axes`` are the latest command's, ``earlier_runs`` holds those of the sweeps run there before,
and ``axes_union`` the values each setting takes across all the folder's ``configurations``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.safety import readback
from softreg.safety.textsafe import printable
from softreg.sweeps.search import config_key

# The keys of sweep.json that describe one sweep command (its search space).
RUN_KEYS = ("search", "trials", "search_seed", "base", "axes")


def previous_configs(out: Path) -> dict[str, TrainConfig]:
    """The configurations ``out/sweep.json`` planned, by key (none without the file).

    Raises:
        ConfigError: the file cannot be read, or a configuration in it is invalid or filed
            under another key.
    """
    path = out / "sweep.json"
    if not path.exists():
        return {}
    spec = readback.read_json(path, "sweep file")
    planned = spec.get("configurations") if isinstance(spec, dict) else None
    if not isinstance(planned, dict):
        raise ConfigError(f"{str(path)!r} has no 'configurations' object; it is not a softreg "
                          "sweep file: choose another --out")
    found = {}
    for key, raw in planned.items():
        try:
            config = TrainConfig.from_dict(raw)
        except (ConfigError, TypeError, ValueError) as exc:
            raise ConfigError(f"{str(path)!r}: configuration {printable(key)!r} cannot be read "
                              f"({printable(exc)}); choose another --out") from None
        if config_key(config) != key:
            raise ConfigError(f"{str(path)!r}: configuration {printable(key)!r} is filed under "
                              "another key than its settings' ; choose another --out")
        found[key] = config
    return found


def merge(out: Path, configs: list[TrainConfig]) -> tuple[list[TrainConfig], str]:
    """``configs`` and the configurations planned in ``out`` before, and a line saying so
    (empty when the two are the same: a resume).

    Raises:
        ConfigError: the two were validated on different images (``val_split``/``val_seed``).
    """
    before = previous_configs(out)
    mine = {config_key(c): c for c in configs}
    if not before or set(before) == set(mine):
        return configs, ""

    def val(c: TrainConfig) -> tuple[float, int]:
        return (c.val_split, c.val_seed)

    theirs = {val(c) for c in before.values()}
    ours = {val(c) for c in configs}
    if theirs != ours or len(ours) > 1:
        show = "; ".join(f"val_split {s:g}, val_seed {v}" for s, v in sorted(theirs))
        new = "; ".join(f"val_split {s:g}, val_seed {v}" for s, v in sorted(ours))
        raise ConfigError(f"{str(out)!r} holds a sweep chosen on other validation images "
                          f"({show}; this one: {new}): their accuracies cannot be compared; "
                          "choose another --out, or use the same --val-split and --val-seed")
    old = [c for k, c in before.items() if k not in mine]
    line = (f"merging with the sweep in {out}: {len(before)} configurations planned there "
            f"before, {len(set(mine) - set(before))} new; results.csv and best.json cover all "
            f"{len(mine) + len(old)}")
    return configs + old, line


def earlier_runs(out: Path, this_run: dict[str, Any]) -> list[dict[str, Any]]:
    """The search spaces of the sweeps run in ``out`` before this one (``this_run``: its
    :data:`RUN_KEYS`), oldest first, as ``out/sweep.json`` records them; none without it.

    Call it before this sweep writes its own ``sweep.json``; :func:`merge` has checked the file.
    """
    path = out / "sweep.json"
    if not path.exists():
        return []
    spec = readback.read_json(path, "sweep file")
    if not isinstance(spec, dict):
        return []
    kept = spec.get("earlier_runs")
    runs = [r for r in kept if isinstance(r, dict)] if isinstance(kept, list) else []
    own = {k: spec[k] for k in RUN_KEYS if k in spec}
    if own and own != this_run and own not in runs:  # a resume of the same command adds none
        runs.append(own)
    return runs


def axes_union(configs: list[TrainConfig], runs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every setting an axis of ``runs`` names or that differs among ``configs``, with the
    values the configurations take (numbers in increasing order)."""
    rows = [c.to_dict() for c in configs]
    named = [n for r in runs if isinstance(r.get("axes"), dict) for n in r["axes"]]
    varied = [n for n in (rows[0] if rows else {})
              if len({json.dumps(r[n], sort_keys=True) for r in rows}) > 1]
    union: dict[str, list[Any]] = {}
    for name in dict.fromkeys([*named, *varied]):
        values = {json.dumps(r.get(name), sort_keys=True): r.get(name) for r in rows}
        union[name] = sorted(values.values(), key=_order)
    return union


def _order(value: Any) -> tuple[int, float, str]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, json.dumps(value, sort_keys=True))
