"""train_val_split: a seeded, stratified, sorted partition, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from softreg.core.errors import ConfigError
from softreg.data import train_val_split

LABELS = np.repeat(np.arange(10), [50, 40, 30, 60, 50, 50, 20, 50, 50, 100])
np.random.default_rng(3).shuffle(LABELS)


def test_split_is_a_sorted_int64_partition():
    tr, va = train_val_split(LABELS, 0.2, seed=0)
    assert tr.dtype == np.int64 and va.dtype == np.int64
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(va) > 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(LABELS.size))


def test_split_is_stratified_per_class():
    _, va = train_val_split(LABELS, 0.2, seed=0)
    per_class = np.bincount(LABELS[va], minlength=10)
    expected = np.round(0.2 * np.bincount(LABELS)).astype(int)
    np.testing.assert_array_equal(per_class, expected)


def test_same_seed_same_split_other_seed_other_split():
    a = train_val_split(LABELS, 0.25, seed=7)
    b = train_val_split(list(LABELS), 0.25, seed=7)
    c = train_val_split(LABELS, 0.25, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_split_does_not_depend_on_label_dtype():
    a = train_val_split(LABELS.astype(np.uint8), 0.1, seed=1)
    b = train_val_split(LABELS.astype(np.int64), 0.1, seed=1)
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), "0.1", True,
                                      None])
def test_fraction_outside_open_interval_is_refused(fraction):
    with pytest.raises(ConfigError, match="val_fraction must be a number strictly between 0 "
                       f"and 1, got {fraction!r}"):
        train_val_split(LABELS, fraction, seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ConfigError, match=f"seed must be a non-negative integer, got {seed!r}"):
        train_val_split(LABELS, 0.1, seed=seed)


@pytest.mark.parametrize(("labels", "message"), [
    (np.zeros((4, 2), int), r"labels must be a non-empty 1-d array, got shape \(4, 2\)"),
    (np.array([], int), r"labels must be a non-empty 1-d array, got shape \(0,\)"),
    (np.array([0.0, 1.0]), "labels must be integers, got dtype float64"),
])
def test_bad_labels_are_refused(labels, message):
    with pytest.raises(ConfigError, match=message):
        train_val_split(labels, 0.5, seed=0)


def test_fraction_that_empties_a_part_is_refused():
    with pytest.raises(ConfigError, match=r"val_fraction 0\.01 of 10 labels leaves the validation "
                       "part empty"):
        train_val_split(np.arange(10), 0.01, seed=0)
    with pytest.raises(ConfigError, match=r"val_fraction 0\.99 of 10 labels leaves the training "
                       "part empty"):
        train_val_split(np.arange(10) % 2, 0.99, seed=0)


def test_the_errors_name_the_flag_and_the_part_given():
    with pytest.raises(ConfigError, match=r"^--test-split 0\.01 of 10 labels leaves the test "
                       "part empty"):
        train_val_split(np.arange(10), 0.01, seed=0, name="--test-split", held_out="test")
    with pytest.raises(ConfigError, match=r"^--test-split 0\.99 of 10 labels leaves the training "
                       "part empty"):
        train_val_split(np.arange(10) % 2, 0.99, seed=0, name="--test-split", held_out="test")
    with pytest.raises(ConfigError, match=r"^--val-split must be a number strictly between"):
        train_val_split(np.arange(10), 1.5, seed=0, name="--val-split")
