"""The files a finished run leaves for a person: metrics, figures and a Markdown report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from softreg import __version__
from softreg.backends.base import LinearBackend
from softreg.core.config import TrainConfig
from softreg.core.metrics import Confusion
from softreg.core.shape import ModelShape
from softreg.epochs.history import History
from softreg.safety import fileio
from softreg.safety.textsafe import markdown_fence, markdown_table, printable

# A column whose |mean| / sd reaches this is too far from zero for its spread: the saved
# weights are the standardised model folded into raw values, b_raw = b - sum_j w_j m_j / s_j and
# W_raw = w / s, in float32, rounded by a relative 2**-24 (6e-8). Each logit is then off by about
# 6e-8 * |w| * |m| / s (the bias's lost digits, and W_raw x ~ w m / s with them), |w| (the
# standardised weight) of order 1 to 10: at 1e4 that is 1e-3 to 1e-2 of a logit, where the
# probabilities' shown digits begin to move; at 1e6 (an ID, a projected coordinate) a whole
# unit, and argmaxes change. Pixels (std floored at 0.05) stay under 20; iris or digits under 10.
FAR_RATIO = 1e4


def far_columns(splits: dict[str, Any]) -> list[str]:
    """The names of the training split's columns whose |mean| / sd is :data:`FAR_RATIO` or
    more, when the run standardises them (a table always, images with ``--standardize``)."""
    train = splits.get("train")
    st = getattr(train, "standardizer", None)
    if st is None:
        return []
    ratio = np.abs(np.asarray(st.mean, np.float64)) / np.asarray(st.scale, np.float64)  # (D,)
    shape = getattr(train, "shape", None)
    return [printable(shape.feature_name(int(j))) if shape is not None else f"x{int(j)}"
            for j in np.flatnonzero(ratio >= FAR_RATIO)]


def far_warning(columns: list[str]) -> str:
    """What a run says of :func:`far_columns` (empty: nothing)."""
    if not columns:
        return ""
    shown = ", ".join(columns[:5]) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return (f"column(s) {shown} lie far from zero for their spread (|mean| / sd of "
            f"{FAR_RATIO:.0e} or more): the standardisation folded into the saved float32 "
            "weights cannot hold the trained model, so evaluate, predict, explain and the "
            "exports may disagree with this run's numbers; subtract an offset from such a "
            "column (e.g. its first value or its mean), or standardise the data, before softreg")


def write_outputs(out: Path, config: TrainConfig, history: History, backend: LinearBackend,
                  test: Any, figures: bool = True, *, model_epoch: int | None = None,
                  best_restored: bool = False, val: Any = None,
                  labels: str = "en", warning: str = "") -> dict[str, Path]:
    """Write metrics.csv, history.json, the figures and report.md; return their paths.

    The predictions, confusion matrix and test accuracy are those of the weights ``backend``
    holds: those of epoch ``model_epoch`` (default: the last), the best epoch when
    ``best_restored``. The explain sections (and calibration.json, with a temperature fitted
    on ``val`` when given) describe the final model saved in ``out``. ``labels`` is the
    language of the figures' words ("en" or "ko"). ``warning`` (:func:`far_warning`) goes
    into the report's result.
    """
    from softreg.data.fashion import MODEL_SHAPE
    from softreg.jobs.explain import report_sections

    shape = getattr(test, "shape", None) or MODEL_SHAPE
    files: dict[str, Path] = {}
    files["metrics"], files["history"] = history.write(out)
    pred = backend.logits(test.X).argmax(axis=1)  # (N,)
    cm = Confusion.of(test.y, pred, shape.classes)
    if figures:
        files.update(_figures(out, config, history, cm, test, pred, labels, shape))
    explained, more = report_sections(out, test, val, figures=figures,
                                      standardized=config.standardize)
    files.update(more)
    files["report"] = fileio.write_text(
        out / "report.md", render_report(config, history, cm, list(shape.class_names), files,
                                         model_epoch=model_epoch, best_restored=best_restored,
                                         device_used=backend.device, explained=explained,
                                         table=shape.image_shape is None, warning=warning)
    )
    return files


def _figures(out: Path, config: TrainConfig, history: History, cm: Confusion, test: Any,
             pred: Any, labels: str, shape: ModelShape) -> dict[str, Path]:
    from softreg.jobs.explain import raw_split
    from softreg.plots.confusion import plot_confusion
    from softreg.plots.curves import plot_curves
    from softreg.plots.images import image_grid
    from softreg.plots.labels import figure_text

    text = figure_text(labels).for_classes(shape.class_names)
    title = text.run_title.format(framework=config.framework, batch_size=config.batch_size,
                                  lr=config.lr)
    files = {"curves": plot_curves(history, out / "curves.png", title=title, text=text)}
    n = min(12, len(test.y))
    if shape.image_shape is not None:  # a table has no pictures of its examples
        images = raw_split(test)[0][:n].reshape(n, *shape.image_shape)  # pixels in [0, 1]
        titles = [text.prediction_title(int(t), int(p)) for t, p in zip(test.y[:n], pred[:n],
                                                                        strict=True)]
        files["predictions"] = Path(image_grid(images, titles, path=out / "predictions.png",
                                               ncols=6, font_file=text.font_file))
    if cm.matrix is not None:  # up to MATRIX_CLASSES classes
        files["confusion"] = plot_confusion(
            cm.matrix, text.class_names, out / "confusion.png", text=text,
            title=text.confusion_title.format(split=text.splits["test"]))
    return files


def render_report(config: TrainConfig, history: History, cm: Any, names: list[str],
                  files: dict[str, Path], *, model_epoch: int | None = None,
                  best_restored: bool = False, device_used: str | None = None,
                  explained: str = "", table: bool = False, warning: str = "") -> str:
    """The Markdown report, written from the run's own numbers.

    ``cm`` is the test confusion matrix (or its :class:`Confusion`) of the weights of epoch
    ``model_epoch`` (default: the last epoch); ``best_restored`` says they are the best
    epoch's, put back by early stopping.
    ``device_used`` is the device the run resolved ``config.device`` to (e.g. ``auto`` ->
    ``cuda``); it gets its own row under the ``device`` setting. ``explained`` (the explain
    sections in Markdown) goes after the figures. ``table``: the data is a table, which is
    standardised whatever ``standardize`` says (the row says so). ``warning``: a paragraph
    opening the result (:func:`far_warning`).
    """
    last = history.last
    cm = cm if isinstance(cm, Confusion) else Confusion.of_matrix(cm)
    acc = cm.per_class_accuracy()
    lines = [f"# softreg run: {config.framework}", "",
             f"softreg {__version__}. Status: **{history.status}**. {history.message}".rstrip(), ""]
    settings: list[tuple[str, Any]] = []
    for key, value in config.to_dict().items():
        if key == "max_loss":  # the limit used, 100 ln C when left at its default
            value = config.max_loss_for(len(names))
        if key == "standardize" and table and not value:
            value = (f"{value} (a table is standardised all the same, by its training split's "
                     "mean and spread, folded into the saved weights)")
        settings.append((key, value))
        if key == "device" and device_used is not None:
            settings.append(("device used", device_used))
    # every table through markdown_table: a name or a path may hold a "|"
    lines += ["## Configuration", "", *markdown_table(("setting", "value"), settings)]
    lines += ["", "## Result", ""]
    if warning:
        lines += [f"**Warning:** {warning[0].upper()}{warning[1:]}.", ""]
    if last is not None:
        total_s = sum(r.seconds for r in history.records)
        lines += [f"After {last.epoch} epochs ({total_s:.2f} s of training): train loss "
                  f"{last.train_loss:.4f}, train accuracy {last.train_acc:.4f}"
                  + ("" if math.isnan(last.val_acc) else
                     f", validation accuracy {last.val_acc:.4f}") + " in the last epoch.", ""]
    lines += [_evaluated(config, history, cm, model_epoch, best_restored), ""]
    lines += markdown_table(
        ("epoch", "train loss", "train acc", "val acc", "test acc", "seconds"),
        [(r.epoch, f"{r.train_loss:.4f}", f"{r.train_acc:.4f}",
          "" if math.isnan(r.val_acc) else f"{r.val_acc:.4f}", f"{r.test_acc:.4f}",
          f"{r.seconds:.3f}") for r in history.records])
    lines += ["", "## Per-class test accuracy", ""]
    lines += markdown_table(("class", "accuracy"),
                            [(n, f"{a:.4f}") for n, a in zip(names, acc, strict=True)])
    matrix = cm.text(names)
    fence = markdown_fence(matrix)  # longer than a run of backticks in a class name
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", "", fence, matrix,
              fence, ""]
    for key in ("curves", "predictions", "mistakes", "confusion"):
        if key in files:
            lines.append(f"![{key}]({files[key].name})")
    if explained:
        lines += ["", explained.rstrip()]
    return "\n".join(lines) + "\n"


def _evaluated(config: TrainConfig, history: History, cm: Confusion, model_epoch: int | None,
               best_restored: bool) -> str:
    """Which epoch's weights the test accuracy, tables and figures describe, and where."""
    epoch = len(history) if model_epoch is None else model_epoch
    acc = cm.accuracy
    if history.last is None:
        return (f"Test accuracy {acc:.4f}, with the initial weights (no epoch was trained; "
                "saved in checkpoint.safetensors). The per-class accuracy, confusion matrix and "
                "figures use the same weights.")
    if best_restored:
        return (f"Test accuracy {acc:.4f}, with the weights of epoch {epoch}, the best by "
                f"{config.monitor} (restored by early stopping; saved in best.safetensors). "
                "The per-class accuracy, confusion matrix and figures use the same weights; "
                "checkpoint.safetensors holds the last epoch's weights, which --resume "
                "continues.")
    return (f"Test accuracy {acc:.4f}, with the weights of the last epoch, {epoch} (saved in "
            "checkpoint.safetensors). The per-class accuracy, confusion matrix and figures use "
            "the same weights.")
