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
