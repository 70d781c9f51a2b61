"""ECE, NLL and temperature scaling on small fixed examples; calibration.json checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from softreg.core.errors import ConfigError
from softreg.explain.calibration import (
    FORMAT,
    calibrate,
    expected_calibration_error,
    fit_temperature,
    golden_section,
    load_temperature,
    model_digest,
    negative_log_likelihood,
    refit_elsewhere,
    reliability,
)

# Five predictions, worked out by hand with 15 bins of width 1/15:
#   conf 0.90 right, 0.92 right -> bin 13 (0.8667, 0.9333]: accuracy 1, confidence 0.91
#   conf 0.80 wrong             -> bin 11 (0.7333, 0.8000]: accuracy 0, confidence 0.80
#   conf 0.60 wrong, 0.55 right -> bin 8  (0.5333, 0.6000]: accuracy 0.5, confidence 0.575
# ECE = (2 * 0.09 + 1 * 0.80 + 2 * 0.075) / 5 = 1.13 / 5 = 0.226
PROBS = np.array([[0.90, 0.05, 0.05], [0.92, 0.04, 0.04], [0.10, 0.80, 0.10],
                  [0.60, 0.30, 0.10], [0.55, 0.45, 0.00]])
LABELS = np.array([0, 0, 0, 1, 0])


def test_ece_matches_the_hand_computed_value():
    assert expected_calibration_error(PROBS, LABELS) == pytest.approx(0.226, abs=1e-12)
    rel = reliability(PROBS, LABELS)
    assert rel.counts.tolist() == [0] * 8 + [2, 0, 0, 1, 0, 2, 0]
    assert rel.accuracy[8] == 0.5 and rel.confidence[8] == pytest.approx(0.575)
    assert np.isnan(rel.accuracy[0]) and np.isnan(rel.confidence[14])


def test_a_confidence_on_an_edge_belongs_to_the_bin_below():
    uniform = np.full((1, 5), 0.2)  # conf exactly 3/15
    assert reliability(uniform, [0]).counts[2] == 1
    sure = np.array([[1.0, 0.0]])
    rel = reliability(sure, [0])
    assert rel.counts[14] == 1 and rel.ece == 0.0


def test_ece_with_other_bin_counts():
    # one bin: |mean accuracy - mean confidence| = |3/5 - 0.754|
    assert expected_calibration_error(PROBS, LABELS, n_bins=1) == pytest.approx(0.154)


@pytest.mark.parametrize(("probs", "labels", "message"), [
    (np.zeros((0, 3)), np.zeros(0, int), r"non-empty \(N, classes\) array, got shape \(0, 3\)"),
    (PROBS, LABELS[:3], r"labels must be 5 integers \(one per row\), got shape \(3,\)"),
    (PROBS, LABELS.astype(float), "dtype float64"),
])
def test_reliability_refuses_bad_inputs(probs, labels, message):
    with pytest.raises(ConfigError, match=message):
        reliability(probs, labels)


def test_reliability_refuses_a_bad_bin_count():
    with pytest.raises(ConfigError, match="n_bins must be an integer >= 1, got 0"):
        reliability(PROBS, LABELS, n_bins=0)


def test_nll_from_logits_with_and_without_temperature():
    logits = np.array([[0.0, 0.0], [2.0, 0.0]])
    expected = (math.log(2) + math.log1p(math.exp(-2.0))) / 2
    assert negative_log_likelihood(logits, [0, 0]) == pytest.approx(expected, rel=1e-12)
    halved = (math.log(2) + math.log1p(math.exp(-1.0))) / 2
    assert negative_log_likelihood(logits, [0, 0], temperature=2.0) == pytest.approx(halved)


def test_golden_section_finds_the_minimum_of_a_parabola():
    assert golden_section(lambda x: (x - 0.3) ** 2, -2.0, 5.0, tol=1e-9) == pytest.approx(
        0.3, abs=1e-8)


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(20000, 10))  # calibrated logits
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (rng.random((len(z), 1)) > np.cumsum(p, axis=1)).sum(axis=1)  # y ~ softmax(z)
    fitted = fit_temperature(z * true_t, labels)  # logits made too sharp or too flat
    assert fitted == pytest.approx(true_t, rel=0.03)
    assert negative_log_likelihood(z * true_t, labels, fitted) <= negative_log_likelihood(
        z * true_t, labels, true_t) + 1e-9


def test_a_temperature_at_the_search_s_bound_is_said_to_be_one():
    """Logits 100 times too flat: the NLL's minimum lies below the range's 0.05, and the
    fitted 0.05 was reported as the minimum."""
    from softreg.explain.analysis import analyse
    from softreg.explain.report import calibration_sentence

    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 2)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(np.int64)  # noisy: a finite best T
    W = np.array([[-0.01, 0.0], [0.01, 0.0]], np.float32)  # (classes, features): very unsure
    expl = analyse(W, np.zeros(2, np.float32), (X[:200], y[:200]), (X[200:], y[200:]),
                   ["no", "yes"])
    assert expl.calibration.temperature == pytest.approx(0.05, rel=1e-6)
    assert any("stopped at the bound 0.05 of the range searched" in n for n in expl.notes)
    assert "not the NLL's minimum" in calibration_sentence(expl)
    fine = analyse(W * 50, np.zeros(2, np.float32), (X[:200], y[:200]), (X[200:], y[200:]),
                   ["no", "yes"])
    assert not fine.notes  # a minimum inside the range: no note


def test_fit_temperature_refuses_bad_bounds():
    with pytest.raises(ConfigError, match=r"0 < low < high, got \(2.0, 1.0\)"):
        fit_temperature(PROBS, LABELS, bounds=(2.0, 1.0))


def test_calibrate_without_validation_has_no_temperature():
    logits = np.log(PROBS + 1e-12)
    cal, before, after = calibrate(logits, LABELS)
    assert cal.temperature is None and after is None and cal.test_size == 5
    assert cal.test_ece == pytest.approx(before.ece) and cal.test_ece == pytest.approx(0.226)
    cal2, _, after2 = calibrate(logits, LABELS, (logits, LABELS))
    assert cal2.temperature is not None and after2 is not None and cal2.val_size == 5
    assert cal2.test_nll_scaled <= cal2.test_nll  # fitted on the same images here


W = np.ones((10, 784), np.float32)
B = np.zeros(10, np.float32)


def _write(path, **over):
    doc = {"format": FORMAT, "temperature": 1.5, "model_sha256": model_digest(W, B),
           "model_file": "checkpoint.safetensors", "model_epoch": 3}
    doc.update(over)
    path.write_text(json.dumps(doc))
    return str(path)


def test_load_temperature_reads_the_temperature_of_these_weights(tmp_path):
    assert load_temperature(_write(tmp_path / "c.json"), W, B) == 1.5


@pytest.mark.parametrize(("over", "message"), [
    ({"temperature": None}, "no temperature in .*: the run has no validation split; run "
                            "'softreg explain RUN' on a run trained with a validation split"),
    ({"model_sha256": "0" * 64}, r"was fitted for other weights than this checkpoint's \(model "
                                 r"'checkpoint.safetensors', epoch 3\)"),
    ({"format": "x"}, "is not a softreg calibration file"),
    ({"temperature": -1.0}, "temperature must be a number in \\[0.05, 20.0\\], got -1.0"),
])
def test_load_temperature_refusals(tmp_path, over, message):
    with pytest.raises(ConfigError, match=message):
        load_temperature(_write(tmp_path / "c.json", **over), W, B)


@pytest.mark.parametrize("over", [{"model_sha256": "0" * 64}, {"temperature": 99.0}])
def test_load_temperature_names_the_command_that_fits_these_weights(tmp_path, over):
    """A run's checkpoint that is not its final model: 'softreg explain RUN' would fit the
    final model's temperature again, so the refusal names the one for this file."""
    path = _write(tmp_path / "c.json", **over)
    with pytest.raises(ConfigError) as got:
        load_temperature(path, W, B, refit_elsewhere("my run/checkpoint.safetensors"))
    assert str(got.value).endswith(
        "; run 'softreg explain 'my run/checkpoint.safetensors' --out DIR' to fit one for "
        "these weights, then predict with --calibrated --calibration DIR/calibration.json")
    with pytest.raises(ConfigError, match=r"; run 'softreg explain RUN' again to refit it$"):
        load_temperature(path, W, B)  # a run's final model: its run is explained again


def test_load_temperature_missing_or_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"no temperature: .* does not exist; run 'softreg "
                                          r"explain RUN'"):
        load_temperature(str(tmp_path / "none.json"), W, B)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match=r"calibration file .* is not valid JSON"):
        load_temperature(str(tmp_path / "bad.json"), W, B)


def test_model_digest_changes_with_any_weight():
    W2 = W.copy()
    W2[9, 783] = 1.0000001
    assert model_digest(W, B) != model_digest(W2, B)
    assert model_digest(W, B) == model_digest(W.astype(np.float64), B)
