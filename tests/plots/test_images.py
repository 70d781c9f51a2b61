"""image_grid: a grayscale grid with titles, as a Figure or a PNG, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import ConfigError
from softreg.plots.images import image_grid

IMAGES = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
TITLES = [f"image {i}" for i in range(5)]


@pytest.fixture(autouse=True)
def _matplotlib():
    need("matplotlib")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_figure_has_one_titled_grayscale_panel_per_image():
    fig = image_grid(IMAGES, TITLES, ncols=3)
    axes = fig.get_axes()
    assert len(axes) == 6  # 2 rows x 3 columns, the last one blank
    shown = [ax for ax in axes if ax.get_images()]
    assert [ax.get_title() for ax in shown] == TITLES
    first = shown[0].get_images()[0]
    assert first.get_cmap().name == "gray" and first.get_clim() == (0.0, 255.0)
    np.testing.assert_array_equal(first.get_array(), IMAGES[0])


def test_png_is_written_and_path_returned(tmp_path):
    path = image_grid(IMAGES, TITLES, path=tmp_path / "sub" / "grid.png")
    assert path == tmp_path / "sub" / "grid.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_float_and_flat_inputs_use_the_unit_range():
    flat = IMAGES.reshape(5, 784).astype(np.float32) / 255  # (5, 784)
    fig = image_grid(flat, None, ncols=8)
    assert len(fig.get_axes()) == 5  # ncols shrinks to the number of images
    image = fig.get_axes()[0].get_images()[0]
    assert image.get_clim() == (0.0, 1.0) and image.get_array().shape == (28, 28)
    channel = image_grid(IMAGES[:, None].astype(np.float64), ncols=2)  # (n, 1, 28, 28), 0..255
    assert channel.get_axes()[0].get_images()[0].get_clim() == (0.0, 255.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"titles": ["a"]}, "image_grid needs one title per image: 5 images, 1 titles"),
    ({"ncols": 0}, "ncols must be an integer >= 1, got 0"),
    ({"ncols": 2.5}, "ncols must be an integer >= 1, got 2.5"),
    ({"scale": 0}, "scale must be a finite number > 0, got 0"),
    ({"scale": float("inf")}, "scale must be a finite number > 0, got inf"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        image_grid(IMAGES, **kwargs)


@pytest.mark.parametrize("shape", [(0, 28, 28), (28, 28), (2, 3, 28, 28), (4, 100)])
def test_not_a_stack_of_images_is_refused(shape):
    with pytest.raises(ConfigError, match="image_grid needs a non-empty stack of images "
                       rf"\(n, H, W\), got shape \({shape[0]}, "):
        image_grid(np.zeros(shape, np.uint8))
