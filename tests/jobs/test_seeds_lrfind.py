"""softreg train --seeds and softreg lr-find: packs of seeds and of learning rates."""

import json
import math
from dataclasses import replace

import pytest

from conftest import need
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import fit
from softreg.jobs.lrfind import LrFind, _suggest, check_range, format_lr_find, lr_find
from softreg.jobs.seeds import format_seeds, parse_seeds, spread, train_seeds

BASE = TrainConfig(framework="numpy", epochs=2, batch_size=32, lr=0.05, device="cpu",
                   val_split=0.2)


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert len(parse_seeds("0-600,0-600,300-999")) == 1000  # distinct seeds are counted
    with pytest.raises(ConfigError, match="the number of --seeds"):
        parse_seeds("0-600,601-1000")
    assert parse_seeds("0-2,7, 1") == [0, 1, 2, 7]
    assert parse_seeds("5") == [5]


@pytest.mark.parametrize(("text", "message"), [
    ("5-2", "--seeds: '5-2' is a descending range; write it low-high, e.g. 2-5"),
    ("x", "--seeds: cannot read 'x' as a seed or a range lo-hi; write e.g. 0-15 or 0,1,2"),
    ("1,,2", "--seeds: cannot read '' as a seed or a range lo-hi"),
    ("-1", "--seeds: cannot read '-1' as a seed or a range lo-hi"),
    ("0--3", "--seeds: seeds are >= 0, got -3 in '0--3'; write e.g. 0-15"),  # (it advised -3-0)
])
def test_bad_seeds_are_refused(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_seeds(text)


def test_seeds_train_as_one_pack_with_their_spread(tmp_path, fake_fashion):
    rows, summary = train_seeds(BASE, [0, 1, 2], tmp_path, figures=False)
    splits = prepare_splits(BASE)
    alone = fit(replace(BASE, seed=2), splits)
    assert rows[2]["test_acc"] == alone.trainer.evaluate("test").accuracy
    accs = [r["test_acc"] for r in rows]
    mean = sum(accs) / 3
    assert summary["spread"]["test_acc"]["mean"] == pytest.approx(mean)
    sd = math.sqrt(sum((a - mean) ** 2 for a in accs) / 2)
    assert summary["spread"]["test_acc"]["sd"] == pytest.approx(sd)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["seeds"] == [0, 1, 2]
    assert (tmp_path / "seeds.csv").read_text().splitlines()[0].startswith("seed,status")


def test_spread_skips_missing_values_and_seeds_that_did_not_train():
    """A diverged seed keeps its last good model (often its first weights): its test accuracy
    weighed in the mean (0.78 ± 0.37 over 6 seeds beside the training metrics' 5)."""
    metrics = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    rows = [{"status": status, **{m: v for m in metrics}} for status, v in (
        ("completed", 0.5), ("completed", math.nan), ("diverged", 0.03),
        ("interrupted", 0.04))]
    s = spread(rows)
    assert s["test_acc"] == {"mean": 0.5, "sd": s["test_acc"]["sd"], "n": 1}
    assert math.isnan(s["test_acc"]["sd"])
    shown = format_seeds([{"seed": i, **r} for i, r in enumerate(rows)], {"spread": s})
    assert "left out of the mean ± sd: seed(s) 2, 3, which did not train to the end" in shown


def test_train_seeds_cli(tmp_path, fake_fashion, capsys):
    code = main(["train", "--seeds", "0-1", "--framework", "numpy", "--epochs", "1",
                 "--batch-size", "32", "--out", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert code == 0 and "test_acc: " in out and "(mean ± sd over 2 seeds)" in out
    assert (tmp_path / "s" / "curves.png").is_file()


@pytest.mark.parametrize(("flags", "message"), [
    (["--seeds", "5-2"], "--seeds: '5-2' is a descending range"),
    (["--seeds", "x"], "--seeds: cannot read 'x'"),
    (["--seeds", "0-3", "--seed", "1"], "--seeds trains one model per seed; --seed cannot go "
                                        "with it (drop one of the two)"),
])
def test_bad_seed_flags_are_one_line_before_any_work(tmp_path, capsys, flags, message):
    code = main(["train", "--framework", "numpy", "--out", str(tmp_path / "s"), *flags])
    err = capsys.readouterr()
    assert code == 2 and message in err.err and len(err.err.strip().splitlines()) == 1
    assert err.out == "" and not (tmp_path / "s").exists()


def test_lr_find_trains_one_pack_and_suggests_the_lowest_loss(fake_fashion):
    result = lr_find(replace(BASE, epochs=1), 1e-3, 1e5, 9)
    assert len(result.lrs) == 9 and result.lrs[0] == pytest.approx(1e-3)
    assert math.isnan(result.losses[-1])  # 1e5 diverges
    finite = [v for v in result.losses if math.isfinite(v)]
    assert result.losses[result.lrs.index(result.suggested)] == min(finite)
    assert result.how.startswith(f"chose lr {result.suggested:.3g}: the lowest val loss")
    text = format_lr_find(result)
    assert "<- suggested" in text and "diverged" in text


def test_lr_find_explains_edge_cases():
    lr, how = _suggest([0.1, 1.0], [0.5, 0.4], "val_loss", 1)
    assert lr == 1.0 and "it is the largest rate tried" in how
    lr, how = _suggest([0.1, 1.0], [math.nan, math.nan], "val_loss", 1)
    assert lr is None and how.startswith("every learning rate from 0.1 to 1 diverged")
    assert format_lr_find(LrFind([0.1], [math.nan], "val_loss", None, how)).count("diverged") == 2


@pytest.mark.parametrize(("lo", "hi", "num", "message"), [
    (1.0, 0.1, 8, "lr-find needs 0 < --min-lr < --max-lr, got 1 and 0.1"),
    (0.0, 1.0, 8, "lr-find needs 0 < --min-lr < --max-lr, got 0 and 1"),
    (0.1, 1.0, 1, "lr-find needs --num >= 2 learning rates, got 1"),
])
def test_bad_lr_ranges_are_refused(lo, hi, num, message):
    with pytest.raises(ConfigError, match=message):
        check_range(lo, hi, num)


@pytest.mark.parametrize(("lo", "hi", "message"), [
    (1.0, 1e300, r"--max-lr 1e\+300 is inf in float32"),
    (1e-45, 1.0, "--min-lr 1e-45 is the subnormal"),
])
def test_a_range_beyond_float32_names_the_option_given(lo, hi, message):
    """--max-lr 1e300 was refused naming 'lr 1e+100', the second rate, which nobody typed."""
    with pytest.raises(ConfigError, match=message):
        check_range(lo, hi, 4)


def test_lr_find_cli(tmp_path, fake_fashion, capsys):
    code = main(["lr-find", "--framework", "numpy", "--num", "4", "--batch-size", "32",
                 "--out", str(tmp_path / "lr.png")])
    out = capsys.readouterr().out
    assert code == 0 and "suggested lr:" in out and (tmp_path / "lr.png").is_file()
    # a name ending in a separator is a folder: the default name in it (it was a file "figs")
    code = main(["lr-find", "--framework", "numpy", "--num", "2", "--batch-size", "32",
                 "--out", f"{tmp_path / 'figs'}/"])
    assert code == 0 and (tmp_path / "figs" / "lr-find.png").is_file(), capsys.readouterr()
    code = main(["lr-find", "--min-lr", "1", "--max-lr", "0.1"])
    assert code == 2 and "lr-find needs 0 < --min-lr < --max-lr" in capsys.readouterr().err


def test_lr_find_without_a_validation_split_ranks_the_trained_models():
    """An epoch of one batch: the epoch's train loss is the first weights' for every rate, and
    the tie went to the smallest rate, called "the lowest"."""
    need("sklearn")
    config = TrainConfig(data="sklearn:iris", framework="numpy", device="cpu", epochs=1,
                         batch_size=256, val_split=0.0)
    found = lr_find(config, 1e-3, 10.0, 4, offline=True)
    assert found.loss_name == "train_loss" and len(set(found.losses)) == 4
    assert found.suggested == found.lrs[found.losses.index(min(found.losses))] != 1e-3
