"""Fashion-MNIST: finding, verifying, decoding and caching the data, and splitting it.

``load_fashion_mnist("train")`` returns ``(images, labels)``: uint8 arrays of shapes
(60000, 28, 28) and (60000,) (10000 for ``"test"``). The arrays are **read-only** (usually a
memory map of the decoded cache): convert them (``images.astype(np.float32) / 255``) or copy
them before changing them in place.

Any other data goes through :func:`load`: one spec (``--data``: a named dataset, ``folder:DIR``,
``csv:FILE``, ``parquet:FILE``, ``npz:FILE``, ``sklearn:NAME``) gives one :class:`Dataset`;
:func:`from_arrays` makes one of arrays in Python.

Modules: ``fashion`` (the dataset facts), ``idx`` (strict IDX reader), ``sources`` (where files
come from, download), ``cache`` (decoded ``.npy`` cache), ``split`` (train/validation split),
``dataset`` (the :class:`Dataset` and its checks), ``spec`` (parsing ``--data``), ``named`` (the
named datasets' table), ``tables`` (CSV, Parquet, npz, scikit-learn), ``folder`` (image folders).
Importing this package imports neither pooch nor matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from softreg.core.errors import SoftregError
from softreg.data.cache import Loaded, load_verified
from softreg.data.dataset import Dataset, VerifiedPair, from_arrays
from softreg.data.fashion import CLASS_NAMES, FILES, NUM_CLASSES, IDXFile, split_files
from softreg.data.idx import UInt8Array, check_pair
from softreg.data.sources import Found, locate, verify
from softreg.data.split import train_val_split

if TYPE_CHECKING:
    from softreg.data.spec import DataSpec

T = TypeVar("T")

__all__ = [
    "CLASS_NAMES", "FILES", "NUM_CLASSES", "DataOptions", "Dataset", "Found", "IDXFile",
    "Loaded", "VerifiedPair", "from_arrays", "load", "load_fashion_mnist", "load_verified",
    "locate", "train_val_split", "verify",
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
        labels (N,) in 0..9 (names in :data:`CLASS_NAMES`); a
        :class:`~softreg.data.dataset.VerifiedPair` that also holds the content hashes they
        were verified against.

    Raises:
        ConfigError: unknown split.
        DataNotFoundError: the files are nowhere and cannot be downloaded.
        IDXFormatError: a file is damaged or malformed (the message names it).
        ChecksumError: a file is well-formed but not the expected content.
    """
    images_spec, labels_spec = split_files(split)
    found = {f.spec.kind: f for f in locate(split, data_dir=data_dir, offline=offline)}
    images, images_path = _verified(images_spec, found["images"], data_dir)
    labels, labels_path = _verified(labels_spec, found["labels"], data_dir)
    check_pair(images, labels, str(images_path), str(labels_path))
    # read-only arrays whose content matched the table's hashes: those hashes go with them
    return VerifiedPair(images, labels, (images_spec.sha256, labels_spec.sha256))


def _verified(spec: IDXFile, found: Found,
              data_dir: str | os.PathLike[str] | None) -> tuple[UInt8Array, Path]:
    """The decoded content of the first copy of ``spec`` whose content is Fashion-MNIST's
    (:func:`first_verified`), from the decoded cache when it is valid.

    Raises:
        ChecksumError, IDXFormatError: see :func:`first_verified`.
    """
    array, used = first_verified(spec, found, data_dir,
                                 lambda path: load_verified(spec, path).array)
    return array, used.path


def first_verified(spec: IDXFile, found: Found, data_dir: str | os.PathLike[str] | None,
                   read: Callable[[Path], T]) -> tuple[T, Found]:
    """``read`` of the first copy of ``spec`` whose content is Fashion-MNIST's, and that copy.

    ``found`` is the first copy by name; ``read`` verifies a copy (raising ChecksumError for
    other content). A copy with other content (MNIST's, KMNIST's: the same file names) is
    passed over for the next place that has the right one. Not for any place, though: a copy
    in a folder the user named (``--data-dir``, ``$SOFTREG_DATA_DIR``) is passed over only for
    one in that folder or its ``fashion-mnist`` folder, never in silence for the user cache's
    or the system's, which would use other files than those the user gave. ``softreg data``
    and every loader choose by this one rule.

    Raises:
        ChecksumError: no copy holds the expected content (the first copy's error); or the
            first one, in a folder the user named, does not and the next that does is elsewhere.
        IDXFormatError: the first copy is damaged.
    """
    from softreg.core.errors import ChecksumError
    from softreg.data.sources import candidates

    try:
        return read(found.path), found
    except ChecksumError as exc:
        first = exc
    for other in candidates(spec, data_dir):
        if other.path == found.path:
            continue
        try:
            result = read(other.path)
        except SoftregError:  # another dataset's copy, or a damaged one: keep looking
            continue
        given = _named_folder(found.origin)
        if given is not None and _named_folder(other.origin) != given:
            raise ChecksumError(
                f"{found.path} ({found.origin}) is not Fashion-MNIST's {spec.stem} (its "
                f"content's sha256 differs), and softreg does not pass over a file in a folder "
                f"you named for another copy ({other.origin}: {other.path}); replace it with a "
                "fresh copy, or move it away to use the other") from None
        return result, other
    raise first


def _named_folder(origin: str) -> str | None:
    """The folder the user named (``--data-dir``, ``$SOFTREG_DATA_DIR``) that a copy's
    ``origin`` is in (itself or its fashion-mnist folder), or None for the other places."""
    from softreg.data.sources import EXPLICIT_ORIGINS, OWN_FOLDER

    return next((o for o in EXPLICIT_ORIGINS if origin in (o, OWN_FOLDER.format(o))), None)


@dataclass(frozen=True)
class DataOptions:
    """How a spec's files are read: the table's label column, and the image folders' size
    (``"HxW"``, ``""``: as they are) and colour (``grayscale``: one channel); ``scoring``:
    the data scores a trained model rather than training one, so that one class is enough
    (see :func:`softreg.data.dataset.checked`; an image folder may then hold a single class
    folder, and a test folder classes its train folder lacks)."""

    label_column: str = ""
    image_size: str = ""
    grayscale: bool = False
    scoring: bool = False


def _verified_hashes(pair: object) -> tuple[str | None, str | None]:
    """The content hashes a loader verified its pair against, or (None, None): hash them."""
    return pair.sha256 if isinstance(pair, VerifiedPair) else (None, None)


def load(spec: str, data_dir: str | os.PathLike[str] | None = None, offline: bool = False,
         options: DataOptions | None = None) -> Dataset:
    """The dataset ``spec`` names, checked (:func:`softreg.data.dataset.checked`).

    Args:
        spec: ``fashion-mnist`` (and the table's other names), ``folder:DIR``, ``csv:FILE``,
            ``parquet:FILE``, ``npz:FILE`` or ``sklearn:digits|iris|wine|breast_cancer``.
        data_dir, offline: where a named dataset's files are (see :func:`load_fashion_mnist`).
        options: how files are read (label column, image size, grayscale), and whether the
            data scores a trained model (one class is then enough).

    Raises:
        ConfigError: a spec that does not parse (an unknown name lists the known ones).
        DataNotFoundError: the file or folder does not exist.
        DataError: the data breaks a rule (the message names the file and the problem).
        FrameworkUnavailableError: the source needs a package that is not installed.
    """
    from softreg.data.spec import parse

    opts = options or DataOptions()
    parsed = parse(spec)
    recorded = parsed.recorded()  # what checkpoints record: a relative path resolved here
    return replace(_load(parsed, data_dir, offline, opts), spec=recorded)


def _load(parsed: DataSpec, data_dir: str | os.PathLike[str] | None, offline: bool,
          opts: DataOptions) -> Dataset:
    """The dataset of ``parsed``; messages name the spec as the user wrote it."""
    from softreg.data import named
    from softreg.data.dataset import checked
    from softreg.data.spec import parse_image_size

    if parsed.kind == "named":
        entry = named.DATASETS[parsed.target]
        where = None if data_dir is None else str(data_dir)
        train, test = entry.load("train", where, offline), entry.load("test", where, offline)
        (xtr, ytr), (xte, yte) = train, test
        return checked(xtr, ytr, xte, yte, entry.class_names, entry.image_shape, parsed.text,
                       digests=_verified_hashes(train) + _verified_hashes(test),
                       scoring=opts.scoring)
    if parsed.kind == "sklearn":
        from softreg.data.tables import load_sklearn

        return load_sklearn(parsed.target, parsed.text, opts.scoring)
    if parsed.kind == "folder":
        from softreg.data.folder import load_folder

        return load_folder(parsed.target, parsed.text, parse_image_size(opts.image_size),
                           opts.grayscale, opts.scoring)
    from softreg.data.tables import load_table

    return load_table(parsed.kind, parsed.target, parsed.text, opts.label_column, opts.scoring)
