import json
import math

import pytest

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError


def test_defaults_are_the_chapter():
    c = TrainConfig()
    assert (c.framework, c.batch_size, c.lr, c.epochs, c.init_std) == ("torch", 256, 0.1, 10, 0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, r"lr must be a finite number > 0, got 0.0"),
        ({"lr": -0.1}, r"lr must be a finite number > 0, got -0.1"),
        ({"lr": math.nan}, r"lr must be a finite number > 0, got nan"),
        ({"lr": math.inf}, r"lr must be a finite number > 0, got inf"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2.5"),
        ({"epochs": -1}, r"epochs must be an integer >= 0, got -1"),
        ({"framework": "caffe"}, r"unknown framework 'caffe'; choose one of"),
        ({"device": "tpu"}, r"unknown device 'tpu'; choose one of: auto, cpu, cuda"),
        ({"lr_schedule": "linear"}, r"unknown lr_schedule 'linear'"),
        ({"val_split": 1.0}, r"val_split must be in \[0, 1\), got 1.0"),
        ({"weight_decay": -1.0},
         r"weight_decay must be finite and >= 0, got -1.0; use 0 \(off\) or a small penalty"),
        ({"patience": 3}, r"early stopping \(patience > 0\) needs a validation split"),
        ({"monitor": "test_acc"}, r"unknown monitor 'test_acc'"),
        ({"val_seed": -1}, r"val_seed must be an integer >= 0, got -1; use a non-negative seed"),
        ({"val_seed": 1.5}, r"val_seed must be an integer >= 0, got 1.5"),
        ({"val_seed": True}, r"val_seed must be an integer >= 0, got True"),
    ],
)
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_aliases_are_canonicalised_and_roundtrip():
    c = TrainConfig(framework="tf")
    assert c.framework == "tensorflow"
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="unknown configuration keys"):
        TrainConfig.from_dict({**c.to_dict(), "momentum": 0.9})


def test_lr_schedules():
    cos = TrainConfig(lr=1.0, epochs=10, lr_schedule="cosine")
    assert cos.lr_at(0) == 1.0 and cos.lr_at(5) == pytest.approx(0.5)
    assert cos.lr_at(9) < 0.03
    step = TrainConfig(lr=1.0, epochs=8, lr_schedule="step")
    assert [step.lr_at(e) for e in (0, 3, 4, 5, 6, 7)] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    assert TrainConfig(lr=0.3).lr_at(7) == 0.3


def test_val_seed_is_saved_and_older_configs_keep_their_split():
    c = TrainConfig(seed=4, val_seed=2, val_split=0.1)
    assert c.to_dict()["val_seed"] == 2 and TrainConfig.from_dict(c.to_dict()) == c
    # written before val_seed existed: the split was drawn with the training seed
    old = {k: v for k, v in c.to_dict().items() if k != "val_seed"}
    assert TrainConfig.from_dict(old).val_seed == 4
    assert TrainConfig().val_seed == 0


def test_the_default_max_loss_is_100_ln_c_and_a_value_given_is_kept():
    number = 100 * math.log(10)  # the default's number, and what --help showed as the default
    default, given = TrainConfig(), TrainConfig(max_loss=number)
    assert default.max_loss_for(3) == 100 * math.log(3) and given.max_loss_for(3) == number
    assert default.max_loss_for(10) == given.max_loss_for(10) == number
    assert default != given and hash(default) != hash(given)
    for c in (default, given, TrainConfig(max_loss=50.0)):
        for form in (c.to_dict(), c.record()):
            assert TrainConfig.from_dict(json.loads(json.dumps(form))) == c
        assert TrainConfig(**c.to_dict()) == c
    assert default.record()["max_loss"] == "100 ln C" and given.record()["max_loss"] != number
    # config.json and checkpoints of an earlier softreg wrote the default as its number
    assert TrainConfig.from_dict({**default.to_dict(), "max_loss": number}) == default
    with pytest.raises(ConfigError, match="max_loss must be"):
        TrainConfig(max_loss="100 ln 3")


def test_the_keys_of_existing_sweep_folders_stay():
    """A sweep folder names its configurations by key: a key that changed would train every
    configuration of an earlier sweep again (the keys softreg gave before the max_loss fix)."""
    from softreg.sweeps.search import config_key, setting_key

    assert config_key(TrainConfig()) == "37eff21a37e8"
    assert setting_key(TrainConfig()) == "2eb0f48ef71c"
    assert config_key(TrainConfig(max_loss=50.0)) == "c9ac738189af"
    assert config_key(TrainConfig(data="sklearn:iris", lr=0.5)) == "bfa224f5b130"
    given = TrainConfig(max_loss=100 * math.log(10))
    assert config_key(given) != config_key(TrainConfig())
    assert setting_key(given) != setting_key(TrainConfig())
