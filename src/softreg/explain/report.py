"""The explain sections as Markdown (explain.md, report.md) and as plain text (terminal)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from softreg.core.metrics import format_class_report
from softreg.explain.analysis import Explanation
from softreg.explain.calibration import T_RANGE

FIGURES = {"confused": "confused pairs", "mistakes": "highest-loss test images",
           "reliability": "reliability diagram", "templates": "weight templates"}


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def _pair_rows(expl: Explanation) -> list[tuple[str, str, str, str]]:
    """(classes, a taken for b, b taken for a, both) for each confused pair."""
    n = expl.names
    return [(f"{n[p.a]} / {n[p.b]}", f"{p.a_as_b} ({_pct(p.a_rate)} of {n[p.a]})",
             f"{p.b_as_a} ({_pct(p.b_rate)} of {n[p.b]})", str(p.total)) for p in expl.pairs]


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
    text = (f"ECE: expected calibration error, {cal.n_bins} equal-width bins of the top "
            f"probability (bin k holds (k/{cal.n_bins}, (k+1)/{cal.n_bins}]), the "
            "image-weighted mean gap between accuracy and confidence. NLL: mean negative "
            f"log-likelihood of the true class. {cal.test_size} test images.")
    if cal.temperature is None:
        why = " ".join(expl.notes) or "No validation set was given."
        return f"{text} {why} No temperature was fitted; the numbers are the model's own."
    return (f"{text} The temperature T = {cal.temperature:.4f} divides every logit; it was "
            f"fitted on the {cal.val_size} validation images by minimising their NLL "
            f"(golden-section search on log T, T in [{T_RANGE[0]}, {T_RANGE[1]}]; validation "
            f"NLL {cal.val_nll:.4f} -> {cal.val_nll_scaled:.4f}). It never changes a "
            "predicted class. `softreg predict RUN IMAGE... --calibrated` uses it "
            "(calibration.json).")


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_sections(expl: Explanation, files: dict[str, Path], *, level: int = 2,
                    standardized: bool = False, elsewhere: tuple[str, ...] = ()) -> str:
    """The four explain sections in Markdown; figures linked by file name when in ``files``,
    and those named in ``elsewhere`` pointed to ``softreg explain``, which draws them."""
    h = "#" * level
    rep = expl.report
    cls_rows = [(name, f"{rep.precision[i]:.4f}", f"{rep.recall[i]:.4f}", f"{rep.f1[i]:.4f}",
                 str(int(rep.support[i]))) for i, name in enumerate(expl.names)]
    total = str(int(rep.support.sum()))
    for label, (p, r, f) in (("macro avg", rep.macro()), ("weighted avg", rep.weighted())):
        cls_rows.append((f"**{label}**", f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", total))
    lines = [f"{h} Per-class precision, recall and F1 (test)", "",
             *_table(("class", "precision", "recall", "F1", "support"), cls_rows), "",
             f"Accuracy {rep.accuracy:.4f}. Recall is the per-class accuracy; the macro average "
             "weighs each class equally, the weighted one by its number of test images.", "",
             f"{h} Mistakes", ""]
    if expl.pairs:
        lines += ["The most-confused class pairs (both directions; the share is of the true "
                  "class's test images):", "",
                  *_table(("classes", "first taken for second", "second taken for first",
                           "both"), _pair_rows(expl)), ""]
    else:
        lines += ["No test image is misclassified.", ""]
    lines += _figure(files, "confused", elsewhere)
    lines += [f"The {len(expl.hardest)} test images with the highest loss:", "",
              *_table(("test index", "true", "predicted", "p(predicted)", "p(true)", "loss"),
                      _hard_rows(expl)), ""]
    lines += _figure(files, "mistakes", elsewhere)
    lines += [f"{h} Calibration", "", *_table(("", "NLL", "ECE"), _calibration_rows(expl)), "",
              calibration_sentence(expl), ""]
    lines += _figure(files, "reliability", elsewhere)
    folded = (" The run was trained on standardised pixels; the checkpoint holds the weights "
              "folded back to raw pixels (W_std / std per pixel), shown here."
              if standardized else "")
    lines += [f"{h} Weight templates", "", "Each row of W as a 28x28 image: red pixels raise "
              "the class's score when bright, blue ones lower it; one colour scale, centred at "
              "0, for all ten classes (limit: the 99.5th percentile of |W|; larger weights "
              f"are drawn in the end colours).{folded}", ""]
    lines += _figure(files, "templates", elsewhere)
    return "\n".join(lines)


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
        out.append("  none: no test image is misclassified")
    for p in expl.pairs:
        a, b = expl.names[p.a], expl.names[p.b]
        out.append(f"  {a + ' / ' + b:<26} {p.total:>5} in all: {a} as {b} {p.a_as_b} "
                   f"({_pct(p.a_rate)}), {b} as {a} {p.b_as_a} ({_pct(p.b_rate)})")
    out += ["", "highest-loss test images (index, true -> predicted, p(predicted), loss):"]
    for idx, true, pred, p_pred, _, loss in _hard_rows(expl):
        out.append(f"  {idx:>6}  {true} -> {pred}  {p_pred}  {loss}")
    out += ["", "calibration:"]
    out += [f"  {label:<34} NLL {nll}  ECE {ece}" for label, nll, ece in _calibration_rows(expl)]
    out.append("  " + calibration_sentence(expl).replace("`", ""))
    return "\n".join(out)
