"""The decoded .npy cache: used when valid, rebuilt when stale or corrupt, optional on failure."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from idxfiles import isolate, tiny_arrays, write, write_tiny

from softreg.core.errors import IDXFormatError
from softreg.data import cache, fashion, load_fashion_mnist


@pytest.fixture()
def places(monkeypatch, tmp_path):
    places = isolate(monkeypatch, tmp_path)
    write_tiny(places["system"])
    return places


def _train_images():
    spec = fashion.FILES[0]
    return spec, cache.entry_paths(spec)


def _load_status(places):
    spec = fashion.FILES[0]
    return cache.load_verified(spec, places["system"] / spec.filename)


def test_first_load_stores_second_load_memory_maps(places):
    spec, (npy, meta) = _train_images()
    first = _load_status(places)
    assert first.status == "stored"
    assert npy.is_file() and meta.is_file()
    assert npy.parent == places["cache"] / "fashion-mnist" / "decoded"
    second = _load_status(places)
    assert second.status == "cached"
    assert isinstance(second.array.base, np.memmap) and not second.array.flags.writeable
    assert type(second.array) is np.ndarray
    np.testing.assert_array_equal(second.array, tiny_arrays("train")[0])
    key = json.loads(meta.read_text())
    assert key["sha256"] == spec.sha256 and key["size"] == (places["system"] / spec.filename
                                                            ).stat().st_size


def test_load_fashion_mnist_goes_through_the_cache(places):
    load_fashion_mnist("test", offline=True)
    images, labels = load_fashion_mnist("test", offline=True)
    assert isinstance(images.base, np.memmap) and isinstance(labels.base, np.memmap)
    np.testing.assert_array_equal(labels, tiny_arrays("test")[1])


def test_touched_source_rebuilds_the_entry(places):
    spec, _ = _train_images()
    _load_status(places)
    source = places["system"] / spec.filename
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert _load_status(places).status == "stored"
    assert _load_status(places).status == "cached"


def test_source_replaced_by_a_damaged_file_is_not_hidden_by_the_cache(places):
    spec, _ = _train_images()
    _load_status(places)
    source = places["system"] / spec.filename
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXFormatError, match="truncated gzip"):
        _load_status(places)


def test_altered_npy_is_detected_and_rebuilt(places):
    _, (npy, _) = _train_images()
    _load_status(places)
    raw = bytearray(npy.read_bytes())
    raw[-1] ^= 0x01  # one pixel, one bit: the shape and header still look right
    npy.write_bytes(bytes(raw))
    again = _load_status(places)
    assert again.status == "stored"
    np.testing.assert_array_equal(again.array, tiny_arrays("train")[0])
    assert _load_status(places).status == "cached"


@pytest.mark.parametrize("damage", ["truncate npy", "garbage npy", "garbage key", "no key",
                                    "wrong shape"])
def test_damaged_entry_is_rebuilt(places, damage):
    _, (npy, meta) = _train_images()
    _load_status(places)
    if damage == "truncate npy":
        npy.write_bytes(npy.read_bytes()[:200])
    elif damage == "garbage npy":
        npy.write_bytes(b"not an npy file at all")
    elif damage == "garbage key":
        meta.write_text("{not json")
    elif damage == "no key":
        meta.unlink()
    else:
        with open(npy, "wb") as fh:
            np.save(fh, np.zeros((3, 28, 28), np.uint8))
    again = _load_status(places)
    assert again.status == "stored"
    np.testing.assert_array_equal(again.array, tiny_arrays("train")[0])


def test_unwritable_cache_does_not_stop_loading(monkeypatch, places, tmp_path):
    blocker = write(tmp_path / "a-file", b"x", gz=False)
    monkeypatch.setenv("SOFTREG_CACHE_DIR", str(blocker / "cache"))  # a folder inside a file
    loaded = _load_status(places)
    assert loaded.status.startswith("not cached: ")
    np.testing.assert_array_equal(loaded.array, tiny_arrays("train")[0])
    _, labels = load_fashion_mnist("train", offline=True)
    np.testing.assert_array_equal(labels, tiny_arrays("train")[1])


def test_cache_can_be_bypassed(places):
    spec, (npy, _) = _train_images()
    loaded = cache.load_verified(spec, places["system"] / spec.filename, use_cache=False)
    assert loaded.status == "not cached: cache disabled" and not npy.exists()
