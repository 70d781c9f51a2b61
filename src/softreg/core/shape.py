"""The shape of a model, which belongs to its data: classes, features, and an image shape.

A softmax regression is ``W`` (C, D) and ``b`` (C,). The data states C (its class names) and
D (its feature count) once, and the shape travels with the model: into the backends (through
``set_params``), packs and their memory estimate, checkpoints (which check their tensors against
it), exporters (the input shape) and the figures (images only where the data has an image shape).
No module holds a class or feature count of its own; Fashion-MNIST's is an entry of its table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from softreg.core.errors import CheckpointError


@dataclass(frozen=True)
class ModelShape:
    """What a model's tensors look like, as the data says.

    Attributes:
        class_names: one name per class, in label order (C = their number).
        features: D, the number of inputs of one example.
        image_shape: ``(H, W)`` (grayscale) or ``(H, W, channels)`` (colour) when the data are
            images whose pixels, flattened in this order, are the features; None for a table.
        feature_names: a name per feature for tables (empty: ``x0``, ``x1``, ...).
    """

    class_names: tuple[str, ...]
    features: int
    image_shape: tuple[int, ...] | None = None
    feature_names: tuple[str, ...] = ()

    @property
    def classes(self) -> int:
        """C, the number of classes."""
        return len(self.class_names)

    @property
    def weights(self) -> tuple[int, int]:
        """The shape of W: (C, D)."""
        return (self.classes, self.features)

    @property
    def channels(self) -> int:
        """1 for grayscale images (and tables), else the image's channel count."""
        if self.image_shape is None or len(self.image_shape) == 2:
            return 1
        return int(self.image_shape[2])

    def feature_name(self, i: int) -> str:
        """The name of feature ``i`` (``x<i>`` when the data gave none)."""
        return self.feature_names[i] if self.feature_names else f"x{i}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (checkpoint metadata, config files)."""
        out: dict[str, Any] = {"class_names": list(self.class_names), "features": self.features,
                               "image_shape": None if self.image_shape is None
                               else list(self.image_shape)}
        if self.feature_names:
            out["feature_names"] = list(self.feature_names)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> ModelShape:
        """Read :meth:`to_dict`'s form back, checking every field (see :func:`shape_problem`).

        Raises:
            CheckpointError: a missing or malformed field, or a shape softreg never writes
                (``where`` names the file).
        """
        shape, problem = _read(raw)
        if shape is None:
            raise CheckpointError(f"{where}: the model shape in its metadata {problem}; the "
                                  "file is damaged")
        return shape


def shape_problem(raw: Mapping[str, Any]) -> str | None:
    """Why ``raw`` is not a model shape softreg writes (the words after "the model shape"),
    or None.

    Besides a missing or malformed field, a well-formed shape softreg would not have written
    is refused: a colour image of other than 3 channels (softreg reads a picture as gray,
    (H, W), or as RGB; predict would fail on any other), and class names that repeat or are
    empty (the commands would print classes that cannot be told apart).
    """
    return _read(raw)[1] or None


def _read(raw: Mapping[str, Any]) -> tuple[ModelShape | None, str]:
    """The shape ``raw`` holds and "", or None and what is wrong with it."""
    try:
        names = tuple(str(n) for n in raw["class_names"])
        features = raw["features"]
        image = raw.get("image_shape")
        feature_names = tuple(str(n) for n in raw.get("feature_names", ()))
        ok = (isinstance(features, int) and not isinstance(features, bool) and features >= 1
              and len(names) >= 1 and len(feature_names) in (0, features))
        if image is not None:
            image = tuple(int(v) for v in image)
            ok = (ok and len(image) in (2, 3) and min(image) >= 1
                  and math.prod(image) == features)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        return None, f"is malformed ({dict(raw)!r:.200})"
    if image is not None and len(image) == 3 and image[2] != 3:
        return None, (f"declares images of {image[2]} channels ({image[0]}x{image[1]}x"
                      f"{image[2]}), but softreg's colour images have 3")
    if "" in names:
        return None, f"names an empty class (class {names.index('')})"
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return None, f"names the class {name[:40]!r} twice"
        seen.add(name)
    return ModelShape(names, int(features), image, feature_names), ""


def infer_shape(X: npt.NDArray[Any], ys: list[npt.NDArray[Any]]) -> ModelShape:
    """A shape for arrays that came without one: D from X, C from the largest label + 1."""
    top = max((int(np.max(y)) for y in ys if np.size(y)), default=0)
    return ModelShape(tuple(str(c) for c in range(top + 1)), int(np.shape(X)[1]))
