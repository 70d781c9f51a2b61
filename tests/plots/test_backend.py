"""softreg's figures pick matplotlib's file-only Agg backend only where the program chose none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import need

need("matplotlib")

PROGRAM = """
import matplotlib
{choice}
from softreg.d2l.plotting import plot
plot([0, 1, 2], [0, 1, 4])
import matplotlib.pyplot as plt
print(matplotlib.get_backend().lower())
"""


@pytest.mark.parametrize(("choice", "env", "backend"), [
    ("", {}, "agg"),  # none chosen: a script writes its figures to files
    ('matplotlib.use("pdf")', {}, "pdf"),  # the program's own choice is kept
    ("", {"MPLBACKEND": "svg"}, "svg"),
])
def test_the_program_s_backend_is_kept(tmp_path, choice, env, backend):
    clean = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    run = subprocess.run([sys.executable, "-c", PROGRAM.format(choice=choice)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**clean, **env, "SOFTREG_FIGURE_DIR": str(tmp_path / "figs"),
                              "MPLCONFIGDIR": str(tmp_path / "mpl")})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == backend
    assert len(list((tmp_path / "figs").glob("*.png"))) == 1
