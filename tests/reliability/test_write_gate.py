"""The write gate, checked on every subcommand by discovery: nothing of the user's changes.

Every option (and positional) of every subcommand that takes a free string, found by walking
``softreg``'s argparse parsers (not a list kept here), is pointed in turn at something of the
user's: a file, a folder of files (named like softreg's own outputs), a symbolic link to a
folder of theirs, a device node, a FIFO, and a folder where a file is expected. Whatever the
command says, afterwards every one of those is as it was: same kind, same bytes, same entries;
a link still a link, a device still a device (a file may be added to a folder of theirs
only by a file option given that folder, as ``export --out DIR`` does). With ``--overwrite``
(where the command has it) the folder, link, device and FIFO must survive too. A new
subcommand or a new option is covered without editing this file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import stat
from pathlib import Path

import numpy as np
import pytest

from softreg.cli import build_parser, main
from softreg.safety.runfolder import OWN_FILES

# Settings that keep a command cheap when the option under test does not stop it.
CHEAP = {"--epochs": "1", "--framework": "numpy", "--device": "cpu", "--num": "2",
         "--batch-size": "64", "--jobs": "1", "--train-size": "100",
         "--lr": "0.1"}
CHEAP_FLAGS = ("--offline", "--quiet")
TARGETS = ("file", "folder", "link", "device", "fifo", "folder_for_file")
NEVER_REPLACED = ("folder", "link", "device", "fifo", "folder_for_file")
# Every name softreg writes, as files of the user's: a folder of them must not lose one.
USER_NAMES = sorted({Path(p).name for names in OWN_FILES.values() for p in names
                     if "*" not in p} | {".softreg-run", "notes.txt", "lr-find.png"})


def _leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, parser) for every runnable (sub)subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs and prefix:
        yield prefix, parser
    for action in subs:
        for name, child in action.choices.items():
            if child.get_default("run") is not None or any(
                    isinstance(a, argparse._SubParsersAction) for a in child._actions):
                yield from _leaves(child, (*prefix, name))


def _takes_a_string(action: argparse.Action) -> bool:
    return (action.nargs != 0 and action.type in (None, str) and action.choices is None
            and not isinstance(action, argparse._HelpAction | argparse._VersionAction))


def _cases():
    for words, parser in _leaves(build_parser()):
        for action in parser._actions:
            if _takes_a_string(action):
                name = action.option_strings[0] if action.option_strings else action.dest
                yield pytest.param(words, name, id=f"{' '.join(words)} {name}")


CASES = list(_cases())


def test_discovery_finds_every_output_option():
    """The walk sees the options that write (a check that the discovery itself works)."""
    found = {(" ".join(w), n) for w, n in (c.values for c in CASES)}
    for known in [("train", "--out"), ("train", "--tensorboard"), ("explain", "--out"),
                  ("export", "--out"), ("data", "--sample"), ("evaluate", "--png"),
                  ("sweep", "--out"), ("lr-find", "--out"), ("study overfit", "--out")]:
        assert known in found


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A small trained run folder and an image, with synthetic data (no real files read)."""
    import softreg.data

    rng = np.random.default_rng(3)
    y = (np.arange(400) % 10).astype(np.uint8)
    protos = rng.integers(0, 256, size=(10, 28, 28))
    x = np.clip(protos[y] + rng.integers(-30, 31, size=(400, 28, 28)), 0, 255).astype(np.uint8)
    splits = {"train": (x, y), "test": (x[:100], y[:100])}
    real = softreg.data.load_fashion_mnist

    def fake(split="train", data_dir=None, offline=False):
        if data_dir is not None:  # a folder the user named is looked at for real
            return real(split, data_dir=data_dir, offline=True)
        return splits[split]

    mp = pytest.MonkeyPatch()
    mp.setattr(softreg.data, "load_fashion_mnist", fake)
    base = tmp_path_factory.mktemp("gate")
    run = base / "run"
    assert main(["train", "--framework", "numpy", "--epochs", "1", "--batch-size", "64",
                 "--val-split", "0.1", "--quiet", "--no-figures", "--out", str(run)]) == 0
    image = base / "image.npy"
    np.save(image, x[0])
    yield run, image
    mp.undo()


def _make(target: str, where: Path) -> Path:
    """Something of the user's at ``where/<target>``; returns its path."""
    user = where / "user"
    user.mkdir()
    theirs = user / "theirs"
    theirs.mkdir()
    for name in USER_NAMES:
        (theirs / name).write_text(f"the user's {name}")
    path = user / target
    if target == "file":
        path.write_text("the user's file")
    elif target == "folder":
        path.mkdir()
        for name in USER_NAMES:
            (path / name).write_text(f"the user's {name}")
    elif target == "link":
        path.symlink_to(theirs, target_is_directory=True)
    elif target == "device":
        try:  # the null device's numbers: even a write through it loses nothing
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif target == "fifo":
        os.mkfifo(path)
    elif target == "folder_for_file":
        path.mkdir()
        (path / "notes.txt").write_text("the user's notes")
    return path


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): kind, and bytes or target."""
    seen = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            p = Path(folder) / name
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                what = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode)
            elif stat.S_ISLNK(st.st_mode):
                what = ("link", os.readlink(p))
            else:
                what = (stat.S_IFMT(st.st_mode), st.st_rdev, stat.S_IMODE(st.st_mode))
            seen[str(p.relative_to(root))] = what
    return seen


def _kinds(snapshot: dict[str, tuple]) -> dict[str, tuple]:
    return {k: v[:1] if v[0] == "file" else v for k, v in snapshot.items()}


class BlockedError(Exception):
    """A command waited on a FIFO (it opened one for reading or writing)."""


def _argv(words, parser, option, value, run, image, overwrite):
    argv = list(words)
    by_name = {a.option_strings[0] if a.option_strings else a.dest: a for a in parser._actions}
    for action in parser._actions:
        if action.option_strings or not _takes_a_string(action):
            continue
        name = action.dest
        if name == option:
            argv.append(value)
        else:
            argv += [str(image)] if action.nargs in ("+", "*") else [str(run)]
    for action in parser._actions:  # required choices: the first
        if action.option_strings and action.required and action.choices is not None:
            argv += [action.option_strings[0], str(next(iter(action.choices)))]
    for flag, setting in CHEAP.items():
        if flag in by_name and flag != option:
            argv += [flag, setting]
    argv += [f for f in CHEAP_FLAGS if f in by_name]
    if option.startswith("-"):
        argv += [option, value]
    if overwrite:
        argv.append("--overwrite")
    return argv


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("words", "option"), CASES)
def test_nothing_of_the_users_changes(prepared, tmp_path, monkeypatch, capsys, words, option,
                                      target):
    run, image = prepared
    monkeypatch.chdir(tmp_path)  # default folders (runs/, sweeps/) land here, not in the user's
    parser = dict(_leaves(build_parser()))[tuple(words)]
    has_overwrite = any("--overwrite" in a.option_strings for a in parser._actions)
    for overwrite in (False, True) if has_overwrite else (False,):
        if overwrite and target not in NEVER_REPLACED:
            continue
        where = tmp_path / f"case-{int(overwrite)}"
        where.mkdir()
        path = _make(target, where)
        before = _snapshot(where / "user")

        def blocked(*_):
            raise BlockedError(f"{' '.join(words)} {option} waited on a FIFO")

        old = signal.signal(signal.SIGALRM, blocked)
        signal.setitimer(signal.ITIMER_REAL, 30)
        try:
            code = main(_argv(words, parser, option, str(path), run, image, overwrite))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        _, err = capsys.readouterr()
        after = _snapshot(where / "user")
        if overwrite:  # a regular file inside a folder named for a file may be replaced
            after, before = _kinds(after), _kinds(before)
        # Nothing of the user's changed or went; a new file may appear only where a file
        # option was given a folder (export --out DIR writes DIR/model.onnx when it is free).
        assert {k: after.get(k) for k in before} == before, (words, option, target, overwrite,
                                                             err)
        added = set(after) - set(before)
        assert all(Path(k).parent.name in ("folder", "folder_for_file", "theirs")
                   and not k.startswith(".") for k in added), (words, option, added)
        if code != 0:  # a refusal is one line, never a traceback
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
