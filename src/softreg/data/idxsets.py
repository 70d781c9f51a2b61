"""The other datasets of the IDX family (MNIST, Kuzushiji-MNIST, EMNIST): one table entry each.

An entry states the files (names, counts, the md5 of each upstream ``.gz`` where one is
published), the mirrors and the class names. Its files are looked for in ``--data-dir``,
``--data-dir/<name>/``, ``$SOFTREG_DATA_DIR`` (and its ``<name>/``) and the dataset's own cache
folder (``<user cache>/<name>/``, never shared with another dataset), then downloaded there.

MNIST, Fashion-MNIST and KMNIST use the same file names, so a name proves nothing: the content
decides. Each file found is checked against the entry's md5 and passed over when it differs
(another dataset's file of the same name), and the message says so when no place has the right
one. These entries are verified by the md5 of the upstream ``.gz`` archive (the published
facts; hashes of their decompressed content are not recorded here), so they are read from the
``.gz`` file only; Fashion-MNIST's entry (:mod:`softreg.data.fashion`) checks decompressed
content and accepts recompressed or uncompressed copies too.

EMNIST is published as one zip archive (``gzip.zip``, 536 MB, every split of the set) whose md5
is the published fact; no hash of the files inside is published. Its entry names the archive:
a copy found in one of the places above, or downloaded, is checked by md5 and only then are the
four files of the split extracted (their claimed sizes bounded by the counts first) into the
dataset's cache folder; a downloaded archive is deleted once extracted. Its files have names
no other dataset uses (``emnist-balanced-...``); a copy found loose is checked for format,
counts and label range as it is read. EMNIST's images are stored transposed (each image's rows
are the character's columns, an artefact of the conversion from NIST's format): the entry
transposes them back, so that images, weight templates and sample grids are upright, as
MNIST's are, and a picture given to ``softreg predict`` is read the way it looks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from softreg.core.errors import DataError, DataNotFoundError, FrameworkUnavailableError
from softreg.data.fashion import Kind
from softreg.data.idx import read_idx

IMAGE_SHAPE = (28, 28)
GZIP_SLACK = 1 << 16  # gzip's header and block overhead, far above what 100 MB can need


@dataclass(frozen=True)
class IDXSetFile:
    """One file of an entry: its split, kind, upstream name, item count and ``.gz`` md5
    (``""`` where none is published: the file is then checked as it is read)."""

    split: str
    kind: Kind
    filename: str
    count: int
    gz_md5: str


@dataclass(frozen=True)
class Archive:
    """The zip archive an entry's files are published in: its file name, its md5 and the
    folder of the entry's files inside it."""

    filename: str
    md5: str
    folder: str


@dataclass(frozen=True)
class IDXSet:
    """A dataset of the IDX family: name (its cache folder), classes, files, mirrors; the
    archive the files come in (None: each file is published on its own), and whether the
    images are stored transposed."""

    name: str
    class_names: tuple[str, ...]
    files: tuple[IDXSetFile, ...]
    mirrors: tuple[str, ...]
    archive: Archive | None = None
    transposed: bool = False

    def split_files(self, split: str) -> tuple[IDXSetFile, IDXSetFile]:
        """The (images, labels) files of ``split``."""
        by_kind = {f.kind: f for f in self.files if f.split == split}
        return by_kind["images"], by_kind["labels"]


def _files(md5s: Sequence[str], prefix: str = "", test: str = "t10k",
           counts: tuple[int, int] = (60000, 10000)) -> tuple[IDXSetFile, ...]:
    names = (("train", "images", f"{prefix}train-images-idx3-ubyte.gz", counts[0]),
             ("train", "labels", f"{prefix}train-labels-idx1-ubyte.gz", counts[0]),
             ("test", "images", f"{prefix}{test}-images-idx3-ubyte.gz", counts[1]),
             ("test", "labels", f"{prefix}{test}-labels-idx1-ubyte.gz", counts[1]))
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
# EMNIST Balanced: 131,600 characters of NIST Special Database 19, 2,400 training and 400 test
# images per class; the upper- and lower-case letters that look alike (c, i, j, k, l, m, o, p,
# s, u, v, w, x, y, z) are one class, named by the capital.
EMNIST_BALANCED = IDXSet(
    "emnist-balanced",
    tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") + tuple("abdefghnqrt"),
    _files(("",) * 4, prefix="emnist-balanced-", test="test", counts=(112800, 18800)),
    ("https://biometrics.nist.gov/cs_links/EMNIST/",
     "http://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/"),
    archive=Archive("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e", "gzip/"),
    transposed=True,
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
    """The first copy of ``spec`` whose md5 is the entry's (any copy where the entry states
    none); else the file taken out of the entry's archive (found or downloaded); else a
    download into the cache.

    Raises:
        DataNotFoundError: no place has the right file and it could not be downloaded; the
            message lists every place and what was wrong there.
    """
    from softreg.data.sources import cache_root

    tried = []
    places = _places(ds, data_dir)
    for origin, folder in places:
        path = folder / spec.filename
        if not path.is_file():
            tried.append(f"{origin} {folder}: file not there")
            continue
        if not spec.gz_md5:
            return path  # no published hash: checked as it is read (format, count, labels)
        got = md5(path)
        if got == spec.gz_md5:
            return path
        tried.append(f"{origin} {path}: other content (md5 {got}, expected {spec.gz_md5}: "
                     "another dataset's file of the same name?)")
    dest = cache_root() / ds.name
    if ds.archive is not None:
        got_path = _from_archive(ds, spec, places, dest, tried)
        if got_path is not None:
            return got_path
    if offline:
        tried.append("download: skipped (offline)")
    else:
        try:
            if ds.archive is not None:
                return download_archive(ds, spec, dest)
            return download(spec, dest, ds.mirrors)
        except (DataError, FrameworkUnavailableError) as exc:
            tried.append(f"download into {dest}: failed: {exc}")
    raise DataNotFoundError(_not_found(ds, spec, tried, dest))


def _not_found(ds: IDXSet, spec: IDXSetFile, tried: list[str], dest: Path) -> str:
    lines = [f"{ds.name} file {spec.filename} not found. Places tried:"]
    lines += [f"  - {t}" for t in tried]
    source = ds.mirrors[0] if ds.mirrors else "its publisher"
    if ds.archive is not None:
        where = (f"{ds.mirrors[0]}{ds.archive.filename}" if ds.mirrors
                 else f"{ds.archive.filename} from its publisher")
        lines += [f"Get {where} into {dest} (or a folder FOLDER, then "
                  f"pass --data-dir FOLDER), or run `softreg data --data {ds.name}` online; "
                  "softreg checks the archive's md5 and takes the files out"]
    else:
        lines += [f"Get it from {source} into {dest} (or a folder FOLDER/{ds.name}, then "
                  "pass --data-dir FOLDER); softreg checks each file's md5"]
    return "\n".join(lines)


def archive_members(ds: IDXSet) -> dict[str, int]:
    """The entry's files inside its archive -> the most bytes each may hold: an IDX file of
    its count, compressed or not, plus gzip's overhead."""
    if ds.archive is None:
        return {}
    out = {}
    for f in ds.files:
        item = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] if f.kind == "images" else 1
        header = 16 if f.kind == "images" else 8
        out[ds.archive.folder + f.filename] = header + f.count * item + GZIP_SLACK
    return out


def _from_archive(ds: IDXSet, spec: IDXSetFile, places: list[tuple[str, Path]], dest: Path,
                  tried: list[str]) -> Path | None:
    """``spec`` extracted into ``dest`` from the first copy of the archive with its md5."""
    from softreg.data import archive

    arc = ds.archive
    if arc is None:
        return None
    for origin, folder in places:
        path = folder / arc.filename
        if not path.is_file():
            continue
        got = md5(path)
        if got != arc.md5:
            tried.append(f"{origin} {path}: other content (md5 {got}, expected "
                         f"{arc.md5})")
            continue
        try:
            archive.extract(path, archive_members(ds), dest)
        except DataError as exc:
            tried.append(f"{origin} {path}: {exc}")
            continue
        return dest / spec.filename
    return None


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


def download_archive(ds: IDXSet, spec: IDXSetFile, dest: Path) -> Path:
    """Download the entry's archive from the first mirror serving the right bytes (md5),
    extract the entry's files into ``dest``, delete the archive; return ``spec``'s path.

    Raises:
        DataError: every mirror failed (a wrong md5 or a bad archive counts as a failure), or
            ``dest`` cannot be written.
        FrameworkUnavailableError: pooch is not installed.
    """
    from softreg.data import archive
    from softreg.data.sources import download_checked
    from softreg.safety import writegate

    arc = ds.archive
    if arc is None:
        raise DataError(f"{ds.name} is not published as an archive")

    def check(got: Path) -> None:  # runs on the staged copy, before it gets its name
        if md5(got) != arc.md5:
            raise DataError(f"md5 {md5(got)}, expected {arc.md5}")
        archive.extract(got, archive_members(ds), dest)

    download_checked(arc.filename, dest, ds.mirrors, check)
    writegate.remove_own_file(dest, arc.filename)  # 536 MB: the split's files are out
    return dest / spec.filename


def read_file(ds: IDXSet, spec: IDXSetFile, path: Path) -> Any:
    """The decoded content of ``spec``'s file at ``path``: its count, image shape and label
    range checked; images stored transposed (EMNIST) are transposed back, upright.

    Raises:
        IDXFormatError: the file is damaged or is not the file ``spec`` describes.
    """
    if spec.kind == "labels":
        return read_idx(path, "labels", count=spec.count,
                        num_classes=len(ds.class_names)).array
    images = read_idx(path, "images", count=spec.count, item_shape=IMAGE_SHAPE).array
    if ds.transposed:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))  # (N, 28, 28), upright
        images.flags.writeable = False
    return images


def load_split(ds: IDXSet, split: str, data_dir: str | None = None,
               offline: bool = False) -> tuple[Any, Any]:
    """``(images, labels)`` of one split: uint8 (N, 28, 28) and (N,), found by :func:`find`
    and read by :func:`read_file`.

    Raises:
        DataNotFoundError: see :func:`find`.
        IDXFormatError: a file that does not decode, or holds other counts or labels.
    """
    images_spec, labels_spec = ds.split_files(split)
    images = read_file(ds, images_spec, find(ds, images_spec, data_dir, offline))
    labels = read_file(ds, labels_spec, find(ds, labels_spec, data_dir, offline))
    return images, labels
