"""A strict reader for IDX files (the MNIST family's format), plain or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then exactly ``prod(dims)`` items. Fashion-MNIST uses unsigned bytes: labels
have magic 0x00000801 (1-d), images 0x00000803 (3-d, N x 28 x 28).

Every problem raises :class:`~softreg.core.errors.IDXFormatError` naming the file and the problem
(empty file, damaged gzip, a saved HTML page, wrong magic, dtype, dimensions or length, bad
labels); nothing here uses ``assert``.

A file's claims are checked before they cost anything: :func:`read_idx` reads the header first
(magic, dimensions, compared with the expected count and item shape), then decompresses, as a
stream, at most the number of bytes the header promises plus a small probe for trailing data.
A gzip bomb or a header claiming 10**9 images is refused after a few bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from softreg.core.errors import DataError, IDXFormatError
from softreg.data.fashion import Kind

GZIP_SIGNATURE = b"\x1f\x8b"
UBYTE_CODE = 0x08
MAGIC: dict[str, int] = {"labels": 0x00000801, "images": 0x00000803}
_NDIM: dict[str, int] = {"labels": 1, "images": 3}
_DTYPE_NAMES: dict[int, str] = {
    0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
    0x0D: "float32", 0x0E: "float64",
}
FIX_HINT = "delete it and get a fresh copy (run `softreg data`)"
CHUNK = 1 << 20  # bytes decompressed per read
EXTRA_PROBE = 1 << 16  # bytes read past the promised end to detect (and count) trailing data

UInt8Array = npt.NDArray[np.uint8]


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class IDXData:
    """A decoded IDX file: its array (read-only view of the content) and content sha256."""

    array: UInt8Array
    sha256: str


def _fail(source: str, problem: str) -> IDXFormatError:
    return IDXFormatError(f"{source}: {problem}; {FIX_HINT}")


def read_content(path: str | os.PathLike[str]) -> bytes:
    """Return the whole decompressed content of an IDX file (``.gz`` or plain).

    Decompression is streamed, so memory follows the content actually present; but all of it
    is read before any check. :func:`read_idx` checks the header first and reads no more than
    it promises: use it for files from elsewhere.

    Raises:
        IDXFormatError: empty file, an HTML/XML page, a ``.gz`` name without gzip data, a
            truncated or corrupted gzip stream.
        DataError: the file cannot be read at all (permissions, a folder...).
    """
    source = str(path)
    out = bytearray()
    with _open_stream(path) as (stream, _):
        while chunk := _read(stream, CHUNK, source):
            out += chunk
    return bytes(out)


@contextlib.contextmanager
def _open_stream(path: str | os.PathLike[str]) -> Iterator[tuple[_Readable, int | None]]:
    """Open ``path`` for streaming its IDX content: ``(stream, size of a plain file or None)``.

    The first kilobyte is checked (empty file, saved web page, ``.gz`` name without gzip data);
    a gzip file is decompressed as it is read, so nothing is inflated before it is asked for.
    """
    p = Path(path)
    from softreg.safety.readback import check_regular

    check_regular(p, "data file", DataError)  # a FIFO would block the open; a device never ends
    try:
        fh = open(p, "rb")  # noqa: SIM115  (closed by the ExitStack below)
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc})") from exc
    with contextlib.ExitStack() as stack:
        stack.enter_context(fh)
        head = _read(fh, 1024, str(p))
        if not head:
            raise _fail(str(p), "the file is empty (0 bytes)")
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            raise _fail(str(p), "this is an HTML/XML web page, not a gzip archive or IDX file "
                        "(a download saved the server's error or login page instead of the data)")
        fh.seek(0)
        if head.startswith(GZIP_SIGNATURE):
            yield stack.enter_context(gzip.GzipFile(fileobj=fh, mode="rb")), None
        elif p.suffix == ".gz":
            raise _fail(str(p), f"not a gzip archive: it starts with bytes {head[:4].hex(' ')} "
                        "instead of the gzip signature 1f 8b")
        else:
            yield fh, os.fstat(fh.fileno()).st_size


def _read(stream: _Readable, n: int, source: str) -> bytes:
    """At most ``n`` bytes of ``stream`` (fewer only at its end); gzip damage: IDXFormatError."""
    try:
        return stream.read(n)
    except EOFError as exc:
        raise _fail(source, "truncated gzip: the archive ends before its end-of-stream marker "
                    "(interrupted download or copy?)") from exc
    except gzip.BadGzipFile as exc:
        raise _fail(source, f"corrupted gzip ({exc})") from exc
    except zlib.error as exc:
        raise _fail(source, f"corrupted gzip: bad deflate data ({exc})") from exc
    except OSError as exc:
        raise DataError(f"{source}: cannot be read ({exc})") from exc


def _check_magic(head: bytes, source: str, kind: Kind) -> int:
    """Check the 4-byte magic number (unsigned bytes, the kind's rank); return the rank."""
    if len(head) < 4:
        raise _fail(source, f"too short for an IDX header ({len(head)} bytes, needs at least 4)")
    magic = int.from_bytes(head[:4], "big")
    code, ndim = head[2], head[3]
    expected = MAGIC[kind]
    if head[:2] != b"\0\0" or (code == UBYTE_CODE and ndim != _NDIM[kind]):
        raise _fail(source, f"wrong magic number 0x{magic:08x}, expected 0x{expected:08x} "
                    f"(IDX {kind}: unsigned bytes, {_NDIM[kind]} dimension(s))")
    if code != UBYTE_CODE:
        name = _DTYPE_NAMES.get(code, "unknown")
        raise _fail(source, f"wrong dtype code 0x{code:02x} ({name}) in magic 0x{magic:08x}, "
                    f"expected 0x{UBYTE_CODE:02x} (unsigned byte)")
    return ndim


def _header_dims(head: bytes, source: str, ndim: int) -> tuple[int, ...]:
    """The dimensions in a header ``head`` (magic + ``ndim`` uint32), refusing a cut header."""
    need = 4 + 4 * ndim
    if len(head) < need:
        raise _fail(source, f"IDX header truncated: {len(head)} bytes, a {ndim}-d header "
                    f"needs {need}")
    return tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))


def _check_length(source: str, dims: tuple[int, ...], have: int, more: bool = False) -> None:
    """Refuse data of ``have`` bytes (at least that many when ``more``) not matching ``dims``."""
    size = math.prod(dims)
    shown = "x".join(map(str, dims))
    if have < size:
        raise _fail(source, f"data too short: the header promises {shown} = {size} bytes, "
                    f"the file holds {have} (truncated?)")
    if have > size:
        at_least, extra = ("at least ", f"{have - size} or more") if more else ("", have - size)
        raise _fail(source, f"data too long: the header promises {shown} = {size} bytes, "
                    f"the file holds {at_least}{have} ({extra} extra)")


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
    ndim = _check_magic(content[:4], source, kind)
    dims = _header_dims(content[: 4 + 4 * ndim], source, ndim)
    _check_dims(source, kind, dims, count, item_shape)
    _check_length(source, dims, len(content) - (4 + 4 * ndim))
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


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
    """Read and check one IDX file (plain or ``.gz``), the header before anything else.

    The header (magic, dimensions) is read and checked against ``count`` and ``item_shape``
    first; then exactly the promised number of bytes is read (decompressed), plus a little more
    to detect trailing data. A gzip bomb or a header claiming a huge array thus costs no more
    memory than the expected content: pass ``count`` and ``item_shape`` whenever they are known
    (without them, memory still follows the data actually present, never the claim).

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
    source = str(path)
    with _open_stream(path) as (stream, plain_size):
        head = _read(stream, 4, source)
        ndim = _check_magic(head, source, kind)
        head += _read(stream, 4 * ndim, source)
        dims = _header_dims(head, source, ndim)
        _check_dims(source, kind, dims, count, item_shape)
        if plain_size is not None:  # a plain file's length is known before reading it
            _check_length(source, dims, plain_size - len(head))
        data, digest = _read_data(stream, head, dims, source)
    array = np.frombuffer(data, dtype=np.uint8).reshape(dims)
    array.flags.writeable = False
    if kind == "labels" and num_classes is not None:
        check_labels(array, source, num_classes)
    return IDXData(array, digest)


def _read_data(stream: _Readable, head: bytes, dims: tuple[int, ...],
               source: str) -> tuple[bytearray, str]:
    """Read the ``prod(dims)`` data bytes after ``head``, then check that nothing follows.

    Returns:
        The data and the sha256 of ``head`` + data.
    """
    size = math.prod(dims)
    digest = hashlib.sha256(head)
    data = bytearray()
    while len(data) < size:  # grows with the data present, never allocated from the claim
        chunk = _read(stream, min(CHUNK, size - len(data)), source)
        if not chunk:
            break
        data += chunk
        digest.update(chunk)
    if len(data) < size:
        _check_length(source, dims, len(data))
    extra = _read(stream, EXTRA_PROBE, source)  # at a gzip end, this also checks its CRC
    if extra:
        _check_length(source, dims, size + len(extra), more=len(extra) == EXTRA_PROBE)
    return data, digest.hexdigest()


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
