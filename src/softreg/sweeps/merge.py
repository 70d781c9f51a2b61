"""A sweep run again into a sweep folder: merged with what is there, or refused.

The folder's ``sweep.json`` records the configurations planned there before. Rerun with the
same configurations, a sweep resumes. With other ones, the new and the old are merged, so that
``results.csv`` and ``best.json`` cover every configuration of the folder (never a silent
summary of only the new ones), and the command says so. Configurations that cannot be compared
are refused, naming the settings: chosen on different validation images (another ``val_split``
or ``val_seed``), trained on other data (another ``--data`` or a setting of how it is read), or
with early stopping watching another metric (``monitor``: the models are other epochs').

After a merge ``sweep.json`` says both: its ``search``, ``trials``, ``search_seed``, ``base`` and
``axes`` are the latest command's, ``earlier_runs`` holds those of the sweeps run there before,
and ``axes_union`` the values each setting takes across all the folder's ``configurations``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from softreg.core.config import DATA_SETTINGS, TrainConfig, same_data
from softreg.core.errors import ConfigError
from softreg.safety import readback
from softreg.safety.textsafe import printable
from softreg.sweeps.search import config_key

# The keys of sweep.json that describe one sweep command (its search space).
RUN_KEYS = ("search", "trials", "search_seed", "base", "axes")
# What every configuration of one folder shares (a sweep's base fixes them): the settings, what
# a folder of other values holds, and how to merge into it instead.
SHARED = (
    (("val_split", "val_seed"), "a sweep chosen on other validation images",
     "their accuracies cannot be compared; choose another --out, or use the same --val-split "
     "and --val-seed"),
    (DATA_SETTINGS, "a sweep of other data",
     "its results cannot be compared with this one's; choose another --out, or use the same "
     "--data (and the same flags of how it is read)"),
    (("monitor",), "a sweep whose early stopping watched another metric",
     "its models are of epochs chosen otherwise; choose another --out, or use the same "
     "--monitor"),
)


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
                              "another key than its settings'; choose another --out")
        found[key] = config
    return found


def folder_data(out: Path, data: str) -> str:
    """``data`` as the sweep in ``out`` names it: the data spec its ``sweep.json`` holds where
    that names the same file or folder however it is written (:func:`same_data`), so that a
    sweep rerun with ``csv:./t.csv`` or from another folder has the keys of its
    configurations; else ``data``. A path held relative (by an older softreg, which held the
    path as typed) can only be read from the current folder: such a sweep is the same data
    from the folder it was made in.

    Raises:
        ConfigError: ``sweep.json`` cannot be read (:func:`previous_configs`).
    """
    for config in previous_configs(out).values():
        if same_data(config.data, data):
            return config.data
    return data


def merge(out: Path, configs: list[TrainConfig]) -> tuple[list[TrainConfig], str]:
    """``configs`` and the configurations planned in ``out`` before, and a line saying so
    (empty when the two are the same: a resume).

    Raises:
        ConfigError: the two differ in a setting of :data:`SHARED` (validated on different
            images, trained on other data, or stopped early by another metric).
    """
    before = previous_configs(out)
    mine = {config_key(c): c for c in configs}
    if not before or set(before) == set(mine):
        return configs, ""
    for names, holds, fix in SHARED:
        theirs = {_values(c, names) for c in before.values()}
        ours = {_values(c, names) for c in configs}
        if theirs != ours or len(ours) > 1:
            raise ConfigError(f"{str(out)!r} holds {holds} ({_show(theirs, names)}; this one: "
                              f"{_show(ours, names)}): {fix}")
    old = [c for k, c in before.items() if k not in mine]
    line = (f"merging with the sweep in {out}: {len(before)} configurations planned there "
            f"before, {len(set(mine) - set(before))} new; results.csv and best.json cover all "
            f"{len(mine) + len(old)}")
    return configs + old, line


def _values(config: TrainConfig, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(config, name) for name in names)


def _show(values: set[tuple[Any, ...]], names: tuple[str, ...]) -> str:
    """``val_split 0.1, val_seed 0``: each group of values; of the data settings, the data and
    those that are not their defaults."""
    defaults = TrainConfig()
    groups = []
    for group in sorted(values, key=repr):
        shown = [(n, v) for i, (n, v) in enumerate(zip(names, group, strict=True))
                 if i == 0 or n not in DATA_SETTINGS or v != getattr(defaults, n)]
        groups.append(", ".join(f"{n} {v:g}" if isinstance(v, float) else f"{n} {printable(v)}"
                                for n, v in shown))
    return "; ".join(groups)


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
