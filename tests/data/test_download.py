"""Downloads through pooch from a local HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import re
import threading

import numpy as np
import pytest
from idxfiles import all_files, isolate, tiny_arrays, tiny_contents, write

from conftest import need
from softreg.core.errors import DataError, DataNotFoundError
from softreg.data import fashion, load_fashion_mnist, sources

NAME = "train-labels-idx1-ubyte.gz"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture()
def server(tmp_path):
    """Serve ``tmp_path/www/<variant>/`` at ``http://127.0.0.1:PORT/<variant>/``."""
    need("pooch")
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture()
def places(monkeypatch, tmp_path):
    return isolate(monkeypatch, tmp_path)


def _publish(root, variant, content):
    for name, good in tiny_contents().items():
        write(root / variant / name, good)
    write(root / variant / NAME, content, gz=False)
    return variant


def _spec():
    return next(s for s in fashion.FILES if s.filename == NAME)


def _good_gz():
    return gzip.compress(tiny_contents()[NAME], mtime=0)  # the same bytes on every run


def test_good_file_is_verified_and_cached(server, places):
    root, url = server
    _publish(root, "good", _good_gz())
    dest = places["cache"] / "fashion-mnist"
    path = sources.download(_spec(), dest, [f"{url}/good/"])
    assert path == dest / NAME
    assert all_files(dest) == [NAME]
    assert sources.verify(_spec(), path).sha256 == _spec().sha256


def test_load_downloads_missing_files_into_the_user_cache(server, places, monkeypatch):
    root, url = server
    _publish(root, "good", _good_gz())
    monkeypatch.setattr(fashion, "MIRRORS", (f"{url}/missing/", f"{url}/good/"))
    _, labels = load_fashion_mnist("train")
    np.testing.assert_array_equal(labels, tiny_arrays("train")[1])
    found = sources.locate("train", offline=True)
    assert [f.origin for f in found] == ["user cache", "user cache"]
    assert (places["cache"] / "fashion-mnist" / NAME).is_file()


def _corrupt_crc():
    packed = bytearray(_good_gz())
    packed[-8] ^= 0xFF
    return bytes(packed)


@pytest.mark.parametrize(("content", "problem"), [
    (_corrupt_crc(), r"corrupted gzip \(CRC check failed"),
    (_good_gz()[: len(_good_gz()) // 2], "truncated gzip"),
    (b"<html><body>Service Unavailable</body></html>", "this is an HTML/XML web page"),
    (gzip.compress(tiny_contents()[NAME][:-1], mtime=0), "data too short"),
], ids=["crc", "truncated", "html", "short"])  # stable names: pytest-xdist's workers compare them
def test_bad_download_is_rejected_and_leaves_nothing(server, places, content, problem):
    root, url = server
    _publish(root, "bad", content)
    dest = places["cache"] / "fashion-mnist"
    with pytest.raises(DataError, match=re.escape(f"{url}/bad/{NAME}: ") + ".*" + problem):
        sources.download(_spec(), dest, [f"{url}/bad/"])
    assert all_files(dest) == []


def test_wrong_content_is_rejected_by_checksum(server, places):
    root, url = server
    other = tiny_contents()["t10k-labels-idx1-ubyte.gz"]  # a valid labels file, wrong one
    _publish(root, "other", gzip.compress(other))
    dest = places["cache"] / "fashion-mnist"
    with pytest.raises(DataError, match="wrong dimensions 10 for labels, expected 20"):
        sources.download(_spec(), dest, [f"{url}/other/"])
    assert all_files(dest) == []


def test_bad_mirror_falls_through_to_a_good_one(server, places):
    root, url = server
    _publish(root, "bad", _good_gz()[:40])
    _publish(root, "good", _good_gz())
    dest = places["cache"] / "fashion-mnist"
    path = sources.download(_spec(), dest, [f"{url}/nothing/", f"{url}/bad/", f"{url}/good/"])
    assert all_files(dest) == [NAME] and path.is_file()


def test_every_mirror_failing_lists_each_url(server, places, monkeypatch):
    root, url = server
    _publish(root, "bad", _corrupt_crc())
    monkeypatch.setattr(fashion, "MIRRORS", (f"{url}/nothing/", f"{url}/bad/"))
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist("train")
    message = str(info.value)
    assert message.startswith(f"Fashion-MNIST file {NAME} not found. Places tried:")
    assert re.search(re.escape(f"download into {places['cache'] / 'fashion-mnist'}: failed: "
                               f"{url}/nothing/{NAME}: ") + ".*404.*; "
                     + re.escape(f"{url}/bad/{NAME}: ") + r".*corrupted gzip \(CRC", message)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert NAME not in all_files(places["cache"] / "fashion-mnist")


def test_interrupted_download_leaves_nothing(server, places, monkeypatch):
    root, url = server
    _publish(root, "good", _good_gz())

    def interrupted(spec, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(sources, "verify", interrupted)
    dest = places["cache"] / "fashion-mnist"
    with pytest.raises(KeyboardInterrupt):
        sources.download(_spec(), dest, [f"{url}/good/"])
    assert all_files(dest) == []


def test_stale_staging_folder_of_a_killed_download_is_removed(server, places):
    root, url = server
    _publish(root, "good", _good_gz())
    dest = places["cache"] / "fashion-mnist"
    stale = dest / ".download-killed"
    write(stale / NAME, b"half a file", gz=False)
    os.utime(stale, (0, 0))
    fresh = dest / ".download-running"
    fresh.mkdir()
    sources.download(_spec(), dest, [f"{url}/good/"])
    assert all_files(dest) == [".download-running", NAME]
