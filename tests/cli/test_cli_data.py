"""`softreg data`: report, sample grid, and one-line refusals (exit 2) for damaged files."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need
from softreg.cli import main
from softreg.data.idx import header_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from idxfiles import isolate, tiny_contents, write, write_tiny

IMAGES = "train-images-idx3-ubyte.gz"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def places(monkeypatch, tmp_path):
    return isolate(monkeypatch, tmp_path)


def test_report_shows_origin_verification_and_per_class_counts(capsys, places):
    write_tiny(places["given"])
    code, out, err = _run(capsys, "data", "--data-dir", str(places["given"]), "--offline")
    assert code == 0, err
    assert f"{IMAGES:28s} --data-dir: {places['given'] / IMAGES}" in out
    assert out.count("verified: content sha256 ") == 4
    assert "20 images; decoded cache rebuilt" in out
    assert " 9  ankle boot       2       1" in out
    assert "         total      20      10" in out
    code, out, _ = _run(capsys, "data", "--data-dir", str(places["given"]), "--offline")
    assert code == 0 and out.count("decoded cache valid") == 4


def test_sample_grid_is_written(capsys, places, tmp_path):
    need("matplotlib")
    write_tiny(places["system"])
    png = tmp_path / "out" / "sample.png"
    code, out, err = _run(capsys, "data", "--offline", "--sample", str(png), "--n", "12")
    assert code == 0, err
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f"sample: 12 training images written to {png}" in out


@pytest.mark.parametrize("n", ["0", "101"])
def test_bad_sample_count_is_refused(capsys, places, n):
    code, _, err = _run(capsys, "data", "--n", n)
    assert code == 2
    assert err == f"softreg data: error: --n must be between 1 and 100, got {n}\n"


def _damaged(kind: str) -> bytes:
    good = tiny_contents()[IMAGES]
    packed = gzip.compress(good, mtime=0)
    if kind == "empty":
        return b""
    if kind == "truncated":
        return packed[: len(packed) // 2]
    if kind == "crc":
        return packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:]
    if kind == "html":
        return b"<!doctype html><html><body>Not Found</body></html>"
    if kind == "short":
        return gzip.compress(good[:-10])
    return gzip.compress(b"\0\0\x08\x01" + good[4:])  # labels magic in an images file


@pytest.mark.parametrize(("kind", "problem"), [
    ("empty", r"the file is empty \(0 bytes\)"),
    ("truncated", "truncated gzip"),
    ("crc", r"corrupted gzip \(CRC check failed"),
    ("html", "this is an HTML/XML web page"),
    ("short", "data too short"),
    ("magic", "wrong magic number 0x00000801, expected 0x00000803"),
])
def test_damaged_file_gives_one_line_and_exit_2(capsys, places, kind, problem):
    write_tiny(places["given"])
    bad = write(places["given"] / IMAGES, _damaged(kind), gz=False)
    code, _, err = _run(capsys, "data", "--data-dir", str(places["given"]), "--offline")
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"softreg data: error: {bad}: ")
    assert re.search(problem, err)
    assert err.rstrip().endswith("delete it and get a fresh copy (run `softreg data`)")


def test_nothing_found_offline_exits_2_with_the_places(capsys, places):
    code, _, err = _run(capsys, "data", "--offline")
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"softreg data: error: Fashion-MNIST file {IMAGES} not found.")
    assert "sudo apt-get install dataset-fashion-mnist" in err


def test_python_m_softreg_data_with_a_bad_folder(tmp_path):
    # the real table's header (checked first), then an archive cut in the middle of the data
    packed = gzip.compress(header_bytes("images", (60000, 28, 28)) + bytes(4096), mtime=0)
    bad = write(tmp_path / "BAD" / IMAGES, packed[: len(packed) // 2], gz=False)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "SOFTREG_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "softreg", "data", "--data-dir", str(bad.parent), "--offline"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"softreg data: error: {bad}: truncated gzip: ")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def _tiny_idx_set(monkeypatch, tmp_path, name):
    """The ``name`` entry (mnist or emnist-balanced) with tiny files published in ``www``;
    returns (entry, the files' folder)."""
    import hashlib

    import numpy as np
    from idxfiles import idx_bytes

    from softreg.data import idxsets, named

    real = {"mnist": idxsets.MNIST, "emnist-balanced": idxsets.EMNIST_BALANCED}[name]
    n = len(real.class_names)
    folder = tmp_path / "www"
    files = []
    for f in real.files:
        count = n * (2 if f.split == "train" else 1)
        rng = np.random.default_rng(3)
        array = (rng.integers(0, 256, (count, 28, 28), dtype=np.uint8) if f.kind == "images"
                 else (np.arange(count) % n).astype(np.uint8))
        path = write(folder / f.filename, idx_bytes(array, f.kind))
        md5 = hashlib.md5(path.read_bytes()).hexdigest() if real.archive is None else ""
        files.append(idxsets.IDXSetFile(f.split, f.kind, f.filename, count, md5))
    entry = idxsets.IDXSet(real.name, real.class_names, tuple(files), (), real.archive,
                           real.transposed)
    monkeypatch.setitem(named.DATASETS, name, named._idx_entry(entry))
    return entry, folder


@pytest.mark.parametrize("name", ["mnist", "emnist-balanced"])
def test_data_finds_verifies_and_counts_any_named_dataset(capsys, places, monkeypatch,
                                                          tmp_path, name):
    entry, folder = _tiny_idx_set(monkeypatch, tmp_path, name)
    code, out, err = _run(capsys, "data", "--data", name, "--data-dir", str(folder),
                          "--offline")
    assert code == 0, err
    assert out.startswith(f"{name} files:\n")
    for f in entry.files:
        assert f"  {f.filename:42s} {folder / f.filename}\n" in out
    if name == "mnist":
        assert out.count("verified: md5 ") == 4
    else:
        assert out.count("no published hash of this file (softreg checks gzip.zip's md5") == 4
    last = entry.class_names[-1]
    if name == "emnist-balanced":  # a sample grid titled with the dataset's own class names
        need("matplotlib")
        png = tmp_path / "sample.png"
        code, out, err = _run(capsys, "data", "--data", name, "--data-dir", str(folder),
                              "--offline", "--sample", str(png), "--n", "6")
        assert code == 0, err
        assert png.read_bytes().startswith(b"\x89PNG") and "sample: 6 training images" in out
    assert re.search(rf"\n{len(entry.class_names) - 1:>2d} {last:>11s}       2       1\n", out)
    assert f"{'total':>14s} {2 * len(entry.class_names):7d} {len(entry.class_names):7d}" in out


def test_data_of_a_named_dataset_not_found_offline_lists_the_places(capsys, places, monkeypatch,
                                                                    tmp_path):
    _tiny_idx_set(monkeypatch, tmp_path, "emnist-balanced")
    code, out, err = _run(capsys, "data", "--data", "emnist-balanced", "--offline")
    assert code == 2 and out == "emnist-balanced files:\n"
    assert err.startswith("softreg data: error: emnist-balanced file "
                          "emnist-balanced-train-images-idx3-ubyte.gz not found. Places tried:\n")
    lines = err.splitlines()  # softreg's own list: a line each, not escaped into one
    assert "\\x0a" not in err and lines[1].startswith("  - ") and len(lines) > 3


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "cifar"], "unknown dataset 'cifar'; known datasets: fashion-mnist, mnist, "
                          "kmnist, emnist-balanced;"),
    (["--data", "sklearn:iris"], "softreg data finds and verifies the files of a named dataset "
                                 "(fashion-mnist, mnist, kmnist, emnist-balanced); "
                                 "'sklearn:iris' is read where it is"),
    (["--data", "mnist", "--for", "keras"], "--for places Fashion-MNIST's files where a "
                                            "framework's own loader looks"),
])
def test_data_refuses_what_it_cannot_describe(capsys, places, argv, message):
    code, out, err = _run(capsys, "data", *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"softreg data: error: {message}") and err.count("\n") == 1
