"""Lazy imports: the one-line messages for a missing, broken or NumPy-incompatible framework."""

import importlib
import importlib.util

import numpy as np
import pytest

from softreg.core import optional as _optional
from softreg.core.errors import FrameworkUnavailableError
from softreg.core.optional import require

SEPARATE_ENV = ".venv-mxnet/bin/pip install 'numpy==1.23.5' 'softreg[mxnet]'"


def _fail_import(monkeypatch, exc, numpy_version="2.4.0"):
    def fake(name):
        raise exc

    monkeypatch.setattr(importlib, "import_module", fake)
    monkeypatch.setattr(np, "__version__", numpy_version)


def test_missing_framework_names_the_extra(monkeypatch):
    _fail_import(monkeypatch, ImportError("No module named 'torch'"))
    with pytest.raises(FrameworkUnavailableError, match=r"PyTorch is not installed \(No module "
                       r"named 'torch'\); install it with: pip install 'softreg\[torch\]'"):
        require("torch")


def test_broken_framework_says_reinstall(monkeypatch):
    _fail_import(monkeypatch, OSError("libfoo.so: cannot open shared object file"))
    with pytest.raises(FrameworkUnavailableError, match=r"TensorFlow is installed but broken: "
                       r"importing it raised OSError\('libfoo.so.*reinstall it with: "
                       r"pip install 'softreg\[tensorflow\]'"):
        require("tensorflow")


@pytest.mark.parametrize("exc", [
    AttributeError("`np.PZERO` was removed in the NumPy 2.0 release. Use `0.0` instead."),
    AttributeError("module 'numpy' has no attribute 'bool'"),
    ModuleNotFoundError("No module named 'six'", name="six"),  # installed, a part missing
])
def test_mxnet_beside_new_numpy_points_to_a_separate_environment(monkeypatch, exc):
    _fail_import(monkeypatch, exc, "2.4.0")
    with pytest.raises(FrameworkUnavailableError) as info:
        require("mxnet")
    msg = str(info.value)
    assert msg.startswith("MXNet 1.9.1 cannot import with numpy 2.4.0")
    assert "it needs numpy < 1.24" in msg and msg.endswith(SEPARATE_ENV)


def test_mxnet_not_installed_beside_new_numpy_says_so_and_how_to_install_it(monkeypatch):
    # what Python raises for an absent package; never a plain `pip install` into this env
    _fail_import(monkeypatch, ModuleNotFoundError("No module named 'mxnet'", name="mxnet"),
                 "2.4.0")
    with pytest.raises(FrameworkUnavailableError) as info:
        require("mxnet")
    msg = str(info.value)
    assert msg.startswith("MXNet is not installed (No module named 'mxnet'); MXNet 1.9.1 needs "
                          "numpy < 1.24 and this environment has numpy 2.4.0, so install it in "
                          "an environment of its own: python -m venv .venv-mxnet && ")
    assert msg.endswith(SEPARATE_ENV) and "cannot import" not in msg


def test_mxnet_absent_from_this_environment_is_reported_as_absent():
    if importlib.util.find_spec("mxnet") is not None:
        pytest.skip("MXNet is installed here (the absent case is faked above)")
    with pytest.raises(FrameworkUnavailableError, match=r"^MXNet is not installed \(No module "
                       r"named 'mxnet'\)"):
        require("mxnet")


def test_mxnet_missing_beside_old_numpy_is_a_plain_install(monkeypatch):
    _fail_import(monkeypatch, ImportError("No module named 'mxnet'"), "1.23.5")
    with pytest.raises(FrameworkUnavailableError, match=r"MXNet is not installed .*"
                       r"pip install 'softreg\[mxnet\]'$"):
        require("mxnet")
    assert _optional.install_hint("matplotlib") == "pip install 'softreg[plot]'"


def test_missing_ray_names_its_extra(monkeypatch):
    _fail_import(monkeypatch, ImportError("No module named 'ray'"))
    with pytest.raises(FrameworkUnavailableError, match=r"^Ray is not installed \(No module "
                       r"named 'ray'\); install it with: pip install 'softreg\[ray\]'$"):
        require("ray")


def _freeze_after(code):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return proc.stdout.split()


FROZEN = ("import gc, sys\n"
          "from softreg import _optional\n"
          "{open}_optional.import_framework('torch')\n"
          "print(gc.get_freeze_count(), gc.isenabled(), 'torch' in sys.modules)\n")


def test_the_command_lines_process_freezes_a_frameworks_import():
    from conftest import need

    need("torch")
    frozen, enabled, imported = _freeze_after(
        FROZEN.format(open="with _optional.own_process():\n    "))
    assert int(frozen) > 50_000 and enabled == "True" and imported == "True"


@pytest.mark.slow
def test_a_library_callers_process_is_left_as_it_is():
    from conftest import need

    need("torch")
    frozen, enabled, imported = _freeze_after(FROZEN.format(open=""))
    assert (frozen, enabled, imported) == ("0", "True", "True")


def test_softreg_train_runs_in_its_own_process(fake_fashion, monkeypatch, tmp_path):
    from conftest import need
    from softreg.cli import main

    need("torch")
    seen = []
    real = _optional.import_framework

    def spy(name):
        seen.append((name, _optional._OWN_PROCESS.get()))
        return real(name)

    monkeypatch.setattr("softreg.backends.torch_backend.import_framework", spy)
    assert main(["train", "--framework", "torch", "--epochs", "1", "--no-figures", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    assert seen == [("torch", True)]
    assert _optional._OWN_PROCESS.get() is False  # only while the command runs
