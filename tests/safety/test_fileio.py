import errno
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from softreg.core.errors import ConfigError, WriteError
from softreg.safety import fileio


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    fileio.write_text(p, "one")
    fileio.write_text(p, "two")
    assert p.read_text() == "two"
    assert [f.name for f in p.parent.iterdir()] == ["a.txt"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    fileio.write_text(p, "good")
    with pytest.raises(KeyboardInterrupt), fileio.atomic_path(p) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert p.read_text() == "good"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_a_full_disk_is_said_naming_the_users_file_and_leaves_nothing(tmp_path, monkeypatch):
    p = tmp_path / "run" / "a.txt"
    fileio.write_text(p, "good")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() gives it: no file

    def no_room(self, *args, **kwargs):
        raise full

    monkeypatch.setattr(Path, "write_text", no_room)
    monkeypatch.setattr(Path, "write_bytes", no_room)
    for write in (lambda: fileio.write_text(p, "new"),
                  lambda: fileio.write_new(tmp_path / "run" / "b.png",
                                           lambda tmp: tmp.write_bytes(b"png"), overwrite=False),
                  lambda: fileio.write_together({p: b"x", tmp_path / "run" / "c": b"y"})):
        with pytest.raises(WriteError, match=r"cannot write '.*run/(a\.txt|b\.png|c)': No space "
                           "left on device; free some space or write elsewhere") as info:
            write()
        assert info.value.errno == errno.ENOSPC and info.value.__cause__ is full
    monkeypatch.undo()
    assert p.read_text() == "good" and sorted(f.name for f in p.parent.iterdir()) == ["a.txt"]


def test_json_nan_becomes_null(tmp_path):
    p = fileio.write_json(tmp_path / "h.json", {"x": float("nan"), "y": [1.5]})
    assert '"x": null' in p.read_text()


@pytest.fixture()
def umask():
    """Set the process umask for one test and put the old one back afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_0666_less_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    for write in (lambda p: fileio.write_text(p, "x"), lambda p: fileio.write_json(p, {})):
        p = tmp_path / f"new-{mask:o}-{len(list(tmp_path.iterdir()))}"
        write(p)
        assert stat.S_IMODE(p.stat().st_mode) == expected


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    p = tmp_path / "metrics.csv"
    p.write_text("old")
    p.chmod(0o640)
    fileio.write_text(p, "new")
    assert p.read_text() == "new" and stat.S_IMODE(p.stat().st_mode) == 0o640


def test_file_written_through_atomic_path_gets_the_normal_mode(tmp_path, umask):
    umask(0o022)
    p = tmp_path / "plot.png"
    with fileio.atomic_path(p) as tmp:
        tmp.write_bytes(b"\x89PNG")
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


# -- writes as a user without root's bypass of permissions ----------------------------------
#
# Root may write a read-only file, or open a 0444 file for writing; the checks below are about
# what an ordinary user gets, so as root they run in a child process that becomes "nobody".

NOBODY = 65534


@pytest.fixture()
def user_dir(tmp_path):
    """A folder that the user of :func:`_as_user` may write in (pytest's is root's own)."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="softreg-fileio-"))
    folder.chmod(0o777)  # /tmp itself is open to everyone
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _as_user(code: str, folder: Path) -> str:
    """Run ``code`` (with ``fileio``, ``Path`` and ``d``, the folder, defined) as an ordinary
    user: as this one, or as nobody when this is root. Returns what it printed."""
    prelude = ("import os, sys\nfrom pathlib import Path\n"
               "from softreg.safety import fileio\n"
               f"d = Path({str(folder)!r})\n"
               f"if os.geteuid() == 0:\n    os.setgid({NOBODY}); os.setuid({NOBODY})\n")
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)
    if os.geteuid() == 0 and "Operation not permitted" in done.stderr:
        pytest.skip("this root cannot become another user (no CAP_SETUID)")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_umask_without_the_owners_write_bit_writes_as_a_plain_open_does(user_dir):
    out = _as_user("""
        os.umask(0o222)
        open(d / "plain.txt", "w").write("a plain open works")
        fileio.write_text(d / "atomic.txt", "one")
        fileio.write_together({d / "a.bin": b"a", d / "b.bin": b"b"})
        fileio.write_new(d / "new.txt", lambda tmp: tmp.write_text("new"), overwrite=False)
        for name in ("plain.txt", "atomic.txt", "a.bin", "b.bin", "new.txt"):
            print(name, oct((d / name).stat().st_mode & 0o777), (d / name).read_text())
    """, user_dir)
    assert out.splitlines() == ["plain.txt 0o444 a plain open works", "atomic.txt 0o444 one",
                                "a.bin 0o444 a", "b.bin 0o444 b", "new.txt 0o444 new"]
    assert not [p.name for p in user_dir.iterdir() if fileio.is_temporary(p.name)]


def test_a_read_only_file_or_folder_is_refused_naming_the_users_path(user_dir):
    out = _as_user("""
        (d / "ro").mkdir(); (d / "ro").chmod(0o555)
        (d / "mine.txt").write_text("mine"); (d / "mine.txt").chmod(0o444)
        for path in (d / "ro" / "model.safetensors", d / "ro" / "sub" / "model.safetensors",
                     d / "mine.txt"):
            try:
                fileio.write_bytes(path, b"new")
            except Exception as exc:
                print(type(exc).__name__, exc)
        try:
            fileio.write_new(d / "mine.txt", lambda tmp: tmp.write_text("new"),
                             overwrite=True, flag="--png")
        except Exception as exc:
            print(type(exc).__name__, exc)
        print((d / "mine.txt").read_text(), sorted(p.name for p in d.iterdir()))
    """, user_dir)
    ro, mine = user_dir / "ro", user_dir / "mine.txt"
    assert out.splitlines() == [
        f"WriteError cannot write {str(ro / 'model.safetensors')!r}: the folder {str(ro)!r} "
        "cannot be written in (Permission denied); choose a path in a folder you can write to",
        f"WriteError cannot write {str(ro / 'sub' / 'model.safetensors')!r}: the folder "
        f"{str(ro)!r} cannot be written in (Permission denied); choose a path in a folder you "
        "can write to",
        f"WriteError cannot write {str(mine)!r}: the file is read-only to you (mode "
        "-r--r--r--); make it writable (chmod u+w) or choose another path",
        f"WriteError cannot write {str(mine)!r}: the file is read-only to you (mode "
        "-r--r--r--); make it writable (chmod u+w) or choose another --png",
        "mine ['mine.txt', 'ro']"]


def test_a_folder_in_the_way_of_the_file_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    dest = tmp_path / "notes.txt" / "model.safetensors"
    for write in (lambda: fileio.write_bytes(dest, b"new"),
                  lambda: fileio.write_together({dest: b"new"})):
        with pytest.raises(WriteError) as got:
            write()
        assert isinstance(got.value, OSError)  # as the failed write was: callers catch it
        assert str(got.value) == (
            f"cannot write {str(dest)!r}: {str(tmp_path / 'notes.txt')!r} is a file, not a "
            "folder; choose a path in a folder you can write to")
    assert (tmp_path / "notes.txt").read_text() == "x"


def test_a_folder_given_for_a_file_gets_a_name_of_what_is_written(tmp_path):
    with pytest.raises(ConfigError) as got:
        fileio.write_bytes(tmp_path, b"x")
    assert str(got.value) == (f"the file {str(tmp_path)!r} is a folder; give a file name, not "
                              f"a folder (e.g. the file {str(tmp_path / 'file')!r})")
    with pytest.raises(ConfigError, match=re.escape(f"(e.g. the file "
                                                    f"{str(tmp_path / 'file.json')!r})")):
        fileio.write_bytes(tmp_path, b"x", suffix=".json")
    with pytest.raises(ConfigError, match=re.escape(f"(e.g. --png "
                                                    f"{str(tmp_path / 'file.png')!r})")):
        fileio.write_new(tmp_path, lambda tmp: None, overwrite=True, flag="--png",
                         suffix=".png")


@pytest.mark.parametrize("code, writes", [(errno.EPERM, True), (errno.EIO, False)],
                         ids=["a file system without modes", "an I/O error"])
def test_a_chmod_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch, code, writes):
    # vfat, exFAT and some FUSE mounts refuse chmod (EPERM): the write goes on with the modes
    # the mount gives; any other failure is raised, and the temporary file never stays behind
    def refuse(fd, mode):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fchmod", refuse)
    dest = tmp_path / "out.json"
    if writes:
        fileio.write_text(dest, "{}")
        assert dest.read_text() == "{}"
    else:
        with pytest.raises(OSError):
            fileio.write_text(dest, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out.json"] if writes else [])
