"""How a sweep chooses (softreg.sweeps.selection): the criterion, the mean over seeds, ties."""

import json
import math
import random

import pytest

from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.sweeps.search import SearchSpace
from softreg.sweeps.selection import criterion, describe, heatmap_grid, select
from softreg.sweeps.sweep import _sorted_rows, run_sweep


def _row(key, lr, seed, val_loss, val_acc, status="completed", batch_size=32):
    return {"key": key, "setting": f"lr {lr} batch {batch_size}", "framework": "numpy",
            "lr": lr, "batch_size": batch_size, "epochs": 2, "weight_decay": 0.0, "seed": seed,
            "lr_schedule": "constant", "standardize": False, "val_split": 0.2, "patience": 0,
            "status": status, "val_loss": val_loss, "val_acc": val_acc,
            "test_acc": 1.0 - val_acc}


ROWS = [
    _row("a0", 0.1, 0, 0.30, 0.90), _row("a1", 0.1, 1, 0.50, 0.80),  # mean 0.40, a lucky seed
    _row("b0", 0.3, 0, 0.40, 0.86), _row("b1", 0.3, 1, 0.35, 0.87),  # mean 0.375
    _row("c0", 1.0, 0, 0.10, 0.95), _row("c1", 1.0, 1, math.nan, math.nan, "diverged"),
]


def test_a_setting_is_chosen_on_its_mean_over_seeds_not_a_lucky_seed():
    best, info = select(ROWS)
    assert best["key"] == "b1"  # the setting lr 0.3 (mean 0.375), its better seed
    assert info == {"criterion": "val_loss", "label": "validation loss", "value": 0.375,
                    "seeds": 2}
    assert describe(info) == "validation loss 0.3750 (mean over 2 seeds)"
    best, info = select(ROWS, "val_acc")  # means: a 0.85, b 0.865; c has a diverged seed
    assert best["key"] == "b1" and info["value"] == pytest.approx(0.865)


def test_ties_and_row_order_do_not_change_the_choice_or_the_table():
    rows = [_row(k, lr, 0, 0.25, 0.9) for k, lr in (("x", 0.1), ("y", 0.2), ("z", 0.3))]
    rows += [_row(r["key"] + "!", r["lr"], 0, 0.25, 0.9, batch_size=64) for r in rows]
    first = _sorted_rows(rows)
    shuffled = rows[:]
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert select(shuffled)[0] == select(rows)[0]
        assert [r["key"] for r in _sorted_rows(shuffled)] == [r["key"] for r in first]


def test_the_table_lists_the_chosen_setting_first_and_the_unselectable_last():
    keys = [r["key"] for r in _sorted_rows(ROWS)]
    assert keys[:2] == ["b1", "b0"] and keys[-1] == "c1"


def test_an_unknown_criterion_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"--select must be one of val_loss, val_acc, got "
                                          r"'test_acc'"):
        criterion("test_acc")
    space = SearchSpace(base=TrainConfig(framework="numpy", val_split=0.2), axes={})
    with pytest.raises(ConfigError, match="--select must be one of"):
        run_sweep(space, tmp_path / "sw", select="test_acc", quiet=True)
    assert not (tmp_path / "sw").exists()


def test_the_heat_map_shows_the_criterion_of_each_cell():
    lrs, batches, values, diverged = heatmap_grid(ROWS, "val_loss")
    assert lrs == [0.1, 0.3, 1.0] and batches == [32]
    assert values[:2, 0].tolist() == [pytest.approx(0.40), pytest.approx(0.375)]
    assert math.isnan(values[2, 0]) and not diverged[2, 0]  # one seed finished, one diverged


@pytest.mark.slow
def test_select_flag_reaches_best_json_and_the_summary(tmp_path, fake_fashion, capsys):
    args = ["sweep", "--framework", "numpy", "--epochs", "1", "--lr", "0.02,0.1", "--seed",
            "0,1", "--batch-size", "32", "--val-split", "0.2", "--offline", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "acc"), "--select", "val_acc"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "acc" / "best.json").read_text())
    assert saved["select"]["criterion"] == "val_acc" and saved["select"]["seeds"] == 2
    assert f"best by validation accuracy {saved['select']['value']:.4f} (mean over 2 seeds)" \
        in out
    assert (tmp_path / "acc" / "heatmap.png").is_file()
    assert main([*args, "--out", str(tmp_path / "loss"), "--no-figures"]) == 0
    saved = json.loads((tmp_path / "loss" / "best.json").read_text())
    assert saved["select"]["criterion"] == "val_loss"
    assert "best by validation loss" in capsys.readouterr().out
