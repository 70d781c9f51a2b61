"""`softreg data --for torchvision|keras|mxnet`: the files where each loader looks."""

from __future__ import annotations

import gzip
import hashlib
import os
import tracemalloc

import pytest

from softreg.cli import main
from softreg.core.errors import ConfigError, DataError
from softreg.data import fashion, loader_files


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def torchvision_finds_them(root) -> bool:
    """torchvision's FashionMNIST._check_exists: each raw/<name without .gz> is a file."""
    raw = os.path.join(root, "FashionMNIST", "raw")
    return all(os.path.isfile(os.path.join(raw, spec.stem)) for spec in fashion.FILES)


def test_torchvision_gets_the_decompressed_files_it_checks_for(capsys, tmp_path, real_data):
    root = tmp_path / "data"
    assert not torchvision_finds_them(root)
    code, out, err = _run(capsys, "data", "--for", "torchvision", str(root), "--offline")
    assert code == 0, err
    assert torchvision_finds_them(root)
    for spec in fashion.FILES:
        content = (root / "FashionMNIST" / "raw" / spec.stem).read_bytes()
        assert hashlib.sha256(content).hexdigest() == spec.sha256
    assert f"FashionMNIST(root={str(root)!r}, download=True) now finds them" in out
    code, out, _ = _run(capsys, "data", "--for", "torchvision", str(root), "--offline")
    assert code == 0 and out.count(": already there") == 4


def test_keras_gets_the_upstream_archives(capsys, tmp_path, real_data):
    code, out, err = _run(capsys, "data", "--for", "keras", str(tmp_path), "--offline")
    assert code == 0, err
    folder = tmp_path / "datasets" / "fashion-mnist"
    for spec in fashion.FILES:
        data = (folder / spec.filename).read_bytes()
        assert hashlib.sha256(gzip.decompress(data)).hexdigest() == spec.sha256
        if "byte-identical" in out:  # the source had upstream's compressed stream
            assert hashlib.md5(data).hexdigest() == loader_files.UPSTREAM_GZIP[spec.filename].md5
    assert f"load_data() now finds them with KERAS_HOME={tmp_path}" in out


def test_a_different_file_in_the_way_is_not_replaced(capsys, tmp_path, real_data):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"mine")
    code, _, err = _run(capsys, "data", "--for", "torchvision", str(tmp_path), "--offline")
    assert code == 2
    assert err.strip().endswith("train-labels-idx1-ubyte exists and is not the verified "
                                "train-labels-idx1-ubyte: softreg does not replace it; move it "
                                "away and run again")
    assert (raw / "train-labels-idx1-ubyte").read_bytes() == b"mine"


def test_a_link_in_the_way_is_refused_not_followed(capsys, tmp_path, real_data):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    target = tmp_path / "mine.txt"
    target.write_text("mine")
    (raw / "train-images-idx3-ubyte").symlink_to(target)
    code, _, err = _run(capsys, "data", "--for", "torchvision", str(tmp_path), "--offline")
    assert code == 2 and "train-images-idx3-ubyte' is a symbolic link, not a regular file; " \
        "softreg never writes over one" in err
    assert target.read_text() == "mine" and (raw / "train-images-idx3-ubyte").is_symlink()


def test_gluon_is_refused_with_the_reason(capsys, tmp_path):
    code, out, err = _run(capsys, "data", "--for", "mxnet", str(tmp_path))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "accepts only its own copies of the 2017-08-26 Fashion-MNIST release" in err
    assert f"(into {tmp_path / 'datasets' / 'fashion-mnist'})" in err
    with pytest.raises(DataError, match="no copy of today's files can pass that check"):
        loader_files.place("mxnet", tmp_path, {})


def test_a_root_needs_for(capsys, tmp_path):
    code, _, err = _run(capsys, "data", str(tmp_path))
    assert code == 2 and f"ROOT ({tmp_path}) is the folder of a framework's loader: give " \
        "--for torchvision, keras or mxnet with it" in err


def test_default_roots_follow_each_loader(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    monkeypatch.delenv("MXNET_HOME", raising=False)
    assert loader_files.target_dir("keras", None) == tmp_path / "k" / "datasets" / "fashion-mnist"
    assert loader_files.target_dir("torchvision", None).parts[-4:] == (
        "..", "data", "FashionMNIST", "raw")
    assert loader_files.default_root("mxnet").name == ".mxnet"
    with pytest.raises(ConfigError, match="--for must be one of torchvision, keras, mxnet, got "
                                          "'jax'"):
        loader_files.default_root("jax")


def test_upstream_bytes_come_back_only_from_the_same_compressed_stream(tmp_path):
    spec = fashion.FILES[3]
    other = tmp_path / "x.gz"
    other.write_bytes(gzip.compress(b"not the labels"))
    assert loader_files.upstream_gzip(spec, other) is None
    plain = tmp_path / "plain"
    plain.write_bytes(b"\x00\x00\x08\x01")
    assert loader_files.upstream_gzip(spec, plain) is None


def _peak_bytes(fn) -> int:
    """Call ``fn`` (which must raise DataError) and return its peak of traced memory."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="exists and is not the verified"):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("loader", ["keras", "torchvision"])
def test_a_bomb_in_the_way_is_refused_without_being_read_whole(monkeypatch, tmp_path, loader):
    """A 64 MiB gzip bomb (keras's .gz) or a 64 MiB file (torchvision's plain one) at the
    destination: compared with the verified content through the bounded reader."""
    from idxfiles import isolate, write_tiny

    isolate(monkeypatch, tmp_path)
    found = write_tiny(tmp_path / "found")
    folder = loader_files.target_dir(loader, tmp_path / "root")
    folder.mkdir(parents=True)
    spec = fashion.FILES[0]
    size = 64 << 20
    if loader == "keras":
        bomb = folder / spec.filename
        bomb.write_bytes(gzip.compress(bytes(size), mtime=0))
    else:
        bomb = folder / spec.stem
        with open(bomb, "wb") as f:
            f.truncate(size)  # sparse: no disk used
    before = bomb.read_bytes() if loader == "keras" else None
    peak = _peak_bytes(lambda: loader_files.place(
        loader, tmp_path / "root", {s.filename: found / s.filename for s in fashion.FILES}))
    assert peak < size // 8, peak
    assert before is None or bomb.read_bytes() == before
