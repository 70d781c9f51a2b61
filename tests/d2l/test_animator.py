"""Animator: outside Jupyter one PNG, rewritten after every add (its path printed once); in
Jupyter one output, replaced after every add."""

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


def test_add_takes_arrays_and_tensors_as_d2l_does(figures_in_tmp):
    import numpy as np

    anim = Animator(autosave=False, legend=["loss", "acc"])
    anim.add(1, np.array([0.8, 0.7]))
    anim.add(np.float64(2), (0.5, np.float32(0.75)))
    assert anim.X == [[1.0, 2.0], [1.0, 2.0]] and anim.Y == [[0.8, 0.5], [0.7, 0.75]]


def test_without_autosave_nothing_is_written_until_save(figures_in_tmp, capsys):
    anim = Animator(autosave=False)
    anim.add(1, 0.5)
    assert not figures_in_tmp.exists()
    path = anim.save(stem="curves")
    assert path == figures_in_tmp / "curves.png" and path.read_bytes().startswith(b"\x89PNG")
    assert capsys.readouterr().out == ""


def test_fig_axes_and_config_axes_exist_before_any_add(figures_in_tmp, capsys):
    # as d2l's: book and readers' code reach animator.axes[0] or call config_axes() before add
    from softreg.plots._mpl import pyplot

    before = pyplot().get_fignums()
    anim = Animator(xlabel="epoch", ylabel="loss", legend=["train"], xlim=(1, 5), ylim=(0.1, 1),
                    yscale="log")
    fig, ax = anim.fig, anim.axes[0]
    anim.config_axes()
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == ("epoch", "loss", "log")
    assert ax.get_xlim() == (1, 5) and ax.get_ylim() == pytest.approx((0.1, 1))
    anim.add(1, 0.5)
    anim.add(2, 0.4)  # autosave keeps drawing on the same figure the reader holds
    assert anim.fig is fig and anim.axes[0] is ax and len(ax.lines) == 1
    assert pyplot().get_fignums() == before  # nothing pyplot would show or keep open
    assert [p.name for p in figures_in_tmp.iterdir()] == ["animator.png"]
    capsys.readouterr()


def test_a_config_axes_the_reader_sets_is_what_add_applies(figures_in_tmp):
    anim = Animator(autosave=False)
    anim.config_axes = lambda: anim.axes[0].set_title("mine")  # as d2l's add calls it
    anim.add(1, 0.5)
    anim.save()
    assert anim.axes[0].get_title() == "mine"


@pytest.fixture()
def notebook_display(monkeypatch):
    """Pretend to run in Jupyter: record what would be shown instead of showing it."""
    need("jupyter", "IPython")
    import IPython.display

    import softreg.d2l.animator
    import softreg.d2l.images

    shown = []

    class Handle:
        def update(self, obj, **kwargs):
            shown.append(("update", obj, kwargs))

    def display(obj, **kwargs):
        shown.append(("display", obj, kwargs))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(softreg.d2l.animator, "in_notebook", lambda: True)
    monkeypatch.setattr(softreg.d2l.images, "in_notebook", lambda: True)
    return shown


def _png(bundle):
    import base64

    return base64.b64decode(bundle["image/png"])


def test_in_jupyter_one_output_is_shown_then_replaced(notebook_display, figures_in_tmp, capsys):
    from softreg.plots._mpl import pyplot

    before = pyplot().get_fignums()
    anim = Animator(legend=["loss"])
    anim.add(1, 0.8)
    anim.add(2, 0.5)
    assert [(kind, kw) for kind, _, kw in notebook_display] == [
        ("display", {"raw": True, "display_id": True}), ("update", {"raw": True})]
    first, last = notebook_display[0][1], notebook_display[1][1]
    assert _png(first).startswith(b"\x89PNG") and _png(last) != _png(first)
    assert last["text/plain"] == "<Animator figure: 1 curve, 2 points>"
    # pyplot does not hold the figure, so the inline backend cannot show it again at cell end
    assert pyplot().get_fignums() == before
    assert not figures_in_tmp.exists() and capsys.readouterr().out == ""


def test_in_jupyter_show_images_is_one_png_output(notebook_display, figures_in_tmp):
    import numpy as np

    from softreg.d2l.images import show_predictions

    show_predictions(np.zeros((3, 28, 28)), [0, 1, 2], [0, 1, 9])
    ((kind, bundle, kwargs),) = notebook_display
    assert kwargs == {"raw": True, "display_id": True}
    assert kind == "display" and _png(bundle).startswith(b"\x89PNG")
    assert bundle["text/plain"] == "<predict_ch3: 3 images>" and not figures_in_tmp.exists()


@pytest.mark.parametrize(("shell_class", "expected"), [
    ("ZMQInteractiveShell", True), ("Shell", True), ("TerminalInteractiveShell", False)])
def test_a_kernel_shell_or_its_subclass_counts_as_a_notebook(monkeypatch, shell_class, expected):
    import sys
    import types

    from softreg.plots._mpl import in_notebook

    class ZMQInteractiveShell:
        pass

    base = ZMQInteractiveShell if shell_class != "TerminalInteractiveShell" else object
    shell = type(shell_class, (base,), {})()  # Colab's kernel shell subclasses ipykernel's
    fake = types.SimpleNamespace(get_ipython=lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert in_notebook() is expected
