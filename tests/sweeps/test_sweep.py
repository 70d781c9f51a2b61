"""Sweeps on small synthetic data: search space, resume, divergence, selection, files.

Also the validation split and standardisation a sweep relies on (softreg.fitting.trainer).
"""

import json
import math

import numpy as np
import pytest

import softreg.sweeps.sweep
import softreg.sweeps.worker
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError, FrameworkUnavailableError
from softreg.fitting.splits import Standardizer, prepare_splits
from softreg.fitting.trainer import EarlyStopping, LinearTrainer, fit, initial_params
from softreg.sweeps.search import Range, SearchSpace, config_key, configurations, parse_axis
from softreg.sweeps.sweep import format_best, run_sweep, select_best

BASE = TrainConfig(framework="numpy", epochs=2, batch_size=32, lr=0.05, device="cpu",
                   val_split=0.2)


def _space(**axes):
    return SearchSpace(base=BASE, axes={k: tuple(v) for k, v in axes.items()})


def _sweep(tmp_path, space, **kw):
    return run_sweep(space, tmp_path / "sweep", quiet=True, figures=False, **kw)


# --- search space ------------------------------------------------------------------------


def test_parse_axis_lists_ranges_and_booleans():
    assert parse_axis("lr", "0.01, 0.1,0.01") == (0.01, 0.1)  # duplicates dropped, in order
    assert parse_axis("batch_size", "16,256") == (16, 256)
    assert parse_axis("lr", "0.001:1") == Range(0.001, 1.0)
    # integers exactly (as floats, 9007199254740993 became ...992, below the range)
    big = parse_axis("seed", "9007199254740993:9007199254740994")
    assert big == Range(9007199254740993, 9007199254740994) and type(big.lo) is int
    space = SearchSpace(base=BASE, search="random", trials=4, axes={"seed": big})
    assert {c.seed for c in configurations(space)} <= {9007199254740993, 9007199254740994}
    assert parse_axis("standardize", "off,ON") == (False, True)
    assert parse_axis("framework", "torch,numpy") == ("torch", "numpy")
    assert parse_axis("framework", "torch,PyTorch") == ("torch",)  # one framework, not an axis


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("lr", "abc", "--lr: cannot read 'abc' as a number"),
        ("batch_size", "0.5", "--batch-size: cannot read '0.5' as an integer"),
        ("standardize", "maybe", "--standardize: cannot read 'maybe' as on or off"),
        ("lr", "1:0.1", "--lr: a range lo:hi needs lo < hi, got '1:0.1'"),
        ("seed", "0:99999999999999999999", "--seed: the range '0:99999999999999999999' is "
                                           "beyond 64-bit integers"),  # (a traceback)
        ("lr", " , ", "--lr: no values in ' , '"),
        ("momentum", "0.9", "cannot sweep 'momentum'; sweepable: lr, batch_size"),
    ],
)
def test_parse_axis_refusals(name, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_axis(name, text)


def test_grid_is_the_product_and_validated_before_work():
    configs = configurations(_space(lr=[0.01, 0.1], batch_size=[16, 64, 256]))
    assert [(c.lr, c.batch_size) for c in configs] == [
        (0.01, 16), (0.01, 64), (0.01, 256), (0.1, 16), (0.1, 64), (0.1, 256)]
    assert all(c.framework == "numpy" and c.val_split == 0.2 for c in configs)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        configurations(_space(batch_size=[16, 0]))


def test_grid_refuses_ranges_and_bad_search():
    with pytest.raises(ConfigError, match=r"the range 0\.01:1 for lr needs --search random"):
        SearchSpace(base=BASE, axes={"lr": Range(0.01, 1.0)})
    with pytest.raises(ConfigError, match="unknown search 'bayes'; choose one of: grid, random"):
        SearchSpace(base=BASE, search="bayes")
    with pytest.raises(ConfigError, match="trials must be an integer >= 1, got 0"):
        SearchSpace(base=BASE, search="random", trials=0)


def test_random_search_is_seeded_and_stays_in_bounds():
    def draw(seed):
        space = SearchSpace(base=BASE, search="random", trials=40, search_seed=seed,
                            axes={"lr": Range(1e-3, 1.0), "epochs": Range(1, 5),
                                  "batch_size": (32, 64)})
        return [(c.lr, c.epochs, c.batch_size) for c in configurations(space)]

    first = draw(0)
    assert first == draw(0) and first != draw(1)
    assert len(first) == 40
    assert all(1e-3 <= lr <= 1.0 and 1 <= ep <= 5 and bs in (32, 64) for lr, ep, bs in first)
    # log-uniform: about a third of the draws in each decade, not 90% in the top one
    assert sum(lr < 0.1 for lr, _, _ in first) >= 15


def test_random_search_over_lists_draws_without_repeats():
    space = SearchSpace(base=BASE, search="random", trials=4,
                        axes={"lr": (0.01, 0.1, 1.0), "batch_size": (16, 64)})
    configs = configurations(space)
    assert len(configs) == 4 and len({config_key(c) for c in configs}) == 4
    space = SearchSpace(base=BASE, search="random", trials=50, axes={"lr": (0.01, 0.1)})
    assert len(configurations(space)) == 2  # no more than the grid holds


def test_config_key_is_stable_and_distinguishes_settings():
    assert config_key(BASE) == config_key(TrainConfig.from_dict(json.loads(json.dumps(
        BASE.to_dict()))))
    assert config_key(BASE) != config_key(TrainConfig(**{**BASE.to_dict(), "lr": 0.0500001}))
    assert len(config_key(BASE)) == 12


# --- validation split and standardisation ------------------------------------------------


def test_validation_split_is_stratified_and_set_by_val_seed_alone(fake_fashion):
    a = prepare_splits(TrainConfig(val_split=0.1, seed=3, val_seed=1))
    b = prepare_splits(TrainConfig(val_split=0.1, seed=4, val_seed=1))  # another training seed
    c = prepare_splits(TrainConfig(val_split=0.1, seed=3, val_seed=2))
    assert np.bincount(a["val"].y, minlength=10).tolist() == [6] * 10  # 60 per class
    assert np.bincount(a["train"].y, minlength=10).tolist() == [54] * 10
    np.testing.assert_array_equal(a["val"].X, b["val"].X)
    assert not np.array_equal(a["val"].X, c["val"].X)
    # the validation images are not in the training part
    train_rows = {row.tobytes() for row in a["train"].X}
    assert not any(row.tobytes() in train_rows for row in a["val"].X)


def test_sweeping_seeds_keeps_one_validation_set(fake_fashion, monkeypatch):
    import softreg.sweeps.worker

    loads = []
    real = softreg.sweeps.worker.prepare_splits
    monkeypatch.setattr(softreg.sweeps.worker, "prepare_splits",
                        lambda config, **kw: loads.append(config.seed) or real(config, **kw))
    cache = softreg.sweeps.worker.SplitCache()
    first = cache.get(TrainConfig(val_split=0.2, seed=0))
    assert cache.get(TrainConfig(val_split=0.2, seed=1)) is first and loads == [0]
    cache.get(TrainConfig(val_split=0.2, seed=1, val_seed=1))
    assert loads == [0, 1]


def test_standardisation_uses_training_statistics_only(fake_fashion):
    plain = prepare_splits(TrainConfig(val_split=0.2, seed=1))
    std = prepare_splits(TrainConfig(val_split=0.2, seed=1, standardize=True))
    s = std["train"].standardizer
    assert s is not None and std["test"].standardizer is s
    np.testing.assert_allclose(s.mean, plain["train"].X.mean(axis=0, dtype=np.float64))
    assert np.abs(std["train"].X.mean(axis=0)).max() < 1e-4
    expected_test = (plain["test"].X - s.mean) / s.scale
    np.testing.assert_allclose(std["test"].X, expected_test, atol=1e-5)


def test_standardizer_fold_gives_the_same_logits_on_raw_pixels():
    rng = np.random.default_rng(0)
    X = rng.random((50, 784), dtype=np.float32)
    s = Standardizer.fit(X)
    W, b = (rng.standard_normal((10, 784)).astype(np.float32),
            rng.standard_normal(10).astype(np.float32))
    W_raw, b_raw = s.fold(W, b)
    np.testing.assert_allclose(X @ W_raw.T + b_raw, s.apply(X.copy()) @ W.T + b, atol=2e-3)
    W2, b2 = s.unfold(W_raw, b_raw)
    np.testing.assert_allclose(W2, W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b2, b, rtol=1e-4, atol=1e-4)


def test_standardize_must_be_a_bool_and_defaults_off():
    assert TrainConfig().standardize is False
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "standardize"}
    assert TrainConfig.from_dict(old) == TrainConfig()  # checkpoints written before it
    with pytest.raises(ConfigError, match="standardize must be True or False, got 'yes'"):
        TrainConfig(standardize="yes")


def test_early_stopping_restores_the_best_epoch(noisy_fashion):
    config = TrainConfig(framework="numpy", epochs=40, batch_size=16, lr=0.01, val_split=0.2,
                         patience=3, device="cpu")
    result = fit(config, prepare_splits(config))
    h = result.history
    assert h.status == "early_stopped" and "restored the best epoch" in h.message
    best = result.model_epoch
    assert best < len(h)
    losses = h.column("val_loss")
    assert losses[best - 1] == min(losses)
    assert result.trainer.evaluate("val").mean_loss == pytest.approx(losses[best - 1], abs=1e-6)
    assert result.trainer.evaluate("val").mean_loss < losses[-1]


def test_best_epoch_is_restored_when_the_epochs_run_out(noisy_fashion):
    # patience longer than the run: the stop never fires, the best epoch still comes back
    config = TrainConfig(framework="numpy", epochs=12, batch_size=16, lr=0.01, val_split=0.2,
                         patience=50, device="cpu")
    result = fit(config, prepare_splits(config))
    h = result.history
    losses = h.column("val_loss")
    best = int(np.argmin(losses)) + 1
    assert h.status == "completed" and len(h) == 12 and best < 12
    assert result.model_epoch == best
    assert result.trainer.evaluate("val").mean_loss == pytest.approx(losses[best - 1], abs=1e-6)
    assert h.message == (f"Early stopping did not fire; restored the best epoch {best} of 12 "
                         f"(val_loss {losses[best - 1]:.4f}).")


def test_without_patience_the_last_epoch_is_kept(noisy_fashion):
    config = TrainConfig(framework="numpy", epochs=12, batch_size=16, lr=0.01, val_split=0.2,
                         device="cpu")
    result = fit(config, prepare_splits(config))
    losses = result.history.column("val_loss")
    assert min(losses) < losses[-1] and result.model_epoch == 12 and not result.history.message
    assert result.trainer.evaluate("val").mean_loss == pytest.approx(losses[-1], abs=1e-6)


def test_restoring_the_best_is_added_to_an_earlier_message():
    class FakeTrainer:
        params = "last"

        def snapshot(self):
            return "best"

        def restore(self, state):
            self.params = state

    from softreg.epochs.history import EpochRecord, History

    trainer = FakeTrainer()
    stopper = EarlyStopping(trainer, "val_acc", patience=5)
    hist = History(status="interrupted", message="interrupted by the user; weights kept")
    for rec in (EpochRecord(1, 0.0, 0.0, val_acc=0.5), EpochRecord(2, 0.0, 0.0, val_acc=0.4)):
        stopper(rec, hist)
        hist.records.append(rec)
    assert stopper.finish(hist) and trainer.params == "best"
    assert hist.message == ("interrupted by the user; weights kept. Early stopping did not "
                            "fire; restored the best epoch 1 of 2 (val_acc 0.5000).")
    hist.message = ""
    rec = EpochRecord(3, 0.0, 0.0, val_acc=0.6)
    stopper(rec, hist)
    hist.records.append(rec)
    assert stopper.finish(hist)
    assert hist.message == ("Early stopping did not fire; the last epoch, 3, was also the best "
                            "(val_acc 0.6000).")
    off = EarlyStopping(trainer, "val_acc", patience=0)
    off(EpochRecord(1, 0.0, 0.0, val_acc=0.5), hist)
    trainer.params = "last"
    assert not off.finish(hist) and trainer.params == "last"


def test_early_stopping_keeps_the_weights_of_the_best_record():
    class FakeTrainer:
        def __init__(self):
            self.params = None

        def snapshot(self):
            return self.params

        def restore(self, state):
            self.params = state

    from softreg.epochs.history import EpochRecord, History

    trainer = FakeTrainer()
    stopper = EarlyStopping(trainer, "val_loss", patience=2)
    hist = History()
    stops = []
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.6], start=1):
        trainer.params = f"weights of epoch {epoch}"
        stops.append(stopper(EpochRecord(epoch, 0.0, 0.0, val_loss=loss), hist))
    assert stops == [False, False, False, True]
    stopper.restore_best()
    assert trainer.params == "weights of epoch 2" and stopper.best_epoch == 2


# --- running sweeps ----------------------------------------------------------------------


def test_sweep_writes_results_and_chooses_by_validation(tmp_path, fake_fashion):
    res = run_sweep(_space(lr=[0.01, 0.1], batch_size=[32, 64]), tmp_path / "sweep",
                    quiet=True)
    names = {p.name for p in (tmp_path / "sweep").iterdir()}
    assert {"sweep.json", "results.csv", "best.json", "heatmap.png", "curves.png", "results",
            "weights"} <= names
    assert len(res.rows) == 4 and all(r["status"] == "completed" for r in res.rows)
    assert res.best == min(res.rows, key=lambda r: r["val_loss"])  # the default criterion
    lines = (tmp_path / "sweep" / "results.csv").read_text().splitlines()
    assert lines[0].startswith("key,framework,lr,batch_size") and len(lines) == 5
    assert lines[1].startswith(res.best["key"])
    assert (tmp_path / "sweep" / res.best["weights"]).is_file()
    assert "best by validation loss 0." in format_best(res)


def test_selection_never_looks_at_the_test_set():
    rows = [
        {"key": "a", "status": "completed", "val_acc": 0.80, "val_loss": 0.5, "test_acc": 0.99},
        {"key": "b", "status": "completed", "val_acc": 0.85, "val_loss": 0.4, "test_acc": 0.10},
        {"key": "c", "status": "diverged", "val_acc": 0.90, "val_loss": 0.1, "test_acc": 0.9},
        {"key": "d", "status": "completed", "val_acc": 0.85, "val_loss": 0.3, "test_acc": 0.0},
    ]
    assert select_best(rows, "val_acc")["key"] == "d"  # tie -> lower val loss; "c" diverged
    assert select_best(rows)["key"] == "d"  # the lowest val loss of those that did not diverge
    assert select_best(rows[2:3]) is None


def test_a_diverging_configuration_is_recorded_and_the_sweep_continues(tmp_path, fake_fashion,
                                                                       capsys):
    res = run_sweep(_space(lr=[1e6, 0.05]), tmp_path / "sweep", figures=True)
    out = capsys.readouterr().out
    status = {r["lr"]: r["status"] for r in res.rows}
    assert status == {1e6: "diverged", 0.05: "completed"}
    assert "lr=1000000.0: training diverged in epoch 1" in out
    assert res.best is not None and res.best["lr"] == 0.05
    saved = json.loads((tmp_path / "sweep" / "results" / f"{res.rows[-1]['key']}.json")
                       .read_text())
    assert saved["row"]["status"] == "diverged"
    assert (tmp_path / "sweep" / "heatmap.png").is_file()


def test_all_diverged_means_no_best(tmp_path, fake_fashion):
    res = _sweep(tmp_path, _space(lr=[1e6, 1e7]))
    assert res.best is None
    assert format_best(res).startswith("no configuration finished without diverging")


@pytest.fixture()
def unpacked():
    """Sweeps in the test train one configuration at a time (--no-pack): run_config is used."""
    from softreg.fitting.pack_plan import Packing, packing

    with packing(Packing(enabled=False)):
        yield


def test_resume_skips_finished_configurations(tmp_path, fake_fashion, monkeypatch, capsys,
                                              unpacked):
    calls = []
    real = softreg.sweeps.worker.run_config

    def counting(config_dict, *args, **kw):
        calls.append(config_dict["lr"])
        return real(config_dict, *args, **kw)

    monkeypatch.setattr(softreg.sweeps.worker, "run_config", counting)
    first = _sweep(tmp_path, _space(lr=[0.01, 0.1]))
    before = {p.name: p.read_bytes() for p in (tmp_path / "sweep" / "results").iterdir()}
    res = run_sweep(_space(lr=[0.01, 0.1, 0.3]), tmp_path / "sweep", figures=False)
    assert calls == [0.01, 0.1, 0.3]  # only the new configuration was trained again
    assert "resuming" in capsys.readouterr().out and res.skipped == 2
    assert len(res.rows) == 3
    for name, data in before.items():
        assert (tmp_path / "sweep" / "results" / name).read_bytes() == data
    assert {r["key"] for r in first.rows} < {r["key"] for r in res.rows}


@pytest.mark.parametrize("damage", ["link", "corrupt", "missing"])
def test_the_chosen_weights_are_read_before_they_are_reported(tmp_path, fake_fashion, damage):
    """A resumed sweep reported its choice's weights file without reading it: a link or a
    damaged file there was named as the model to use."""
    space = _space(lr=[0.05, 0.1])
    first = _sweep(tmp_path, space)
    path = tmp_path / "sweep" / first.best["weights"]
    result = tmp_path / "sweep" / "results" / f"{first.best['key']}.json"
    other = next(p for p in path.parent.iterdir() if p != path)  # a good checkpoint
    path.unlink()
    if damage == "link":
        path.symlink_to(other.name)
    elif damage == "corrupt":
        path.write_bytes(b"not safetensors")
    said = {"link": f"'{path}', is a symbolic link, not the file the sweep wrote; remove it "
                    f"and '{result}'",
            "corrupt": f"cannot be read: '{path}' is not a softreg checkpoint: .*; delete it "
                       f"and '{result}'",
            "missing": f"'{path}', does not exist; delete '{result}'"}[damage]
    with pytest.raises(ConfigError, match=rf"^the weights file of the chosen configuration,? "
                       rf"{said}, then rerun the sweep: it trains the chosen configuration "
                       r"again$"):
        _sweep(tmp_path, space)
    path.unlink(missing_ok=True)
    result.unlink()  # as the message says: the configuration is trained again
    again = _sweep(tmp_path, space)
    assert again.skipped == 1 and again.best["key"] == first.best["key"]


def test_interrupted_sweep_keeps_finished_results_and_resumes(tmp_path, fake_fashion,
                                                              monkeypatch, unpacked):
    real = softreg.sweeps.worker.run_config
    calls = []

    def interrupt_second(config_dict, *args, **kw):
        calls.append(config_dict["lr"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(config_dict, *args, **kw)

    monkeypatch.setattr(softreg.sweeps.worker, "run_config", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, _space(lr=[0.01, 0.1, 0.3]))
    assert len(list((tmp_path / "sweep" / "results").glob("*.json"))) == 1
    monkeypatch.setattr(softreg.sweeps.worker, "run_config", real)
    res = _sweep(tmp_path, _space(lr=[0.01, 0.1, 0.3]))
    assert res.skipped == 1 and len(res.rows) == 3


def test_a_failed_configuration_is_reported_but_not_saved(tmp_path, fake_fashion, monkeypatch):
    import softreg.backends

    def unavailable(framework, device="auto"):
        raise FrameworkUnavailableError("PyTorch is not installed; pip install 'softreg[torch]'")

    monkeypatch.setattr(softreg.backends, "get_backend", unavailable)
    res = _sweep(tmp_path, _space(lr=[0.05]))
    assert res.rows[0]["status"] == "failed" and "not installed" in res.rows[0]["message"]
    assert not list((tmp_path / "sweep" / "results").glob("*.json"))
    assert res.best is None


def test_a_framework_error_fails_one_configuration_not_the_sweep(tmp_path, fake_fashion,
                                                                 monkeypatch, unpacked):
    import softreg.sweeps.worker

    real = softreg.sweeps.worker.fit

    def crash_on_big_lr(config, *args, **kw):
        if config.lr == 0.5:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(config, *args, **kw)

    monkeypatch.setattr(softreg.sweeps.worker, "fit", crash_on_big_lr)
    res = _sweep(tmp_path, _space(lr=[0.01, 0.5, 0.05]))
    status = {r["lr"]: r["status"] for r in res.rows}
    assert status == {0.01: "completed", 0.5: "failed", 0.05: "completed"}
    failed = next(r for r in res.rows if r["status"] == "failed")
    assert failed["message"] == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert res.best is not None and res.best["lr"] != 0.5
    assert len(list((tmp_path / "sweep" / "results").glob("*.json"))) == 2  # retried next time


def test_ctrl_c_inside_a_configuration_is_not_swallowed(tmp_path, fake_fashion, monkeypatch,
                                                       unpacked):
    import softreg.sweeps.worker

    def interrupted(config, *args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(softreg.sweeps.worker, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, _space(lr=[0.01, 0.05]))


def test_refit_trains_the_choice_on_train_plus_val(tmp_path, fake_fashion):
    res = _sweep(tmp_path, _space(lr=[0.01, 0.1]), refit=True)
    assert res.refit is not None and res.refit["val_split"] == 0.0
    assert math.isnan(res.refit["val_acc"]) and 0 <= res.refit["test_acc"] <= 1
    assert res.refit["epochs_run"] == res.best["epochs"]
    again = _sweep(tmp_path, _space(lr=[0.01, 0.1]), refit=True)
    assert again.refit == res.refit  # read back, not retrained
    assert "refit on train+val" in format_best(again)


def test_refit_uses_the_best_epoch_when_patience_never_fired(tmp_path, noisy_fashion):
    base = TrainConfig(framework="numpy", epochs=12, batch_size=16, lr=0.01, device="cpu",
                       val_split=0.2, patience=50)
    res = run_sweep(SearchSpace(base=base), tmp_path / "sweep", quiet=True, figures=False,
                    refit=True)
    assert res.best["status"] == "completed" and res.best["model_epoch"] < 12
    assert res.refit["epochs_run"] == res.best["model_epoch"]


def test_sweep_refusals(tmp_path):
    no_val = SearchSpace(base=TrainConfig(framework="numpy"), axes={"lr": (0.1,)})
    with pytest.raises(ConfigError, match=r"needs a validation split; add e\.g\. --val-split 0\.1"):
        _sweep(tmp_path, no_val)
    with pytest.raises(ConfigError, match="jobs must be an integer >= 1, got 0"):
        _sweep(tmp_path, _space(lr=[0.1]), jobs=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        run_sweep(_space(lr=[0.1]), tmp_path / "file", quiet=True)


def test_standardised_sweep_weights_work_on_raw_pixels(tmp_path, fake_fashion):
    from softreg.backends import get_backend
    from softreg.fitting.splits import to_features
    from softreg.runfiles import checkpoint

    res = _sweep(tmp_path, SearchSpace(base=BASE, axes={"standardize": (True,)}))
    ck = checkpoint.load(tmp_path / "sweep" / res.best["weights"])
    backend = get_backend("numpy", "cpu")
    backend.set_params(ck.W, ck.b)
    x, y = fake_fashion["test"]
    acc = backend.evaluate(backend.put_data(to_features(x), y.astype(np.int64))).accuracy
    assert acc == pytest.approx(res.best["test_acc"], abs=1e-9)


def test_linear_trainer_snapshot_speaks_raw_pixels(fake_fashion):
    from softreg.backends import get_backend

    config = TrainConfig(framework="numpy", standardize=True, val_split=0.2, device="cpu")
    trainer = LinearTrainer(get_backend("numpy", "cpu"), config, prepare_splits(config))
    W, b = initial_params(0)
    trainer.restore((W, b))
    W2, b2 = trainer.snapshot()
    np.testing.assert_allclose(W2, W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b2, b, atol=1e-6)


# --- list items, seed ranges, the table's settings ---------------------------------------


@pytest.mark.parametrize(("name", "text", "message"), [
    ("lr", "0.1,,1", r"--lr: item 2 of '0.1,,1' is empty; give a comma-separated list such "
                     r"as 0.01,0.1"),
    ("lr", "0.1,", r"--lr: item 2 of '0.1,' is empty"),
    ("batch_size", ",64", r"--batch-size: item 1 of ',64' is empty"),
    ("seed", "3-1", r"--seed: '3-1' is a descending range; write it low-high, e.g. 1-3"),
    ("seed", "0-x", r"--seed: cannot read '0-x' as a seed or a range lo-hi"),
])
def test_an_empty_list_item_or_a_bad_seed_range_is_refused_by_its_place(name, text, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        parse_axis(name, text)


def test_the_seed_axis_takes_ranges_lo_hi_as_train_seeds_does():
    assert parse_axis("seed", "0-3") == (0, 1, 2, 3)
    assert parse_axis("seed", "0-2,5,1") == (0, 1, 2, 5)
    assert parse_axis("seed", "7") == (7,)
    assert parse_axis("seed", "0:9") == Range(0, 9)  # a range to draw from, as before
    with pytest.raises(ConfigError, match="would be"):
        parse_axis("seed", "0-999999999999")  # bounded before it is expanded


def test_results_csv_and_the_best_line_tell_apart_settings_that_are_not_axes(tmp_path,
                                                                              fake_fashion):
    import csv
    from dataclasses import replace

    from softreg.sweeps.sweep import COLUMNS

    out = tmp_path / "sweep"
    res = None
    for base in (BASE, replace(BASE, max_loss=50.0), replace(BASE, device="auto")):
        res = run_sweep(SearchSpace(base=base), out, quiet=True, figures=False)
    text = (out / "results.csv").read_text()
    header = text.splitlines()[0].split(",")
    first = ("key", "framework", "lr", "batch_size", "epochs", "weight_decay", "seed",
             "lr_schedule", "standardize", "val_split", "patience", "status", "epochs_run",
             "model_epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
             "test_acc", "seconds")
    assert tuple(header[: len(first)]) == first == COLUMNS[: len(first)]  # readers keep theirs
    assert {"device", "init_std", "val_seed", "monitor", "max_loss"} <= set(header[len(first):])
    # every setting of a key is a column, but the data settings (the folder's, in sweep.json)
    from softreg.core.config import DATA_SETTINGS

    assert set(TrainConfig().to_dict()) - set(DATA_SETTINGS) <= set(header)
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    limit = f"{BASE.max_loss:.6g}"  # as every number of the table
    assert sorted((r["device"], r["max_loss"]) for r in rows) == [
        ("auto", limit), ("cpu", limit), ("cpu", "50")]
    best = res.best
    line = format_best(res).splitlines()[0]
    assert f"device={best['device']}" in line and f"max_loss={best['max_loss']}" in line
    assert "monitor=" not in line and "init_std=" not in line  # the same in every row


def test_an_older_result_file_gets_the_settings_columns_from_its_config(tmp_path, fake_fashion):
    out = tmp_path / "sweep"
    run_sweep(_space(lr=[0.05]), out, quiet=True, figures=False)
    (path,) = (out / "results").glob("*.json")
    data = json.loads(path.read_text())
    for name in ("device", "init_std", "val_seed", "monitor", "max_loss"):
        data["row"].pop(name, None)  # as a sweep before these columns wrote it
    path.write_text(json.dumps(data))
    res = run_sweep(_space(lr=[0.05]), out, quiet=True, figures=False)
    assert res.skipped == 1 and res.best["device"] == "cpu" and res.best["monitor"] == "val_loss"
    assert ",cpu," in (out / "results.csv").read_text().splitlines()[1]
