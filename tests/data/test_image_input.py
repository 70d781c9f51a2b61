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
                       r"\(.*\); give a PNG, JPEG, BMP, GIF, WebP or PGM picture, or a "
                       r"\.npy array"):
        load_image(p)


# ------------------------------------------- a colour .npy in channel-first order, resizing


def test_a_channel_first_npy_is_taken_for_a_colour_model(tmp_path):
    """(3, H, W), the order softreg's own ONNX export takes, is an H x W colour image (it was
    told to resize an image of the model's size)."""
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    want = hwc.reshape(-1).astype(np.float32) / 255.0
    np.save(tmp_path / "chw.npy", np.ascontiguousarray(hwc.transpose(2, 0, 1)))
    np.save(tmp_path / "nchw.npy", hwc.transpose(2, 0, 1)[None])  # a stack of one
    np.save(tmp_path / "fortran.npy", np.asfortranarray(hwc.transpose(2, 0, 1)))
    for name in ("chw.npy", "nchw.npy", "fortran.npy"):
        np.testing.assert_array_equal(load_image(tmp_path / name, (8, 6, 3)), want,
                                      err_msg=name)
    # (3, 3, 3) for a 3x3 colour model reads as it always did: channels last
    cube = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)
    np.save(tmp_path / "cube.npy", cube)
    np.testing.assert_array_equal(load_image(tmp_path / "cube.npy", (3, 3, 3)),
                                  cube.reshape(-1).astype(np.float32) / 255.0)


def test_a_npy_of_the_model_size_but_other_channels_is_not_told_to_resize(tmp_path):
    np.save(tmp_path / "gray.npy", np.zeros((8, 6), np.uint8))
    with pytest.raises(InputImageError) as caught:
        load_image(tmp_path / "gray.npy", (8, 6, 3))
    message = str(caught.value)
    assert "has shape (8, 6); softreg predicts on 8x6 colour images" in message
    assert "(8, 6, 3)" in message and "(3, 8, 6)" in message and "resize" not in message
    np.save(tmp_path / "four.npy", np.zeros((4, 8, 6), np.uint8))
    with pytest.raises(InputImageError) as caught:
        load_image(tmp_path / "four.npy", (8, 6, 3))
    assert "resize" not in str(caught.value)
    np.save(tmp_path / "big.npy", np.zeros((3, 16, 12), np.uint8))
    with pytest.raises(InputImageError, match=r"has shape \(3, 16, 12\); softreg predicts on "
                                              r"8x6 colour images.*: resize it to 8x6 first"):
        load_image(tmp_path / "big.npy", (8, 6, 3))


@pytest.mark.parametrize("grayscale", [False, True])
def test_a_run_with_an_image_size_predicts_on_pictures_resized_as_its_training_was(
        tmp_path, grayscale):
    """--image-size: predict resizes a picture as the folder loader does (the same pixels)."""
    PIL = need("PIL", "PIL.Image")
    from softreg.data.folder import load_folder

    rng = np.random.default_rng(1)
    root = tmp_path / "photos"
    paths = []
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            path = root / cls / f"{i}.png"
            PIL.fromarray(rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)).save(path)
            paths.append(path)
    ds = load_folder(str(root), "folder:photos", (8, 6), grayscale)
    assert ds.image_shape == ((8, 6) if grayscale else (8, 6, 3))
    for path, pixels in zip(paths, ds.X_train, strict=True):
        np.testing.assert_array_equal(load_image(path, ds.image_shape, resize=True),
                                      pixels.reshape(-1).astype(np.float32) / 255.0,
                                      err_msg=path.name)
    with pytest.raises(InputImageError, match=r"is 16x12 pixels \(height x width\); softreg "
                                              r"predicts on 8x6"):
        load_image(paths[0], ds.image_shape)  # a model trained without --image-size: as before
