"""``d2l.DATA_HUB`` and ``d2l.download``: the book's named files, fetched once and checked.

Section 4.10 (predicting house prices on Kaggle) fetches two CSV files by name from the book's
data server. :func:`download` keeps the book's contract (a name in ``DATA_HUB``, a cache folder,
the path returned) and adds softreg's rules: the file is checked against its SHA-1 before it is
put in place (temporary name, then rename); a file already there with another SHA-1 is not
replaced; and when the server cannot be reached the one-line error names the URL and the path
to put the file at.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from softreg.core.errors import ChecksumError, ConfigError, DataError
from softreg.safety import fileio

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"

#: name -> (URL, SHA-1 of the file); the book's section 4.10 adds the same two entries.
DATA_HUB: dict[str, tuple[str, str]] = {
    "kaggle_house_train": (DATA_URL + "kaggle_house_pred_train.csv",
                           "585e9cc93e70b39160e7921475f9bcd7d31219ce"),
    "kaggle_house_test": (DATA_URL + "kaggle_house_pred_test.csv",
                          "fa19780a7b011d9b009e8bff8e99922a8ee2eb90"),
}

DEFAULT_CACHE = os.path.join("..", "data")  # the book's folder, relative to the notebook
TIMEOUT_S = 30.0


def sha1_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-1 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(name: str, cache_dir: str | os.PathLike[str] = DEFAULT_CACHE) -> str:
    """Fetch the file ``DATA_HUB[name]`` into ``cache_dir`` unless it is there; return its path.

    A download that fails removes the folders it made for ``cache_dir`` (none that was there).

    Raises:
        ConfigError: ``name`` is not in ``DATA_HUB``.
        ChecksumError: the file in ``cache_dir`` or the one downloaded has another SHA-1.
        ConfigError: something other than a regular file (a dangling link, a FIFO) is there.
        DataError: the URL cannot be read (offline, no such file on the server).
    """
    if name not in DATA_HUB:
        raise ConfigError(f"{name!r} is not in DATA_HUB (known: {', '.join(sorted(DATA_HUB))}); "
                          "add it as DATA_HUB[name] = (url, sha1) first")
    url, sha1 = DATA_HUB[name]
    dest = Path(cache_dir) / url.split("/")[-1]
    if dest.exists():
        found = sha1_of(dest)
        if found == sha1:
            return str(dest)
        raise ChecksumError(f"{dest} has SHA-1 {found}, but {name} must have {sha1}: it is not "
                            f"the book's file; move it away and run again to fetch {url}")
    from softreg.safety import writegate

    writegate.check_file(dest, flag="cache_dir")  # a dangling link, a FIFO...: not written over
    made = _missing_folders(dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {dest} from {url}...")
    try:
        with fileio.atomic_path(dest) as tmp:
            _fetch(url, tmp, dest, sha1)
            got = sha1_of(tmp)
            if got != sha1:
                raise ChecksumError(f"{url} gave a file with SHA-1 {got}, expected {sha1}: not "
                                    f"kept; fetch it by hand and put it at {dest}")
    except BaseException:
        # a failed download leaves no empty ../data behind; folders that were there stay
        for folder in made:
            with contextlib.suppress(OSError):  # not empty (someone wrote there): kept
                folder.rmdir()
        raise
    return str(dest)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _fetch(url: str, tmp: Path, dest: Path, sha1: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download {url} ({reason}); fetch it on a machine that can "
                        f"and put it at {dest.resolve()} (SHA-1 {sha1})") from None


# Bounds on what an archive may claim before anything is extracted.
MAX_MEMBERS = 100_000
MAX_EXTRACTED = 8 << 30  # bytes, all members together


def download_extract(name: str, folder: str | None = None,
                     cache_dir: str | os.PathLike[str] = DEFAULT_CACHE) -> str:
    """Fetch the archive ``DATA_HUB[name]`` (:func:`download`), unpack it beside itself, and
    return the folder it unpacked to: ``folder`` (a name inside the cache folder) when given,
    else the archive's path without its extension (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``),
    as the book's section 4.10 uses it.

    Every member is checked before any is written: a name that would land outside the cache
    folder (an absolute path, ``..``), a link or a device, more than :data:`MAX_MEMBERS`
    members or :data:`MAX_EXTRACTED` bytes are refused. A member already unpacked (a file of its
    size there: the program run again) is left as it is; a different file in its place is never
    replaced.

    Raises:
        ConfigError: ``name`` is not in ``DATA_HUB``; the file is no zip or tar archive.
        DataError: a member refused above, or a different file where a member goes.
        ChecksumError, DataError: as :func:`download`.
    """
    path = Path(download(name, cache_dir))
    base = path.parent.resolve()
    members = _members(path)
    if len(members) > MAX_MEMBERS or sum(size for _, size, _ in members) > MAX_EXTRACTED:
        raise DataError(f"{path}: the archive claims {len(members):,} members of "
                        f"{sum(size for _, size, _ in members):,} bytes, more than the "
                        f"{MAX_MEMBERS:,} members or {MAX_EXTRACTED >> 30} GiB softreg unpacks")
    todo = []
    for member, size, is_dir in members:
        target = (base / member).resolve()
        if target != base and base not in target.parents:
            raise DataError(f"{path}: member {member!r} would be written outside {base}; "
                            "softreg unpacks an archive only into its own folder")
        if is_dir:
            continue
        if target.is_file() and not target.is_symlink() and target.stat().st_size == size:
            continue  # unpacked by an earlier run
        if os.path.lexists(target):
            raise DataError(f"{path}: {target} is already there and is not the archive's "
                            f"{member!r}; move it away and run again")
        todo.append(member)
    _unpack(path, base, set(todo))
    if folder is not None:
        return str(base / folder)
    stem = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if stem.endswith(suffix):
            return str(base / stem[: -len(suffix)])
    return str(base / path.stem)


def _members(path: Path) -> list[tuple[str, int, bool]]:
    """Each member of the archive at ``path``: its name, its size and whether it is a folder.

    Raises:
        ConfigError: not a zip or tar archive.
        DataError: a member that is a link, a device or another special file.
    """
    import stat
    import tarfile
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            out = []
            for info in zf.infolist():
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DataError(f"{path}: member {info.filename!r} is a link; softreg "
                                    "unpacks files and folders only")
                out.append((info.filename, info.file_size, info.is_dir()))
            return out
    try:
        with tarfile.open(path) as tf:
            out = []
            for member in tf:  # one header at a time: the count is bounded as it is read
                if len(out) >= MAX_MEMBERS:
                    raise DataError(f"{path}: the archive holds more than {MAX_MEMBERS:,} "
                                    "members, more than softreg unpacks")
                if not (member.isfile() or member.isdir()):
                    raise DataError(f"{path}: member {member.name!r} is a link or a special "
                                    "file; softreg unpacks files and folders only")
                out.append((member.name, member.size, member.isdir()))
            return out
    except tarfile.ReadError:
        raise ConfigError(f"{path} is neither a zip nor a tar archive; download_extract "
                          "unpacks only those (use download for another file)") from None


def _unpack(path: Path, base: Path, todo: set[str]) -> None:
    """Write the members ``todo`` of the archive at ``path`` (checked by the caller) under
    ``base``, each through a temporary name and a rename (never half written)."""
    import shutil
    import tarfile
    import zipfile

    def put(member: str, source: IO[bytes]) -> None:
        target = base / member
        target.parent.mkdir(parents=True, exist_ok=True)
        with fileio.atomic_path(target) as tmp, open(tmp, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename in todo:
                    with zf.open(info) as src:
                        put(info.filename, src)
        return
    with tarfile.open(path) as tf:
        for member in tf.getmembers():
            if member.name in todo:
                data = tf.extractfile(member)
                assert data is not None  # a regular file (checked in _members)
                with data:
                    put(member.name, data)


def download_all() -> list[str]:
    """Download every file in ``DATA_HUB``; their paths."""
    return [download(name) for name in DATA_HUB]
