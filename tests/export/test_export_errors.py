"""`softreg export`: the final model it picks, where it writes, and every refusal (one line,
exit 2). These use small made-up checkpoints, not a trained run."""

import re
import sys

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.errors import ConfigError, FolderError
from softreg.export import export_model
from softreg.runfiles import checkpoint


def _ckpt(seed, **meta):
    rng = np.random.default_rng(seed)
    return checkpoint.Checkpoint(rng.standard_normal((10, 784)).astype(np.float32),
                                 rng.standard_normal(10).astype(np.float32),
                                 {"epoch": 4, **meta})


@pytest.fixture()
def run_dir(tmp_path):
    run = tmp_path / "run"
    checkpoint.save(run / checkpoint.LAST, _ckpt(1))
    return run


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, *argv):
    code, out, err = _run(capsys, "export", *argv)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("softreg export: error: ")
    return err.strip()


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_torch_export_holds_the_final_model_of_the_run(capsys, run_dir):
    safetensors_numpy = need("safetensors", "safetensors.numpy")
    best = _ckpt(2)
    checkpoint.save(run_dir / checkpoint.BEST, best)
    last = _ckpt(1, model_file=checkpoint.BEST)
    last.extra = {"best_W": best.W, "best_b": best.b}  # a run keeps its best epoch's weights
    checkpoint.save(run_dir / checkpoint.LAST, last)
    code, out, _ = _run(capsys, "export", str(run_dir), "--format", "torch")
    assert code == 0
    assert out.splitlines()[0] == (f"wrote {run_dir / 'model_torch.safetensors'} (torch; from "
                                   f"{run_dir / checkpoint.BEST}, epoch 4)")
    state = safetensors_numpy.load_file(str(run_dir / "model_torch.safetensors"))
    np.testing.assert_array_equal(state["1.weight"], best.W)
    np.testing.assert_array_equal(state["1.bias"], best.b)
    assert not [n for n in _files(run_dir) if n.startswith(".")]  # no temporary file left


def test_out_may_be_a_file_or_a_folder_and_a_checkpoint_file_is_accepted(run_dir, tmp_path):
    need("safetensors")
    done = export_model(run_dir / checkpoint.LAST, "torch", tmp_path / "a" / "m.safetensors")
    assert done.path == tmp_path / "a" / "m.safetensors" and done.path.is_file()
    (tmp_path / "b").mkdir()
    assert export_model(run_dir, "torch", tmp_path / "b").path == (
        tmp_path / "b" / "model_torch.safetensors")


def test_out_ending_in_a_separator_is_a_folder_made_when_missing(capsys, run_dir, tmp_path):
    need("safetensors")
    new = tmp_path / "exports"
    code, out, _ = _run(capsys, "export", str(run_dir), "--format", "torch", "--out", f"{new}/")
    assert code == 0 and out.startswith(f"wrote {new / 'model_torch.safetensors'} ")
    assert _files(new) == ["model_torch.safetensors"]
    # the folder is not blocked for the next export, given with or without the separator
    done = export_model(run_dir, "torch", f"{new}/", overwrite=True)
    assert done.path == new / "model_torch.safetensors"
    (tmp_path / "existing").mkdir()
    done = export_model(run_dir, "torch", f"{tmp_path / 'existing'}/")
    assert done.path == tmp_path / "existing" / "model_torch.safetensors"


def test_keras_out_ending_in_a_separator_gets_the_default_name(monkeypatch, run_dir, tmp_path):
    from softreg.export import to_keras

    monkeypatch.setattr(to_keras, "write", lambda ck, source, tmp: tmp.write_bytes(b"keras"))
    done = export_model(run_dir, "keras", f"{tmp_path / 'new'}/")  # not refused for its suffix
    assert done.path == tmp_path / "new" / "model.keras" and done.path.read_bytes() == b"keras"


def test_out_without_a_separator_is_a_file(run_dir, tmp_path):
    need("safetensors")
    done = export_model(run_dir, "torch", str(tmp_path / "exports"))
    assert done.path == tmp_path / "exports" and done.path.is_file()


def test_out_ending_in_a_separator_that_is_a_file_is_refused(capsys, run_dir, tmp_path):
    target = tmp_path / "mine"
    target.write_text("mine")
    err = _refused(capsys, str(run_dir), "--format", "torch", "--out", f"{target}/")
    assert err == (f"softreg export: error: --out {str(target)!r} is a regular file, not a "
                   "folder; softreg writes only into a folder it makes or owns: choose another "
                   "path")
    assert target.read_text() == "mine"


def test_existing_file_is_refused_unless_overwrite(capsys, run_dir):
    need("safetensors")
    target = run_dir / "model_torch.safetensors"
    target.write_text("mine")
    err = _refused(capsys, str(run_dir), "--format", "torch")
    assert err == (f"softreg export: error: --out {str(target)!r} already exists; softreg does not "
                   "replace it: choose another --out, or pass --overwrite to replace it")
    assert target.read_text() == "mine"
    code, _, _ = _run(capsys, "export", str(run_dir), "--format", "torch", "--overwrite")
    assert code == 0 and target.read_bytes()[:8] != b"mine"
    _refused(capsys, str(run_dir), "--format", "torch")  # a second export is refused too


def test_a_file_that_appears_while_exporting_is_not_replaced(monkeypatch, run_dir):
    need("safetensors")
    from softreg.export import to_torch

    target = run_dir / "model_torch.safetensors"
    real_write = to_torch.write

    def racing_write(ck, source, tmp):
        real_write(ck, source, tmp)
        target.write_text("written meanwhile")

    monkeypatch.setattr(to_torch, "write", racing_write)
    with pytest.raises(ConfigError, match="already exists; softreg does not replace it"):
        export_model(run_dir, "torch")
    assert target.read_text() == "written meanwhile"
    assert _files(run_dir) == [checkpoint.LAST, "model_torch.safetensors"]


def test_folder_that_is_not_a_run_is_refused(capsys, tmp_path):
    err = _refused(capsys, str(tmp_path), "--format", "onnx")
    assert err == (f"softreg export: error: {str(tmp_path)!r} is not a softreg run folder (it "
                   "has no checkpoint.safetensors); pass a folder written by 'softreg train' or "
                   "a .safetensors checkpoint")
    assert _files(tmp_path) == []



def _marked(folder, kind, ck=None):
    """A folder of softreg's of ``kind`` (a run's holds the checkpoint ``ck``)."""
    from softreg.safety import runfolder

    with runfolder.held(folder, kind, "new"):
        if ck is not None:
            checkpoint.save(folder / checkpoint.LAST, ck)
    return folder


@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_out_in_another_runs_or_a_sweeps_folder_is_refused(capsys, tmp_path, fmt):
    """An export there would pass for that folder's own model (as explain refuses too)."""
    mine = _marked(tmp_path / "mine", "train", _ckpt(1))
    other = _marked(tmp_path / "other", "train", _ckpt(2))
    legacy = tmp_path / "legacy"  # a run folder from before the marker
    checkpoint.save(legacy / checkpoint.LAST, _ckpt(3))
    sweep = _marked(tmp_path / "sweep", "sweep")
    before = {f: _files(f) for f in (other, legacy, sweep)}
    for target, what in ((f"{other}/", "the folder of another run"),
                         (str(other), "the folder of another run"),
                         (str(other / "m.onnx"), f"in the folder of another run, {str(other)!r}"),
                         (f"{other / 'sub'}/", f"in the folder of another run, {str(other)!r}"),
                         (f"{legacy}/", "the folder of another run"),
                         (str(sweep), "the folder of a sweep"),
                         (f"{sweep / 'weights'}/", f"in the folder of a sweep, {str(sweep)!r}")):
        for source in (mine, mine / checkpoint.LAST):
            err = _refused(capsys, str(source), "--format", fmt, "--out", target)
            assert err.startswith(f"softreg export: error: --out {target!r} is {what}; "
                                  f"exporting {str(source)!r} there would put its model among "
                                  "that folder's files, where it passes for the folder's own: "
                                  "choose another --out"), err
        with pytest.raises(FolderError, match=re.escape(f"is {what}; exporting")):  # API too
            export_model(mine, fmt, target)
    assert {f: _files(f) for f in (other, legacy, sweep)} == before
    assert not (other / "sub").exists() and not (sweep / "weights").exists()


def test_out_in_the_models_own_run_folder_is_written(tmp_path):
    need("safetensors")
    mine = _marked(tmp_path / "mine", "train", _ckpt(1))
    done = export_model(mine, "torch", f"{mine}/")
    assert done.path == mine / "model_torch.safetensors" and done.path.is_file()
    code = main(["export", str(mine / checkpoint.LAST), "--format", "torch", "--out",
                 str(mine / "exports" / "m.safetensors")])
    assert code == 0 and (mine / "exports" / "m.safetensors").is_file()


def test_missing_path_is_refused(capsys, tmp_path):
    err = _refused(capsys, str(tmp_path / "nope"), "--format", "onnx")
    assert f"checkpoint {str(tmp_path / 'nope')!r} does not exist" in err


def test_cli_offers_the_formats_of_the_library():
    from softreg.cli.export import _FORMATS
    from softreg.export import FORMATS

    assert tuple(FORMATS) == _FORMATS


def test_unknown_format_is_refused(capsys, run_dir):
    with pytest.raises(SystemExit) as exc:  # argparse's usage error, made one line
        main(["export", str(run_dir), "--format", "tflite"])
    out, err = capsys.readouterr()
    assert (exc.value.code, out) == (2, "")
    assert err == ("softreg export: error: argument --format: invalid choice: 'tflite' (choose "
                   "from 'onnx', 'torch', 'keras') (see softreg export --help)\n")
    with pytest.raises(ConfigError, match=r"unknown export format 'tflite'; choose one of: "
                       r"onnx, torch, keras"):
        export_model(run_dir, "tflite")


def test_unwritable_out_is_refused(capsys, run_dir, tmp_path):
    need("safetensors")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker / "model.safetensors"
    err = _refused(capsys, str(run_dir), "--format", "torch", "--out", str(out))
    assert err == (f"softreg export: error: cannot write {str(out)!r}: {str(blocker)!r} is a "
                   "file, not a folder; choose an --out in a folder you can write to")
    err = _refused(capsys, str(run_dir), "--format", "torch", "--out", str(out / "deeper"))
    assert f"{str(blocker)!r} is a file, not a folder" in err


@pytest.mark.parametrize(("fmt", "module", "human", "extra"), [
    ("onnx", "onnx", "ONNX", "onnx"),
    ("keras", "tensorflow", "TensorFlow", "tensorflow"),
    ("torch", "safetensors", "safetensors", "checkpoint"),  # writing it needs no PyTorch
])
def test_missing_library_is_one_line_with_the_install_hint(capsys, monkeypatch, run_dir, fmt,
                                                           module, human, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    err = _refused(capsys, str(run_dir), "--format", fmt)
    assert err.startswith(f"softreg export: error: {human} is not installed (")
    assert err.endswith(f"; install it with: pip install 'softreg[{extra}]'")
    assert _files(run_dir) == [checkpoint.LAST]


@pytest.mark.parametrize("name", ["model_export", "model.h5", "model.KERAS"])
def test_keras_out_without_the_keras_suffix_is_refused_before_any_work(capsys, run_dir,
                                                                       tmp_path, name):
    out = tmp_path / name
    err = _refused(capsys, str(run_dir), "--format", "keras", "--out", str(out))
    assert err == (f"softreg export: error: --out {str(out)!r} does not end in .keras, the only "
                   f"name keras saves a model under; give e.g. --out {str(out) + '.keras'!r}")
    assert _files(tmp_path) == ["run"]  # no file, temporary or not


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("how", ["same", "relative", "link"])
def test_out_that_is_the_checkpoint_being_exported_is_refused(capsys, monkeypatch, tmp_path,
                                                              overwrite, how):
    need("safetensors")
    est = tmp_path / "est.safetensors"
    checkpoint.save(est, _ckpt(3))
    before = est.read_bytes()
    monkeypatch.chdir(tmp_path)
    out = {"same": str(est), "relative": "./sub/../est.safetensors",
           "link": "alias.safetensors"}[how]
    (tmp_path / "sub").mkdir()
    if how == "link":
        (tmp_path / "alias.safetensors").symlink_to(est)
    flags = ["--overwrite"] if overwrite else []
    err = _refused(capsys, str(est), "--format", "torch", "--out", out, *flags)
    assert "is the checkpoint being exported" in err
    assert est.read_bytes() == before
    assert sorted(_files(tmp_path)) == sorted(["est.safetensors", "sub"]
                                              + (["alias.safetensors"] if how == "link" else []))
    with pytest.raises(ConfigError, match="is the checkpoint being exported"):
        export_model(est, "torch", out, overwrite=True)
    assert est.read_bytes() == before


def test_out_that_is_another_softreg_checkpoint_is_refused(capsys, run_dir, tmp_path):
    need("safetensors")
    other = tmp_path / "other.safetensors"
    checkpoint.save(other, _ckpt(4))
    before = other.read_bytes()
    err = _refused(capsys, str(run_dir), "--format", "torch", "--out", str(other), "--overwrite")
    assert "is a softreg checkpoint" in err
    assert other.read_bytes() == before
