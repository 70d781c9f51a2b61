import numpy as np
import pytest

from softreg.data import CLASS_NAMES
from softreg.metrics import confusion_matrix, format_confusion, per_class_accuracy


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
