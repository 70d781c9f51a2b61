"""Where the Fashion-MNIST files come from, and checking that they are the right ones.

Each file is looked for, in this order, in: an explicit ``data_dir`` (``--data-dir``) and its
``fashion-mnist`` folder; the folder in ``$SOFTREG_DATA_DIR`` and its ``fashion-mnist`` folder;
the user cache (``$SOFTREG_CACHE_DIR/fashion-mnist``, else
``$XDG_CACHE_HOME/softreg/fashion-mnist``, else ``~/.cache/softreg/fashion-mnist``); the
system folder of the Debian/Ubuntu package ``dataset-fashion-mnist``. A folder may hold the
``.gz`` archive or the uncompressed IDX file. When none has it, the file is downloaded from the
official mirrors into the user cache with pooch (unless ``offline``), checked, and only then
renamed into place, so a failed, interrupted or corrupt download leaves nothing behind.

MNIST and KMNIST use the same file names: a copy whose decompressed content is not
Fashion-MNIST's is passed over for a later place that has the right one
(:func:`softreg.data.load_fashion_mnist`), never used; but a wrong copy in a folder the user
named is passed over only for a right one in that same folder (or its ``fashion-mnist``
folder), else refused, naming the file (:func:`softreg.data.first_verified`).

A folder the user named (``--data-dir``, ``$SOFTREG_DATA_DIR``) that is missing or is a file is
never passed over in silence: a warning on stderr names it and the place used instead, and
offline it is refused.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softreg.core.errors import (
    ChecksumError,
    DataError,
    DataNotFoundError,
    FrameworkUnavailableError,
)
from softreg.data import fashion
from softreg.data.fashion import IDXFile
from softreg.data.idx import IDXData, read_idx

ENV_DATA_DIR = "SOFTREG_DATA_DIR"
ENV_CACHE_DIR = "SOFTREG_CACHE_DIR"
# Overridable (tests point it at an empty folder); a list so more places can be added.
SYSTEM_DIRS: list[Path] = [Path(fashion.SYSTEM_DIR)]
STALE_STAGING_S = 3600.0  # a download folder this old belongs to no running download
# Folders the user named: when one is unusable, softreg says so (warns; refuses offline).
EXPLICIT_ORIGINS: tuple[str, ...] = ("--data-dir", f"${ENV_DATA_DIR}")
_WARNED: set[str] = set()
NAME = "fashion-mnist"  # the dataset's own folder: in the user cache, and inside a given folder
OWN_FOLDER = "{} (its fashion-mnist folder)"


@dataclass(frozen=True)
class Found:
    """Where one dataset file was found: ``origin`` is e.g. ``"system folder"``."""

    spec: IDXFile
    path: Path
    origin: str


def cache_root() -> Path:
    """softreg's user cache folder: ``$SOFTREG_CACHE_DIR``, else the XDG cache dir + softreg."""
    explicit = os.environ.get(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "softreg"


def download_dir() -> Path:
    """The folder downloads go to (inside the user cache)."""
    return cache_root() / NAME


def search_dirs(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, Path | None]]:
    """The (origin, folder) pairs searched, in order; folder is None for an unset variable."""
    env = os.environ.get(ENV_DATA_DIR)
    places: list[tuple[str, Path | None]] = []
    if data_dir is not None:
        places.append(("--data-dir", Path(data_dir).expanduser()))
        places.append((OWN_FOLDER.format("--data-dir"), Path(data_dir).expanduser() / NAME))
    places.append((f"${ENV_DATA_DIR}", Path(env).expanduser() if env else None))
    if env:
        places.append((OWN_FOLDER.format(f"${ENV_DATA_DIR}"), Path(env).expanduser() / NAME))
    places.append(("user cache", download_dir()))
    places.extend(("system folder", d) for d in SYSTEM_DIRS)
    return places


def _in_folder(spec: IDXFile, folder: Path) -> Path | None:
    for name in (spec.filename, spec.stem):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find(spec: IDXFile, data_dir: str | os.PathLike[str] | None = None, offline: bool = False,
         mirrors: Sequence[str] | None = None) -> Found:
    """Find (or download) one dataset file.

    An explicit folder (``data_dir`` or ``$SOFTREG_DATA_DIR``) that is missing or is a file is
    skipped with a warning on stderr naming it and the place used instead; ``offline``, it is
    refused.

    Args:
        spec: the file, from :data:`softreg.data.fashion.FILES`.
        data_dir: an explicit folder, searched first.
        offline: never download (no socket is opened).
        mirrors: base URLs to download from, in order (default: :data:`fashion.MIRRORS`).

    Returns:
        The file's path and where it came from.

    Raises:
        DataNotFoundError: no folder has it and it could not be downloaded; the message lists
            every place tried and the commands that get the data. Offline, an explicit folder
            is missing or is a file.
    """
    tried: list[str] = []
    skipped: list[str] = []  # explicit folders (--data-dir, $SOFTREG_DATA_DIR) that are unusable
    for origin, folder in search_dirs(data_dir):
        if folder is None:
            tried.append(f"{origin}: not set")
            continue
        path = _in_folder(spec, folder)
        if path is not None:
            return _instead(Found(spec, path, origin), skipped, offline)
        problem = _folder_problem(folder)
        if origin.endswith(OWN_FOLDER.format("")) and not folder.parent.is_dir():
            continue  # the line of the folder it is in says it all
        if origin in EXPLICIT_ORIGINS:  # a folder the user named is never passed over in silence
            skipped.append(f"{origin} {folder}: {problem or spec.filename + ' is not there'}")
        tried.append(f"{origin} {folder}: {problem or 'file not there'}")
    if offline:
        tried.append("download: skipped (offline)")
    else:
        try:
            got = download(spec, download_dir(), fashion.MIRRORS if mirrors is None else mirrors)
        except (DataError, FrameworkUnavailableError) as exc:
            tried.append(f"download into {download_dir()}: failed: {exc}")
        else:
            return _instead(Found(spec, got, "download"), skipped, offline)
    raise DataNotFoundError(_not_found_message(spec, tried))


def candidates(spec: IDXFile, data_dir: str | os.PathLike[str] | None = None) -> list[Found]:
    """Every copy of ``spec`` (by name) in the places searched, in order; nothing downloaded.

    MNIST's and KMNIST's files have Fashion-MNIST's names: the first copy by name may be
    another dataset's, and the content (checked by the caller) decides which one is used.
    """
    out = []
    for origin, folder in search_dirs(data_dir):
        path = None if folder is None else _in_folder(spec, folder)
        if path is not None:
            out.append(Found(spec, path, origin))
    return out


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be searched, or None when it is a folder."""
    if folder.is_dir():
        return None
    if not folder.exists():
        return "folder does not exist"
    from softreg.safety.readback import file_kind

    return f"not a folder (it is {file_kind(folder.stat())})"


def _instead(found: Found, skipped: list[str], offline: bool) -> Found:
    """``found``, once the explicit folders ``skipped`` for it are reported.

    A folder the user named but softreg cannot use is never passed over in silence: a warning
    line on stderr says what is used instead; offline, it is refused (no other data is used).

    Raises:
        DataNotFoundError: ``offline`` and an explicit folder was skipped.
    """
    if not skipped:
        return found
    where = f"{found.origin} {found.path.parent}"
    if found.origin == "download":
        where = f"a download into {found.path.parent}"
    if offline:
        raise DataNotFoundError(
            f"{'; '.join(skipped)}; offline, softreg does not fall back to another place "
            f"({where} has {found.spec.filename}): give an existing folder, or leave it out "
            "to search the other places"
        )
    for item in skipped:
        line = f"softreg: warning: {item}; using {where} instead"
        if line not in _WARNED:  # said once per process, not once per file
            _WARNED.add(line)
            print(line, file=sys.stderr)
    return found


def _not_found_message(spec: IDXFile, tried: list[str]) -> str:
    names = ", ".join(f.filename for f in fashion.FILES)
    lines = [f"Fashion-MNIST file {spec.filename} not found. Places tried:"]
    lines += [f"  - {t}" for t in tried]
    lines += [
        "Get the data with one of:",
        f"  sudo apt-get install {fashion.DEBIAN_PACKAGE}   (Debian/Ubuntu; files go to "
        f"{fashion.SYSTEM_DIR})",
        f"  softreg data   (online: downloads and verifies them into {download_dir()})",
        f"  copy {names} into a folder FOLDER, then pass --data-dir FOLDER "
        f"(or export {ENV_DATA_DIR}=FOLDER)",
    ]
    return "\n".join(lines)


def locate(split: str | None = None, data_dir: str | os.PathLike[str] | None = None,
           offline: bool = False) -> list[Found]:
    """Find the files of ``split`` (images, labels), or of both splits when ``split`` is None.

    Raises:
        DataNotFoundError: a file cannot be found nor downloaded.
        ConfigError: unknown split.
    """
    specs = fashion.FILES if split is None else fashion.split_files(split)
    return [find(spec, data_dir, offline) for spec in specs]


def verify(spec: IDXFile, path: str | os.PathLike[str]) -> IDXData:
    """Read ``path`` strictly and check it against ``spec`` (format, count, content sha256).

    Returns:
        The decoded array and its content hash.

    Raises:
        IDXFormatError: the file is damaged or not the expected IDX file.
        ChecksumError: well-formed, but its decompressed content is not the expected one.
    """
    item_shape = fashion.IMAGE_SHAPE if spec.kind == "images" else ()
    data = read_idx(path, spec.kind, count=spec.count, item_shape=item_shape,
                    num_classes=fashion.NUM_CLASSES)
    if data.sha256 != spec.sha256:
        raise ChecksumError(
            f"{path}: decompressed content has sha256 {data.sha256}, expected {spec.sha256} "
            f"for {spec.filename} (corrupt or a different dataset); delete it and get a fresh "
            "copy (run `softreg data`)"
        )
    return data


def download(spec: IDXFile, dest_dir: str | os.PathLike[str], mirrors: Sequence[str]) -> Path:
    """Download ``spec`` from the first mirror that serves a correct copy into ``dest_dir``.

    The file is verified (:func:`verify`) before it gets its final name; see
    :func:`download_checked`.

    Raises:
        DataError: every mirror failed (the message lists each URL and its error), none was
            given, or ``dest_dir`` cannot be written.
        FrameworkUnavailableError: pooch is not installed.
    """
    return download_checked(spec.filename, dest_dir, mirrors, lambda got: verify(spec, got))


def download_checked(filename: str, dest_dir: str | os.PathLike[str], mirrors: Sequence[str],
                     check: Callable[[Path], object]) -> Path:
    """Download ``filename`` from the first mirror whose copy passes ``check`` into ``dest_dir``.

    pooch fetches into a private temporary folder inside ``dest_dir``; ``check`` (which raises
    on a bad copy) runs there, and only a copy that passes is renamed to its final name. The
    temporary folder is always removed, so a failure or Ctrl-C leaves nothing behind.

    Raises:
        DataError: every mirror failed (the message lists each URL and its error), none was
            given, or ``dest_dir`` cannot be written.
        FrameworkUnavailableError: pooch is not installed.
    """
    from softreg.core.optional import require

    if not mirrors:
        raise DataError(f"no download mirror given for {filename}; pass at least one base "
                        "URL (softreg.data.fashion.MIRRORS lists the usual ones)")
    pooch = require("pooch")
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    except OSError as exc:
        raise DataError(f"cannot write into the download folder {dest} ({exc}); make it a "
                        f"writable folder, or set {ENV_CACHE_DIR} to one") from exc
    _remove_stale_staging(dest)
    errors: list[str] = []
    try:
        for base in mirrors:
            url = base.rstrip("/") + "/" + filename
            try:
                got = _fetch(pooch, url, filename, staging)
                check(got)
            except Exception as exc:  # any network/HTTP/format failure: try the next mirror
                errors.append(f"{url}: {exc}")
                (staging / filename).unlink(missing_ok=True)  # pooch would reuse a bad copy
                continue
            final = dest / filename
            os.replace(got, final)
            return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    raise DataError("; ".join(errors))


def _remove_stale_staging(dest: Path) -> None:
    """Remove temporary folders left by a download that was killed (SIGKILL, power loss)."""
    for old in dest.glob(".download-*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > STALE_STAGING_S:
                shutil.rmtree(old, ignore_errors=True)


def _fetch(pooch: Any, url: str, fname: str, folder: Path) -> Path:
    print(f"softreg: downloading {url}", file=sys.stderr)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch's INFO lines suggest pinning the .gz hash: noise
    try:
        downloader = pooch.HTTPDownloader(progressbar=_progress_wanted(), timeout=60)
        path = pooch.retrieve(url, known_hash=None, fname=fname, path=folder,
                              downloader=downloader)
    finally:
        logger.setLevel(level)
    return Path(path)


def _progress_wanted() -> bool:
    """A progress bar on an interactive terminal, when tqdm (pooch's bar) is installed."""
    return sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
