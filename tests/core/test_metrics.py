import numpy as np
import pytest

from softreg.core.metrics import confusion_matrix, format_confusion, per_class_accuracy
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
    np.testing.assert_allclose(rep.precision[:2], [3 / 4, 2 / 3])
    assert np.isnan(rep.precision[2])  # never predicted
    np.testing.assert_allclose(rep.recall, [3 / 4, 1.0, 0.0])
    np.testing.assert_allclose(rep.f1[:2], [0.75, 0.8])
    assert np.isnan(rep.f1[2]) and rep.support.tolist() == [4, 2, 1]
    assert rep.accuracy == pytest.approx(5 / 7)
    macro_p, macro_r, macro_f = rep.macro()
    assert macro_p == pytest.approx((0.75 + 2 / 3) / 2) and macro_r == pytest.approx(1.75 / 3)
    assert macro_f == pytest.approx(0.775)
    w_p, w_r, w_f = rep.weighted()
    assert w_p == pytest.approx((4 * 0.75 + 2 * 2 / 3) / 6) and w_r == pytest.approx(5 / 7)
    assert w_f == pytest.approx((4 * 0.75 + 2 * 0.8) / 6)


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
