"""softreg.data.images.load_image: the files ``softreg predict`` reads, and every refusal.

(Named for what it tests: ``tests/plots/test_images.py`` already takes ``test_images``.)
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import InputImageError
from softreg.data.images import load_image


def test_uint8_npy_and_png_read_as_features_in_0_1(tmp_path):
    PIL = need("PIL", "PIL.Image")
    img = np.arange(784, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    np.save(tmp_path / "a.npy", img)
    PIL.fromarray(img, mode="L").save(tmp_path / "a.png")
    for name in ("a.npy", "a.png"):
        x = load_image(tmp_path / name)
        assert x.dtype == np.float32 and x.shape == (784,)
        np.testing.assert_allclose(x, img.reshape(-1) / 255.0, rtol=1e-6)


def test_missing_file(tmp_path):
    with pytest.raises(InputImageError, match=r"image '.*nope\.npy' does not exist"):
        load_image(tmp_path / "nope.npy")


def test_unreadable_npy(tmp_path):
    p = tmp_path / "x.npy"
    p.write_bytes(b"these bytes are not a NumPy array")
    with pytest.raises(InputImageError, match=r"image '.*x\.npy' is not a readable \.npy array \("):
        load_image(p)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex64])
def test_npy_of_the_wrong_dtype(tmp_path, dtype):
    p = tmp_path / "x.npy"
    np.save(p, np.zeros((28, 28), dtype))
    with pytest.raises(InputImageError,
                       match=rf"image '.*x\.npy' has dtype {np.dtype(dtype)}; use uint8 or float"):
        load_image(p)


def test_a_file_that_is_not_a_picture(tmp_path):
    need("PIL", "PIL.Image")
    p = tmp_path / "shirt.png"
    p.write_text("<html>not a picture</html>")
    with pytest.raises(InputImageError, match=r"image '.*shirt\.png' cannot be read as a picture "
                       r"\(.*\); give a PNG, PGM or \.npy"):
        load_image(p)
