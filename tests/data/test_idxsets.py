"""MNIST and KMNIST as table entries: files found by content (md5), one cache folder per
dataset, downloads from a local HTTP server (no network)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest
from idxfiles import all_files, idx_bytes, isolate, write

from conftest import need
from softreg.core.errors import DataNotFoundError
from softreg.data import idxsets, load, named
from softreg.data.idxsets import IDXSet, IDXSetFile

COUNTS = {"train": 20, "test": 10}


def _arrays(split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + (split == "test"))
    n = COUNTS[split]
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            (np.arange(n) % 10).astype(np.uint8))


def _publish(folder, seed: int) -> dict[str, bytes]:
    """Write a tiny dataset's four .gz files into ``folder``; return name -> gz bytes."""
    out = {}
    for split in ("train", "test"):
        images, labels = _arrays(split, seed)
        prefix = "train" if split == "train" else "t10k"
        for kind, arr, tag in (("images", images, "idx3"), ("labels", labels, "idx1")):
            path = write(folder / f"{prefix}-{kind}-{tag}-ubyte.gz", idx_bytes(arr, kind))
            out[path.name] = path.read_bytes()
    return out


@pytest.fixture()
def tiny_mnist(monkeypatch, tmp_path):
    """The mnist entry with a tiny dataset's counts and md5s; its files in ``www``."""
    places = isolate(monkeypatch, tmp_path)
    gz = _publish(tmp_path / "www", seed=7)
    files = tuple(IDXSetFile(f.split, f.kind, f.filename, COUNTS[f.split],
                             hashlib.md5(gz[f.filename]).hexdigest())
                  for f in idxsets.MNIST.files)
    entry = IDXSet("mnist", idxsets.MNIST.class_names, files, ())
    monkeypatch.setitem(named.DATASETS, "mnist", named._idx_entry(entry))
    return places, entry


def test_mnist_is_found_by_content_beside_another_datasets_files(tiny_mnist, tmp_path):
    places, _ = tiny_mnist
    given = places["given"]
    _publish(given, seed=99)  # same names, other content: another dataset's files
    with pytest.raises(DataNotFoundError, match=r"other content \(md5 [0-9a-f]{32}, expected "
                       r"[0-9a-f]{32}: another dataset's file of the same name\?\)"):
        load("mnist", data_dir=given, offline=True)
    _publish(given / "mnist", seed=7)  # the right files, in the dataset's own folder
    ds = load("mnist", data_dir=given, offline=True)
    images, labels = _arrays("train", 7)
    np.testing.assert_array_equal(ds.X_train, images)
    np.testing.assert_array_equal(ds.y_train, labels)
    assert ds.class_names == tuple("0123456789") and ds.X_test.shape == (10, 28, 28)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def test_mnist_downloads_into_its_own_cache_folder_checked_by_md5(tiny_mnist, tmp_path):
    need("pooch")
    places, entry = tiny_mnist
    bad = tmp_path / "bad"
    _publish(bad, seed=3)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        spec = entry.files[0]  # the training images (the labels are alike in both copies)
        with pytest.raises(DataNotFoundError, match=r"download into .*mnist: failed: .*md5 "):
            idxsets.find(IDXSet("mnist", entry.class_names, entry.files, (f"{base}/bad/",)),
                         spec)
        assert all_files(places["cache"] / "mnist") == []  # nothing left of a wrong download
        got = idxsets.find(IDXSet("mnist", entry.class_names, entry.files,
                                  (f"{base}/bad/", f"{base}/www/")), spec)
        assert got == places["cache"] / "mnist" / spec.filename
        assert all_files(places["cache"]) == ["mnist", f"mnist/{spec.filename}"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_every_named_entry_states_its_shape():
    for name, entry in named.DATASETS.items():
        assert len(entry.class_names) == 10 and entry.image_shape == (28, 28), name
    for entry in (idxsets.MNIST, idxsets.KMNIST):
        assert [f.count for f in entry.files] == [60000, 60000, 10000, 10000]
        assert all(len(f.gz_md5) == 32 for f in entry.files)
