"""`--labels ko`: Korean words on the figures with a Hangul font, or a one-line refusal."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.errors import ConfigError
from softreg.data.fashion import CLASS_NAMES, CLASS_NAMES_KO
from softreg.plots import labels

REFUSAL = ("--labels ko needs a font with Hangul and matplotlib found none; install one, e.g. "
           "sudo apt-get install fonts-nanum (or fonts-noto-cjk), or use --labels en")


@pytest.fixture()
def hangul_font():
    """The family of an installed Hangul font, or skip (fail under SOFTREG_REQUIRE=hangul)."""
    need("matplotlib")
    font = labels.find_hangul_font()
    if font is None:
        if "hangul" in os.environ.get("SOFTREG_REQUIRE", "").split(","):
            pytest.fail("a Hangul font is required here (SOFTREG_REQUIRE=hangul) and matplotlib "
                        "finds none: apt-get install fonts-nanum")
        pytest.skip("no font with Hangul installed (apt-get install fonts-nanum)")
    return font


@pytest.fixture()
def no_hangul_font(monkeypatch):
    monkeypatch.setattr(labels, "find_hangul_font", lambda: None)


@pytest.fixture()
def no_data(monkeypatch):
    """Reading the dataset fails the test: a refusal must come before any work."""
    import softreg.data

    def refuse(*args, **kwargs):
        pytest.fail("the dataset was read before the refusal")

    monkeypatch.setattr(softreg.data, "load_fashion_mnist", refuse)


def _missing_glyphs(record) -> list[str]:
    return [str(w.message) for w in record if "missing from font" in str(w.message)]


def test_korean_class_names_follow_the_english_table():
    assert len(CLASS_NAMES_KO) == len(CLASS_NAMES) == len(set(CLASS_NAMES_KO))
    assert dict(zip(CLASS_NAMES, CLASS_NAMES_KO, strict=True))["ankle boot"] == "앵클 부츠"
    assert labels.KOREAN.prediction_title(0, 9) == "티셔츠/탑\n예측: 앵클 부츠"


def test_english_needs_no_font_and_an_unknown_language_is_refused():
    assert labels.figure_text("en").class_names == CLASS_NAMES
    assert labels.figure_text("en").font is None
    with pytest.raises(ConfigError, match="labels must be one of en, ko, got 'fr'"):
        labels.figure_text("fr")


def test_korean_without_a_hangul_font_is_refused_with_the_package_to_install(no_hangul_font):
    with pytest.raises(ConfigError) as info:
        labels.figure_text("ko")
    assert str(info.value) == REFUSAL


def test_train_refuses_korean_without_a_font_before_training(
        no_hangul_font, no_data, tmp_path, capsys):
    code = main(["train", "--labels", "ko", "--framework", "numpy", "--epochs", "1",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"softreg train: error: {REFUSAL}\n"
    assert not (tmp_path / "r").exists()


def test_evaluate_refuses_korean_without_a_font_before_reading_the_checkpoint(
        no_hangul_font, no_data, tmp_path, capsys):
    code = main(["evaluate", str(tmp_path / "none.safetensors"), "--labels", "ko"])
    assert code == 2 and capsys.readouterr().err == f"softreg evaluate: error: {REFUSAL}\n"


def test_korean_without_figures_needs_no_font(no_hangul_font, fake_fashion, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["train", "--labels", "ko", "--no-figures", "--framework", "numpy",
                 "--epochs", "1", "--quiet", "--out", str(out)])
    assert code == 0 and not list(out.glob("*.png"))


def test_matplotlib_own_fonts_never_count_as_hangul_fonts(monkeypatch):
    """Last Resort (bundled with matplotlib) maps every character to a placeholder box."""
    need("matplotlib")
    import matplotlib
    from matplotlib import font_manager

    own = [e for e in font_manager.fontManager.ttflist
           if e.fname.startswith(matplotlib.get_data_path())]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", own)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    assert labels.find_hangul_font.__wrapped__() is None


def test_a_font_installed_after_matplotlib_cached_its_list_is_found(monkeypatch, hangul_font):
    import matplotlib
    from matplotlib import font_manager

    own = [e for e in font_manager.fontManager.ttflist
           if e.fname.startswith(matplotlib.get_data_path())]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", own)  # as if cached before
    found = labels.find_hangul_font.__wrapped__()
    assert found is not None and labels._search(font_manager.fontManager.ttflist) == found


def test_korean_confusion_figure_has_korean_labels_drawn_with_the_hangul_font(hangul_font):
    from matplotlib import font_manager

    from softreg.plots.confusion import confusion_figure

    text = labels.figure_text("ko")
    cm = np.eye(10, dtype=np.int64) * 7
    with text.fonts(), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig = confusion_figure(cm, text.class_names, "제목", text)
        fig.savefig(io.BytesIO(), format="png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES_KO)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("예측 클래스", "실제 클래스")
    assert _missing_glyphs(record) == []
    used = font_manager.findfont(ax.get_xticklabels()[0].get_fontproperties())
    assert labels._draws_hangul(used)


def test_korean_names_in_the_default_font_would_be_missing_glyphs(hangul_font):
    """The check above can fail: without the font the same figure loses its glyphs."""
    from softreg.plots.confusion import confusion_figure

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig = confusion_figure(np.eye(10, dtype=np.int64), CLASS_NAMES_KO)
        fig.savefig(io.BytesIO(), format="png")
    assert _missing_glyphs(record)


def test_train_with_korean_labels_writes_the_three_figures(hangul_font, fake_fashion, tmp_path,
                                                            capsys):
    out = tmp_path / "r"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        code = main(["train", "--labels", "ko", "--framework", "numpy", "--epochs", "2",
                     "--quiet", "--out", str(out)])
    assert code == 0 and _missing_glyphs(record) == []
    for name in ("curves", "predictions", "confusion"):
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
