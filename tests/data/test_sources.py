"""Where the files are looked for, in which order, and what "not found" says."""

from __future__ import annotations

import gzip
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from idxfiles import isolate, tiny_arrays, write, write_tiny

from conftest import need
from softreg.core.errors import (
    ChecksumError,
    ConfigError,
    DataError,
    DataNotFoundError,
    IDXFormatError,
)
from softreg.data import fashion, load_fashion_mnist, locate, sources, verify


@pytest.fixture()
def places(monkeypatch, tmp_path):
    return isolate(monkeypatch, tmp_path)


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(sources.ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.cache_root() == tmp_path / "xdg" / "softreg"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sources.cache_root() == tmp_path / "home" / ".cache" / "softreg"
    monkeypatch.setenv(sources.ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert sources.download_dir() == tmp_path / "mine" / "fashion-mnist"


def test_search_order_data_dir_env_cache_system(monkeypatch, places):
    for name in ("given", "env", "system"):
        write_tiny(places[name])
    write_tiny(places["cache"] / "fashion-mnist")
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(places["env"]))
    expected = [("given", "--data-dir"), ("env", "$SOFTREG_DATA_DIR"),
                ("cache", "user cache"), ("system", "system folder")]
    for folder, origin in expected:
        found = locate("train", data_dir=places["given"] if folder == "given" else None)
        assert [f.origin for f in found] == [origin, origin]
        assert all(f.path.is_relative_to(places[folder]) for f in found)
        if folder == "env":
            monkeypatch.delenv(sources.ENV_DATA_DIR)
        elif folder == "cache":
            for f in found:
                f.path.unlink()


def test_files_are_found_one_by_one_and_uncompressed_files_count(places):
    write_tiny(places["system"])
    (places["system"] / "t10k-labels-idx1-ubyte.gz").unlink()
    write_tiny(places["given"], gz=False)
    for p in places["given"].iterdir():
        if not p.name.startswith("t10k-labels"):
            p.unlink()
    found = {f.spec.filename: f for f in locate(None, data_dir=places["given"])}
    assert found["t10k-labels-idx1-ubyte.gz"].path == places["given"] / "t10k-labels-idx1-ubyte"
    assert found["t10k-labels-idx1-ubyte.gz"].origin == "--data-dir"
    assert found["train-images-idx3-ubyte.gz"].origin == "system folder"


def test_offline_not_found_lists_every_place_and_the_commands(places, no_network):
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist("train", data_dir=places["given"], offline=True)
    message = str(info.value)
    expected = [
        "Fashion-MNIST file train-images-idx3-ubyte.gz not found. Places tried:",
        f"  - --data-dir {places['given']}: folder does not exist",
        "  - $SOFTREG_DATA_DIR: not set",
        f"  - user cache {places['cache'] / 'fashion-mnist'}: folder does not exist",
        f"  - system folder {places['system']}: folder does not exist",
        "  - download: skipped (offline)",
        "Get the data with one of:",
        "  sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; files go to "
        "/usr/share/datasets/fashion-mnist)",
        f"  softreg data   (online: downloads and verifies them into "
        f"{places['cache'] / 'fashion-mnist'})",
    ]
    assert message.splitlines()[: len(expected)] == expected
    assert re.search(r"copy train-images-idx3-ubyte.gz, .*t10k-labels-idx1-ubyte.gz into a "
                     r"folder FOLDER, then pass --data-dir FOLDER \(or export "
                     r"SOFTREG_DATA_DIR=FOLDER\)", message)


def test_existing_folder_without_the_file_says_so(places):
    places["system"].mkdir()
    with pytest.raises(DataNotFoundError, match=re.escape(
            f"system folder {places['system']}: file not there")):
        locate("test", offline=True)


def test_load_returns_the_tiny_split(places):
    write_tiny(places["system"])
    for split in ("train", "test"):
        images, labels = load_fashion_mnist(split, offline=True)
        want_images, want_labels = tiny_arrays(split)
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
        assert images.dtype == np.uint8 and labels.dtype == np.uint8


def test_unknown_split_is_refused(places):
    with pytest.raises(ConfigError, match="split must be one of train, test, got 'val'"):
        load_fashion_mnist("val", offline=True)


def test_a_damaged_file_is_reported_not_skipped(places):
    write_tiny(places["system"])
    write_tiny(places["given"])  # every file there (a missing one is refused first) ...
    write(places["given"] / "train-images-idx3-ubyte.gz", b"", gz=False)  # ... one damaged
    bad = places["given"] / "train-images-idx3-ubyte.gz"
    with pytest.raises(IDXFormatError, match=re.escape(f"{bad}: the file is empty")):
        load_fashion_mnist("train", data_dir=places["given"], offline=True)


def test_well_formed_but_different_content_fails_the_checksum(places):
    spec = fashion.FILES[1]  # train labels
    _, labels = tiny_arrays("train")
    other = labels[::-1].copy()
    path = write(places["given"] / spec.filename,
                 b"\0\0\x08\x01" + len(other).to_bytes(4, "big") + other.tobytes())
    with pytest.raises(ChecksumError, match=re.escape(
            f"{path}: decompressed content has sha256 ") + "[0-9a-f]{64}, expected "
            + spec.sha256 + r" for train-labels-idx1-ubyte.gz \(corrupt or a different dataset\)"):
        verify(spec, path)


def test_real_table_verifies_decompressed_content_not_gz_bytes(tmp_path):
    """The same content recompressed differently (as Debian did) passes verification."""
    spec = fashion.FILES[3]
    system = Path(fashion.SYSTEM_DIR) / spec.filename
    if not system.is_file():
        pytest.skip("Debian Fashion-MNIST files not installed")
    content = gzip.decompress(system.read_bytes())
    a = write(tmp_path / "a" / spec.filename, gzip.compress(content, compresslevel=1, mtime=0),
              gz=False)
    b = write(tmp_path / "b" / spec.filename, gzip.compress(content, compresslevel=9, mtime=5),
              gz=False)
    assert a.read_bytes() != b.read_bytes()
    assert verify(spec, a).sha256 == verify(spec, b).sha256 == spec.sha256


def test_importing_softreg_data_loads_neither_pooch_nor_matplotlib():
    code = ("import sys, softreg.data, softreg.cli.data; "
            "print(sorted(m for m in ('pooch', 'matplotlib', 'requests') if m in sys.modules))")
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(src)}, timeout=120).stdout
    assert out.strip() == "[]"


def test_missing_pooch_is_one_more_place_tried(places, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # makes `import pooch` fail
    monkeypatch.setattr(fashion, "MIRRORS", ("http://127.0.0.1:9/",))
    with pytest.raises(DataNotFoundError, match=re.escape(
            f"download into {places['cache'] / 'fashion-mnist'}: failed: pooch is not installed")
            + r".*install it with: pip install 'softreg\[download\]'"):
        locate("train")


def test_download_into_a_folder_that_cannot_be_made(tmp_path):
    need("pooch")
    (tmp_path / "file").write_text("x")
    dest = tmp_path / "file" / "fashion-mnist"
    with pytest.raises(DataError, match=re.escape(f"cannot write into the download folder {dest} (")
                       + r".*\); make it a writable folder, or set SOFTREG_CACHE_DIR to one"):
        sources.download(fashion.FILES[0], dest, ["http://127.0.0.1:9/"])


def test_download_without_a_mirror(tmp_path, no_network):
    name = fashion.FILES[0].filename
    with pytest.raises(DataError, match=f"no download mirror given for {name}; pass at least "
                       r"one base URL \(softreg.data.fashion.MIRRORS lists the usual ones\)"):
        sources.download(fashion.FILES[0], tmp_path / "dl", [])
    assert not (tmp_path / "dl").exists()
