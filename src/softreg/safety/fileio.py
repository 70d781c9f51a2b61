"""Atomic file writing: write to a temporary name in the same folder, fsync, then rename.

A crash or Ctrl-C in the middle of a write leaves the old file (or nothing), never half a file.
The renamed file gets the permissions a plain ``open(path, "w")`` would give it: those of the
file it replaces, or ``0o666`` less the umask for a new one (``mkstemp`` alone would leave 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from softreg.core.errors import ConfigError
from softreg.safety import writegate


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    destination is left untouched. The result keeps the mode of the file it replaces, or gets
    ``0o666 & ~umask`` when it is new.
    """
    dest = Path(path)
    writegate.check_file(dest, flag="the file", owned=True)  # never a link, device or FIFO
    dest.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            temps.append((Path(name), dest))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), _mode_for(dest))
                os.fsync(fh.fileno())
        for tmp, dest in temps:
            os.replace(tmp, dest)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    return list(files)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``path`` and return the path."""
    with atomic_path(path) as tmp:
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


def refuse_existing(dest: Path, flag: str = "--out", *, overwrite: bool = False) -> None:
    """Raise unless ``dest`` may be written: called before any work, and again at the rename.

    See :func:`softreg.safety.writegate.check_file`: without ``overwrite`` anything there is
    refused;
    with it, only a regular file may be replaced (never a folder, link, device or FIFO).

    Raises:
        ConfigError: ``dest`` may not be written; the message names ``flag``, the option that
            chose the path.
    """
    writegate.check_file(dest, flag=flag, overwrite=overwrite)


def write_new(dest: Path, write: Callable[[Path], object], *, overwrite: bool,
              flag: str = "--out") -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``dest``, then move it to ``dest``.

    The temporary name keeps ``dest``'s suffix (Keras insists on ``.keras``). On any error
    the temporary file is removed and ``dest`` is untouched.

    Args:
        dest: the file to create.
        write: writes the whole file at the path it is given.
        overwrite: replace ``dest`` if it exists; otherwise refuse (naming ``flag``).

    Returns:
        ``dest``.

    Raises:
        ConfigError: ``dest`` exists and ``overwrite`` is False, or its folder cannot be
            written.
    """
    refuse_existing(dest, flag, overwrite=overwrite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}",
                                    dir=dest.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(dest)!r}: {_why(dest, exc)}; choose an {flag} "
                          "in a folder you can write to") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _mode_for(dest))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _publish(tmp, dest, overwrite, flag)
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
