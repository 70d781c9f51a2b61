"""The framework registry: its entries point at real code, and what derives from it is right."""

import dataclasses
import importlib
import importlib.util
import types

import pytest

from conftest import need
from softreg.backends import get_packed_backend
from softreg.backends.one_at_a_time import OneAtATime
from softreg.core import frameworks
from softreg.core import optional as _optional
from softreg.core.errors import ConfigError
from softreg.core.frameworks import (
    DEVICES,
    FRAMEWORK_ALIASES,
    FRAMEWORKS,
    TABLE,
    canonical_framework,
    check_device,
    get_framework,
)


@pytest.mark.parametrize("fw", TABLE, ids=FRAMEWORKS)
def test_each_entry_names_modules_that_exist(fw):
    # Backend modules import their framework only when a backend is created.
    assert callable(importlib.import_module(fw.backend).create_backend)
    if fw.facade is not None:  # found, not imported: a facade imports its framework
        assert importlib.util.find_spec(fw.facade) is not None, fw.facade
    if fw.importer is not None:
        module, function = fw.importer.split(":")
        assert callable(getattr(importlib.import_module(module), function))
    assert set(fw.devices) <= set(DEVICES) and {"auto", "cpu"} <= set(fw.devices)


def test_names_and_aliases_are_unique_and_map_to_their_entry():
    names = [name for fw in TABLE for name in (fw.name, *fw.aliases)]
    assert len(names) == len(set(names)) == len(FRAMEWORK_ALIASES)
    assert canonical_framework(" Keras ") == "tensorflow"
    assert get_framework("gluon").title == "MXNet"
    with pytest.raises(ConfigError, match=r"^unknown framework 'caffe'; choose one of: gluon, "
                       r"keras, mx, mxnet, np, numpy, pytorch, tensorflow, tf, torch$"):
        get_framework("caffe")


def test_cli_help_and_install_hints_come_from_the_table():
    assert frameworks.help_text() == "torch | tensorflow (tf) | mxnet (gluon) | numpy"
    assert [_optional.install_hint(fw.module) for fw in TABLE if fw.extra] == [
        "pip install 'softreg[torch]'", "pip install 'softreg[tensorflow]'",
        "pip install 'softreg[mxnet]'"]


def test_packed_flag_matches_the_backend(monkeypatch):
    assert get_framework("numpy").packed
    assert not isinstance(get_packed_backend("numpy", "cpu"), OneAtATime)
    # An entry without the flag trains packs one model at a time, whatever its backend can do.
    entry = frameworks._BY_NAME["numpy"]
    monkeypatch.setitem(frameworks._BY_NAME, "numpy", dataclasses.replace(entry, packed=False))
    assert isinstance(get_packed_backend("numpy", "cpu"), OneAtATime)


def test_torch_packed_flag_matches_its_backend():
    need("torch")
    assert get_framework("torch").packed
    assert not isinstance(get_packed_backend("torch", "cpu"), OneAtATime)


@pytest.mark.parametrize(
    ("framework", "device", "gpu", "message"),
    [
        ("numpy", "cuda", False, r"^device 'cuda' is not available with the numpy framework: "
         r"NumPy runs on the CPU only; use --device cpu \(or auto\), or pick --framework torch "
         r"for a GPU$"),
        ("np", "tpu", False, r"^unknown device 'tpu'; choose one of: auto, cpu, cuda$"),
        ("mx", "cuda", False, r"^CUDA was requested but MXNet sees no CUDA GPU on this machine; "
         r"use --device cpu \(or --device auto\)$"),
    ],
)
def test_device_check_refuses_with_the_frameworks_title(framework, device, gpu, message):
    with pytest.raises(ConfigError, match=message):
        check_device(framework, device, gpu)


@pytest.mark.parametrize(
    ("framework", "device", "gpu", "resolved"),
    [("torch", "auto", True, "cuda"), ("torch", "auto", False, "cpu"),
     ("numpy", "auto", True, "cpu"), ("tf", "cuda", True, "cuda"), ("mxnet", "cpu", True, "cpu")],
)
def test_device_check_resolves_auto(framework, device, gpu, resolved):
    assert check_device(framework, device, gpu) == resolved


def test_import_framework_uses_the_entrys_importer(monkeypatch):
    import softreg.backends._tf as tf_helpers

    fake = types.ModuleType("tensorflow")
    monkeypatch.setattr(tf_helpers, "import_tensorflow", lambda: fake)
    assert _optional.import_framework("keras") is fake
    with pytest.raises(ConfigError, match=r"^unknown framework 'jax'"):
        _optional.import_framework("jax")
