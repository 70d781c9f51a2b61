"""Run, sweep and study folders: softreg writes only into folders it owns, one writer at a time,
never leaves a folder that mixes two runs, and turns file-system errors into one line."""

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _cli import refused, run_cli

from softreg.runfiles import checkpoint
from softreg.safety import runfolder
from softreg.sweeps.sweep import usable_jobs

TRAIN = ("train", "--framework", "numpy", "--epochs", "2", "--batch-size", "64", "--quiet")


@pytest.fixture()
def run_dir(tmp_path, fake_fashion, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TRAIN, "--out", out)
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", ["report.md", "config.json", "metrics.csv", "history.json",
                                  "curves.png", "notes.txt"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_train_refuses_a_folder_of_user_files(tmp_path, fake_fashion, capsys, name, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("the user's own words")
    code, _, err = run_cli(capsys, *TRAIN, "--out", out, *(["--overwrite"] if overwrite else []))
    refused(code, err, "holds files softreg did not make")
    assert (out / name).read_text() == "the user's own words"
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_train_into_an_empty_folder_marks_it(tmp_path, fake_fashion, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = run_cli(capsys, *TRAIN, "--out", out)
    assert code == 0, err
    marker = json.loads((out / runfolder.MARKER).read_text())
    assert marker == {"format": "softreg-run", "version": 1, "kind": "train"}
    assert not (out / runfolder.LOCK).exists()  # released at the end


def test_sweep_refuses_a_train_run_folder(run_dir, fake_fashion, capsys):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    code, _, err = run_cli(capsys, "sweep", "--lr", "0.1", "--epochs", "1", "--out", run_dir)
    refused(code, err, "is a softreg train folder, not a sweep folder")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_overwrite_leaves_no_file_of_the_old_run(tmp_path, fake_fashion, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TRAIN, "--val-split", "0.2", "--patience", "5", "--out", out)
    assert code == 0, err
    assert (out / "best.safetensors").exists() and (out / "curves.png").exists()
    code, _, err = run_cli(capsys, *TRAIN, "--no-figures", "--seed", "3", "--out", out,
                        "--overwrite")
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([".softreg-run", "calibration.json", "checkpoint.safetensors",
                            "config.json", "history.json", "metrics.csv", "report.md"])
    assert checkpoint.load(out).meta["config"]["seed"] == 3


def test_overwrite_refuses_a_run_folder_holding_a_user_file(run_dir, fake_fashion, capsys):
    (run_dir / "notes.txt").write_text("mine")
    before = sorted(p.name for p in run_dir.iterdir())
    code, _, err = run_cli(capsys, *TRAIN, "--out", run_dir, "--overwrite")
    refused(code, err, "would have to delete or keep files softreg did not make")
    assert "notes.txt" in err and sorted(p.name for p in run_dir.iterdir()) == before


def test_a_second_writer_is_refused(run_dir, fake_fashion, capsys):
    before = (run_dir / "checkpoint.safetensors").read_bytes()
    with runfolder.claim(run_dir, "train", "resume"):  # another command holds the folder
        code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
        refused(code, err, f"is in use by another softreg command (pid {os.getpid()}")
        code, _, err = run_cli(capsys, *TRAIN, "--out", run_dir, "--overwrite")
        refused(code, err, "is in use by another softreg command")
    assert (run_dir / "checkpoint.safetensors").read_bytes() == before


def test_two_sweeps_into_one_folder_do_not_interleave(tmp_path, fake_fashion, capsys):
    out = tmp_path / "sweep"
    with runfolder.claim(out, "sweep", "add"):
        code, _, err = run_cli(capsys, "sweep", "--lr", "0.1", "--epochs", "1", "--out", out)
        refused(code, err, "is in use by another softreg command")
    assert not (out / "results").exists()


def test_a_dead_process_lock_is_taken_over(run_dir, fake_fashion, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    (run_dir / runfolder.LOCK).write_text(json.dumps({"pid": pid, "host": "h", "started": "t"}))
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    assert code == 0, err
    assert f"took over the lock of pid {pid} on h, started t" in err
    assert checkpoint.load(run_dir).meta["epoch"] == 3


def test_default_folder_names_never_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runfolder, "default_stem", lambda prefix: f"{prefix}-20260101-000000")
    got = [runfolder.new_folder("runs", runfolder.default_stem("numpy")) for _ in range(3)]
    assert [p.name for p in got] == ["numpy-20260101-000000", "numpy-20260101-000000-2",
                                     "numpy-20260101-000000-3"]


@pytest.mark.parametrize("seeds", [(), ("--seeds", "0-1")])
def test_a_refused_run_without_out_leaves_no_folder(tmp_path, monkeypatch, capsys, seeds):
    """train (and train --seeds) without --out make runs/<framework>-<time> before the data is
    read; refused there (a CSV that is not there), they take it away again, and runs/ too
    when they made it; a runs/ that was there stays."""
    monkeypatch.chdir(tmp_path)
    args = ("train", "--data", f"csv:{tmp_path / 'missing.csv'}", "--quiet", *seeds)
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "missing.csv" in err
    assert os.listdir(tmp_path) == []
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert os.listdir(tmp_path / "runs") == ["mine"]


def test_overwrite_then_crash_leaves_no_mixed_folder(run_dir, fake_fashion, capsys, monkeypatch):
    import softreg.fitting.trainer

    def crash(*args, **kwargs):
        raise OSError(errno.EIO, "simulated crash")

    monkeypatch.setattr(softreg.fitting.trainer, "run_epochs", crash)
    code, _, err = run_cli(capsys, *TRAIN, "--seed", "9", "--out", run_dir, "--overwrite")
    assert code == 2
    # Nothing of the old run is left for --resume to continue under the new settings.
    assert not (run_dir / "checkpoint.safetensors").exists()
    assert not (run_dir / "metrics.csv").exists()
    code, _, err = run_cli(capsys, "train", "--resume", run_dir)
    refused(code, err, "cannot resume")


@pytest.mark.parametrize(("name", "change", "said"), [
    ("config.json", lambda d: {**d, "lr": 0.5}, "config.json holds other settings"),
    ("history.json", lambda d: {**d, "epochs": d["epochs"][:1]}, "history.json holds other"),
])
def test_resume_refuses_files_that_disagree(run_dir, fake_fashion, capsys, name, change, said):
    path = run_dir / name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    refused(code, err, said)
    assert "disagree with checkpoint.safetensors" in err


def test_metrics_agree_with_the_checkpoint_after_every_epoch(tmp_path, fake_fashion,
                                                             monkeypatch, capsys):
    import softreg.jobs.run

    seen = []
    original = softreg.jobs.run.fileio.write_together

    def spy(files):
        result = original(files)
        out = next(iter(files)).parent
        if (out / "checkpoint.safetensors").exists():
            epoch = checkpoint.load(out).meta["epoch"]
            rows = (out / "metrics.csv").read_text().splitlines()[1:]
            seen.append((epoch, len(rows), len(json.loads(
                (out / "history.json").read_text())["epochs"])))
        return result

    monkeypatch.setattr(softreg.jobs.run.fileio, "write_together", spy)
    code, _, err = run_cli(capsys, *TRAIN, "--epochs", "3", "--out", tmp_path / "r")
    assert code == 0, err
    assert seen[:3] == [(1, 1, 1), (2, 2, 2), (3, 3, 3)]


def test_leftover_temporaries_are_removed(run_dir, fake_fashion, capsys):
    leftover = run_dir / ".checkpoint.safetensors.k2j4_x9a.tmp"
    leftover.write_bytes(b"half a checkpoint")
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    assert code == 0, err
    assert not leftover.exists()


def test_resume_with_no_epochs_left_says_so(run_dir, fake_fashion, capsys):
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "2")
    assert code == 0
    assert "has done 2 of 2 epochs: nothing left to train (pass --epochs N with N > 2" in err


def test_sigterm_finishes_the_files_and_exits_143(tmp_path, real_data):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "softreg", "train", "--framework", "numpy", "--epochs", "200",
         "--offline", "--no-figures", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the table's header
    proc.stdout.readline()  # epoch 1 is done and saved
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "interrupted by SIGTERM" in stdout and "softreg train --resume" in stdout
    epoch = checkpoint.load(out).meta["epoch"]
    assert 1 <= epoch < 200
    assert len((out / "metrics.csv").read_text().splitlines()) == epoch + 1
    assert (out / "report.md").exists() and not (out / runfolder.LOCK).exists()


# --- file-system errors: one line naming the path, exit 2 -------------------------------------

def test_out_under_a_file(tmp_path, fake_fashion, capsys):
    (tmp_path / "f").write_text("x")
    code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "f" / "run")
    refused(code, err, "Not a directory")
    assert str(tmp_path / "f") in err


def test_out_under_proc(fake_fashion, capsys):
    code, _, err = run_cli(capsys, *TRAIN, "--out", "/proc/softreg-run")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "/proc/softreg-run" in err


def test_disk_full_keeps_the_previous_checkpoint(run_dir, fake_fashion, capsys, monkeypatch):
    before = (run_dir / "checkpoint.safetensors").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    refused(code, err, f"cannot write {str(run_dir / 'config.json')!r}: No space left on "
            "device; free some space or write elsewhere")  # the file it was writing
    assert (run_dir / "checkpoint.safetensors").read_bytes() == before
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_evaluate_png_that_is_a_folder(run_dir, fake_fashion, capsys, tmp_path):
    code, out, err = run_cli(capsys, "evaluate", run_dir, "--png", tmp_path)
    refused(code, err, "give a file name, not a folder")
    assert "accuracy" not in out  # refused before any work


def test_evaluate_png_refuses_a_file_it_did_not_make(run_dir, fake_fashion, capsys, tmp_path):
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"the user's own picture")
    code, out, err = run_cli(capsys, "evaluate", run_dir, "--png", mine)
    refused(code, err, "already exists; softreg does not replace it: choose another "
                    "--png, or pass --overwrite to replace it")
    assert "accuracy" not in out and mine.read_bytes() == b"the user's own picture"
    code, out, err = run_cli(capsys, "evaluate", run_dir, "--png", mine, "--overwrite")
    assert code == 0 and mine.read_bytes().startswith(b"\x89PNG"), err
    code, out, err = run_cli(capsys, "evaluate", run_dir)  # its own default file: replaced
    code2, _, err2 = run_cli(capsys, "evaluate", run_dir)
    assert code == code2 == 0, (err, err2)


def test_lr_find_refuses_a_figure_it_did_not_make(fake_fashion, capsys, tmp_path):
    mine = tmp_path / "lr-find.png"
    mine.write_bytes(b"the user's own picture")
    flags = ("lr-find", "--framework", "numpy", "--num", "3", "--batch-size", "64",
             "--out", mine)
    code, out, err = run_cli(capsys, *flags)
    refused(code, err, "already exists; softreg does not replace it")
    assert "suggested" not in out and mine.read_bytes() == b"the user's own picture"
    code, out, err = run_cli(capsys, *flags, "--overwrite")
    assert code == 0 and mine.read_bytes().startswith(b"\x89PNG"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr-find.png"]  # no temporary left


def test_data_sample_that_is_a_folder(fake_fashion, capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "--sample", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(tmp_path) in err


# --- sweeps ---------------------------------------------------------------------------------

SWEEP = ("sweep", "--lr", "0.05,0.1", "--epochs", "1", "--batch-size", "64", "--framework",
         "numpy", "--quiet", "--no-figures")


def test_a_tampered_result_file_is_refused(tmp_path, fake_fashion, capsys):
    out = tmp_path / "sweep"
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    assert code == 0, err
    path = sorted((out / "results").glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["row"]["val_acc"] = "0.99\x1b[2J"
    path.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    refused(code, err, "field 'val_acc' must be a number, got '0.99\\x1b[2J'")
    assert path.name in err and "\x1b" not in err


@pytest.mark.parametrize(("packing", "lrs", "first"), [("--no-pack", "0.05,0.1", 1),
                                                      ("--pack=2", "0.05,0.1,0.2,0.3", 2)])
def test_interrupted_sweep_keeps_the_table_and_drops_orphans(tmp_path, fake_fashion, capsys,
                                                             monkeypatch, packing, lrs, first):
    import softreg.fitting.pack
    import softreg.sweeps.worker

    out = tmp_path / "sweep"
    from softreg.cli import build_parser
    from softreg.cli.sweep import build_space
    from softreg.sweeps.search import config_key, configurations

    argv = (*SWEEP[:2], lrs, *SWEEP[3:], packing, "--out", out)
    last = config_key(configurations(build_space(build_parser().parse_args(
        [str(a) for a in argv])))[-1])
    runfolder.claim(out, "sweep", "add").release()  # a sweep folder, with a weights file
    (out / "weights").mkdir(parents=True)            # of a configuration of this sweep that
    orphan = out / "weights" / f"{last}.safetensors"  # never finished (it is interrupted)
    orphan.write_bytes(b"")
    mine = out / "weights" / "mine.safetensors"  # the user's: in no record, never deleted
    mine.write_bytes(b"user")
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"user")
    (out / "weights" / "fedcba987654.safetensors").symlink_to(outside)
    calls = []
    # Ctrl-C in the second configuration (one at a time) or the second pack (of two)
    module, name = ((softreg.sweeps.worker, "fit") if packing == "--no-pack"
                    else (softreg.fitting.pack, "_epoch"))
    real = getattr(module, name)

    def then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, then_ctrl_c)
    code, _, _err = run_cli(capsys, *argv)
    assert code == 130
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + first  # the header and what finished before Ctrl-C
    assert not orphan.exists()
    assert mine.read_bytes() == b"user" and outside.read_bytes() == b"user"
    assert (out / "weights" / "fedcba987654.safetensors").is_symlink()
    monkeypatch.setattr(module, name, real)
    code, out_text, _err = run_cli(capsys, *argv)  # resume
    assert code == 0 and f"{first} from an earlier run" in out_text
    assert len((out / "results.csv").read_text().splitlines()) == 1 + len(lrs.split(","))


def test_random_search_says_how_it_draws(tmp_path, fake_fashion, capsys):
    code, out, err = run_cli(capsys, "sweep", "--search", "random", "--trials", "1", "--lr", "0:1",
                          "--weight-decay", "1e-5:1e-3", "--epochs", "1", "--framework",
                          "numpy", "--no-figures", "--out", tmp_path / "s")
    assert code in (0, 3), err
    assert "--lr: drawn uniformly from (a range from 0 or below cannot be log-uniform" in out
    assert "--weight-decay: drawn log-uniformly (every decade equally likely) from" in out


def test_jobs_are_capped_at_the_usable_cores(capsys):
    import io

    cores = len(os.sched_getaffinity(0))
    said = io.StringIO()
    assert usable_jobs(1000, said) == cores
    assert f"--jobs 1000 is more than the {cores} usable cores: running {cores}" in said.getvalue()
    assert usable_jobs(1, said) == 1


def test_study_refuses_a_folder_of_user_files(tmp_path, fake_fashion, capsys):
    out = tmp_path / "study"
    out.mkdir()
    (out / "summary.md").write_text("my summary")
    code, _, err = run_cli(capsys, "study", "overfit", "--epochs", "1", "--out", out)
    refused(code, err, "holds files softreg did not make")
    assert (out / "summary.md").read_text() == "my summary"


@pytest.mark.parametrize("argv", [("explain", "--no-figures"), ("export", "--format", "torch"),
                                  ("evaluate",)])
def test_explain_export_and_evaluate_refuse_a_run_folder_in_use(run_dir, fake_fashion, capsys,
                                                                argv):
    with runfolder.claim(run_dir, "train", "resume"):  # a training run still writes there
        code, _, err = run_cli(capsys, argv[0], run_dir, *argv[1:])
        refused(code, err, "is in use by another softreg command")
        assert not (run_dir / "evaluate-test-confusion.png").exists()
    code, _, err = run_cli(capsys, argv[0], run_dir, *argv[1:])  # once it has ended
    assert code == 0, err
    assert not (run_dir / runfolder.LOCK).exists()


@pytest.mark.parametrize(("marker", "said"), [
    ("{not json", "cannot be read"),
    ('{"format": "something-else", "version": 1, "kind": "train"}',
     "is not a softreg folder marker"),
    ('{"format": "softreg-run", "version": 99, "kind": "train"}',
     "was made by a newer softreg (folder format 99, this one reads 1); upgrade softreg"),
])
def test_a_bad_marker_is_refused(run_dir, fake_fashion, capsys, marker, said):
    (run_dir / runfolder.MARKER).write_text(marker)
    before = (run_dir / "checkpoint.safetensors").read_bytes()
    code, _, err = run_cli(capsys, *TRAIN, "--out", run_dir, "--overwrite")
    refused(code, err, said)
    assert (run_dir / "checkpoint.safetensors").read_bytes() == before


def test_no_free_default_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(runfolder, "MAX_NAMES", 2)
    runfolder.new_folder(tmp_path, "x")
    runfolder.new_folder(tmp_path, "x")
    with pytest.raises(runfolder.FolderError, match="no free folder name x-N under"):
        runfolder.new_folder(tmp_path, "x")


def test_resume_writes_a_missing_config_json_again_from_the_checkpoint(run_dir, fake_fashion,
                                                                       capsys):
    """It was refused as files that disagree, with --overwrite advised (which drops the
    run); the checkpoint holds the settings, and the resume writes config.json from them."""
    before = (run_dir / "config.json").read_text()
    (run_dir / "config.json").unlink()
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    assert code == 0, err
    assert json.loads((run_dir / "config.json").read_text()) == {**json.loads(before),
                                                                 "epochs": 3}


@pytest.mark.parametrize(("name", "change", "said"), [
    ("metrics.csv", lambda t: t.replace("1,", "7,", 1), "metrics.csv holds other epochs"),
    ("config.json", lambda t: "[1, 2", "config.json cannot be read"),
])
def test_resume_names_each_file_that_disagrees(run_dir, fake_fashion, capsys, name, change,
                                               said):
    path = run_dir / name
    if change is None:
        path.unlink()
    else:
        path.write_text(change(path.read_text()))
    code, _, err = run_cli(capsys, "train", "--resume", run_dir, "--epochs", "3")
    refused(code, err, said)


@pytest.mark.parametrize(("text", "said"), [
    ("{truncated", "is not valid JSON"),
    (None, "field 'key' must be the file's name"),
])
def test_a_result_file_that_is_not_one_is_refused(tmp_path, fake_fashion, capsys, text, said):
    out = tmp_path / "sweep"
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    assert code == 0, err
    path = sorted((out / "results").glob("*.json"))[0]
    if text is None:  # a valid result filed under another configuration's name
        path.rename(out / "results" / "000000000000.json")
        path = out / "results" / "000000000000.json"
    else:
        path.write_text(text)
    code, _, err = run_cli(capsys, *SWEEP, "--out", out)
    refused(code, err, said)
    assert path.name in err


def test_no_command_makes_its_folder_inside_another_softreg_folder(tmp_path, fake_fashion,
                                                                   capsys):
    """A seeds folder made at a sweep's results/zz.json left the sweep refusing to resume
    ("result file ... is a folder"); a sweep in a run's subfolder left the run refusing
    --overwrite. Explaining a sweep's weights file goes beside the sweep by default."""
    sweep = tmp_path / "sweep"
    code, _, err = run_cli(capsys, *SWEEP, "--out", sweep)
    assert code == 0, err
    before = sorted(p.relative_to(sweep).as_posix() for p in sweep.rglob("*"))
    weights = sorted((sweep / "weights").glob("*.safetensors"))[0]
    for argv in ((*TRAIN, "--seeds", "0-1", "--out", sweep / "results" / "zz.json"),
                 (*TRAIN, "--out", sweep / "weights" / "run"),
                 (*SWEEP, "--out", sweep / "inner"),
                 ("study", "overfit", "--epochs", "1", "--out", sweep / "study"),
                 # refused before the data is read (here: data that is not there)
                 (*TRAIN, "--seeds", "0-1", "--data", f"csv:{tmp_path / 'no.csv'}", "--out",
                  sweep / "s"),
                 ("study", "overfit", "--data", f"csv:{tmp_path / 'no.csv'}", "--out",
                  sweep / "t"),
                 (*TRAIN, "--data", f"csv:{tmp_path / 'no.csv'}", "--out", sweep / "u"),
                 ("explain", weights, "--out", sweep / "weights" / "x"),
                 ("export", weights, "--format", "onnx", "--out", f"{sweep / 'refit' / 'x'}/")):
        code, _, err = run_cli(capsys, *argv)
        refused(code, err, f"lies inside {str(sweep)!r}, a softreg sweep folder, which keeps "
                           "only its own command's files: choose a folder outside it")
    assert sorted(p.relative_to(sweep).as_posix() for p in sweep.rglob("*")) == before
    code, _, err = run_cli(capsys, *SWEEP, "--out", sweep)  # it still resumes
    assert code == 0, err
    code, _, err = run_cli(capsys, "explain", weights, "--no-figures")
    assert code == 0, err
    assert (tmp_path / f"sweep-{weights.stem}-explain" / "explain.md").is_file()
    img = tmp_path / "img.npy"  # predict --calibrated finds the temperature where explain put it
    np.save(img, fake_fashion["test"][0][0])
    code, out, err = run_cli(capsys, "predict", weights, img, "--calibrated")
    assert code == 0 and "calibrated: logits divided by the temperature" in out, err


def test_infinite_metrics_and_a_refit_of_other_settings_are_refused(tmp_path, fake_fashion,
                                                                    capsys):
    """A test_acc of Infinity (JSON's, which json reads) passed the range check, which skipped
    what is not finite, and was reported as the best's; a refit file copied from a sweep of
    other settings was taken as this sweep's refit (best lr 0.1, refit of lr 0.05, its weights
    file absent)."""
    out = tmp_path / "sweep"
    code, _, err = run_cli(capsys, *SWEEP, "--refit", "--out", out)
    assert code == 0, err
    path = sorted((out / "results").glob("*.json"))[0]
    text = path.read_text()
    data = json.loads(text)
    data["row"]["test_acc"] = float("inf")
    path.write_text(json.dumps(data))  # writes Infinity
    code, _, err = run_cli(capsys, *SWEEP, "--refit", "--out", out)
    refused(code, err, "field 'test_acc' must be in [0.0, 1.0], got inf")
    data["row"]["test_acc"], data["row"]["val_loss"] = 0.5, float("-inf")
    path.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, *SWEEP, "--refit", "--out", out)
    refused(code, err, "field 'val_loss' must be in [0.0, inf], got -inf")
    path.write_text(text)
    other = tmp_path / "other"
    code, _, err = run_cli(capsys, "sweep", "--lr", "0.3", *SWEEP[3:], "--refit", "--out", other)
    assert code == 0, err
    (mine,), (theirs,) = ((o / "refit").glob("*.json") for o in (out, other))
    own = mine.read_bytes()
    mine.write_bytes(theirs.read_bytes())
    code, _, err = run_cli(capsys, *SWEEP, "--refit", "--out", out)
    refused(code, err, f"field 'key' must be the key its file is named by, {mine.stem!r}")
    mine.write_bytes(own)  # its own refit, whose weights file is gone
    (out / json.loads(own)["row"]["weights"]).unlink()
    code, _, err = run_cli(capsys, *SWEEP, "--refit", "--out", out)
    refused(code, err, "field 'weights' must be a weights file in the sweep folder (it is not "
                       "there)")


def test_a_folder_made_by_a_claim_that_fails_at_once_is_removed(tmp_path):
    """A command refused right after claiming a new folder (a sweep whose Ray cluster
    refused it) left an empty folder with softreg's marker; one that wrote anything keeps it,
    and an empty folder that was there before is kept, without the marker (it kept one, and
    then passed for a sweep's folder that no sweep had used)."""
    new, wrote, before = tmp_path / "new", tmp_path / "wrote", tmp_path / "before"
    before.mkdir()
    for folder, write in ((new, False), (wrote, True), (before, False)):
        with pytest.raises(RuntimeError), runfolder.held(folder, "sweep", "add"):
            if write:
                (folder / "sweep.json").write_text("{}")
            raise RuntimeError("refused")
    assert not new.exists()
    assert sorted(p.name for p in wrote.iterdir()) == [runfolder.MARKER, "sweep.json"]
    assert sorted(p.name for p in before.iterdir()) == []
