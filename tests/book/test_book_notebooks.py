"""Book section 4.1 as a notebook in a real kernel, per framework: figures shown, not filed.

Every ``d2l.plot`` cell must show one PNG (a figure rendered without its image shows only
"<Figure size ...>"), print nothing, and write no file.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest

from conftest import need

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from test_notebooks import PNG_MAGIC, execute

BOOK = Path(__file__).resolve().parents[2] / "examples" / "book"


@pytest.mark.slow
@pytest.mark.parametrize("framework", [
    pytest.param("torch", marks=pytest.mark.torch),
    pytest.param("tensorflow", marks=pytest.mark.tensorflow),
    pytest.param("mxnet", marks=pytest.mark.mxnet),
])
def test_section_4_1_notebook_shows_each_figure_inline(framework, tmp_path):
    need(framework)
    nbformat = need("jupyter", "nbformat")
    need("jupyter", "nbclient")
    need("jupyter", "ipykernel")
    import softreg

    nb = nbformat.read(BOOK / framework / "sec4_1_mlp.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") for c in code), "stored with outputs: clear them"
    assert f"from softreg import {framework} as d2l" in code[0].source
    src = str(Path(softreg.__file__).resolve().parents[1])
    env = dict(os.environ, SOFTREG_FIGURE_DIR=str(tmp_path / "figs"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
    execute(nb, tmp_path, env)
    plots = [c for c in code if "d2l.plot(" in c.source]
    assert len(plots) == 6
    for cell in plots:
        kinds = [o.output_type for o in cell.outputs]
        assert kinds == ["display_data"], (cell.source, kinds)
        (shown,) = cell.outputs
        assert base64.b64decode(shown.data["image/png"]).startswith(PNG_MAGIC)
        assert shown.data["text/plain"] == "<plot: 1 curve>"
    assert not (tmp_path / "figs").exists()
