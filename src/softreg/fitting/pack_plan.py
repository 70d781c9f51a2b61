"""Planning packs and :func:`fit_many`, the Python API for training many models at once.

Configurations are grouped by what a pack's models must share
(:data:`softreg.fitting.pack.PACK_FIELDS`:
framework, device, batch size, epochs and the prepared data) and each group is cut into packs
that fit a memory budget and a most-models limit. The dataset is prepared once per data
setting and held once per process, whatever the number of models.

Example::

    import softreg
    from softreg.core.config import TrainConfig

    configs = [TrainConfig(lr=lr, seed=seed, val_split=0.1)
               for lr in (0.03, 0.1, 0.3) for seed in range(4)]
    results = softreg.fit_many(configs, offline=True)
    for config, result in zip(configs, results):
        print(config.lr, config.seed, result.history.last.val_acc)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.core.validate import is_int
from softreg.data import fashion
from softreg.fitting.pack import pack_key, train_pack
from softreg.fitting.splits import Split, data_key, prepare_splits, splits_shape
from softreg.fitting.trainer import FitResult


def _check_splits_serve(splits: dict[str, Split], config: TrainConfig) -> None:
    """Refuse prepared ``splits`` of other data, or without the validation split
    ``config`` asks for (or with one it does not).

    Raises:
        ConfigError: naming what differs.
    """
    from softreg.data.spec import parse

    info = next((s.info for s in splits.values() if s.info), None)
    wanted = parse(config.data).recorded()
    # (arrays given in Python, softreg.data.from_arrays, have no spec to compare)
    if info is not None and info.get("data") not in (wanted, config.data, "arrays"):
        raise ConfigError(f"the splits given to fit_many were prepared from {info.get('data')}, "
                          f"and the configurations train on {config.data}; prepare them from "
                          "the configurations' data, or leave splits out")
    if ("val" in splits) != (config.val_split > 0):
        raise ConfigError(f"the splits given to fit_many {'have' if 'val' in splits else 'lack'}"
                          f" a validation split, and the configurations' val_split is "
                          f"{config.val_split}; prepare them with the configurations' settings, "
                          "or leave splits out")


def fit_many(
    configs: Sequence[TrainConfig],
    splits: dict[str, Split] | None = None,
    *,
    data_dir: str | None = None,
    offline: bool = False,
    max_pack: int | None = None,
    pack_memory: int | None = None,
    eval_splits: Sequence[str] | None = None,
) -> list[FitResult]:
    """Train every configuration, many at once in packs; results in the order given.

    Each result is what :func:`softreg.fitting.trainer.fit` returns for that configuration alone
    (the same weights bit for bit on one machine, however the configurations are grouped).

    Args:
        configs: the configurations (any mix: they are grouped into packs).
        splits: prepared splits to use for every configuration (they must then share
            ``val_split``, ``val_seed`` and ``standardize``); by default each data setting
            is prepared once from ``data_dir``/``offline``.
        data_dir: a folder holding the Fashion-MNIST files (see ``softreg.data``).
        offline: never download the data.
        max_pack: the most models in one pack (None: as many as ``pack_memory`` holds).
        pack_memory: the most bytes one pack may hold (default :func:`default_pack_memory`).
        eval_splits: splits evaluated each epoch (default ``val`` if present, and ``test``).

    Raises:
        ConfigError: a bad ``max_pack`` or ``pack_memory``, or ``splits`` given for
            configurations with different data settings, or prepared from other data or
            validation settings than theirs.
    """
    from softreg.backends import get_packed_backend

    check_pack_limits(max_pack, pack_memory)
    results: list[FitResult | None] = [None] * len(configs)
    if splits is not None and len({data_key(c) for c in configs}) > 1:
        raise ConfigError("splits given to fit_many serve one data setting, but the "
                          "configurations differ in data, val_split, val_seed or standardize; "
                          "leave splits out to prepare each setting once")
    if splits is not None and configs:
        _check_splits_serve(splits, configs[0])
    by_data: dict[tuple[object, ...], list[int]] = {}
    for i, c in enumerate(configs):
        by_data.setdefault(data_key(c), []).append(i)
    for key in sorted(by_data, key=repr):  # one data setting after another, held once
        # backends anew for each: a packed backend keeps the model shape of its data (iris'
        # 4 features, then digits' 64: "the weights W (10, 64) take 64")
        backends: dict[tuple[str, str], object] = {}
        members = by_data[key]
        use = splits if splits is not None else \
            prepare_splits(configs[members[0]], data_dir, offline)
        group = [configs[i] for i in members]
        # packs sized for the data's own model shape (its classes and features)
        for pack in plan_packs(group, max_pack, pack_memory, splits_shape(use).weights):
            first = group[pack[0]]
            where = (first.framework, first.device)
            if where not in backends:
                backends[where] = get_packed_backend(*where)
            fitted = train_pack([group[i] for i in pack], use,
                                backends[where],  # type: ignore[arg-type]
                                eval_splits=eval_splits)
            for i, result in zip(pack, fitted, strict=True):
                results[members[i]] = result
        del use  # free this setting's copy before preparing the next
    return [r for r in results if r is not None]


# The most training examples a pack sees (Fashion-MNIST's training set).
MAX_EXAMPLES = 60000


def model_bytes(batch_size: int, shape: tuple[int, int] = fashion.MODEL_SHAPE.weights) -> int:
    """About how many bytes one model of ``shape`` (C, D) adds to a pack: weight copies and
    step temporaries."""
    classes, features = shape
    weights = classes * (features + 1) * 4
    # device, update buffer, host copy, read-back, best and last-good: six weight copies;
    # a step's logits, probabilities and gradient: about 40 bytes a logit (float64 in NumPy);
    # the torch step records: 16 bytes an example on a GPU (predicted class, its logit, the
    # label's log-probability; 12 on the CPU), a block of 4096 examples or one step
    return 6 * weights + 40 * classes * batch_size + 16 * max(4096, batch_size)


def pack_bytes(models: int, groups: int, batch_size: int, eval_bytes: int = 64 * 2**20,
               shape: tuple[int, int] = fashion.MODEL_SHAPE.weights) -> int:
    """About the most memory a pack of ``models`` of ``shape`` (C, D) in ``groups`` order
    groups holds at once."""
    gather = groups * batch_size * shape[1] * 4  # the batched gather buffer
    # each order group's epoch order and its labels in that order: int64, at most 60,000 each
    orders = groups * MAX_EXAMPLES * 8 * 2
    # eval_bytes: the logits of an evaluation chunk (the models taken in blocks that fit it)
    return models * model_bytes(batch_size, shape) + gather + orders + eval_bytes


def default_pack_memory(workers: int = 1) -> int:
    """The default memory budget of one pack: a quarter of the memory this process may use
    (the machine's, the cgroup's or ``ulimit -v``, whichever is least; <= 8 GiB), divided
    among ``workers`` running at once (see :func:`softreg.safety.limits.share`)."""
    from softreg.safety.limits import share

    return share(workers)


def plan_packs(configs: Sequence[TrainConfig], max_models: int | None = None,
               memory: int | None = None,
               shape: tuple[int, int] | Callable[[TrainConfig], tuple[int, int]]
               = fashion.MODEL_SHAPE.weights) -> list[list[int]]:
    """Group configuration indices into packs: same :func:`pack_key`, sized to the limits.

    Within a key, models are ordered by seed so that a split keeps seed groups together.

    Args:
        configs: the configurations.
        max_models: the most models a pack holds (None: no limit but memory).
        memory: the most bytes a pack may hold (:func:`pack_bytes`; None: the default).
        shape: the models' (C, D), the data's; or a function giving a configuration's (C, D)
            (asked once per pack key: configurations of different data may differ).

    Raises:
        ConfigError: ``max_models`` < 1, or ``memory`` too small for even one model.
    """
    check_pack_limits(max_models, memory)
    budget = default_pack_memory() if memory is None else memory
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(pack_key(c), []).append(i)
    packs = []
    for members in groups.values():
        members.sort(key=lambda i: configs[i].seed)
        batch = min(configs[members[0]].batch_size, 60000)
        weights = shape(configs[members[0]]) if callable(shape) else shape
        fit = _models_within(budget, batch, len({configs[i].seed for i in members}), weights)
        if fit < 1:
            raise ConfigError(f"a pack memory budget of {budget / 2**20:.0f} MiB does not hold "
                              f"even one model of batch size {batch} and shape {weights} "
                              f"(about {pack_bytes(1, 1, batch, shape=weights) / 2**20:.0f} "
                              "MiB); raise --pack-memory")
        size = min(fit, max_models or fit)
        packs += [members[s : s + size] for s in range(0, len(members), size)]
    return packs


def check_pack_limits(max_models: int | None, memory: int | None) -> None:
    """Refuse a most-models limit below 1 or a memory budget below 1 byte.

    Raises:
        ConfigError: naming the setting, the value and what to use instead.
    """
    if max_models is not None and not is_int(max_models, 1):
        raise ConfigError(f"the most models a pack holds must be an integer >= 1, got "
                          f"{max_models!r}; use e.g. --pack 64, or --no-pack")
    if memory is not None and not is_int(memory, 1):
        raise ConfigError(f"the pack memory budget must be a positive number of bytes, got "
                          f"{memory!r}; use e.g. --pack-memory 2G")


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory(text: str) -> int:
    """Read a size such as ``2G``, ``512M``, ``1.5G`` or ``1000000`` (bytes) as bytes.

    Raises:
        ConfigError: not a positive size.
    """
    clean = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = clean[-1:] if clean[-1:] in _UNITS and clean[-1:] else ""
    try:
        value = float(clean[: len(clean) - len(unit)]) * _UNITS[unit]
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise ConfigError(f"--pack-memory: cannot read {text!r} as a positive size; use e.g. "
                          "2G, 512M or a number of bytes")
    return int(value)


def _models_within(budget: int, batch_size: int, seeds: int, shape: tuple[int, int]) -> int:
    """The most models whose pack (with up to ``seeds`` order groups) fits in ``budget``."""
    room = budget - pack_bytes(0, seeds, batch_size, shape=shape)
    if room < model_bytes(batch_size, shape):
        room = budget - pack_bytes(0, 1, batch_size, shape=shape)  # one seed a pack still fits
    return max(0, room // model_bytes(batch_size, shape))


@dataclass(frozen=True)
class Packing:
    """How a sweep trains: in packs (``enabled``) of at most ``max_models`` models and
    ``memory`` bytes each (None: no limit but the default memory budget), or one at a time."""

    enabled: bool = True
    max_models: int | None = None
    memory: int | None = None


_PACKING: ContextVar[Packing] = ContextVar(
    "softreg_sweep_packing", default=Packing())  # noqa: B039  (frozen: immutable)


def current_packing() -> Packing:
    """The :class:`Packing` in force (:func:`packing`; default: packs, default limits)."""
    return _PACKING.get()


@contextlib.contextmanager
def packing(settings: Packing) -> Iterator[None]:
    """Sweeps run inside this block train as ``settings`` says (default: packs).

    Raises:
        ConfigError: a most-models limit below 1 or a memory budget below 1 byte (checked
            on entry, before any work).
    """
    check_pack_limits(settings.max_models, settings.memory)
    token = _PACKING.set(settings)
    try:
        yield
    finally:
        _PACKING.reset(token)


def balance(packs: list[list[int]], jobs: int) -> list[list[int]]:
    """Halve the largest packs until every one of ``jobs`` workers has one, if they can be."""
    packs = [list(p) for p in packs]
    while len(packs) < jobs:
        largest = max(range(len(packs)), key=lambda i: len(packs[i]))
        pack = packs[largest]
        if len(pack) < 2:
            break
        half = (len(pack) + 1) // 2
        packs[largest : largest + 1] = [pack[:half], pack[half:]]
    return packs
