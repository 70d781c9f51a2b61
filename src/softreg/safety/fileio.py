"""Atomic file writing: write to a temporary name in the same folder, fsync, then rename.

A crash or Ctrl-C in the middle of a write leaves the old file (or nothing), never half a file.
The renamed file gets the permissions a plain ``open(path, "w")`` would give it: those of the
file it replaces, or ``0o666`` less the umask for a new one (``mkstemp`` alone would leave 0600).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from softreg.core.errors import ConfigError, WriteError
from softreg.safety import folders, writegate
from softreg.safety.textsafe import printable


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    destination is left untouched. The result keeps the mode of the file it replaces, or gets
    ``0o666 & ~umask`` when it is new. ``suffix`` is that of what is written (``.json``), for
    the file name suggested when ``path`` is a folder.

    Raises:
        ConfigError: ``path`` is a folder, a link, a device or a FIFO.
        WriteError: ``path`` is a file you may not write (read-only), or in a folder that
            cannot be made or written in. The message names ``path`` (never the temporary
            file) and says what to do.
    """
    dest = Path(path)
    writegate.check_file(dest, flag="the file", owned=True, suffix=suffix)  # no link, FIFO...
    tmp = _temporary(dest, "path", suffix="")
    try:
        yield tmp
        _seal(tmp, _mode_for(dest))
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        _raise_full(exc, dest)
        raise


# A write that fails for want of room: the error the system gives names no file (or the
# temporary one); it is said again naming the file the user knows.
_FULL = {errno.ENOSPC: "free some space or write elsewhere",
         errno.EDQUOT: "free some of your quota or write elsewhere",
         errno.EFBIG: "the file is too large for this file system: write elsewhere"}


def _raise_full(exc: BaseException, dest: Path) -> None:
    """Raise a WriteError naming ``dest`` when ``exc`` is the system's "no room" error."""
    if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in _FULL:
        raise _write_error(f"cannot write {str(dest)!r}: {exc.strerror}; {_FULL[exc.errno]}",
                           exc.errno) from exc


# What fchmod says on a file system without Unix modes (vfat, exFAT, some FUSE and SMB mounts):
# the file keeps the modes the mount gives it, and the write goes on.
_NO_MODES = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)


def _temporary(dest: Path, choose: str, suffix: str) -> Path:
    """A new empty file beside ``dest`` (its folders made first), named as
    :func:`is_temporary` knows, ending in ``suffix``; mode 0600 whatever the umask, so that
    the writer can open it by name.

    Raises:
        WriteError: ``dest`` is a file you may not write (a plain ``open(dest, "w")`` would
            fail: softreg does not replace it either), or its folder cannot be made or written
            in; the message names ``dest`` and says to choose another ``choose`` (an option,
            or "path").
    """
    if writegate.describe(dest) == "a regular file" and not os.access(dest, os.W_OK):
        raise _write_error(f"cannot write {str(dest)!r}: the file is read-only to you (mode "
                           f"{stat.filemode(os.stat(dest).st_mode)}); make it writable "
                           f"(chmod u+w) or choose another {choose}", errno.EACCES)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{suffix}",
                                    dir=dest.parent)
    except OSError as exc:
        raise _write_error(f"cannot write {str(dest)!r}: {_why(dest, exc)}; choose "
                           f"{'a' if choose == 'path' else 'an'} {choose} in a folder you can "
                           "write to", exc.errno) from exc
    try:
        try:
            os.fchmod(fd, 0o600)  # mkstemp's 0600 less the umask: 0400 under a umask of 0222
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in _NO_MODES or not os.access(name, os.W_OK):
            Path(name).unlink(missing_ok=True)  # never left behind
            raise
    return Path(name)


def _write_error(message: str, code: int | None) -> WriteError:
    error = WriteError(message)
    error.errno = code  # what the system said, for code that tells errors apart by it
    return error


def _seal(tmp: Path, mode: int) -> None:
    """Give the written ``tmp`` its final ``mode`` and flush it to disk, before its rename.

    Both go through one read-only descriptor, opened while the file still has mkstemp's 0600:
    a mode without the owner's write bit (a umask of 0222, a read-only file's mode) would
    refuse a descriptor opened for writing after the chmod.
    """
    fd = os.open(tmp, os.O_RDONLY)
    try:
        try:
            os.fchmod(fd, mode)
        except OSError as exc:  # a file system without modes keeps its own
            if exc.errno not in _NO_MODES:
                raise
        os.fsync(fd)  # the content and the mode, before the name points at them
    finally:
        os.close(fd)


def _mode_for(dest: Path) -> int:
    """Permission bits for ``dest``: those of the file already there, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(dest).st_mode)
    except FileNotFoundError:
        pass
    umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
    os.umask(umask)
    return 0o666 & ~umask


def write_together(files: dict[Path, bytes]) -> list[Path]:
    """Write several files so that they change together, as far as a file system allows.

    Every file is first written and synced under its temporary name; only then are they
    renamed, in the order given, one right after another. A kill before the first rename
    leaves all the old files; one between two renames (a window of microseconds) leaves the
    files renamed so far new. Put the file that the others are checked against last.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for dest, data in files.items():
            writegate.check_file(dest, flag="the file", owned=True)
            tmp = _temporary(dest, "path", suffix="")
            temps.append((tmp, dest))
            tmp.write_bytes(data)
            _seal(tmp, _mode_for(dest))
        for tmp, dest in temps:
            os.replace(tmp, dest)
    except BaseException as exc:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if temps:
            _raise_full(exc, temps[-1][1])
        raise
    return list(files)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, suffix: str = "") -> Path:
    """Atomically write ``data`` to ``path`` and return the path (``suffix``: see
    :func:`atomic_path`).

    Raises:
        ConfigError, WriteError: as :func:`atomic_path`.
    """
    with atomic_path(path, suffix=suffix) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path`` and return the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN written as null) and return the path."""
    return write_bytes(path, json_bytes(obj))


def json_bytes(obj: Any) -> bytes:
    """``obj`` as indented UTF-8 JSON, NaN written as null: what :func:`write_json` writes."""
    return (json.dumps(_json_safe(obj), indent=2, sort_keys=False) + "\n").encode("utf-8")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:  # NaN is not valid JSON
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


# atomic_path's temporary names: "." + the file's name + "." + mkstemp's 8 characters + ".tmp"
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is the temporary name of an atomic write (left behind by a kill)."""
    return bool(_TEMPORARY.match(name))


# -- a new file that must not replace one: exports, named figures ---------------------------
#
# Unlike atomic_path, the rename can refuse to replace a file: without ``overwrite`` the finished
# file is hard-linked to its name (os.link fails if the name is taken), so a file that appeared
# while the work ran is not clobbered either.


def refuse_existing(dest: Path, flag: str = "--out", *, overwrite: bool = False,
                    suffix: str = "") -> None:
    """Raise unless ``dest`` may be written: called before any work, and again at the rename.

    See :func:`softreg.safety.writegate.check_file`: without ``overwrite`` anything there is
    refused;
    with it, only a regular file may be replaced (never a folder, link, device or FIFO).
    ``suffix`` is that of what is written (``.png``), for the name suggested for a folder.

    A state file of a softreg folder (a run's checkpoint, a sweep's results: the folder's
    command reads them back) is refused whatever ``overwrite`` says.

    Raises:
        ConfigError: ``dest`` may not be written; the message names ``flag``, the option that
            chose the path.
    """
    state = folders.state_file(dest)
    if state is not None:
        folder, kind = state
        raise ConfigError(f"{flag} {str(dest)!r} is a file of {str(folder)!r}, a folder of "
                          f"softreg's {printable(kind)} command, which reads it back: softreg "
                          "never replaces it with another output (--overwrite or not); choose "
                          f"another {flag}")
    writegate.check_file(dest, flag=flag, overwrite=overwrite, suffix=suffix)


def check_writable(dest: Path, flag: str) -> None:
    """Raise, before any work, when no file can be made at ``dest``: its nearest existing
    folder cannot be written in (permissions, a read-only file system) or is a file.

    Raises:
        WriteError: the message names ``dest``, the reason and ``flag``.
    """
    for folder in dest.parents:
        if not folder.exists():
            continue
        if not folder.is_dir():
            raise _write_error(f"cannot write {str(dest)!r}: {str(folder)!r} is a file, not a "
                               f"folder; choose another {flag}", errno.ENOTDIR)
        if not os.access(folder, os.W_OK | os.X_OK):
            code = errno.EROFS if _read_only_mount(folder) else errno.EACCES
            raise _write_error(f"cannot write {str(dest)!r}: the folder {str(folder)!r} cannot "
                               f"be written in ({os.strerror(code)}); choose another {flag}",
                               code)
        return


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover - no statvfs
        return False


def write_new(dest: Path, write: Callable[[Path], object], *, overwrite: bool,
              flag: str = "--out", suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``dest``, then move it to ``dest``.

    The temporary name keeps ``dest``'s suffix (matplotlib picks the format by it, Keras
    insists on ``.keras``). On any error the temporary file is removed and ``dest`` is
    untouched.

    Args:
        dest: the file to create.
        write: writes the whole file at the path it is given.
        overwrite: replace ``dest`` if it exists; otherwise refuse (naming ``flag``).
        flag: the option that chose ``dest``, named in a refusal.
        suffix: that of what is written (``.png``), for the name suggested for a folder.

    Returns:
        ``dest``.

    Raises:
        ConfigError: ``dest`` exists and ``overwrite`` is False.
        WriteError: ``dest`` is read-only to you, or its folder cannot be made or written.
    """
    refuse_existing(dest, flag, overwrite=overwrite, suffix=suffix)
    tmp = _temporary(dest, flag, suffix=dest.suffix)
    try:
        write(tmp)
        _seal(tmp, _mode_for(dest))
        _publish(tmp, dest, overwrite, flag)
    except OSError as exc:
        _raise_full(exc, dest)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def _why(dest: Path, exc: OSError) -> str:
    """Why no file can be made beside ``dest``: a file in the way of its folder, a folder that
    cannot be written in (the nearest that exists), or the OS's words."""
    for folder in dest.parents:
        if folder.exists():
            if not folder.is_dir():
                return f"{str(folder)!r} is a file, not a folder"
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return f"the folder {str(folder)!r} cannot be written in ({exc.strerror})"
            break
    return exc.strerror or str(exc)


def _publish(tmp: Path, dest: Path, overwrite: bool, flag: str) -> None:
    """Rename ``tmp`` onto ``dest``; without ``overwrite``, only if ``dest`` is still free."""
    if overwrite:
        refuse_existing(dest, flag, overwrite=True)  # may have become a link or FIFO meanwhile
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic "create if absent"; tmp is unlinked by the caller
    except FileExistsError:
        refuse_existing(dest, flag)
        raise
    except OSError:  # a file system without hard links: check, then rename
        refuse_existing(dest, flag)
        os.replace(tmp, dest)
