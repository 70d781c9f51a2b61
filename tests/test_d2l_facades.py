"""Every d2l facade defines the one list of d2l names, and exports exactly those."""

import importlib

import pytest

from conftest import need
from softreg.d2l import D2L_NAMES

FACADES = [
    pytest.param("torch", marks=pytest.mark.torch),
    pytest.param("tensorflow", marks=pytest.mark.tensorflow),
    pytest.param("mxnet", marks=pytest.mark.mxnet),
]


def test_the_list_names_each_name_once():
    assert len(set(D2L_NAMES)) == len(D2L_NAMES)
    assert {"train_ch3", "load_data_fashion_mnist", "Accumulator"} <= set(D2L_NAMES)


@pytest.mark.parametrize("framework", FACADES)
def test_facade_defines_every_d2l_name(framework, monkeypatch):
    need(framework)
    from softreg.d2l import plotting

    # d2l.plt would arrange for open pyplot figures to be saved when this process ends
    at_exit: list[object] = []
    monkeypatch.setattr(plotting.atexit, "register", at_exit.append)
    monkeypatch.setattr(plotting, "_saver_registered", False)
    facade = importlib.import_module(f"softreg.{framework}")
    assert list(facade.__all__) == list(D2L_NAMES)
    missing = [name for name in D2L_NAMES if not hasattr(facade, name)]
    assert missing == [], f"softreg.{framework} lacks {missing}"
    values = {"DATA_HUB", "DATA_URL", "float32", "int32", "plt"}  # data, dtypes, a module
    assert [n for n in D2L_NAMES if n not in values and not callable(getattr(facade, n))] == []
    star: dict[str, object] = {}
    exec(f"from softreg.{framework} import *", star)  # what a notebook does
    assert sorted(k for k in star if k != "__builtins__") == sorted(D2L_NAMES)
    # a later chapter's name says what the module has (it was Python's bare message)
    with pytest.raises(AttributeError, match=r"has no attribute 'try_gpu': softreg's d2l module "
                                             r"has the names of d2l 0\.17's chapters 3 and 4"):
        facade.try_gpu  # noqa: B018
