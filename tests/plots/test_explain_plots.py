"""Explain figures: panels, colour scales and the written PNGs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from softreg.core.errors import ConfigError
from softreg.data import CLASS_NAMES
from softreg.explain.calibration import reliability

W = np.random.default_rng(0).normal(size=(10, 784)).astype(np.float32)
W[3, 5] = -90.0  # an outlier: the scale is the 99.5th percentile of |W|, symmetric

LIMIT = float(np.percentile(np.abs(W), 99.5))  # about 2.8 for N(0, 1) weights


@pytest.fixture(autouse=True)
def _matplotlib():
    need("matplotlib")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _png_size(path):
    PIL = need("PIL", "PIL.Image")
    with PIL.open(path) as im:
        return im.size


def test_templates_one_panel_per_class_on_one_symmetric_diverging_scale(tmp_path):
    from softreg.plots.explain import plot_templates

    fig = plot_templates(W, CLASS_NAMES)
    panels = [ax for ax in fig.get_axes() if ax.get_images()]
    assert len(panels) == 10 and len(fig.get_axes()) == 11  # and the colour bar
    assert [ax.get_title() for ax in panels] == list(CLASS_NAMES)
    for ax in panels:
        image = ax.get_images()[0]
        assert image.get_clim() == pytest.approx((-LIMIT, LIMIT), rel=1e-6)
        assert image.get_cmap().name == "RdBu_r"
    np.testing.assert_array_equal(panels[3].get_images()[0].get_array(), W[3].reshape(28, 28))
    path = plot_templates(W, CLASS_NAMES, tmp_path / "t.png")
    width, height = _png_size(path)
    assert width > 800 and 300 < height < width


def test_templates_need_one_name_per_class():
    from softreg.plots.explain import plot_templates

    with pytest.raises(ConfigError, match="one name per row of W: 10 rows, 9 names"):
        plot_templates(W, CLASS_NAMES[:9])


def test_example_rows_leave_blanks_and_label_each_row(tmp_path):
    from softreg.plots.explain import plot_example_rows

    imgs = np.random.default_rng(1).random((6, 28, 28))
    rows = [("a → b", imgs[:4], ["p=1"] * 4), ("b → a", imgs[:2], ["p=2"] * 2),
            ("c → d", imgs[:0], [])]
    fig = plot_example_rows(rows)
    axes = fig.get_axes()
    assert len(axes) == 12  # 3 rows x 4 columns
    assert sum(bool(ax.get_images()) for ax in axes) == 6
    assert [axes[i].get_ylabel() for i in (0, 4, 8)] == ["a → b", "b → a", "c → d"]
    width, height = _png_size(plot_example_rows(rows, tmp_path / "rows.png"))
    assert width > height > 200


@pytest.mark.parametrize(("rows", "message"), [
    ([], "needs at least one row of images"),
    ([("x", np.zeros((2, 28, 28)), ["one"])], "row 'x': 2 images but 1 titles"),
])
def test_example_rows_refusals(rows, message):
    from softreg.plots.explain import plot_example_rows

    with pytest.raises(ConfigError, match=message):
        plot_example_rows(rows)


def test_reliability_one_panel_per_model_with_its_ece(tmp_path):
    from softreg.plots.explain import plot_reliability

    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    rel = reliability(probs, [0, 1, 1])
    fig = plot_reliability([("as trained", rel), ("T = 2.000", rel)])
    axes = fig.get_axes()
    assert len(axes) == 2 and axes[0].get_title() == f"as trained: ECE {rel.ece:.4f}"
    assert len(axes[0].patches) == 2 * 15  # accuracy and gap bars per bin
    one = plot_reliability([("as trained", rel)], tmp_path / "r.png")
    width, height = _png_size(one)
    assert 0.8 < width / height < 1.3
    with pytest.raises(ConfigError, match="at least one set of reliability bins"):
        plot_reliability([])


# Image shapes whose templates must lay out without overlap: Fashion-MNIST's, larger, tiny
# (grayscale and colour), and tall and narrow.
SHAPES = [(28, 28), (40, 40), (6, 5), (6, 5, 3), (40, 5)]


def _constant_templates(shape, classes):
    """W whose class k is the value levels[k] at every pixel (and channel): each panel is one
    colour, and the colour scale's limit is 1."""
    levels = np.linspace(-1.0, 1.0, classes)
    return np.repeat(levels[:, None], int(np.prod(shape)), axis=1), levels  # (C, D), (C,)


def _inside(box, outer):
    return (box.x0 >= outer.x0 - 0.5 and box.y0 >= outer.y0 - 0.5
            and box.x1 <= outer.x1 + 0.5 and box.y1 <= outer.y1 + 0.5)


def _disjoint(boxes):
    return all(not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)
               for i, a in enumerate(boxes) for b in boxes[i + 1:])


@pytest.mark.parametrize("classes", [3, 10])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_template_figure_panels_are_sized_from_the_image_and_stay_inside(shape, classes):
    """The matplotlib Figure: measured from its artists' window extents once drawn."""
    from softreg.plots.explain import TEMPLATE_TITLE, plot_templates

    W, _ = _constant_templates(shape, classes)
    fig = plot_templates(W, [f"class {k}" for k in range(classes)], image_shape=shape)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.get_axes() if ax.get_images()]
    assert len(panels) == classes
    images = [ax.get_images()[0].get_window_extent(renderer) for ax in panels]
    titles = [ax.title.get_window_extent(renderer) for ax in panels]
    assert _disjoint(images + titles)
    for box in images:
        assert _inside(box, fig.bbox)
        assert box.width / box.height == pytest.approx(shape[1] / shape[0], rel=0.05)
        assert max(box.width, box.height) > 100  # not shrunk to a few pixels
    for box in titles:
        assert _inside(box, fig.bbox)
    bar = fig.get_axes()[-1]
    assert not bar.get_images() and bar.get_ylabel().startswith("weight per raw pixel")
    assert _inside(bar.yaxis.label.get_window_extent(renderer), fig.bbox)
    title = next(t for t in fig.texts if t.get_text() == TEMPLATE_TITLE)
    assert _inside(title.get_window_extent(renderer), fig.bbox)
    assert _disjoint([bar.get_window_extent(renderer), *images])


@pytest.mark.parametrize("classes", [3, 10])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_written_templates_lay_out_any_image_shape(tmp_path, shape, classes):
    """templates.png: each panel, where the layout puts it, is wholly its class's colour (an
    overlapping neighbour or a cut-off edge would show), and nothing reaches the border."""
    from softreg.plots import raster
    from softreg.plots.explain import plot_templates

    W, levels = _constant_templates(shape, classes)
    names = [f"class {k}" for k in range(classes)]
    px = np.asarray(_open_rgb(plot_templates(W, names, tmp_path / "t.png", image_shape=shape)))
    edge = np.concatenate([px[:3].reshape(-1, 3), px[-3:].reshape(-1, 3),
                           px[:, :3].reshape(-1, 3), px[:, -3:].reshape(-1, 3)])
    assert (edge == 255).all()  # white all round: no panel or word cut off
    from softreg.plots.explain import template_layout  # where each part should be

    ticks = raster.nice_ticks(-1.0, 1.0, most=7)
    lay = template_layout(shape[:2], names, min(5, classes), [raster.tick_label(v, ticks)
                                                             for v in ticks])
    k = lay.k
    assert px.shape[:2] == (-(-lay.height // k), -(-lay.width // k))
    lut = raster.colormap("RdBu_r")
    for (left, top, right, bottom), level in zip(lay.panels, levels, strict=True):
        assert (bottom - top) * shape[1] == (right - left) * shape[0]  # the image's aspect
        assert lay.zoom % k == 0 and right - left == shape[1] * lay.zoom
        assert max(right - left, bottom - top) // k >= 100  # not a few pixels
        panel = px[top // k:bottom // k, left // k:right // k]  # (h, w, 3)
        assert panel.shape[:2] == ((bottom - top) // k, (right - left) // k)
        assert (panel == lut[raster.to_levels(level, -1.0, 1.0)]).all()
    boxes = lay.panels + lay.titles + [lay.bar, lay.bar_label]
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= lay.width and 0 <= top < bottom <= lay.height
    assert _disjoint([_Box(*b) for b in boxes])
    # the bar's label is drawn inside its box, not beyond its ends
    left, top, right, bottom = (v // k for v in lay.bar_label)
    assert (px[top:bottom, left:right] < 100).all(axis=2).sum() > 200
    below_title = lay.bar[1] // k - 16  # from the bar's pointed top end down
    column = (px[below_title:, left:right] < 100).all(axis=2)  # dark pixels: words
    column[top - below_title:bottom - below_title] = False
    assert not column.any()


class _Box:
    """(left, top, right, bottom) with matplotlib Bbox's names, for _disjoint."""

    def __init__(self, x0, y0, x1, y1):
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1


def _open_rgb(path):
    PIL = need("PIL", "PIL.Image")
    with PIL.open(path) as im:
        return im.convert("RGB")
