"""Animator outside Jupyter: one PNG, rewritten after every add, its path printed once."""

import pytest

from conftest import need

need("matplotlib")
from softreg.d2l.animator import Animator  # noqa: E402


@pytest.fixture(autouse=True)
def figures_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTREG_FIGURE_DIR", str(tmp_path / "figs"))
    return tmp_path / "figs"


def test_autosave_rewrites_one_png_and_prints_its_path_once(figures_in_tmp, capsys):
    anim = Animator(xlabel="epoch", legend=["loss", "acc"])
    anim.add(1, (0.8, 0.7))
    first = (figures_in_tmp / "animator.png").read_bytes()
    anim.add(2, (0.5, 0.8))
    second = (figures_in_tmp / "animator.png").read_bytes()
    assert first.startswith(b"\x89PNG") and second != first  # redrawn with the new point
    assert sorted(p.name for p in figures_in_tmp.iterdir()) == ["animator.png"]
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Animator: figure written to {figures_in_tmp / 'animator.png'} "
                   "(redrawn after every add)"]
    assert anim.X == [[1.0, 2.0], [1.0, 2.0]] and anim.Y == [[0.8, 0.5], [0.7, 0.8]]


def test_without_autosave_nothing_is_written_until_save(figures_in_tmp, capsys):
    anim = Animator(autosave=False)
    anim.add(1, 0.5)
    assert not figures_in_tmp.exists()
    path = anim.save(stem="curves")
    assert path == figures_in_tmp / "curves.png" and path.read_bytes().startswith(b"\x89PNG")
    assert capsys.readouterr().out == ""
