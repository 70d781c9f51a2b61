import json

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import CheckpointError
from softreg.core.shape import ModelShape
from softreg.runfiles import checkpoint
from softreg.safety import tensorfile

st = need("safetensors", "safetensors.numpy")


def _ckpt():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((10, 784)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    return checkpoint.Checkpoint(W, b, {"framework": "torch", "epoch": 3, "config": {"lr": 0.1}})


def test_roundtrip_is_exact(tmp_path):
    p = checkpoint.save(tmp_path / "c.safetensors", _ckpt())
    back = checkpoint.load(p)
    np.testing.assert_array_equal(back.W, _ckpt().W)
    np.testing.assert_array_equal(back.b, _ckpt().b)
    assert back.meta["framework"] == "torch" and back.meta["epoch"] == 3
    assert back.meta["config"] == {"lr": 0.1}
    assert back.meta["format"] == "softreg-checkpoint"


def test_file_is_plain_safetensors_with_only_w_and_b(tmp_path):
    """Read the bytes by the format's spec, not through a library: no room for a pickle."""
    raw = checkpoint.save(tmp_path / "c.safetensors", _ckpt()).read_bytes()
    n = int.from_bytes(raw[:8], "little")  # u64 little-endian: length of the JSON header
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    assert set(header) == {"__metadata__", "W", "b"}
    meta = header["__metadata__"]
    assert meta["format"] == "softreg-checkpoint"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    expected = {"W": _ckpt().W, "b": _ckpt().b}
    spans = []
    for name, arr in expected.items():
        entry = header[name]
        assert set(entry) == {"dtype", "shape", "data_offsets"}
        assert entry["dtype"] == "F32" and tuple(entry["shape"]) == arr.shape
        start, end = entry["data_offsets"]
        assert data[start:end] == arr.astype("<f4").tobytes()
        spans.append((start, end))
    spans.sort()
    # the two tensors tile the data buffer exactly: no bytes outside them
    assert spans[0][0] == 0 and spans[0][1] == spans[1][0] and spans[1][1] == len(data)


def test_run_folder_is_accepted(tmp_path):
    checkpoint.save(tmp_path / "checkpoint.safetensors", _ckpt())
    assert checkpoint.load(tmp_path).meta["epoch"] == 3


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize(("kind", "says"), [
    ("seeds", "is a seeds folder ('softreg train --seeds'): it keeps the seeds' metrics, not "
              "their weights"),
    ("sweep", "is a sweep folder: its models are the .safetensors files in its weights/ folder"),
    ("study", "is a study folder"), ("explain", "is an explain folder: pass the run folder it"),
    ("train", None)])
def test_a_folder_of_another_kind_says_where_its_models_are(tmp_path, kind, says):
    from softreg.safety.runfolder import MARKER

    (tmp_path / MARKER).write_text(json.dumps({"format": "softreg-run", "version": 1,
                                               "kind": kind}))
    with pytest.raises(CheckpointError, match="does not exist") as info:
        checkpoint.load(tmp_path)
    if says is None:  # a run folder without its checkpoint: the plain advice
        assert str(info.value).endswith("does not exist; pass a .safetensors file written by "
                                        "'softreg train' (or its run folder)")
    else:
        assert says in str(info.value)


def test_not_safetensors(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"\x80\x04pickle data, not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a softreg checkpoint: it cannot be read"):
        checkpoint.load(p)


def test_foreign_safetensors(tmp_path):
    p = tmp_path / "x.safetensors"
    st.save_file({"W": np.zeros((10, 784), np.float32)}, str(p))
    with pytest.raises(CheckpointError, match="safetensors file but not a softreg checkpoint"):
        checkpoint.load(p)


@pytest.mark.parametrize(("name", "shape"), [("W", (10, 28, 28)), ("b", (11,))])
def test_wrong_shapes(tmp_path, name, shape):
    arrays = {"W": np.zeros((10, 784), np.float32), "b": np.zeros(10, np.float32)}
    arrays[name] = np.zeros(shape, np.float32)
    p = tmp_path / "x.safetensors"
    st.save_file(arrays, str(p), metadata={"format": "softreg-checkpoint"})
    with pytest.raises(CheckpointError, match=rf"array '{name}' has shape .* expected"):
        checkpoint.load(p)


def test_non_finite_weights_are_refused(tmp_path):
    c = _ckpt()
    c.W[0, 0] = np.nan
    with pytest.raises(CheckpointError, match="holds NaN or inf"):
        checkpoint.save(tmp_path / "c.safetensors", c)
    assert not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize("missing", ["W", "b"])
def test_checkpoint_without_an_array(tmp_path, missing):
    arrays = {"W": np.zeros((10, 784), np.float32), "b": np.zeros(10, np.float32)}
    del arrays[missing]
    p = tmp_path / "x.safetensors"
    st.save_file(arrays, str(p), metadata={"format": "softreg-checkpoint"})
    with pytest.raises(CheckpointError, match=rf"has no array '{missing}'; a softreg checkpoint "
                       r"holds W \(10, 784\) and b \(10,\)"):
        checkpoint.load(p)


def test_load_model_follows_the_run_folder_to_its_final_model(tmp_path):
    last = _ckpt()
    best = checkpoint.Checkpoint(last.W * 0, last.b, {"epoch": 2})
    checkpoint.save(tmp_path / "best.safetensors", best)
    checkpoint.save(tmp_path / "checkpoint.safetensors", last)  # no model_file: an older run
    path, ck = checkpoint.load_model(tmp_path)
    assert path == tmp_path / "checkpoint.safetensors" and ck.meta["epoch"] == 3
    last.meta["model_file"] = "best.safetensors"
    last.extra = {"best_W": best.W, "best_b": best.b}  # what a run keeps of its best epoch
    checkpoint.save(tmp_path / "checkpoint.safetensors", last)
    path, ck = checkpoint.load_model(tmp_path)
    assert path == tmp_path / "best.safetensors" and ck.meta["epoch"] == 2
    path, ck = checkpoint.load_model(tmp_path / "checkpoint.safetensors")  # a file: itself
    assert ck.meta["epoch"] == 3


def test_the_same_checkpoint_is_the_same_bytes_every_time(tmp_path):
    """safetensors orders the metadata map differently from call to call; the header is
    written sorted, so a sweep's weights files compare byte for byte."""
    ckpt = checkpoint.Checkpoint(np.ones((10, 784), np.float32), np.zeros(10, np.float32),
                                 {"framework": "torch", "epoch": 2, "config": {"lr": 0.1},
                                  "class_names": [str(i) for i in range(10)], "sweep_key": "k"})
    encoded = {checkpoint.encode(ckpt) for _ in range(8)}
    assert len(encoded) == 1
    data = encoded.pop()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    assert list(header["__metadata__"]) == sorted(header["__metadata__"]) and size % 8 == 0
    path = tmp_path / "k.safetensors"
    path.write_bytes(data)
    loaded = checkpoint.load(path)
    assert loaded.meta["sweep_key"] == "k" and loaded.W.sum() == 7840


def _named(names):
    """A checkpoint of one feature and the classes ``names``."""
    shape = ModelShape(tuple(names), 1)
    return checkpoint.Checkpoint(np.zeros(shape.weights, np.float32),
                                 np.zeros(shape.classes, np.float32),
                                 {"model_shape": shape.to_dict(), "class_names": list(names)})


def _fits(length, count=4000):
    """Whether class names of ``length`` characters (``count`` of them) can be written."""
    try:
        checkpoint.encode(_named([f"{i:05d}".ljust(length, "x") for i in range(count)]))
    except CheckpointError:
        return False
    return True


def test_the_writer_refuses_a_header_its_reader_would_refuse(tmp_path, monkeypatch):
    """One bound for both: the longest class names the writer takes give a file the reader
    reads; one character more is refused before anything is written (at a 1 MiB bound, for
    speed: both sides read the one constant)."""
    monkeypatch.setattr(tensorfile, "MAX_HEADER", 1 << 20)
    lo, hi = 5, 400  # fits, does not
    assert _fits(lo) and not _fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(mid) else (lo, mid)
    names = [f"{i:05d}".ljust(lo, "x") for i in range(4000)]
    back = checkpoint.load(checkpoint.save(tmp_path / "edge.safetensors", _named(names)))
    assert list(back.shape.class_names) == names
    size = int.from_bytes((tmp_path / "edge.safetensors").read_bytes()[:8], "little")
    assert size <= tensorfile.MAX_HEADER < size + 2 * 4000 * 2 + 8  # at the bound itself
    longer = [n + "x" for n in names]
    with pytest.raises(CheckpointError) as got:
        checkpoint.save(tmp_path / "over.safetensors", _named(longer))
    assert not (tmp_path / "over.safetensors").exists()
    assert str(got.value).startswith(f"'{tmp_path / 'over.safetensors'}': the checkpoint's "
                                     "header would be ")
    assert f"more than the {tensorfile.MAX_HEADER:,} softreg reads back (its metadata " in str(
        got.value)
    assert str(got.value).endswith("; nothing was written: use shorter class or feature "
                                   "names, or fewer of them")


@pytest.mark.parametrize("names", [["a"] * 2 + [f"c{i}" for i in range(8)],
                                   [""] + [f"c{i}" for i in range(9)]])
def test_an_older_checkpoints_class_names_must_be_distinct_and_named(tmp_path, names):
    """A checkpoint without a model_shape (Fashion-MNIST's): its ten names are checked too."""
    raw = checkpoint.save(tmp_path / "c.safetensors", _ckpt()).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"]["class_names"] = json.dumps(names)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    (tmp_path / "t.safetensors").write_bytes(len(text).to_bytes(8, "little") + text
                                             + raw[8 + n:])
    with pytest.raises(CheckpointError, match="metadata 'class_names' must be a list of 1 to "
                                              "100000 printable class names, distinct and none "
                                              "empty"):
        checkpoint.load(tmp_path / "t.safetensors")


@pytest.mark.slow
def test_the_longest_run_fits_every_file_it_is_resumed_from(tmp_path):
    """MAX_EPOCHS records of the longest JSON (every value a 23-character float) and class
    names filling their whole share: the checkpoint header is under the reader's bound and
    history.json under the JSON reader's, both read back (a run of more epochs is refused
    before it starts; before the bound, a run of 4,600 epochs wrote a checkpoint its own
    reader refused)."""
    from dataclasses import fields

    from softreg.core.config import MAX_EPOCHS, TrainConfig
    from softreg.core.errors import ConfigError
    from softreg.data.dataset import NAMES_BYTES
    from softreg.epochs.history import EpochRecord, History
    from softreg.safety import readback

    worst = -1.2345678901234567e-300
    records = [EpochRecord(**{f.name: (e if f.name == "epoch" else worst)
                              for f in fields(EpochRecord)}) for e in range(1, MAX_EPOCHS + 1)]
    history = History(records)
    count = NAMES_BYTES // (2 * 70)  # names of 64 characters, in their two places
    ck = _named([f"{i:06d}".ljust(64, "x") for i in range(count)])
    ck.meta.update(history=history.to_dict(), epoch=MAX_EPOCHS,
                   config=TrainConfig(epochs=MAX_EPOCHS).to_dict())
    back = checkpoint.load(checkpoint.save(tmp_path / "long.safetensors", ck))
    assert len(History.from_dict(back.meta["history"])) == MAX_EPOCHS
    written = history.files(tmp_path)
    assert len(written[tmp_path / "history.json"]) < readback.JSON_LIMIT
    with pytest.raises(ConfigError, match=f"epochs must be at most {MAX_EPOCHS:,}"):
        TrainConfig(epochs=MAX_EPOCHS + 1)
