"""softreg's own training runs on small synthetic data: files, resume, divergence, early stop."""

import json

import numpy as np
import pytest

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.jobs.run import train_run
from softreg.runfiles import checkpoint

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
def test_the_device_used_is_recorded_next_to_the_device_asked(tmp_path, fake_fashion,
                                                              framework):
    _skip_missing(framework)
    used = "cpu"
    if framework == "torch":
        import torch

        used = "cuda" if torch.cuda.is_available() else "cpu"
    res = train_run(_cfg(framework, epochs=1, device="auto", val_split=0.2), tmp_path,
                    quiet=True, figures=False)
    assert res.device == used
    assert json.loads((tmp_path / "config.json").read_text())["device"] == "auto"
    report = (tmp_path / "report.md").read_text()
    assert f"| device | auto |\n| device used | {used} |\n" in report
    assert checkpoint.load(tmp_path).meta["device_used"] == used
    assert checkpoint.load(tmp_path / "best.safetensors").meta["device_used"] == used


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


def _stopping_cfg(**kw):
    # 40% noisy training labels: the validation loss rises after a few epochs
    return _cfg("numpy", **{**dict(epochs=40, lr=0.01, val_split=0.2, patience=3,
                                   batch_size=16), **kw})


def test_early_stopping_keeps_last_and_best_checkpoints_apart(tmp_path, noisy_fashion):
    res = train_run(_stopping_cfg(), tmp_path, quiet=True, figures=False)
    hist = res.history
    assert hist.status == "early_stopped", hist.column("val_loss")
    val = hist.column("val_loss")
    best_epoch = int(np.argmin(val)) + 1
    assert len(hist) == best_epoch + 3
    best = checkpoint.load(tmp_path / "best.safetensors")
    last = checkpoint.load(tmp_path / "checkpoint.safetensors")
    assert best.meta["epoch"] == best_epoch and last.meta["epoch"] == len(hist)
    assert np.abs(best.W - last.W).max() > 1e-3  # the last epoch's own weights, not the best
    assert f"restored the best epoch {best_epoch}" in hist.message
    # the reported model is the best one
    assert (res.model_epoch, res.best_restored) == (best_epoch, True)
    assert res.test_loss == pytest.approx(hist.records[best_epoch - 1].test_loss, rel=1e-9)
    assert res.test_loss != pytest.approx(hist.records[-1].test_loss, rel=1e-6)
    assert last.meta["model_file"] == "best.safetensors"
    report = (tmp_path / "report.md").read_text()
    assert f"with the weights of epoch {best_epoch}, the best by val_loss" in report
    assert f"Test accuracy {res.test_acc:.4f}," in report


def test_resume_with_early_stopping_continues_the_last_epoch(tmp_path, noisy_fashion):
    # a patience that does not fire within these epochs: the run completes with its best
    # epoch restored as its model, and a resume goes on from the last epoch
    stopped = 8
    first = train_run(_stopping_cfg(patience=40, epochs=stopped), tmp_path / "a", quiet=True,
                      figures=False)
    assert first.best_restored and first.model_epoch < stopped
    straight = train_run(_stopping_cfg(patience=0, epochs=stopped + 2), tmp_path / "b",
                         quiet=True, figures=False)
    resumed = train_run(None, tmp_path / "a", resume=True, resume_epochs=stopped + 2,
                        quiet=True, figures=False)
    # the resumed epoch continues from the last epoch's weights, with its epoch counter
    # (from the best weights its train loss would differ from the uninterrupted run's)
    nxt = resumed.history.records[stopped]
    assert nxt.epoch == stopped + 1
    assert nxt.train_loss == pytest.approx(straight.history.records[stopped].train_loss,
                                           rel=1e-9)


def test_patience_that_never_fires_still_restores_the_best(tmp_path, noisy_fashion, capsys):
    from softreg.jobs.run import print_summary

    res = train_run(_stopping_cfg(epochs=12, patience=50), tmp_path, quiet=True, figures=False)
    hist = res.history
    val = hist.column("val_loss")
    best_epoch = int(np.argmin(val)) + 1
    assert hist.status == "completed" and len(hist) == 12 and best_epoch < 12
    assert (res.model_epoch, res.best_restored) == (best_epoch, True)
    assert res.test_loss == pytest.approx(hist.records[best_epoch - 1].test_loss, rel=1e-9)
    assert res.test_loss != pytest.approx(hist.records[-1].test_loss, rel=1e-6)
    assert f"Early stopping did not fire; restored the best epoch {best_epoch} of 12" \
        in hist.message
    assert checkpoint.load(tmp_path).meta["epoch"] == 12
    print_summary(res)
    out = capsys.readouterr().out
    assert f"test acc {res.test_acc:.4f} (weights of the best epoch {best_epoch} by val_loss)" \
        in out and "Early stopping did not fire" in out


def test_without_patience_the_last_epoch_is_reported(tmp_path, noisy_fashion):
    res = train_run(_stopping_cfg(epochs=12, patience=0), tmp_path, quiet=True, figures=False)
    assert (res.model_epoch, res.best_restored) == (12, False)
    assert res.test_loss == pytest.approx(res.history.records[-1].test_loss, rel=1e-9)
    assert (tmp_path / "best.safetensors").is_file()
    assert checkpoint.load(tmp_path).meta["model_file"] == "checkpoint.safetensors"
    assert "with the weights of the last epoch, 12" in (tmp_path / "report.md").read_text()


# -- the data is read while the framework imports -------------------------------------------

@pytest.fixture()
def watched(monkeypatch):
    """Record which thread prepares the splits and which creates the backend, in order."""
    import threading

    import softreg.jobs.run as run_module

    seen = []
    real_prepare, real_backend = run_module.prepare_splits, run_module.get_backend

    def prepare(*args, **kwargs):
        seen.append(("data", threading.current_thread().name))
        return real_prepare(*args, **kwargs)

    def backend(*args, **kwargs):
        seen.append(("backend", threading.current_thread().name))
        return real_backend(*args, **kwargs)

    monkeypatch.setattr(run_module, "prepare_splits", prepare)
    monkeypatch.setattr(run_module, "get_backend", backend)
    return seen


def test_the_data_is_prepared_in_a_second_thread_meanwhile(fake_fashion, watched):
    import threading

    from softreg.jobs.run import backend_and_splits

    backend, splits = backend_and_splits(_cfg("numpy"), None, False)
    main = threading.current_thread().name
    assert sorted(watched) == [("backend", main), ("data", "softreg-data")]
    assert set(splits) == {"train", "test"} and splits["train"].X.shape == (600, 784)
    assert backend.name == "numpy"
    assert not any(t.name == "softreg-data" for t in threading.enumerate())  # joined


def test_a_backend_refused_after_its_import_is_refused_before_any_data(fake_fashion, watched,
                                                                        monkeypatch):
    import softreg.jobs.run as run_module
    from softreg.jobs.run import backend_and_splits

    def no_gpu(*args, **kwargs):
        watched.append(("backend", "refused"))
        raise ConfigError("CUDA was requested but the framework sees no CUDA GPU")

    monkeypatch.setattr(run_module, "get_backend", no_gpu)
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        backend_and_splits(_cfg("numpy", device="cuda"), None, False)
    assert watched == [("backend", "refused")]  # --device cuda: no data read


def test_a_framework_not_installed_is_refused_before_any_data(fake_fashion, watched,
                                                               monkeypatch):
    import importlib.util

    import softreg.jobs.run as run_module
    from softreg.core.errors import FrameworkUnavailableError
    from softreg.jobs.run import backend_and_splits

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find(name, *a))

    def absent(*args, **kwargs):
        watched.append(("backend", "refused"))
        raise FrameworkUnavailableError("PyTorch is not installed")

    monkeypatch.setattr(run_module, "get_backend", absent)
    with pytest.raises(FrameworkUnavailableError, match="PyTorch is not installed"):
        backend_and_splits(_cfg("torch"), None, False)
    assert watched == [("backend", "refused")]


def test_errors_of_either_thread_reach_the_caller(fake_fashion, watched, monkeypatch):
    import threading

    import softreg.jobs.run as run_module
    from softreg.core.errors import DataError
    from softreg.jobs.run import backend_and_splits

    def bad_data(*args, **kwargs):
        raise DataError("fashion-mnist: the test split is empty")

    monkeypatch.setattr(run_module, "prepare_splits", bad_data)
    with pytest.raises(DataError, match="the test split is empty"):
        backend_and_splits(_cfg("numpy"), None, False)

    def broken(*args, **kwargs):
        raise ConfigError("framework refused")

    monkeypatch.setattr(run_module, "get_backend", broken)
    with pytest.raises(ConfigError, match="framework refused"):  # the backend's error first
        backend_and_splits(_cfg("numpy"), None, False)
    assert not any(t.name == "softreg-data" for t in threading.enumerate())
