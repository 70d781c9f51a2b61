"""Keras export: the chapter's ``Sequential`` (Input of the data's shape, Flatten, Dense(C)) as
a .keras file (for Fashion-MNIST: Flatten of (28, 28), Dense(10)).

Keras' Dense computes ``x @ kernel + bias`` with a (D, C) kernel, so the kernel is ``W.T``.
The model outputs logits, as in the chapter (its loss is ``from_logits=True``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softreg.export.common import input_shape
from softreg.runfiles.checkpoint import Checkpoint


def snippet(ck: Checkpoint) -> str:
    """How to load the exported file (``{path}`` is filled in)."""
    inputs = "X" if ck.shape.image_shape is None else "images / 255"
    return ("import keras\n"
            f"model = keras.models.load_model('{{path}}'); logits = model.predict({inputs})")


def write(ck: Checkpoint, source: str, tmp: Path) -> None:
    """Build the Keras model of ``ck`` and save it to ``tmp`` (a name ending in ``.keras``).

    Raises:
        FrameworkUnavailableError: TensorFlow is not installed.
    """
    from softreg.backends._tf import import_tensorflow, quiet_stderr

    keras = import_tensorflow().keras
    with quiet_stderr():
        model = keras.Sequential([
            keras.Input(shape=input_shape(ck)),
            keras.layers.Flatten(),
            keras.layers.Dense(ck.W.shape[0]),
        ], name="softreg_softmax_regression")
        kernel = np.ascontiguousarray(ck.W.T, np.float32)  # (D, C)
        model.layers[-1].set_weights([kernel, np.asarray(ck.b, np.float32)])
        model.save(str(tmp))
