"""The file-losing defects of the third trust round, each with a variation of its kind.

(The discovery test, ``test_write_gate.py``, runs every output option against every kind of
target; these name the cases the round found, and check the gate's own functions.)
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from _cli import refused, run_cli

from softreg.core.errors import ConfigError
from softreg.safety import fileio, runfolder, writegate

TRAIN = ("train", "--framework", "numpy", "--epochs", "1", "--batch-size", "64", "--quiet",
         "--no-figures", "--val-split", "0.1")


@pytest.fixture()
def two_runs(tmp_path, fake_fashion, capsys):
    runs = []
    for name, seed in (("a", "0"), ("b", "1")):
        code, _, err = run_cli(capsys, *TRAIN, "--seed", seed, "--out", tmp_path / name)
        assert code == 0, err
        runs.append(tmp_path / name)
    return runs


@pytest.mark.parametrize("names", [("explain.md", "calibration.json"), ("calibration.json",),
                                   ("reliability.png", "notes.txt")])
def test_explain_out_on_a_folder_of_the_users_is_refused(two_runs, tmp_path, capsys, names):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in names:
        (mine / name).write_text("the user's")
    code, _, err = run_cli(capsys, "explain", two_runs[0], "--out", mine, "--no-figures")
    refused(code, err, "holds files softreg did not make")
    assert sorted(p.name for p in mine.iterdir()) == sorted(names)
    assert all((mine / n).read_text() == "the user's" for n in names)


@pytest.mark.parametrize("explained", ["folder", "file"])
def test_explain_into_another_runs_folder_is_refused(two_runs, capsys, explained):
    a, b = two_runs
    before = (b / "calibration.json").read_bytes()
    target = a if explained == "folder" else a / "checkpoint.safetensors"
    code, _, err = run_cli(capsys, "explain", target, "--out", b, "--no-figures")
    refused(code, err, "is the folder of another run")
    assert (b / "calibration.json").read_bytes() == before


def test_explain_into_its_own_run_and_a_new_folder_works(two_runs, tmp_path, capsys):
    a, _ = two_runs
    assert run_cli(capsys, "explain", a, "--no-figures")[0] == 0
    assert run_cli(capsys, "explain", a, "--out", tmp_path / "e", "--no-figures")[0] == 0
    assert runfolder.marker_kind(tmp_path / "e") == "explain"
    assert run_cli(capsys, "explain", a, "--out", tmp_path / "e", "--no-figures")[0] == 0  # again


@pytest.mark.parametrize("kind", ["file", "link"])
def test_data_sample_does_not_replace_a_file(tmp_path, capsys, kind):
    theirs = tmp_path / "theirs.png"
    theirs.write_text("the user's")
    target = theirs if kind == "file" else tmp_path / "link.png"
    if kind == "link":
        target.symlink_to(theirs)
    code, _, err = run_cli(capsys, "data", "--offline", "--sample", target)
    refused(code, err, "already exists" if kind == "file" else "is a symbolic link")
    code, _, err = run_cli(capsys, "data", "--offline", "--sample", target, "--overwrite")
    if kind == "link":  # --overwrite never writes through (or over) a link
        refused(code, err, "is a symbolic link, not a regular file")
        assert target.is_symlink() and theirs.read_text() == "the user's"
    else:  # asked for: replaced by the figure
        assert code == 0, err
        assert theirs.read_bytes().startswith(b"\x89PNG")


def _special(path, kind):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the null device's numbers
    else:
        (path.parent / "target").write_text("the user's")
        path.symlink_to(path.parent / "target")


@pytest.mark.parametrize("kind", ["device", "fifo", "link"])
def test_export_overwrite_never_replaces_a_device_fifo_or_link(two_runs, tmp_path, capsys,
                                                               kind):
    pytest.importorskip("safetensors")
    dest = tmp_path / "dest"
    _special(dest, kind)
    before = os.lstat(dest)
    code, _, err = run_cli(capsys, "export", two_runs[0], "--format", "torch", "--out", dest,
                        "--overwrite")
    refused(code, err, "not a regular file; softreg never writes over one")
    after = os.lstat(dest)
    assert (stat.S_IFMT(after.st_mode), after.st_ino, after.st_rdev) == (
        stat.S_IFMT(before.st_mode), before.st_ino, before.st_rdev)
    if kind == "link":
        assert (tmp_path / "target").read_text() == "the user's"


def test_evaluate_default_png_beside_a_users_checkpoint_is_not_replaced(two_runs, tmp_path,
                                                                        capsys):
    pytest.importorskip("matplotlib")
    mine = tmp_path / "mine"
    mine.mkdir()
    ck = mine / "model.safetensors"
    ck.write_bytes((two_runs[0] / "checkpoint.safetensors").read_bytes())
    png = mine / "evaluate-test-confusion.png"
    png.write_text("the user's")
    code, _, err = run_cli(capsys, "evaluate", ck)
    refused(code, err, f"the confusion figure's default file {str(png)!r} already exists, and "
            "softreg replaces it by itself only in its own run and sweep folders: pass "
            "--overwrite to replace it, --png PATH to write another file, or --no-figures")
    assert png.read_text() == "the user's"
    assert run_cli(capsys, "evaluate", ck, "--no-figures")[0] == 0  # as the message says
    assert run_cli(capsys, "evaluate", ck, "--png", mine / "other.png")[0] == 0
    assert run_cli(capsys, "evaluate", ck, "--overwrite")[0] == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    # in a run folder, the default name is softreg's own and is replaced on each evaluation
    assert run_cli(capsys, "evaluate", two_runs[0])[0] == 0
    assert run_cli(capsys, "evaluate", two_runs[0])[0] == 0


def test_cleanups_never_follow_a_link(tmp_path):
    out = tmp_path / "run"
    runfolder.claim(out, "train", "new").release()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.json").write_text("the user's")
    (outside / ".x.json.abcdefgh.tmp").write_text("the user's")
    (out / ".y.json.abcdefgh.tmp").symlink_to(outside / ".x.json.abcdefgh.tmp")
    (out / "config.json").symlink_to(outside / "keep.json")
    assert runfolder.remove_temporaries(out, "train") == []
    assert (out / ".y.json.abcdefgh.tmp").is_symlink()
    with pytest.raises(ConfigError, match=r"holds files softreg did not make|would have to"):
        runfolder.claim(out, "train", "overwrite")
    assert (outside / "keep.json").read_text() == "the user's"
    assert (out / "config.json").is_symlink()
    # a link where a sweep keeps its weights is never walked into
    sweep = tmp_path / "sweep"
    runfolder.claim(sweep, "sweep", "add").release()
    (sweep / "weights").symlink_to(outside, target_is_directory=True)
    (outside / "0123456789ab.safetensors").write_text("the user's")
    assert not writegate.remove_own_file(sweep, "weights/0123456789ab.safetensors")
    assert (outside / "0123456789ab.safetensors").exists()


@pytest.mark.parametrize("rel", ["../outside.txt", "/etc/passwd", "a/../../x"])
def test_remove_own_file_stays_in_its_folder(tmp_path, rel):
    (tmp_path / "outside.txt").write_text("x")
    (tmp_path / "f").mkdir()
    assert not writegate.remove_own_file(tmp_path / "f", rel)
    assert (tmp_path / "outside.txt").exists()


@pytest.mark.parametrize("kind", ["device", "fifo", "link"])
def test_atomic_writes_refuse_what_is_not_a_regular_file(tmp_path, kind):
    dest = tmp_path / "config.json"
    _special(dest, kind)
    with pytest.raises(ConfigError, match="not a regular file"):
        fileio.write_json(dest, {"a": 1})
    with pytest.raises(ConfigError, match="not a regular file"):
        fileio.write_together({dest: b"{}"})
    assert not stat.S_ISREG(os.lstat(dest).st_mode)


def test_tensorboard_into_the_run_folder_is_refused_before_writing(tmp_path, fake_fashion,
                                                                  capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TRAIN, "--out", out, "--tensorboard", out / "tb")
    refused(code, err, "is the run folder --out or inside it")
    assert not out.exists()
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "notes.txt").write_text("the user's")
    code, _, err = run_cli(capsys, *TRAIN, "--out", out, "--tensorboard", tmp_path / "tb")
    refused(code, err, "holds files that are not event files (notes.txt)")
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["notes.txt"]


def test_seeds_with_tensorboard_is_refused_not_ignored(tmp_path, fake_fashion, capsys):
    code, _, err = run_cli(capsys, *TRAIN, "--seeds", "0-1", "--out", tmp_path / "s",
                        "--tensorboard", tmp_path / "tb")
    refused(code, err, "--tensorboard cannot be used with --seeds")
    assert not (tmp_path / "tb").exists()


def test_a_rerun_of_a_seeds_folder_is_not_called_a_sweep(tmp_path, fake_fashion, capsys):
    out = tmp_path / "s"
    assert run_cli(capsys, *TRAIN, "--seeds", "0-1", "--out", out)[0] == 0
    code, _, err = run_cli(capsys, *TRAIN, "--seeds", "0-1", "--out", out)
    refused(code, err, "already holds a seeds run (train --seeds)")
    assert "sweep" not in err
    assert json.loads((out / runfolder.MARKER).read_text())["kind"] == "seeds"


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_planted_lock_file_is_never_written_through(tmp_path, kind):
    out = tmp_path / "run"
    runfolder.claim(out, "train", "new").release()
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("the user's")
    if kind == "link":
        (out / runfolder.LOCK).symlink_to(theirs)
    else:
        os.mkfifo(out / runfolder.LOCK)
    with pytest.raises(ConfigError, match="is not a regular file"):
        runfolder.claim(out, "train", "resume")
    assert theirs.read_text() == "the user's"


@pytest.mark.parametrize("sub", ["results", "weights", "refit"])
def test_a_sweep_subfolder_that_is_a_link_is_refused(tmp_path, sub):
    out = tmp_path / "sweep"
    runfolder.claim(out, "sweep", "add").release()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (out / sub).symlink_to(theirs, target_is_directory=True)
    with pytest.raises(ConfigError, match=f"is a symbolic link, not a folder; softreg writes "
                       f"its {sub}/ files only into a real folder"):
        runfolder.claim(out, "sweep", "add")
    assert list(theirs.iterdir()) == []


def test_an_output_never_replaces_a_runs_state_file(two_runs, tmp_path, capsys):
    """An export named onto a run's checkpoint replaced it with --overwrite, and the run no
    longer evaluated or resumed: a folder's state files are its own command's."""
    run = two_runs[0]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    dest = run / "checkpoint.safetensors"  # the very checkpoint exported: refused as that
    code, _, err = run_cli(capsys, "export", run, "--format", "torch", "--out", dest,
                           "--overwrite")
    refused(code, err, f"--out {str(dest)!r} is the checkpoint being exported; writing the "
            "export there would replace the model it is made from, --overwrite or not")
    dest = run / "x" / ".." / "config.json"
    code, _, err = run_cli(capsys, "export", run, "--format", "torch", "--out", dest,
                           "--overwrite")
    refused(code, err, f"--out {str(dest)!r} is a file of {str(run.resolve())!r}, a folder "
            "of softreg's train command, which reads it back: softreg never replaces it "
            "with another output (--overwrite or not); choose another --out")
    code, _, err = run_cli(capsys, "evaluate", run, "--png", run / "history.json",
                           "--overwrite")
    refused(code, err, "which reads it back")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert not (run / "x").exists()
    assert run_cli(capsys, "export", run, "--format", "torch", "--out",
                   run / "mine.safetensors")[0] == 0  # another name in the folder: an output
