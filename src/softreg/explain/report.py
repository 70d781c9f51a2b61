"""The explain sections as Markdown (explain.md, report.md) and as plain text (terminal)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from softreg.core.metrics import format_class_report
from softreg.explain.analysis import Explanation
from softreg.explain.calibration import T_RANGE
from softreg.explain.templates import SCALE_PERCENTILE
from softreg.safety.textsafe import Markup, markdown_table

FIGURES = {"confused": "confused pairs", "mistakes": "highest-loss test images",
           "reliability": "reliability diagram", "templates": "weight templates"}


def pct(rate: float) -> str:
    """A share of a class's test examples as a percentage; for a class without any (NaN: data
    of some of the model's classes), saying so."""
    return "no test examples" if math.isnan(rate) else f"{100 * rate:.1f}%"


def _pair_rows(expl: Explanation) -> list[tuple[str, str, str, str]]:
    """(classes, a taken for b, b taken for a, both) for each confused pair."""
    n = expl.names
    return [(f"{n[p.a]} / {n[p.b]}", f"{p.a_as_b} ({pct(p.a_rate)} of {n[p.a]})",
             f"{p.b_as_a} ({pct(p.b_rate)} of {n[p.b]})", str(p.total)) for p in expl.pairs]


def _hard_rows(expl: Explanation) -> list[tuple[str, ...]]:
    s, n = expl.scored, expl.names
    return [(str(int(i)), n[int(s.true[i])], n[int(s.pred[i])], f"{s.p_pred[i]:.3f}",
             f"{s.p_true[i]:.2e}", f"{s.loss[i]:.2f}") for i in expl.hardest]


def _calibration_rows(expl: Explanation) -> list[tuple[str, str, str]]:
    cal = expl.calibration
    rows = [("test, as trained", f"{cal.test_nll:.4f}", f"{cal.test_ece:.4f}")]
    if cal.temperature is not None:
        rows.append((f"test, temperature T = {cal.temperature:.3f}",
                     f"{cal.test_nll_scaled:.4f}", f"{cal.test_ece_scaled:.4f}"))
    return rows


def calibration_sentence(expl: Explanation) -> str:
    """How the numbers were computed and where the temperature came from (or why none)."""
    cal = expl.calibration
    items = _items(expl)
    text = (f"ECE: expected calibration error, {cal.n_bins} equal-width bins of the top "
            f"probability (bin k holds (k/{cal.n_bins}, (k+1)/{cal.n_bins}]), the "
            f"{items[:-1]}-weighted mean gap between accuracy and confidence. NLL: mean negative "
            f"log-likelihood of the true class. {cal.test_size} test {items}.")
    if cal.temperature is None:
        why = " ".join(expl.notes) or "No validation set was given."
        return f"{text} {why} No temperature was fitted; the numbers are the model's own."
    return (f"{text} The temperature T = {cal.temperature:.4f} divides every logit; it was "
            f"fitted on the {cal.val_size} validation {items} by minimising their NLL "
            f"(golden-section search on log T, T in [{T_RANGE[0]}, {T_RANGE[1]}]; validation "
            f"NLL {cal.val_nll:.4f} -> {cal.val_nll_scaled:.4f}). It never changes a "
            f"predicted class. `softreg predict RUN {'IMAGE' if items == 'images' else 'FILE'}"
            "... --calibrated` uses it (calibration.json)."
            + "".join(f" {note}" for note in expl.notes))


def _items(expl: Explanation) -> str:
    """What the model's rows are called: images, or examples for a model on a table."""
    return "examples" if expl.shape is not None and expl.shape.image_shape is None else "images"


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    return markdown_table(head, rows)  # each cell escaped: a class may be named "x|y"


def render_sections(expl: Explanation, files: dict[str, Path], *, level: int = 2,
                    standardized: bool = False, elsewhere: tuple[str, ...] = ()) -> str:
    """The four explain sections in Markdown (three for a table, ``expl.shape`` without an
    image shape: it has no weight templates); figures linked by file name when in ``files``,
    and those named in ``elsewhere`` pointed to ``softreg explain``, which draws them."""
    h = "#" * level
    rep = expl.report
    cls_rows = [(name, f"{rep.precision[i]:.4f}", f"{rep.recall[i]:.4f}", f"{rep.f1[i]:.4f}",
                 str(int(rep.support[i]))) for i, name in enumerate(expl.names)]
    total = str(int(rep.support.sum()))
    for label, (p, r, f) in (("macro avg", rep.macro()), ("weighted avg", rep.weighted())):
        cls_rows.append((Markup(f"**{label}**"), f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", total))
    lines = [f"{h} Per-class precision, recall and F1 (test)", "",
             *_table(("class", "precision", "recall", "F1", "support"), cls_rows), "",
             f"Accuracy {rep.accuracy:.4f}. Recall is the per-class accuracy; the macro average "
             f"weighs each class equally, the weighted one by its number of test {_items(expl)}. "
             f"{_zero_sentence(expl)}", "",
             f"{h} Mistakes", ""]
    if expl.pairs:
        lines += ["The most-confused class pairs (both directions; the share is of the true "
                  f"class's test {_items(expl)}):", "",
                  *_table(("classes", "first taken for second", "second taken for first",
                           "both"), _pair_rows(expl)), ""]
    else:
        lines += [f"No test {_items(expl)[:-1]} is misclassified.", ""]
    lines += _figure(files, "confused", elsewhere)
    lines += [f"The {len(expl.hardest)} test {_items(expl)} with the highest loss:", "",
              *_table(("test index", "true", "predicted", "p(predicted)", "p(true)", "loss"),
                      _hard_rows(expl)), ""]
    lines += _figure(files, "mistakes", elsewhere)
    lines += [f"{h} Calibration", "", *_table(("", "NLL", "ECE"), _calibration_rows(expl)), "",
              calibration_sentence(expl), ""]
    lines += _figure(files, "reliability", elsewhere)
    if expl.shape is None or expl.shape.image_shape is not None:  # a table has no templates
        lines += [f"{h} Weight templates", "", template_sentence(expl, standardized), ""]
        lines += _figure(files, "templates", elsewhere)
    return "\n".join(lines)


def _zero_sentence(expl: Explanation) -> str:
    """scikit-learn's convention for the classes whose precision or recall is 0/0, and the
    classes left out of the averages (none in the test set, none predicted)."""
    text = ("As in scikit-learn (zero_division=0), a class never predicted has precision 0, "
            "and F1 = 2TP / (2TP + FP + FN) is 0 for a class never predicted right.")
    unmeasured = [n for n, f in zip(expl.names, expl.report.f1, strict=True) if math.isnan(f)]
    if unmeasured:
        text += (f" Neither in the test set nor predicted, so nan and left out of the averages: "
                 f"{', '.join(unmeasured)}.")
    return text


def template_sentence(expl: Explanation, standardized: bool = False) -> str:
    """What the weight templates show, for the model's image shape and number of classes
    (``expl.shape``; without it, words true of any image model)."""
    image = None if expl.shape is None else expl.shape.image_shape
    classes = len(expl.names)
    every = "both classes" if classes == 2 else f"all {classes} classes"
    if image is None:
        what = "an image"
    else:
        height, width = image[:2]
        what = f"a {height}x{width} image" + (" (height x width)" if height != width else "")
        if len(image) == 3:
            what += f", its weights averaged over the {image[2]} colour channels"
    folded = (" The run was trained on standardised pixels; the checkpoint holds the weights "
              "folded back to raw pixels (W_std / std per pixel), shown here."
              if standardized else "")
    return (f"Each row of W as {what}: red pixels raise the class's score when bright, blue "
            f"ones lower it; one colour scale, centred at 0, for {every} (limit: the "
            f"{SCALE_PERCENTILE:g}th percentile of |W|; larger weights are drawn in the end "
            f"colours).{folded}")


def _figure(files: dict[str, Path], key: str, elsewhere: tuple[str, ...]) -> list[str]:
    if key in files:
        return [f"![{FIGURES[key]}]({files[key].name})", ""]
    if key in elsewhere:
        return [f"(The {FIGURES[key]} figure: `softreg explain RUN` draws it.)", ""]
    return []


def format_text(expl: Explanation) -> str:
    """The tables for a terminal: P/R/F1, confused pairs, highest losses, calibration."""
    out = ["per-class precision, recall and F1 (test):",
           format_class_report(expl.report, expl.names), "", "most-confused pairs:"]
    if not expl.pairs:
        out.append(f"  none: no test {_items(expl)[:-1]} is misclassified")
    for p in expl.pairs:
        a, b = expl.names[p.a], expl.names[p.b]
        out.append(f"  {a + ' / ' + b:<26} {p.total:>5} in all: {a} as {b} {p.a_as_b} "
                   f"({pct(p.a_rate)}), {b} as {a} {p.b_as_a} ({pct(p.b_rate)})")
    out += ["", f"highest-loss test {_items(expl)} (index, true -> predicted, p(predicted), "
            "loss):"]
    for idx, true, pred, p_pred, _, loss in _hard_rows(expl):
        out.append(f"  {idx:>6}  {true} -> {pred}  {p_pred}  {loss}")
    out += ["", "calibration:"]
    out += [f"  {label:<34} NLL {nll}  ECE {ece}" for label, nll, ece in _calibration_rows(expl)]
    out.append("  " + calibration_sentence(expl).replace("`", ""))
    return "\n".join(out)
