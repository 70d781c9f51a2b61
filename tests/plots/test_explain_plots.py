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
