"""Shared fixtures.

Environment switches used by CI:
* ``SOFTREG_REQUIRE=torch,tensorflow,data,mpmath`` turns "not installed" skips for those names into
  failures, so a missing framework or missing dataset fails CI instead of silently skipping.
"""

from __future__ import annotations

import importlib
import os
import signal

import numpy as np
import pytest

# A shell without job control starts a background command (`make test &`, nohup, a CI step
# in the background) with SIGINT ignored, and every child inherits that: the Ctrl-C tests'
# subprocesses would never see their interrupt. Python code run here takes Ctrl-C as usual,
# so the children start with the default disposition.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _required() -> set[str]:
    return {s.strip() for s in os.environ.get("SOFTREG_REQUIRE", "").split(",") if s.strip()}


def need(name: str, module: str | None = None):
    """Import a framework for a test, skipping (or failing under SOFTREG_REQUIRE) if absent."""
    if name == "tensorflow":  # as softreg imports it: Triton first (see load_triton_first)
        from softreg.backends._tf import load_triton_first

        load_triton_first()
    try:
        return importlib.import_module(module or name)
    except Exception as exc:  # MXNet raises AttributeError on new numpy
        if name in _required():
            pytest.fail(f"{name} is required here (SOFTREG_REQUIRE) but cannot be imported: {exc}")
        pytest.skip(f"{name} not available: {exc}", allow_module_level=True)


@pytest.fixture(scope="session")
def real_data():
    """The real Fashion-MNIST splits as (Xtr, ytr, Xte, yte) uint8 arrays, or skip."""
    from softreg.data import load_fashion_mnist

    try:
        xtr, ytr = load_fashion_mnist("train", offline=True)
        xte, yte = load_fashion_mnist("test", offline=True)
    except Exception as exc:
        if "data" in _required():
            pytest.fail(f"real Fashion-MNIST required (SOFTREG_REQUIRE=data), not loadable: {exc}")
        pytest.skip(f"real Fashion-MNIST not available: {exc}")
    return xtr, ytr, xte, yte


@pytest.fixture()
def tiny_data():
    """A small seeded, learnable dataset shaped like Fashion-MNIST: (X uint8 (N,28,28), y)."""
    rng = np.random.default_rng(1234)
    n = 600
    y = np.arange(n) % 10
    protos = rng.integers(0, 256, size=(10, 28, 28))
    noise = rng.integers(-40, 41, size=(n, 28, 28))
    x = np.clip(protos[y] + noise, 0, 255).astype(np.uint8)
    return x, y.astype(np.uint8)


@pytest.fixture()
def fake_fashion(monkeypatch, tiny_data):
    """Make ``softreg.data.load_fashion_mnist`` return synthetic splits (600 train, 200 test)."""
    import softreg.data

    x, y = tiny_data
    splits = {"train": (x, y), "test": (x[:200], y[:200])}

    def fake_load(split="train", data_dir=None, offline=False):
        return splits[split]

    monkeypatch.setattr(softreg.data, "load_fashion_mnist", fake_load)
    return splits


@pytest.fixture()
def noisy_fashion(monkeypatch):
    """Synthetic splits with 40% random training labels: the validation loss soon rises."""
    import softreg.data

    rng = np.random.default_rng(5)
    y = np.arange(600) % 10
    protos = rng.integers(0, 256, size=(10, 28, 28))
    x = np.clip(protos[y] + rng.integers(-40, 41, size=(600, 28, 28)), 0, 255).astype(np.uint8)
    noisy = y.copy()
    flip = rng.random(600) < 0.4
    noisy[flip] = rng.integers(0, 10, flip.sum())
    splits = {"train": (x, noisy.astype(np.uint8)), "test": (x[:200], y[:200].astype(np.uint8))}
    monkeypatch.setattr(softreg.data, "load_fashion_mnist",
                        lambda split="train", data_dir=None, offline=False: splits[split])
