"""A cache of per-object values (compiled functions) that never keeps those objects alive.

A facade compiles one function per (net, loss, updater, iterator) and reuses it when
``train_ch3`` is called again with the same objects: tracing again costs seconds. The compiled
function must not hold those objects, though: a training iterator holds a whole split
(about 190 MB for Fashion-MNIST), so a cache with strong references grows by one split per
``load_data_fashion_mnist`` + ``train_ch3`` in a notebook. Here the objects are held through
weak references: an entry is forgotten as soon as one of its objects is collected, and each
value is built from a getter that hands out the objects only while they live.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from softreg.core.errors import ObjectGoneError

V = TypeVar("V")

Getter = Callable[[], tuple[Any, ...]]


def _ref(obj: object, on_death: Callable[[weakref.ref[object]], None]) -> Callable[[], object]:
    """A weak reference to ``obj``, or a strong one where Python allows no weak reference
    (None, numbers, tuples: small objects that are cheap to keep and keep their id)."""
    try:
        return weakref.ref(obj, on_death)
    except TypeError:
        return lambda: obj


class _Entry(Generic[V]):
    def __init__(self, refs: tuple[Callable[[], object], ...], value: V) -> None:
        self.refs, self.value = refs, value

    def holds(self, objs: Sequence[object]) -> bool:
        return all(r() is o for r, o in zip(self.refs, objs, strict=True))


class WeakCache(Generic[V]):
    """Values keyed by (kind, objects), holding the objects weakly; least recently used first out.

    Args:
        size: the most entries kept; the least recently used one is dropped beyond it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[tuple[object, ...], _Entry[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, kind: str, objs: Sequence[object]) -> V | None:
        """The value for ``(kind, objs)`` if cached, else None (builds nothing)."""
        key = (kind, *map(id, objs))
        entry = self._entries.get(key)
        return entry.value if entry is not None and entry.holds(objs) else None

    def get(self, kind: str, objs: Sequence[object], build: Callable[[Getter], V]) -> V:
        """The value for ``(kind, objs)``, built once as ``build(getter)``.

        ``getter()`` returns ``objs`` while they all live; the value must reach them only
        through it (a value that captures an object keeps it, and its entry, alive).

        Raises:
            ObjectGoneError: (from ``getter()``) one of the objects has been collected.
        """
        key = (kind, *map(id, objs))
        entry = self._entries.pop(key, None)
        if entry is None or not entry.holds(objs):
            entry = self._new_entry(key, objs, build)
        self._entries[key] = entry  # (re)inserted last: the most recently used
        while len(self._entries) > self.size:
            self._entries.pop(next(iter(self._entries)))
        return entry.value

    def _new_entry(self, key: tuple[object, ...], objs: Sequence[object],
                   build: Callable[[Getter], V]) -> _Entry[V]:
        entries = self._entries

        def forget(dead: weakref.ref[object]) -> None:  # the entry dies with any of its objects
            current = entries.get(key)
            if current is not None and any(r is dead for r in current.refs):
                del entries[key]

        refs = tuple(_ref(o, forget) for o in objs)
        names = [type(o).__name__ for o in objs]

        def getter() -> tuple[Any, ...]:
            alive = tuple(r() for r in refs)
            for obj, ref, name in zip(alive, refs, names, strict=True):
                if obj is None and isinstance(ref, weakref.ref):
                    raise ObjectGoneError(
                        f"the {name} that the cached {key[0]!r} function was built for has been "
                        "garbage-collected; call the facade again with live objects")
            return alive

        return _Entry(refs, build(getter))
