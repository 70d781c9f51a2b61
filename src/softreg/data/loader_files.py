"""Put the verified Fashion-MNIST files where a framework's own loader looks for them.

The book's section 3.5 reads Fashion-MNIST with each framework's downloader, which fails
offline. ``softreg data --for LOADER [ROOT]`` writes the files each loader checks for, in the
form it checks, so that its own call finds them and fetches nothing:

* ``torchvision``: ``datasets.FashionMNIST(root, download=True)`` downloads only when one of
  ``ROOT/FashionMNIST/raw/<name>`` (the decompressed IDX files) is missing, and then reads
  those files; it hashes only what it downloads. Written: the four decompressed files.
* ``keras``: ``keras.datasets.fashion_mnist.load_data()`` downloads only when
  ``$KERAS_HOME/datasets/fashion-mnist/<name>.gz`` (``~/.keras`` by default) is missing; it
  checks no hash. Written: the four ``.gz`` archives, byte for byte the upstream ones where
  the copy found allows it (:func:`upstream_gzip`), else gzip of the verified content.
* ``mxnet``: Gluon's ``vision.FashionMNIST`` (MXNet 1.9.1) compares each ``.gz`` with a SHA-1
  of Gluon's own copy, made from the release of 2017-08-26, before upstream removed
  duplicate images on 2017-08-31 (zalandoresearch/fashion-mnist commit 658ec8c). Today's
  files, whatever their compression, hold other content, so none passes: refused, with why.

Each file is first found and verified (content sha256) like every softreg read; files are
written under a temporary name and renamed; a file already there with other content is never
replaced. Every file is read by the bounded IDX reader (:func:`softreg.data.sources.verify`),
which decompresses no more than the content it expects, or by a bounded read of its bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from softreg.core.errors import ConfigError, DataError, SoftregError
from softreg.data import fashion
from softreg.data.cache import expected_shape
from softreg.data.idx import GZIP_SIGNATURE, header_bytes
from softreg.data.sources import verify
from softreg.safety import fileio, readback

LOADERS = ("torchvision", "keras", "mxnet")


@dataclass(frozen=True)
class UpstreamGzip:
    """What makes a copy byte-identical to the upstream ``.gz``: its gzip header and MD5.

    Upstream's archives carry the original file name and a modification time in their
    header; Debian's package rewrote only the header (no name, another time), keeping the
    compressed stream, so putting this header back gives upstream's bytes.
    """

    mtime: int
    md5: str


# The upstream archives of 2017-08-31 (the MD5s torchvision checks).
UPSTREAM_GZIP: dict[str, UpstreamGzip] = {
    "train-images-idx3-ubyte.gz": UpstreamGzip(0x59A7E9DE, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train-labels-idx1-ubyte.gz": UpstreamGzip(0x59A7E9DE, "25c81989df183df01b3e8a0aad5dffbe"),
    "t10k-images-idx3-ubyte.gz": UpstreamGzip(0x59A7E9F3, "bef4ecab320f06d8554ea6380940ec79"),
    "t10k-labels-idx1-ubyte.gz": UpstreamGzip(0x59A7E9F3, "bb300cfdad3c16e7a12a480ee83cd310"),
}

GLUON_REFUSAL = (
    "Gluon's FashionMNIST (MXNet 1.9.1) accepts only its own copies of the 2017-08-26 "
    "Fashion-MNIST release (SHA-1 checked; upstream removed duplicate images on 2017-08-31), "
    "and no copy of today's files can pass that check, so softreg cannot place them for it: "
    "let Gluon download its copies once where the network is reachable (into {folder}), or "
    "use d2l.load_data_fashion_mnist from softreg.mxnet, which reads the verified files")


def default_root(loader: str) -> Path:
    """Where ``loader`` looks when the book's call gives no folder.

    Raises:
        ConfigError: ``loader`` is not one of :data:`LOADERS`.
    """
    if loader == "torchvision":
        return Path("..") / "data"  # the book's root="../data"
    if loader == "keras":
        return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    if loader == "mxnet":
        return Path(os.environ.get("MXNET_HOME") or Path.home() / ".mxnet")
    raise ConfigError(f"--for must be one of {', '.join(LOADERS)}, got {loader!r}")


def target_dir(loader: str, root: str | os.PathLike[str] | None) -> Path:
    """The folder the files go to for ``loader`` under ``root`` (its default if None)."""
    base = Path(root).expanduser() if root is not None else default_root(loader)
    if loader == "torchvision":
        return base / "FashionMNIST" / "raw"
    if loader == "keras":
        return base / "datasets" / "fashion-mnist"
    return base / "datasets" / "fashion-mnist"


def _content(spec: fashion.IDXFile, path: str | os.PathLike[str]) -> bytes:
    """The IDX bytes of a found file (gzip or not), read and verified (content sha256).

    Raises:
        IDXFormatError, ChecksumError: the file is not the verified one.
    """
    array = verify(spec, path).array  # what is written is what was checked
    return header_bytes(spec.kind, expected_shape(spec)) + array.tobytes()


def upstream_gzip(spec: fashion.IDXFile, path: str | os.PathLike[str]) -> bytes | None:
    """Upstream's exact ``.gz`` bytes rebuilt from ``path``, or None if they cannot be.

    A ``.gz`` whose compressed stream is upstream's (Debian's, or upstream's own) gets
    upstream's header back; the result is kept only if its MD5 is upstream's.
    """
    facts = UPSTREAM_GZIP.get(spec.filename)
    if facts is None:
        return None
    shape = expected_shape(spec)
    content_size = len(header_bytes(spec.kind, shape)) + math.prod(shape)
    try:  # upstream's archives are far smaller than their content: a larger file is not one
        raw = readback.read_bytes(path, content_size, "data file", DataError)
    except DataError:
        return None
    if raw[:3] != b"\x1f\x8b\x08":
        return None
    flags = raw[3]
    body_at = 10
    if flags & 0x04:  # FEXTRA
        body_at += 2 + int.from_bytes(raw[body_at:body_at + 2], "little")
    for bit in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
        if flags & bit:
            body_at = raw.index(b"\0", body_at) + 1
    if flags & 0x02:  # FHCRC
        body_at += 2
    header = (b"\x1f\x8b\x08\x08" + struct.pack("<I", facts.mtime) + b"\x00\x03"
              + spec.stem.encode("ascii") + b"\0")
    rebuilt = header + raw[body_at:]
    return rebuilt if hashlib.md5(rebuilt).hexdigest() == facts.md5 else None


def _write_new(dest: Path, content: bytes, same: bool) -> str:
    """Write ``content`` at ``dest`` unless there; ``same`` says whether a file there is it.

    Through the write gate: a link, a folder, a device or a FIFO at ``dest`` is refused.
    """
    from softreg.safety import writegate

    if writegate.describe(dest) == "a regular file":
        if same:
            return "already there"
        raise DataError(f"{dest} exists and is not the verified {dest.name}: softreg does not "
                        "replace it; move it away and run again")
    writegate.check_file(dest, flag="ROOT")
    with fileio.atomic_path(dest) as tmp:
        tmp.write_bytes(content)
    return "written"


def _same_content(spec: fashion.IDXFile, dest: Path, compressed: bool) -> bool:
    """Whether ``dest`` is the verified file in the form the loader reads: gzip-compressed
    (``compressed``) or plain. Read by the bounded IDX reader, so a gzip bomb costs nothing."""
    if dest.is_symlink() or not dest.is_file():
        return False
    try:
        with open(dest, "rb") as fh:
            if (fh.read(2) == GZIP_SIGNATURE) != compressed:
                return False
        verify(spec, dest)
    except (OSError, SoftregError):  # unreadable, damaged or other content: not the same
        return False
    return True


def place(loader: str, root: str | os.PathLike[str] | None, found: dict[str, Path]
          ) -> list[tuple[Path, str]]:
    """Write the verified files found (``{filename: path}``) for ``loader``; (path, what) each.

    Raises:
        ConfigError: ``loader`` is unknown.
        ChecksumError, IDXFormatError: a file found is not the verified one.
        DataError: ``loader`` is ``mxnet`` (see :data:`GLUON_REFUSAL`), or a file with other
            content is in the way.
    """
    folder = target_dir(loader, root) if loader in LOADERS else default_root(loader)
    if loader == "mxnet":
        raise DataError(GLUON_REFUSAL.format(folder=folder))
    done = []
    for spec in fashion.FILES:
        path = found[spec.filename]
        idx = _content(spec, path)
        if loader == "torchvision":
            dest, content = folder / spec.stem, idx
            what = _write_new(dest, content, _same_content(spec, dest, compressed=False))
        else:
            exact = upstream_gzip(spec, path)
            content = exact if exact is not None else gzip.compress(idx, mtime=0)
            dest = folder / spec.filename
            what = _write_new(dest, content, _same_content(spec, dest, compressed=True))
            if exact is not None and what == "written":
                what = "written, byte-identical to upstream's"
        done.append((dest, what))
    return done
