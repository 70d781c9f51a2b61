"""The words of explain.md and report.md follow the model: the P/R/F1 tables' zero convention,
and the weight templates' image shape and class count (no templates for a table)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.shape import ModelShape
from softreg.data import CLASS_NAMES
from softreg.explain.analysis import analyse
from softreg.explain.report import format_text, render_sections
from softreg.runfiles import checkpoint

# What report.md said for every model before: Fashion-MNIST's shape.
FASHION_WORDS = ("28x28", "ten classes")


def _train(out, *argv):
    code = main(["train", "--framework", "numpy", "--epochs", "2", "--quiet", "--no-figures",
                 "--out", str(out), *argv])
    assert code == 0
    return out


def _explained(run, shape=True):
    """The run's model explained on random inputs of its size (the words do not depend on
    them), with its shape given to analyse (``shape`` False: as a caller that does not)."""
    _, ck = checkpoint.load_model(run)
    rng = np.random.default_rng(0)
    X = rng.random((30, ck.W.shape[1])).astype(np.float32)  # (30, D)
    y = np.arange(30) % len(ck.shape.class_names)
    return analyse(ck.W, ck.b, (X, y), None, list(ck.shape.class_names),
                   shape=ck.shape if shape else None)


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    need("sklearn")
    return _train(tmp_path_factory.mktemp("wine") / "run", "--data", "sklearn:wine")


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """A model of 6x5 RGB pictures (height 6, width 5) in three classes."""
    Image = need("PIL", "PIL.Image")
    root = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(1)
    for k, name in enumerate(("ant", "bee", "cow")):
        (root / "pics" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 80, (6, 5, 3), dtype=np.uint8)
            pixels[:, k] = 250  # one bright column per class
            Image.fromarray(pixels, "RGB").save(root / "pics" / name / f"{i}.png")
    return _train(root / "run", "--data", f"folder:{root / 'pics'}", "--batch-size", "4")


def test_a_table_model_has_no_weight_templates_section(wine_run):
    text = render_sections(_explained(wine_run), {})
    assert "Weight templates" not in text and "Each row of W" not in text
    assert not any(words in text for words in FASHION_WORDS)
    assert "## Per-class precision, recall and F1 (test)" in text and "## Calibration" in text


def test_a_table_model_s_rows_are_examples_not_images(wine_run):
    expl = _explained(wine_run)
    text = render_sections(expl, {}) + format_text(expl)
    assert "image" not in text
    assert "test examples" in text
    shapeless = render_sections(_explained(wine_run, shape=False), {})
    assert "test images" in shapeless  # without a shape: the image words, as before


def test_a_colour_image_model_is_described_by_its_own_shape(colour_run):
    text = render_sections(_explained(colour_run), {"templates": colour_run / "templates.png"})
    section = text[text.index("## Weight templates"):]
    assert ("Each row of W as a 6x5 image (height x width), its weights averaged over the 3 "
            "colour channels: red pixels") in section
    assert "for all 3 classes" in section and "![weight templates](templates.png)" in section
    assert not any(words in text for words in FASHION_WORDS)


@pytest.mark.parametrize(("names", "image", "words"), [
    (CLASS_NAMES, (28, 28), ("Each row of W as a 28x28 image: red", "for all 10 classes")),
    (("no", "yes"), (40, 32), ("as a 40x32 image (height x width): red", "for both classes")),
])
def test_the_template_words_follow_the_image_shape_and_classes(names, image, words):
    shape = ModelShape(tuple(names), int(np.prod(image)), image)
    X = np.zeros((len(names), shape.features), np.float32)
    expl = analyse(np.zeros(shape.weights), np.zeros(len(names)), (X, np.arange(len(names))),
                   None, list(names), shape=shape)
    text = render_sections(expl, {}, standardized=True, elsewhere=("templates",))
    for w in words:
        assert w in text
    assert "folded back to raw pixels" in text and "ten classes" not in text
    assert "(The weight templates figure: `softreg explain RUN` draws it.)" in text


def test_without_a_shape_the_template_words_claim_no_size(wine_run):
    """A caller that gives analyse no shape still gets no false image size or class count."""
    text = render_sections(_explained(wine_run, shape=False), {})
    assert "Each row of W as an image: red" in text and "for all 3 classes" in text
    assert not any(words in text for words in FASHION_WORDS)


# explain.md and report.md come from src/softreg/jobs/explain.py, which gives analyse the
# model's shape.
def test_explain_md_of_a_table_has_no_template_section(wine_run, tmp_path):
    assert main(["explain", str(wine_run), "--no-figures", "--out", str(tmp_path / "ex")]) == 0
    page = (tmp_path / "ex" / "explain.md").read_text()
    assert "## Largest coefficients" in page  # the table's counterpart of the templates
    assert "Weight templates" not in page
    assert "Weight templates" not in (wine_run / "report.md").read_text()


def test_explain_md_of_a_colour_image_model_gives_its_shape(colour_run, tmp_path):
    assert main(["explain", str(colour_run), "--no-figures", "--out", str(tmp_path / "ex")]) == 0
    for page in ((tmp_path / "ex" / "explain.md").read_text(),
                 (colour_run / "report.md").read_text()):
        assert "a 6x5 image (height x width), its weights averaged over the 3 colour" in page


# -------------------------------------------------- P/R/F1 tables: scikit-learn's zero convention

def _always_last_class():
    """A model that predicts class_2 for every input, on 12, 14 and 10 examples of the classes
    (softreg explain on a wine model trained two epochs gave this confusion matrix)."""
    y = np.repeat([0, 1, 2], [12, 14, 10])
    X = np.zeros((len(y), 4), np.float32)
    return analyse(np.zeros((3, 4)), np.array([0.0, 0.0, 1.0]), (X, y), None,
                   ["class_0", "class_1", "class_2"]), y


def test_the_tables_give_f1_0_for_a_class_never_predicted_and_sklearn_averages():
    metrics = need("sklearn", "sklearn.metrics")
    expl, y = _always_last_class()
    pred = np.full(len(y), 2)
    macro = metrics.precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    weighted = metrics.precision_recall_fscore_support(y, pred, average="weighted",
                                                       zero_division=0)
    page = render_sections(expl, {})
    assert "| class_0 | 0.0000 | 0.0000 | 0.0000 | 12 |" in page
    assert "| class_1 | 0.0000 | 0.0000 | 0.0000 | 14 |" in page
    assert "| **macro avg** | {:.4f} | {:.4f} | {:.4f} | 36 |".format(*macro[:3]) in page
    assert "| **weighted avg** | {:.4f} | {:.4f} | {:.4f} | 36 |".format(*weighted[:3]) in page
    assert "As in scikit-learn (zero_division=0)" in page and "nan" not in page
    text = format_text(expl)
    assert "nan" not in text
    assert "macro avg {:9.4f} {:9.4f} {:9.4f}".format(*macro[:3]).split() == next(
        line for line in text.splitlines() if "macro avg" in line).split()[:5]


def test_a_class_neither_in_the_test_set_nor_predicted_is_named_and_left_out():
    y = np.repeat([0, 2], [5, 5])
    X = np.repeat(np.eye(3, dtype=np.float32)[[0, 2]], 5, axis=0)  # (10, 3): one-hot inputs
    expl = analyse(np.eye(3), np.zeros(3), (X, y), None, ["a", "b", "c"])
    page = render_sections(expl, {})
    assert "| b | nan | nan | nan | 0 |" in page
    assert "| **macro avg** | 1.0000 | 1.0000 | 1.0000 | 10 |" in page
    assert "Neither in the test set nor predicted, so nan and left out of the averages: b." in page


def test_a_pair_with_a_class_absent_from_the_test_set_says_so_not_nan(tmp_path):
    # data of some of the model's classes (explain --data): class 'b' predicted, never true
    W = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)  # (3, 2): a, b, c
    b = np.zeros(3, dtype=np.float32)
    X = np.array([[0, 2], [0, 3], [2, 0], [0, 1]], dtype=np.float32)  # predicted c, c, b, c
    y = np.full(4, 2)  # all 'c'
    expl = analyse(W, b, (X, y), None, ["a", "b", "c"], shape=ModelShape(("a", "b", "c"), 2))
    text = format_text(expl)
    assert "b / c" in text and "b as c 0 (no test examples), c as b 1 (25.0%)" in text
    page = render_sections(expl, {})
    assert "| b / c | 0 (no test examples of b) | 1 (25.0% of c) | 1 |" in page
    assert "nan%" not in text + page
    from softreg.jobs.explain import write_figures

    files = write_figures(expl, tmp_path, only=("confused",), shape=ModelShape(
        ("a", "b", "c"), 2, (1, 2)))  # drawn, its empty direction saying "none"
    assert files["confused"].is_file()


# -------------------------------------------------- names that are Markdown: one cell each

def _cells(row):
    """The cells of a Markdown table row as GitHub splits them: at each ``|`` that no
    backslash escapes (``\\\\`` is an escaped backslash, ``\\|`` a pipe in the cell)."""
    cells, cell, i = [], "", 0
    text = row.strip()[1:-1] if row.strip().endswith("|") else row.strip()[1:]
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cell += text[i:i + 2]
            i += 2
            continue
        if text[i] == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += text[i]
        i += 1
    return [*cells, cell.strip()]


def _tables(page):
    """Each Markdown table of ``page`` as (header cells, [row cells, ...])."""
    lines, tables, i = page.splitlines(), [], 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            head, rows = _cells(lines[i]), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append((head, rows))
        else:
            i += 1
    return tables


def _unescaped(cell):
    return cell.replace("\\|", "|").replace("\\`", "`").replace("\\\\", "\\")


PIPE_NAMES = ("x|y", "a\\|b", "c```d")


def test_names_holding_pipes_stay_in_one_cell_of_every_table(tmp_path):
    """A class or feature named ``x|y`` split its rows into more cells than the header (its
    numbers a column to the right) in report.md's and explain.md's tables."""
    rng = np.random.default_rng(1)
    rows = ["f|1,f2\\,label"] + [f"{rng.normal() + i % 3:.4f},{rng.normal():.4f},"
                                  f"{PIPE_NAMES[i % 3]}" for i in range(60)]
    (tmp_path / "pipe.csv").write_text("\n".join(rows) + "\n")
    run = _train(tmp_path / "run", "--data", f"csv:{tmp_path / 'pipe.csv'}")
    assert main(["explain", str(run), "--no-figures", "--out", str(tmp_path / "ex")]) == 0
    for page in ((run / "report.md").read_text(), (tmp_path / "ex" / "explain.md").read_text()):
        tables = _tables(page)
        assert len(tables) >= 4
        for head, body in tables:
            assert all(len(cells) == len(head) for cells in body), (head, body)
        first = {_unescaped(cells[0]) for _, body in tables for cells in body}
        assert set(PIPE_NAMES) <= first, first  # each name whole, in its row's first cell
    page = (tmp_path / "ex" / "explain.md").read_text()
    coefficients = page[page.index("## Largest coefficients"):]
    assert "f\\|1 " in coefficients and "f2\\\\ " in coefficients
    # the confusion matrix's code block: a fence longer than the name's run of backticks
    report = (run / "report.md").read_text()
    block = report[report.index("## Confusion matrix"):].split("\n\n")[1].splitlines()
    assert block[0] == block[-1] == "````" and "c```d" in "\n".join(block[1:-1])


def test_markdown_cells_escape_what_would_end_or_split_them():
    from softreg.safety.textsafe import markdown_cell

    assert markdown_cell("T-shirt/top") == "T-shirt/top"
    assert markdown_cell("x|y") == "x\\|y"
    assert markdown_cell("a\\|b") == "a\\\\\\|b"  # the backslash is the name's, not an escape
    assert markdown_cell("c`d`") == "c\\`d\\`"
    assert markdown_cell("two\nlines\r") == "two\\x0alines\\x0d"  # one row, escaped as printed
    # emphasis, a link and raw HTML would change what the page shows; an inner _ would not
    assert markdown_cell("odd<b>*x*[y](z)") == "odd\\<b\\>\\*x\\*\\[y\\](z)"
    assert markdown_cell("ankle_boot") == "ankle_boot"
    assert _cells("| " + markdown_cell("a\\|b") + " | 1 |") == ["a\\\\\\|b", "1"]
