"""What --resume may change of a run: the total of epochs within the run's own rules, and
nothing of a run that is finished; and the messages of a run folder with nothing to resume."""

import math

import numpy as np
import pytest

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.jobs.run import print_summary, train_run


def _cfg(**kw):
    base = dict(framework="numpy", epochs=4, batch_size=32, lr=0.05, device="cpu")
    return TrainConfig(**{**base, **kw})


def _stopping_cfg(**kw):
    # 40% noisy training labels (noisy_fashion): the validation loss rises after a few epochs
    return _cfg(**{**dict(epochs=40, lr=0.01, val_split=0.2, patience=3, batch_size=16), **kw})


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.name in ("checkpoint.safetensors", "best.safetensors", "history.json",
                          "metrics.csv", "config.json")}


def test_an_early_stopped_run_has_nothing_left(tmp_path, noisy_fashion, capsys):
    first = train_run(_stopping_cfg(), tmp_path, quiet=True, figures=False)
    assert first.history.status == "early_stopped"
    before = _files(tmp_path)
    again = train_run(None, tmp_path, resume=True, quiet=True, figures=False)
    assert f"stopped early after {len(first.history)} epochs: nothing left to train" in \
        capsys.readouterr().err
    assert _files(tmp_path) == before  # no epoch added, the files as they were
    assert again.history.status == "early_stopped"
    assert again.history.message == first.history.message
    assert (again.model_epoch, again.test_acc) == (first.model_epoch, first.test_acc)


def test_an_early_stopped_run_cannot_be_extended(tmp_path, noisy_fashion):
    first = train_run(_stopping_cfg(), tmp_path, quiet=True, figures=False)
    before = _files(tmp_path)
    with pytest.raises(ConfigError, match=r"stopped early after \d+ epochs; --epochs 60 cannot "
                       r"extend it .*larger --patience"):
        train_run(None, tmp_path, resume=True, resume_epochs=60, quiet=True, figures=False)
    assert _files(tmp_path) == before
    assert len(first.history) < 40


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_a_planned_schedule_keeps_its_total(tmp_path, fake_fashion, schedule):
    train_run(_cfg(epochs=2, lr_schedule=schedule), tmp_path, quiet=True, figures=False)
    before = _files(tmp_path)
    with pytest.raises(ConfigError, match=rf"--epochs 4 would re-plan the {schedule} lr "
                       r"schedule .* resume with --epochs 2 or drop it, or start a new run"):
        train_run(None, tmp_path, resume=True, resume_epochs=4, quiet=True, figures=False)
    assert _files(tmp_path) == before


def test_a_constant_schedule_may_be_extended(tmp_path, fake_fashion):
    train_run(_cfg(epochs=2), tmp_path, quiet=True, figures=False)
    resumed = train_run(None, tmp_path, resume=True, resume_epochs=3, quiet=True, figures=False)
    assert len(resumed.history) == 3


@pytest.mark.parametrize("epochs", [3, 0])
def test_a_total_below_the_epochs_done_is_refused(tmp_path, fake_fashion, epochs):
    train_run(_cfg(epochs=6), tmp_path, quiet=True, figures=False)
    before = _files(tmp_path)
    with pytest.raises(ConfigError, match=rf"--epochs {epochs} is below the 6 epochs .* pass "
                       r"--epochs 6 \(its own total\) or more, or drop it"):
        train_run(None, tmp_path, resume=True, resume_epochs=epochs, quiet=True, figures=False)
    assert _files(tmp_path) == before


def _killed_before_its_first_epoch(folder):
    train_run(_cfg(epochs=1), folder, quiet=True, figures=False)
    for path in folder.iterdir():  # what a kill -9 during the first epoch leaves
        if path.name not in ("config.json", ".softreg-run"):
            path.unlink()


def test_a_run_killed_before_its_first_epoch_says_to_overwrite(tmp_path, fake_fashion):
    _killed_before_its_first_epoch(tmp_path)
    with pytest.raises(ConfigError, match=r"cannot resume: the run in .* saved no epoch .* "
                       r"--overwrite"):
        train_run(None, tmp_path, resume=True, quiet=True, figures=False)
    with pytest.raises(ConfigError, match=r"holds a run that saved no epoch .* cannot be "
                       r"resumed; choose another --out, or start it again with --overwrite"):
        train_run(_cfg(epochs=1), tmp_path, quiet=True, figures=False)
    done = train_run(_cfg(epochs=1), tmp_path, overwrite=True, quiet=True, figures=False)
    assert len(done.history) == 1


def test_the_report_shows_the_loss_limit_used(tmp_path):
    from softreg.epochs.history import History
    from softreg.jobs.report import render_report

    cm = np.eye(3, dtype=np.int64)
    report = render_report(_cfg(), History(), cm, ["a", "b", "c"], {})
    assert f"| max_loss | {100 * math.log(3)} |" in report
    report = render_report(_cfg(max_loss=50.0), History(), cm, ["a", "b", "c"], {})
    assert "| max_loss | 50.0 |" in report


def test_the_report_of_a_table_says_it_was_standardised_all_the_same():
    from softreg.epochs.history import History
    from softreg.jobs.report import render_report

    cm = np.eye(3, dtype=np.int64)
    assert "| standardize | False |" in render_report(_cfg(), History(), cm, list("abc"), {})
    table = render_report(_cfg(), History(), cm, list("abc"), {}, table=True)
    assert ("| standardize | False (a table is standardised all the same, by its training "
            "split's mean and spread, folded into the saved weights) |") in table


def test_zero_epochs_report_the_initial_weights_test_accuracy(tmp_path, fake_fashion, capsys):
    res = train_run(_cfg(epochs=0), tmp_path, quiet=True, figures=False)
    print_summary(res)
    out = capsys.readouterr().out
    assert f"final: test acc {res.test_acc:.4f} with the initial weights" in out
    report = (tmp_path / "report.md").read_text()
    assert f"Test accuracy {res.test_acc:.4f}, with the initial weights" in report


@pytest.mark.parametrize("val", [0.0, 0.2])
def test_a_table_run_resumed_from_its_files_is_the_whole_run_bit_for_bit(tmp_path, val):
    """A table trains on standardised columns; its checkpoint holds the weights folded back to
    raw inputs, which float32 cannot unfold exactly, and the weights training held: a resume
    continues from those (it drifted by 6e-7 on iris, 120 epochs then 480 more)."""
    from dataclasses import replace

    from softreg.runfiles import checkpoint

    cfg = TrainConfig(framework="numpy", data="sklearn:iris", epochs=60, batch_size=16,
                      lr=0.3, val_split=val, patience=1000 if val else 0)
    train_run(cfg, tmp_path / "whole", quiet=True, figures=False)
    train_run(replace(cfg, epochs=30), tmp_path / "half", quiet=True, figures=False)
    train_run(None, tmp_path / "half", resume=True, resume_epochs=60, quiet=True,
              figures=False)
    whole = checkpoint.load(tmp_path / "whole" / "checkpoint.safetensors")
    resumed = checkpoint.load(tmp_path / "half" / "checkpoint.safetensors")
    for name in ("W", "b"):
        assert np.array_equal(getattr(whole, name), getattr(resumed, name))
    assert whole.extra.keys() == resumed.extra.keys() >= {"trained_W", "trained_b"}
    for name, value in whole.extra.items():
        assert np.array_equal(value, resumed.extra[name]), name
