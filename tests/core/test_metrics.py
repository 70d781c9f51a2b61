import numpy as np
import pytest

from softreg.core.metrics import (
    MATRIX_CLASSES,
    TEXT_CLASSES,
    Confusion,
    class_report,
    confusion_matrix,
    format_confusion,
    per_class_accuracy,
)
from softreg.data import CLASS_NAMES


def test_confusion_matrix_counts_true_rows_predicted_columns():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    np.testing.assert_allclose(per_class_accuracy(cm), [0.5, 1.0, 0.0])

def test_format_confusion_keeps_whole_class_names_and_aligns_columns():
    cm = np.diag(np.full(10, 1000, dtype=np.int64))
    lines = format_confusion(cm, CLASS_NAMES).splitlines()
    assert len(lines) == 11
    assert lines[0].split() == " ".join(CLASS_NAMES).split()  # no name cut short
    assert lines[0].endswith("ankle boot")
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    assert lines[10].startswith("ankle boot") and lines[10].endswith("1000")

def test_confusion_matrix_refuses_mismatched_shapes():

    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(2,\)"):
        confusion_matrix(np.array([0, 1, 2]), np.array([0, 1]), 3)


def test_class_report_precision_recall_f1_and_averages():
    from softreg.core.metrics import class_report

    # true 0: 3 right, 1 taken for 1; true 1: 2 right; true 2: 1 taken for 0, never predicted
    cm = np.array([[3, 1, 0], [0, 2, 0], [1, 0, 0]])
    rep = class_report(cm)
    np.testing.assert_allclose(rep.precision, [3 / 4, 2 / 3, 0.0])  # 2 never predicted: 0
    np.testing.assert_allclose(rep.recall, [3 / 4, 1.0, 0.0])
    np.testing.assert_allclose(rep.f1, [0.75, 0.8, 0.0])  # TP = 0, FN = 1: F1 0, not NaN
    assert rep.support.tolist() == [4, 2, 1]
    assert rep.accuracy == pytest.approx(5 / 7)
    macro_p, macro_r, macro_f = rep.macro()  # every column over the same three classes
    assert macro_p == pytest.approx((0.75 + 2 / 3) / 3) and macro_r == pytest.approx(1.75 / 3)
    assert macro_f == pytest.approx(1.55 / 3)
    w_p, w_r, w_f = rep.weighted()
    assert w_p == pytest.approx((4 * 0.75 + 2 * 2 / 3) / 7) and w_r == pytest.approx(5 / 7)
    assert w_f == pytest.approx((4 * 0.75 + 2 * 0.8) / 7)


def test_class_report_f1_is_zero_when_a_class_is_predicted_but_never_right():
    from softreg.core.metrics import class_report

    rep = class_report(np.array([[0, 2], [1, 0]]))
    assert rep.f1.tolist() == [0.0, 0.0] and rep.accuracy == 0.0


def test_format_class_report_has_a_row_per_class_and_the_averages():
    from softreg.core.metrics import class_report, format_class_report

    text = format_class_report(class_report(np.diag(np.full(10, 100))), CLASS_NAMES)
    lines = text.splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "F1", "support"]
    assert len(lines) == 14 and lines[10].split()[-1] == "100"
    assert lines[11].split() == ["macro", "avg", "1.0000", "1.0000", "1.0000", "1000"]
    assert lines[13].split() == ["accuracy", "1.0000", "1000"]


# Confusion matrices cm[true, predicted] whose report must match scikit-learn's with
# zero_division=0, degenerate ones included.
SKLEARN_CASES = {
    "mixed": [[3, 1, 0], [0, 2, 0], [1, 0, 0]],  # class 2 never predicted
    "one class predicted": [[0, 0, 12], [0, 0, 14], [0, 0, 10]],
    "class absent from the test set, predicted": [[5, 1, 0], [0, 0, 0], [1, 2, 4]],
    "class absent from the test set, never predicted": [[5, 0, 1], [0, 0, 0], [2, 0, 4]],
    "perfect": [[7, 0, 0], [0, 3, 0], [0, 0, 9]],
    "always wrong": [[0, 2], [1, 0]],
    "one example": [[0, 0], [1, 0]],
}


def _sklearn_report(cm):
    """(per class, macro, weighted) from scikit-learn on the labels ``cm`` counts; per class
    only for the classes in the truth or the predictions (its default set of labels)."""
    metrics = pytest.importorskip("sklearn.metrics")
    cm = np.asarray(cm)
    pairs = [(t, p) for t in range(len(cm)) for p in range(len(cm)) for _ in range(cm[t, p])]
    y_true, y_pred = (np.array(v) for v in zip(*pairs, strict=True))
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    seen = np.union1d(y_true, y_pred)
    macro = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro",
                                                    zero_division=0)[:3]
    weighted = metrics.precision_recall_fscore_support(y_true, y_pred, average="weighted",
                                                       zero_division=0)[:3]
    return seen, (p, r, f, s), macro, weighted


@pytest.mark.parametrize("case", list(SKLEARN_CASES))
def test_class_report_matches_sklearn_with_zero_division_0(case):
    from softreg.core.metrics import class_report

    cm = np.array(SKLEARN_CASES[case], dtype=np.int64)
    seen, (p, r, f, s), macro, weighted = _sklearn_report(cm)
    rep = class_report(cm)
    np.testing.assert_allclose(rep.precision[seen], p)
    np.testing.assert_allclose(rep.recall[seen], r)
    np.testing.assert_allclose(rep.f1[seen], f)
    np.testing.assert_array_equal(rep.support[seen], s)
    np.testing.assert_allclose(rep.macro(), macro)
    np.testing.assert_allclose(rep.weighted(), weighted)
    # a class neither in the test set nor predicted has nothing to measure: NaN, not averaged
    unseen = np.setdiff1d(np.arange(len(cm)), seen)
    assert np.isnan(rep.precision[unseen]).all() and np.isnan(rep.recall[unseen]).all()
    assert np.isnan(rep.f1[unseen]).all()


def test_class_report_f1_is_zero_for_a_class_never_predicted():
    from softreg.core.metrics import class_report, format_class_report

    rep = class_report(np.array([[0, 0, 12], [0, 0, 14], [0, 0, 10]]))
    assert rep.precision.tolist()[:2] == [0.0, 0.0] and rep.f1.tolist()[:2] == [0.0, 0.0]
    f1 = 2 * (10 / 36) / (1 + 10 / 36)
    assert rep.macro() == pytest.approx((10 / 36 / 3, 1 / 3, f1 / 3))
    assert rep.weighted() == pytest.approx((10 / 36 * 10 / 36, 10 / 36, f1 * 10 / 36))
    assert "nan" not in format_class_report(rep, ["class_0", "class_1", "class_2"])


def test_confusion_counts_from_the_labels_equal_the_matrixs():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 7, 500)
    p = np.where(rng.random(500) < 0.6, t, rng.integers(0, 7, 500))
    p[t == 6] = 2  # a class never predicted right, one never predicted
    conf, cm = Confusion.of(t, p, 7), confusion_matrix(t, p, 7)
    np.testing.assert_array_equal(conf.matrix, cm)
    same = Confusion.of_matrix(cm)
    for name in ("support", "predicted", "correct", "mistakes"):
        np.testing.assert_array_equal(getattr(conf, name), getattr(same, name))
    assert sorted(map(tuple, conf.mistakes)) == [
        (i, j, int(cm[i, j])) for i in range(7) for j in range(7) if i != j and cm[i, j]]
    np.testing.assert_array_equal(conf.per_class_accuracy(), per_class_accuracy(cm))
    ours, ref = conf.report(), class_report(cm)
    for name in ("precision", "recall", "f1", "support"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(ref, name))
    assert conf.accuracy == ref.accuracy == np.trace(cm) / cm.sum()
    assert conf.text([str(i) for i in range(7)]) == format_confusion(cm, [str(i) for i in range(7)])


def test_many_classes_keep_counts_without_a_matrix():
    from softreg.explain.mistakes import confused_pairs

    n = MATRIX_CLASSES + 1  # a run may have 37,449 classes: an 11 GB matrix
    t = np.arange(n).repeat(2)
    p = t.copy()
    p[::2] = (t[::2] + 1) % n  # each class once right, once taken for the next
    conf = Confusion.of(t, p, n)
    assert conf.matrix is None and conf.accuracy == 0.5
    np.testing.assert_array_equal(conf.per_class_accuracy(), np.full(n, 0.5))
    np.testing.assert_array_equal(conf.report().precision, np.full(n, 0.5))
    assert conf.text([str(i) for i in range(n)]).startswith(
        f"(not printed for {n:,} classes, more than {TEXT_CLASSES}")
    pairs = confused_pairs(conf, 3)  # one mistake each; ties by the classes' indices
    assert [(q.a, q.b, q.a_as_b, q.b_as_a) for q in pairs] == [
        (0, 1, 1, 0), (0, n - 1, 0, 1), (1, 2, 1, 0)]
    assert pairs[1].b_rate == 0.5
    every = np.arange(TEXT_CLASSES + 1)  # a matrix, but too wide to print
    few = Confusion.of(every, every, len(every))
    assert few.matrix is not None and few.text(["x"] * len(every)).startswith("(not")


def test_confusion_refuses_labels_outside_its_classes():
    for t, p in (([0, 1, 2005], [0, 1999, 3]), ([0, 1, 5], [0, 2, -1])):
        with pytest.raises(ValueError, match=r"must be class indices 0\.\.1999, got"):
            Confusion.of(t, p, 2000)  # beyond the matrix: it miscounted, or failed later
    for bad in ([0, -0.5], [0, 2.9]):  # truncated to a class, they were counted
        with pytest.raises(ValueError, match="y_true must be whole class indices"):
            Confusion.of(bad, [0, 0], 3)
    with pytest.raises(ValueError, match=r"y_pred must be class indices 0\.\.2, got 0\.\.3"):
        confusion_matrix([0, 1], [0, 3], 3)  # it counted the pair as cm[1, 0]
    assert Confusion.of(np.array([0.0, 2.0]), [0, 2], 3).accuracy == 1.0
    empty = Confusion.of([], [], 3)
    assert empty.accuracy == 0.0 and empty.mistakes.shape == (0, 3)
