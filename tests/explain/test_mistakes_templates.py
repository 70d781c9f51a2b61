"""Confused pairs, highest-loss images and weight templates on small fixed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softreg.core.errors import ConfigError
from softreg.explain.mistakes import confused_pairs, examples, highest_loss, score
from softreg.explain.templates import symmetric_scale, templates

CM = np.array([[8, 2, 0, 0],
               [5, 5, 0, 0],
               [0, 3, 7, 1],
               [0, 0, 0, 0]])


def test_confused_pairs_count_both_directions_with_rates():
    pairs = confused_pairs(CM, k=10)
    assert [(p.a, p.b, p.a_as_b, p.b_as_a) for p in pairs] == [(0, 1, 2, 5), (1, 2, 0, 3),
                                                                (2, 3, 1, 0)]
    first = pairs[0]
    assert first.total == 7 and first.a_rate == pytest.approx(0.2)
    assert first.b_rate == pytest.approx(0.5)
    assert math.isnan(pairs[2].b_rate)  # class 3 has no test image
    assert len(confused_pairs(CM, k=1)) == 1


def test_confused_pairs_break_ties_by_class_index():
    cm = np.eye(3, dtype=np.int64) * 5
    cm[2, 1] = cm[0, 2] = 1
    assert [(p.a, p.b) for p in confused_pairs(cm)] == [(0, 2), (1, 2)]


LOGITS = np.array([[2.0, 0.0, 0.0],   # right
                   [0.0, 3.0, 0.0],   # 0 taken for 1, confident
                   [0.0, 1.0, 0.0],   # 0 taken for 1, less so
                   [0.0, 0.0, 5.0],   # 1 taken for 2
                   [0.0, 1.0, 1.0]])  # tie: first maximum, class 1
LABELS = np.array([0, 0, 0, 1, 1])


def test_score_gives_predictions_probabilities_and_losses():
    s = score(LOGITS, LABELS)
    assert s.pred.tolist() == [0, 1, 1, 2, 1]
    p_true_1 = 1 / (2 + math.exp(3.0))  # e^0 / (e^0 + e^3 + e^0)
    assert s.p_true[1] == pytest.approx(p_true_1) and s.loss[1] == pytest.approx(
        -math.log(p_true_1))
    assert s.p_pred[4] == pytest.approx(math.e / (1 + 2 * math.e))


def test_highest_loss_and_examples_order_by_loss():
    s = score(LOGITS, LABELS)
    assert highest_loss(s, k=2).tolist() == [3, 1]
    assert examples(s, 0, 1).tolist() == [1, 2]
    assert examples(s, 0, 1, k=1).tolist() == [1]
    assert examples(s, 2, 0).tolist() == []


def test_templates_are_the_rows_of_w_as_images():
    W = np.arange(2 * 784, dtype=np.float32).reshape(2, 784) - 700
    imgs = templates(W)
    assert imgs.shape == (2, 28, 28) and imgs[1, 0, 0] == W[1, 0] and imgs[0, 1, 0] == W[0, 28]
    assert symmetric_scale(W, percentile=100) == 867.0  # the largest |weight|, positive
    assert symmetric_scale(-np.abs(W), percentile=100) == 867.0


def test_the_template_scale_ignores_a_few_outlying_weights():
    W = np.full((10, 784), 0.5)
    W[::2, 0] = -40.0  # five border pixels of a standardised run, say
    assert symmetric_scale(W) == 0.5  # the 99.5th percentile of |W|
    spikes = np.zeros((10, 784))
    spikes[0, 0] = -3.0  # fewer than 0.5% non-zero: the largest one
    assert symmetric_scale(spikes) == 3.0
    assert symmetric_scale(np.zeros((10, 784))) == 1.0


def test_templates_refuse_a_wrong_shape():
    with pytest.raises(ConfigError, match=r"W must have shape \(classes, 784\), got \(10, 783\)"):
        templates(np.zeros((10, 783)))
