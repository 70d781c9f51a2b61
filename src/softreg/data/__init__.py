"""Fashion-MNIST: finding, verifying, decoding and caching the data, and splitting it.

``load_fashion_mnist("train")`` returns ``(images, labels)``: uint8 arrays of shapes
(60000, 28, 28) and (60000,) (10000 for ``"test"``). The arrays are **read-only** (usually a
memory map of the decoded cache): convert them (``images.astype(np.float32) / 255``) or copy
them before changing them in place.

Modules: ``fashion`` (the dataset facts), ``idx`` (strict IDX reader), ``sources`` (where files
come from, download), ``cache`` (decoded ``.npy`` cache), ``split`` (train/validation split).
Importing this package imports neither pooch nor matplotlib.
"""

from __future__ import annotations

import os

from softreg.data.cache import Loaded, load_verified
from softreg.data.fashion import CLASS_NAMES, FILES, NUM_CLASSES, IDXFile, split_files
from softreg.data.idx import UInt8Array, check_pair
from softreg.data.sources import Found, locate, verify
from softreg.data.split import train_val_split

__all__ = [
    "CLASS_NAMES", "FILES", "NUM_CLASSES", "Found", "IDXFile", "Loaded", "load_fashion_mnist",
    "load_verified", "locate", "train_val_split", "verify",
]


def load_fashion_mnist(split: str = "train", data_dir: str | os.PathLike[str] | None = None,
                       offline: bool = False) -> tuple[UInt8Array, UInt8Array]:
    """Load one split of Fashion-MNIST, verified against the known content hashes.

    Args:
        split: ``"train"`` (60000 images) or ``"test"`` (10000 images).
        data_dir: a folder holding the files, searched first (see :mod:`softreg.data.sources`
            for the other places: ``$SOFTREG_DATA_DIR``, the user cache, the Debian folder).
        offline: never download; fail with a list of places tried instead.

    Returns:
        ``(images, labels)``: read-only uint8 arrays, images (N, 28, 28) with 0 = background,
        labels (N,) in 0..9 (names in :data:`CLASS_NAMES`).

    Raises:
        ConfigError: unknown split.
        DataNotFoundError: the files are nowhere and cannot be downloaded.
        IDXFormatError: a file is damaged or malformed (the message names it).
        ChecksumError: a file is well-formed but not the expected content.
    """
    images_spec, labels_spec = split_files(split)
    found = {f.spec.kind: f for f in locate(split, data_dir=data_dir, offline=offline)}
    images = load_verified(images_spec, found["images"].path).array
    labels = load_verified(labels_spec, found["labels"].path).array
    check_pair(images, labels, str(found["images"].path), str(found["labels"].path))
    return images, labels
