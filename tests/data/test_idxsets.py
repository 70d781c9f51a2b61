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
from softreg.core.errors import DataError, DataNotFoundError
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
        assert entry.image_shape == (28, 28), name
        assert len(entry.class_names) == (47 if name.startswith("emnist") else 10), name
    for entry in (idxsets.MNIST, idxsets.KMNIST):
        assert [f.count for f in entry.files] == [60000, 60000, 10000, 10000]
        assert all(len(f.gz_md5) == 32 for f in entry.files)


EMNIST_COUNTS = {"train": 47, "test": 47}


def _emnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as EMNIST stores them (transposed) and labels 0..46, one of each class."""
    rng = np.random.default_rng(11 + (split == "test"))
    n = EMNIST_COUNTS[split]
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            np.arange(n, dtype=np.uint8) % 47)


def _member(name):
    """A zip entry dated 1980-01-01: an entry written with today's time would make two zips of
    the same files differ (and their md5s) when they are written in different seconds."""
    import zipfile

    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def _emnist_zip(path, members=None, member_bytes=None) -> str:
    """A zip like NIST's gzip.zip holding the tiny balanced split's four .gz files under
    ``gzip/``; returns its md5."""
    import gzip
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for f in idxsets.EMNIST_BALANCED.files:
            if members is not None and f.filename not in members:
                continue
            images, labels = _emnist_arrays(f.split)
            array = images if f.kind == "images" else labels
            data = member_bytes if member_bytes is not None else \
                gzip.compress(idx_bytes(array, f.kind), mtime=0)
            zf.writestr(_member(f"gzip/{f.filename}"), data)
        zf.writestr(_member("gzip/emnist-digits-train-labels-idx1-ubyte.gz"), b"another split")
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture()
def tiny_emnist(monkeypatch, tmp_path):
    """The emnist-balanced entry with the tiny split's counts, its archive's md5 and mirrors
    under ``tmp_path/www`` (served by a local HTTP server)."""
    places = isolate(monkeypatch, tmp_path)
    real = idxsets.EMNIST_BALANCED
    digest = _emnist_zip(tmp_path / "www" / "good" / "gzip.zip")
    files = tuple(IDXSetFile(f.split, f.kind, f.filename, EMNIST_COUNTS[f.split], "")
                  for f in real.files)

    def entry(mirrors=()):
        ds = IDXSet(real.name, real.class_names, files, tuple(mirrors),
                    idxsets.Archive("gzip.zip", digest, "gzip/"), transposed=True)
        monkeypatch.setitem(named.DATASETS, real.name, named._idx_entry(ds))
        return ds

    return places, entry


def _serve(folder):
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    return httpd, thread


def test_emnist_balanced_entry_states_the_published_facts():
    entry = named.DATASETS["emnist-balanced"]
    assert len(entry.class_names) == 47 and entry.image_shape == (28, 28)
    assert entry.class_names[:11] == tuple("0123456789A") and entry.class_names[-1] == "t"
    assert len(set(entry.class_names)) == 47
    ds = idxsets.EMNIST_BALANCED
    assert [f.count for f in ds.files] == [112800, 112800, 18800, 18800]
    assert [f.filename for f in ds.files][2] == "emnist-balanced-test-images-idx3-ubyte.gz"
    assert ds.archive is not None and ds.archive.md5 == "58c8d27c78d21e728a6bc7b3cc06412e"
    assert ds.transposed and all(m.startswith("http") for m in ds.mirrors)


def test_emnist_downloads_the_archive_checks_it_extracts_the_split_upright(tiny_emnist,
                                                                          tmp_path):
    need("pooch")
    places, entry = tiny_emnist
    _emnist_zip(tmp_path / "www" / "bad" / "gzip.zip", member_bytes=b"not this")  # wrong md5
    httpd, thread = _serve(tmp_path / "www")
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        entry([f"{base}/bad/"])
        with pytest.raises(DataNotFoundError, match=r"download into .*emnist-balanced: "
                           r"failed: .*md5 [0-9a-f]{32}, expected "):
            load("emnist-balanced")
        assert all_files(places["cache"] / "emnist-balanced") == []  # nothing left behind
        entry([f"{base}/missing/", f"{base}/good/"])
        ds = load("emnist-balanced")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    folder = places["cache"] / "emnist-balanced"
    # the split's four files are out, the other split's file and the archive are not kept
    assert all_files(folder) == sorted(f.filename for f in idxsets.EMNIST_BALANCED.files)
    stored, labels = _emnist_arrays("train")
    np.testing.assert_array_equal(ds.X_train, stored.transpose(0, 2, 1))  # upright
    np.testing.assert_array_equal(ds.y_train, labels)
    assert ds.X_train.flags.c_contiguous and not ds.X_train.flags.writeable
    assert ds.shape.weights == (47, 784)
    assert ds.class_names[46] == "t" and ds.X_test.shape == (47, 28, 28)
    again = load("emnist-balanced", offline=True)  # found in its cache folder, no network
    assert again.fingerprint == ds.fingerprint


def test_emnist_archive_given_in_data_dir_is_checked_then_extracted(tiny_emnist, tmp_path):
    places, entry = tiny_emnist
    entry()
    given = places["given"]
    _emnist_zip(given / "gzip.zip", member_bytes=b"other")  # the right name, other content
    with pytest.raises(DataNotFoundError, match=r"(?s)gzip\.zip: other content \(md5 .*\nGet "
                       r"gzip\.zip from its publisher into "):
        load("emnist-balanced", data_dir=given, offline=True)
    assert all_files(places["cache"]) == []
    _emnist_zip(given / "emnist-balanced" / "gzip.zip")
    ds = load("emnist-balanced", data_dir=given, offline=True)
    assert ds.X_train.shape == (47, 28, 28)
    assert (given / "emnist-balanced" / "gzip.zip").is_file()  # the user's copy is kept


def test_emnist_archive_member_claiming_more_than_its_count_is_refused_unread(tiny_emnist,
                                                                            tmp_path):
    _, entry = tiny_emnist
    ds = entry()
    big = tmp_path / "big" / "gzip.zip"
    _emnist_zip(big, member_bytes=bytes(2 * 47 * 784))  # more than 47 images can take
    import softreg.data.archive as archive

    with pytest.raises(DataError, match=r"labels-idx1-ubyte.gz. claims 73696 bytes, more "
                       r"than the 65591 its counts "
                       r"allow.*nothing was extracted"):
        archive.extract(big, idxsets.archive_members(ds), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    partial = tmp_path / "partial" / "gzip.zip"
    _emnist_zip(partial, members={"emnist-balanced-train-images-idx3-ubyte.gz"})
    with pytest.raises(DataError, match=r"has no 'gzip/emnist-balanced-train-labels-idx1"):
        archive.extract(partial, idxsets.archive_members(ds), tmp_path / "out")


@pytest.mark.parametrize("layout", ["fashion-at-top", "mnist-at-top"])
def test_one_data_dir_with_mnist_and_fashion_mnist_never_hands_one_for_the_other(
        tiny_mnist, layout):
    """Both datasets' files have the same names; each load gets its own, by content, whichever
    sits at the top of --data-dir and whichever in its own folder; twice (the decoded cache of
    one is never the other's)."""
    from idxfiles import tiny_arrays, write_tiny

    places, _ = tiny_mnist
    given = places["given"]
    if layout == "fashion-at-top":
        write_tiny(given)
        _publish(given / "mnist", seed=7)
    else:
        _publish(given, seed=7)
        write_tiny(given / "fashion-mnist")
    for _ in range(2):
        fashion_ds = load("fashion-mnist", data_dir=given, offline=True)
        mnist_ds = load("mnist", data_dir=given, offline=True)
        np.testing.assert_array_equal(fashion_ds.X_train, tiny_arrays("train")[0])
        np.testing.assert_array_equal(mnist_ds.X_train, _arrays("train", 7)[0])
        assert fashion_ds.fingerprint != mnist_ds.fingerprint
    assert fashion_ds.class_names[0] == "t-shirt" and mnist_ds.class_names[0] == "0"


def test_fashion_mnist_refuses_another_datasets_files_when_it_has_no_own(tiny_mnist):
    from softreg.core.errors import ChecksumError

    places, _ = tiny_mnist
    _publish(places["given"], seed=7)  # MNIST's files only, under Fashion-MNIST's names
    with pytest.raises(ChecksumError, match=r"train-images-idx3-ubyte.gz: decompressed "
                       r"content has sha256 [0-9a-f]{64}, expected .*a different dataset"):
        load("fashion-mnist", data_dir=places["given"], offline=True)


def test_emnist_archive_member_with_damaged_bytes_leaves_no_file(tmp_path):
    import zipfile

    import softreg.data.archive as archive

    path = tmp_path / "gzip.zip"
    payload = bytes(range(256)) * 4
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("gzip/a.gz", payload)
    raw = bytearray(path.read_bytes())
    at = raw.index(payload)
    raw[at + 100] ^= 0xFF  # the stored bytes no longer match the member's CRC
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"gzip.zip: a member is damaged \(Bad CRC-32"):
        archive.extract(path, {"gzip/a.gz": 2048}, tmp_path / "out")
    assert all_files(tmp_path / "out") == []  # no half file, no temporary one


@pytest.mark.parametrize("command", ["train", "data"])
def test_a_changed_fashion_mnist_file_in_the_given_folder_is_not_swapped_for_another(
        tiny_mnist, capsys, command):
    """A copy with other content in --data-dir is passed over only for one in that folder
    (MNIST beside Fashion-MNIST, above); never, in silence, for the system's copy: train
    refuses it as softreg data does, naming the file."""
    from idxfiles import tiny_contents, write_tiny

    from softreg.cli import main

    places, _ = tiny_mnist
    write_tiny(places["system"])
    given = places["given"]
    write_tiny(given)
    name = "train-labels-idx1-ubyte.gz"
    changed = bytearray(tiny_contents()[name])
    changed[8] = (changed[8] + 1) % 10  # the first label
    write(given / name, bytes(changed))
    argv = ["--data-dir", str(given), "--offline"]
    if command == "train":
        argv += ["--framework", "numpy", "--epochs", "1", "--quiet", "--no-figures", "--out",
                 str(given.parent / "run")]
    code = main([command, *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"{given / name} (--data-dir) is not Fashion-MNIST's train-labels-idx1-ubyte (its "
            "content's sha256 differs), and softreg does not pass over a file in a folder you "
            f"named for another copy (system folder: {places['system'] / name}); replace it "
            "with a fresh copy, or move it away to use the other") in err
    assert not (given.parent / "run").exists()


def test_softreg_data_takes_the_copy_train_takes_beside_another_datasets_files(
        tiny_mnist, capsys):
    from idxfiles import write_tiny

    from softreg.cli import main

    places, _ = tiny_mnist
    given = places["given"]
    _publish(given, seed=7)  # MNIST's files at the top, Fashion-MNIST's in its own folder
    write_tiny(given / "fashion-mnist")
    assert main(["data", "--data-dir", str(given), "--offline"]) == 0
    out = capsys.readouterr().out  # (the tiny labels files of both are the same)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        assert f"--data-dir (its fashion-mnist folder): {given / 'fashion-mnist' / name}" in out
