"""An exported model is made to be shared: no format records where the training data or the
checkpoint lay on the machine that exported it (an absolute path names the user's folders, their
user name included). The data is named by its kind and file name, the checkpoint by its run
folder's name and its file name."""

import io
import zipfile

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.export.common import data_name
from softreg.runfiles import checkpoint

SOURCE = f"run/{checkpoint.LAST}"  # how the exports name the checkpoint


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A short NumPy run on a CSV given by its absolute path (the checkpoint records it so)."""
    scratch = tmp_path_factory.mktemp("private-folder")
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.normal(size=(60, 4)) + y[:, None]
    table = scratch / "table.csv"
    rows = [",".join(f"{v:.3f}" for v in row) + f",k{label}\n"
            for row, label in zip(X, y, strict=True)]
    table.write_text("a,b,c,d,label\n" + "".join(rows))
    run = scratch / "run"
    code = main(["train", "--framework", "numpy", "--data", f"csv:{table}", "--label-column",
                 "label", "--epochs", "2", "--quiet", "--no-figures", "--out", str(run)])
    assert code == 0
    assert str(table) in checkpoint.load(run / checkpoint.LAST).meta["data"]  # the premise
    return scratch


def _export(capsys, source, fmt, out):
    code = main(["export", str(source), "--format", fmt, "--out", str(out)])
    _, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out.read_bytes()


def _assert_no_path(data: bytes, scratch) -> None:
    assert str(scratch).encode() not in data  # the data's and the checkpoint's folder


@pytest.mark.parametrize(("fmt", "name", "library"), [
    ("onnx", "m.onnx", "onnx"), ("torch", "m.safetensors", "safetensors"),
    ("keras", "m.keras", "tensorflow"),
])
@pytest.mark.parametrize("given", ["folder", "checkpoint"])
def test_exported_file_holds_no_absolute_path(capsys, csv_run, fmt, name, library, given):
    need(library)
    run = csv_run / "run"
    source = run if given == "folder" else run / checkpoint.LAST  # both absolute
    out = csv_run / f"{given}-{name}"
    data = _export(capsys, source, fmt, out)
    _assert_no_path(data, csv_run)
    if fmt == "keras":  # a zip: its members too, should Keras ever compress them
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                _assert_no_path(archive.read(member), csv_run)
    out.unlink()


def test_onnx_names_the_data_and_checkpoint_by_their_names(capsys, csv_run):
    onnx = need("onnx")
    out = csv_run / "named.onnx"
    model = onnx.load_from_string(_export(capsys, csv_run / "run", "onnx", out))
    assert model.doc_string.startswith("Softmax regression on csv:table.csv. Input 'features'")
    assert {p.key: p.value for p in model.metadata_props}["source"] == SOURCE
    out.unlink()


def test_torch_names_the_checkpoint_by_its_run_folder_and_file(capsys, csv_run):
    need("safetensors")
    from safetensors import safe_open

    out = csv_run / "named.safetensors"
    _export(capsys, csv_run / "run" / checkpoint.LAST, "torch", out)
    with safe_open(str(out), "numpy") as f:
        assert f.metadata()["source"] == SOURCE
    out.unlink()


@pytest.mark.parametrize(("meta", "named"), [
    ({"data": "fashion-mnist"}, "fashion-mnist"),
    ({"data": "sklearn:digits"}, "sklearn:digits"),
    ({"data": "csv:/home/someone/projects/table.csv"}, "csv:table.csv"),
    ({"data": "folder:/home/someone/photos"}, "folder:photos"),
    ({"data": "npz:C:\\Users\\someone\\arrays.npz"}, "npz:arrays.npz"),
    ({"data": "parquet:data/rows.parquet"}, "parquet:rows.parquet"),
    ({}, "fashion-mnist"),  # a checkpoint older than the recorded spec
    ({"estimator": {}}, None),  # an estimator fitted on arrays: no name known
])
def test_data_is_named_by_kind_and_file_name_only(meta, named):
    ck = checkpoint.Checkpoint(np.zeros((10, 784), np.float32), np.zeros(10, np.float32), meta)
    assert data_name(ck) == named


def test_a_checkpoint_outside_a_run_folder_is_named_by_its_file_name_alone(capsys, csv_run):
    onnx = need("onnx")
    loose = csv_run / "loose"
    loose.mkdir(exist_ok=True)
    ck = checkpoint.load(csv_run / "run" / checkpoint.LAST)
    ck.meta.pop("epoch", None)
    checkpoint.save(loose / "est.safetensors", ck)
    out = csv_run / "loose.onnx"
    model = onnx.load_from_string(_export(capsys, loose / "est.safetensors", "onnx", out))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["source"] == "est.safetensors"
    assert "epoch" not in props
    out.unlink()
