"""Reading single images for ``softreg predict``: 28x28 grayscale PNG/PGM or .npy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from softreg._optional import require
from softreg.errors import InputImageError

SIZE = 28


def load_image(path: str | os.PathLike[str]) -> npt.NDArray[np.float32]:
    """Read one image as float32 features (784,) in [0, 1].

    PNG/PGM (any Pillow-readable file) are converted to 8-bit grayscale; ``.npy`` holds a
    (28, 28) or (784,) array, uint8 in 0..255 or float in [0, 1]. Like Fashion-MNIST, the object
    should be light on a dark background.

    Raises:
        InputImageError: missing or unreadable file, wrong size, or values out of range.
    """
    p = Path(path)
    if not p.is_file():
        raise InputImageError(f"image {str(p)!r} does not exist")
    arr = _read_npy(p) if p.suffix.lower() == ".npy" else _read_picture(p)
    if arr.shape not in ((SIZE, SIZE), (SIZE * SIZE,)):
        raise InputImageError(
            f"image {str(p)!r} has shape {arr.shape}; softreg predicts on 28x28 grayscale "
            "images: resize it to 28x28 first"
        )
    if arr.dtype == np.uint8:
        return (arr.reshape(-1).astype(np.float32) / 255.0).astype(np.float32)
    values = arr.reshape(-1).astype(np.float32)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise InputImageError(
            f"image {str(p)!r}: float pixel values must be finite and in [0, 1] "
            f"(got min {values.min()}, max {values.max()}); use uint8 for 0..255"
        )
    return values


def _read_npy(p: Path) -> npt.NDArray[np.generic]:
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputImageError(f"image {str(p)!r} is not a readable .npy array ({exc})") from exc
    if not (arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)):
        raise InputImageError(f"image {str(p)!r} has dtype {arr.dtype}; use uint8 or float")
    return arr


def _read_picture(p: Path) -> npt.NDArray[np.uint8]:
    pil = require("PIL")
    import PIL.Image

    try:
        with PIL.Image.open(p) as im:
            size = im.size
            if size != (SIZE, SIZE):
                raise InputImageError(
                    f"image {str(p)!r} is {size[0]}x{size[1]} pixels; softreg predicts on "
                    "28x28 grayscale images: resize it to 28x28 first"
                )
            gray = im.convert("L")
            return np.asarray(gray, dtype=np.uint8)
    except (OSError, pil.UnidentifiedImageError) as exc:
        raise InputImageError(
            f"image {str(p)!r} cannot be read as a picture ({exc}); give a PNG, PGM or .npy"
        ) from exc
