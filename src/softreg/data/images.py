"""Reading single images for ``softreg predict``: 28x28 grayscale pictures or ``.npy`` arrays.

The rule, whatever the file: one image of 28x28 pixels becomes 784 float32 features in [0, 1],
0 being the background. Like Fashion-MNIST, the object should be light on a dark background.
A file's claims (its size, shape, dtype) are checked from its header before any pixel is
decoded or any memory is allocated for it; every refusal is an :class:`InputImageError`.

``.npy`` (read without pickles): shape (28, 28) or (784,) (the model's (H, W) or (H, W, 3),
or its pixels in a row; for a colour model also (3, H, W), channels first as softreg's ONNX
export takes them, unless that is also (H, W, 3)); uint8 (0..255, divided by 255) or a float
dtype (values used as they are, which must be finite and in [0, 1]); the file holds exactly
that array (an ``.npz`` archive, a truncated or an over-long file is refused).

Pictures (PNG, PGM or anything else Pillow reads), 28x28 pixels (or the model's size), become
uint8 pixels by :func:`decode`, the one rule that image folders are read by for training too
(``folder:``), so that a picture gives the same features in training and in ``predict``;
those pixels are divided by 255. A model trained with ``--image-size`` takes a picture of any
size (up to :data:`MAX_SIDE` a side, as the folder loader), decoded and then resized to the model's
size by :func:`resized`, as its training images were. By mode:

* ``L`` (8-bit gray), ``1`` (black and white): the gray level.
* ``RGB``, ``P`` (palette) and other colour modes: for a grayscale model, the luma (ITU-R
  601-2, Pillow's conversion to ``L``); for a colour model, RGB.
* With transparency (``LA``, ``RGBA``, ``PA``, a palette or colour key with a transparent
  entry): composited on black, the background of Fashion-MNIST: each channel (or the luma)
  x alpha / 255, rounded, so a fully transparent pixel is 0 whatever colour it hides.
* ``I;16`` (16-bit gray) and ``I`` (32-bit integers, as older Pillow opens 16-bit PNGs): values
  must be in 0..65535 and are scaled by that full range to 0..255 (rounded).
* ``F`` (32-bit float, e.g. TIFF): values must be finite and in [0, 1], scaled to 0..255.

A picture larger than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) is
refused without being decoded.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npy_format
import numpy.typing as npt

from softreg.core.errors import InputImageError
from softreg.core.optional import require
from softreg.safety import readback

SIZE = 28
ZIP_SIGNATURE = b"PK\x03\x04"
MAX_16BIT = 65535
# Pillow's one-channel modes (16-bit gray is also "I;16B", "I;16L"...): read as one channel
# unless the model (or another picture of its folder) is colour.
GRAY_MODES = ("1", "L", "LA", "La", "I", "F")
# The largest image side read, by the folder loader and by predict (a header claiming more is
# refused unread).
MAX_SIDE = 4096
# ITU-R 601-2 luma, the weights of Pillow's conversion of RGB to L.
LUMA = np.array([0.299, 0.587, 0.114])


class PixelError(ValueError):
    """A picture whose pixel values fall outside its mode's range (:func:`decode`)."""


def load_image(path: str | os.PathLike[str],
               image_shape: tuple[int, ...] = (SIZE, SIZE), *,
               resize: bool = False) -> npt.NDArray[np.float32]:
    """Read one image as float32 features (D,) in [0, 1] (the rule: see the module doc).

    ``image_shape`` is the model's: (H, W) for grayscale (28 x 28 for Fashion-MNIST), or
    (H, W, 3) for colour; a picture is decoded as the image folders of training are
    (:func:`decode`). ``resize``: the model was trained on pictures resized to its (H, W)
    (``--image-size``), so a picture of another size is resized as they were
    (:func:`resized`); else it must be of the model's size. A ``.npy`` is never resized.

    Raises:
        InputImageError: missing or unreadable file, wrong size, shape or dtype, values out of
            range, a picture too large to open safely.
    """
    p = Path(path)
    readback.check_regular(p, "image", InputImageError)  # a folder, FIFO, /dev/zero: by name
    shape = tuple(image_shape)
    arr = (_read_npy(p, shape) if p.suffix.lower() == ".npy"
           else _read_picture(p, shape, resize))
    if arr.dtype == np.uint8:
        return (arr.reshape(-1).astype(np.float32) / 255.0).astype(np.float32)
    values = arr.reshape(-1).astype(np.float32)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise InputImageError(
            f"image {str(p)!r}: float pixel values must be finite and in [0, 1] "
            f"(got min {values.min()}, max {values.max()}); use uint8 for 0..255"
        )
    return values


def _wanted(image_shape: tuple[int, ...]) -> str:
    """``28x28 grayscale images: resize it to 28x28 first``, for the model's shape."""
    h, w = image_shape[:2]
    kind = "grayscale" if len(image_shape) == 2 else "colour"
    return f"{h}x{w} {kind} images: resize it to {h}x{w} first"


def _channels_first(image_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """(3, H, W) for a colour model of (H, W, 3), unless that is (H, W, 3) itself (a 3x3
    colour model: an array of that shape is read channels last, as always)."""
    if len(image_shape) != 3:
        return None
    first = (image_shape[2], *image_shape[:2])
    return None if first == image_shape else first


def _wrong_shape(p: Path, shape: tuple[int, ...],
                 image_shape: tuple[int, ...]) -> InputImageError:
    """The refusal of a ``.npy`` of another shape than the model's image takes: the shapes
    it takes, and "resize" only for an array that is not of the model's height and width."""
    h, w = image_shape[:2]
    kind = "grayscale" if len(image_shape) == 2 else "colour"
    forms = [str(image_shape) + (" (channels last)" if len(image_shape) == 3 else "")]
    first = _channels_first(image_shape)
    if first is not None:
        forms.append(f"{first} (channels first)")
    flat = f"({math.prod(image_shape)},)"
    taken = f"{', '.join(forms)} or {flat}"
    if len(shape) == 1:
        same_size = shape[0] in (h * w, h * w * 3)
    else:
        same_size = any(shape[i:i + 2] == (h, w) for i in range(len(shape) - 1))
    tail = (f" (this one is {h}x{w}, with other channels)" if same_size
            else f": resize it to {h}x{w} first")
    return InputImageError(
        f"image {str(p)!r} has shape {shape}; softreg predicts on {h}x{w} {kind} images, a "
        f".npy of shape {taken}{tail}"
    )


def _read_npy(p: Path, image_shape: tuple[int, ...]) -> npt.NDArray[Any]:
    """The array of a ``.npy`` file, its header checked before the data is read."""
    def unreadable(why: object) -> InputImageError:
        return InputImageError(f"image {str(p)!r} is not a readable .npy array ({why})")

    try:
        with open(p, "rb") as fh:
            if fh.read(4) == ZIP_SIGNATURE:
                raise unreadable("it is a zip archive, as .npz files are: save one image "
                                 "with numpy.save")
            fh.seek(0)
            version = npy_format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise unreadable(f"format version {version[0]}.{version[1]}; save it with "
                                 "numpy.save")
            read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                           else npy_format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(fh)
            if not (dtype == np.uint8 or np.issubdtype(dtype, np.floating)):
                raise InputImageError(f"image {str(p)!r} has dtype {dtype}; use uint8 or float")
            first = _channels_first(image_shape)
            # an image, its pixels in a row, or (colour) its channels first
            one = [image_shape, (math.prod(image_shape),)] + ([first] if first else [])
            batch = len(shape) > 0 and tuple(shape[1:]) in one  # images stacked (1: one image)
            if batch and shape[0] != 1:
                raise InputImageError(
                    f"image {str(p)!r} holds {shape[0]} images, of shape {tuple(shape)}; a "
                    ".npy input is one image: save each with numpy.save (or pass picture "
                    "files)")
            if not batch and tuple(shape) not in one:
                raise _wrong_shape(p, tuple(shape), image_shape)
            nbytes = math.prod(shape) * dtype.itemsize
            have = os.fstat(fh.fileno()).st_size - fh.tell()
            if have != nbytes:
                raise unreadable(f"its header promises {nbytes} bytes of data, the file holds "
                                 f"{have}")
            data = fh.read(nbytes)
    except (ValueError, OSError, EOFError) as exc:
        raise unreadable(exc) from exc
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if first is not None and tuple(shape[1:] if batch else shape) == first:
        return arr.reshape(first).transpose(1, 2, 0)  # channels first -> the model's (H, W, 3)
    return arr


def _read_picture(p: Path, image_shape: tuple[int, ...],
                  resize: bool = False) -> npt.NDArray[np.uint8]:
    """A picture's pixels, of the model's (H, W[, 3]), by :func:`decode` (then, when
    ``resize``, :func:`resized` to the model's size, as the folder loader does)."""
    pil = require("PIL")
    import PIL.Image

    try:
        with warnings.catch_warnings():  # over the bomb limit: refused, not a warning
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            im = PIL.Image.open(p)
        with im:
            if resize:
                width, height = im.size
                if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                    raise InputImageError(
                        f"image {str(p)!r} is {height}x{width} pixels (height x width); "
                        f"softreg reads images up to {MAX_SIDE} pixels a side")
                return resized(decode(im, colour=len(image_shape) == 3), image_shape[:2])
            if im.size != (image_shape[1], image_shape[0]):
                raise InputImageError(
                    f"image {str(p)!r} is {im.size[1]}x{im.size[0]} pixels (height x width); "
                    f"softreg predicts on {_wanted(image_shape)}"
                )
            return decode(im, colour=len(image_shape) == 3)
    except PixelError as exc:
        raise InputImageError(f"image {str(p)!r} {exc}") from None
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning) as exc:
        raise InputImageError(
            f"image {str(p)!r} is too large to open safely ({exc}); softreg predicts on "
            f"{_wanted(image_shape)}"
        ) from exc
    except (OSError, ValueError, EOFError, SyntaxError, pil.UnidentifiedImageError) as exc:
        raise InputImageError(
            f"image {str(p)!r} cannot be read as a picture ({exc}); give a PNG, JPEG, BMP, "
            "GIF, WebP or PGM picture, or a .npy array"
        ) from exc


def resized(pixels: npt.NDArray[np.uint8], size: tuple[int, ...]) -> npt.NDArray[np.uint8]:
    """Decoded pixels (:func:`decode`) resized to ``size`` (H, W) as an image folder's are
    for ``--image-size`` (Pillow's default resampling of an ``L`` or ``RGB`` image, bicubic;
    a picture of that size already is left as it is)."""
    import PIL.Image

    height, width = size[:2]
    return np.asarray(PIL.Image.fromarray(pixels).resize((width, height)), dtype=np.uint8)


def is_gray(mode: str) -> bool:
    """Whether Pillow's ``mode`` is one channel (gray levels, with or without alpha)."""
    return mode in GRAY_MODES or mode.startswith("I;16")


def decode(im: Any, colour: bool) -> npt.NDArray[np.uint8]:
    """An opened Pillow picture's pixels by the rule of the module doc: uint8 (H, W), or
    (H, W, 3) when ``colour``.

    Training (``folder:``) and ``predict`` both read pictures through this, so that the same
    file gives the same features in both.

    Raises:
        PixelError: 16-bit pixels outside 0..65535, float pixels not finite or outside [0, 1].
        OSError, ValueError: the pixel data cannot be decoded (a truncated file).
    """
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        gray = _scaled(im)
        return np.repeat(gray[..., None], 3, axis=2) if colour else gray
    bands = im.getbands()
    if "A" in bands or "a" in bands or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)  # (H, W, 4)
        alpha = rgba[..., 3:] / 255.0  # composited on black: rounded once, at the end
        pixels = rgba[..., :3] * alpha if colour else (rgba[..., :3] @ LUMA) * alpha[..., 0]
        return np.rint(pixels).astype(np.uint8)
    return np.asarray(im.convert("RGB" if colour else "L"), dtype=np.uint8)


def _scaled(im: Any) -> npt.NDArray[np.uint8]:
    """The gray levels of a 16-bit (``I;16``, ``I``) or float (``F``) picture, scaled to uint8."""
    if im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise PixelError(f"has pixels out of range: float pixel values must be finite and "
                             f"in [0, 1] (got min {values.min()}, max {values.max()})")
        return np.rint(values * 255).astype(np.uint8)
    values = np.asarray(im).astype(np.int64)
    if values.min() < 0 or values.max() > MAX_16BIT:
        raise PixelError(f"has {im.mode} pixels from {values.min()} to {values.max()}; "
                         f"integer pictures must be 16-bit gray, 0..{MAX_16BIT}")
    return np.rint(values * (255 / MAX_16BIT)).astype(np.uint8)
