"""Print the README's table of the book's sections from run_sections.py summaries.

    python examples/book/table.py torch.json tensorflow.json mxnet.json [--short T S M]

Each file is the ``--json`` output of one framework's run; a missing file is a column of "not
run". With ``--short``, a section missing from a full run (not finished) is taken from that
framework's short run (``SOFTREG_BOOK_QUICK=1``), marked "short run". The "book" column says
what the 0.17 book's text and its own checks show.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BOOK = {
    "sec3_1_linear_regression": ("3.1 linear regression",
                                 "the loop is far slower than the vectorized sum"),
    "sec3_2_linear_regression_scratch": ("3.2 from scratch",
                                         "w, b errors \"very close\" to 0 after 3 epochs"),
    "sec3_3_linear_regression_concise": ("3.3 concise", "same as 3.2"),
    "sec3_5_image_classification_dataset": ("3.5 the dataset",
                                            "60000 / 10000 images, framework's own loader"),
    "sec3_6_softmax_regression_scratch": ("3.6 softmax, scratch",
                                          "its train_ch3 asserts loss < 0.5, accuracies > 0.7"),
    "sec3_7_softmax_regression_concise": ("3.7 softmax, concise", "as 3.6"),
    "sec4_1_mlp": ("4.1 MLP (activations)", "six curves; sigmoid' (0) = 0.25, tanh' (0) = 1"),
    "sec4_2_mlp_scratch": ("4.2 MLP, scratch", "10 epochs with train_ch3 (as 3.6)"),
    "sec4_3_mlp_concise": ("4.3 MLP, concise", "as 4.2"),
    "sec4_4_underfit_overfit": ("4.4 under/overfitting",
                                "degree 3: weights near [5, 1.2, -3.4, 5.6]; "
                                "linear: high loss; degree 19: test above train"),
    "sec4_5_weight_decay": ("4.5 weight decay",
                            "λ=3 shrinks ‖w‖ and the test loss (λ=0 overfits)"),
    "sec4_6_dropout": ("4.6 dropout", "10 epochs with train_ch3 (as 3.6)"),
    "sec4_8_numerical_stability": ("4.8 numerical stability",
                                   "sigmoid' vanishes at ±8; 100 matrix products explode"),
    "sec4_10_kaggle_house_price": ("4.10 Kaggle house prices",
                                   "5-fold log rmse printed per fold, submission.csv"),
}


def _acc(b: dict) -> str:
    return (f"{b['epochs']} ep: loss {b['train_loss']:.3f}, train {b['train_acc']:.3f}, "
            f"test {b['test_acc']:.3f}")


def _why(error: str) -> str:
    """The reason behind a failure whose cause is known, else the error's first words."""
    if "No module named 'torchvision'" in error:
        return ("torchvision not installed here (no CPU build reachable); the files "
                "`softreg data --for torchvision` writes pass torchvision's check (tested)")
    if "apache-mxnet" in error:
        return ("offline, Gluon downloads: it accepts only its copies of the 2017-08-26 "
                "files (`softreg data --for mxnet` says so)")
    return error[:90]


def cell(section: str, r: dict | None) -> str:
    if r is None:
        return "not run"
    if not r["ok"]:
        return f"does not run: {_why(r['error'])}"
    b = r.get("book", {})
    if section.startswith("sec3_1"):
        return f"loop {b['loop_s']:.3f} s, vectorized {b['vectorized_s'] * 1e6:.0f} µs"
    if section.startswith(("sec3_2", "sec3_3")):
        errs = ", ".join(f"{e:+.4f}" for e in b["w_err"])
        return f"loss {b['loss']:.1e}; w err [{errs}], b err {b['b_err']:+.4f}"
    if section.startswith("sec3_5"):
        return f"{b['train']} / {b['test']}"
    if section.startswith(("sec3_6", "sec3_7", "sec4_2", "sec4_3")):
        return _acc(b)
    if section.startswith("sec4_1_"):
        return f"sigmoid' (0) = {b['sigmoid_grad_at_0']:.3f}, tanh' (0) = {b['tanh_grad_at_0']:.3f}"
    if section.startswith("sec4_4"):
        w = ", ".join(f"{v:.2f}" for v in b["normal"][1])
        return (f"degree 3 w [{w}], test loss {b['normal'][0][1]:.3f}; linear test "
                f"{b['underfit'][0][1]:.2f}; degree 19 train {b['overfit'][0]:.3f}, test "
                f"{b['overfit'][1]:.3f}")
    if section.startswith("sec4_5"):
        return "; ".join(f"{k.replace('_', ' λ=')}: test {v[1]:.3g}, ‖w‖ {v[2]:.2f}"
                         for k, v in b.items())
    if section.startswith("sec4_6"):
        s, c = b["scratch"], b["concise"]
        return (f"{b['epochs']} ep: scratch test {s[2]:.3f} (loss {s[0]:.3f}), concise test "
                f"{c[2]:.3f} (loss {c[0]:.3f})")
    if section.startswith("sec4_8"):
        return (f"sigmoid' (8) = {b['sigmoid_grad_at_8']:.1e}; largest entry after 100 products: "
                f"{b['max_abs_after_100']:.1e}")
    if section.startswith("sec4_10"):
        return (f"{b['epochs']} ep, stand-in data: avg train {b['train']:.3f}, valid "
                f"{b['valid']:.3f}")
    return "ran"


def _load(path: str) -> dict[str, dict]:
    p = Path(path)
    return {r["section"]: r for r in json.loads(p.read_text())} if p.exists() else {}


def main(argv: list[str]) -> None:
    full, short = (argv[:argv.index("--short")], argv[argv.index("--short") + 1:]) \
        if "--short" in argv else (argv, [])
    runs = [_load(p) for p in full]
    shorts = [_load(p) for p in short] + [{}] * (len(full) - len(short))
    print("| section | the book | PyTorch | TensorFlow | MXNet |")
    print("|---|---|---|---|---|")
    for section, (title, book) in BOOK.items():
        cells = []
        for run, fallback in zip(runs, shorts, strict=True):
            if section in run:
                cells.append(cell(section, run[section]))
            elif section in fallback:
                cells.append("short run: " + cell(section, fallback[section]))
            else:
                cells.append("not run")
        print(f"| {title} | {book} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
