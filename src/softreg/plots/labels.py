"""The words on the figures, in English or Korean, and a font that can draw them.

``--labels ko`` puts Korean class names, titles, axis labels and legends on the figures of
``softreg train`` and ``softreg evaluate``. matplotlib's default font (DejaVu Sans) has no Hangul,
so Korean needs an installed font that has it: one is looked up once, before any training, and
its absence is refused with the package to install.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from softreg.core.errors import ConfigError
from softreg.core.optional import require
from softreg.data.fashion import CLASS_NAMES, CLASS_NAMES_KO

LANGUAGES: tuple[str, ...] = ("en", "ko")
FONT_PACKAGE = "fonts-nanum"  # Debian/Ubuntu; fonts-noto-cjk works as well
_HANGUL_SAMPLE = "한글"  # a font is used for Korean only if its character map has these
# Families that have Hangul, tried first (a full scan of every font is the fallback).
_KNOWN_FAMILIES = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR",
                   "Noto Sans CJK JP", "Source Han Sans KR", "UnDotum", "Malgun Gothic",
                   "Apple SD Gothic Neo", "AppleGothic")


@dataclass(frozen=True)
class FigureText:
    """Every word softreg writes on a figure, in one language.

    ``font`` is the family name of an installed font that draws all of them (None: matplotlib's
    default font, enough for English), ``font_file`` its file (for the figures Pillow draws).
    """

    class_names: tuple[str, ...] = CLASS_NAMES
    metrics: dict[str, str] = field(default_factory=lambda: {
        "train_loss": "train loss", "train_acc": "train acc", "val_acc": "val acc",
        "test_acc": "test acc"})
    epoch: str = "epoch"
    no_epoch: str = "no finished epoch"
    pred: str = "pred"
    predicted_class: str = "predicted class"
    true_class: str = "true class"
    share: str = "share of true class"
    splits: dict[str, str] = field(default_factory=lambda: {"test": "test", "train": "train"})
    confusion_title: str = "{split} set confusion matrix"
    run_title: str = "{framework}, batch {batch_size}, lr {lr}"
    font: str | None = None
    font_file: str | None = None

    def for_classes(self, class_names: Sequence[str]) -> FigureText:
        """This text for a model of ``class_names``: Fashion-MNIST's are drawn in this
        language; other data's as the data names them."""
        if tuple(class_names) == CLASS_NAMES:
            return self
        return replace(self, class_names=tuple(class_names))

    def prediction_title(self, true: int, pred: int) -> str:
        """Two lines: the true class, then the predicted one."""
        return f"{self.class_names[true]}\n{self.pred}: {self.class_names[pred]}"

    @contextlib.contextmanager
    def fonts(self) -> Iterator[None]:
        """Draw (create and save) figures inside this block to use :attr:`font`."""
        if self.font is None:
            yield
            return
        mpl = require("matplotlib")
        # DejaVu Sans after the Hangul font: glyphs the first lacks (e.g. the minus sign) come
        # from the second instead of becoming boxes.
        with mpl.rc_context({"font.family": [self.font, "DejaVu Sans"]}):
            yield


KOREAN = FigureText(
    class_names=CLASS_NAMES_KO,
    metrics={"train_loss": "훈련 손실", "train_acc": "훈련 정확도", "val_acc": "검증 정확도",
             "test_acc": "테스트 정확도"},
    epoch="에포크", no_epoch="끝난 에포크 없음", pred="예측", predicted_class="예측 클래스",
    true_class="실제 클래스", share="실제 클래스 중 비율",
    splits={"test": "테스트", "train": "훈련"}, confusion_title="{split} 세트 혼동 행렬",
    run_title="{framework}, 배치 {batch_size}, 학습률 {lr}")


def figure_text(language: str = "en") -> FigureText:
    """The figure words of ``language`` ("en" or "ko"), with a font that can draw them.

    Raises:
        ConfigError: an unknown language, or "ko" when no installed font has Hangul.
        FrameworkUnavailableError: "ko" without matplotlib.
    """
    if language not in LANGUAGES:
        raise ConfigError(f"labels must be one of {', '.join(LANGUAGES)}, got {language!r}")
    if language == "en":
        return FigureText()
    font = find_hangul_font()
    if font is None:
        raise ConfigError(
            "--labels ko needs a font with Hangul and matplotlib found none; install one, e.g. "
            f"sudo apt-get install {FONT_PACKAGE} (or fonts-noto-cjk), or use --labels en")
    return replace(KOREAN, font=font, font_file=font_file(font))


@lru_cache(maxsize=1)
def find_hangul_font() -> str | None:
    """Family name of an installed font whose characters include Hangul, or None.

    Fonts installed after matplotlib cached its font list are not in that list: the system
    font folders are searched too, and the fonts found there are added to matplotlib's list.
    """
    require("matplotlib")
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _search(manager.ttflist)
    if found is None:
        listed = {entry.fname for entry in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in listed:
                with contextlib.suppress(OSError, RuntimeError, ValueError):  # not a font
                    manager.addfont(path)
        found = _search(manager.ttflist)
    return found


def font_file(family: str) -> str | None:
    """The file of ``family`` (found by :func:`find_hangul_font`) that draws Hangul, its
    regular weight first."""
    from matplotlib import font_manager

    entries = sorted((e for e in font_manager.fontManager.ttflist if e.name == family),
                     key=lambda e: (str(e.weight).lower() not in ("400", "normal", "regular",
                                                                  "book"), e.style != "normal"))
    return next((str(e.fname) for e in entries if _draws_hangul(e.fname)), None)


def _search(entries: list[Any]) -> str | None:
    """The first family among ``entries`` (known Hangul families first) that draws Hangul."""
    mpl = require("matplotlib")
    # matplotlib's own fonts have no Hangul; one of them, Last Resort, maps every character
    # to a placeholder box, so its character map would pass the test.
    own = str(Path(mpl.get_data_path()).resolve())
    known = {name: rank for rank, name in enumerate(_KNOWN_FAMILIES)}
    candidates = sorted((e for e in entries if not str(Path(e.fname).resolve()).startswith(own)),
                        key=lambda e: known.get(e.name, len(known)))
    for entry in candidates:
        if _draws_hangul(entry.fname):
            return str(entry.name)
    return None


def _draws_hangul(path: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):  # unreadable or not a font FreeType knows
        return False
    return all(ord(c) in charmap for c in _HANGUL_SAMPLE)
