"""A strict reader for IDX files (the MNIST family's format), plain or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then exactly ``prod(dims)`` items. Fashion-MNIST uses unsigned bytes: labels
have magic 0x00000801 (1-d), images 0x00000803 (3-d, N x 28 x 28).

Every problem raises :class:`~softreg.errors.IDXFormatError` naming the file and the problem
(empty file, damaged gzip, a saved HTML page, wrong magic, dtype, dimensions or length, bad
labels); nothing here uses ``assert``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from softreg.data.fashion import Kind
from softreg.errors import DataError, IDXFormatError

GZIP_SIGNATURE = b"\x1f\x8b"
UBYTE_CODE = 0x08
MAGIC: dict[str, int] = {"labels": 0x00000801, "images": 0x00000803}
_NDIM: dict[str, int] = {"labels": 1, "images": 3}
_DTYPE_NAMES: dict[int, str] = {
    0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
    0x0D: "float32", 0x0E: "float64",
}
FIX_HINT = "delete it and get a fresh copy (run `softreg data`)"

UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class IDXData:
    """A decoded IDX file: its array (read-only view of the content) and content sha256."""

    array: UInt8Array
    sha256: str


def _fail(source: str, problem: str) -> IDXFormatError:
    return IDXFormatError(f"{source}: {problem}; {FIX_HINT}")


def read_content(path: str | os.PathLike[str]) -> bytes:
    """Return the decompressed bytes of an IDX file (``.gz`` or plain), checking the container.

    Raises:
        IDXFormatError: empty file, an HTML/XML page, a ``.gz`` name without gzip data, a
            truncated or corrupted gzip stream.
        DataError: the file cannot be read at all (permissions, a folder...).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc})") from exc
    if not raw:
        raise _fail(str(p), "the file is empty (0 bytes)")
    if raw[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise _fail(str(p), "this is an HTML/XML web page, not a gzip archive or IDX file "
                    "(a download saved the server's error or login page instead of the data)")
    if not raw.startswith(GZIP_SIGNATURE):
        if p.suffix == ".gz":
            raise _fail(str(p), f"not a gzip archive: it starts with bytes {raw[:4].hex(' ')} "
                        "instead of the gzip signature 1f 8b")
        return raw
    return _gunzip(raw, str(p))


def _gunzip(raw: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise _fail(source, "truncated gzip: the archive ends before its end-of-stream marker "
                    "(interrupted download or copy?)") from exc
    except gzip.BadGzipFile as exc:
        raise _fail(source, f"corrupted gzip ({exc})") from exc
    except zlib.error as exc:
        raise _fail(source, f"corrupted gzip: bad deflate data ({exc})") from exc


def parse_idx(content: bytes, source: str, kind: Kind, *, count: int | None = None,
              item_shape: tuple[int, ...] | None = None) -> UInt8Array:
    """Check an unsigned-byte IDX file's header and length and return its array (read-only).

    Args:
        content: the decompressed file content.
        source: the file's name, used in messages.
        kind: ``"images"`` (magic 0x00000803) or ``"labels"`` (0x00000801).
        count: the number of items the file must hold, if known.
        item_shape: the shape of one item, e.g. ``(28, 28)`` for images, if known.

    Returns:
        A uint8 array of shape ``(N,)`` or ``(N, H, W)`` viewing ``content``.

    Raises:
        IDXFormatError: wrong magic, dtype code, dimensions, or a length that does not match.
    """
    if len(content) < 4:
        raise _fail(source, f"too short for an IDX header ({len(content)} bytes, needs at "
                    "least 4)")
    magic = int.from_bytes(content[:4], "big")
    code, ndim = content[2], content[3]
    expected = MAGIC[kind]
    if content[:2] != b"\0\0" or (code == UBYTE_CODE and ndim != _NDIM[kind]):
        raise _fail(source, f"wrong magic number 0x{magic:08x}, expected 0x{expected:08x} "
                    f"(IDX {kind}: unsigned bytes, {_NDIM[kind]} dimension(s))")
    if code != UBYTE_CODE:
        name = _DTYPE_NAMES.get(code, "unknown")
        raise _fail(source, f"wrong dtype code 0x{code:02x} ({name}) in magic 0x{magic:08x}, "
                    f"expected 0x{UBYTE_CODE:02x} (unsigned byte)")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise _fail(source, f"IDX header truncated: {len(content)} bytes, a {ndim}-d header "
                    f"needs {header}")
    dims = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    _check_dims(source, kind, dims, count, item_shape)
    size = int(np.prod(dims, dtype=np.int64))
    have = len(content) - header
    shown = "x".join(map(str, dims))
    if have < size:
        raise _fail(source, f"data too short: the header promises {shown} = {size} bytes, "
                    f"the file holds {have} (truncated?)")
    if have > size:
        raise _fail(source, f"data too long: the header promises {shown} = {size} bytes, "
                    f"the file holds {have} ({have - size} extra)")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def _check_dims(source: str, kind: Kind, dims: tuple[int, ...], count: int | None,
                item_shape: tuple[int, ...] | None) -> None:
    want_items = item_shape if item_shape is not None else dims[1:]
    want = (count if count is not None else dims[0], *want_items)
    if dims != want:
        got_s = "x".join(map(str, dims))
        want_s = "x".join(map(str, want))
        raise _fail(source, f"wrong dimensions {got_s} for {kind}, expected {want_s}")


def read_idx(path: str | os.PathLike[str], kind: Kind, *, count: int | None = None,
             item_shape: tuple[int, ...] | None = None,
             num_classes: int | None = None) -> IDXData:
    """Read and check one IDX file (plain or ``.gz``).

    Args:
        path: the file.
        kind: ``"images"`` or ``"labels"``.
        count: the number of items the file must hold, if known.
        item_shape: the shape of one item (``(28, 28)`` for Fashion-MNIST images), if known.
        num_classes: for labels, every label must be in ``[0, num_classes)``.

    Returns:
        The read-only uint8 array and the sha256 of the decompressed content.

    Raises:
        IDXFormatError: see :func:`read_content` and :func:`parse_idx`; a label out of range.
        DataError: the file cannot be read.
    """
    content = read_content(path)
    array = parse_idx(content, str(path), kind, count=count, item_shape=item_shape)
    if kind == "labels" and num_classes is not None:
        check_labels(array, str(path), num_classes)
    return IDXData(array, hashlib.sha256(content).hexdigest())


def check_labels(labels: UInt8Array, source: str, num_classes: int) -> None:
    """Raise :class:`IDXFormatError` unless every label is in ``[0, num_classes)``."""
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        i = int(bad[0])
        raise _fail(source, f"label {int(labels[i])} at index {i} is outside [0, {num_classes})"
                    f" ({bad.size} label(s) out of range)")


def check_pair(images: UInt8Array, labels: UInt8Array, images_source: str,
               labels_source: str) -> None:
    """Raise :class:`IDXFormatError` unless there is exactly one label per image."""
    if len(images) != len(labels):
        raise IDXFormatError(
            f"image/label count mismatch: {images_source} holds {len(images)} images but "
            f"{labels_source} holds {len(labels)} labels; the two files must come from the "
            f"same split: {FIX_HINT}"
        )


def read_split(images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str], *,
               item_shape: tuple[int, ...] | None = None,
               num_classes: int = 10) -> tuple[UInt8Array, UInt8Array]:
    """Read an images file and its labels file, checking both and that their counts agree.

    Returns:
        ``(images (N, H, W), labels (N,))``, read-only uint8 arrays.

    Raises:
        IDXFormatError: either file is malformed, the counts differ, or a label is out of range.
        DataError: a file cannot be read.
    """
    images = read_idx(images_path, "images", item_shape=item_shape).array
    labels = read_idx(labels_path, "labels", num_classes=num_classes).array
    check_pair(images, labels, str(images_path), str(labels_path))
    return images, labels


def header_bytes(kind: Kind, shape: tuple[int, ...]) -> bytes:
    """The IDX header of an unsigned-byte array of ``shape`` (used to re-hash cached arrays)."""
    out = MAGIC[kind].to_bytes(4, "big")
    return out + b"".join(int(d).to_bytes(4, "big") for d in shape)
