"""The overfitting study on small synthetic data, and its summary logic on made-up curves."""

import json

import numpy as np
import pytest

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.epochs.history import EpochRecord, History
from softreg.fitting.splits import prepare_splits
from softreg.jobs.study import Variant, VariantResult, run_study, subsample, summarize, variants

BASE = TrainConfig(framework="numpy", epochs=6, batch_size=32, lr=0.05, val_split=0.2,
                   device="cpu")


def test_study_trains_four_variants_and_writes_its_files(tmp_path, fake_fashion):
    results, text = run_study(BASE, tmp_path / "study", patience=2)
    names = [r.variant.name for r in results]
    assert names == ["baseline", "weight_decay", "cosine", "early_stopping"]
    folder = tmp_path / "study"
    assert (folder / "overfit.png").is_file() and (folder / "summary.md").read_text() == text
    for name in names:
        assert (folder / name / "metrics.csv").is_file()
    data = json.loads((folder / "study.json").read_text())
    assert [v["config"]["weight_decay"] for v in data["variants"]] == [0.0, 1e-3, 0.0, 0.0]
    assert data["variants"][2]["config"]["lr_schedule"] == "cosine"
    baseline = results[0].history
    assert len(baseline) == 6
    # train metrics are evaluated on the training part after each epoch, not running means
    assert all(0 <= r.train_acc <= 1 and r.test_acc == r.test_acc for r in baseline.records)
    # the summary quotes the run's own numbers
    assert f"ended at {baseline.records[-1].test_acc:.4f}" in text
    assert f"to {baseline.records[-1].train_acc:.4f}" in text


def test_study_on_a_training_subset(tmp_path, fake_fashion):
    _, text = run_study(BASE, tmp_path / "s", train_size=100, figures=False)
    assert "on 100 training images" in text
    assert not (tmp_path / "s" / "overfit.png").exists()
    assert json.loads((tmp_path / "s" / "study.json").read_text())["train_size"] == 100


def test_subsample_is_stratified_and_refuses_bad_sizes(fake_fashion):
    splits = prepare_splits(TrainConfig(val_split=0.2))
    small = subsample(splits, 100, seed=0)
    assert np.bincount(small["train"].y, minlength=10).tolist() == [10] * 10
    assert small["val"] is splits["val"] and small["test"] is splits["test"]
    with pytest.raises(ConfigError, match="train_size must be between 10 and 479"):
        subsample(splits, 480, seed=0)
    # exactly the size asked (per-class rounding trained 10 images for 11, 20 for 17, and
    # refused 479 of 480), every class its share within one
    for size in (11, 17, 123, 479):
        y = subsample(splits, size, seed=3)["train"].y
        counts = np.bincount(y, minlength=10)
        assert len(y) == size and counts.max() - counts.min() <= 1, (size, counts)


def test_a_train_size_too_large_names_the_training_part_s_own_size(fake_fashion):
    """The refusal said 'between 10 and 479 (the training part)' of a part of 480."""
    splits = prepare_splits(TrainConfig(val_split=0.2))
    assert len(splits["train"].y) == 480
    with pytest.raises(ConfigError) as refused:
        subsample(splits, 100_000, seed=0)
    assert str(refused.value) == (
        "train_size must be between 10 and 479, fewer than the 480 examples of the training "
        "part, got 100000; leave it out to use all of them")
    tiny = {**splits, "train": type(splits["train"])(splits["train"].X[:8], splits["train"].y[:8])}
    with pytest.raises(ConfigError, match="the training part holds only 8 examples"):
        subsample(tiny, 10, seed=0)


def test_variants_need_a_validation_split_and_an_epoch():
    with pytest.raises(ConfigError, match="the overfitting study needs a validation split"):
        variants(TrainConfig(), 1e-3, 5)
    with pytest.raises(ConfigError, match="the overfitting study needs at least 1 epoch, got "
                       r"epochs 0; use many, e\.g\. --epochs 100"):
        variants(TrainConfig(val_split=0.1, epochs=0), 1e-3, 5)


def test_summary_of_a_baseline_without_epochs_ends_in_a_sentence():
    def empty(message):
        hist = History(status="diverged" if message else "completed", message=message)
        return VariantResult(Variant("base", "base", BASE), hist, 0, 0.1, 0.1)

    assert summarize([empty("")], n_train=1000).endswith(
        "The baseline did not finish an epoch.\n")
    assert summarize([empty("training diverged in epoch 1.")], n_train=1000).endswith(
        "The baseline did not finish an epoch: training diverged in epoch 1.\n")


def _result(name, test, train, val_loss=None, status="completed", kept=None, patience=0):
    hist = History(status=status)
    for i, (te, tr) in enumerate(zip(test, train, strict=True)):
        loss = val_loss[i] if val_loss else 0.5
        hist.records.append(EpochRecord(i + 1, 0.4, tr, test_loss=0.5, test_acc=te,
                                        val_loss=loss, val_acc=te))
    cfg = BASE if not patience else TrainConfig(**{**BASE.to_dict(), "patience": patience})
    return VariantResult(Variant(name, name, cfg), hist, kept or len(test), test[-1], test[-1])


FALLING = [0.70, 0.76, 0.80, 0.82, 0.81, 0.80, 0.79, 0.78, 0.77, 0.76]


def test_summary_calls_a_fall_beyond_the_noise_with_rising_train_accuracy_overfitting():
    rising = [0.70, 0.80, 0.85, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.99]
    results = [_result("base", FALLING, rising),
               _result("stop", FALLING[:6], rising[:6], status="early_stopped", kept=4,
                       patience=2)]
    text = summarize(results, n_train=1000)
    assert "Test accuracy was highest, 0.8200, in epoch 4 and ended at 0.7600" in text
    assert "the gap went from 0.0000 to 0.2300" in text
    assert ("Test accuracy fell by 0.0600 after its peak in epoch 4, more than the noise (over "
            "the last 5 epochs it scattered over 0.0000 about its trend), while train accuracy "
            "rose from 0.9000 to 0.9900 and the gap grew from 0.0800 to 0.2300") in text
    assert "(overfitting)" in text
    assert "stopped after epoch 6 and restored epoch 4" in text


def test_summary_does_not_call_a_fall_with_falling_train_accuracy_overfitting():
    train = [0.70, 0.80, 0.85, 0.90, 0.89, 0.88, 0.87, 0.86, 0.85, 0.84]
    text = summarize([_result("base", FALLING, train)], n_train=1000)
    assert "fell by 0.0600 after its peak in epoch 4" in text
    assert ("but train accuracy did not rise after that epoch (0.9000 to 0.8400): the model "
            "got no better on the training images either, so this is not overfitting") in text
    assert "(overfitting)" not in text and "rose" not in text and "kept rising" not in text


def test_summary_does_not_call_a_drop_within_the_noise_overfitting():
    # the audit's case: a 0.005 drop from the peak amid +-0.005 epoch-to-epoch scatter
    test = [0.80, 0.84, 0.845, 0.852, 0.842, 0.850, 0.843, 0.851, 0.844, 0.847]
    train = [0.80, 0.85, 0.86, 0.87, 0.875, 0.88, 0.885, 0.89, 0.893, 0.895]
    text = summarize([_result("base", test, train)], n_train=1000)
    assert "stopped improving rather than falling: peak minus final, 0.0050, is within the " \
        "noise (over the last 5 epochs it scattered over 0.0" in text
    assert "overfitting" not in text.lower().replace("# overfitting study", "")


def test_summary_of_a_curve_still_rising_or_too_short():
    rising = [0.70, 0.75, 0.78, 0.80, 0.81, 0.82]
    text = summarize([_result("base", rising, rising)], n_train=1000)
    assert "Test accuracy was highest in the last epoch, 0.8200: it had not stopped " \
        "improving" in text
    text = summarize([_result("base", [0.7, 0.8, 0.75], [0.7, 0.8, 0.9])], n_train=1000)
    assert "3 epoch(s) are too few to tell a trend from the noise" in text
    assert "overfitting" not in text.lower().replace("# overfitting study", "")


def test_summary_calls_a_flat_test_curve_a_plateau():
    test = [0.80, 0.84, 0.845, 0.844, 0.846, 0.845]
    train = [0.81, 0.85, 0.86, 0.865, 0.868, 0.87]
    text = summarize([_result("base", test, train),
                      _result("stop", test, train, patience=3, kept=5)], n_train=54000)
    assert "stopped improving rather than falling" in text
    assert "little room to overfit 54000 images" in text
    assert ("It never stopped: val_loss reached a new best at least once every 3 epochs; its "
            "final model is still the best epoch, 5.") in text
    assert "the best variant is **base**" in text


def test_seeds_and_study_record_a_file_s_path_absolute(tmp_path, monkeypatch):
    # as a run's config.json does: recorded as typed (csv:t.csv), the file was named relative
    # to whatever folder the command ran in, not to anything a reader of the file could know
    from softreg.jobs.seeds import train_seeds

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    lines = ["a,b,label"] + [f"{x:.3f},{z:.3f},{k}" for x, z, k in
                             zip(rng.normal(size=90), rng.normal(size=90), np.arange(90) % 3,
                                 strict=True)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    base = TrainConfig(data="csv:t.csv", framework="numpy", epochs=2, batch_size=16,
                       val_split=0.2, device="cpu")
    absolute = f"csv:{tmp_path / 't.csv'}"
    train_seeds(base, [0, 1], tmp_path / "seeds", figures=False)
    assert json.loads((tmp_path / "seeds" / "summary.json").read_text())["config"]["data"] \
        == absolute
    run_study(base, tmp_path / "study", patience=1, figures=False)
    saved = json.loads((tmp_path / "study" / "study.json").read_text())
    assert saved["base"]["data"] == absolute
    assert {v["config"]["data"] for v in saved["variants"]} == {absolute}
