"""Packs stopped early (`lr-find`, `study overfit`, `train --seeds`): Ctrl-C exits 130 and
SIGTERM 143, and nothing is presented as the result of epochs that were not trained; a study
replaces the previous study's files only once it has finished, and reports a diverged
variant."""

import json
import os
import signal

import pytest

import softreg.fitting.pack
import softreg.jobs.study
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.jobs.study import run_study

CODES = {"int": (130, "interrupted"), "term": (143, "terminated (SIGTERM)")}
PACK = ["--framework", "numpy", "--batch-size", "32", "--val-split", "0.2"]


@pytest.fixture(params=["int", "term"])
def stopped_in_epoch_2(request, monkeypatch):
    """Every pack is stopped in its second epoch: by Ctrl-C, or by SIGTERM to this process."""
    real = softreg.fitting.pack._epoch

    def epoch(state, configs, *args):
        if args[-2] == 1:
            if request.param == "term":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise KeyboardInterrupt
        return real(state, configs, *args)

    monkeypatch.setattr(softreg.fitting.pack, "_epoch", epoch)
    return CODES[request.param]


def _study(tmp_path, *extra):
    return ["study", "overfit", "--epochs", "4", *PACK, "--no-figures",
            "--out", str(tmp_path / "st"), *extra]


def test_an_interrupted_lr_find_suggests_nothing_and_writes_no_figure(
        tmp_path, fake_fashion, capsys, stopped_in_epoch_2):
    code = main(["lr-find", *PACK, "--num", "4", "--epochs", "5",
                 "--out", str(tmp_path / "lr.png")])
    out, err = capsys.readouterr()
    assert (code, err) == (stopped_in_epoch_2[0], f"softreg lr-find: {stopped_in_epoch_2[1]}\n")
    assert "suggested" not in out and not (tmp_path / "lr.png").exists()


def test_an_interrupted_seeds_run_exits_with_the_stops_status(tmp_path, fake_fashion, capsys,
                                                             stopped_in_epoch_2):
    out_dir = tmp_path / "seeds"
    code = main(["train", *PACK, "--epochs", "5", "--seeds", "0-2", "--no-figures",
                 "--out", str(out_dir)])
    out = capsys.readouterr().out
    assert code == stopped_in_epoch_2[0]
    assert out.count(" interrupted ") == 3  # each seed's row says so
    assert out.endswith(f"interrupted: these models did not train their 5 epochs; train them "
                        f"again with --overwrite --out {out_dir}\n")


def test_an_interrupted_study_writes_nothing_and_keeps_the_previous_one(
        tmp_path, fake_fashion, capsys, monkeypatch):
    assert main(_study(tmp_path)) == 0
    folder = tmp_path / "st"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    capsys.readouterr()
    real = softreg.fitting.pack._epoch

    def ctrl_c_in_epoch_2(state, configs, *args):
        if args[-2] == 1:
            raise KeyboardInterrupt
        return real(state, configs, *args)

    monkeypatch.setattr(softreg.fitting.pack, "_epoch", ctrl_c_in_epoch_2)
    assert main(_study(tmp_path, "--lr", "0.3")) == 130
    out, err = capsys.readouterr()
    assert err == "softreg study: interrupted\n"
    assert "interrupted after 1 of 4 epochs: no study written (the folder keeps what it " \
           "held)" in out and "# Overfitting study" not in out
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_study_that_fails_before_its_end_keeps_the_previous_one(tmp_path, fake_fashion,
                                                                  monkeypatch):
    base = TrainConfig(framework="numpy", epochs=3, batch_size=32, val_split=0.2)
    run_study(base, tmp_path / "st", figures=True)
    before = {p: p.read_bytes() for p in (tmp_path / "st").rglob("*") if p.is_file()}

    def broken(results, n_train):
        raise RuntimeError("the summary failed")

    monkeypatch.setattr(softreg.jobs.study, "summarize", broken)
    with pytest.raises(RuntimeError, match="the summary failed"):
        run_study(base, tmp_path / "st", figures=False)
    assert {p: p.read_bytes() for p in (tmp_path / "st").rglob("*") if p.is_file()} == before
    monkeypatch.undo()
    run_study(base, tmp_path / "st", figures=False)  # finished: the old figure goes
    assert not (tmp_path / "st" / "overfit.png").exists()


def test_a_variant_that_diverges_in_its_first_epoch_is_reported(tmp_path, fake_fashion,
                                                                capsys):
    code = main(_study(tmp_path, "--lr", "0.5", "--weight-decay", "1e9"))
    out = capsys.readouterr().out
    assert code == 0
    assert "**weight decay 1e+09**: training diverged in epoch 1, so it is not compared or " \
           "recommended (no epoch finished)." in out
    assert "the best variant is **weight decay" not in out
    saved = json.loads((tmp_path / "st" / "study.json").read_text())
    assert saved["variants"][1]["history"]["status"] == "diverged"
    assert (tmp_path / "st" / "summary.md").read_text() in out
