"""Figures drawn straight into pixels with Pillow: fonts, text, colour maps, ticks, PNG files.

A run's report draws its figures here instead of through matplotlib: a grid of images is one
array, a curve a few lines, so a figure costs milliseconds and ``softreg train`` imports no
matplotlib. The colour maps are matplotlib's (gray, Blues, RdBu_r: ColorBrewer's colours,
interpolated linearly between them as matplotlib does) and the words use DejaVu Sans, its
default font, so the figures look like the ones matplotlib drew before.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from softreg.safety import fileio

FONT_FILE = "DejaVuSans.ttf"
_SYSTEM_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF",
                     "/usr/share/fonts/dejavu", "/Library/Fonts", "C:/Windows/Fonts")
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRID = (235, 235, 235)
# matplotlib's first four colours (tab10), in the order the curves use them.
CYCLE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))
_BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5",
          "#08519c", "#08306b")
_RDBU_R = ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7",
           "#f4a582", "#d6604d", "#b2182b", "#67001f")
# Image.Resampling since Pillow 9.1; the plain constant in every version (the floor is 9).
_BICUBIC: Any = getattr(getattr(Image, "Resampling", Image), "BICUBIC", 3)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]


@lru_cache(maxsize=1)
def default_font_file() -> str | None:
    """DejaVu Sans: matplotlib's copy (found without importing matplotlib), else the system's."""
    folders = []
    spec = importlib.util.find_spec("matplotlib")  # finds the package, does not import it
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "mpl-data" / "fonts" / "ttf" for p in spec.submodule_search_locations]
    folders += [Path(p) for p in _SYSTEM_FONT_DIRS]
    for folder in folders:
        if (folder / FONT_FILE).is_file():
            return str(folder / FONT_FILE)
    return None


@lru_cache(maxsize=32)
def font(size: int, file: str | None = None) -> Font:
    """The font of ``file`` (default: DejaVu Sans) at ``size`` pixels; Pillow's own without one."""
    path = file or default_font_file()
    if path is not None:
        return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size)  # a scalable font since Pillow 10.1
    except TypeError:
        return ImageFont.load_default()


def colormap(name: str) -> npt.NDArray[np.uint8]:
    """A (256, 3) lookup table: "gray", "Blues" or "RdBu_r"."""
    if name == "gray":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)  # (256, 3)
    stops = {"Blues": _BLUES, "RdBu_r": _RDBU_R}[name]
    rgb = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in stops], dtype=np.float64)
    at = np.linspace(0.0, len(stops) - 1, 256)  # (256,) position among the stops
    return np.stack([np.interp(at, np.arange(len(stops)), rgb[:, c]) for c in range(3)],
                    axis=1).round().astype(np.uint8)  # (256, 3)


def to_levels(values: npt.ArrayLike, vmin: float, vmax: float) -> npt.NDArray[np.uint8]:
    """Values -> 0..255 on [vmin, vmax] (clipped; NaN -> 0)."""
    arr = np.asarray(values, dtype=np.float32)
    scaled = (arr - vmin) * (255.0 / (vmax - vmin))
    return np.nan_to_num(np.clip(scaled + 0.5, 0, 255), nan=0.0).astype(np.uint8)


def enlarge(image: npt.NDArray[Any], factor: int) -> npt.NDArray[Any]:
    """Each pixel as a ``factor`` x ``factor`` block (nearest neighbour)."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def nice_ticks(lo: float, hi: float, most: int = 7, integer: bool = False) -> list[float]:
    """Round tick values inside [lo, hi]: multiples of 1, 2, 2.5 or 5 x 10^k, at most ``most``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9)
    ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    return [round(t, 10) for t in ticks]


def tick_label(value: float, ticks: list[float]) -> str:
    """``value`` with as many decimals as the tick step needs."""
    step = round(abs(ticks[1] - ticks[0]), 9) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-6)) if step > 0 else 0
    scaled = step * 10**decimals
    if abs(scaled - round(scaled)) > 1e-6:  # 2.5 x 10^k needs one more
        decimals += 1
    return f"{value:.{decimals}f}"


def text_size(fnt: Font, text: str) -> tuple[int, int]:
    """Width and height of (possibly multi-line) ``text``."""
    box = _measure().multiline_textbbox((0, 0), text, font=fnt, spacing=_spacing(fnt))
    return math.ceil(box[2] - min(box[0], 0)), math.ceil(box[3])


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fnt: Font,
              anchor: str = "la", fill: Any = BLACK) -> None:
    """Text at ``xy``; ``anchor`` is Pillow's two letters (l/m/r, then a/m/d: top/middle/bottom
    of the whole block). Multi-line text is centred line by line when anchored at ``m``."""
    width, height = text_size(fnt, text)
    x = xy[0] - {"l": 0, "m": width / 2, "r": width}[anchor[0]]
    y = xy[1] - {"a": 0, "m": height / 2, "d": height}[anchor[1]]
    align = {"l": "left", "m": "center", "r": "right"}[anchor[0]]
    draw.multiline_text((x, y), text, font=fnt, fill=fill, spacing=_spacing(fnt), align=align)


def paste_rotated(canvas: Image.Image, xy: tuple[float, float], text: str, fnt: Font,
                  angle: float, anchor: str, fill: Any = BLACK) -> None:
    """Text rotated counter-clockwise by ``angle`` degrees, its rotated box's ``anchor``
    ("mm": centre, "ra": top-right corner) at ``xy``."""
    width, height = text_size(fnt, text)
    mask = Image.new("L", (width + 4, height + 4), 0)
    ImageDraw.Draw(mask).multiline_text((2, 2), text, font=fnt, fill=255,
                                        spacing=_spacing(fnt), align="center")
    mask = mask.rotate(angle, resample=_BICUBIC, expand=True)
    x = xy[0] - {"l": 0, "m": mask.width / 2, "r": mask.width}[anchor[0]]
    y = xy[1] - {"a": 0, "m": mask.height / 2, "d": mask.height}[anchor[1]]
    solid = Image.new(canvas.mode, mask.size, fill)
    canvas.paste(solid, (round(x), round(y)), mask)


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Atomically write ``image`` as a PNG at ``path``; return the path."""
    with fileio.atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=3)
    return Path(path)


def _spacing(fnt: Font) -> int:
    return max(2, round(getattr(fnt, "size", 10) * 0.25))


@lru_cache(maxsize=1)
def _measure() -> ImageDraw.ImageDraw:
    return ImageDraw.Draw(Image.new("L", (1, 1)))


def polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], fill: Any,
             width: int, dashes: tuple[float, ...] = ()) -> None:
    """Lines through ``points``; ``dashes`` (on, off, on, off... lengths in pixels) or solid."""
    if not dashes:
        draw.line(points, fill=fill, width=width, joint="curve")
        return
    phase, index = 0.0, 0  # how far into dashes[index] the pen is
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        length, done = math.hypot(x1 - x0, y1 - y0), 0.0
        while done < length - 1e-9:
            step = min(dashes[index] - phase, length - done)
            if index % 2 == 0:  # a dash, not a gap
                a, b = done / length, (done + step) / length
                draw.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)),
                           (x0 + b * (x1 - x0), y0 + b * (y1 - y0))], fill=fill, width=width)
            done += step
            phase += step
            if phase >= dashes[index] - 1e-9:
                phase, index = 0.0, (index + 1) % len(dashes)


class Canvas:
    """A white RGB figure whose lines and colours are drawn at ``k`` times its final size, then
    reduced (smooth lines without anti-aliased primitives), and whose words are drawn after,
    at the final size (crisp, and four times fewer pixels to render).

    Coordinates are those of the big canvas; :meth:`text` takes a font of the final size.
    """

    def __init__(self, width: int, height: int, k: int = 2) -> None:
        self.k = k
        self.big = Image.new("RGB", (width * k, height * k), WHITE)
        self.draw = ImageDraw.Draw(self.big)
        self._words: list[tuple[tuple[float, float], str, Font, str, Any, float]] = []

    def size(self, fnt: Font, text: str) -> tuple[int, int]:
        """:func:`text_size` of ``text`` in big-canvas pixels."""
        width, height = text_size(fnt, text)
        return width * self.k, height * self.k

    def text(self, xy: tuple[float, float], text: str, fnt: Font, anchor: str = "la",
             fill: Any = BLACK, angle: float = 0) -> None:
        """Words at ``xy`` (see :func:`draw_text`; rotated: :func:`paste_rotated`)."""
        self._words.append((xy, text, fnt, anchor, fill, angle))

    def finish(self) -> Image.Image:
        """The figure at its final size, words included."""
        image = self.big.reduce(self.k)
        draw = ImageDraw.Draw(image)
        for (x, y), text, fnt, anchor, fill, angle in self._words:
            at = (x / self.k, y / self.k)
            if angle:
                paste_rotated(image, at, text, fnt, angle, anchor, fill)
            else:
                draw_text(draw, at, text, fnt, anchor, fill)
        return image
