"""The strict IDX reader: a good file decodes; every kind of damage gets its own message."""

from __future__ import annotations

import gzip
import hashlib
import re

import numpy as np
import pytest
from idxfiles import idx_bytes, raw_idx, write

from softreg.core.errors import DataError, IDXFormatError
from softreg.data.idx import read_content, read_idx, read_split

IMAGES = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
LABELS = np.array([0, 9, 4], dtype=np.uint8)


def _raises(path, problem):
    """pytest.raises for an IDXFormatError naming ``path`` and matching ``problem``."""
    return pytest.raises(IDXFormatError, match=re.escape(str(path)) + ": " + problem)


@pytest.mark.parametrize("gz", [True, False])
def test_good_files_decode_with_content_hash(tmp_path, gz):
    content = idx_bytes(IMAGES, "images")
    path = write(tmp_path / ("x.gz" if gz else "x"), content, gz=gz)
    data = read_idx(path, "images", count=3, item_shape=(28, 28))
    np.testing.assert_array_equal(data.array, IMAGES)
    assert data.array.dtype == np.uint8 and not data.array.flags.writeable
    assert data.sha256 == hashlib.sha256(content).hexdigest()


def test_read_split_returns_matching_images_and_labels(tmp_path):
    im = write(tmp_path / "im.gz", idx_bytes(IMAGES, "images"))
    lb = write(tmp_path / "lb.gz", idx_bytes(LABELS, "labels"))
    images, labels = read_split(im, lb, item_shape=(28, 28))
    np.testing.assert_array_equal(images, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)


def test_empty_file(tmp_path):
    path = write(tmp_path / "train-images-idx3-ubyte.gz", b"", gz=False)
    with _raises(path, r"the file is empty \(0 bytes\); delete it"):
        read_idx(path, "images")


def test_truncated_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(IMAGES, "images"))
    path = write(tmp_path / "im.gz", packed[: len(packed) // 2], gz=False)
    with _raises(path, "truncated gzip: the archive ends before its end-of-stream marker"):
        read_idx(path, "images")


def test_gzip_with_bad_crc(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(IMAGES, "images")))
    packed[-8] ^= 0xFF  # the CRC32 of the content is stored in the trailer's first 4 bytes
    path = write(tmp_path / "im.gz", bytes(packed), gz=False)
    with _raises(path, r"corrupted gzip \(CRC check failed"):
        read_idx(path, "images")


def test_gzip_with_bad_deflate_data(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(IMAGES, "images"), mtime=0))
    packed[10] = 0b111  # first deflate block: final, block type 3, which is reserved/invalid
    path = write(tmp_path / "im.gz", bytes(packed), gz=False)
    with _raises(path, r"corrupted gzip: bad deflate data \(.*invalid block type"):
        read_idx(path, "images")


@pytest.mark.parametrize("page", [
    b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>",
    b"\n  <html><head><title>Sign in</title></head></html>",
    b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>',
])
def test_html_page_saved_instead_of_archive(tmp_path, page):
    path = write(tmp_path / "train-labels-idx1-ubyte.gz", page, gz=False)
    with _raises(path, "this is an HTML/XML web page, not a gzip archive or IDX file"):
        read_idx(path, "labels")


def test_gz_name_without_gzip_data(tmp_path):
    path = write(tmp_path / "lb.gz", b"PK\x03\x04zipped", gz=False)
    with _raises(path, "not a gzip archive: it starts with bytes 50 4b 03 04 instead of the "
                 "gzip signature 1f 8b"):
        read_idx(path, "labels")


def test_labels_file_read_as_images_has_wrong_magic(tmp_path):
    path = write(tmp_path / "lb.gz", idx_bytes(LABELS, "labels"))
    with _raises(path, "wrong magic number 0x00000801, expected 0x00000803 "
                 r"\(IDX images: unsigned bytes, 3 dimension\(s\)\)"):
        read_idx(path, "images")


def test_images_file_read_as_labels_has_wrong_magic(tmp_path):
    path = write(tmp_path / "im.gz", idx_bytes(IMAGES, "images"))
    with _raises(path, "wrong magic number 0x00000803, expected 0x00000801"):
        read_idx(path, "labels")


def test_magic_not_starting_with_two_zero_bytes(tmp_path):
    path = write(tmp_path / "im", raw_idx(0x12340803, (3, 28, 28), IMAGES.tobytes()), gz=False)
    with _raises(path, "wrong magic number 0x12340803, expected 0x00000803"):
        read_idx(path, "images")


@pytest.mark.parametrize(("code", "name"), [(0x0D, "float32"), (0x09, "signed byte"),
                                            (0x42, "unknown")])
def test_wrong_dtype_code(tmp_path, code, name):
    magic = (code << 8) | 1
    path = write(tmp_path / "lb.gz", raw_idx(magic, (3,), LABELS.tobytes()))
    with _raises(path, f"wrong dtype code 0x{code:02x} \\({name}\\) in magic 0x0000{code:02x}01"
                 r", expected 0x08 \(unsigned byte\)"):
        read_idx(path, "labels")


def test_wrong_image_dimensions(tmp_path):
    path = write(tmp_path / "im.gz", idx_bytes(np.zeros((3, 32, 32), np.uint8), "images"))
    with _raises(path, "wrong dimensions 3x32x32 for images, expected 3x28x28"):
        read_idx(path, "images", item_shape=(28, 28))


def test_wrong_count(tmp_path):
    path = write(tmp_path / "lb.gz", idx_bytes(LABELS, "labels"))
    with _raises(path, "wrong dimensions 3 for labels, expected 60000"):
        read_idx(path, "labels", count=60000)


def test_header_cut_inside_the_dimensions(tmp_path):
    path = write(tmp_path / "im.gz", idx_bytes(IMAGES, "images")[:9])
    with _raises(path, "IDX header truncated: 9 bytes, a 3-d header needs 16"):
        read_idx(path, "images")


def test_header_shorter_than_magic(tmp_path):
    path = write(tmp_path / "im", b"\0\0\x08", gz=False)
    with _raises(path, r"too short for an IDX header \(3 bytes, needs at least 4\)"):
        read_idx(path, "images")


def test_data_too_short(tmp_path):
    path = write(tmp_path / "im.gz", idx_bytes(IMAGES, "images")[:-5])
    with _raises(path, "data too short: the header promises 3x28x28 = 2352 bytes, the file "
                 r"holds 2347 \(truncated\?\)"):
        read_idx(path, "images")


def test_data_too_long(tmp_path):
    path = write(tmp_path / "lb.gz", idx_bytes(LABELS, "labels") + b"\0\0")
    with _raises(path, r"data too long: the header promises 3 = 3 bytes, the file holds 5 "
                 r"\(2 extra\)"):
        read_idx(path, "labels")


def test_image_label_count_mismatch(tmp_path):
    im = write(tmp_path / "im.gz", idx_bytes(IMAGES, "images"))
    lb = write(tmp_path / "lb.gz", idx_bytes(LABELS[:2], "labels"))
    expected = (f"image/label count mismatch: {im} holds 3 images but {lb} holds 2 labels; "
                "the two files must come from the same split")
    with pytest.raises(IDXFormatError, match=re.escape(expected)):
        read_split(im, lb)


@pytest.mark.parametrize(("labels", "message"), [
    ([0, 1, 10], r"label 10 at index 2 is outside \[0, 10\) \(1 label\(s\) out of range\)"),
    ([255, 3, 12], r"label 255 at index 0 is outside \[0, 10\) \(2 label\(s\) out of range\)"),
])
def test_label_out_of_range(tmp_path, labels, message):
    path = write(tmp_path / "lb.gz", idx_bytes(np.array(labels, np.uint8), "labels"))
    with _raises(path, message):
        read_idx(path, "labels", num_classes=10)


def test_unreadable_path_is_a_data_error(tmp_path):
    folder = tmp_path / "im.gz"
    folder.mkdir()
    with pytest.raises(DataError, match=re.escape(str(folder)) + r"' is a folder, not a regular"):
        read_content(folder)
