"""A folder of images as a dataset: ``DIR/<class>/*`` or ``DIR/train|test/<class>/*``.

The classes are the sorted names of the class folders (those of ``train`` when there is a
``train`` and a ``test`` folder). Images are read with Pillow, in parallel threads; each file's
header (format and size) is checked before its pixels are decoded, so a file claiming a huge
size costs nothing. Pixels are decoded by :func:`softreg.data.images.decode`, the rule
``predict`` reads a picture by, so a file gives the same features in training and predict.
Grayscale images stay one channel; when any image of the folder is in colour, all are read as
RGB (a gray one as three equal channels), unless ``grayscale`` asks for one channel. Every image
must have the same size unless ``image_size`` resizes them all.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from softreg.core.errors import DataError, DataNotFoundError
from softreg.data.dataset import Dataset, checked
from softreg.data.images import MAX_SIDE, PixelError, decode, is_gray, resized
from softreg.safety.folders import MARKER
from softreg.safety.readback import file_kind

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_PIXELS_TOTAL = 2**31  # all images together, in bytes of uint8 pixels


def load_folder(target: str, spec: str, image_size: tuple[int, int] | None,
                grayscale: bool, scoring: bool = False) -> Dataset:
    """Read an image folder (see the module doc) into a :class:`Dataset`.

    ``scoring``: the folder scores a trained model (``evaluate``, ``explain``), whose classes
    its class folders are matched to by name: one class folder is enough, and with
    ``train/`` and ``test/`` the classes are those of both (the test folder may hold classes
    the train folder lacks). For a folder training passes, that is its classes all the same.

    Raises:
        DataNotFoundError: the folder does not exist.
        DataError: no class folder, a class folder without images, fewer than 2 classes
            (not when ``scoring``), images of different sizes without ``image_size``, an
            unreadable image (named), a test class the training split lacks (not when
            ``scoring``), a folder or an image beside ``train/`` and ``test/`` (named).
    """
    root = Path(target).expanduser()
    if not root.is_dir():
        what = "does not exist"
        if root.exists():
            what = f"is {file_kind(root.stat())}, not a folder"
        raise DataNotFoundError(f"{spec}: {str(root)!r} {what}; give a folder of class folders")
    split_dirs = (root / "train", root / "test")
    have = [d.is_dir() for d in split_dirs]
    if have[0] != have[1]:  # half of the train/test layout: not two classes named so
        there, missing = ("train", "test") if have[0] else ("test", "train")
        val = ("rename a val/ folder to test/, " if missing == "test"
               and (root / "val").is_dir() else "")
        raise DataError(f"{spec}: {str(root)!r} has a {there}/ folder but no {missing}/ "
                        f"folder; softreg reads DIR/train/CLASS/IMAGE with "
                        f"DIR/test/CLASS/IMAGE, or DIR/CLASS/IMAGE (it then holds out its own "
                        f"test images): {val}add {missing}/, or give the folder of the class "
                        "folders")
    least = 1 if scoring else 2
    if all(have):
        _nothing_beside(root, spec)
        train_classes = _classes(split_dirs[0], spec, least)
        test_classes = _classes(split_dirs[1], spec, least=1)  # a test set of one class is one
        unknown = sorted(set(test_classes) - set(train_classes))
        if unknown and not scoring:
            raise DataError(f"{spec}: the test folder has class(es) {', '.join(unknown[:5])} "
                            "that the train folder lacks; a model cannot learn a class it "
                            "never sees")
        classes = sorted(set(train_classes) | set(test_classes))  # train's, unless scoring
        index = {c: i for i, c in enumerate(classes)}
        train = _files(split_dirs[0], train_classes, spec, index=index)
        test: list[tuple[Path, int]] | None = _files(split_dirs[1], test_classes, spec,
                                                     index=index)
    else:
        classes = _classes(root, spec, least)
        train, test = _files(root, classes, spec), None
    files = train + (test or [])
    first_size, first_gray = _first(files[0][0], spec)
    size, colour = image_size or first_size, not grayscale and not first_gray
    X, colours = _read_all(files, colour, size, image_size is not None, spec)
    if not grayscale and not colour and any(colours):  # whichever file comes first
        del X  # a colour image among gray ones: all are read again, as colour
        X, _ = _read_all(files, True, size, image_size is not None, spec)
    y = np.asarray([k for _, k in files], dtype=np.int64)
    n = len(train)
    return checked(X[:n], y[:n], None if test is None else X[n:],
                   None if test is None else y[n:], tuple(classes), tuple(X.shape[1:]), spec,
                   scoring=scoring)


def _read_all(files: list[tuple[Path, int]], colour: bool, size: tuple[int, int],
              resize: bool, spec: str) -> tuple[npt.NDArray[np.uint8], list[bool]]:
    """Every image, (N, H, W) or (N, H, W, 3) when ``colour``; and which ones are in colour."""
    shape = (size[0], size[1], 3) if colour else (size[0], size[1])
    if len(files) * math.prod(shape) > MAX_PIXELS_TOTAL:
        raise DataError(f"{spec}: {len(files)} images of {shape} are more than the "
                        f"{MAX_PIXELS_TOTAL // 2**20} MiB of pixels softreg loads; use "
                        "--image-size to make them smaller")
    X = np.empty((len(files), *shape), dtype=np.uint8)
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:  # Pillow decodes without the GIL
        colours = list(pool.map(
            lambda item: _read_into(X, item[0], item[1][0], colour, size, resize, spec),
            enumerate(files)))
    return X, colours


def _classes(folder: Path, spec: str, least: int = 2) -> list[str]:
    """The class folders of ``folder``, at least ``least`` of them: hidden ones aside, and
    softreg's own (a run, explain or sweep folder written there: its figures are no class)."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not
                     d.name.startswith(".") and not (d / MARKER).exists())
    if not classes:
        raise DataError(f"{spec}: {str(folder)!r} holds no class folders; put each class's "
                        "images in a folder named for the class")
    if len(classes) < least:
        raise DataError(f"{spec}: {str(folder)!r} holds one class folder ({classes[0]}); a "
                        "classifier needs at least 2")
    loose = sorted(p.name for p in folder.iterdir() if p.is_file()
                   and not p.name.startswith(".") and p.suffix.lower() in EXTENSIONS)
    if loose:  # an image beside the class folders has no class: it would be left unread
        from softreg.safety.textsafe import shown

        more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
        raise DataError(f"{spec}: {str(folder)!r} holds image(s) "
                        f"{', '.join(shown(n, 40) for n in loose[:5])}{more} beside its class "
                        "folders, which softreg does not read (an image's class is the folder "
                        "it is in): move them into their class's folder, or out of the folder")
    return classes


def _nothing_beside(root: Path, spec: str) -> None:
    """Refuse what ``root``'s train/ and test/ leave unread beside them: a folder (a class
    folder in the other layout) or an image. What a class folder skips is skipped here too:
    hidden names, files that are not images, and softreg's own folders (a run written there).
    """
    from softreg.safety.textsafe import shown

    beside = sorted(f"{p.name}/" if p.is_dir() else p.name for p in root.iterdir()
                    if not p.name.startswith(".") and p.name not in ("train", "test") and (
                        (p.is_dir() and not (p / MARKER).exists())
                        or (p.is_file() and p.suffix.lower() in EXTENSIONS)))
    if not beside:
        return
    more = f" and {len(beside) - 5} more" if len(beside) > 5 else ""
    val = (" (softreg draws a validation part from train/ itself, with --val-split)"
           if "val/" in beside else "")
    raise DataError(f"{spec}: {str(root)!r} holds train/ and test/ folders, and beside them "
                    f"{', '.join(shown(n, 40) for n in beside[:5])}{more}, which softreg does "
                    "not read (it reads DIR/train/CLASS/IMAGE and DIR/test/CLASS/IMAGE): move "
                    f"them into train/ or test/, or out of the folder{val}")


def _files(folder: Path, classes: list[str], spec: str,
           index: dict[str, int] | None = None) -> list[tuple[Path, int]]:
    out: list[tuple[Path, int]] = []
    index = index or {c: i for i, c in enumerate(classes)}
    for name in classes:
        found = sorted(p for p in (folder / name).iterdir()  # hidden files aside: a
                       if p.is_file() and p.suffix.lower() in EXTENSIONS  # Mac's ._x.png is
                       and not p.name.startswith("."))  # not an image
        if not found:
            inner = sorted(p.name for p in (folder / name).iterdir() if p.is_dir())
            if inner:  # another layout (train/ + val/, a nested folder)
                raise DataError(f"{spec}: class folder {str(folder / name)!r} holds folders "
                                f"({', '.join(inner[:3])}), not images; softreg reads "
                                "DIR/CLASS/IMAGE or DIR/train/CLASS/IMAGE with "
                                "DIR/test/CLASS/IMAGE (rename a val/ folder to test/, or give "
                                "the folder of the class folders)")
            raise DataError(f"{spec}: class folder {str(folder / name)!r} holds no images "
                            f"({', '.join(EXTENSIONS)})")
        out += [(p, index[name]) for p in found]
    return out


def _open(path: Path, spec: str):  # type: ignore[no-untyped-def]
    from softreg.core.optional import require

    pil = require("PIL")
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns (then refuses) past ~89 M pixels; softreg's own bound is far below,
            # so its warning is an error here, said in one line like the others
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"{spec}: image {str(path)!r} claims more pixels than softreg reads "
                        f"({exc}); images up to {MAX_SIDE} pixels a side") from None
    except (OSError, pil.UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"{spec}: cannot read image {str(path)!r} ({exc})") from exc
    w, h = im.size
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        im.close()
        raise DataError(f"{spec}: image {str(path)!r} claims {w}x{h} pixels; softreg reads "
                        f"images up to {MAX_SIDE} pixels a side")
    return im


def _first(path: Path, spec: str) -> tuple[tuple[int, int], bool]:
    """The size (H, W) of the image at ``path``, and whether it is gray."""
    with _open(path, spec) as im:
        return (im.size[1], im.size[0]), is_gray(im.mode)


def _read_into(X: npt.NDArray[np.uint8], i: int, path: Path, colour: bool,
               size: tuple[int, int], resize: bool, spec: str) -> bool:
    """Decode the image at ``path`` into ``X[i]``; whether it is in colour."""
    with _open(path, spec) as im:
        if not resize and (im.size[1], im.size[0]) != size:
            raise DataError(f"{spec}: image {str(path)!r} is {im.size[1]}x{im.size[0]} (HxW), "
                            f"others are {size[0]}x{size[1]}; pass --image-size HxW to resize "
                            "them all")
        try:
            pixels = decode(im, colour)
            X[i] = resized(pixels, size) if resize else pixels
        except PixelError as exc:
            raise DataError(f"{spec}: image {str(path)!r} {exc}") from None
        except (OSError, ValueError) as exc:  # truncated or damaged data after the header
            raise DataError(f"{spec}: cannot decode image {str(path)!r} ({exc})") from exc
        return not is_gray(im.mode)
