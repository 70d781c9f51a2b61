import pytest

from softreg import fileio


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
