"""Each figure written outside Jupyter gets a fresh file, even with processes side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import need

need("matplotlib")

from softreg.plots import _mpl  # noqa: E402


@pytest.fixture()
def figs(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTREG_FIGURE_DIR", str(tmp_path / "figs"))
    return tmp_path / "figs"


def test_two_reservations_before_any_save_get_two_names(figs):
    first = _mpl.reserve_figure_path("plot")
    second = _mpl.reserve_figure_path("plot")
    assert (first.name, second.name) == ("plot.png", "plot-2.png")
    assert _mpl.figure_path("plot").name == "plot-3.png"


def test_a_user_file_or_link_is_never_taken_and_a_failed_save_leaves_nothing(figs):
    figs.mkdir()
    (figs / "plot.png").write_bytes(b"mine")
    (figs / "plot-2.png").symlink_to(figs / "elsewhere.png")  # dangling: still not taken
    fig = _mpl.new_figure((2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    path = _mpl.save_new_figure(fig, "plot")
    assert path.name == "plot-3.png" and path.read_bytes().startswith(b"\x89PNG")
    assert (figs / "plot.png").read_bytes() == b"mine" and not (figs / "elsewhere.png").exists()

    def broken(*args, **kwargs):
        raise RuntimeError("no renderer")

    fig.savefig = broken
    with pytest.raises(RuntimeError, match="no renderer"):
        _mpl.save_new_figure(fig, "plot")
    assert sorted(p.name for p in figs.iterdir()) == ["plot-2.png", "plot-3.png", "plot.png"]


PROGRAM = """
import os, sys, time
from softreg.d2l.plotting import plot
while not os.path.exists(sys.argv[1]):
    time.sleep(0.005)
plot([0, 1, 2], [[0, 1, int(sys.argv[2])]])
"""


def test_processes_plotting_at_the_same_time_keep_every_figure(tmp_path, figs):
    go = tmp_path / "go"
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "MPLBACKEND": "agg"}
    procs = [subprocess.Popen([sys.executable, "-c", PROGRAM, str(go), str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    time.sleep(3)  # let them import, then release them together
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    printed = [out.strip().rsplit(" ", 1)[-1] for out, _ in outs]
    assert len(set(printed)) == 6
    assert sorted(p.name for p in figs.iterdir()) == sorted(os.path.basename(p) for p in printed)
