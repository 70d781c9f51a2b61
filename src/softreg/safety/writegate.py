"""The one gate every path softreg writes or deletes goes through.

Rules, kept here so that no command has to remember them:

* A path is looked at with ``lstat`` (a symbolic link is a link, not what it points to).
* A new file may be created where nothing is; a **regular file** may be replaced only when it is
  softreg's own (``owned``: a file of a folder softreg marked as its own, named in that kind's
  list) or when the user passed ``--overwrite``. A folder, a symbolic link, a device, a FIFO or a
  socket is never replaced, ``--overwrite`` or not.
* A deletion removes only a regular file that softreg's own records name, inside a real folder:
  no component between the folder and the file may be a symbolic link, so a clean-up never
  follows one out of the folder.

Every refusal is a :class:`~softreg.core.errors.ConfigError` naming the path, the option that chose
it and what to do.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from softreg.core.errors import ConfigError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def describe(path: str | os.PathLike[str]) -> str | None:
    """What is at ``path`` without following a link: None (nothing), ``"a regular file"``,
    ``"a folder"``, ``"a symbolic link"``, ``"a character device"``, ..."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None  # a parent is a file: the write fails with its own message
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a special file"  # pragma: no cover - door files, whiteouts


def check_file(dest: str | os.PathLike[str], *, flag: str = "--out", overwrite: bool = False,
               owned: bool = False, suffix: str = "") -> None:
    """Raise unless softreg may create ``dest`` or replace the file there.

    Args:
        dest: the file to write.
        flag: the option that chose it, named in the refusal.
        overwrite: the user passed ``--overwrite``: a regular file there may be replaced.
        owned: ``dest`` is one of softreg's own files (its records say it wrote it).
        suffix: the suffix of what is written (``.png``), for the file name a refusal of a
            folder suggests; "" suggests a name without one.

    Raises:
        ConfigError: ``dest`` is a folder, a link, a device, a FIFO or a socket; or a regular
            file that is neither owned nor allowed by ``overwrite``.
    """
    path = Path(dest)
    what = describe(path)
    if what is None:
        return
    if what == "a folder":
        raise ConfigError(f"{flag} {str(path)!r} is a folder; give a file name, not a folder "
                          f"(e.g. {flag} {str(path / ('file' + suffix))!r})")
    if what != "a regular file":
        raise ConfigError(f"{flag} {str(path)!r} is {what}, not a regular file; softreg never "
                          "writes over one (--overwrite or not): choose another path")
    if not (owned or overwrite):
        raise ConfigError(f"{flag} {str(path)!r} already exists; softreg does not replace it: "
                          f"choose another {flag}, or pass --overwrite to replace it")


def check_folder(dest: str | os.PathLike[str], flag: str = "--out") -> None:
    """Raise unless ``dest`` is absent or a real folder (not a link to one, not a file).

    Raises:
        ConfigError: ``dest`` is a symbolic link, a file, a device, a FIFO or a socket.
    """
    what = describe(dest)
    if what not in (None, "a folder"):
        raise ConfigError(f"{flag} {str(dest)!r} is {what}, not a folder; softreg writes only "
                          "into a folder it makes or owns: choose another path")


def check_outside(dest: str | os.PathLike[str], flag: str = "--out") -> None:
    """Raise when the folder ``dest`` would lie inside a folder of softreg's other than itself.

    Each command keeps only its own files in its folder, and refuses others: a run, explain or
    sweep folder made inside another (a seeds folder in a sweep's ``results``) left that one
    unusable (its sweep refused to resume), and a file written into a subfolder of a run
    folder is no file of that run's.

    Raises:
        ConfigError: naming the enclosing folder and its kind.
    """
    from softreg.safety import folders

    found = folders.enclosing(dest)
    if found is None or found[0] == Path(os.path.realpath(dest)):
        return
    folder, kind = found
    raise ConfigError(f"{flag} {str(dest)!r} lies inside {str(folder)!r}, a softreg {kind} "
                      "folder, which keeps only its own command's files: choose a folder "
                      "outside it")


def real_folder(folder: Path, rel: str) -> Path | None:
    """``folder/rel`` when every part of it below ``folder`` is a real folder (no link), else
    None: what a clean-up may walk into."""
    here = folder
    for part in Path(rel).parts:
        here = here / part
        if describe(here) != "a folder":
            return None
    return here


def remove_own_file(folder: Path, rel: str) -> bool:
    """Delete ``folder/rel`` if it is a regular file reached without following a link.

    The caller names ``rel`` from softreg's own records (a folder's list of own files, a sweep's
    configuration keys); this function only refuses to follow links or delete anything but a
    regular file. Returns whether a file was deleted.
    """
    rel_path = Path(rel)
    if rel_path.is_absolute() or ".." in rel_path.parts:
        return False
    parent = real_folder(folder, str(rel_path.parent)) if rel_path.parent != Path(".") else folder
    if parent is None or describe(folder) != "a folder":
        return False
    path = parent / rel_path.name
    if describe(path) != "a regular file":
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
