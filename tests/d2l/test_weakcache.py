"""The compile cache behind the facades: reuse per object, weak hold, least-recently-used out."""

import gc
import weakref

import pytest

from softreg.core.errors import ObjectGoneError
from softreg.d2l.weakcache import WeakCache


class Thing:
    """A weakly referenceable stand-in for a net, loss or iterator."""


def _counting_build(built):
    def build(get):
        built.append(get)
        return get
    return build


def test_a_value_is_built_once_per_kind_and_objects():
    cache, built = WeakCache(size=8), []
    a, b = Thing(), Thing()
    first = cache.get("train", (a, b), _counting_build(built))
    assert cache.get("train", (a, b), _counting_build(built)) is first
    assert first() == (a, b) and len(built) == 1
    cache.get("eval", (a, b), _counting_build(built))
    cache.get("train", (b, a), _counting_build(built))
    assert len(built) == 3 and len(cache) == 3
    assert cache.peek("train", (a, b)) is first and cache.peek("train", (a, a)) is None


def test_an_entry_dies_with_any_of_its_objects_and_holds_none_of_them():
    cache, built = WeakCache(size=8), []
    a, b = Thing(), Thing()
    get = cache.get("train", (a, b), _counting_build(built))
    ref_b = weakref.ref(b)
    del b
    gc.collect()
    assert ref_b() is None and len(cache) == 0
    with pytest.raises(ObjectGoneError, match="the Thing that the cached 'train' function was "
                                              "built for has been garbage-collected"):
        get()


def test_objects_without_weak_references_are_held_and_matched_by_identity():
    cache, built = WeakCache(size=8), []
    a = Thing()
    get = cache.get("eval", (a, None), _counting_build(built))
    assert get() == (a, None)
    assert cache.get("eval", (a, None), _counting_build(built)) is get and len(built) == 1


def test_the_least_recently_used_entry_goes_first():
    cache, built = WeakCache(size=2), []
    a, b, c = Thing(), Thing(), Thing()
    cache.get("k", (a,), _counting_build(built))
    cache.get("k", (b,), _counting_build(built))
    cache.get("k", (a,), _counting_build(built))  # a is now the most recently used
    cache.get("k", (c,), _counting_build(built))
    assert cache.peek("k", (b,)) is None
    assert cache.peek("k", (a,)) is not None and cache.peek("k", (c,)) is not None
    assert len(cache) == 2 and len(built) == 3
