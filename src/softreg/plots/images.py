"""Grids of grayscale images with titles (samples, predictions, mistakes).

A grid written to a file is composed as one array and written with Pillow (a few milliseconds);
matplotlib draws it only when the figure itself is asked for (no ``path``), e.g. in a notebook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError
from softreg.core.validate import check_int

PANEL = 140  # pixels per image side in a written grid (28 x 5)
TITLE_PX = 12  # title font size in pixels (8 points at 110 dpi, as the matplotlib grid had)


def image_grid(images: npt.ArrayLike, titles: Sequence[str] | None = None,
               path: str | os.PathLike[str] | None = None, ncols: int = 8,
               scale: float = 1.5, font_file: str | None = None) -> Any:
    """Draw images in a grid, each with its title, in grayscale.

    Args:
        images: (n, H, W) images (a flat (n, 784) is read as 28 x 28, (n, 1, H, W) is
            accepted). uint8 values are drawn on 0..255; float values on 0..1 when they lie
            in [0, 1], else on 0..255.
        titles: one title per image (may contain ``"\\n"``), or None.
        path: where to write the PNG; None returns the figure instead.
        ncols: images per row (fewer when there are fewer images).
        scale: inches per image of the matplotlib figure (a written grid's images are
            :data:`PANEL` pixels wide at ``scale`` 1.5, in proportion otherwise).
        font_file: the font of the titles in a written grid (default DejaVu Sans); a
            returned figure uses matplotlib's font settings instead.

    Returns:
        The written ``Path`` when ``path`` is given, else the matplotlib ``Figure``.

    Raises:
        ConfigError: no images, a shape that is not a stack of images, a titles count that
            differs from the image count, or a bad ``ncols`` / ``scale``.
        FrameworkUnavailableError: matplotlib is not installed.
    """
    arr = _as_stack(images)
    n = arr.shape[0]
    if titles is not None and len(titles) != n:
        raise ConfigError(f"image_grid needs one title per image: {n} images, "
                          f"{len(titles)} titles")
    check_int(ncols, "ncols", 1)
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ConfigError(f"scale must be a finite number > 0, got {scale!r}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    vmax = 1.0 if arr.dtype != np.uint8 and float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
    if path is not None:
        return _write_grid(arr, titles, Path(path), ncols, vmax, scale, font_file)
    from softreg.plots._mpl import pyplot

    plt = pyplot()
    height = nrows * scale * (1.3 if titles is not None else 1.0)  # room for the titles
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, height), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(arr[i], cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def _write_grid(arr: npt.NDArray[Any], titles: Sequence[str] | None, path: Path, ncols: int,
                vmax: float, scale: float, font_file: str | None) -> Path:
    """The grid as one grayscale array, titles drawn above each image, written as a PNG."""
    from PIL import Image, ImageDraw

    from softreg.plots import raster

    n, h, w = arr.shape
    zoom = max(1, round(PANEL * scale / 1.5 / max(h, w)))
    fnt = raster.font(TITLE_PX, font_file)
    title_h = max((raster.text_size(fnt, t)[1] for t in titles), default=0) if titles else 0
    title_w = max((raster.text_size(fnt, t)[0] for t in titles), default=0) if titles else 0
    gap = 12
    cell_w = max(w * zoom, title_w + 4) + gap
    head = title_h + 6 if titles is not None else 0
    cell_h = head + h * zoom + gap
    nrows = math.ceil(n / ncols)
    pixels = np.full((nrows * cell_h + gap, ncols * cell_w + gap), 255, dtype=np.uint8)
    levels = raster.to_levels(arr, 0.0, vmax)  # (n, h, w)
    for i in range(n):
        top = gap + (i // ncols) * cell_h + head
        left = gap + (i % ncols) * cell_w + (cell_w - gap - w * zoom) // 2
        pixels[top:top + h * zoom, left:left + w * zoom] = raster.enlarge(levels[i], zoom)
    canvas = Image.fromarray(pixels)  # mode L
    if titles is not None:
        draw = ImageDraw.Draw(canvas)
        for i, title in enumerate(titles):
            x = gap + (i % ncols) * cell_w + (cell_w - gap) / 2
            raster.draw_text(draw, (x, gap + (i // ncols) * cell_h), title, fnt, "ma", 0)
    return raster.save_png(canvas, path)


def _as_stack(images: npt.ArrayLike) -> npt.NDArray[Any]:
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
    if arr.ndim == 4 and arr.shape[3] == 3:
        # (n, H, W, 3) colour images: drawn as their luma (ITU-R 601), the grid is grayscale
        luma = np.asarray(arr, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return luma if arr.dtype != np.uint8 else np.rint(luma).astype(np.uint8)  # (n, H, W)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]  # (n, H, W)
    elif arr.ndim == 2 and arr.shape[1] == 28 * 28:
        arr = arr.reshape(-1, 28, 28)  # (n, 28, 28)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ConfigError(f"image_grid needs a non-empty stack of images (n, H, W), got shape "
                          f"{np.shape(images)}")
    return arr
