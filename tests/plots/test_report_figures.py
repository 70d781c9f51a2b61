"""The report's figures drawn with Pillow: their panels, sizes and words, in both languages."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from softreg.cli import main
from softreg.data.fashion import CLASS_NAMES
from softreg.epochs.history import EpochRecord, History
from softreg.plots import labels, raster
from softreg.plots.confusion import CELL, MATRIX_PX, plot_confusion
from softreg.plots.curves import SIZE, plot_curves
from softreg.plots.explain import plot_templates
from softreg.plots.images import PANEL, image_grid

FIGURES = ("curves", "predictions", "mistakes", "confusion")


def _language(request) -> labels.FigureText:
    if request.param == "ko" and labels.find_hangul_font() is None:
        if "hangul" in os.environ.get("SOFTREG_REQUIRE", "").split(","):
            pytest.fail("a Hangul font is required here (SOFTREG_REQUIRE=hangul)")
        pytest.skip("no font with Hangul installed (apt-get install fonts-nanum)")
    return labels.figure_text(request.param)


@pytest.fixture(params=["en", "ko"])
def text(request):
    return _language(request)


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3)


def _history(epochs: int) -> History:
    return History([EpochRecord(e, 1.0 / e, 0.6 + 0.02 * e, test_acc=0.57 + 0.02 * e,
                                val_acc=0.58 + 0.02 * e) for e in range(1, epochs + 1)])


def test_grid_puts_each_image_in_its_panel_under_its_title(tmp_path):
    values = np.arange(1, 8, dtype=np.uint8) * 30  # one grey level per image
    images = np.broadcast_to(values[:, None, None], (7, 28, 28))  # (7, 28, 28)
    path = image_grid(images, [f"image {i}\nline 2" for i in range(7)],
                      path=tmp_path / "g.png", ncols=3)
    grey = np.asarray(Image.open(path))  # (H, W) mode L
    corners = []
    for v in values:
        rows = np.flatnonzero((grey == v).sum(axis=1) >= PANEL)
        cols = np.flatnonzero((grey == v).sum(axis=0) >= PANEL)
        assert len(rows) == len(cols) == PANEL  # a PANEL x PANEL square of that grey
        assert np.all(grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] == v)
        title = grey[max(rows[0] - 34, 0):rows[0], cols[0]:cols[-1] + 1]
        assert (title < 100).sum() > 50  # two lines of dark text above it
        corners.append((rows[0], cols[0]))
    tops = sorted({r for r, _ in corners})
    lefts = sorted({c for _, c in corners})
    assert len(tops) == 3 and len(lefts) == 3  # 3 rows (3 + 3 + 1), 3 columns
    assert [(tops.index(r), lefts.index(c)) for r, c in corners] == [
        (i // 3, i % 3) for i in range(7)]
    assert np.all(grey[tops[2]:, lefts[1]:] == 255)  # no panel, no title after the 7th


def test_curves_have_one_line_per_recorded_metric(tmp_path, text):
    path = plot_curves(_history(6), tmp_path / "c.png", title="t", text=text)
    px = _pixels(path)
    assert px.shape == (SIZE[1], SIZE[0], 3)
    for color in raster.CYCLE:  # train loss, train acc, val acc, test acc
        assert np.all(px == color, axis=2).sum() > 100


def test_curves_without_epochs_say_so(tmp_path, text):
    path = plot_curves(History(), tmp_path / "c.png", text=text)
    px = _pixels(path)
    assert px.shape == (SIZE[1], SIZE[0], 3)
    assert not any(np.all(px == c, axis=2).any() for c in raster.CYCLE)
    middle = px[SIZE[1] // 2 - 30:SIZE[1] // 2 + 10, SIZE[0] // 4:3 * SIZE[0] // 4]
    assert (middle.min(axis=2) < 100).sum() > 100  # the "no finished epoch" words


def test_confusion_cells_are_the_row_shares_in_blues(tmp_path, text):
    cm = np.diag(np.arange(1, 11)) * 10
    cm[0, 1] = 10  # row 0: half right, half wrong
    path = plot_confusion(cm, text.class_names, tmp_path / "m.png", title="t", text=text)
    px = _pixels(path)
    lut = raster.colormap("Blues")
    darkest = np.all(px == lut[255], axis=2)  # share 1.0: the diagonal from row 1 on
    assert darkest.sum() > 9 * (CELL - 14) ** 2  # 9 cells (less their numbers), bar top
    half = np.all(px == lut[128], axis=2)
    assert (CELL - 14) ** 2 < half.sum() < 3 * CELL**2  # two cells at 0.5 (and a bar row)
    assert px.shape[1] > 10 * CELL and px.shape[0] > 10 * CELL


def test_confusion_of_many_classes_shrinks_its_cells_to_a_bounded_figure(tmp_path, text):
    n = 1000  # at 46 pixels a cell, drawn twice as big, this took 24 GB
    cm = np.diag(np.full(n, 3, dtype=np.int64))
    cm[0, 1] = 5
    names = [f"class {i}" for i in range(n)]
    px = _pixels(plot_confusion(cm, names, tmp_path / "m.png", title="t", text=text))
    assert n <= px.shape[0] < MATRIX_PX + 400 and n <= px.shape[1] < MATRIX_PX + 400
    assert np.all(px == raster.colormap("Blues")[255], axis=2).sum() >= n - 1  # the diagonal
    with pytest.raises(ValueError, match=f"at most {MATRIX_PX:,} classes, got 1,841"):
        plot_confusion(np.eye(MATRIX_PX + 1, dtype=np.int64), ["c"] * (MATRIX_PX + 1),
                       tmp_path / "n.png", text=text)
    assert not (tmp_path / "n.png").exists()


def test_templates_have_ten_panels_and_both_ends_of_the_scale(tmp_path):
    W = np.zeros((10, 784))
    W[:, :392] = 1.0  # the top half of every template at the red end
    W[:, 392:] = -1.0  # the bottom half at the blue end
    px = _pixels(plot_templates(W, CLASS_NAMES, tmp_path / "t.png"))
    lut = raster.colormap("RdBu_r")
    red, blue = np.all(px == lut[255], axis=2), np.all(px == lut[0], axis=2)
    for end in (red, blue):  # ten half-panels (less the blended edge row), the bar end
        assert 10 * 140 * 68 < end.sum() < 10 * 140 * 70 + 4000


def test_hangul_is_drawn_with_glyphs_not_boxes(text):
    """Two different syllables differ in the chosen font; in one without Hangul (DejaVu Sans)
    both are the same placeholder box, so this check can fail."""
    def mask(fnt, s):
        img = Image.new("L", (60, 60), 0)
        from PIL import ImageDraw

        ImageDraw.Draw(img).text((5, 5), s, font=fnt, fill=255)
        return np.asarray(img)

    if text.font_file is None:  # English: no font of its own, the default has no Hangul
        fnt = raster.font(30)
        np.testing.assert_array_equal(mask(fnt, "바"), mask(fnt, "지"))
    else:
        fnt = raster.font(30, text.font_file)
        assert not np.array_equal(mask(fnt, "바"), mask(fnt, "지"))


@pytest.mark.parametrize("language", ["en", "ko"])
def test_train_writes_the_four_report_figures(fake_fashion, tmp_path, language,
                                                             capsys):
    if language == "ko" and labels.find_hangul_font() is None:
        pytest.skip("no font with Hangul installed (apt-get install fonts-nanum)")
    out = tmp_path / "r"
    assert main(["train", "--labels", language, "--framework", "numpy", "--epochs", "2",
                 "--quiet", "--out", str(out)]) == 0
    for name in FIGURES:
        px = _pixels(out / f"{name}.png")
        assert px.std() > 20  # not blank
    for name in ("predictions", "mistakes"):  # 2 rows of 6 panels of PANEL pixels
        h, w, _ = _pixels(out / f"{name}.png").shape
        assert w > 6 * PANEL and 2 * PANEL < h < 3 * PANEL


def test_the_train_path_imports_no_matplotlib(tmp_path):
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import softreg.data\n"
        "from softreg.cli import main\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.integers(0, 256, size=(300, 28, 28), dtype=np.uint8)\n"
        "y = (np.arange(300) % 10).astype(np.uint8)\n"
        "softreg.data.load_fashion_mnist = lambda split='train', **k: (x, y)\n"
        f"code = main(['train', '--framework', 'numpy', '--epochs', '1', '--quiet', '--out', "
        f"{str(tmp_path / 'r')!r}])\n"
        "print(code, 'matplotlib' in sys.modules, 'PIL' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 False True"  # after the final line
    assert all((tmp_path / "r" / f"{name}.png").is_file() for name in FIGURES)
