"""The shared integer rule, the setting declarations, and the flags built from them."""

from __future__ import annotations

import argparse
from dataclasses import fields

import numpy as np
import pytest

from softreg.cli.settings import add_axis_flags, add_setting, setting
from softreg.core.config import SWEEP_AXES, TrainConfig, check_setting
from softreg.core.errors import ConfigError
from softreg.core.validate import check_int, is_int


@pytest.mark.parametrize(("value", "ok"), [(0, True), (3, True), (-1, False), (True, False),
                                           (1.0, False), ("1", False), (np.int64(2), False)])
def test_is_int(value, ok):
    assert is_int(value, 0) is ok


def test_is_int_numpy_ok_takes_numpy_integers_but_not_bools():
    assert is_int(np.int64(2), 0, numpy_ok=True)
    assert not is_int(np.int64(-1), 0, numpy_ok=True)
    assert not is_int(np.bool_(True), 0, numpy_ok=True)


def test_check_int_message_with_and_without_hint():
    with pytest.raises(ConfigError, match=r"^n must be an integer >= 1, got 0; use 1 or more$"):
        check_int(0, "n", 1, "use 1 or more")
    with pytest.raises(ConfigError, match=r"^n must be an integer >= 1, got 2\.5$"):
        check_int(2.5, "n", 1)
    check_int(1, "n", 1)


def test_every_field_declares_a_setting_with_one_rule_or_a_conversion():
    for f in fields(TrainConfig):
        declared = setting(f.name)
        rules = [declared.minimum is not None, bool(declared.choices), declared.check is not None]
        assert sum(rules) + (declared.convert is not None) == 1, f.name
        assert declared.describe(), f.name


def test_sweep_axes_are_exactly_the_settings_with_axis_help():
    assert {f.name for f in fields(TrainConfig) if setting(f.name).axis} == set(SWEEP_AXES)


def test_check_setting_gives_the_config_message():
    with pytest.raises(ConfigError, match=r"^batch_size must be an integer >= 1, got 0; use a "
                       r"batch size of at least 1, e\.g\. 256$"):
        check_setting("batch_size", 0)
    with pytest.raises(ConfigError, match="unknown framework"):
        check_setting("framework", "caffe")
    check_setting("framework", "tf")  # an alias is converted first


def test_generated_flag_type_default_and_help():
    p = argparse.ArgumentParser()
    add_setting(p, "batch_size", default=None)
    add_setting(p, "max_loss", default=50.0, note="; a note")
    add_setting(p, "seed")
    add_axis_flags(p, ("lr",))
    args = p.parse_args(["--batch-size", "64", "--lr", "0.1,1"])
    assert (args.batch_size, args.max_loss, args.seed, args.axis_lr) == (64, 50.0, 0, "0.1,1")
    assert p.parse_args([]).batch_size is None  # not given stays None (train's --resume)
    assert p.parse_args(["--seed", "3"]).seed == 3
    text = " ".join(p.format_help().split())
    assert "minibatch size [256]" in text
    assert "stops the run as diverged [50]; a note" in text
    assert "learning rates, e.g. 0.01,0.03,0.1,0.3,1 [0.1]" in text
