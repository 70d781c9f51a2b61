"""Packed training (softreg.fitting.pack, softreg.fitting.pack_plan): a model trained in a pack is
the model
trained alone, bit for bit: the same weights, metrics and statuses, whatever its companions
(learning rates, weight decays, seeds, batch sizes, the pack's size), also at lr 1 on raw
pixels where SGD is chaotic and any rounding difference would grow within an epoch.
"""

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest

import softreg
from conftest import need
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.fitting.pack import layout, train_pack
from softreg.fitting.pack_plan import fit_many, pack_bytes, plan_packs
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import fit

BASE = TrainConfig(framework="numpy", epochs=4, batch_size=32, lr=0.05, device="cpu",
                   val_split=0.2)
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr")


def _framework(name):
    if name == "torch":
        torch = need("torch")
        torch.set_num_threads(1)
    return name


def _rel(a, b):
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-30))


def _mixed(framework):
    """lr, weight decay, schedules, seeds, standardisation off; one diverging, early stopping."""
    base = replace(BASE, framework=framework)
    return [
        base,
        replace(base, lr=0.1, weight_decay=1e-3),
        replace(base, lr=0.02, lr_schedule="cosine", seed=1),
        replace(base, lr=0.08, lr_schedule="step", seed=2, weight_decay=1e-4),
        replace(base, lr=1e4, seed=1),  # diverges in its first epoch
        replace(base, lr=0.05, seed=2, patience=1, init_std=0.05),
    ]


def _assert_same_run(packed, alone):
    """The same run bit for bit: statuses, every epoch's metrics, weights, final totals."""
    hp, ha = packed.history, alone.history
    assert (hp.status, len(hp), packed.model_epoch) == (ha.status, len(ha), alone.model_epoch)
    assert hp.message == ha.message
    for rp, ra in zip(hp.records, ha.records, strict=True):
        for name in METRICS:
            a, b = getattr(rp, name), getattr(ra, name)
            assert (math.isnan(a) and math.isnan(b)) or a == b, name
    for p, a in zip(packed.trainer.snapshot(), alone.trainer.snapshot(), strict=True):
        np.testing.assert_array_equal(p, a)
    for split in ("val", "test"):
        assert packed.trainer.evaluate(split) == alone.trainer.evaluate(split)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_pack_of_one_is_the_ordinary_trainer_bit_for_bit(noisy_fashion, framework):
    config = replace(BASE, framework=_framework(framework), patience=2, standardize=True,
                     lr_schedule="cosine", weight_decay=1e-3)
    splits = prepare_splits(config)
    (packed,), alone = fit_many([config], splits), fit(config, splits)
    np.testing.assert_array_equal(packed.trainer.snapshot()[0], alone.trainer.snapshot()[0])
    np.testing.assert_array_equal(packed.trainer.snapshot()[1], alone.trainer.snapshot()[1])
    assert packed.history.status == alone.history.status
    assert packed.history.message == alone.history.message
    for rp, ra in zip(packed.history.records, alone.history.records, strict=True):
        assert [getattr(rp, n) for n in METRICS] == [getattr(ra, n) for n in METRICS]
    assert packed.trainer.evaluate("test") == alone.trainer.evaluate("test")


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_a_mixed_pack_matches_each_model_trained_alone(noisy_fashion, framework):
    configs = _mixed(_framework(framework))
    splits = prepare_splits(configs[0])
    packed = fit_many(configs, splits)
    alone = [fit(c, splits) for c in configs]
    statuses = [r.history.status for r in packed]
    assert statuses.count("diverged") == 1 and statuses.count("early_stopped") == 1
    assert len(packed[4].history) == 0  # diverged in epoch 1, as alone
    assert "training diverged in epoch 1" in packed[4].history.message
    for p, a in zip(packed, alone, strict=True):
        _assert_same_run(p, a)


def test_one_model_does_not_change_another(noisy_fashion):
    """Bit for bit, though the pack's layout changes with its companions."""
    configs = _mixed("numpy")
    splits = prepare_splits(configs[0])
    full = fit_many(configs, splits)
    without = fit_many([configs[0], configs[2]], splits)  # no diverging, no early stopping
    for p, q in zip((full[0], full[2]), without, strict=True):
        _assert_same_run(p, q)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_a_model_is_the_same_alone_in_a_pack_of_two_and_of_sixteen(fake_fashion, framework):
    """Weights after 3 epochs bit-identical alone, in a pack of 2 and among 16 of mixed lr,
    weight decay, seed and batch size, for a model at lr 1 (chaotic on raw pixels) and one
    whose last step has a single example (480 training examples, batch 479)."""
    base = replace(BASE, framework=_framework(framework), epochs=3, val_split=0.2)
    chaotic = replace(base, lr=1.0, weight_decay=1e-3, seed=3)
    single_step = replace(base, lr=0.3, batch_size=479, seed=1)
    others = [replace(base, lr=lr, weight_decay=wd, seed=seed, batch_size=batch)
              for lr, wd, seed, batch in [
                  (0.01, 0.0, 0, 32), (0.1, 1e-4, 1, 32), (0.3, 0.0, 3, 32), (1.0, 0.0, 2, 32),
                  (0.05, 1e-2, 4, 32), (0.03, 0.0, 3, 32), (0.1, 0.0, 5, 32), (2.0, 0.0, 6, 32),
                  (0.1, 1e-3, 0, 479), (1.0, 0.0, 1, 479), (0.02, 0.0, 2, 479),
                  (0.1, 0.0, 0, 64), (0.3, 1e-3, 1, 64), (1.0, 0.0, 0, 50)]]
    splits = prepare_splits(base)
    mixed = [*others, chaotic, single_step]  # 16, in packs by batch size
    one_pack = [replace(c, batch_size=32) for c in [*others, single_step]] + [chaotic]
    assert len(plan_packs(one_pack)) == 1 and len(one_pack) == 16
    for target in (chaotic, single_step):
        alone = fit(target, splits)
        mate = next(c for c in others if c.batch_size == target.batch_size)
        runs = [fit_many([target], splits)[0], fit_many([mate, target], splits)[1],
                fit_many(mixed, splits)[mixed.index(target)]]
        if target is chaotic:
            runs.append(fit_many(one_pack, splits)[one_pack.index(target)])
        for packed in runs:
            _assert_same_run(packed, alone)


def test_standardised_pack_and_seed_groups_match(fake_fashion):
    base = replace(BASE, standardize=True, lr=0.02)
    configs = [replace(base, seed=s, lr=lr) for s in range(3) for lr in (0.01, 0.02)]
    configs.append(replace(base, seed=7))  # a lone seed: its group is padded
    splits = prepare_splits(base)
    for p, c in zip(fit_many(configs, splits), configs, strict=True):
        _assert_same_run(p, fit(c, splits))


def test_layout_groups_by_seed_and_wastes_few_slots():
    np.testing.assert_array_equal(layout([0, 1, 0, 1]), [[0, 2], [1, 3]])
    slots = layout([0] * 15 + list(range(1, 16)))  # one big seed group, 15 lone seeds
    assert slots.shape == (30, 1)  # k = 1: no padding at all
    assert layout([5, 5, 5])[0].tolist() == [0, 1, 2]
    assert (layout([0, 0, 0, 1, 1]) == -1).sum() == 1


def test_packs_are_split_by_memory_and_count_and_grouped_by_what_they_share():
    configs = [replace(BASE, lr=lr, seed=s, batch_size=bs)
               for bs in (32, 64) for lr in (0.01, 0.1) for s in (0, 1, 2)]
    packs = plan_packs(configs)
    assert sorted(len(p) for p in packs) == [6, 6]
    for p in packs:
        assert len({configs[i].batch_size for i in p}) == 1
    assert max(len(p) for p in plan_packs(configs, max_models=4)) == 4
    budget = pack_bytes(3, 3, 64)
    small = plan_packs(configs, memory=budget)
    assert len(small) > 2 and sorted(i for p in small for i in p) == list(range(12))
    for p in small:
        seeds = len({configs[i].seed for i in p})
        assert pack_bytes(len(p), seeds, configs[p[0]].batch_size) <= budget


def test_a_pack_that_would_not_fit_is_split_with_the_same_results(fake_fashion):
    configs = [replace(BASE, lr=lr, seed=s) for lr in (0.02, 0.05) for s in (0, 1)]
    splits = prepare_splits(BASE)
    whole = fit_many(configs, splits)
    split = fit_many(configs, splits, pack_memory=pack_bytes(1, 1, 32))  # one model a pack
    for config, a, b in zip(configs, whole, split, strict=True):
        _assert_same_run(a, b)
        alone = fit(config, splits)  # a pack of one is the model trained alone, bit for bit
        np.testing.assert_array_equal(b.trainer.snapshot()[0], alone.trainer.snapshot()[0])


def test_fit_many_prepares_each_data_setting_and_keeps_the_order(fake_fashion):
    configs = [replace(BASE, standardize=True), replace(BASE, batch_size=64), BASE]
    results = fit_many(configs)
    for c, r in zip(configs, results, strict=True):
        _assert_same_run(r, fit(c, prepare_splits(c)))


def test_bad_pack_settings_are_refused():
    with pytest.raises(ConfigError, match=r"the most models a pack holds must be an integer "
                       r">= 1, got 0; use e.g. --pack 64, or --no-pack"):
        plan_packs([BASE], max_models=0)
    with pytest.raises(ConfigError, match=r"a pack memory budget of 1 MiB does not hold even one "
                       r"model of batch size 32 and shape \(10, 784\) \(about 65 MiB\); raise "
                       r"--pack-memory"):
        plan_packs([BASE], memory=2**20)
    with pytest.raises(ConfigError, match="a pack needs at least one configuration"):
        train_pack([], {}, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"the models of one pack must share framework, device, "
                       r"batch_size, epochs, val_split, val_seed, standardize; got 2"):
        train_pack([BASE, replace(BASE, batch_size=8)], {}, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="splits given to fit_many serve one data setting"):
        fit_many([BASE, replace(BASE, standardize=True)], {})


def test_evaluating_a_split_the_pack_does_not_have(fake_fashion):
    config = replace(BASE, epochs=1, val_split=0.0)
    (result,) = fit_many([config], prepare_splits(config))
    with pytest.raises(ConfigError, match=r"no split 'val' in this pack; it has: test, train"):
        result.trainer.evaluate("val")


def test_pack_backend_input_checks():
    from softreg.backends.numpy_backend import NumpyBackend

    be = NumpyBackend()
    with pytest.raises(ConfigError, match=r"pack parameters must be W \(G, k, C, D\) and b "
                       r"\(G, k, C\) with G, k, C, D >= 1, got W \(2, 10, 784\)"):
        be.set_pack(np.zeros((2, 10, 784)), np.zeros((2, 10)))
    with pytest.raises(ConfigError, match=r"pack parameters must be W \(G, k, C, D\) and b "
                       r"\(G, k, C\) with G, k, C, D >= 1, got W \(2, 3, 10, 784\) and b "
                       r"\(2, 3, 9\)"):
        be.set_pack(np.zeros((2, 3, 10, 784)), np.zeros((2, 3, 9)))
    be.set_pack(np.zeros((2, 3, 10, 784)), np.zeros((2, 3, 10)))
    data = be.put_data(np.zeros((8, 784), np.float32), np.zeros(8, np.int64))
    rates = np.full((2, 3), 0.1)
    with pytest.raises(ConfigError, match=r"orders must be a \(G, N\) array with G = 2 order "
                       r"groups, got shape \(8,\)"):
        be.train_pack_epoch(data, np.arange(8), 4, rates, rates)
    orders = np.stack([np.arange(8)] * 2)
    with pytest.raises(ConfigError, match=r"lrs must be a \(2, 3\) array of finite numbers >= 0, "
                       r"got shape \(3,\)"):
        be.train_pack_epoch(data, orders, 4, rates[0], rates)
    with pytest.raises(ConfigError, match=r"weight_decays must be a \(2, 3\) array of finite"):
        be.train_pack_epoch(data, orders, 4, rates, -rates)


def test_frameworks_without_a_packed_kernel_train_one_at_a_time(fake_fashion):
    import softreg.backends.one_at_a_time as one
    from softreg.backends.numpy_backend import NumpyBackend

    configs = _mixed("numpy")[:4]
    splits = prepare_splits(configs[0])
    one._TOLD.discard("numpy")
    with pytest.warns(UserWarning, match="numpy has no packed kernel: a pack trains its models "
                      "one at a time"):
        slow = train_pack(configs, splits, one.OneAtATime(NumpyBackend()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per process
        train_pack(configs[:2], splits, one.OneAtATime(NumpyBackend()))
    for s, c in zip(slow, configs, strict=True):
        _assert_same_run(s, fit(c, splits))


def test_fit_many_is_a_lazy_attribute_of_the_package():
    assert softreg.fit_many is fit_many
    with pytest.raises(AttributeError, match="module 'softreg' has no attribute 'nothing'"):
        softreg.nothing  # noqa: B018


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_real_data_ten_epochs_parity(real_data, framework):
    base = TrainConfig(framework=_framework(framework), device="cpu", val_split=0.1)
    configs = [base, replace(base, lr=0.05, weight_decay=1e-3, seed=1),
               replace(base, lr=0.2, lr_schedule="cosine", seed=1),
               replace(base, standardize=False, lr=0.03, lr_schedule="step", seed=2)]
    splits = prepare_splits(base, offline=True)
    for p, c in zip(fit_many(configs, splits), configs, strict=True):
        _assert_same_run(p, fit(c, splits))


def _assert_close_run(packed, alone, rtol):
    """The same run up to ``rtol`` (a GPU's products round otherwise than the CPU's)."""
    hp, ha = packed.history, alone.history
    assert (hp.status, len(hp), packed.model_epoch) == (ha.status, len(ha), alone.model_epoch)
    for rp, ra in zip(hp.records, ha.records, strict=True):
        for name in METRICS:
            a, b = getattr(rp, name), getattr(ra, name)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rtol, abs=1e-7)
    (Wp, bp), (Wa, ba) = packed.trainer.snapshot(), alone.trainer.snapshot()
    assert _rel(Wp, Wa) <= rtol and _rel(bp, ba) <= max(rtol, 1e-6)


def _cuda():
    torch = need("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 products, as on the CPU
    return torch


@pytest.mark.cuda
def test_cuda_pack_matches_the_cpu_and_each_model_alone(noisy_fashion):
    _cuda()
    configs = [replace(c, framework="torch", device="cuda") for c in _mixed("torch")]
    splits = prepare_splits(configs[0])
    packed = fit_many(configs, splits)
    for p, c in zip(packed, configs, strict=True):
        _assert_close_run(p, fit(c, splits), rtol=1e-4)
        _assert_close_run(p, fit(replace(c, device="cpu"), splits), rtol=1e-4)


@pytest.mark.cuda
def test_cuda_backend_data_stays_on_the_device(fake_fashion):
    torch = _cuda()
    from softreg.backends.torch_backend import TorchBackend

    be = TorchBackend("cuda")
    config = replace(BASE, framework="torch", device="cuda")
    splits = prepare_splits(config)
    data = be.put_data(splits["train"].X, splits["train"].y)
    assert data.X.device.type == "cuda" and be.W.device.type == "cuda"
    (result,) = fit_many([config, replace(config, lr=0.1)], splits)[:1]
    assert result.history.status == "completed" and torch.cuda.is_available()


def test_fit_many_trains_data_of_other_shapes_and_refuses_splits_of_other_data():
    """Configurations on iris (4 features) and digits (64): the second data setting got the
    first's packed backend, which kept iris' shape ("the weights W (10, 64) take 64"); splits
    prepared from iris served digits' configurations in silence."""
    need("sklearn")
    iris = TrainConfig(data="sklearn:iris", framework="numpy", device="cpu", epochs=1,
                       val_split=0.2)
    digits = replace(iris, data="sklearn:digits", val_split=0.0)
    results = fit_many([iris, digits], offline=True)
    assert [r.trainer.snapshot()[0].shape for r in results] == [(3, 4), (10, 64)]
    with pytest.raises(ConfigError, match="prepared from sklearn:iris, and the configurations "
                                          "train on sklearn:digits"):
        fit_many([replace(digits, val_split=0.2)], prepare_splits(iris, offline=True))
    with pytest.raises(ConfigError, match=r"have a validation split, and the configurations' "
                                          r"val_split is 0\.0"):
        fit_many([digits], prepare_splits(replace(digits, val_split=0.2), offline=True))
