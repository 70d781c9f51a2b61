import os
import stat

import pytest

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
