"""What a sweep folder may reuse and merge: results of the data as it is now, seeds of one
setting only, a refit that finished; a random range refused as typed; the exit status of a
stop."""

import json
import math
import os
import signal

import numpy as np
import pytest

import softreg.fitting.pack
import softreg.sweeps.worker
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.epochs.history import Status
from softreg.sweeps.search import Range, SearchSpace
from softreg.sweeps.sweep import run_sweep


def _table(path, seed=0, labels=None):
    """A small learnable table of 3 classes (90 rows, 4 features) as a CSV file."""
    rng = np.random.default_rng(seed)
    y = np.arange(90) % 3 if labels is None else labels
    x = rng.normal(size=(90, 4)) + 2.0 * (np.arange(90) % 3)[:, None]
    lines = ["f0,f1,f2,f3,label"] + [",".join(f"{v:.4f}" for v in row) + f",c{k}"
                                     for row, k in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return f"csv:{path}"


def _space(data, lrs=(0.1, 0.5), **base):
    config = TrainConfig(data=data, framework="numpy", epochs=2, batch_size=16, val_split=0.2,
                         device="cpu", **base)
    return SearchSpace(base=config, axes={"lr": tuple(lrs)})


def _sweep(out, space, **kw):
    return run_sweep(space, out, quiet=True, figures=False, **kw)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".softreg-lock"}


# --- the data the results were trained on ------------------------------------------------


def test_a_rerun_after_the_data_changed_is_refused_before_anything_is_trained(tmp_path):
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "sw"
    _sweep(out, _space(data))
    before = _files(out)
    _table(tmp_path / "t.csv", labels=np.random.default_rng(0).integers(0, 3, 90))  # relabelled
    for lrs in ((0.1, 0.5), (0.1, 0.5, 1.0)):  # the same grid, and a wider one
        with pytest.raises(ConfigError, match=rf"^data '{data}' changed since the sweep in "
                           rf"'{out}' was made from it: .*; restore that data, or choose "
                           r"another --out to sweep the data as it is now$"):
            _sweep(out, _space(data, lrs))
        assert _files(out) == before  # nothing trained, nothing rewritten
    _table(tmp_path / "t.csv")  # the data restored: the sweep resumes
    assert _sweep(out, _space(data, (0.1, 0.5, 1.0))).skipped == 2


def test_an_older_result_file_is_checked_through_its_weights(tmp_path):
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "sw"
    _sweep(out, _space(data, (0.1,)))
    result = next((out / "results").glob("*.json"))
    saved = json.loads(result.read_text())
    del saved["row"]["data_fingerprint"]  # as softreg wrote it before the field existed
    result.write_text(json.dumps(saved))
    assert _sweep(out, _space(data, (0.1,))).skipped == 1
    _table(tmp_path / "t.csv", seed=1)
    with pytest.raises(ConfigError, match="changed since the sweep in"):
        _sweep(out, _space(data, (0.1,)))
    (out / saved["row"]["weights"]).unlink()
    with pytest.raises(ConfigError, match=rf"does not exist; .*; the data of '{result}' cannot "
                       "be checked without its weights: delete that file to train its "
                       "configuration again$"):
        _sweep(out, _space(data, (0.1,)))


@pytest.mark.parametrize(("field", "value"), [("lr", 0.5), ("epochs", 3), ("seed", 1),
                                               ("framework", "torch"), ("standardize", True)])
def test_a_result_row_whose_settings_are_not_its_configs_is_refused(tmp_path, field, value):
    """results.csv shows a row's own settings: a row that says lr 0.5 where its configuration
    trained lr 0.1 would list a result under settings that never made it."""
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "sw"
    _sweep(out, _space(data, (0.1,)))
    result = next((out / "results").glob("*.json"))
    saved = json.loads(result.read_text())
    saved["row"][field] = value
    result.write_text(json.dumps(saved))
    before = _files(out)
    with pytest.raises(ConfigError, match=rf"^'{result}': field '{field}' must be its config's, "
                       r".*, got .*; delete the file to train that configuration again$"):
        _sweep(out, _space(data, (0.1,)))
    assert _files(out) == before


def test_a_refit_of_other_data_is_not_reused(tmp_path):
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "sw"
    first = _sweep(out, _space(data), refit=True)
    assert first.refit is not None and first.refit["status"] == Status.COMPLETED
    _table(tmp_path / "t.csv", seed=1)
    for result in (out / "results").glob("*.json"):  # the results go, the refit stays
        result.unlink()
    with pytest.raises(ConfigError, match=r"changed since the sweep in .* was made from it"):
        _sweep(out, _space(data), refit=True)


# --- which rows are the seeds of one setting -----------------------------------------------


def test_rows_differing_in_any_setting_but_the_seed_are_not_averaged(tmp_path):
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "sw"
    _sweep(out, _space(data, (0.5,)))
    merged = _sweep(out, _space(data, (0.5,), max_loss=50.0))  # merged: another setting
    assert len(merged.rows) == 2 and {r["seed"] for r in merged.rows} == {0}
    assert merged.selection["seeds"] == 1
    assert len({r["setting"] for r in merged.rows}) == 2
    seeds = SearchSpace(base=_space(data).base, axes={"lr": (0.5,), "seed": (0, 1)})
    both = _sweep(tmp_path / "seeds", seeds)
    assert both.selection["seeds"] == 2 and len({r["setting"] for r in both.rows}) == 1


def test_a_sweep_of_other_data_or_another_monitor_is_not_merged(tmp_path):
    out = tmp_path / "sw"
    _sweep(out, _space(_table(tmp_path / "a.csv")))
    before = _files(out)
    other = _table(tmp_path / "b.csv", seed=1)
    with pytest.raises(ConfigError, match=rf"^'{out}' holds a sweep of other data \(data "
                       rf"csv:{tmp_path / 'a.csv'}; this one: data {other}\): its results "
                       r"cannot be compared with this one's; choose another --out, or use the "
                       r"same --data \(and the same flags of how it is read\)$"):
        _sweep(out, _space(other))
    with pytest.raises(ConfigError, match=r"holds a sweep whose early stopping watched another "
                       r"metric \(monitor val_loss; this one: monitor val_acc\): .*; choose "
                       r"another --out, or use the same --monitor$"):
        _sweep(out, _space(f"csv:{tmp_path / 'a.csv'}", monitor="val_acc"))
    assert _files(out) == before




def test_a_sweep_records_the_files_path_absolute_and_resumes_it_named_any_way(tmp_path,
                                                                             monkeypatch):
    proj, sub = tmp_path / "proj", tmp_path / "proj" / "sub"
    sub.mkdir(parents=True)
    _table(proj / "t.csv")
    out = tmp_path / "sw"
    monkeypatch.chdir(proj)
    _sweep(out, _space("csv:t.csv"))
    spec = json.loads((out / "sweep.json").read_text())
    absolute = f"csv:{proj / 't.csv'}"
    assert spec["base"]["data"] == absolute
    assert {c["data"] for c in spec["configurations"].values()} == {absolute}
    before = _files(out)
    for where, data in ((proj, "csv:./t.csv"), (sub, "csv:../t.csv"), (sub, absolute)):
        monkeypatch.chdir(where)
        again = _sweep(out, _space(data))
        assert again.skipped == 2 and len(again.rows) == 2
        assert _files(out) == before  # resumed: nothing trained, nothing merged
    _table(sub / "t.csv", seed=1)  # another file of the same name: other data
    with pytest.raises(ConfigError, match=rf"^'{out}' holds a sweep of other data \(data "
                       rf"{absolute}; this one: data csv:{sub / 't.csv'}\)"):
        _sweep(out, _space("csv:t.csv"))


def test_a_sweep_recorded_with_a_relative_path_resumes_from_the_folder_it_was_made_in(
        tmp_path, monkeypatch):
    # a sweep folder of an older softreg: its sweep.json holds the path as typed, which only
    # the current folder can resolve
    import softreg.sweeps.sweep

    proj, sub = tmp_path / "proj", tmp_path / "proj" / "sub"
    sub.mkdir(parents=True)
    _table(proj / "t.csv")
    out = tmp_path / "sw"
    monkeypatch.chdir(proj)
    with monkeypatch.context() as old:
        old.setattr(softreg.sweeps.sweep, "recorded_data", lambda data: data)
        _sweep(out, _space("csv:t.csv"))
    spec = json.loads((out / "sweep.json").read_text())
    assert {c["data"] for c in spec["configurations"].values()} == {"csv:t.csv"}
    before = _files(out)
    for data in ("csv:t.csv", "csv:./t.csv", f"csv:{proj / 't.csv'}"):
        again = _sweep(out, _space(data))
        assert again.skipped == 2 and len(again.rows) == 2
        assert _files(out) == before
    monkeypatch.chdir(sub)  # csv:t.csv from here is sub/t.csv, not the file it was made from
    with pytest.raises(ConfigError, match=r"holds a sweep of other data \(data csv:t.csv; "):
        _sweep(out, _space("csv:../t.csv"))
# --- a random range is refused as the user typed it ----------------------------------------


@pytest.mark.parametrize(("name", "lo", "flag"), [("weight_decay", -1.0, "--weight-decay"),
                                                  ("lr", -1.0, "--lr"), ("seed", -2.0, "--seed")])
@pytest.mark.parametrize("search_seed", [0, 1, 2])
def test_a_range_reaching_below_its_setting_is_refused_whatever_the_draw(name, lo, flag,
                                                                          search_seed):
    with pytest.raises(ConfigError, match=rf"^{flag}: the range {lo:g}:1 reaches {lo:g}, which "
                       rf"is refused: {name} must be"):
        SearchSpace(base=TrainConfig(val_split=0.1), axes={name: Range(lo, 1.0)},
                    search="random", trials=2, search_seed=search_seed)
    SearchSpace(base=TrainConfig(val_split=0.1), axes={"weight_decay": Range(0.0, 1.0)},
                search="random")  # from 0: drawn uniformly, never exactly 0


# --- a stop during the sweep ---------------------------------------------------------------


def _stop_in_epoch(monkeypatch, when, how):
    """Stop every pack in its epoch ``when`` (from 1), as Ctrl-C (``how="int"``) or SIGTERM to
    this process does."""
    real = softreg.fitting.pack._epoch

    def epoch(state, configs, *args):
        if args[-2] == when - 1:
            if how == "term":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise KeyboardInterrupt
        return real(state, configs, *args)

    monkeypatch.setattr(softreg.fitting.pack, "_epoch", epoch)


def test_an_interrupted_refit_is_not_recorded_and_is_trained_again(tmp_path, fake_fashion,
                                                                   monkeypatch, capsys):
    real = softreg.sweeps.worker.fit
    armed = [True]

    def ctrl_c_in_the_refit(rec, hist):  # a callback after each epoch: Ctrl-C in epoch 2
        if rec.epoch == 2 and armed[0]:
            raise KeyboardInterrupt
        return False

    def fit(config, *args, **kw):  # the refit alone trains on train + val (no val split)
        callbacks = [ctrl_c_in_the_refit] if config.val_split == 0 else []
        return real(config, *args, **kw, callbacks=callbacks)

    monkeypatch.setattr(softreg.sweeps.worker, "fit", fit)
    out = tmp_path / "sw"
    argv = ["sweep", "--framework", "numpy", "--epochs", "3", "--lr", "0.05", "--batch-size",
            "64", "--val-split", "0.2", "--refit", "--no-figures", "--out", str(out)]
    assert main(argv) == 130
    assert capsys.readouterr().err == "softreg sweep: interrupted\n"
    assert not (out / "refit").exists()
    assert [p.name for p in (out / "weights").iterdir()] == [
        next((out / "results").glob("*.json")).stem + ".safetensors"]  # no refit-*
    assert json.loads((out / "best.json").read_text())["refit"] is None  # the choice stands
    armed[0] = False
    assert main(argv) == 0
    refit = json.loads((out / "best.json").read_text())["refit"]
    assert refit["status"] == Status.COMPLETED and refit["epochs_run"] == 3


def test_sigterm_during_a_sweep_in_this_process_exits_143(tmp_path, fake_fashion, monkeypatch,
                                                          capsys):
    _stop_in_epoch(monkeypatch, 2, "term")
    out = tmp_path / "sw"
    code = main(["sweep", "--framework", "numpy", "--epochs", "3", "--lr", "0.05,0.1",
                 "--batch-size", "64", "--val-split", "0.2", "--no-figures", "--out", str(out)])
    assert code == 143 and capsys.readouterr().err == "softreg sweep: terminated (SIGTERM)\n"
    assert (out / "results.csv").read_text().count("\n") == 1  # only the header: unfinished


def test_a_failed_refit_is_reported_not_recorded(tmp_path, fake_fashion, monkeypatch):
    real = softreg.sweeps.worker.fit

    def failing_refit(config, *args, **kw):
        if config.val_split == 0:
            raise RuntimeError("CUDA error: out of memory")
        return real(config, *args, **kw)

    monkeypatch.setattr(softreg.sweeps.worker, "fit", failing_refit)
    from softreg.fitting.pack_plan import Packing, packing
    from softreg.sweeps.sweep import format_best

    with packing(Packing(enabled=False)):
        res = _sweep(tmp_path / "sw", SearchSpace(base=TrainConfig(
            framework="numpy", epochs=2, batch_size=64, val_split=0.2), axes={}), refit=True)
    assert res.refit["status"] == Status.FAILED and not (tmp_path / "sw" / "refit").exists()
    assert "refit on train+val failed: RuntimeError: CUDA error: out of memory (the next run " \
           "of the sweep tries it again)" in format_best(res)
    assert math.isnan(res.refit["test_acc"])


def test_a_sweep_refused_for_its_data_writes_nothing_and_makes_no_folder(tmp_path):
    """Read before the folder is claimed: a folder it would make is not made, and the user's
    empty folder stays empty (no marker, no sweep.json naming the data that was refused)."""
    (tmp_path / "empty").mkdir()
    _table(tmp_path / "small.csv")
    from dataclasses import replace

    from softreg.core.errors import SoftregError

    for data, message in ((f"csv:{tmp_path / 'typo.csv'}", "does not exist"),
                          (f"csv:{tmp_path / 'small.csv'}", "leaves the validation part empty")):
        space = _space(data)
        space = replace(space, base=replace(space.base, val_split=0.001))
        for out in (tmp_path / "sw", tmp_path / "empty"):
            with pytest.raises(SoftregError, match=message):
                _sweep(out, space)
        assert not (tmp_path / "sw").exists() and os.listdir(tmp_path / "empty") == []


def test_the_data_check_reads_a_table_once_for_a_val_split_axis(tmp_path, monkeypatch):
    """Before its folder is made, the sweep checks every data setting's splits: a --val-split
    axis of three values read the table three times (once would do)."""
    import softreg.sweeps.sweep as sweep_module
    from softreg.sweeps.sweep import check_data

    data = _table(tmp_path / "t.csv")
    reads = []
    real = sweep_module.load_dataset
    monkeypatch.setattr(sweep_module, "load_dataset",
                        lambda *a, **k: reads.append(a[0].data) or real(*a, **k))
    configs = [TrainConfig(data=data, framework="numpy", epochs=1, val_split=v, device="cpu")
               for v in (0.1, 0.2, 0.3)]
    shapes = check_data(configs)
    assert reads == [data] and shapes(configs[1]) == (3, 4)
