"""plot_curves: every recorded metric drawn, and an empty history drawn without a warning."""

from __future__ import annotations

import warnings

from conftest import need
from softreg.epochs.history import EpochRecord, History


def test_curves_show_recorded_metrics_only(tmp_path):
    need("matplotlib")
    from softreg.plots._mpl import pyplot
    from softreg.plots.curves import draw_curves, plot_curves

    records = [EpochRecord(1, 0.8, 0.7, test_acc=0.75), EpochRecord(2, 0.5, 0.8, test_acc=0.8)]
    hist = History(records)
    fig, ax = pyplot().subplots()
    draw_curves(ax, hist)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "train loss", "train acc", "test acc"]  # no val acc: none recorded
    pyplot().close(fig)
    assert plot_curves(hist, tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_empty_history_draws_a_note_and_warns_nothing(tmp_path):
    need("matplotlib")
    from softreg.plots.curves import plot_curves

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels" would raise
        path = plot_curves(History(), tmp_path / "empty.png")
    assert path.read_bytes().startswith(b"\x89PNG")
