"""The other datasets of the IDX family (MNIST, Kuzushiji-MNIST): one table entry each.

An entry states the files (names, counts, the md5 of each upstream ``.gz``), the mirrors and the
class names. Its files are looked for in ``--data-dir``, ``--data-dir/<name>/``,
``$SOFTREG_DATA_DIR`` (and its ``<name>/``) and the dataset's own cache folder
(``<user cache>/<name>/``, never shared with another dataset), then downloaded there.

MNIST, Fashion-MNIST and KMNIST use the same file names, so a name proves nothing: the content
decides. Each file found is checked against the entry's md5 and passed over when it differs
(another dataset's file of the same name), and the message says so when no place has the right
one. These entries are verified by the md5 of the upstream ``.gz`` archive (the published
facts; hashes of their decompressed content are not recorded here), so they are read from the
``.gz`` file only; Fashion-MNIST's entry (:mod:`softreg.data.fashion`) checks decompressed
content and accepts recompressed or uncompressed copies too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softreg.core.errors import DataError, DataNotFoundError, FrameworkUnavailableError
from softreg.data.fashion import Kind
from softreg.data.idx import read_idx

IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True)
class IDXSetFile:
    """One file of an entry: its split, kind, upstream name, item count and ``.gz`` md5."""

    split: str
    kind: Kind
    filename: str
    count: int
    gz_md5: str


@dataclass(frozen=True)
class IDXSet:
    """A dataset of the IDX family: name (its cache folder), classes, files, mirrors."""

    name: str
    class_names: tuple[str, ...]
    files: tuple[IDXSetFile, ...]
    mirrors: tuple[str, ...]

    def split_files(self, split: str) -> tuple[IDXSetFile, IDXSetFile]:
        """The (images, labels) files of ``split``."""
        by_kind = {f.kind: f for f in self.files if f.split == split}
        return by_kind["images"], by_kind["labels"]


def _files(md5s: Sequence[str]) -> tuple[IDXSetFile, ...]:
    names = (("train", "images", "train-images-idx3-ubyte.gz", 60000),
             ("train", "labels", "train-labels-idx1-ubyte.gz", 60000),
             ("test", "images", "t10k-images-idx3-ubyte.gz", 10000),
             ("test", "labels", "t10k-labels-idx1-ubyte.gz", 10000))
    return tuple(IDXSetFile(s, k, n, c, m)  # type: ignore[arg-type]
                 for (s, k, n, c), m in zip(names, md5s, strict=True))


MNIST = IDXSet(
    "mnist", tuple(str(d) for d in range(10)),
    _files(("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
)
KMNIST = IDXSet(
    "kmnist", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    _files(("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
            "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")),
    ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
)


def md5(path: Path) -> str:
    """The md5 of a file's bytes."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _places(ds: IDXSet, data_dir: str | None) -> list[tuple[str, Path]]:
    from softreg.data.sources import ENV_DATA_DIR, cache_root

    places: list[tuple[str, Path]] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        places += [("--data-dir", root), ("--data-dir", root / ds.name)]
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        places += [(f"${ENV_DATA_DIR}", Path(env).expanduser()),
                   (f"${ENV_DATA_DIR}", Path(env).expanduser() / ds.name)]
    places.append(("user cache", cache_root() / ds.name))
    return places


def find(ds: IDXSet, spec: IDXSetFile, data_dir: str | None = None,
         offline: bool = False) -> Path:
    """The first copy of ``spec`` whose md5 is the entry's; else a download into the cache.

    Raises:
        DataNotFoundError: no place has the right file and it could not be downloaded; the
            message lists every place and what was wrong there.
    """
    from softreg.data.sources import cache_root

    tried = []
    for origin, folder in _places(ds, data_dir):
        path = folder / spec.filename
        if not path.is_file():
            tried.append(f"{origin} {folder}: file not there")
            continue
        got = md5(path)
        if got == spec.gz_md5:
            return path
        tried.append(f"{origin} {path}: other content (md5 {got}, expected {spec.gz_md5}: "
                     "another dataset's file of the same name?)")
    dest = cache_root() / ds.name
    if offline:
        tried.append("download: skipped (offline)")
    else:
        try:
            return download(spec, dest, ds.mirrors)
        except (DataError, FrameworkUnavailableError) as exc:
            tried.append(f"download into {dest}: failed: {exc}")
    lines = [f"{ds.name} file {spec.filename} not found. Places tried:"]
    lines += [f"  - {t}" for t in tried]
    source = ds.mirrors[0] if ds.mirrors else "its publisher"
    lines += [f"Get it from {source} into {dest} (or a folder FOLDER/{ds.name}, then "
              "pass --data-dir FOLDER); softreg checks each file's md5"]
    raise DataNotFoundError("\n".join(lines))


def download(spec: IDXSetFile, dest: Path, mirrors: Sequence[str]) -> Path:
    """Download ``spec`` from the first mirror serving the right bytes (md5) into ``dest``
    (:func:`softreg.data.sources.download_checked`).

    Raises:
        DataError: every mirror failed, or ``dest`` cannot be written.
        FrameworkUnavailableError: pooch is not installed.
    """
    from softreg.data.sources import download_checked

    def check(got: Path) -> None:
        if md5(got) != spec.gz_md5:
            raise DataError(f"md5 {md5(got)}, expected {spec.gz_md5}")

    return download_checked(spec.filename, dest, mirrors, check)


def load_split(ds: IDXSet, split: str, data_dir: str | None = None,
               offline: bool = False) -> tuple[Any, Any]:
    """``(images, labels)`` of one split: uint8 (N, 28, 28) and (N,), md5-verified files.

    Raises:
        DataNotFoundError: see :func:`find`.
        IDXFormatError: a file with the right md5 that does not decode (never expected).
    """
    images_spec, labels_spec = ds.split_files(split)
    images = read_idx(find(ds, images_spec, data_dir, offline), "images",
                      count=images_spec.count, item_shape=IMAGE_SHAPE).array
    labels = read_idx(find(ds, labels_spec, data_dir, offline), "labels",
                      count=labels_spec.count, num_classes=len(ds.class_names)).array
    return images, labels
