"""Sweeps in packs (the default): the same files and choices as one configuration at a time."""

import json
import math

import pytest

import softreg.fitting.pack
import softreg.sweeps.worker
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.fitting.pack_plan import Packing, balance, current_packing, packing
from softreg.sweeps.search import SearchSpace
from softreg.sweeps.sweep import run_sweep

BASE = TrainConfig(framework="numpy", epochs=2, batch_size=32, lr=0.05, device="cpu",
                   val_split=0.2)


def _space(**axes):
    return SearchSpace(base=BASE, axes={k: tuple(v) for k, v in axes.items()})


PACKED = Packing()


def _sweep(path, space, settings=PACKED, **kw):
    with packing(settings):
        return run_sweep(space, path, quiet=True, figures=False, **kw)


def _rows(result):
    return {r["key"]: r for r in result.rows}


def _same_rows(a, b):
    assert a.keys() == b.keys()
    for key in a:
        for col, value in a[key].items():
            if col == "seconds":
                continue
            other = b[key][col]
            if not (isinstance(value, float) and math.isnan(value) and math.isnan(other)):
                assert value == other, (key, col)  # bit for bit: packs change no number


def test_packed_and_unpacked_sweeps_write_the_same_results(tmp_path, fake_fashion):
    """Packable and unpackable settings mixed: batch sizes and epochs make four packs; one
    learning rate diverges; seeds are packed together."""
    space = _space(lr=[0.02, 0.1, 1e4], batch_size=[16, 32], epochs=[1, 2], seed=[0, 1])
    packed = _sweep(tmp_path / "packed", space, refit=True)
    alone = _sweep(tmp_path / "alone", space, Packing(enabled=False), refit=True)
    _same_rows(_rows(packed), _rows(alone))
    assert packed.best["key"] == alone.best["key"]
    assert packed.refit["test_acc"] == alone.refit["test_acc"]
    statuses = {r["status"] for r in packed.rows}
    assert statuses == {"completed", "diverged"}
    for name in ("results.csv",):
        assert (tmp_path / "packed" / name).read_text().splitlines()[0] == \
            (tmp_path / "alone" / name).read_text().splitlines()[0]
    weights = sorted(p.name for p in (tmp_path / "packed" / "weights").iterdir())
    assert weights == sorted(p.name for p in (tmp_path / "alone" / "weights").iterdir())
    result = json.loads(next((tmp_path / "packed" / "results").iterdir()).read_text())
    assert set(result) == {"row", "config", "history"}


def test_packs_respect_the_limits_and_run_in_workers(tmp_path, fake_fashion, monkeypatch):
    sizes = []
    real = softreg.sweeps.worker.run_unit

    def counting(dicts, *args, **kw):
        sizes.append(len(dicts))
        return real(dicts, *args, **kw)

    monkeypatch.setattr(softreg.sweeps.worker, "run_unit", counting)
    space = _space(lr=[0.01, 0.02, 0.05, 0.1, 0.2])
    res = _sweep(tmp_path / "a", space, Packing(max_models=2))
    assert sorted(sizes) == [1, 2, 2] and len(res.rows) == 5


def test_packs_are_halved_until_every_worker_has_one():
    assert balance([[0, 1, 2, 3, 4]], 2) == [[0, 1, 2], [3, 4]]
    assert balance([[0, 1], [2]], 4) == [[0], [1], [2]]  # no more to halve
    assert balance([[0, 1], [2, 3]], 1) == [[0, 1], [2, 3]]


def test_an_interrupted_packed_sweep_keeps_finished_packs_and_resumes(tmp_path, fake_fashion,
                                                                      monkeypatch):
    real = softreg.fitting.pack._epoch

    def interrupt_batch_32(state, configs, *args, **kw):
        if configs[0].batch_size == 32 and args[4] == 1:  # the second epoch of that pack
            raise KeyboardInterrupt
        return real(state, configs, *args, **kw)

    monkeypatch.setattr(softreg.fitting.pack, "_epoch", interrupt_batch_32)
    space = _space(lr=[0.01, 0.1], batch_size=[16, 32])
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, space)
    finished = [json.loads(p.read_text())["row"] for p in (tmp_path / "results").glob("*.json")]
    assert sorted(r["batch_size"] for r in finished) == [16, 16]
    monkeypatch.setattr(softreg.fitting.pack, "_epoch", real)
    res = _sweep(tmp_path, space)
    assert res.skipped == 2 and len(res.rows) == 4
    assert {r["status"] for r in res.rows} == {"completed"}


def test_an_error_fails_the_pack_not_the_sweep(tmp_path, fake_fashion, monkeypatch):
    import softreg.backends  # run_pack imports get_packed_backend from here when it runs

    original = softreg.backends.get_packed_backend

    def crash_for_batch_32(framework, device="auto"):
        backend = original(framework, device)
        if crash_for_batch_32.calls == 1:
            raise RuntimeError("CUDA error: out of memory")
        crash_for_batch_32.calls += 1
        return backend

    crash_for_batch_32.calls = 0
    monkeypatch.setattr(softreg.backends, "get_packed_backend", crash_for_batch_32)
    res = _sweep(tmp_path, _space(lr=[0.01, 0.1], batch_size=[16, 32]))
    status = sorted((r["batch_size"], r["status"]) for r in res.rows)
    assert status == [(16, "completed"), (16, "completed"), (32, "failed"), (32, "failed")]
    assert all(r["message"] == "RuntimeError: CUDA error: out of memory"
               for r in res.rows if r["status"] == "failed")
    assert len(list((tmp_path / "results").glob("*.json"))) == 2


def test_a_pack_that_all_diverged_ends_its_configurations_not_the_sweep(tmp_path, fake_fashion):
    res = _sweep(tmp_path, _space(lr=[1e4, 3e4], batch_size=[16, 32]))
    assert all(r["status"] == "diverged" for r in res.rows) and res.best is None


@pytest.mark.parametrize(("flags", "message"), [
    (["--pack", "0"], "the most models a pack holds must be an integer >= 1, got 0; use e.g. "
                      "--pack 64, or --no-pack"),
    (["--pack-memory", "lots"], "--pack-memory: cannot read 'lots' as a positive size; use "
                                "e.g. 2G, 512M or a number of bytes"),
])
def test_bad_pack_flags_are_one_line_before_any_work(tmp_path, capsys, flags, message):
    out = tmp_path / "sweep"
    code = main(["sweep", "--framework", "numpy", "--out", str(out), *flags])
    err = capsys.readouterr()
    assert code == 2 and err.out == "" and message in err.err
    assert len(err.err.strip().splitlines()) == 1
    assert not out.exists()


def test_pack_flags_reach_the_sweep(tmp_path, fake_fashion, monkeypatch, capsys):
    seen = []
    real = softreg.sweeps.sweep._train_all

    def spy(*args, **kw):
        seen.append(current_packing())
        return real(*args, **kw)

    monkeypatch.setattr(softreg.sweeps.sweep, "_train_all", spy)
    args = ["sweep", "--framework", "numpy", "--epochs", "1", "--lr", "0.05,0.1",
            "--batch-size", "32", "--no-figures", "--quiet", "--offline"]
    assert main([*args, "--out", str(tmp_path / "a"), "--pack", "3",
                 "--pack-memory", "512M"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--no-pack"]) == 0
    assert seen == [Packing(True, 3, 512 * 2**20), Packing(False, None, None)]


def test_a_sweep_sizes_its_packs_for_the_datas_shape(tmp_path, monkeypatch):
    """On scikit-learn's digits (10 classes, 64 features) a budget that holds four models of
    that shape makes one pack of four; sized as Fashion-MNIST's (10, 784) it would not."""
    from conftest import need

    need("sklearn")
    from dataclasses import replace

    from softreg.fitting.pack_plan import pack_bytes

    sizes = []
    real = softreg.sweeps.worker.run_unit

    def counting(dicts, *args, **kw):
        sizes.append(len(dicts))
        return real(dicts, *args, **kw)

    monkeypatch.setattr(softreg.sweeps.worker, "run_unit", counting)
    budget = pack_bytes(4, 1, 32, shape=(10, 64))
    assert pack_bytes(4, 1, 32, shape=(10, 784)) > budget  # Fashion's shape would split it
    space = SearchSpace(base=replace(BASE, data="sklearn:digits"),
                        axes={"lr": (0.01, 0.02, 0.05, 0.1)})
    res = _sweep(tmp_path / "digits", space, Packing(memory=budget))
    assert sizes == [4] and {r["status"] for r in res.rows} == {"completed"}
    assert all(r["val_acc"] > 0.5 for r in res.rows)  # learned something on real digits


def test_data_shape_comes_from_the_table_for_named_data_and_from_the_data_otherwise(
        tmp_path, monkeypatch):
    from conftest import need
    from softreg.fitting.splits import data_shape

    monkeypatch.setenv("SOFTREG_CACHE_DIR", str(tmp_path / "empty"))  # no file anywhere
    assert data_shape(TrainConfig(data="emnist-balanced"), offline=True).weights == (47, 784)
    assert data_shape(TrainConfig(data="fashion-mnist"), offline=True).weights == (10, 784)
    need("sklearn")
    assert data_shape(TrainConfig(data="sklearn:wine")).weights == (3, 13)
