"""The data fingerprint: taken from the hashes a loader verified, computed otherwise, the same.

A verified Fashion-MNIST load already hashed every array against the table; the fingerprint
takes those hashes with the arrays (``VerifiedPair``) instead of hashing 55 MB again. A loader
that verified nothing (a test's fake, another source) leads to hashing, so a fingerprint never
claims files whose content it did not see.
"""

from __future__ import annotations

import copy
import hashlib
import pickle

import numpy as np
import pytest
from idxfiles import idx_bytes, isolate, tiny_arrays, tiny_specs, write_tiny

import softreg.data
from softreg.data import dataset, fashion, load
from softreg.data.dataset import VerifiedPair, fingerprint, part_digest


@pytest.fixture()
def hashed(monkeypatch):
    """Count the dataset parts hashed for a fingerprint."""
    calls: list[tuple[int, ...]] = []
    real = dataset.part_digest

    def counting(a):
        calls.append(np.shape(a))
        return real(a)

    monkeypatch.setattr(dataset, "part_digest", counting)
    return calls


def test_uint8_parts_hash_as_the_idx_file_that_holds_them():
    images, labels = tiny_arrays("train")
    assert part_digest(images) == hashlib.sha256(idx_bytes(images, "images")).hexdigest()
    assert part_digest(labels) == hashlib.sha256(idx_bytes(labels, "labels")).hexdigest()
    # labels as checked() keeps them (int64) are the same labels
    assert part_digest(labels.astype(np.int64)) == part_digest(labels)
    # a table's numbers are hashed with their dtype: 1.0 is not the byte 1
    assert part_digest(labels.astype(np.float32)) != part_digest(labels)
    assert part_digest(np.array([0, 300])) != part_digest(np.array([0, 44]))  # not wrapped


def test_a_verified_load_hashes_nothing_and_gives_the_hashed_fingerprint(
        monkeypatch, tmp_path, hashed):
    places = isolate(monkeypatch, tmp_path)
    write_tiny(places["system"])
    ds = load("fashion-mnist", offline=True)
    assert hashed == []  # the four parts' hashes came from the verified load
    xtr, ytr = tiny_arrays("train")
    xte, yte = tiny_arrays("test")
    assert ds.fingerprint == fingerprint(xtr.copy(), ytr.copy(), xte.copy(), yte.copy())
    assert len(hashed) == 4  # the check above hashed the copies: the same fingerprint
    pair = softreg.data.load_fashion_mnist("test", offline=True)
    images, labels = pair  # still unpacks as (images, labels)
    assert isinstance(pair, VerifiedPair) and images.shape == (10, 28, 28)
    assert pair.sha256 == tuple(s.sha256 for s in tiny_specs() if s.split == "test")
    assert not images.flags.writeable and not labels.flags.writeable
    again = pickle.loads(pickle.dumps(pair))  # e.g. sent to a worker process
    assert isinstance(again, VerifiedPair) and again.sha256 == pair.sha256
    assert np.array_equal(again[0], images) and copy.copy(pair).sha256 == pair.sha256


def test_a_cached_load_also_takes_the_verified_hashes(monkeypatch, tmp_path, hashed):
    places = isolate(monkeypatch, tmp_path)
    write_tiny(places["system"])
    first = load("fashion-mnist", offline=True)  # decodes and stores the cache
    again = load("fashion-mnist", offline=True)  # maps the cache (re-hashed against the table)
    assert hashed == [] and again.fingerprint == first.fingerprint


def test_a_fake_loader_is_hashed_and_does_not_claim_the_real_files(fake_fashion, hashed):
    ds = load("fashion-mnist", offline=True)
    assert len(hashed) == 4  # nothing verified: every part hashed
    (xtr, ytr), (xte, yte) = fake_fashion["train"], fake_fashion["test"]
    assert ds.fingerprint == fingerprint(xtr, ytr, xte, yte)
    claimed = fingerprint(xtr, ytr, xte, yte, digests=[f.sha256 for f in fashion.FILES])
    assert ds.fingerprint != claimed


def test_a_loader_returning_a_plain_pair_of_verified_arrays_is_hashed(monkeypatch, tmp_path,
                                                                      hashed):
    places = isolate(monkeypatch, tmp_path)
    write_tiny(places["system"])
    real = softreg.data.load_fashion_mnist

    def first_rows(split="train", data_dir=None, offline=False):
        images, labels = real(split, data_dir, offline)
        return images[:10], labels[:10]  # other arrays than the verified ones

    monkeypatch.setattr(softreg.data, "load_fashion_mnist", first_rows)
    ds = load("fashion-mnist", offline=True)
    assert len(hashed) == 4
    xtr, ytr = tiny_arrays("train")
    xte, yte = tiny_arrays("test")
    assert ds.fingerprint == fingerprint(xtr[:10], ytr[:10], xte[:10], yte[:10])


def test_fingerprint_refuses_a_digest_count_that_does_not_match():
    with pytest.raises(ValueError, match=r"one digest \(or None\) per array: 2 arrays, 1 digests"):
        fingerprint(np.zeros(2, np.uint8), np.zeros(2, np.uint8), digests=["x"])


@pytest.mark.realdata
def test_the_real_data_fingerprint_is_that_of_its_content(real_data, hashed):
    ds = load("fashion-mnist", offline=True)
    assert hashed == []
    assert ds.fingerprint == fingerprint(*(np.array(a) for a in real_data))
