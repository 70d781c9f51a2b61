"""A cache of decoded dataset files as uint8 ``.npy`` arrays, memory-mapped on later loads.

Decompressing and checking the 26 MB training archive takes a fraction of a second; the cached
arrays load in milliseconds. The cache lives in ``<user cache>/fashion-mnist/decoded``
(``$SOFTREG_CACHE_DIR``, else ``$XDG_CACHE_HOME/softreg``, else ``~/.cache/softreg``).

An entry is ``<file>-<hash prefix>.npy`` plus a ``.json`` key holding the source file's path,
size and mtime and the expected content sha256. It is used only when the key matches the source
as it is now *and* the cached array, re-hashed together with its IDX header, has exactly the
expected content sha256. Anything else (a replaced source, a truncated or altered ``.npy``, a
bad key) rebuilds the entry from the source; a cache is never trusted blindly: the ``.npy``
header is checked (uint8, the expected shape, exactly that many bytes in the file) before the
file is mapped. Failing to write the cache (read-only folder, full disk) never stops a load.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npy_format

from softreg.core.errors import SoftregError
from softreg.data import fashion
from softreg.data.fashion import IDXFile
from softreg.data.idx import UInt8Array, header_bytes
from softreg.data.sources import cache_root, verify
from softreg.safety import fileio, readback

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Loaded:
    """A decoded file and how it was obtained.

    Attributes:
        array: read-only uint8 array (viewing a memory map when it came from the cache).
        status: ``"cached"`` (valid entry used), ``"stored"`` (decoded and written to the
            cache) or ``"not cached: <reason>"`` (decoded; writing the cache failed).
    """

    array: UInt8Array
    status: str


def decoded_dir() -> Path:
    """The folder of the decoded ``.npy`` cache."""
    return cache_root() / "fashion-mnist" / "decoded"


def entry_paths(spec: IDXFile) -> tuple[Path, Path]:
    """The (``.npy``, ``.json``) paths of ``spec``'s cache entry."""
    base = decoded_dir() / f"{spec.stem}-{spec.sha256[:16]}"
    return base.with_suffix(".npy"), base.with_suffix(".json")


def source_key(spec: IDXFile, source: str | os.PathLike[str]) -> dict[str, Any]:
    """The key tying a cache entry to its source file as it is now."""
    path = Path(source).resolve()
    st = path.stat()
    return {"format": FORMAT_VERSION, "sha256": spec.sha256, "source": str(path),
            "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def expected_shape(spec: IDXFile) -> tuple[int, ...]:
    """(N, 28, 28) for images, (N,) for labels."""
    return (spec.count, *fashion.IMAGE_SHAPE) if spec.kind == "images" else (spec.count,)


def content_sha256(spec: IDXFile, array: UInt8Array) -> str:
    """sha256 of the IDX file ``array`` decodes from (header + bytes)."""
    h = hashlib.sha256(header_bytes(spec.kind, tuple(array.shape)))
    h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


def read_cached(spec: IDXFile, source: str | os.PathLike[str]) -> UInt8Array | None:
    """The cached array of ``spec`` if the entry is valid for ``source``, else None."""
    npy, meta = entry_paths(spec)
    try:
        if readback.read_json(meta, "cache entry", limit=1 << 16) != source_key(spec, source):
            return None
        array = _map_npy(npy, expected_shape(spec))
    except (OSError, ValueError, EOFError, SoftregError):  # missing, unreadable, truncated,
        return None  # not .npy, not a regular file
    if array is None or content_sha256(spec, array) != spec.sha256:
        return None
    result: UInt8Array = array.view(np.ndarray)  # a plain, read-only view of the memory map
    return result


def _map_npy(npy: Path, shape: tuple[int, ...]) -> np.memmap[Any, np.dtype[np.uint8]] | None:
    """Memory-map ``npy`` if its header says uint8 of ``shape`` in C order and the file holds
    exactly that many bytes after it (nothing missing, nothing trailing); else None.

    Raises:
        OSError, ValueError, EOFError: unreadable file or a damaged ``.npy`` header.
        ConfigError: not a regular file.
    """
    readback.check_regular(npy, "cache file")  # a FIFO planted there would block the open
    with open(npy, "rb") as fh:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            header = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            header = npy_format.read_array_header_2_0(fh)
        else:
            return None
        got_shape, fortran_order, dtype = header
        offset = fh.tell()
        size = os.fstat(fh.fileno()).st_size
    if dtype != np.uint8 or got_shape != shape or fortran_order:
        return None
    if size - offset != math.prod(shape):
        return None
    return np.memmap(npy, dtype=np.uint8, mode="r", offset=offset, shape=shape)


def store(spec: IDXFile, source: str | os.PathLike[str], array: UInt8Array) -> str | None:
    """Write ``array`` as ``spec``'s cache entry; return None, or why it could not be written.

    The ``.npy`` is written first and the key last, both atomically, so a crash in between
    leaves an entry whose key does not match (rebuilt next time), never a wrong one.
    """
    npy, meta = entry_paths(spec)
    try:
        key = source_key(spec, source)
        with fileio.atomic_path(npy) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        fileio.write_text(meta, json.dumps(key, indent=1) + "\n")
    except OSError as exc:
        return f"{exc.strerror or exc} ({exc.filename or decoded_dir()})"
    return None


def load_verified(spec: IDXFile, source: str | os.PathLike[str],
                  use_cache: bool = True) -> Loaded:
    """Decoded content of ``source``, from the cache when valid, else verified and cached.

    Args:
        spec: what the file must contain.
        source: the located file (``.gz`` or plain IDX).
        use_cache: read and write the cache (False: always decode and verify the source).

    Raises:
        IDXFormatError: the source is damaged or not an IDX file of the right kind.
        ChecksumError: the source's decompressed content is not the expected one.
        DataError: the source cannot be read.
    """
    if use_cache:
        cached = read_cached(spec, source)
        if cached is not None:
            return Loaded(cached, "cached")
    array = verify(spec, source).array
    if not use_cache:
        return Loaded(array, "not cached: cache disabled")
    problem = store(spec, source, array)
    return Loaded(array, "stored" if problem is None else f"not cached: {problem}")
