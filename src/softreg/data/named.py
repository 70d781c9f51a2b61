"""The named datasets, one entry each: what ``--data NAME`` loads.

An entry states the dataset's class names and image shape (the model shape follows from them)
and how its two splits are loaded. Fashion-MNIST's files, hashes and mirrors are in
:mod:`softreg.data.fashion`; its loader is :func:`softreg.data.load_fashion_mnist`, looked up
when called (tests replace it there). MNIST's, KMNIST's and EMNIST's files are in
:mod:`softreg.data.idxsets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from softreg.data import fashion
from softreg.data.idxsets import EMNIST_BALANCED, IMAGE_SHAPE, KMNIST, MNIST, IDXSet, load_split

Arrays = tuple[npt.NDArray[Any], npt.NDArray[Any]]


@dataclass(frozen=True)
class NamedDataset:
    """One named dataset: its classes, image shape, a loader of ``(split, data_dir,
    offline) -> (images, labels)`` and, for the IDX sets other than Fashion-MNIST, their
    entry (files, mirrors; what ``softreg data`` lists)."""

    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...]
    load: Callable[[str, str | None, bool], Arrays]
    idx: IDXSet | None = None


def _fashion(split: str, data_dir: str | None, offline: bool) -> Arrays:
    import softreg.data

    return softreg.data.load_fashion_mnist(split, data_dir=data_dir, offline=offline)


def _idx_entry(entry: IDXSet) -> NamedDataset:
    def load(split: str, data_dir: str | None, offline: bool) -> Arrays:
        return load_split(entry, split, data_dir, offline)

    return NamedDataset(entry.name, entry.class_names, IMAGE_SHAPE, load, entry)


DATASETS: dict[str, NamedDataset] = {
    "fashion-mnist": NamedDataset("fashion-mnist", fashion.CLASS_NAMES, fashion.IMAGE_SHAPE,
                                  _fashion),
    "mnist": _idx_entry(MNIST),
    "kmnist": _idx_entry(KMNIST),
    "emnist-balanced": _idx_entry(EMNIST_BALANCED),
}
