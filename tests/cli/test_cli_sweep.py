"""`softreg sweep` and `softreg study overfit`: behaviour and refusals (exit 2, one line)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from softreg.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sweep_reports_divergence_and_the_best_by_validation(capsys, tmp_path, fake_fashion):
    out_dir = tmp_path / "sw"
    code, out, err = _run(capsys, "sweep", "--lr", "0.05,1e6", "--batch-size", "32,64",
                          "--epochs", "2", "--framework", "numpy", "--val-split", "0.2",
                          "--out", str(out_dir), "--jobs", "1", "--no-figures")
    assert code == 0, err
    assert out.count("training diverged in epoch 1") == 2
    assert "4 configurations (2 completed, 2 diverged; 0 from an earlier run)" in out
    with open(out_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert (f"best by validation loss {float(rows[0]['val_loss']):.4f}: framework=numpy "
            "lr=0.05") in out
    assert [r["status"] for r in rows] == ["completed", "completed", "diverged", "diverged"]
    best = rows[0]
    assert f"val_acc {float(best['val_acc']):.4f}  test_acc {float(best['test_acc']):.4f}" in out

    code, out, _ = _run(capsys, "sweep", "--lr", "0.05,1e6", "--batch-size", "32,64",
                        "--epochs", "2", "--framework", "numpy", "--val-split", "0.2",
                        "--out", str(out_dir), "--no-figures")
    assert code == 0 and "4 of 4 configurations already finished, skipped" in out


def test_sweep_with_only_diverging_settings_exits_3(capsys, tmp_path, fake_fashion):
    code, out, _ = _run(capsys, "sweep", "--lr", "1e6", "--epochs", "1", "--framework",
                        "numpy", "--out", str(tmp_path / "sw"), "--no-figures", "--quiet")
    assert code == 3 and "no configuration finished without diverging" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "abc"], "--lr: cannot read 'abc' as a number"),
        (["--lr", "0.01:1"], "the range 0.01:1 for lr needs --search random"),
        (["--lr", "0,0.1"], "lr must be a finite number > 0, got 0.0"),
        (["--val-split", "0"], "needs a validation split; add e.g. --val-split 0.1"),
        (["--jobs", "0"], "jobs must be an integer >= 1, got 0"),
        (["--framework", "caffe"], "unknown framework 'caffe'"),
        (["--search", "random", "--trials", "0"], "trials must be an integer >= 1, got 0"),
        (["--val-seed", "-2"], "val_seed must be an integer >= 0, got -2"),
    ],
)
def test_sweep_refusals_exit_2_before_any_work(capsys, tmp_path, argv, message):
    code, _, err = _run(capsys, "sweep", "--out", str(tmp_path / "sw"), "--quiet", *argv)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw" / "results").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "0,0.1"], "lr must be a finite number > 0, got 0.0"),
        (["--val-split", "0"], "needs a validation split; add e.g. --val-split 0.1"),
        (["--jobs", "0"], "jobs must be an integer >= 1, got 0"),
    ],
)
def test_sweep_refusal_is_the_only_line_printed(capsys, tmp_path, argv, message):
    code, out, err = _run(capsys, "sweep", "--out", str(tmp_path / "sw"), *argv)
    assert code == 2 and out == ""
    assert err.startswith("softreg sweep: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw").exists()


def test_sweep_out_that_is_a_file_is_refused_first(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code, out, err = _run(capsys, "sweep", "--out", str(tmp_path / "f"))
    assert code == 2 and out == ""
    assert f"--out {str(tmp_path / 'f')!r} exists and is not a folder" in err


def test_random_sweep_from_ranges(capsys, tmp_path, fake_fashion):
    code, out, _ = _run(capsys, "sweep", "--search", "random", "--trials", "3", "--lr",
                        "0.01:0.3", "--epochs", "1", "--framework", "numpy", "--out",
                        str(tmp_path / "sw"), "--no-figures")
    assert code == 0 and "3 configurations (3 completed" in out
    assert out.count("] lr=") == 3


def test_study_overfit_prints_its_summary(capsys, tmp_path, fake_fashion):
    code, out, err = _run(capsys, "study", "overfit", "--epochs", "3", "--patience", "1",
                          "--framework", "numpy", "--batch-size", "32", "--val-split", "0.2",
                          "--out", str(tmp_path / "st"), "--no-figures")
    assert code == 0, err
    assert "early_stopping together (one pack" in out and "# Overfitting study" in out
    assert (tmp_path / "st" / "summary.md").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weight-decay", "0"], "--weight-decay must be > 0 and --patience >= 1, got 0.0"),
        (["--val-split", "0"], "the overfitting study needs a validation split"),
        (["--epochs", "-1"], "epochs must be an integer >= 0, got -1"),
        (["--val-seed", "-2"], "val_seed must be an integer >= 0, got -2"),
        (["--epochs", "0"], "the overfitting study needs at least 1 epoch, got epochs 0; use "
         "many, e.g. --epochs 100"),
    ],
)
def test_study_refusals(capsys, tmp_path, argv, message):
    code, out, err = _run(capsys, "study", "overfit", "--out", str(tmp_path / "st"), *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out and not (tmp_path / "st").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_parallel_sweep_in_worker_processes(tmp_path, real_data):
    """Worker processes (spawn) on the real data: two jobs, one diverging configuration."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "softreg", "sweep", "--lr", "0.1,1e6", "--batch-size", "1024",
           "--epochs", "1", "--framework", "numpy", "--jobs", "2", "--offline", "--no-figures",
           "--out", str(tmp_path / "sw")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "training diverged in epoch 1" in proc.stdout
    assert "2 configurations (1 completed, 1 diverged" in proc.stdout
    assert len(list((tmp_path / "sw" / "results").glob("*.json"))) == 2


# --- refusals leave nothing behind; checks of the data's own shape; flags of other searches --


def _csv_table(path, rows=60, features=4, classes=3):
    """A small learnable CSV table (``classes`` classes, ``features`` numeric columns)."""
    import numpy as np

    rng = np.random.default_rng(0)
    y = np.arange(rows) % classes
    x = rng.normal(size=(rows, features)) + 2.0 * y[:, None]
    lines = [",".join(f"f{i}" for i in range(features)) + ",label"]
    lines += [",".join(f"{v:.3f}" for v in row) + f",c{k}" for row, k in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return f"csv:{path}"


SMALL = ("--framework", "numpy", "--device", "cpu", "--epochs", "1", "--batch-size", "16",
         "--no-figures")


def test_a_named_dataset_missing_offline_is_refused_before_the_sweep_makes_its_folder(
        capsys, tmp_path, monkeypatch):
    # only its table was read up front: the sweep made its folder, then every configuration
    # failed on the missing files, and the empty sweep folder stayed behind
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no copy anywhere
    monkeypatch.setenv("SOFTREG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SOFTREG_DATA_DIR", raising=False)
    (tmp_path / "nodata").mkdir()
    code, out, err = _run(capsys, "sweep", "--data", "mnist", "--offline", "--data-dir",
                          "nodata", *SMALL, "--out", "sw")
    assert code == 2 and out == "" and "mnist" in err.lower(), err
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("pack", [(), ("--no-pack",)])
def test_a_sweep_refused_for_its_data_leaves_no_folder_and_the_fixed_rerun_works(
        capsys, tmp_path, monkeypatch, pack):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "str.csv").write_text("a,b,label\n1,x,p\n2,y,q\n3,z,p\n4,w,q\n")
    _csv_table(tmp_path / "tiny.csv", rows=6)  # --val-split 0.1 leaves no validation example
    ok = _csv_table(tmp_path / "ok.csv")
    (tmp_path / "empty").mkdir()
    for bad in ("csv:typo.csv", "csv:str.csv", "csv:tiny.csv"):
        for where in ("sw", "empty"):  # a folder it would make, and the user's empty one
            code, out, err = _run(capsys, "sweep", "--data", bad, *SMALL, *pack, "--out", where)
            assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "sw").exists() and os.listdir(tmp_path / "empty") == []
        code, out, err = _run(capsys, "sweep", "--data", bad, *SMALL, *pack)  # sweeps/<time>
        assert code == 2 and out == "" and not (tmp_path / "sweeps").exists(), err
    code, out, err = _run(capsys, "sweep", "--data", ok, *SMALL, *pack, "--out", "sw")
    assert code == 0 and "1 configurations (1 completed" in out, err


def test_pack_memory_is_checked_for_the_datas_model_shape(capsys, tmp_path):
    import numpy as np

    iris_like = _csv_table(tmp_path / "t.csv")  # 3 classes, 4 features
    code, out, err = _run(capsys, "sweep", "--data", iris_like, *SMALL, "--pack-memory", "60M",
                          "--out", str(tmp_path / "a"))
    assert code == 2 and out == "" and not (tmp_path / "a").exists()
    assert "of batch size 16 and shape (3, 4)" in err, err
    # wide data: 50,000 features need far more than Fashion-MNIST's (10, 784) would
    x = np.zeros((30, 50_000), dtype=np.float32)
    np.savez_compressed(tmp_path / "wide.npz", X=x, y=np.arange(30) % 3)
    code, out, err = _run(capsys, "sweep", "--data", f"npz:{tmp_path / 'wide.npz'}", *SMALL,
                          "--batch-size", "256", "--pack-memory", "100M", "--out",
                          str(tmp_path / "b"))
    assert code == 2 and out == "" and not (tmp_path / "b").exists()
    assert "a pack memory budget of 100 MiB does not hold even one model of batch size 256 " \
           "and shape (3, 50000)" in err, err


@pytest.mark.parametrize(("argv", "message"), [
    (["--trials", "5"], "--trials 5 is for --search random (a grid trains every combination "
                        "once): drop it or add --search random"),
    (["--search-seed", "3", "--trials", "4"], "--trials 4 and --search-seed 3 are for --search "
                                              "random"),
    (["--task-gpus", "0.5"], "--task-gpus 0.5 is for --engine ray (a Ray cluster; the local "
                             "engine runs on this machine): drop it or add --engine ray"),
    (["--address", "auto"], "--address auto is for --engine ray (a Ray cluster; the local "
                            "engine runs on this machine): drop it or add --engine ray"),
    (["--trials", "5", "--task-gpus", "0.5"], "--trials 5 is for --search random (a grid "
     "trains every combination once): drop it or add --search random; --task-gpus 0.5 is for "
     "--engine ray"),
])
def test_flags_of_another_search_or_engine_are_refused_alike(capsys, tmp_path, argv, message):
    code, out, err = _run(capsys, "sweep", *SMALL, "--out", str(tmp_path / "sw"), *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert not (tmp_path / "sw").exists()


def test_random_search_says_when_its_lists_hold_fewer_configurations_than_trials(
        capsys, tmp_path, fake_fashion):
    code, out, err = _run(capsys, "sweep", *SMALL, "--lr", "0.05,0.1", "--search", "random",
                          "--trials", "10", "--out", str(tmp_path / "sw"))
    assert code == 0, err
    assert ("--trials 10: the lists hold only 2 distinct configurations; training all 2"
            in out), out
    assert "2 configurations (2 completed" in out
    code, out, err = _run(capsys, "sweep", *SMALL, "--lr", "0.05,0.1", "--search", "random",
                          "--trials", "2", "--out", str(tmp_path / "sw2"))
    assert code == 0 and "distinct configurations" not in out, err


def test_a_sweeps_seed_list_takes_ranges_as_train_seeds_does(capsys, tmp_path, fake_fashion):
    code, out, err = _run(capsys, "sweep", *SMALL, "--seed", "0-2,5", "--out",
                          str(tmp_path / "sw"))
    assert code == 0 and "4 configurations (4 completed" in out, err
    with open(tmp_path / "sw" / "results.csv", newline="") as fh:
        assert sorted(int(r["seed"]) for r in csv.DictReader(fh)) == [0, 1, 2, 5]
