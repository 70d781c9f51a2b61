"""The chapter notebooks in examples/ run, unchanged, in a real Jupyter kernel.

nbclient executes each notebook in an ipykernel started from this test's own interpreter: the
kernelspec is written to a temporary folder and names ``sys.executable``, so an installed
"python3" kernel of some other Python can never be picked up. Two cells are added to the copy in
memory only: a first one seeds the framework's random numbers (the chapter's code is unseeded, and
its last-epoch test accuracy moves by a few points from one draw to the next), a last one reports
the kernel's interpreter, the softreg it imported, and the history that ``train_ch3`` returned.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest

from conftest import need

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Seeds the initial weights and the example order the way each framework's user would.
SEED_CELLS = {
    "chapter_torch.ipynb": "import torch\ntorch.manual_seed(0)",
    "chapter_tensorflow.ipynb": "import tensorflow as tf\ntf.keras.utils.set_random_seed(0)",
    "chapter_mxnet.ipynb": "import mxnet as mx\nimport numpy as np\n"
                           "mx.random.seed(0)\nnp.random.seed(0)",
}
REPORT_CELL = """
import json, sys
import softreg
history = [v for v in Out.values() if type(v).__name__ == "History"][-1]
print(json.dumps({"executable": sys.executable, "softreg": softreg.__file__,
                  "history": history.to_dict()}))
"""


def _kernel_manager(folder: Path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / "softreg-test"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "softreg test kernel", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(kernel_name="softreg-test", kernel_spec_manager=specs)


# jupyter_client picks a kernel's ports free and the kernel binds them a moment later; another
# suite's kernel starting then (make test runs them side by side) can take one first, and the
# kernel dies at once ("Address already in use"). Such a start, and only it, is tried again.
KERNEL_START_FAILED = "Kernel died before replying to kernel_info"


def execute(nb, folder: Path, env: dict[str, str]) -> None:
    """Run ``nb`` in a fresh kernel of this Python (its outputs go into ``nb``), in ``folder``."""
    nbclient = need("jupyter", "nbclient")
    for attempt in (1, 2):
        km = _kernel_manager(folder)
        try:
            nbclient.NotebookClient(nb, km=km, timeout=600,
                                    resources={"metadata": {"path": str(folder)}}).execute(env=env)
            return
        except RuntimeError as exc:
            if attempt == 2 or KERNEL_START_FAILED not in str(exc):
                raise
        finally:  # nbclient leaves a kernel it was handed running
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def _run(name: str, tmp_path: Path):
    """Execute examples/<name> in a fresh kernel; return (executed notebook, report dict)."""
    nbformat = need("jupyter", "nbformat")
    need("jupyter", "nbclient")
    need("jupyter", "ipykernel")
    import softreg

    nb = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{name} is stored with outputs; clear them before committing"
    if name in SEED_CELLS:
        nb.cells.insert(0, nbformat.v4.new_code_cell(SEED_CELLS[name]))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_CELL))
    env = dict(os.environ, SOFTREG_FIGURE_DIR=str(tmp_path / "figs"))
    # PyTorch's worker threads wait on each other on a busy machine (3 torch epochs: 28 s with
    # two threads beside other processes, 3.5 s with one)
    env.setdefault("OMP_NUM_THREADS", "1")
    # the kernel imports the softreg under test, installed or not
    src = str(Path(softreg.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    execute(nb, tmp_path, env)
    report = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs
                                if o.output_type == "stream" and o.name == "stdout"))
    assert report["executable"] == sys.executable
    assert Path(report["softreg"]).resolve() == Path(softreg.__file__).resolve()
    return nb, report


def _cell(nb, needle: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    return cell


def _images(cell) -> list[bytes]:
    return [base64.b64decode(o.data["image/png"]) for o in cell.outputs
            if o.output_type == "display_data" and "image/png" in o.data]


def _check_chapter_notebook(nb, report, figures: Path) -> None:
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    for c in code:  # a figure shown without an image renders as this text alone
        for o in c.outputs:
            text = "".join(o.get("data", {}).get("text/plain", ""))
            assert not (text.startswith("<Figure size") and "image/png" not in o.data), c.source
    train = _cell(nb, "d2l.train_ch3(")
    images = _images(train)
    assert len(images) == 1 and images[0].startswith(PNG_MAGIC)  # live, updated in place
    (shown,) = [o for o in train.outputs if o.output_type == "display_data"]
    assert shown.data["text/plain"] == "<Animator figure: 3 curves, 10 points>"  # last epoch
    history = report["history"]
    last = history["epochs"][-1]
    assert history["status"] == "completed" and len(history["epochs"]) == 10
    assert last["train_loss"] < 0.5 and last["train_acc"] > 0.83
    assert 0.80 <= last["test_acc"] <= 0.86
    predict = _cell(nb, "d2l.predict_ch3(")
    assert predict.source.strip().endswith("d2l.predict_ch3(net, test_iter)")
    assert [img[:8] for img in _images(predict)] == [PNG_MAGIC]
    stray = [o for o in predict.outputs if o.output_type == "execute_result"
             or (o.output_type == "stream" and o.name == "stdout")]
    assert not stray, "the predict_ch3 cell shows a value after its images"
    assert not figures.exists()  # in a notebook figures are shown, not written to files


@pytest.mark.parametrize("framework", [
    pytest.param("torch", marks=pytest.mark.torch),
    pytest.param("tensorflow", marks=pytest.mark.tensorflow),
    pytest.param("mxnet", marks=pytest.mark.mxnet),
])
def test_chapter_notebook_runs_in_a_real_kernel(framework, real_data, tmp_path):
    need(framework)
    nb, report = _run(f"chapter_{framework}.ipynb", tmp_path)
    _check_chapter_notebook(nb, report, tmp_path / "figs")


@pytest.mark.parametrize("name", ["chapter_torch.ipynb", "chapter_tensorflow.ipynb",
                                  "chapter_mxnet.ipynb"])
def test_notebook_imports_d2l_from_softreg_and_follows_the_chapter(name):
    nbformat = need("jupyter", "nbformat")
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    framework = name.removeprefix("chapter_").removesuffix(".ipynb")
    assert f"from softreg import {framework} as d2l" in code[0]
    assert "load_data_fashion_mnist(batch_size)" in code[0]
    assert sum("softreg" in src for src in code) == 1  # the one changed line
    assert code[-2].endswith("d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)")
    assert code[-1] == "d2l.predict_ch3(net, test_iter)"
    assert nb.metadata.kernelspec.name == "python3"
