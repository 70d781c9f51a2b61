"""Writing an exported file: to a temporary name in the same folder, then one rename.

Unlike :func:`softreg.fileio.atomic_path`, the rename can refuse to replace a file: without
``overwrite`` the finished file is hard-linked to its name (``os.link`` fails if the name is
taken), so a file that appeared while the export was being built is not clobbered either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from softreg import fileio
from softreg.errors import ConfigError


def refuse_existing(dest: Path) -> None:
    """Raise unless ``dest`` is free: called before any work, and again at the rename.

    Raises:
        ConfigError: ``dest`` exists (a file, a folder or anything else).
    """
    if dest.exists() or dest.is_symlink():
        raise ConfigError(f"{str(dest)!r} already exists; softreg does not replace it: "
                          "choose another --out, or pass --overwrite to replace it")


def write_new(dest: Path, write: Callable[[Path], None], *, overwrite: bool) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``dest``, then move it to ``dest``.

    The temporary name keeps ``dest``'s suffix (Keras insists on ``.keras``). On any error
    the temporary file is removed and ``dest`` is untouched.

    Args:
        dest: the file to create.
        write: writes the whole file at the path it is given.
        overwrite: replace ``dest`` if it exists; otherwise refuse.

    Returns:
        ``dest``.

    Raises:
        ConfigError: ``dest`` exists and ``overwrite`` is False, or its folder cannot be
            written.
    """
    if not overwrite:
        refuse_existing(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}",
                                    dir=dest.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(dest)!r}: {_why(dest, exc)}; choose an --out "
                          "in a folder you can write to") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, fileio._mode_for(dest))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _publish(tmp, dest, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def _why(dest: Path, exc: OSError) -> str:
    """The reason a folder for ``dest`` cannot be made: a file in the way, or the OS's words."""
    for folder in dest.parents:
        if folder.exists():
            if not folder.is_dir():
                return f"{str(folder)!r} is a file, not a folder"
            break
    return exc.strerror or str(exc)


def _publish(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Rename ``tmp`` onto ``dest``; without ``overwrite``, only if ``dest`` is still free."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic "create if absent"; tmp is unlinked by the caller
    except FileExistsError:
        refuse_existing(dest)
        raise
    except OSError:  # a file system without hard links: check, then rename
        refuse_existing(dest)
        os.replace(tmp, dest)
