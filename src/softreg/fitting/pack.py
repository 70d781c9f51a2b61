"""Many models in one pass: K softmax regressions trained together on the same data.

A softmax regression is a (C, D) matrix; K of them trained on the same batches are one
(CK, D) matrix, and one step of all K is one large product instead of K thin ones. This
module drives a :class:`~softreg.backends.base.PackedBackend` with the same rules as the
single-model loop (:func:`softreg.epochs.loop.run_epochs` with
:class:`~softreg.fitting.trainer.EarlyStopping`),
one model at a time in its bookkeeping:

* each model has its own learning rate, weight decay, schedule, seed (initial weights and
  example order), ``max_loss``, ``patience`` and ``monitor``;
* models sharing a seed form an *order group* and share every batch (:func:`layout`); on a
  GPU each group's models are one product, on the CPU each model's weights are multiplied
  by their own product, the examples shared;
* a model whose mean train loss is not finite or above its ``max_loss`` is frozen with the
  weights of its last good epoch and recorded as diverged; early stopping freezes a model and
  puts its best epoch back; the others go on. A frozen model leaves the pack at the next
  epoch, so it costs nothing more;
* all K models are evaluated in one pass a split, and read back in one host sync an epoch.

A model's numbers do not depend on the pack it is in, bit for bit on one machine: the
backends compute each model's products, step sizes and sums the same way in any pack (see
:mod:`softreg.backends.torch_backend`, ``tests/fitting/test_pack.py``); a pack of one is the
ordinary trainer's result exactly. So a sweep's numbers do not depend on how it is cut into packs.
Each record's ``seconds`` is the pack's epoch time divided by the models still training.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from softreg.backends.base import DeviceData, PackedBackend
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.core.shape import ModelShape
from softreg.epochs.history import EpochRecord, History, Status
from softreg.epochs.loop import EpochTotals, diverged, divergence_message
from softreg.fitting.splits import Split, Standardizer, splits_shape
from softreg.fitting.trainer import (
    OVERFLOW_ADVICE,
    EarlyStopping,
    FitResult,
    Params,
    epoch_order,
    initial_params,
)
from softreg.safety.stopsignals import Terminated

# What the models of one pack must share: one batch plan and one prepared dataset.
PACK_FIELDS = ("framework", "device", "batch_size", "epochs", "val_split", "val_seed",
               "standardize")


def pack_key(config: TrainConfig) -> tuple[object, ...]:
    """The settings a configuration shares with every other model of its pack."""
    return tuple(getattr(config, name) for name in PACK_FIELDS)


@dataclass
class _PackState:
    """The host copy of every model of a pack (in the trainer's input space) and its data."""

    backend: PackedBackend
    data: dict[str, DeviceData]
    standardizer: Standardizer | None
    W: npt.NDArray[np.float32]  # (K, C, D)
    b: npt.NDArray[np.float32]  # (K, C)
    shape: ModelShape | None = None  # names the features in an overflow's message
    final: dict[str, list[EpochTotals]] = field(default_factory=dict)

    def evaluate_all(self, split: str) -> list[EpochTotals]:
        """Every model's totals on ``split`` with its current weights: one pass, cached."""
        if split not in self.final:
            if split not in self.data:
                raise ConfigError(f"no split {split!r} in this pack; it has: "
                                  f"{', '.join(sorted(self.data))}")
            self.backend.set_pack(self.W[None], self.b[None])  # one group of K
            handle = self.backend.evaluate_pack(self.data[split])
            totals = self.backend.pack_totals([handle])[0]
            self.final[split] = [totals.model(0, i) for i in range(len(self.W))]
        return self.final[split]


class PackMember:
    """One model of a pack, as :attr:`FitResult.trainer`: raw-pixel weights and evaluation.

    :meth:`snapshot` and :meth:`restore` convert as :class:`~softreg.fitting.trainer.LinearTrainer`
    does; :meth:`evaluate` gives the final model's totals, computed for the whole pack at once.
    """

    def __init__(self, state: _PackState, index: int) -> None:
        self.state = state
        self.index = index

    def snapshot(self) -> Params:
        W, b = self.state.W[self.index].copy(), self.state.b[self.index].copy()
        return self.state.standardizer.fold(W, b) if self.state.standardizer else (W, b)

    def restore(self, state: Params) -> None:
        std = self.state.standardizer
        W, b = std.to_trained(state) if std else state
        self.state.W[self.index], self.state.b[self.index] = W, b
        self.state.final.clear()

    def evaluate(self, split: str) -> EpochTotals:
        return self.state.evaluate_all(split)[self.index]


def layout(seeds: Sequence[int]) -> npt.NDArray[np.int64]:
    """Slots of a pack: a (G, k) array of model indices (-1: padding) grouped by seed.

    Models with the same seed see the same example order and can share a batch. k is chosen
    to make slots + groups the fewest (a seed with more than k models takes several groups):
    a padding slot costs a model's products, and each group a gather of the batch and a
    thinner product, about as much.
    """
    by_seed: dict[int, list[int]] = {}
    for i, seed in enumerate(seeds):
        by_seed.setdefault(seed, []).append(i)
    sizes = [len(v) for v in by_seed.values()]
    def cost(k: int) -> tuple[int, int]:
        groups = sum(-(-n // k) for n in sizes)
        return groups * k + groups, -k

    best_k = min(range(1, max(sizes) + 1), key=cost)
    rows = []
    for members in by_seed.values():
        for start in range(0, len(members), best_k):
            part = members[start : start + best_k]
            rows.append(part + [-1] * (best_k - len(part)))
    return np.array(rows, dtype=np.int64)


def train_pack(
    configs: Sequence[TrainConfig],
    splits: dict[str, Split],
    backend: PackedBackend,
    *,
    eval_splits: Sequence[str] | None = None,
) -> list[FitResult]:
    """Train ``configs`` as one pack on prepared ``splits``; results in the order given.

    Args:
        configs: models sharing :data:`PACK_FIELDS` (checked).
        splits: from :func:`softreg.fitting.splits.prepare_splits` for those settings.
        backend: a packed backend of the configs' framework.
        eval_splits: splits evaluated each epoch (default ``val`` if present, and ``test``).

    Raises:
        ConfigError: no configuration, or configurations that cannot share a pack.
    """
    if not configs:
        raise ConfigError("a pack needs at least one configuration")
    keys = {pack_key(c) for c in configs}
    if len(keys) > 1:
        raise ConfigError(f"the models of one pack must share {', '.join(PACK_FIELDS)}; got "
                          f"{len(keys)} different settings (use fit_many, which groups them)")
    with_val = "val" in splits
    if eval_splits is None:
        eval_splits = ("val", "test") if with_val else ("test",)
    state = _new_state(configs, splits, backend)
    members = [PackMember(state, i) for i in range(len(configs))]
    stoppers = [EarlyStopping(m, c.monitor, c.patience) if with_val else None
                for m, c in zip(members, configs, strict=True)]
    histories = [History() for _ in configs]
    active = list(range(len(configs)))
    try:
        for epoch in range(configs[0].epochs):
            active = _epoch(state, configs, members, stoppers, histories, active, epoch,
                            tuple(eval_splits))
            if not active:
                break
    except KeyboardInterrupt as exc:
        who = "by SIGTERM" if isinstance(exc, Terminated) else "by the user"
        for i in active:
            histories[i].status = Status.INTERRUPTED
            histories[i].message = (
                f"interrupted {who} after {len(histories[i])} finished epoch(s); the "
                "weights of the last finished epoch were kept")
    for stopper, history in zip(stoppers, histories, strict=True):
        if stopper is not None:
            stopper.finish(history)
    return [FitResult(m, h, s) for m, h, s in zip(members, histories, stoppers, strict=True)]


def _new_state(configs: Sequence[TrainConfig], splits: dict[str, Split],
               backend: PackedBackend) -> _PackState:
    std = splits["train"].standardizer
    K = len(configs)
    shape = splits_shape(splits)
    W = np.empty((K, *shape.weights), dtype=np.float32)  # (K, C, D)
    b = np.empty((K, shape.classes), dtype=np.float32)
    for i, c in enumerate(configs):  # as fit(): drawn for the inputs the pack trains on
        Wi, bi = initial_params(c.seed, c.init_std, shape)
        W[i], b[i] = std.start(Wi, bi) if std else (Wi, bi)
    data = {name: backend.put_data(s.X, s.y) for name, s in splits.items()}
    return _PackState(backend, data, std, W, b, shape)


def _folded_overflow(state: _PackState, W: npt.NDArray[np.float32],
                     b: npt.NDArray[np.float32]) -> str | None:
    """What of a member's finite trained weights overflows float32 once folded back to raw
    inputs (no checkpoint could hold them), or None."""
    std = state.standardizer
    if std is None or state.shape is None or not (np.isfinite(W).all() and np.isfinite(b).all()):
        return None
    return std.overflow(W, b, state.shape)


def _epoch(state: _PackState, configs: Sequence[TrainConfig], members: list[PackMember],
           stoppers: list[EarlyStopping | None], histories: list[History], active: list[int],
           epoch: int, eval_splits: tuple[str, ...]) -> list[int]:
    """Train epoch ``epoch`` of the ``active`` models; return those still training."""
    backend, train = state.backend, state.data["train"]
    slots = layout([configs[i].seed for i in active])  # indices into active
    idx = np.where(slots >= 0, np.array(active)[np.maximum(slots, 0)], -1)  # (G, k) models
    pad = idx < 0
    backend.set_pack(np.where(pad[..., None, None], 0, state.W[idx]),
                     np.where(pad[..., None], 0, state.b[idx]))
    n = train.num_examples
    orders = np.stack([epoch_order(configs[row[0]].seed, epoch, n) for row in idx])
    lrs = np.array([[configs[i].lr_at(epoch) if i >= 0 else 0.0 for i in row] for row in idx])
    wds = np.array([[configs[i].weight_decay if i >= 0 else 0.0 for i in row] for row in idx])
    t0 = time.perf_counter()
    handles = [backend.train_pack_epoch(train, orders, configs[active[0]].batch_size, lrs, wds)]
    handles += [backend.evaluate_pack(state.data[s]) for s in eval_splits]
    totals = backend.pack_totals(handles)
    Wp, bp = backend.get_pack()
    seconds = (time.perf_counter() - t0) / len(active)
    still = []
    for (g, j), i in np.ndenumerate(idx):
        if i < 0:
            continue
        cfg, hist, tr = configs[i], histories[i], totals[0].model(g, j)
        limit = cfg.max_loss_for(state.W.shape[1])
        if diverged(tr.mean_loss, limit):
            members[i].restore(members[i].snapshot())  # as run_epochs puts back its snapshot
            hist.status = Status.DIVERGED
            hist.message = divergence_message(epoch, tr.mean_loss, limit,
                                              f"the weights of epoch {epoch} were kept")
            continue
        overflow = _folded_overflow(state, Wp[g, j], bp[g, j])
        if overflow is not None:  # as a lone run's snapshot refuses them (LinearTrainer)
            hist.status = Status.DIVERGED
            hist.message = (f"training diverged in epoch {epoch + 1}: {overflow}; the weights "
                            f"of epoch {epoch} were kept. {OVERFLOW_ADVICE}")
            continue
        state.W[i], state.b[i] = Wp[g, j], bp[g, j]
        rec = EpochRecord(epoch=epoch + 1, train_loss=tr.mean_loss, train_acc=tr.accuracy,
                          lr=cfg.lr_at(epoch), seconds=seconds)
        for split, tot in zip(eval_splits, totals[1:], strict=True):
            ev = tot.model(g, j)
            setattr(rec, f"{split}_loss", ev.mean_loss)
            setattr(rec, f"{split}_acc", ev.accuracy)
        hist.records.append(rec)
        stopper = stoppers[i]
        if stopper is not None and stopper(rec, hist):
            hist.status = Status.EARLY_STOPPED
            continue
        still.append(i)
    state.final.clear()
    return sorted(still)
