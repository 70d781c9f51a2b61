"""Run and sweep folders: which folders softreg may write in, and one writer at a time.

softreg writes only into a folder that is absent, empty, or marked as its own. The mark is a
small JSON file, ``.softreg-run``, written first when a folder is claimed: the kind of folder
(``train`` or ``sweep``) and a format version. A folder holding anything else is refused.

While a command writes in a folder it holds ``.softreg-lock``: a file that names the process
(pid, host, start time) and carries an exclusive ``flock`` for the command's life. The kernel
drops the ``flock`` when the process ends, however it ends (``kill -9`` included), so a lock
file left by a dead process is recognised (its ``flock`` is free) and taken over with a
message; a live holder makes the second writer stop with one line.

Which files are softreg's own is declared per kind (:data:`OWN_FILES`): ``--overwrite``
removes exactly those, and refuses a folder that holds anything else, so that it never deletes
a file it did not make and never leaves one of the old run's files behind.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import fnmatch
import json
import os
import socket
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from softreg.core.errors import FolderError, SoftregError
from softreg.safety import fileio, readback, writegate
from softreg.safety.folders import (  # noqa: F401  (the folders' names, here too)
    MARKER,
    MARKER_LIMIT,
    STATE_FILES,
    enclosing,
    marker_kind,
    state_file,
)
from softreg.safety.textsafe import printable

LOCK = ".softreg-lock"
MARKER_FORMAT = "softreg-run"
MARKER_VERSION = 1

Kind = Literal["train", "sweep", "study", "seeds", "explain"]
# new: a fresh folder (absent, empty, or marked with none of its files yet); overwrite: replace
# a folder of the same kind; resume: continue the run already there; add: write more files
# into a finished folder (sweeps resumed, evaluate/explain/export outputs).
Mode = Literal["new", "overwrite", "resume", "add"]

# The files a folder of each kind may hold: paths relative to the folder, fnmatch patterns.
OWN_FILES: dict[str, tuple[str, ...]] = {
    "train": (
        "config.json", "metrics.csv", "history.json", "report.md", "checkpoint.safetensors",
        "best.safetensors", "curves.png", "predictions.png", "confusion.png",
        "evaluate-*-confusion.png", "model.onnx", "model_torch.safetensors", "model.keras",
        "explain.md", "templates.png", "mistakes.png", "confused.png", "reliability.png",
        "calibration.json",
    ),
    "sweep": (
        "sweep.json", "results.csv", "best.json", "heatmap.png", "curves.png",
        "results/*.json", "weights/*.safetensors", "refit/*.json",
        "weights/evaluate-*-confusion.png",
    ),
    "study": ("summary.md", "study.json", "overfit.png", "*/metrics.csv", "*/history.json"),
    "seeds": ("seeds.csv", "summary.json", "curves.png"),
    "explain": ("explain.md", "templates.png", "mistakes.png", "confused.png",
                "reliability.png", "calibration.json"),
}
# What shows that an unmarked folder was made by an earlier softreg (before the marker existed).
# (explain folders got their marker with their kind: an unmarked one is not adopted.)
_LEGACY_SIGN = {"train": "checkpoint.safetensors", "sweep": "sweep.json", "study": "study.json",
                "seeds": "summary.json"}
_SUBFOLDERS = {"sweep": ("results", "weights", "refit")}
# The most folders of one default name (stem, stem-2, ...) a parent may hold.
MAX_NAMES = 10_000


@dataclass
class Claim:
    """A folder held by this process: released by :meth:`release` (or the ``with`` block)."""

    path: Path
    kind: str
    fd: int
    took_over: str = ""

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path / LOCK)
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(path: str | os.PathLike[str], kind: Kind, mode: Mode, *,
          stream: TextIO | None = None) -> Claim:
    """Take ``path`` for one ``kind`` command in ``mode``; create it when absent.

    The lock is taken before the folder's contents are looked at, so two commands cannot both
    pass the checks. Leftover temporary files of an earlier killed write are removed.

    Raises:
        FolderError: the folder is a file, is in use by another process, holds files softreg
            did not make, is of another kind, or does not suit ``mode`` (e.g. ``new`` on a
            folder that holds a run).
        ConfigError: the folder lies inside another folder of softreg's
            (:func:`softreg.safety.writegate.check_outside`).
    """
    out = Path(path)
    what = writegate.describe(out)
    if what not in (None, "a folder"):
        raise FolderError(f"{str(out)!r} exists and is {what}, not a folder; softreg writes "
                          "only into a folder it makes or owns: choose another --out")
    writegate.check_outside(out)
    out.mkdir(parents=True, exist_ok=True)
    held = _lock(out, kind, stream)
    try:
        _check_contents(out, kind, mode)
        remove_temporaries(out, kind)
        if mode == "overwrite":
            _remove_own(out, kind)
        if mode in ("new", "overwrite") or not (out / MARKER).exists():
            fileio.write_json(out / MARKER, {"format": MARKER_FORMAT, "version": MARKER_VERSION,
                                             "kind": kind})
    except BaseException:
        held.release()
        raise
    return held


def new_folder(parent: str | os.PathLike[str], stem: str) -> Path:
    """Create and return a folder ``parent/stem`` that did not exist; ``stem-2``, ``-3``... if
    it did. Creation is atomic (``mkdir``), so two processes never get the same folder."""
    base = Path(parent)
    base.mkdir(parents=True, exist_ok=True)
    for n in range(1, MAX_NAMES + 1):
        candidate = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FolderError(f"no free folder name {stem}-N under {str(base)!r}; clean it up")


@contextlib.contextmanager
def made_folder(parent: str | os.PathLike[str], stem: str) -> Iterator[Path]:
    """``with made_folder(parent, stem) as out:``: :func:`new_folder` for a command's block.

    :func:`held` removes a folder its own claim made when the block fails before writing in
    it; a default folder is made earlier, by :func:`new_folder` (so that two commands started
    in one second get two), and its claim finds it there. So this removes it again, and
    ``parent`` when it was made for it and is left empty, when the block fails leaving it empty
    or holding only its marker (a sweep refused by the Ray cluster it was pointed at left
    ``sweeps/<time>/`` with softreg's marker and nothing else).
    """
    base = Path(parent)
    parent_made = not os.path.lexists(base)
    folder = new_folder(base, stem)
    try:
        yield folder
    except BaseException:
        if _remove_if_untouched(folder) and parent_made:
            with contextlib.suppress(OSError):  # not empty: another command's folder is there
                base.rmdir()
        raise


def default_stem(prefix: str) -> str:
    """``<prefix>-YYYYmmdd-HHMMSS``: the start of a default folder name."""
    return f"{prefix}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def is_own(kind: str, relpath: str) -> bool:
    """Whether ``relpath`` (relative to a folder of ``kind``, with ``/``) is a file softreg
    writes there."""
    return any(fnmatch.fnmatchcase(relpath, p) for p in OWN_FILES[kind])


def _own(out: Path, kind: str, rel: str) -> bool:
    """``rel`` is one of ``kind``'s files and a regular file (a link or a FIFO of that name
    is not softreg's)."""
    return is_own(kind, rel) and writegate.describe(out / rel) == "a regular file"


def owned_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file name of softreg's own in a folder marked as softreg's (its
    folder or the one above, for ``weights/...`` of a sweep), and nothing but a regular file
    or nothing is there: what a command may replace without ``--overwrite``."""
    p = Path(path)
    for folder in (p.parent, p.parent.parent):
        kind = marker_kind(folder)
        if kind in OWN_FILES and is_own(kind, p.relative_to(folder).as_posix()):
            return writegate.describe(p) in (None, "a regular file")
    return False


def remove_temporaries(out: Path, kind: str) -> list[Path]:
    """Delete the temporary files of writes that a kill interrupted; return them."""
    removed = []
    for sub in ("", *_SUBFOLDERS.get(kind, ())):
        folder = writegate.real_folder(out, sub) if sub else out
        if folder is None:
            continue
        for entry in folder.iterdir():
            if fileio.is_temporary(entry.name) and writegate.remove_own_file(folder, entry.name):
                removed.append(entry)
    return removed


def _files(out: Path) -> list[str]:
    """Every entry under ``out`` but the marker, the lock and empty subfolders, as relpaths.

    A link to a folder is an entry of its own (never walked into)."""
    found = []
    for root, dirs, names in os.walk(out):
        rel_root = Path(root).relative_to(out)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs[:] = sorted(d for d in dirs if d not in links)
        for name in sorted(names + links):
            rel = (rel_root / name).as_posix()
            if rel not in (MARKER, LOCK):
                found.append(rel)
    return found


def _check_contents(out: Path, kind: str, mode: Mode) -> None:
    for sub in _SUBFOLDERS.get(kind, ()):  # written into: a link would lead elsewhere
        what = writegate.describe(out / sub)
        if what not in (None, "a folder"):
            raise FolderError(f"{str(out / sub)!r} is {what}, not a folder; softreg writes its "
                              f"{sub}/ files only into a real folder: move it away or choose "
                              "another --out")
    files = [f for f in _files(out) if not fileio.is_temporary(Path(f).name)]
    marked = (out / MARKER).exists()
    if marked:
        _check_marker(out, kind)
    elif files and not (all(_own(out, kind, f) for f in files)
                        and _LEGACY_SIGN.get(kind) in files):
        raise FolderError(
            f"{str(out)!r} holds files softreg did not make ({_listing(files)}); softreg "
            "writes only into a new or empty folder or one of its own: choose another --out")
    foreign = [f for f in files if not _own(out, kind, f)]
    if mode == "overwrite" and foreign:
        raise FolderError(
            f"--overwrite would have to delete or keep files softreg did not make in "
            f"{str(out)!r} ({_listing(foreign)}); move them away or choose another --out")
    if mode == "new" and any(_own(out, kind, f) for f in files):
        what = _WHAT.get(kind, f"a {kind} folder")
        hint = {"train": "continue it with --resume, or replace it with --overwrite",
                "sweep": "rerun the same sweep into it to resume",
                "seeds": "or replace it with --overwrite"}.get(kind, "or empty it first")
        raise FolderError(f"{str(out)!r} already holds {what}; choose another --out, {hint}")


_WHAT = {"train": "a run", "sweep": "a sweep", "seeds": "a seeds run (train --seeds)",
         "study": "a study", "explain": "an explanation"}


def _check_marker(out: Path, kind: str) -> None:
    try:
        data = readback.read_json(out / MARKER, "folder marker", limit=MARKER_LIMIT)
    except SoftregError as exc:
        raise FolderError(f"{str(out / MARKER)!r} cannot be read ({exc}); it is softreg's "
                          "folder marker: delete the folder's contents to start over") from exc
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        raise FolderError(f"{str(out / MARKER)!r} is not a softreg folder marker; choose "
                          "another --out")
    version = data.get("version")
    if not isinstance(version, int) or version > MARKER_VERSION:
        raise FolderError(f"{str(out)!r} was made by a newer softreg (folder format "
                          f"{version!r}, this one reads {MARKER_VERSION}); upgrade softreg")
    if data.get("kind") != kind:
        raise FolderError(f"{str(out)!r} is a softreg {printable(data.get('kind'))} "
                          f"folder, not a {kind} folder; choose another --out")


def _remove_own(out: Path, kind: str) -> None:
    for rel in _files(out):
        if _own(out, kind, rel):
            writegate.remove_own_file(out, rel)
    for sub in _SUBFOLDERS.get(kind, ()):
        with contextlib.suppress(OSError):
            (out / sub).rmdir()


def _listing(files: list[str], most: int = 5) -> str:
    shown = ", ".join(printable(f) for f in files[:most])
    return shown + (f" and {len(files) - most} more" if len(files) > most else "")


def _lock(out: Path, kind: str, stream: TextIO | None) -> Claim:
    """Open and ``flock`` ``out/.softreg-lock``; refuse when a live process holds it."""
    path = out / LOCK
    for _ in range(100):
        try:  # never through a link (it would truncate what it points to), never a FIFO
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            fd = -1
        if fd < 0 or not stat.S_ISREG(os.fstat(fd).st_mode):
            if fd >= 0:
                os.close(fd)
            raise FolderError(f"{str(path)!r} is not a regular file (softreg's lock file is "
                              "one); remove it, or choose another --out")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _describe(_read_lock(fd))
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise FolderError(
                    f"{str(out)!r} is in use by another softreg command ({holder}); wait for "
                    "it to end or choose another --out") from None
            raise
        # The holder before us may have removed the file after we opened it: lock the file
        # that is at the path now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - only under a storm of competing writers
        raise FolderError(f"could not lock {str(out)!r}; try again")
    previous = _read_lock(fd)
    took_over = ""
    if previous.get("pid") not in (None, os.getpid()):
        took_over = (f"took over the lock of {_describe(previous)}, which ended without "
                     "releasing it")
        print(f"softreg: {str(out)!r}: {took_over}", file=stream or sys.stderr)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "kind": kind,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv[:1] + sys.argv[1:])[:500]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
    return Claim(out, kind, fd, took_over)


def _read_lock(fd: int) -> dict[str, Any]:
    try:
        data = readback.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}", "lock")
    except SoftregError:
        return {}
    return data if isinstance(data, dict) else {}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "a process that is starting"
    return printable(f"pid {info.get('pid')} on {info.get('host')}, started "
                            f"{info.get('started')}")


def adding_to(folder: str | os.PathLike[str]) -> contextlib.AbstractContextManager[object]:
    """Hold ``folder``'s lock while more files are added to it (``explain``, ``export``) when
    it is one of softreg's folders, so that a command still writing there (a training run)
    stops the newcomer with one line; any other folder needs no lock."""
    kind = marker_kind(folder)
    if kind in OWN_FILES:
        return held(folder, kind, "add")  # type: ignore[arg-type]
    return contextlib.nullcontext()


# The kinds of folder whose files are of their own models: a run's (its final model) and a
# sweep's (its configurations' weights). Another model's file written there (an export,
# explain's calibration.json) would pass for theirs.
MODEL_FOLDERS = ("train", "sweep")


def model_folder(path: str | os.PathLike[str]) -> tuple[Path, str] | None:
    """The run or sweep folder of softreg's that ``path`` is or lies in (links and ``..``
    resolved), and its kind (``train`` for a marker that cannot be read, and for an unmarked
    folder holding ``checkpoint.safetensors``: a run from before the marker); None when the
    nearest folder of softreg's is of another kind, or there is none."""
    found = enclosing(path)
    if found is not None:
        folder, kind = found
        kind = "train" if kind not in OWN_FILES else kind  # "run": an unreadable marker
        return (folder, kind) if kind in MODEL_FOLDERS else None
    try:
        real = Path(os.path.realpath(path))
    except OSError:
        return None
    for folder in (real, real.parent):
        if writegate.describe(folder / _LEGACY_SIGN["train"]) == "a regular file":
            return folder, "train"
    return None


def refuse_other_model_folder(out: str | os.PathLike[str], model: str | os.PathLike[str],
                              doing: str, option: str = "--out") -> None:
    """Refuse to write files of the checkpoint ``model`` at ``out`` (a folder, or a file in
    one) when ``out`` is or lies in a run or sweep folder of softreg's (:func:`model_folder`)
    other than the one holding ``model``: its files would pass for that folder's own model's.
    ``doing`` ends the message: what writing there would do (``exporting 'a' there would
    ...``).

    Raises:
        FolderError: naming ``out``, the folder it is in, and ``doing``.
    """
    target = model_folder(out)
    if target is None:
        return
    own = model_folder(Path(model).parent)
    if own is not None and own[0] == target[0]:
        return
    folder, kind = target
    whose = "another run" if kind == "train" else "a sweep"
    try:
        itself = Path(os.path.realpath(out)) == folder
    except OSError:
        itself = False
    where = (f"the folder of {whose}" if itself
             else f"in the folder of {whose}, {printable(str(folder))!r}")
    raise FolderError(f"{option} {printable(str(out))!r} is {where}; {doing}: choose another "
                      f"{option}")


@contextlib.contextmanager
def held(path: str | os.PathLike[str], kind: Kind, mode: Mode) -> Iterator[Claim]:
    """``with held(dir, kind, mode) as c:``: :func:`claim` for the block, then release.

    A folder this claim made is removed again when the block fails before writing anything
    in it (a sweep refused by the Ray cluster it was pointed at left an empty marked folder);
    the user's own empty folder gets its marker taken away again, and stays.
    """
    made = not os.path.lexists(path)
    empty = not made and _empty_folder(path)
    c = claim(path, kind, mode)
    try:
        yield c
    except BaseException:
        c.release()
        if made:
            _remove_if_untouched(c.path)
        elif empty:
            _unmark_if_untouched(c.path)
        raise
    finally:
        c.release()


def _empty_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder (not a link to one) with nothing in it."""
    try:
        return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)
    except OSError:
        return False


def _unmark_if_untouched(folder: Path) -> None:
    """Take the marker out of ``folder`` when it holds nothing else (the folder stays)."""
    try:
        if os.listdir(folder) == [MARKER]:
            os.unlink(folder / MARKER)
    except OSError:
        pass


def _remove_if_untouched(folder: Path) -> bool:
    """Remove ``folder`` when it holds nothing but its marker, or nothing (and no lock:
    released); return whether it was removed."""
    try:
        if os.listdir(folder) == [MARKER]:
            os.unlink(folder / MARKER)
        os.rmdir(folder)  # only an empty folder: anything else there keeps it
    except OSError:
        return False
    return True
