"""Taking a dataset's files out of the zip archive it is published in (EMNIST's ``gzip.zip``).

A zip archive states each member's size in its central directory; those claims are checked
against a bound the caller derives from the dataset's counts *before* anything is extracted,
and a member is then copied as a stream, reading at most the size it claims plus one byte
(zipfile checks the CRC at the end). Each member is written under a temporary name and renamed
(:func:`softreg.safety.fileio.atomic_path`), so an interrupted extraction leaves no half file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from softreg.core.errors import DataError

CHUNK = 1 << 20  # bytes copied per read


def check_members(archive: Path, members: Mapping[str, int]) -> dict[str, zipfile.ZipInfo]:
    """The central-directory entries of ``members`` (name in the archive -> most bytes it may
    hold once extracted), each checked against its bound; nothing is extracted.

    Raises:
        DataError: not a zip archive, a member missing, or a member claiming more bytes than
            its bound.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = {name: zf.getinfo(name) for name in members if name in zf.NameToInfo}
            listed = len(zf.NameToInfo)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{archive}: cannot read it as a zip archive ({exc}); delete it and "
                        "get a fresh copy") from exc
    missing = [name for name in members if name not in infos]
    if missing:
        raise DataError(f"{archive}: the archive ({listed} entries) has no {missing[0]!r}; it "
                        "is not the expected archive: delete it and get a fresh copy")
    for name, info in infos.items():
        if info.file_size > members[name]:
            raise DataError(f"{archive}: {name!r} claims {info.file_size} bytes, more than "
                            f"the {members[name]} its counts allow; the archive is not the "
                            "expected one (nothing was extracted)")
    return infos


def extract(archive: Path, members: Mapping[str, int], dest: Path) -> list[Path]:
    """Extract ``members`` (name -> byte bound, see :func:`check_members`) into ``dest``, each
    under its base name; return the paths written.

    Raises:
        DataError: as :func:`check_members`; a member whose bytes disagree with its claimed
            size or CRC; ``dest`` cannot be written.
    """
    from softreg.safety import fileio

    infos = check_members(archive, members)
    written = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for name, info in infos.items():
                target = dest / Path(name).name
                with zf.open(info) as src, fileio.atomic_path(target) as tmp:
                    with open(tmp, "wb") as out:
                        copied = _copy_bounded(src, out, info.file_size)
                    if copied != info.file_size:  # raised here: the temporary file goes
                        raise DataError(f"{archive}: {name!r} holds {copied} bytes, its "
                                        f"entry says {info.file_size}; delete the archive "
                                        "and get a fresh copy")
                written.append(target)
    except (zipfile.BadZipFile, EOFError) as exc:  # CRC mismatch, truncated member
        raise DataError(f"{archive}: a member is damaged ({exc}); delete the archive and get "
                        "a fresh copy") from exc
    except OSError as exc:
        raise DataError(f"cannot extract {archive} into {dest} ({exc}); make it a writable "
                        "folder") from exc
    return written


def _copy_bounded(src: IO[bytes], out: IO[bytes], size: int) -> int:
    """Copy at most ``size + 1`` bytes (one more shows a member longer than it claims)."""
    left, copied = size + 1, 0
    while left > 0:
        block = src.read(min(CHUNK, left))
        if not block:
            break
        out.write(block)
        copied += len(block)
        left -= len(block)
    return copied

