"""softreg's own training runs on small synthetic data: files, resume, divergence, early stop."""

import json

import numpy as np
import pytest

from softreg import checkpoint
from softreg.config import TrainConfig
from softreg.errors import ConfigError
from softreg.run import train_run

FRAMEWORKS = ["numpy", "torch"]


def _cfg(framework, **kw):
    base = dict(framework=framework, epochs=4, batch_size=32, lr=0.05, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _skip_missing(framework):
    if framework != "numpy":
        from conftest import need

        need(framework)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_run_writes_its_files(tmp_path, fake_fashion, framework):
    _skip_missing(framework)
    res = train_run(_cfg(framework), tmp_path / "run", quiet=True, figures=False)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "metrics.csv", "history.json", "report.md",
            "checkpoint.safetensors"} <= names
    assert res.history.status == "completed" and len(res.history) == 4
    assert res.history.last.train_acc > 0.5  # the synthetic classes are learnable
    ck = checkpoint.load(tmp_path / "run")
    assert ck.meta["epoch"] == 4 and ck.meta["framework"] == framework
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lr"] == 0.05
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 5


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_resume_is_bit_identical(tmp_path, fake_fashion, framework):
    _skip_missing(framework)
    straight = train_run(_cfg(framework), tmp_path / "a", quiet=True, figures=False)
    train_run(_cfg(framework, epochs=2), tmp_path / "b", quiet=True, figures=False)
    resumed = train_run(None, tmp_path / "b", resume=True, resume_epochs=4, quiet=True,
                        figures=False)
    a, b = checkpoint.load(tmp_path / "a"), checkpoint.load(tmp_path / "b")
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)
    assert straight.history.column("train_loss") == resumed.history.column("train_loss")
    assert [r.epoch for r in resumed.history.records] == [1, 2, 3, 4]


def test_existing_run_is_not_overwritten(tmp_path, fake_fashion):
    train_run(_cfg("numpy", epochs=1), tmp_path, quiet=True, figures=False)
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run; choose another --out"):
        train_run(_cfg("numpy", epochs=1, seed=5), tmp_path, quiet=True, figures=False)
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before
    train_run(_cfg("numpy", epochs=1, seed=5), tmp_path, overwrite=True, quiet=True,
              figures=False)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot resume: .* does not exist"):
        train_run(None, tmp_path, resume=True)


def test_divergence_keeps_last_good_checkpoint(tmp_path, fake_fashion):
    res = train_run(_cfg("numpy", lr=1e6), tmp_path, quiet=True, figures=False)
    assert res.history.status == "diverged"
    assert "training diverged in epoch 1" in res.history.message
    ck = checkpoint.load(tmp_path)
    assert ck.meta["epoch"] == 0 and np.all(np.isfinite(ck.W))
    assert np.abs(ck.W).max() < 0.1  # still the N(0, 0.01) initial weights


def test_early_stopping_restores_best_epoch(tmp_path, fake_fashion):
    # lr large enough that validation loss gets worse after a few epochs
    cfg = _cfg("numpy", epochs=30, lr=2.0, val_split=0.2, patience=2, batch_size=16)
    res = train_run(cfg, tmp_path, quiet=True, figures=False)
    hist = res.history
    assert hist.status == "early_stopped", hist.column("val_loss")
    val = hist.column("val_loss")
    best_epoch = int(np.argmin(val)) + 1
    assert len(hist) == best_epoch + 2
    best = checkpoint.load(tmp_path / "best.safetensors")
    last = checkpoint.load(tmp_path)
    assert best.meta["epoch"] == best_epoch
    np.testing.assert_array_equal(best.W, last.W)  # the best weights were restored
    assert f"restored the best epoch {best_epoch}" in hist.message
