"""End-to-end checks on the real Fashion-MNIST files (the Debian package or the user cache)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from softreg.data import CLASS_NAMES, FILES, fashion, load_verified, locate, verify

pytestmark = pytest.mark.realdata


def test_counts_shapes_and_dtypes(real_data):
    xtr, ytr, xte, yte = real_data
    assert xtr.shape == (60000, 28, 28) and ytr.shape == (60000,)
    assert xte.shape == (10000, 28, 28) and yte.shape == (10000,)
    assert {a.dtype for a in real_data} == {np.dtype(np.uint8)}


def test_exactly_6000_and_1000_images_per_class(real_data):
    _, ytr, _, yte = real_data
    assert np.bincount(ytr, minlength=11).tolist() == [6000] * 10 + [0]
    assert np.bincount(yte, minlength=11).tolist() == [1000] * 10 + [0]
    assert len(CLASS_NAMES) == 10


@pytest.mark.slow
def test_train_pixel_mean_and_std(real_data):
    counts = np.bincount(real_data[0].ravel(), minlength=256)  # exact, and fast on 47M pixels
    values = np.arange(256) / 255.0
    mean = float(counts @ values) / counts.sum()
    std = float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
    assert round(mean, 4) == 0.2860
    assert round(std, 4) == 0.3530


def test_debian_files_pass_sha256_verification():
    folder = Path(fashion.SYSTEM_DIR)
    if not all((folder / f.filename).is_file() for f in FILES):
        if "data" in os.environ.get("SOFTREG_REQUIRE", ""):
            pytest.fail(f"Debian Fashion-MNIST files required but missing in {folder}")
        pytest.skip(f"Debian package {fashion.DEBIAN_PACKAGE} not installed")
    for spec in FILES:
        assert verify(spec, folder / spec.filename).sha256 == spec.sha256


def test_cached_arrays_equal_a_fresh_decode(real_data):
    fresh = {}
    for found in locate(None, offline=True):
        fresh[found.spec.split, found.spec.kind] = load_verified(found.spec, found.path,
                                                                 use_cache=False).array
    xtr, ytr, xte, yte = real_data
    np.testing.assert_array_equal(xtr, fresh["train", "images"])
    np.testing.assert_array_equal(ytr, fresh["train", "labels"])
    np.testing.assert_array_equal(xte, fresh["test", "images"])
    np.testing.assert_array_equal(yte, fresh["test", "labels"])
