"""The one reader for every file softreg reads back (JSON it wrote, files the user names).

Rules, kept here so that no reader has to remember them:

* **Regular files only.** The file is opened without blocking (a FIFO would wait for a writer
  for ever) and checked with ``fstat`` on the open descriptor: a folder, a FIFO, a device
  (``/dev/zero``), a socket is refused by name, also behind a symbolic link.
* **Size-bounded.** At most ``limit`` bytes are read; a longer file is refused before it is
  read whole.
* **Depth-bounded JSON.** Nesting deeper than :data:`MAX_DEPTH` is refused with one line before
  the parser sees it (Python's parser would raise ``RecursionError``).
* **Paths kept inside.** :func:`inside` refuses a path read from a file that leaves its folder.
  (Each file's fields are checked where it is read: its types and ranges.)

Every refusal is a :class:`~softreg.core.errors.ConfigError` (or the ``error`` class given) naming
the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from itertools import accumulate
from pathlib import Path
from typing import Any

from softreg.core.errors import ConfigError, SoftregError
from softreg.safety.textsafe import printable

MAX_DEPTH = 64
JSON_LIMIT = 16 << 20  # 16 MiB: far above any JSON softreg writes (a sweep.json of 10^4 rows)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")


def file_kind(st: os.stat_result) -> str:
    """Words for a non-regular file's kind: ``a folder``, ``a FIFO (named pipe)``, ..."""
    mode = st.st_mode
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def check_regular(path: str | os.PathLike[str], what: str = "file",
                  error: type[SoftregError] = ConfigError) -> None:
    """Raise unless ``path`` (links followed) is a regular file; nothing is opened.

    Raises:
        ``error``: ``path`` does not exist or is a folder, FIFO, device or socket.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {str(path)!r} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {str(path)!r} is {file_kind(st)}, not a regular file; give a "
                    "file") from None


def read_bytes(path: str | os.PathLike[str], limit: int, what: str = "file",
               error: type[SoftregError] = ConfigError) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises:
        ``error``: the file is missing, not a regular file, unreadable or larger than ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} {str(path)!r} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {str(path)!r} is {file_kind(st)}, not a regular file; give "
                        "a file")
        if st.st_size > limit:
            raise error(f"{what} {str(path)!r} is {st.st_size} bytes, more than the "
                        f"{limit} such a file can be; it is not one softreg wrote")
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise error(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while read
        raise error(f"{what} {str(path)!r} is larger than the {limit} bytes such a file can be")
    return data


def json_depth(raw: bytes | str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    steps = (1 if c in b"[{" else -1 for c in brackets)
    return max(accumulate(steps, initial=0))


def loads(raw: bytes | str, what: str, error: type[SoftregError] = ConfigError) -> Any:
    """Parse JSON text that came from ``what`` (a file, a header): depth-bounded, one line on
    any fault.

    Raises:
        ``error``: not UTF-8, not JSON, or nested deeper than :data:`MAX_DEPTH`.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # (fewer opening brackets than the limit cannot nest deeper: no scan)
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and json_depth(data) > MAX_DEPTH:
        raise error(f"{what} is not softreg's: its JSON is nested more than {MAX_DEPTH} "
                    "levels deep")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON ({printable(exc)[:120]})") from None


def read_json(path: str | os.PathLike[str], what: str = "file", limit: int = JSON_LIMIT,
              error: type[SoftregError] = ConfigError) -> Any:
    """The JSON value in the regular file ``path`` (bounded in size and depth).

    Raises:
        ``error``: see :func:`read_bytes` and :func:`loads`.
    """
    raw = read_bytes(path, limit, what, error)
    return loads(raw, f"{what} {str(path)!r}", error)


# -- a path read from a file -----------------------------------------------------------------


def inside(folder: Path, rel: Any, where: str, error: type[SoftregError] = ConfigError) -> Path:
    """``folder/rel`` for a relative path read from a file, refused when it leaves ``folder``.

    Raises:
        ``error``: ``rel`` is not a string, is absolute, or climbs out with ``..``.
    """
    if not isinstance(rel, str) or not rel:
        raise error(f"{where}: a path must be a non-empty string, got {printable(repr(rel))[:60]}")
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise error(f"{where}: path {printable(rel)!r} leaves its folder {str(folder)!r}")
    return folder / p
