"""Checkpoints and their metadata are files anyone can edit: what softreg refuses, and how.

Issue 11, items 6 (a declared tensor is checked before it is read), 8 (nothing from a file
reaches the terminal unescaped), 11 (a tampered checkpoint never breaks ``--resume`` with a
traceback or a history with repeated epochs) and 14 (weights whose logits overflow float32
are refused; loss and probabilities are computed stably).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _cli import run_cli

from conftest import need
from softreg.core.config import TrainConfig
from softreg.core.errors import CheckpointError, ConfigError, HistoryError
from softreg.epochs.history import EpochRecord, History
from softreg.runfiles import checkpoint
from softreg.safety import tensorfile
from softreg.safety.textsafe import printable, shown
from softreg.sweeps.sweep import SweepResult, _status_text, format_best

FORMAT = {"format": "softreg-checkpoint"}
ESC = "\x1b[2J\x1b[H\rtest: accuracy 0.9999\n"  # clears the screen, forges a line


def _one_line_refusal(code, out, err, *needles):
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not any(ch in err[:-1] for ch in "\x1b\r\n"), err
    for needle in needles:
        assert needle in err, (needle, err)


# ---------------------------------------------------------------- hand-made safetensors files


def _layout(tensors):
    """Header entries and data of ``{name: (dtype, shape, bytes)}`` laid out back to back."""
    entries, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        entries[name] = {"dtype": dtype, "shape": list(shape),
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return entries, data


def _wb(dtype="<f4", tag="F32"):
    W = np.arange(7840, dtype=np.float64).reshape(10, 784) / 7840
    b = np.linspace(-1, 1, 10)
    return {"W": (tag, (10, 784), W.astype(dtype).tobytes()),
            "b": (tag, (10,), b.astype(dtype).tobytes())}


def _craft(path, entries, data=b"", meta=FORMAT, *, size=None, raw_header=None):
    """Write a safetensors file by the spec; ``size`` extends it (sparsely) with zeros."""
    header = raw_header if raw_header is not None else json.dumps(
        {**({"__metadata__": meta} if meta is not None else {}), **entries}).encode()
    with open(path, "wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header + data)
        if size is not None:
            fh.truncate(size)  # a hole: no disk used, nothing allocated until read
    return path


def test_a_5gb_extra_tensor_is_refused_from_its_header_without_reading_it(tmp_path):
    entries, data = _layout(_wb())
    huge = 5 * 10**9  # beyond MAX_DATA (4 GiB), the most any model shape may declare
    entries["junk"] = {"dtype": "F32", "shape": [huge // 4],
                       "data_offsets": [len(data), len(data) + huge]}
    header = json.dumps({"__metadata__": FORMAT, **entries}).encode()
    p = _craft(tmp_path / "big.safetensors", entries, data,
               size=8 + len(header) + len(data) + huge)
    assert os.path.getsize(p) > huge and os.stat(p).st_blocks * 512 < 10**6  # sparse
    child = textwrap.dedent(f"""
        import resource, sys
        limit = 1500 * 2**20  # a safety net: the old code would have mapped and read 2 GB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from softreg.runfiles import checkpoint
        from softreg.core.errors import CheckpointError
        try:
            checkpoint.load({str(p)!r})
            print("loaded")
        except CheckpointError as exc:
            print("refused:", exc)
        # VmHWM: this process's own peak. ru_maxrss may include the parent's peak when the
        # child was started with vfork (the exec'd-away memory counts toward it).
        try:
            with open("/proc/self/status") as fh:
                peak = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("peak_kb", peak)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(checkpoint.__file__).parents[2]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("refused:"), res.stdout
    assert (f"holds {huge + len(data)} bytes of tensor data, more than the "
            f"{checkpoint.MAX_DATA} a softreg checkpoint can need") in lines[0]
    peak_mb = int(lines[1].split()[1]) / 1024
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB while refusing the file"


@pytest.mark.parametrize(("dtype", "tag"), [("<f2", "F16"), ("<f8", "F64")])
def test_other_float_dtypes_are_converted_to_float32(tmp_path, dtype, tag):
    entries, data = _layout(_wb(dtype, tag))
    ck = checkpoint.load(_craft(tmp_path / "c.safetensors", entries, data))
    assert ck.W.dtype == np.float32 and ck.b.dtype == np.float32
    W = (np.arange(7840).reshape(10, 784) / 7840).astype(dtype).astype(np.float32)
    np.testing.assert_array_equal(ck.W, W)


def test_bf16_is_converted_to_float32(tmp_path):
    values = np.array([1.0, -2.5, 0.15625, 2.0**127], np.float32)  # exact in bfloat16
    W = np.resize(values, (10, 784)).astype(np.float32)
    bf16 = (W.view(np.uint32) >> 16).astype("<u2").tobytes()
    tensors = {"W": ("BF16", (10, 784), bf16),
               "b": ("F32", (10,), np.zeros(10, "<f4").tobytes())}
    ck = checkpoint.load(_craft(tmp_path / "c.safetensors", *_layout(tensors)))
    np.testing.assert_array_equal(ck.W, W)


def test_f64_beyond_float32_is_refused(tmp_path):
    tensors = _wb("<f8", "F64")
    tensors["b"] = ("F64", (10,), np.full(10, 1e300).tobytes())
    with pytest.raises(CheckpointError, match=r"array 'b' holds NaN or inf values \(or, "
                       "converted from another float type, values beyond float32\\)"):
        checkpoint.load(_craft(tmp_path / "c.safetensors", *_layout(tensors)))


def _with(extra):
    tensors = _wb()
    tensors.update(extra)
    return _layout(tensors)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _with({"junk": ("F32", (3,), bytes(12))}),
     r"holds a tensor 'junk' that softreg does not know; a softreg checkpoint holds W "
     r"\(10, 784\), b \(10,\) and optionally the pairs best_W/best_b, trained_W/trained_b, "
     r"best_trained_W/best_trained_b \(nothing of it was read\)"),
    (lambda: _with({"best_W": ("F32", (10, 784), bytes(31360))}),
     "holds best_W without best_b; these weights come as a pair"),
    (lambda: _with({"trained_b": ("F32", (10,), bytes(40))}), "holds trained_b without trained_W"),
    (lambda: _with({"best_b": ("F32", (10,), bytes(40))}), "holds best_b without best_W"),
    (lambda: _with({"best_W": ("F32", (784, 10), bytes(31360)),
                    "best_b": ("F32", (10,), bytes(40))}),
     r"array 'best_W' has shape \(784, 10\), expected \(10, 784\)"),
    (lambda: _layout({**_wb(), "W": ("I32", (10, 784), bytes(31360))}),
     r"tensor 'W' has dtype 'I32'; softreg reads float tensors only \(F32, F16, F64, BF16; "
     "all but F32 are converted to float32\\)"),
])
def test_tensors_softreg_does_not_expect_are_refused(tmp_path, make, message):
    entries, data = make()
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(_craft(tmp_path / "c.safetensors", entries, data))


def _entries_edit(edit):
    entries, data = _layout(_wb())
    edit(entries)
    return entries, data


def _set(name, key, value):
    return lambda e: e[name].__setitem__(key, value)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _entries_edit(_set("b", "data_offsets", [31364, 31404])),
     r"tensor 'b' starts at data byte 31364, expected 31360: the tensors must tile the data"),
    (lambda: _entries_edit(_set("b", "data_offsets", [31360, 31396])),
     r"tensor 'b' of dtype F32 and shape \(10,\) needs 40 bytes but its offsets span 36"),
    (lambda: _entries_edit(_set("b", "data_offsets", [31360])),
     r"tensor 'b' has data_offsets \[31360\], not \[start, end\] with 0 <= start <= end"),
    (lambda: _entries_edit(_set("b", "shape", [10.0])),
     r"tensor 'b' has shape \[10.0\], not a list of non-negative integers"),
    (lambda: _entries_edit(_set("b", "extra", 1)),
     "tensor 'b' must be described by exactly 'dtype', 'shape' and 'data_offsets'"),
    (lambda: (_layout(_wb())[0], _layout(_wb())[1] + bytes(4)),
     "the tensors cover 31400 bytes of data but the file holds 31404 after its header"),
])
def test_malformed_headers_are_refused(tmp_path, make, message):
    entries, data = make()
    with pytest.raises(CheckpointError, match="it cannot be read as safetensors .*" + message):
        checkpoint.load(_craft(tmp_path / "c.safetensors", entries, data))


@pytest.mark.parametrize(("raw", "message"), [
    (b"[1, 2]", "its header is not a JSON object but list"),
    (b"{\"W\": 1", "its header is not UTF-8 JSON"),
    (b"\xff\xfe", "its header is not UTF-8 JSON"),
    (b'{"__metadata__": {"format": 1}}', "'__metadata__' must map names to strings"),
    (b'{"W": {}, "W": {}}', "the name 'W' appears twice"),
])
def test_unreadable_headers(tmp_path, raw, message):
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(_craft(tmp_path / "c.safetensors", {}, raw_header=raw))


def test_header_length_is_bounded(tmp_path):
    p = tmp_path / "c.safetensors"
    p.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    bound = tensorfile.MAX_HEADER
    with pytest.raises(CheckpointError, match=r"its header length field says 1099511627776 "
                       rf"bytes; the file is 10 bytes and a header may have at most {bound}"):
        checkpoint.load(p)
    p.write_bytes(b"\x02\x00")
    with pytest.raises(CheckpointError, match="the file is 2 bytes, shorter than the 8-byte"):
        checkpoint.load(p)


def test_data_that_shrinks_after_the_header_check_is_refused(tmp_path):
    p = _craft(tmp_path / "c.safetensors", *_layout(_wb()))
    header = tensorfile.read_header(p, max_data=checkpoint.MAX_DATA)
    os.truncate(p, os.path.getsize(p) - 40)
    with pytest.raises(CheckpointError, match="its data ends after 31360 of 31400 bytes"):
        tensorfile.read_tensors(p, header, ("W", "b"))


def test_an_os_error_while_reading_is_one_message(tmp_path, monkeypatch):
    p = _craft(tmp_path / "c.safetensors", *_layout(_wb()))

    def fail(path, max_data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tensorfile, "read_header", fail)
    with pytest.raises(CheckpointError, match=r"checkpoint '.*c.safetensors' cannot be read: "
                       r"\[Errno 13\] Permission denied"):
        checkpoint.load(p)


def test_save_refuses_what_load_would_refuse(tmp_path):
    W, b = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    with pytest.raises(CheckpointError, match="holds a tensor 'junk' that softreg does not"):
        checkpoint.save(tmp_path / "c.safetensors",
                        checkpoint.Checkpoint(W, b, {}, {"junk": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match="metadata 'epoch' must be an integer >= 0"):
        checkpoint.save(tmp_path / "c.safetensors", checkpoint.Checkpoint(W, b, {"epoch": -1}))
    assert not (tmp_path / "c.safetensors").exists()


# ---------------------------------------------------------------- text echoed from files


def test_printable_escapes_control_characters_only():
    assert printable("numpy\x1b[2J\r\n\t") == "numpy\\x1b[2J\\x0d\\x0a\\x09"
    assert printable("a\u2028b\x9b\U000e0001") == "a\\u2028b\\x9b\\U000e0001"
    assert printable("T-shirt/top é 日本 🙂") == "T-shirt/top é 日本 🙂"
    assert printable(3.5) == "3.5"
    assert shown("x" * 100) == "'" + "x" * 56 + "..." and len(shown("x" * 100)) == 60
    assert shown("\x1b") == "'\\x1b'"


@pytest.fixture()
def run(tmp_path, fake_fashion, capsys):
    """A real two-epoch NumPy run (with a validation split, so it keeps best_W/best_b)."""
    code, out, _ = run_cli(capsys, "train", "--framework", "numpy", "--epochs", "2",
                        "--batch-size", "32", "--val-split", "0.2", "--out",
                        str(tmp_path / "run"), "--no-figures", "--quiet")
    assert code == 0, out
    return tmp_path / "run"


DROP = object()


def _tamper(path, meta=None, drop=()):
    """Rewrite a checkpoint's metadata (values JSON-encoded; DROP removes one) or tensors."""
    st = need("safetensors", "safetensors.numpy")
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        raw = dict(fh.metadata())
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    for key, value in (meta or {}).items():
        if value is DROP:
            raw.pop(key)
        else:
            raw[key] = value if key == "format_version" else json.dumps(value)
    for name in drop:
        arrays.pop(name)
    st.save_file(arrays, str(path), metadata=raw)


@pytest.mark.parametrize(("key", "value", "shows"), [
    ("framework", "numpy" + ESC, "'numpy\\x1b[2J\\x1b[H\\rtest: accuracy 0.9999\\n'"),
    ("device_used", ESC, "must be one of auto, cpu, cuda, got '\\x1b[2J"),
    ("epoch", ESC, "must be an integer >= 0, got '\\x1b[2J"),
    ("class_names", ["ok"] * 9 + [ESC], "must be a list of 1 to 100000 printable class names"),
    ("sweep_key", ESC, "must be a short printable string, got '\\x1b[2J"),
    ("format_version", ESC, "but this softreg reads version '1' only"),
])
def test_evaluate_refuses_escape_sequences_in_metadata(run, capsys, fake_fashion, key, value,
                                                       shows):
    _tamper(run / "checkpoint.safetensors", {key: value})
    code, out, err = run_cli(capsys, "evaluate", str(run / "checkpoint.safetensors"),
                          "--no-figures")
    _one_line_refusal(code, out, err, "softreg evaluate: error: ",
                      f"checkpoint.safetensors': metadata {key!r}", shows)
    assert out == ""


def test_predict_refuses_escape_sequences_in_metadata(run, capsys, tiny_data, tmp_path):
    np.save(tmp_path / "img.npy", tiny_data[0][0])
    _tamper(run / "checkpoint.safetensors", {"framework": ESC})
    code, out, err = run_cli(capsys, "predict", str(run / "checkpoint.safetensors"),
                          str(tmp_path / "img.npy"))
    _one_line_refusal(code, out, err, "metadata 'framework' must be one of torch")


def test_error_lines_escape_whatever_they_quote(capsys, tmp_path):
    bad = tmp_path / f"x{ESC}.safetensors"
    bad.write_bytes(b"junk")
    code, out, err = run_cli(capsys, "evaluate", str(bad))
    _one_line_refusal(code, out, err, "\\x1b[2J")


def test_sweep_output_escapes_what_result_files_hold():
    assert _status_text({"status": "failed", "message": ESC}) == (
        "failed: \\x1b[2J\\x1b[H\\x0dtest: accuracy 0.9999\\x0a")
    row = {"framework": ESC, "lr": 0.1, "batch_size": 256, "epochs": 1, "weight_decay": 0.0,
           "seed": 0, "lr_schedule": "constant", "standardize": False, "val_split": 0.1,
           "patience": 0, "val_acc": 0.5, "test_acc": 0.5, "model_epoch": 1,
           "status": "completed", "weights": f"w{ESC}"}
    text = format_best(SweepResult(Path("s"), [row], row, None, 0, 0.0, {}))
    assert "\x1b" not in text and "\r" not in text and len(text.splitlines()) == 2
    assert "framework=\\x1b[2J" in text


# ---------------------------------------------------------------- --resume of a tampered run


@pytest.mark.parametrize(("meta", "drop", "message"), [
    ({"epoch": "abc"}, (), "metadata 'epoch' must be an integer >= 0, got 'abc'"),
    ({"epoch": -3}, (), "metadata 'epoch' must be an integer >= 0, got -3"),
    ({"epoch": 1.5}, (), "metadata 'epoch' must be an integer >= 0, got 1.5"),
    ({"epoch": True}, (), "metadata 'epoch' must be an integer >= 0, got True"),
    ({"epoch": 1}, (), "metadata 'epoch' is 1, but a resumable checkpoint is of the "
     "history's last epoch, 2"),
    ({"epoch": 5}, (), "metadata 'epoch' names epoch 5, but the history holds 2 epoch(s)"),
    ({"history": []}, (), "metadata 'history' is not a valid history: a history must be a "
     "JSON object with status, message, epochs, got []"),
    ({"history": {"epochs": [{"epoch": 1, "train_loss": 1, "train_acc": 0.5}] * 2}}, (),
     "record 2: 'epoch' must be 2 (epochs are 1, 2, ... in order), got 1"),
    ({"config": DROP}, (), "has no resumable state: its metadata has no 'config'"),
    ({"config": {"lr": "abc"}}, (), "metadata 'config' is not a valid configuration: lr must "
     "be a finite number > 0, got 'abc'"),
    ({"config": [1]}, (), "metadata 'config' is not a valid configuration: a configuration "
     "must be a JSON object of settings, got list"),
    ({"framework": "torch"}, (), "metadata 'framework' is 'torch' but the config says 'numpy'"),
    ({"early_stopping": {"best_value": "x"}}, (), "metadata 'early_stopping' must hold "
     "best_value, best_epoch, bad_epochs"),
    ({"early_stopping": {"best_value": 1.0, "best_epoch": 9, "bad_epochs": 0}}, (),
     "metadata 'early_stopping' names epoch 9, but the history holds 2 epoch(s)"),
    ({"model_file": "../x"}, (), "metadata 'model_file' must be one of checkpoint.safetensors,"
     " best.safetensors, got '../x'"),
    ({}, ("best_b",), "holds best_W without best_b"),
    ({}, ("best_W", "best_b"), "metadata 'early_stopping' names best epoch"),
])
def test_resume_of_a_tampered_checkpoint_is_one_line(run, capsys, fake_fashion, meta, drop,
                                                     message):
    _tamper(run / "checkpoint.safetensors", meta, drop)
    before = (run / "history.json").read_bytes()
    code, out, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3",
                          "--no-figures")
    _one_line_refusal(code, out, err, "softreg train: error: ", "checkpoint.safetensors'",
                      message)
    assert (run / "history.json").read_bytes() == before  # nothing was trained or written


def test_resume_of_an_untouched_run_still_works(run, capsys, fake_fashion):
    _tamper(run / "checkpoint.safetensors")  # rewritten by hand, same content
    code, out, _ = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3",
                        "--no-figures", "--quiet")
    assert code == 0, out
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())["epochs"]] == [
        1, 2, 3]


def test_read_run_state_of_a_sweep_checkpoint(tmp_path):
    W, b = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    p = checkpoint.save(tmp_path / "w.safetensors", checkpoint.Checkpoint(
        W, b, {"framework": "numpy", "epoch": 1, "sweep_key": "k",
               "config": TrainConfig(framework="numpy").to_dict()}))
    with pytest.raises(CheckpointError, match="has no resumable state: its metadata has no "
                       "'history'; resume a run folder made by 'softreg train'"):
        checkpoint.read_run_state(p)


def _rec(**kw):
    return {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, **kw}


@pytest.mark.parametrize(("data", "message"), [
    ("x", "a history must be a JSON object with status, message, epochs, got 'x'"),
    ({"epochs": [], "extra": 1}, "history field 'extra' is unknown"),
    ({"status": "fine"}, "history 'status' must be one of completed, diverged, interrupted, "
     "early_stopped, got 'fine'"),
    ({"message": 3}, "history 'message' must be a string, got 3"),
    ({"epochs": {}}, "history 'epochs' must be a list of records, got {}"),
    ({"epochs": [3]}, "history record 1 must be a JSON object of metrics, got 3"),
    ({"epochs": [_rec(lr2=0.1)]}, "history record 1 has unknown field 'lr2'"),
    ({"epochs": [{"epoch": 1, "train_loss": 0.5}]}, "history record 1 has no field "
     "'train_acc'"),
    ({"epochs": [_rec(epoch=0)]}, "record 1: 'epoch' must be 1"),
    ({"epochs": [_rec(), _rec()]}, "record 2: 'epoch' must be 2"),
    ({"epochs": [_rec(test_acc="0.9")]}, "record 1: 'test_acc' must be a number (or null), "
     "got '0.9'"),
    ({"epochs": [_rec(train_loss=False)]}, "'train_loss' must be a number (or null), got False"),
])
def test_history_from_dict_refuses_malformed_input(data, message):
    with pytest.raises(HistoryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        History.from_dict(data)
    assert issubclass(HistoryError, ValueError)


def test_history_from_dict_round_trip_and_nulls():
    hist = History([EpochRecord(1, 0.5, 0.8), EpochRecord(2, 0.4, 0.9, test_acc=0.85)])
    data = json.loads(json.dumps(hist.to_dict()).replace("NaN", "null"))
    back = History.from_dict(data)
    assert back.column("test_acc")[1] == 0.85 and math.isnan(back.records[0].val_acc)


@pytest.mark.parametrize(("data", "message"), [
    ({"weight_decay": "x"}, "weight_decay must be finite and >= 0, got 'x'"),
    ({"val_split": "x"}, r"val_split must be in \[0, 1\), got 'x'"),
    ({"framework": 5}, "unknown framework 5"),
])
def test_config_from_dict_refuses_wrong_types(data, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(data)


# ---------------------------------------------------------------- overflowing weights


def _huge_checkpoint(tmp_path):
    W = np.full((10, 784), 3e38, np.float32)  # finite in float32; W @ x is not
    return checkpoint.save(tmp_path / "huge.safetensors", checkpoint.Checkpoint(
        W, np.zeros(10, np.float32), {"framework": "numpy", "epoch": 1}))


def test_evaluate_refuses_weights_whose_logits_overflow(capsys, tmp_path, fake_fashion):
    p = _huge_checkpoint(tmp_path)
    code, out, err = run_cli(capsys, "evaluate", str(p), "--no-figures")
    _one_line_refusal(code, out, err, f"checkpoint {str(p)!r} gives non-finite logits "
                      "(W @ x + b overflows float32) on 200 of 200 test images: its weights "
                      "reach 3e+38")
    assert "nan" not in out


def test_predict_refuses_weights_whose_logits_overflow(capsys, tmp_path, tiny_data):
    p = _huge_checkpoint(tmp_path)
    np.save(tmp_path / "img.npy", tiny_data[0][0])
    code, out, err = run_cli(capsys, "predict", str(p), str(tmp_path / "img.npy"), "--json")
    _one_line_refusal(code, out, err, "gives non-finite logits", "on 1 of 1 images")


def test_evaluate_loss_is_stable_for_large_finite_logits(capsys, tmp_path, fake_fashion):
    from softreg.core.numerics import cross_entropy
    from softreg.fitting.splits import to_features

    W = np.zeros((10, 784), np.float32)
    W[3] = 60.0  # logits of class 3 up to ~47000: exp() of them overflows, the loss must not
    p = checkpoint.save(tmp_path / "big.safetensors", checkpoint.Checkpoint(
        W, np.zeros(10, np.float32), {"framework": "numpy", "epoch": 1}))
    code, out, _ = run_cli(capsys, "evaluate", str(p), "--no-figures")
    assert code == 0
    x, y = fake_fashion["test"]
    X = to_features(x)
    expected = float(cross_entropy((X @ W.T).astype(np.float64), y.astype(np.int64)))
    assert math.isfinite(expected) and expected > 1000
    shown_loss = float(re.search(r"test: accuracy \S+  loss (\S+)", out).group(1))
    assert shown_loss == pytest.approx(expected, rel=1e-5) and "nan" not in out
